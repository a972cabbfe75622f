#include "dataplane/resource/fd_budget.h"

#include <gtest/gtest.h>

#include <atomic>

#include "dataplane/config/limits.h"

namespace nib {
namespace {

TEST(FdBudgetTest, TakesAndGivesBackWithinItsCapacity) {
  FdBudget budget(5);
  EXPECT_TRUE(budget.try_acquire(2));
  EXPECT_TRUE(budget.try_acquire(2));
  EXPECT_FALSE(budget.try_acquire(2));  // nothing is taken then
  EXPECT_EQ(budget.in_use(), 4u);
  EXPECT_TRUE(budget.try_acquire(1));
  budget.release(3);
  EXPECT_EQ(budget.in_use(), 2u);
}

TEST(FdBudgetTest, KeepFreeLeavesRoomForOthers) {
  FdBudget budget(8);
  EXPECT_TRUE(budget.try_acquire(2, /*keep_free=*/2));  // 2 used, 6 free
  EXPECT_TRUE(budget.try_acquire(2, 2));                // 4 used, 4 free
  EXPECT_FALSE(budget.try_acquire(2, 3));               // would leave 2 < 3
  EXPECT_TRUE(budget.try_acquire(2));                   // the others may still take it
}

TEST(FdBudgetTest, AReleaseWakesOnlyWhileSomeoneIsParked) {
  FdBudget budget(2);
  int wakes = 0;
  budget.add_waker([&] { ++wakes; });
  budget.add_waker([&] { ++wakes; });
  ASSERT_TRUE(budget.try_acquire(2));
  budget.release(1);
  EXPECT_EQ(wakes, 0);
  budget.park();
  budget.release(1);
  EXPECT_EQ(wakes, 2);  // every worker's waker
  budget.unpark();
  EXPECT_EQ(budget.parked(), 0);
}

TEST(FdBudgetTest, CapacityFollowsTheLimitLessWhatIsOpenAndTheHeadroom) {
  // limit / 8 within [64, 1024].
  EXPECT_EQ(fd_budget_for(256, 20), 256u - 20 - 64);
  EXPECT_EQ(fd_budget_for(1024, 20), 1024u - 20 - 128);
  EXPECT_EQ(fd_budget_for(1 << 20, 30), (1u << 20) - 30 - 1024);
  EXPECT_EQ(fd_budget_for(64, 20), 2u);  // never below one connection
  EXPECT_GT(count_open_fds(), 2u);       // stdin, stdout, stderr at least
}

}  // namespace
}  // namespace nib
