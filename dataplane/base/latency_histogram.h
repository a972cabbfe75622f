#pragma once
// Fixed-bucket latency histograms: cheap to record on a worker (a short scan of
// constant bounds and two single-writer stores), summed by readers, rendered as
// a Prometheus histogram by the admin plane. The bounds are fixed so every
// backend's histogram can be summed and compared in PromQL.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "dataplane/base/per_worker.h"

namespace nib {

// Upper bounds in seconds: 100 µs (loopback) up to 5 s (the default connect
// timeout). A last, implicit bucket counts everything above.
inline constexpr std::array<double, 14> kLatencyBoundsSeconds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};
inline constexpr size_t kLatencyBuckets = kLatencyBoundsSeconds.size() + 1;

// A reader's copy: per-bucket (not cumulative) counts, their sum and total.
struct LatencyHistogram {
  std::array<uint64_t, kLatencyBuckets> buckets{};
  uint64_t count = 0;
  double sum_seconds = 0;

  LatencyHistogram& operator+=(const LatencyHistogram& other) {
    for (size_t i = 0; i < kLatencyBuckets; ++i) buckets[i] += other.buckets[i];
    count += other.count;
    sum_seconds += other.sum_seconds;
    return *this;
  }
};

// One writer (a worker), any number of readers.
class LatencyCells {
 public:
  void record(std::chrono::nanoseconds d) {
    int64_t ns = d.count() < 0 ? 0 : d.count();
    bump(buckets_[bucket_of(ns)], 1);
    bump(sum_ns_, static_cast<uint64_t>(ns));
  }

  void add_to(LatencyHistogram& out) const {
    for (size_t i = 0; i < kLatencyBuckets; ++i) {
      uint64_t n = buckets_[i].load(std::memory_order_relaxed);
      out.buckets[i] += n;
      out.count += n;
    }
    out.sum_seconds += static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) * 1e-9;
  }

 private:
  static size_t bucket_of(int64_t ns) {
    static constexpr auto kBoundsNs = [] {
      std::array<int64_t, kLatencyBoundsSeconds.size()> b{};
      for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<int64_t>(kLatencyBoundsSeconds[i] * 1e9 + 0.5);
      return b;
    }();
    size_t i = 0;
    while (i < kBoundsNs.size() && ns > kBoundsNs[i]) ++i;
    return i;
  }
  std::array<std::atomic<uint64_t>, kLatencyBuckets> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace nib
