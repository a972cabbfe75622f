#include "admin/http/event_stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

namespace nib::admin {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

DataplaneEvent event(DataplaneEvent::Kind kind, uint32_t backend = 3) {
  DataplaneEvent e;
  e.kind = kind;
  e.service = "web";
  e.backend_id = backend;
  e.detail = "line one\nline two";  // the JSON escapes it: one data line per record
  return e;
}

TEST(EventStreamTest, FormatsServerSentEvents) {
  EventBus bus;
  EventStreams streams(bus, 16, 4);
  auto s = streams.open();
  ASSERT_NE(s, nullptr);
  bus.publish(event(DataplaneEvent::Kind::kBackendAdded));
  std::string chunk = s->next_chunk(1s);
  EXPECT_THAT(chunk, StartsWith("id: 1\nevent: backend_added\ndata: {\"sequence\":1,\"time\":\""));
  EXPECT_THAT(chunk, HasSubstr(R"("kind":"backend_added","service":"web","backend_id":3,)"
                               R"("detail":"line one\nline two"})"
                               "\n\n"));
  EXPECT_EQ(std::count(chunk.begin(), chunk.end(), '\n'), 4);
  streams.release(s);
}

TEST(EventStreamTest, TimesOutWithNothing) {
  EventStream s(4);
  auto start = MonoClock::now();
  EXPECT_EQ(s.next_chunk(30ms), "");
  EXPECT_GE(MonoClock::now() - start, 25ms);
}

TEST(EventStreamTest, AFullQueueDropsAndSaysHowMany) {
  EventStream s(2);
  for (int i = 0; i < 5; ++i) {
    DataplaneEvent e = event(DataplaneEvent::Kind::kBackendUpdated);
    e.sequence = static_cast<uint64_t>(i + 1);
    s.push(e);  // never waits
  }
  std::string chunk = s.next_chunk(1s);
  EXPECT_THAT(chunk, HasSubstr("id: 1\n"));
  EXPECT_THAT(chunk, HasSubstr("id: 2\n"));
  EXPECT_THAT(chunk, Not(HasSubstr("id: 3\n")));
  EXPECT_THAT(chunk, testing::EndsWith("event: lost\ndata: {\"dropped\":3}\n\n"));
  s.push(event(DataplaneEvent::Kind::kBackendUpdated));  // room again
  EXPECT_THAT(s.next_chunk(1s), Not(HasSubstr("lost")));
}

TEST(EventStreamTest, CloseWakesTheReader) {
  EventStream s(4);
  std::thread closer([&] {
    std::this_thread::sleep_for(20ms);
    s.close();
  });
  auto start = MonoClock::now();
  EXPECT_EQ(s.next_chunk(10s), "");
  EXPECT_LT(MonoClock::now() - start, 5s);
  EXPECT_TRUE(s.closed());
  closer.join();
}

TEST(EventStreamTest, ASlowReaderNeverBlocksThePublisher) {
  EventBus bus;
  EventStreams streams(bus, 1, 4);
  auto never_read = streams.open();
  auto start = MonoClock::now();
  for (int i = 0; i < 100000; ++i) bus.publish(event(DataplaneEvent::Kind::kHealthChanged));
  EXPECT_LT(MonoClock::now() - start, 5s);
  EXPECT_THAT(never_read->next_chunk(1s), HasSubstr("{\"dropped\":99999}"));
  streams.release(never_read);
}

TEST(EventStreamTest, StreamLimitAndRelease) {
  EventBus bus;
  EventStreams streams(bus, 4, 2);
  auto a = streams.open();
  auto b = streams.open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(streams.open(), nullptr);  // at the limit
  streams.release(a);
  streams.release(a);  // idempotent
  EXPECT_TRUE(a->closed());
  EXPECT_EQ(streams.open_count(), 1u);
  bus.publish(event(DataplaneEvent::Kind::kDrainStarted));
  EXPECT_EQ(a->next_chunk(10ms), "");  // unsubscribed
  EXPECT_THAT(b->next_chunk(1s), HasSubstr("event: drain_started"));
  auto c = streams.open();
  EXPECT_NE(c, nullptr);
  streams.close_all();
  EXPECT_TRUE(b->closed());
  EXPECT_TRUE(c->closed());
  EXPECT_EQ(streams.open(), nullptr);  // refused after close_all
}

TEST(EventStreamTest, WaitReleasedReturnsOnceEveryStreamIsGone) {
  EventBus bus;
  EventStreams streams(bus, 4, 4);
  EXPECT_TRUE(streams.wait_released(0ms));
  auto s = streams.open();
  EXPECT_FALSE(streams.wait_released(20ms));
  std::thread reader([&] {
    while (!s->closed()) s->next_chunk(1s);  // a response ending after close_all()
    streams.release(s);
  });
  streams.close_all();
  EXPECT_TRUE(streams.wait_released(5s));
  reader.join();
}

}  // namespace
}  // namespace nib::admin
