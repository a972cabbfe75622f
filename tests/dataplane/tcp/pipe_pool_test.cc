#include "dataplane/tcp/pipe_pool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace nib {
namespace {

TEST(PipePoolTest, MakesNonBlockingPipesLazily) {
  PipePool pool(2);
  EXPECT_EQ(pool.open(), 0u);
  Pipe p = pool.take();
  ASSERT_TRUE(p);
  EXPECT_EQ(pool.open(), 1u);
  EXPECT_TRUE(::fcntl(p.read_end.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(p.write_end.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(p.read_end.get(), F_GETFD) & FD_CLOEXEC);
  char c;
  EXPECT_EQ(::read(p.read_end.get(), &c, 1), -1);  // empty, and does not block
}

TEST(PipePoolTest, ReusesAnEmptyPipe) {
  PipePool pool(2);
  Pipe p = pool.take();
  int fd = p.read_end.get();
  pool.give(std::move(p), /*empty=*/true);
  EXPECT_EQ(pool.idle(), 1u);
  Pipe again = pool.take();
  EXPECT_EQ(again.read_end.get(), fd);
  EXPECT_EQ(pool.open(), 1u);
}

TEST(PipePoolTest, ClosesAPipeThatStillHoldsBytes) {
  PipePool pool(1);
  Pipe p = pool.take();
  ASSERT_EQ(::write(p.write_end.get(), "x", 1), 1);
  pool.give(std::move(p), /*empty=*/false);
  EXPECT_EQ(pool.open(), 0u);
  EXPECT_EQ(pool.idle(), 0u);
  Pipe fresh = pool.take();  // the limit counts open pipes, so there is room again
  ASSERT_TRUE(fresh);
  char c;
  EXPECT_EQ(::read(fresh.read_end.get(), &c, 1), -1);
}

TEST(PipePoolTest, RefusesBeyondItsLimit) {
  PipePool pool(2);
  Pipe a = pool.take();
  Pipe b = pool.take();
  EXPECT_TRUE(a);
  EXPECT_TRUE(b);
  EXPECT_FALSE(pool.take());
  pool.give(std::move(a), true);
  EXPECT_TRUE(pool.take());
}

TEST(PipePoolTest, LimitZeroDisablesSplice) {
  PipePool pool(0);
  EXPECT_FALSE(pool.take());
  EXPECT_EQ(pool.open(), 0u);
}

// Pipes come out of the process's descriptor budget, and give way to clients:
// one is opened only while a quarter of the budget stays free.
TEST(PipePoolTest, TakesFromTheDescriptorBudgetAndGivesWayWhenItRunsShort) {
  FdBudget budget(16);  // pipes need 2 + 16 / 4 free
  ShortageCounters shortages;
  {
    PipePool pool(8, &budget, &shortages);
    Pipe a = pool.take();
    ASSERT_TRUE(a);
    EXPECT_EQ(budget.in_use(), 2u);
    ASSERT_TRUE(budget.try_acquire(8));  // clients: 10 in use, 6 free
    Pipe b = pool.take();
    ASSERT_TRUE(b);                       // 12 in use, 4 free
    EXPECT_FALSE(pool.take());            // would leave 2 < 4
    ShortageCounts sum;
    shortages.add_to(sum);
    EXPECT_EQ(sum[Resource::kPipe], 1u);
    pool.give(std::move(a), /*empty=*/false);  // closed: its descriptors go back
    EXPECT_EQ(budget.in_use(), 10u);
    pool.give(std::move(b), /*empty=*/true);  // idle: still open, still counted
    EXPECT_EQ(budget.in_use(), 10u);
    pool.trim();
    EXPECT_EQ(budget.in_use(), 8u);
    EXPECT_EQ(pool.open(), 0u);
    Pipe c = pool.take();
    EXPECT_TRUE(c);
    pool.give(std::move(c), /*empty=*/true);
    EXPECT_EQ(budget.in_use(), 10u);
  }
  EXPECT_EQ(budget.in_use(), 8u);  // the pool's destructor closed its idle pipe
}

}  // namespace
}  // namespace nib
