#include "rate_schedule.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace load {
namespace {

TEST(FixedRateScheduleTest, RequestsAreDueAtFixedIntervalsFromTheStart) {
  const uint64_t t0 = 1'000'000'000;
  FixedRateSchedule s(1000, t0);  // one per ms
  EXPECT_EQ(s.due_ns(0), t0);
  EXPECT_EQ(s.due_ns(1), t0 + 1'000'000);
  EXPECT_EQ(s.due_ns(1000), t0 + 1'000'000'000);
}

TEST(FixedRateScheduleTest, DueByCountsEveryRequestDueUpToNow) {
  const uint64_t t0 = 5'000;
  FixedRateSchedule s(1000, t0);
  EXPECT_EQ(s.due_by(0), 0u);
  EXPECT_EQ(s.due_by(t0 - 1), 0u);
  EXPECT_EQ(s.due_by(t0), 1u);                  // request 0 is due at t0
  EXPECT_EQ(s.due_by(t0 + 999'999), 1u);
  EXPECT_EQ(s.due_by(t0 + 1'000'000), 2u);
  // A sender that fell behind owes every request it missed, not just the next:
  // the schedule does not slide with it.
  EXPECT_EQ(s.due_by(t0 + 250'000'000), 251u);
}

TEST(FixedRateScheduleTest, ARunOfOneSecondHasRateRequests) {
  for (double rate : {1.0, 3.0, 7'000.0, 12'345.0, 99'999.0}) {
    FixedRateSchedule s(rate, 123'456'789);
    EXPECT_EQ(s.due_before(123'456'789 + 1'000'000'000), static_cast<uint64_t>(rate)) << rate;
  }
}

TEST(FixedRateScheduleTest, DueByIsConsistentWithDueNs) {
  FixedRateSchedule s(12'345.0, 42);
  for (uint64_t i = 0; i < 50'000; i += 7) {
    const uint64_t at = s.due_ns(i);
    EXPECT_EQ(s.due_by(at), i + 1) << i;
    if (at > 0) {
      EXPECT_EQ(s.due_by(at - 1), i) << i;
    }
  }
}

}  // namespace
}  // namespace load
