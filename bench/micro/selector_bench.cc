// Selection policies: the cost of choosing a server for a client, per mode
// (round_robin, ip_hash, weighted, priority, and Pen's default affinity) with
// 2, 16 and 256 backends.
//
//   BM_Pick/<mode>/<n>:    the mode's initial choice alone (policy_for(mode).pick)
//   BM_Choose/<mode>/<n>:  Selector::choose for a new client: pins, table
//                          lookup (a miss), then the pick: a new connection's work
//   BM_AffinityReturning/<n>: choose + remember for returning clients of a
//                          2K-entry table (Pen's default mode, the common case)
//
//   build/bench/selector_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "dataplane/balancer/selector.h"
#include "dataplane/registry/backend_registry.h"

namespace nib {
namespace {

const MonoTime kNow = MonoTime{} + std::chrono::hours(1);

constexpr BalanceMode kModes[] = {BalanceMode::kRoundRobin, BalanceMode::kHash, BalanceMode::kWeight,
                                  BalanceMode::kPrio, BalanceMode::kAffinity};

// A registry with n backends 10.(i/256).(i%256).1:80 (never connected to).
// Weights and priorities differ, and some backends carry connections, so
// weighted and priority scan with something to compare.
struct Fixture {
  BackendRegistry registry{1};
  std::shared_ptr<const RegistrySnapshot> snap;

  Fixture(int n, BalanceMode mode) {
    ServiceConfig config;
    config.name = "bench";
    config.listen = *SocketAddress::parse("127.0.0.1:1");
    config.policy.mode = mode;
    for (int i = 0; i < n; ++i) {
      BackendConfig b;
      b.address = *SocketAddress::parse("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":80");
      b.weight = 1 + static_cast<uint32_t>(i % 7);
      b.prio = static_cast<uint32_t>((i * 37) % 11);
      config.backends.push_back(b);
    }
    registry.apply(config);
    snap = registry.snapshot();
    for (int i = 0; i < n; ++i) {
      for (int k = 0; k < i % 5; ++k) snap->backends[i]->connection_opened();
    }
  }
};

// Distinct IPv4 clients 100.64.0.0 + i.
IpKey client(uint32_t i) {
  IpKey k;
  k.bytes[10] = 0xff;
  k.bytes[11] = 0xff;
  k.bytes[12] = 100;
  k.bytes[13] = static_cast<uint8_t>(64 + ((i >> 16) & 0x3f));
  k.bytes[14] = static_cast<uint8_t>(i >> 8);
  k.bytes[15] = static_cast<uint8_t>(i);
  return k;
}

void set_label(benchmark::State& state) {
  auto mode = static_cast<BalanceMode>(state.range(0));
  state.SetLabel(std::string(to_string(mode)) + " backends=" + std::to_string(state.range(1)));
}

void BM_Pick(benchmark::State& state) {
  auto mode = static_cast<BalanceMode>(state.range(0));
  Fixture f(static_cast<int>(state.range(1)), mode);
  std::atomic<uint32_t> cursor{0};
  const BalancePolicy& policy = policy_for(mode);
  uint32_t i = 0;
  for (auto _ : state) {
    PickContext ctx{f.snap->backends, client(i++).hash(), kNow, cursor};
    benchmark::DoNotOptimize(policy.pick(ctx));
  }
  state.SetItemsProcessed(state.iterations());
  set_label(state);
}

void BM_Choose(benchmark::State& state) {
  auto mode = static_cast<BalanceMode>(state.range(0));
  Fixture f(static_cast<int>(state.range(1)), mode);
  AffinityTable table(2048, Duration::zero());  // stays empty: every client is new
  std::atomic<uint32_t> cursor{0};
  uint32_t i = 0;
  for (auto _ : state) {
    Selection s = Selector::choose(*f.snap, table, cursor, client(i++), kNow);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
  set_label(state);
}

void BM_AffinityReturning(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)), BalanceMode::kAffinity);
  constexpr uint32_t kClients = 2048;
  AffinityTable table(kClients, Duration::zero());
  std::atomic<uint32_t> cursor{0};
  for (uint32_t c = 0; c < kClients; ++c) {
    Selection s = Selector::choose(*f.snap, table, cursor, client(c), kNow);
    Selector::remember(*f.snap, table, s, client(c), kNow);
  }
  uint32_t i = 0;
  int64_t returning = 0;
  for (auto _ : state) {
    IpKey k = client(i++ % kClients);
    Selection s = Selector::choose(*f.snap, table, cursor, k, kNow);
    returning += s.returning;
    Selector::remember(*f.snap, table, s, k, kNow);
  }
  if (returning != static_cast<int64_t>(state.iterations())) state.SkipWithError("a client was not returning");
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("affinity backends=" + std::to_string(state.range(0)));
}

void mode_args(benchmark::internal::Benchmark* b) {
  for (BalanceMode mode : kModes) {
    for (int n : {2, 16, 256}) b->Args({static_cast<int64_t>(mode), n});
  }
}

BENCHMARK(BM_Pick)->Apply(mode_args)->ArgNames({"mode", "backends"});
BENCHMARK(BM_Choose)->Apply(mode_args)->ArgNames({"mode", "backends"});
BENCHMARK(BM_AffinityReturning)->Arg(2)->Arg(16)->Arg(256)->ArgName("backends");

}  // namespace
}  // namespace nib

BENCHMARK_MAIN();
