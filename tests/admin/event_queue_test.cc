// The WatchEvents buffer: bounded, never blocking the publisher, and honest
// about what it dropped.
#include "admin/grpc/event_queue.h"

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

std::string describe(const EventQueue::Batch& batch) {
  std::string out;
  for (const auto& item : batch.items) {
    out += item.event ? std::to_string(item.event->sequence) : "lost" + std::to_string(item.lost);
    out += " ";
  }
  return out;
}

TEST(EventQueueTest, HandsOutEventsInOrder) {
  EventQueue q(10);
  for (uint64_t i = 1; i <= 3; ++i) q.push(event(i));
  auto batch = q.take(0s);
  EXPECT_EQ(describe(batch), "1 2 3 ");
  EXPECT_FALSE(batch.closed);
  EXPECT_TRUE(q.take(1ms).items.empty());
}

TEST(EventQueueTest, OverflowBecomesOneLostMarkerInPlace) {
  EventQueue q(2);
  for (uint64_t i = 1; i <= 5; ++i) q.push(event(i));
  EXPECT_EQ(describe(q.take(0s)), "1 2 lost3 ");
  // Room again: new events follow; a later overflow gets its own marker.
  for (uint64_t i = 6; i <= 9; ++i) q.push(event(i));
  EXPECT_EQ(describe(q.take(0s)), "6 7 lost2 ");
}

TEST(EventQueueTest, TakeWaitsForAPushFromAnotherThread) {
  EventQueue q(4);
  std::thread publisher([&] {
    std::this_thread::sleep_for(20ms);
    q.push(event(7));
  });
  auto batch = q.take(5s);
  publisher.join();
  EXPECT_EQ(describe(batch), "7 ");
}

TEST(EventQueueTest, CloseWakesTheReaderAndDropsLaterPushes) {
  EventQueue q(4);
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

}  // namespace
}  // namespace nib::admin
