// What a new connection writes that every worker shares, and what that costs
// once two cores write it at once: the inputs of the scaling model in
// bench/README.md ("Scaling: 16 and 64 cores").
//
// Each benchmark runs one thread, then two (this machine has two cores), on
// objects all threads share (`shared`, as nib's workers do) and on one object
// per thread (`private`: what per-worker state would cost). The difference
// between the two at two threads is the price of moving the cache lines
// between cores; the single-thread figure is the uncontended cost.
//
//   build/bench/scaling_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>

#include "dataplane/affinity/affinity_table.h"
#include "dataplane/registry/backend.h"
#include "dataplane/resource/fd_budget.h"
#include "dataplane/service/service.h"

namespace nib {
namespace {

constexpr int kMaxThreads = 2;

BackendConfig backend_config() {
  BackendConfig c;
  c.host = "127.0.0.1";
  c.address = SocketAddress::from_ip("127.0.0.1", 8080).value();
  return c;
}

ServiceConfig service_config() {
  ServiceConfig c;
  c.name = "bench";
  return c;
}

// The per-connection shared state of a relayed TCP connection, as TcpWorker
// and TcpConnection touch it: the service's admission count, the process's
// descriptor budget, the snapshot and backend references the connection
// holds, and the backend's active count (Pen's soft/hard limits, weight).
struct ConnectionState {
  FdBudget budget{1u << 30};
  Service service{service_config(), kMaxThreads};
  std::shared_ptr<const int> snapshot = std::make_shared<const int>(0);
  std::shared_ptr<Backend> backend = std::make_shared<Backend>(1, backend_config(), kMaxThreads);
};

// One connection's life as far as shared memory goes: admitted, a
// descriptor pair, the references taken, the backend counted, then all of
// it given back when the connection closes.
void open_and_close(ConnectionState& s) {
  benchmark::DoNotOptimize(s.service.try_admit(0));
  benchmark::DoNotOptimize(s.budget.try_acquire(2));
  std::shared_ptr<const int> snap = s.snapshot;
  std::shared_ptr<Backend> backend = s.backend;
  backend->connection_opened();
  benchmark::DoNotOptimize(backend->connection_closed());
  s.budget.release(2);
  s.service.release();
}

std::array<ConnectionState, kMaxThreads>& states() {
  static std::array<ConnectionState, kMaxThreads> all;
  return all;
}

void BM_ConnectionSharedState(benchmark::State& state) {
  const bool shared = state.range(0) != 0;
  ConnectionState& s = states()[shared ? 0 : state.thread_index()];
  for (auto _ : state) open_and_close(s);
  state.SetLabel(shared ? "shared" : "private");
}
BENCHMARK(BM_ConnectionSharedState)->Arg(1)->Arg(0)->Threads(1)->Threads(2)->UseRealTime();

// The round-robin cursor every worker advances for a new client (-r, and the
// first choice of Pen's default mode).
void BM_RoundRobinCursor(benchmark::State& state) {
  static std::array<ConnectionState, kMaxThreads>& all = states();
  const bool shared = state.range(0) != 0;
  std::atomic<uint32_t>& cursor = all[shared ? 0 : state.thread_index()].service.cursor();
  for (auto _ : state) benchmark::DoNotOptimize(cursor.fetch_add(1, std::memory_order_relaxed));
  state.SetLabel(shared ? "shared" : "private");
}
BENCHMARK(BM_RoundRobinCursor)->Arg(1)->Arg(0)->Threads(1)->Threads(2)->UseRealTime();

IpKey client_key(uint64_t i) {
  IpKey k;
  k.bytes[10] = 0xff;
  k.bytes[11] = 0xff;
  for (int b = 0; b < 4; ++b) k.bytes[12 + b] = static_cast<uint8_t>(i >> (8 * (3 - b)));
  return k;
}

// Pen's client table filled with 1M clients; `shards` 1 is one lock for all
// (a small table's exact LRU), 0 the default for this size. Built once, by
// whichever thread comes first (a function-local static).
AffinityTable& filled_table(unsigned shards) {
  static constexpr uint64_t kClients = 1u << 20;
  auto build = [](unsigned n) {
    auto* t = new AffinityTable(kClients, std::chrono::hours(24), n);
    for (uint64_t i = 0; i < kClients; ++i) t->record(client_key(i), 1, MonoTime{} + std::chrono::hours(1));
    return t;
  };
  static AffinityTable* one = build(1);
  static AffinityTable* many = build(0);
  return shards == 1 ? *one : *many;
}

// A returning client: lookup, then record (its last use), under one shard's
// lock. Range(0): the table's shards, as in filled_table().
void BM_AffinityReturningClient(benchmark::State& state) {
  static constexpr uint64_t kClients = 1u << 20;
  AffinityTable& table = filled_table(static_cast<unsigned>(state.range(0)));
  const MonoTime now = MonoTime{} + std::chrono::hours(1);
  uint64_t i = static_cast<uint64_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    const IpKey k = client_key(i++ % kClients);
    benchmark::DoNotOptimize(table.lookup(k, now));
    table.record(k, 1, now);
  }
  state.SetLabel(state.range(0) == 1 ? "1 shard" : "default shards");
}
BENCHMARK(BM_AffinityReturningClient)->Arg(1)->Arg(0)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace nib

BENCHMARK_MAIN();
