// The event buffer SSE and WatchEvents share: bounded, never blocking the
// publisher, and honest about what it dropped; and the capped set of them.
#include "admin/core/event_subscription.h"

#include <gtest/gtest.h>

#include <thread>

namespace nib::admin {
namespace {

using namespace std::chrono_literals;

DataplaneEvent event(uint64_t sequence) {
  DataplaneEvent e;
  e.sequence = sequence;
  e.kind = DataplaneEvent::Kind::kBackendUpdated;
  return e;
}

std::string describe(const EventSubscription::Batch& batch) {
  std::string out;
  for (const auto& item : batch.items) {
    out += item.event ? std::to_string(item.event->sequence) : "lost" + std::to_string(item.lost);
    out += " ";
  }
  return out;
}

TEST(EventSubscriptionTest, HandsOutEventsInOrder) {
  EventSubscription q(10);
  for (uint64_t i = 1; i <= 3; ++i) q.push(event(i));
  auto batch = q.take(0s);
  EXPECT_EQ(describe(batch), "1 2 3 ");
  EXPECT_FALSE(batch.closed);
  EXPECT_TRUE(q.take(1ms).items.empty());
}

TEST(EventSubscriptionTest, OverflowBecomesOneLostMarkerInPlace) {
  EventSubscription q(2);
  for (uint64_t i = 1; i <= 5; ++i) q.push(event(i));
  EXPECT_EQ(describe(q.take(0s)), "1 2 lost3 ");
  // Room again: new events follow; a later overflow gets its own marker.
  for (uint64_t i = 6; i <= 9; ++i) q.push(event(i));
  EXPECT_EQ(describe(q.take(0s)), "6 7 lost2 ");
}

TEST(EventSubscriptionTest, TakeWaitsForAPushFromAnotherThread) {
  EventSubscription q(4);
  std::thread publisher([&] {
    std::this_thread::sleep_for(20ms);
    q.push(event(7));
  });
  auto batch = q.take(5s);
  publisher.join();
  EXPECT_EQ(describe(batch), "7 ");
}

TEST(EventSubscriptionTest, CloseWakesTheReaderAndDropsLaterPushes) {
  EventSubscription q(4);
  std::thread closer([&] {
    std::this_thread::sleep_for(20ms);
    q.close();
  });
  auto started = std::chrono::steady_clock::now();
  auto batch = q.take(10s);
  closer.join();
  EXPECT_TRUE(batch.closed);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  q.push(event(1));
  EXPECT_TRUE(q.take(0s).items.empty());
}

TEST(EventSubscriptionTest, KeepsOnlyItsServicesEvents) {
  EventSubscription q(4, "api");
  DataplaneEvent web = event(1), api = event(2);
  web.service = "web";
  api.service = "api";
  q.push(web);
  q.push(api);
  EXPECT_EQ(describe(q.take(0s)), "2 ");
}

EventSubscriptionLimits limits(size_t max_open, size_t queue_capacity = 4) {
  return {.max_open = max_open,
          .queue_capacity = queue_capacity,
          .limit = AdminLimitId::kHttpMaxEventStreams,
          .gauge = AdminGauge::kHttpEventStreams,
          .what = "event streams"};
}

TEST(EventSubscriptionsTest, ASlowReaderNeverBlocksThePublisher) {
  EventBus bus;
  EventSubscriptions subs(bus, limits(4, 1));
  auto never_read = subs.open();
  ASSERT_TRUE(never_read.ok());
  auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < 100000; ++i) bus.publish(event(i));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  auto batch = (*never_read)->take(0s);
  ASSERT_EQ(batch.items.size(), 2u);
  EXPECT_EQ(batch.items[1].lost, 99999u);
  subs.release(*never_read);
}

TEST(EventSubscriptionsTest, LimitReleaseAndCloseAll) {
  EventBus bus;
  AdminPlaneStats stats;
  EventSubscriptions subs(bus, limits(2), &stats);
  auto a = subs.open();
  auto b = subs.open("web");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(stats.value(AdminGauge::kHttpEventStreams), 2);
  auto refused = subs.open();
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(),
            "too many event streams are open (2); close one, or raise admin.limits.http.max_event_streams");
  EXPECT_EQ(stats.hits(AdminLimitId::kHttpMaxEventStreams), 1u);
  subs.release(*a);
  subs.release(*a);  // idempotent
  EXPECT_TRUE((*a)->closed());
  EXPECT_EQ(subs.open_count(), 1u);
  DataplaneEvent e = event(9);
  e.service = "web";
  bus.publish(e);
  EXPECT_TRUE((*a)->take(0s).items.empty());  // unsubscribed
  EXPECT_EQ(describe((*b)->take(0s)), "1 ");  // the bus numbers what it publishes
  auto c = subs.open();
  ASSERT_TRUE(c.ok());
  subs.close_all();
  EXPECT_TRUE((*b)->closed());
  EXPECT_TRUE((*c)->take(0s).closed);
  EXPECT_EQ(subs.open().status().code(), StatusCode::kUnavailable);  // refused after close_all
}

TEST(EventSubscriptionsTest, WaitReleasedReturnsOnceEveryOneIsGone) {
  EventBus bus;
  EventSubscriptions subs(bus, limits(4));
  EXPECT_TRUE(subs.wait_released(0ms));
  auto s = subs.open();
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(subs.wait_released(20ms));
  std::thread writer([&] {
    while (!(*s)->take(1s).closed) {
    }  // a response ending after close_all()
    subs.release(*s);
  });
  subs.close_all();
  EXPECT_TRUE(subs.wait_released(5s));
  writer.join();
}

}  // namespace
}  // namespace nib::admin
