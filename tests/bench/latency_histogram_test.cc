#include "latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace load {
namespace {

TEST(LatencyHistogramTest, BucketsAreExactBelow256AndWithin1Of128Above) {
  for (uint64_t v = 0; v < 256; ++v) {
    EXPECT_EQ(LatencyHistogram::bucket_of(v), v);
    EXPECT_EQ(LatencyHistogram::upper_of(v), v);
  }
  // Every value lies in its bucket, whose top is at most 1/128 above it.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = rng() >> (24 + rng() % 40);
    const size_t b = LatencyHistogram::bucket_of(v);
    const uint64_t top = LatencyHistogram::upper_of(b);
    EXPECT_GE(top, v);
    EXPECT_LE(static_cast<double>(top - v), static_cast<double>(v) / 128.0) << v;
    if (b > 0) {
      EXPECT_LT(LatencyHistogram::upper_of(b - 1), v) << v;
    }
  }
}

TEST(LatencyHistogramTest, BucketsAreContiguousAcrossPowersOfTwo) {
  for (size_t b = 1; b < 256 + 30 * 128; ++b) {
    EXPECT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::upper_of(b - 1) + 1), b) << b;
  }
}

TEST(LatencyHistogramTest, QuantilesMatchSortedSamplesWithinResolution) {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> dist(11.0, 1.2);  // ~60 us median, long tail, in ns
  std::vector<uint64_t> samples;
  LatencyHistogram h;
  for (int i = 0; i < 200000; ++i) {
    const auto v = static_cast<uint64_t>(dist(rng));
    samples.push_back(v);
    h.record(v);
  }
  std::sort(samples.begin(), samples.end());
  EXPECT_EQ(h.count(), samples.size());
  EXPECT_EQ(h.max(), samples.back());
  for (double q : {0.5, 0.9, 0.99, 0.999, 1.0}) {
    const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(samples.size())));
    const uint64_t exact = samples[rank - 1];
    const uint64_t got = h.quantile(q);
    EXPECT_GE(got, exact) << q;
    EXPECT_LE(static_cast<double>(got - exact), static_cast<double>(exact) / 128.0 + 1) << q;
  }
}

TEST(LatencyHistogramTest, SmallCountsAndEmpty) {
  LatencyHistogram h;
  EXPECT_EQ(h.quantile(0.99), 0u);
  for (uint64_t v = 1; v <= 1000; ++v) h.record(v * 1000);  // 1 us .. 1 ms
  // p99.9 of 1,000 samples is the 999th; p50 the 500th.
  EXPECT_NEAR(static_cast<double>(h.quantile(0.999)), 999000.0, 999000.0 / 128);
  EXPECT_NEAR(static_cast<double>(h.quantile(0.5)), 500000.0, 500000.0 / 128);
  EXPECT_EQ(h.quantile(1.0), 1000000u);
  LatencyHistogram other;
  other.record(5'000'000);
  h.merge(other);
  EXPECT_EQ(h.count(), 1001u);
  EXPECT_EQ(h.quantile(1.0), 5'000'000u);
}

TEST(LatencyHistogramTest, HugeValuesAreClamped) {
  LatencyHistogram h;
  h.record(UINT64_MAX);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.quantile(0.5), (uint64_t{1} << LatencyHistogram::kMaxBits) - 1);
}

}  // namespace
}  // namespace load
