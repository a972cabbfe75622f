// LiveMerger, nib-logd serve's logic, on a manual clock: every wait is
// decided by moving time, never by sleeping.
#include "server/logd/live_merger.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/manual_clock.h"

namespace nib {
namespace {

using namespace std::chrono_literals;

SocketAddress from(const std::string& ip) { return *SocketAddress::from_ip(ip, 40000); }

// nib's json line for a connection to 10.0.0.5:80 that closed at 05:00:10.500.
std::string nib_json(const std::string& client, int source_port, const std::string& request) {
  return "{\"time\":\"2026-12-04T05:00:10.500Z\",\"service\":\"web\",\"protocol\":\"tcp\",\"client\":\"" + client +
         "\",\"backend\":\"10.0.0.5:80\",\"backend_source_port\":" + std::to_string(source_port) +
         ",\"bytes_in\":1,\"bytes_out\":2,\"duration_ms\":1500,\"connect_ms\":0.1,\"reason\":\"client_closed\","
         "\"failovers\":0,\"request\":\"" +
         request + "\"}\n";
}

// 10.0.0.5's line (its peer, nib, at 10.0.0.1) logged during that connection.
std::string web_line(const std::string& first_field, const std::string& request) {
  return first_field + " - - [04/Dec/2026:05:00:10 +0000] \"" + request + "\" 200 5";
}

class LiveMergerTest : public ::testing::Test {
 protected:
  LiveMerger make(LiveMerger::Options options = {}) {
    return LiveMerger(options, clock_, [this](std::string_view l) { written_.emplace_back(l); },
                      [this](std::string_view w) { warnings_.emplace_back(w); });
  }

  test::ManualClock clock_;
  std::vector<std::string> written_;
  std::vector<std::string> warnings_;
};

TEST_F(LiveMergerTest, AServerLineAfterItsConnectionIsWrittenAtOnceWithTheClient) {
  LiveMerger m = make();
  m.receive("+ 127.0.0.7 10.0.0.5 GET /a HTTP/1.0\n", from("10.0.0.1"));  // Pen's "+" entry, from nib
  EXPECT_TRUE(written_.empty());
  m.receive(web_line("10.0.0.1", "GET /a HTTP/1.0") + "\n", from("10.0.0.5"));
  ASSERT_EQ(written_.size(), 1u);
  EXPECT_EQ(written_[0], web_line("127.0.0.7", "GET /a HTTP/1.0"));
  EXPECT_EQ(m.report().by_request, 1u);
  EXPECT_FALSE(m.expire());  // nothing waits
}

TEST_F(LiveMergerTest, EveryRequestOfAKeepAliveConnectionMatchesByPort) {
  LiveMerger m = make();
  m.receive(nib_json("127.0.0.7:40001", 51000, "GET /1 HTTP/1.1"), from("10.0.0.1"));
  // One datagram, two lines: $remote_addr:$remote_port as nginx logs it.
  m.receive(web_line("10.0.0.1:51000", "GET /1 HTTP/1.1") + "\n" + web_line("10.0.0.1:51000", "GET /2 HTTP/1.1"),
            from("10.0.0.5"));
  ASSERT_EQ(written_.size(), 2u);
  EXPECT_EQ(written_[0], web_line("127.0.0.7:40001", "GET /1 HTTP/1.1"));
  EXPECT_EQ(written_[1], web_line("127.0.0.7:40001", "GET /2 HTTP/1.1"));
  EXPECT_EQ(m.report().by_port, 2u);
}

TEST_F(LiveMergerTest, AServerLineBeforeItsConnectionClosedWaitsForIt) {
  LiveMerger m = make({.window_ms = 2000});
  m.receive(web_line("10.0.0.1:51000", "GET /1 HTTP/1.1"), from("10.0.0.5"));
  EXPECT_TRUE(written_.empty());
  EXPECT_EQ(m.expire(), Duration(3s));  // the window and the server's whole second
  clock_.advance(2999ms);
  EXPECT_EQ(m.expire(), Duration(1ms));
  m.receive(nib_json("127.0.0.7:40001", 51000, "GET /1 HTTP/1.1"), from("10.0.0.1"));
  ASSERT_EQ(written_.size(), 1u);
  EXPECT_EQ(written_[0], web_line("127.0.0.7:40001", "GET /1 HTTP/1.1"));
  EXPECT_EQ(m.report().late, 1u);
  EXPECT_EQ(m.held(), 0u);
}

TEST_F(LiveMergerTest, AServerLineThatNothingMatchesIsWrittenUnchangedOnceItsWaitIsOver) {
  LiveMerger m = make({.window_ms = 2000});
  const std::string line = web_line("10.0.0.1", "GET /lonely HTTP/1.1");
  m.receive(line, from("10.0.0.5"));
  clock_.advance(2999ms);
  EXPECT_EQ(m.expire(), Duration(1ms));
  EXPECT_TRUE(written_.empty());
  clock_.advance(1ms);
  EXPECT_FALSE(m.expire());
  EXPECT_EQ(written_, std::vector<std::string>{line});
  EXPECT_EQ(m.report().unmatched, 1u);
  // A line from another server than the connection's backend waits in vain.
  m.receive(web_line("10.0.0.1", "GET /a HTTP/1.0"), from("10.0.0.6"));
  m.receive("+ 127.0.0.7 10.0.0.5 GET /a HTTP/1.0", from("10.0.0.1"));
  EXPECT_EQ(m.held(), 1u);
  m.flush();  // shutdown: what waits is written as it is
  EXPECT_EQ(written_.back(), web_line("10.0.0.1", "GET /a HTTP/1.0"));
}

TEST_F(LiveMergerTest, TheCacheForgetsTheOldestConnectionFirst) {
  LiveMerger m = make({.window_ms = 2000, .cache = 2});
  m.receive("+ 127.0.0.2 10.0.0.5 GET /2 HTTP/1.0\n+ 127.0.0.3 10.0.0.5 GET /3 HTTP/1.0\n"
            "+ 127.0.0.4 10.0.0.5 GET /4 HTTP/1.0\n",
            from("10.0.0.1"));
  for (const char* r : {"GET /2 HTTP/1.0", "GET /3 HTTP/1.0", "GET /4 HTTP/1.0"}) {
    m.receive(web_line("10.0.0.1", r), from("10.0.0.5"));
  }
  ASSERT_EQ(written_.size(), 2u);  // /2 was forgotten: its line waits
  EXPECT_EQ(written_[0], web_line("127.0.0.3", "GET /3 HTTP/1.0"));
  EXPECT_EQ(written_[1], web_line("127.0.0.4", "GET /4 HTTP/1.0"));
  EXPECT_EQ(m.held(), 1u);
}

TEST_F(LiveMergerTest, WaitingLinesAreBoundedTheOldestWrittenUnchangedFirst) {
  LiveMerger m = make({.window_ms = 2000, .cache = 10, .max_held = 2});
  for (const char* r : {"GET /1 HTTP/1.0", "GET /2 HTTP/1.0", "GET /3 HTTP/1.0"}) {
    m.receive(web_line("10.0.0.1", r), from("10.0.0.5"));
  }
  EXPECT_EQ(written_, std::vector<std::string>{web_line("10.0.0.1", "GET /1 HTTP/1.0")});
  EXPECT_EQ(m.held(), 2u);
}

TEST_F(LiveMergerTest, NibLinesThatDoNotParseAreCountedAndWarnedOfSparingly) {
  LiveMerger m = make();
  for (uint64_t i = 0; i < LiveMerger::kWarnEvery + 1; ++i) m.receive("{\"time\":3}\n+ nonsense\n", from("10.0.0.1"));
  EXPECT_EQ(m.report().bad_nib_lines, 2 * LiveMerger::kWarnEvery + 2);
  EXPECT_EQ(warnings_.size(), 3u);  // the first, the 1001st, the 2001st
  EXPECT_TRUE(written_.empty());
  m.receive("+ 127.0.0.7 - -\n", from("10.0.0.1"));  // nothing relayed: nothing to remember
  EXPECT_EQ(m.report().nib_lines, 1u);
  m.receive("not a log line at all", from("10.0.0.5"));  // a server's, unreadable: as it is, at once
  EXPECT_EQ(written_, std::vector<std::string>{"not a log line at all"});
}

}  // namespace
}  // namespace nib
