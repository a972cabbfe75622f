// Maglev hashing (dataplane/balancer/maglev.h): what building the table costs
// (done when the registry publishes a snapshot, never per connection), and
// what placing a new client costs against round-robin.
//
//   BM_MaglevBuild/<n>:        MaglevTable::build for n backends of weight 1
//                              (65,537 slots at 10, 131,101 at 1,000)
//   BM_MaglevBuildWeighted/<n>: the same, weights 1-7
//   BM_MaglevLookup/<n>:       client_hash + lookup for a new client
//   BM_ChooseNew/<mode>/<n>:   Selector::choose for a new client (table miss),
//                              maglev against roundrobin and affinity
//
//   build/bench/maglev_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "dataplane/balancer/maglev.h"
#include "dataplane/balancer/selector.h"
#include "dataplane/registry/backend_registry.h"

namespace nib {
namespace {

const MonoTime kNow = MonoTime{} + std::chrono::hours(1);

SocketAddress backend(int i) {
  return *SocketAddress::parse("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":80");
}

std::vector<MaglevMember> members(int n, bool weighted) {
  std::vector<MaglevMember> out;
  for (int i = 0; i < n; ++i) out.push_back({backend(i), weighted ? 1 + static_cast<uint32_t>(i % 7) : 1u, i});
  return out;
}

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

void build(benchmark::State& state, bool weighted) {
  auto m = members(static_cast<int>(state.range(0)), weighted);
  uint64_t slots = 0;
  for (auto _ : state) {
    auto t = MaglevTable::build(m);
    if (!t.ok()) {
      state.SkipWithError(t.status().message().c_str());
      return;
    }
    slots = (*t)->size();
    benchmark::DoNotOptimize(t);
  }
  state.counters["slots"] = static_cast<double>(slots);
}

void BM_MaglevBuild(benchmark::State& state) { build(state, false); }
void BM_MaglevBuildWeighted(benchmark::State& state) { build(state, true); }

void BM_MaglevLookup(benchmark::State& state) {
  auto t = MaglevTable::build(members(static_cast<int>(state.range(0)), false));
  uint32_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize((*t)->lookup(MaglevTable::client_hash(client(i++))));
  state.SetItemsProcessed(state.iterations());
}

void BM_ChooseNew(benchmark::State& state) {
  auto mode = static_cast<BalanceMode>(state.range(0));
  const int n = static_cast<int>(state.range(1));
  BackendRegistry registry(1);
  ServiceConfig config;
  config.name = "bench";
  config.listen = *SocketAddress::parse("127.0.0.1:1");
  config.policy.mode = mode;
  for (int i = 0; i < n; ++i) {
    BackendConfig b;
    b.address = backend(i);
    config.backends.push_back(b);
  }
  (void)registry.apply(config);  // the diff is for reload events
  auto snap = registry.snapshot();
  AffinityTable table(2048, Duration::zero());  // stays empty: every client is new
  std::atomic<uint32_t> cursor{0};
  uint32_t i = 0;
  for (auto _ : state) {
    Selection s = Selector::choose(*snap, table, cursor, client(i++), kNow);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(to_string(mode)) + " backends=" + std::to_string(n));
}

void choose_args(benchmark::internal::Benchmark* b) {
  for (BalanceMode mode : {BalanceMode::kRoundRobin, BalanceMode::kAffinity, BalanceMode::kMaglev}) {
    for (int n : {10, 1000}) b->Args({static_cast<int64_t>(mode), n});
  }
}

BENCHMARK(BM_MaglevBuild)->Arg(10)->Arg(1000)->ArgName("backends")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MaglevBuildWeighted)->Arg(10)->Arg(1000)->ArgName("backends")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MaglevLookup)->Arg(10)->Arg(1000)->ArgName("backends");
BENCHMARK(BM_ChooseNew)->Apply(choose_args)->ArgNames({"mode", "backends"});

}  // namespace
}  // namespace nib

BENCHMARK_MAIN();
