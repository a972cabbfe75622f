#include "dataplane/resource/shortage_counters.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace nib {
namespace {

TEST(ShortageCountersTest, ErrnoOfNibsOwnShortages) {
  EXPECT_EQ(shortage_of(EMFILE), Resource::kFd);
  EXPECT_EQ(shortage_of(ENFILE), Resource::kFd);
  EXPECT_EQ(shortage_of(ENOMEM), Resource::kMemory);
  EXPECT_EQ(shortage_of(ENOBUFS), Resource::kMemory);
  EXPECT_EQ(shortage_of(EADDRNOTAVAIL, /*connecting=*/true), Resource::kPort);
  EXPECT_EQ(shortage_of(EAGAIN, /*connecting=*/true), Resource::kPort);
  // A backend's failures, or no failure at all.
  EXPECT_EQ(shortage_of(EAGAIN), std::nullopt);
  EXPECT_EQ(shortage_of(ECONNREFUSED, true), std::nullopt);
  EXPECT_EQ(shortage_of(ENETUNREACH, true), std::nullopt);
  EXPECT_EQ(shortage_of(ETIMEDOUT, true), std::nullopt);
  EXPECT_STREQ(to_string(Resource::kFd), "fd");
  EXPECT_STREQ(to_string(Resource::kPipe), "pipe");
}

TEST(ShortageCountersTest, CountsEveryShortageAndLogsABurstOnce) {
  ShortageCounters counters;
  // The first of a burst may have been another test's (the burst state is
  // process-wide): only the ones after it are asserted.
  (void)counters.record(Resource::kPort);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(counters.record(Resource::kPort)) << i;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(counters.record(Resource::kPipe));  // never logged
  ShortageCounts sum;
  counters.add_to(sum);
  counters.add_to(sum);
  EXPECT_EQ(sum[Resource::kPort], 202u);
  EXPECT_EQ(sum[Resource::kPipe], 6u);
  EXPECT_EQ(sum[Resource::kFd], 0u);
}

}  // namespace
}  // namespace nib
