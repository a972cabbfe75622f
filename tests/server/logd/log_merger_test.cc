#include "server/logd/log_merger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "server/logd/nib_logd.h"

namespace nib {
namespace {

using ::testing::HasSubstr;

SocketAddress addr(const std::string& text) { return *SocketAddress::parse(text); }

// nib's json line for a connection that closed at 05:00:10.500 after `ms`.
std::string nib_json(const std::string& client, const std::string& backend, int source_port, double ms,
                     const std::string& request, const std::string& closed = "2026-12-04T05:00:10.500Z") {
  return "{\"time\":\"" + closed + "\",\"service\":\"web\",\"protocol\":\"tcp\",\"client\":\"" + client +
         "\",\"backend\":\"" + backend + "\",\"backend_source_port\":" +
         (source_port ? std::to_string(source_port) : "null") +
         ",\"bytes_in\":1,\"bytes_out\":2,\"duration_ms\":" + std::to_string(ms) +
         ",\"connect_ms\":0.1,\"reason\":\"client_closed\",\"failovers\":0,\"request\":\"" + request + "\"}\n";
}

std::string merged(LogMerger& m, MergeReport* report = nullptr) {
  std::ostringstream out;
  MergeReport r = m.merge(out);
  if (report) *report = r;
  return out.str();
}

TEST(LogMergerTest, ParsesNibsJsonAndPensLines) {
  auto json = parse_nib_line(nib_json("127.0.0.9:4000", "10.0.0.5:80", 51000, 1500, "GET / HTTP/1.1"));
  ASSERT_TRUE(json.ok()) << json.status().message();
  ASSERT_TRUE(json->has_value());
  EXPECT_EQ((*json)->client_ip, "127.0.0.9");
  EXPECT_EQ((*json)->client_port, 4000);
  EXPECT_EQ((*json)->backend.to_string(), "10.0.0.5:80");
  EXPECT_EQ((*json)->source_port, 51000);
  EXPECT_EQ((*json)->end_ms - (*json)->start_ms, 1500);
  EXPECT_EQ((*json)->end_ms, 1796360410500);  // 2026-12-04T05:00:10.500Z
  auto pen = parse_nib_line("10.1.1.1 1796360410 10.0.0.5 GET /x HTTP/1.0");
  ASSERT_TRUE(pen.ok()) << pen.status().message();
  ASSERT_TRUE(pen->has_value());
  EXPECT_EQ((*pen)->request, "GET /x HTTP/1.0");
  EXPECT_EQ((*pen)->backend.port(), 0);  // Pen's line has no port: any
  auto none = parse_nib_line("10.1.1.1 1796360410 - -");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());  // nothing was relayed
  EXPECT_FALSE(parse_nib_line("{\"time\":3}").ok());
  // Numbers no nib writes (found by fuzz/log_merger_fuzzer.cc: a huge duration overflowed).
  EXPECT_FALSE(parse_nib_line(nib_json("127.0.0.9:4000", "10.0.0.5:80", 51000, 3e23, "x")).ok());
  EXPECT_FALSE(parse_nib_line(nib_json("127.0.0.9:4000", "10.0.0.5:80", 51000, -1, "x")).ok());
  EXPECT_FALSE(parse_nib_line(nib_json("127.0.0.9:4000", "10.0.0.5:80", 70000, 5, "x")).ok());
  EXPECT_FALSE(parse_nib_line("10.1.1.1 179630641736940160 10.0.0.5 GET /").ok());
  EXPECT_FALSE(parse_nib_line("hello world").ok());
}

TEST(LogMergerTest, ParsesServerLinesWithAndWithoutAPort) {
  auto clf = parse_server_line("127.0.0.1 - - [04/Dec/2026:06:00:10 +0100] \"GET /a HTTP/1.1\" 200 5 \"-\" \"curl\"");
  ASSERT_TRUE(clf);
  EXPECT_EQ(clf->remote_ip, "127.0.0.1");
  EXPECT_FALSE(clf->remote_port);
  EXPECT_EQ(clf->unix_ms, 1796360410000);  // the zone is taken into account
  EXPECT_EQ(clf->request, "GET /a HTTP/1.1");
  auto port = parse_server_line("127.0.0.1:51000 - - [04/Dec/2026:05:00:10 +0000] \"GET / HTTP/1.1\" 200 5");
  ASSERT_TRUE(port);
  EXPECT_EQ(port->remote_port, 51000);
  auto v6 = parse_server_line("[::1]:51000 - - [04/Dec/2026:05:00:10 +0000] \"GET / HTTP/1.1\" 200 5");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->remote_ip, "::1");
  EXPECT_EQ(v6->remote_port, 51000);
  EXPECT_EQ(v6->unix_ms, 1796360410000);  // its own brackets are not the time's
  auto bare_v6 = parse_server_line("::1 - - [04/Dec/2026:05:00:10 +0000] \"GET / HTTP/1.1\" 200 5");
  ASSERT_TRUE(bare_v6);
  EXPECT_FALSE(bare_v6->remote_port);
  EXPECT_FALSE(parse_server_line("garbage line"));
}

TEST(LogMergerTest, EveryRequestOfAKeepAliveConnectionMatchesByPort) {
  LogMerger m(2000);
  std::istringstream nib(nib_json("127.0.0.7:40001", "10.0.0.5:80", 51000, 3000, "GET /1 HTTP/1.1") +
                         nib_json("127.0.0.8:40002", "10.0.0.5:80", 51001, 3000, "GET /1 HTTP/1.1"));
  ASSERT_TRUE(m.add_nib_log(nib, "nib.json").ok());
  std::istringstream web(
      "10.0.0.1:51001 - - [04/Dec/2026:05:00:08 +0000] \"GET /1 HTTP/1.1\" 200 5\n"
      "10.0.0.1:51000 - - [04/Dec/2026:05:00:09 +0000] \"GET /2 HTTP/1.1\" 200 5\n"
      "10.0.0.1:51000 - - [04/Dec/2026:05:00:08 +0000] \"GET /1 HTTP/1.1\" 200 5\n");
  ASSERT_TRUE(m.add_server_log(addr("10.0.0.5:80"), web, "web.log").ok());
  MergeReport report;
  EXPECT_EQ(merged(m, &report),
            "127.0.0.8:40002 - - [04/Dec/2026:05:00:08 +0000] \"GET /1 HTTP/1.1\" 200 5\n"
            "127.0.0.7:40001 - - [04/Dec/2026:05:00:08 +0000] \"GET /1 HTTP/1.1\" 200 5\n"
            "127.0.0.7:40001 - - [04/Dec/2026:05:00:09 +0000] \"GET /2 HTTP/1.1\" 200 5\n");
  EXPECT_EQ(report.by_port, 3u);
  EXPECT_EQ(report.unmatched, 0u);
}

TEST(LogMergerTest, APortReusedLaterMatchesTheConnectionOfItsTime) {
  LogMerger m(2000);
  std::istringstream nib(nib_json("127.0.0.7:1", "10.0.0.5:80", 51000, 500, "GET / HTTP/1.1") +
                         nib_json("127.0.0.8:2", "10.0.0.5:80", 51000, 500, "GET / HTTP/1.1",
                                  "2026-12-04T05:10:00.500Z"));
  ASSERT_TRUE(m.add_nib_log(nib, "nib.json").ok());
  std::istringstream web("10.0.0.1:51000 - - [04/Dec/2026:05:10:00 +0000] \"GET / HTTP/1.1\" 200 5\n");
  ASSERT_TRUE(m.add_server_log(addr("10.0.0.5:80"), web, "web.log").ok());
  EXPECT_THAT(merged(m), HasSubstr("127.0.0.8:2 - -"));
}

TEST(LogMergerTest, WithoutPortsEachConnectionAnswersOneLineByRequest) {
  LogMerger m(2000);
  // Pen's own format: no port, whole seconds.
  std::istringstream nib(
      "127.0.0.2 1796360410 10.0.0.5 GET /a HTTP/1.0\n"
      "127.0.0.3 1796360410 10.0.0.5 GET /a HTTP/1.0\n"
      "127.0.0.4 1796360410 10.0.0.6 GET /b HTTP/1.0\n");
  ASSERT_TRUE(m.add_nib_log(nib, "pen.log").ok());
  std::istringstream a(
      "10.0.0.1 - - [04/Dec/2026:05:00:10 +0000] \"GET /a HTTP/1.0\" 200 5\n"
      "10.0.0.1 - - [04/Dec/2026:05:00:10 +0000] \"GET /a HTTP/1.0\" 200 5\n"
      "10.0.0.1 - - [04/Dec/2026:05:00:10 +0000] \"GET /a HTTP/1.0\" 200 5\n"
      "10.0.0.1 - - [04/Dec/2026:05:00:10 +0000] \"GET /b HTTP/1.0\" 200 5\n");
  ASSERT_TRUE(m.add_server_log(addr("10.0.0.5:80"), a, "a.log").ok());
  MergeReport report;
  EXPECT_EQ(merged(m, &report),
            "127.0.0.2 - - [04/Dec/2026:05:00:10 +0000] \"GET /a HTTP/1.0\" 200 5\n"
            "127.0.0.3 - - [04/Dec/2026:05:00:10 +0000] \"GET /a HTTP/1.0\" 200 5\n"
            "10.0.0.1 - - [04/Dec/2026:05:00:10 +0000] \"GET /a HTTP/1.0\" 200 5\n"  // a third: none left
            "10.0.0.1 - - [04/Dec/2026:05:00:10 +0000] \"GET /b HTTP/1.0\" 200 5\n");  // /b went elsewhere
  EXPECT_EQ(report.by_request, 2u);
  EXPECT_EQ(report.unmatched, 2u);
}

TEST(LogMergerTest, AClientWithoutAPortIsWrittenAsItsAddressAlone) {
  LogMerger m(2000);
  std::istringstream nib("127.0.0.2 1796360410 10.0.0.5 GET /a HTTP/1.0\n");  // Pen's format: no ports
  ASSERT_TRUE(m.add_nib_log(nib, "pen.log").ok());
  std::istringstream web("10.0.0.1:51000 - - [04/Dec/2026:05:00:10 +0000] \"GET /a HTTP/1.0\" 200 5\n");
  ASSERT_TRUE(m.add_server_log(addr("10.0.0.5:80"), web, "web.log").ok());
  EXPECT_EQ(merged(m), "127.0.0.2 - - [04/Dec/2026:05:00:10 +0000] \"GET /a HTTP/1.0\" 200 5\n");
}

TEST(LogMergerTest, OutsideTheWindowNothingMatches) {
  LogMerger m(2000);
  std::istringstream nib(nib_json("127.0.0.7:1", "10.0.0.5:80", 51000, 500, "GET / HTTP/1.1"));
  ASSERT_TRUE(m.add_nib_log(nib, "nib.json").ok());
  std::istringstream web(
      "10.0.0.1:51000 - - [04/Dec/2026:05:00:20 +0000] \"GET / HTTP/1.1\" 200 5\n"
      "10.0.0.1 - - [04/Dec/2026:04:59:00 +0000] \"GET / HTTP/1.1\" 200 5\n");
  ASSERT_TRUE(m.add_server_log(addr("10.0.0.5:80"), web, "web.log").ok());
  MergeReport report;
  merged(m, &report);
  EXPECT_EQ(report.unmatched, 2u);
}

TEST(LogMergerTest, LinesOfSeveralServersComeOutInTimeOrder) {
  LogMerger m(2000);
  std::istringstream nib("");
  ASSERT_TRUE(m.add_nib_log(nib, "nib.json").ok());
  std::istringstream a(
      "10.0.0.1 - - [04/Dec/2026:05:00:03 +0000] \"GET /a3 HTTP/1.0\" 200 5\n"
      "a line no parser knows\n"
      "10.0.0.1 - - [04/Dec/2026:05:00:05 +0000] \"GET /a5 HTTP/1.0\" 200 5\n");
  std::istringstream b("10.0.0.1 - - [04/Dec/2026:05:00:04 +0000] \"GET /b4 HTTP/1.0\" 200 5\n");
  ASSERT_TRUE(m.add_server_log(addr("10.0.0.5:80"), a, "a.log").ok());
  ASSERT_TRUE(m.add_server_log(addr("10.0.0.6:80"), b, "b.log").ok());
  std::string out = merged(m);
  EXPECT_LT(out.find("/a3"), out.find("a line no parser knows"));  // kept after its neighbour
  EXPECT_LT(out.find("a line no parser knows"), out.find("/b4"));
  EXPECT_LT(out.find("/b4"), out.find("/a5"));
}

TEST(LogMergerTest, ABadNibLineNamesItsFileAndLine) {
  LogMerger m(2000);
  std::istringstream nib(nib_json("127.0.0.7:1", "10.0.0.5:80", 1, 5, "x") + "{\"oops\":1}\n");
  Status st = m.add_nib_log(nib, "nib.json");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("nib.json:2: "));
}

TEST(NibLogdTest, BadUsageExitsTwoWithAReason) {
  std::ostringstream out, err;
  EXPECT_EQ(logd::run({"merge", "--nib-log", "/nonexistent/nib.json", "--server", "10.0.0.5=/x"}, out, err), 2);
  EXPECT_THAT(err.str(), HasSubstr("/nonexistent/nib.json: cannot open"));
  err.str("");
  EXPECT_EQ(logd::run({"merge", "--nib-log", "/dev/null", "--server", "nowhere=/dev/null"}, out, err), 2);
  EXPECT_THAT(err.str(), HasSubstr("'nowhere' is not an IP or IP:PORT"));
  err.str("");
  EXPECT_EQ(logd::run({"merge", "--nib-log", "/dev/null", "--server", "10.0.0.5"}, out, err), 2);
  EXPECT_THAT(err.str(), HasSubstr("expected ADDRESS=FILE"));
  EXPECT_EQ(logd::run({}, out, err), 2);
}

}  // namespace
}  // namespace nib
