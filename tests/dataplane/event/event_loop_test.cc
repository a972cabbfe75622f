#include "dataplane/event/event_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "tests/support/manual_clock.h"

namespace nib {
namespace {

using std::chrono::milliseconds;

TEST(EventLoopTest, TimersFireInDeadlineOrder) {
  EventLoop loop;
  ASSERT_TRUE(loop.init().ok());
  std::vector<int> fired;
  Timer a([&] { fired.push_back(1); });
  Timer b([&] { fired.push_back(2); });
  Timer c([&] {
    fired.push_back(3);
    loop.stop();
  });
  MonoTime now = MonoClock::now();
  loop.arm(c, now + milliseconds(30));
  loop.arm(a, now + milliseconds(10));
  loop.arm(b, now + milliseconds(20));
  loop.run();
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3}));
}

TEST(EventLoopTest, CancelledAndRearmedTimers) {
  EventLoop loop;
  ASSERT_TRUE(loop.init().ok());
  std::vector<int> fired;
  Timer a([&] { fired.push_back(1); });
  Timer b([&] { fired.push_back(2); });
  Timer end([&] { loop.stop(); });
  MonoTime now = MonoClock::now();
  loop.arm(a, now + milliseconds(5));
  loop.arm(b, now + milliseconds(10));
  loop.cancel(a);
  loop.arm(b, now + milliseconds(1));  // re-arm moves it
  loop.arm(end, now + milliseconds(20));
  loop.run();
  EXPECT_EQ(fired, (std::vector<int>{2}));
  EXPECT_FALSE(a.armed());
}

// On a manual clock a timer fires when the clock passes its deadline, not
// before, and advance() returns once it has.
TEST(EventLoopTest, TimersFireWhenTheClockIsAdvancedPastTheirDeadline) {
  test::ManualClock clock;
  EventLoop loop(clock);
  ASSERT_TRUE(loop.init().ok());
  std::thread t([&] { loop.run(); });
  std::atomic<int> fired{0};
  Timer timer([&] { fired.fetch_add(1); });
  const MonoTime start = clock.now();
  loop.post([&] { loop.arm(timer, start + milliseconds(100)); });
  clock.advance(milliseconds(99));
  EXPECT_EQ(fired.load(), 0);
  clock.advance(milliseconds(1));
  EXPECT_EQ(fired.load(), 1);
  clock.advance(std::chrono::hours(1));
  EXPECT_EQ(fired.load(), 1);  // one-shot
  loop.stop();
  t.join();
}

TEST(EventLoopTest, PostRunsOnTheLoopThread) {
  EventLoop loop;
  ASSERT_TRUE(loop.init().ok());
  std::thread t([&] { loop.run(); });
  std::promise<std::thread::id> where;
  loop.post([&] { where.set_value(std::this_thread::get_id()); });
  EXPECT_EQ(where.get_future().get(), t.get_id());
  loop.stop();
  t.join();
}

}  // namespace
}  // namespace nib
