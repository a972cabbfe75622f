// LatencyHistogram: log-linear buckets in the manner of HdrHistogram (the
// idea, not its code): exact below 256 ns, then each power of two is split in
// 128 equal sub-buckets, so any value is known within 1/128 (< 0.8%) up to
// 2^40 ns (18 minutes) in ~4,400 counters (35 kB) whatever the number of
// samples. Enough resolution for p99.9 at any run length, in bounded memory.
// Header-only, standard library only, for the standalone load tools.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

namespace load {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 7;                       // 128 sub-buckets per power of two
  static constexpr uint64_t kLinear = 2u << kSubBits;      // 0..255 counted exactly
  static constexpr int kMaxBits = 40;                      // larger values are clamped to 2^40 - 1

  LatencyHistogram() : counts_(bucket_of((uint64_t{1} << kMaxBits) - 1) + 1, 0) {}

  void record(uint64_t ns) {
    ns = std::min(ns, (uint64_t{1} << kMaxBits) - 1);
    ++counts_[bucket_of(ns)];
    ++total_;
    max_ = std::max(max_, ns);
  }
  void merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    max_ = std::max(max_, other.max_);
  }
  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }

  // The smallest recorded value v such that at least q of the samples are
  // <= v, given as the top of v's bucket (never below the true quantile,
  // at most 1/128 above it), and never above the largest sample. 0 when empty.
  uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    const auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(total_))));
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(upper_of(i), max_);
    }
    return max_;
  }

  // Bucket arithmetic, public for the tests.
  static size_t bucket_of(uint64_t v) {
    if (v < kLinear) return static_cast<size_t>(v);
    // v >> shift lands in [128, 256): the top 8 bits of v.
    const int shift = std::bit_width(v) - (kSubBits + 1);
    return static_cast<size_t>(kLinear + (shift - 1) * (kLinear / 2) + ((v >> shift) - kLinear / 2));
  }
  // The largest value that falls in bucket i.
  static uint64_t upper_of(size_t i) {
    if (i < kLinear) return i;
    const uint64_t k = i - kLinear;
    const int shift = static_cast<int>(k / (kLinear / 2)) + 1;
    const uint64_t top = kLinear / 2 + k % (kLinear / 2);
    return ((top + 1) << shift) - 1;
  }

 private:
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

}  // namespace load
