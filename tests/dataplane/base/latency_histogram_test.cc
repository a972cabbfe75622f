#include "dataplane/base/latency_histogram.h"

#include <gtest/gtest.h>

namespace nib {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(LatencyHistogramTest, ABoundBelongsToItsOwnBucket) {
  // Prometheus buckets are "less than or equal": 100 µs counts as le=0.0001.
  LatencyCells cells;
  cells.record(microseconds(100));
  cells.record(microseconds(101));
  LatencyHistogram h;
  cells.add_to(h);
  EXPECT_EQ(h.buckets[0], 1u);
  EXPECT_EQ(h.buckets[1], 1u);
  EXPECT_EQ(h.count, 2u);
}

TEST(LatencyHistogramTest, SlowerThanTheLastBoundGoesToTheOverflowBucket) {
  LatencyCells cells;
  cells.record(seconds(6));
  cells.record(seconds(5));
  LatencyHistogram h;
  cells.add_to(h);
  EXPECT_EQ(h.buckets[kLatencyBuckets - 1], 1u);
  EXPECT_EQ(h.buckets[kLatencyBuckets - 2], 1u);
  EXPECT_DOUBLE_EQ(h.sum_seconds, 11.0);
}

TEST(LatencyHistogramTest, NegativeDurationsCountAsZero) {
  // A clock step must not wrap the sum.
  LatencyCells cells;
  cells.record(milliseconds(-3));
  LatencyHistogram h;
  cells.add_to(h);
  EXPECT_EQ(h.buckets[0], 1u);
  EXPECT_EQ(h.sum_seconds, 0.0);
}

TEST(LatencyHistogramTest, ReadersSumWorkers) {
  LatencyCells a, b;
  a.record(milliseconds(2));
  b.record(milliseconds(2));
  b.record(milliseconds(40));
  LatencyHistogram h;
  a.add_to(h);
  b.add_to(h);
  EXPECT_EQ(h.count, 3u);
  EXPECT_EQ(h.buckets[4], 2u);  // le=0.0025
  EXPECT_EQ(h.buckets[8], 1u);  // le=0.05
  EXPECT_NEAR(h.sum_seconds, 0.044, 1e-9);
}

}  // namespace
}  // namespace nib
