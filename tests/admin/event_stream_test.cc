// Server-Sent Events: the wire text of a batch of the shared event buffer.
#include "admin/http/event_stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace nib::admin {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

DataplaneEvent event(DataplaneEvent::Kind kind, uint64_t sequence) {
  DataplaneEvent e;
  e.kind = kind;
  e.sequence = sequence;
  e.service = "web";
  e.backend_id = 3;
  e.detail = "line one\nline two";  // the JSON escapes it: one data line per record
  return e;
}

TEST(EventStreamTest, FormatsServerSentEvents) {
  EventSubscription::Batch batch;
  batch.items.push_back({event(DataplaneEvent::Kind::kBackendAdded, 1), 0});
  std::string chunk = sse_chunk(batch);
  EXPECT_THAT(chunk, StartsWith("id: 1\nevent: backend_added\ndata: {\"sequence\":1,\"time\":\""));
  EXPECT_THAT(chunk, HasSubstr(R"("kind":"backend_added","service":"web","backend_id":3,)"
                               R"("detail":"line one\nline two"})"));
  EXPECT_EQ(std::count(chunk.begin(), chunk.end(), '\n'), 4);
}

TEST(EventStreamTest, ALostMarkerSaysHowManyWhereTheyWereLost) {
  EventSubscription::Batch batch;
  batch.items.push_back({event(DataplaneEvent::Kind::kHealthChanged, 1), 0});
  batch.items.push_back({std::nullopt, 3});
  batch.items.push_back({event(DataplaneEvent::Kind::kHealthChanged, 5), 0});
  std::string chunk = sse_chunk(batch);
  size_t lost = chunk.find("event: lost\ndata: {\"dropped\":3}\n\n");
  ASSERT_NE(lost, std::string::npos) << chunk;
  EXPECT_LT(chunk.find("id: 1\n"), lost);
  EXPECT_GT(chunk.find("id: 5\n"), lost);
  EXPECT_EQ(sse_chunk({}), "");
}

}  // namespace
}  // namespace nib::admin
