// The admin plane's worker pool: a full queue refuses at once (the HTTP
// server answers 503 then), and stop() runs nothing that was still queued.
#include "admin/common/bounded_worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "tests/support/test_client.h"

namespace nib::admin {
namespace {

TEST(BoundedWorkerPoolTest, AFullQueueRefusesAtOnce) {
  AdminPlaneStats stats;
  BoundedWorkerPool pool(1, 2, &stats);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> ran{0};
  std::promise<void> started;
  ASSERT_TRUE(pool.try_submit([&] {
    started.set_value();
    released.wait();  // the worker is busy
    ++ran;
  }));
  started.get_future().wait();
  EXPECT_TRUE(pool.try_submit([&] { ++ran; }));
  EXPECT_TRUE(pool.try_submit([&] { ++ran; }));
  EXPECT_EQ(stats.value(AdminGauge::kHttpQueuedRequests), 2);
  EXPECT_FALSE(pool.try_submit([&] { ++ran; })) << "a third waiting task";
  release.set_value();
  EXPECT_TRUE(test::wait_until([&] { return ran.load() == 3; }));
  EXPECT_EQ(stats.value(AdminGauge::kHttpQueuedRequests), 0);
  EXPECT_TRUE(pool.try_submit([&] { ++ran; }));
  EXPECT_TRUE(test::wait_until([&] { return ran.load() == 4; }));
}

TEST(BoundedWorkerPoolTest, StopDropsWhatIsQueuedAndRefusesMore) {
  AdminPlaneStats stats;
  BoundedWorkerPool pool(1, 10, &stats);
  std::promise<void> release;
  std::promise<void> started;
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.try_submit([&] {
    started.set_value();
    release.get_future().wait();
    ++ran;
  }));
  started.get_future().wait();
  auto dropped = std::make_shared<int>(0);
  ASSERT_TRUE(pool.try_submit([&, dropped] { ++ran; }));
  ASSERT_EQ(stats.value(AdminGauge::kHttpQueuedRequests), 1);
  std::thread stopper([&] { pool.stop(); });
  // Once stop() took the queue (the worker is still busy), let the worker go.
  EXPECT_TRUE(test::wait_until([&] { return stats.value(AdminGauge::kHttpQueuedRequests) == 0; }));
  release.set_value();
  stopper.join();
  EXPECT_EQ(ran.load(), 1) << "the running task finished, the queued one never ran";
  EXPECT_EQ(dropped.use_count(), 1) << "the queued task was destroyed";
  EXPECT_FALSE(pool.try_submit([&] { ++ran; }));
}

}  // namespace
}  // namespace nib::admin
