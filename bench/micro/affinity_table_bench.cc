// Affinity table: lookup (hit) and record (insert + evict at capacity) at 2K,
// 1M and 10M entries, and resident bytes per entry of a full 10M table.
//
//   build-*/bench/affinity_table_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>

#include "dataplane/affinity/affinity_table.h"

namespace nib {
namespace {

IpKey key_of(uint64_t i) {
  // Mix of v4 and v6 clients: every 4th key is an IPv6 address. Distinct for
  // distinct i < 2^32.
  IpKey k;
  if (i % 4 == 3) {
    k.bytes[0] = 0x20;
    k.bytes[1] = 0x01;
    for (int b = 0; b < 8; ++b) k.bytes[8 + b] = static_cast<uint8_t>(i >> (8 * b));
  } else {
    k.bytes[10] = 0xff;
    k.bytes[11] = 0xff;
    for (int b = 0; b < 4; ++b) k.bytes[12 + b] = static_cast<uint8_t>(i >> (8 * (3 - b)));
  }
  return k;
}

// Resident set size in bytes, from /proc/self/statm.
uint64_t rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

MonoTime t0() { return MonoTime{} + std::chrono::hours(1); }

// Full tables are expensive to build (10M: ~1 s); share them between runs and
// threads of the lookup benchmark.
// Lookup benchmarks and record benchmarks get separate tables, so that lookups
// always find keys [0, n).
struct Filled {
  std::unique_ptr<AffinityTable> table;
  uint64_t n = 0;
  std::atomic<uint64_t> next_key{0};  // keys >= next_key were never recorded
};

Filled& filled(uint64_t n, bool for_records) {
  static std::mutex mu;
  static std::map<std::pair<uint64_t, bool>, Filled> tables;
  std::lock_guard lock(mu);
  Filled& f = tables[{n, for_records}];
  if (!f.table) {
    uint64_t before = rss_bytes();
    f.table = std::make_unique<AffinityTable>(n, Duration::zero());
    for (uint64_t i = 0; i < n; ++i) f.table->record(key_of(i), static_cast<uint32_t>(i % 16), t0());
    uint64_t after = rss_bytes();
    f.n = n;
    f.next_key = n;
    std::fprintf(stderr, "affinity table %llu entries: RSS +%.1f MB, %.1f bytes/entry\n",
                 static_cast<unsigned long long>(n), (after - before) / 1e6,
                 static_cast<double>(after - before) / static_cast<double>(n));
  }
  return f;
}

AffinityTable& filled_table(uint64_t n) { return *filled(n, false).table; }

void BM_LookupHit(benchmark::State& state) {
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  AffinityTable& t = filled_table(n);
  // Each thread walks its own pseudo-random sequence over all entries.
  uint64_t i = static_cast<uint64_t>(state.thread_index()) * 0x9e3779b97f4a7c15ULL;
  uint64_t hits = 0;
  for (auto _ : state) {
    i += 0x9e3779b97f4a7c15ULL;
    auto r = t.lookup(key_of((i >> 11) % n), t0());
    hits += r.has_value();
    benchmark::DoNotOptimize(r);
  }
  if (hits != static_cast<uint64_t>(state.iterations())) state.SkipWithError("lookup missed");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LookupHit)->Arg(2048)->Arg(1 << 20)->Arg(10'000'000)->UseRealTime();
BENCHMARK(BM_LookupHit)->Arg(10'000'000)->Threads(2)->UseRealTime();

// Every record is a new client into a full table: one eviction + one insert.
void BM_RecordEvict(benchmark::State& state) {
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  Filled& f = filled(n, true);
  AffinityTable& t = *f.table;
  uint64_t base = f.next_key.load();
  uint64_t i = 0;
  for (auto _ : state) {
    t.record(key_of(base + i), static_cast<uint32_t>(i % 16), t0());
    ++i;
  }
  f.next_key += i;
  if (f.next_key.load() >= (uint64_t{1} << 32)) state.SkipWithError("key space exhausted");
  state.SetItemsProcessed(state.iterations());
  state.counters["evictions"] = static_cast<double>(t.stats().evictions);
  state.counters["size"] = static_cast<double>(t.size());
}
BENCHMARK(BM_RecordEvict)->Arg(2048)->Arg(1 << 20)->Arg(10'000'000)->UseRealTime();

// Lookup of a present entry plus record of the same client: the per-connection
// work of a sticky balancer.
void BM_LookupRecordHit(benchmark::State& state) {
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  AffinityTable& t = filled_table(n);
  uint64_t i = 0;
  for (auto _ : state) {
    i += 0x9e3779b97f4a7c15ULL;
    IpKey k = key_of((i >> 11) % n);
    auto r = t.lookup(k, t0());
    t.record(k, r.value_or(0), t0());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LookupRecordHit)->Arg(2048)->Arg(10'000'000)->UseRealTime();

// Memory: resident bytes per entry of a full 10M table, measured from a fresh
// table (the lookup benchmarks above report theirs on stderr too).
void BM_MemoryPerEntry10M(benchmark::State& state) {
  constexpr uint64_t kN = 10'000'000;
  double per_entry = 0;
  for (auto _ : state) {
    uint64_t before = rss_bytes();
    auto t = std::make_unique<AffinityTable>(kN, Duration::zero());
    uint64_t empty = rss_bytes();
    // Untouched capacity should cost (almost) nothing.
    constexpr uint64_t kFew = 2048;
    for (uint64_t i = 0; i < kFew; ++i) t->record(key_of(i), 1, t0());
    uint64_t few = rss_bytes();
    for (uint64_t i = kFew; i < kN; ++i) t->record(key_of(i), 1, t0());
    uint64_t after = rss_bytes();
    per_entry = static_cast<double>(after - before) / kN;
    state.counters["empty_table_MB"] = static_cast<double>(empty - before) / 1e6;
    state.counters["with_2K_entries_MB"] = static_cast<double>(few - before) / 1e6;
    benchmark::DoNotOptimize(t->size());
  }
  state.counters["bytes_per_entry"] = per_entry;
  state.SetItemsProcessed(state.iterations() * kN);
}
BENCHMARK(BM_MemoryPerEntry10M)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace nib

BENCHMARK_MAIN();
