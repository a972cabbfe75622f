// The admin HTTP server's limits (admin/common/admin_limits.h, HttpLimits),
// in process over real sockets: deadlines (408, silent idle close), header
// caps (431), connection caps with the probe reserve (503 + Retry-After),
// event-stream caps, and what HTTP clients rely on (keep-alive, HEAD,
// "Expect: 100-continue"). The same findings against the real nib binary:
// tests/integration/admin_hardening_test.cc.
#include <gtest/gtest.h>

#include "admin/common/admin_plane_stats.h"
#include "tests/admin/http_admin_fixture.h"

namespace nib::admin::test {
namespace {

class HttpAdminLimitsTest : public HttpAdminFixture {
 protected:
  void start_with(HttpLimits limits) {
    add_backends(1);
    HttpAdminOptions options;
    options.limits = limits;
    options.stats = &stats_;
    start(options);
  }
  TestClient open(const std::string& source_ip = "127.0.0.1") {
    auto c = TestClient::connect(admin_address_, source_ip);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return std::move(*c);
  }
  // One GET from source_ip on a connection of its own.
  Reply get_from(const std::string& source_ip, const std::string& target) {
    TestClient c = open(source_ip);
    Reply reply;
    if (!c.write_all("GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()) return reply;
    auto r = c.read_http_response();
    if (!r.ok()) return reply;
    reply.status = r->status;
    reply.head = r->head;
    reply.body = r->body;
    if (auto parsed = json::parse(reply.body); parsed.ok()) reply.json = *parsed;
    return reply;
  }
  bool connections_are(int64_t n) {
    return nib::test::wait_until([&] { return stats_.value(AdminGauge::kHttpConnections) == n; });
  }

  AdminPlaneStats stats_;
};

TEST_F(HttpAdminLimitsTest, ARequestNotInWithinTheDeadlineGets408) {
  start_with(HttpLimits{.request_timeout_seconds = 0.5});
  TestClient c = open();
  ASSERT_TRUE(c.write_all("GET /api/v1/services HTTP/1.1\r\nHost: x\r\n").ok());  // never ends its header
  auto r = c.read_http_response();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, 408);
  EXPECT_NE(r->body.find("\"code\":\"REQUEST_TIMEOUT\""), std::string::npos) << r->body;
  EXPECT_NE(r->head.find("Connection: close"), std::string::npos) << r->head;
  EXPECT_EQ(stats_.hits(AdminLimitId::kHttpRequestTimeout), 1u);
  // A body that never comes in full is the same.
  TestClient body = open();
  ASSERT_TRUE(body.write_all("POST /api/v1/backends HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             "Content-Length: 100\r\n\r\n{\"add").ok());
  auto rb = body.read_http_response();
  ASSERT_TRUE(rb.ok()) << rb.status().message();
  EXPECT_EQ(rb->status, 408);
  EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(HttpAdminLimitsTest, AnIdleConnectionIsClosedWithoutAWord) {
  start_with(HttpLimits{.idle_timeout_seconds = 0.3});
  TestClient c = open();
  ASSERT_TRUE(c.write_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  auto r = c.read_http_response();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);  // kept alive, then idle
  auto rest = c.read_until_eof();
  ASSERT_TRUE(rest.ok()) << rest.status().message();
  EXPECT_EQ(*rest, "");
  EXPECT_EQ(stats_.hits(AdminLimitId::kHttpIdleTimeout), 1u);
}

TEST_F(HttpAdminLimitsTest, TooManyHeaderLinesOrBytesGet431) {
  start_with(HttpLimits{});
  std::string lines;
  for (int i = 0; i < 101; ++i) lines += "X-Filler-" + std::to_string(i) + ": y\r\n";
  Reply many = send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n" + lines + "\r\n");
  EXPECT_EQ(many.status, 431);
  EXPECT_EQ(many.error_code(), "REQUEST_HEADER_FIELDS_TOO_LARGE");
  EXPECT_EQ(many.error_message(), "the request has 102 header lines; at most 100 are allowed");
  Reply big = send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n");
  EXPECT_EQ(big.status, 431);
  EXPECT_EQ(big.error_message(), "the request line and headers are larger than 16384 bytes");
  Reply long_target = send_raw("GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(long_target.status, 431);
  EXPECT_EQ(stats_.hits(AdminLimitId::kHttpMaxHeaderCount), 1u);
  EXPECT_EQ(stats_.hits(AdminLimitId::kHttpMaxHeaderBytes), 2u);
  EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(HttpAdminLimitsTest, PastTheConnectionCapOnlyProbesAreAnswered) {
  start_with(HttpLimits{.max_connections = 4, .probe_reserve = 2});
  std::vector<TestClient> held;
  for (int i = 0; i < 4; ++i) held.push_back(open());
  ASSERT_TRUE(connections_are(4));
  Reply busy = get("/api/v1/services");
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.header("Retry-After"), "1");
  EXPECT_EQ(busy.error_code(), "UNAVAILABLE");
  EXPECT_EQ(get("/healthz").status, 200);
  EXPECT_EQ(get("/readyz").status, 200);
  EXPECT_EQ(stats_.hits(AdminLimitId::kHttpMaxConnections), 3u);
  // The reserve full too: closed at once.
  ASSERT_TRUE(connections_are(4));  // the probes' connections are gone
  for (int i = 0; i < 2; ++i) held.push_back(open());
  ASSERT_TRUE(connections_are(6));
  TestClient refused = open();
  auto nothing = refused.read_until_eof();
  EXPECT_TRUE(nothing.ok() && nothing->empty()) << (nothing.ok() ? *nothing : nothing.status().message());
  EXPECT_EQ(stats_.hits(AdminLimitId::kHttpProbeReserve), 1u);
  held.clear();  // room again
  ASSERT_TRUE(connections_are(0));
  EXPECT_EQ(get("/api/v1/services").status, 200);
}

TEST_F(HttpAdminLimitsTest, OneClientCannotTakeEveryConnection) {
  start_with(HttpLimits{.max_connections_per_client = 3});
  std::vector<TestClient> held;
  for (int i = 0; i < 3; ++i) held.push_back(open("127.0.0.2"));
  ASSERT_TRUE(connections_are(3));
  Reply same = get_from("127.0.0.2", "/api/v1/services");
  EXPECT_EQ(same.status, 503);
  EXPECT_EQ(same.header("Retry-After"), "1");
  EXPECT_EQ(get_from("127.0.0.2", "/healthz").status, 200);  // its probes still answer
  EXPECT_EQ(get_from("127.0.0.3", "/api/v1/services").status, 200);
  EXPECT_EQ(stats_.hits(AdminLimitId::kHttpMaxConnectionsPerClient), 2u);
}

TEST_F(HttpAdminLimitsTest, EventStreamsAreCappedAndHoldNoThread) {
  start_with(HttpLimits{.workers = 1, .max_event_streams = 8});
  std::vector<TestClient> streams;
  for (int i = 0; i < 8; ++i) {
    streams.push_back(open());
    ASSERT_TRUE(streams.back().write_all("GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n").ok());
    auto status = streams.back().read_line();
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(*status, "HTTP/1.1 200 OK");
  }
  EXPECT_EQ(stats_.value(AdminGauge::kHttpEventStreams), 8);
  Reply ninth = get("/api/v1/events");
  EXPECT_EQ(ninth.status, 503);
  EXPECT_EQ(stats_.hits(AdminLimitId::kHttpMaxEventStreams), 1u);
  // Eight streams, one worker: the API still answers.
  EXPECT_EQ(get("/api/v1/services").status, 200);
  EXPECT_EQ(get("/metrics").status, 200);
  streams.clear();
  EXPECT_TRUE(nib::test::wait_until([&] { return stats_.value(AdminGauge::kHttpEventStreams) == 0; }));
}

TEST_F(HttpAdminLimitsTest, KeepAliveHeadAndExpectContinue) {
  start_with(HttpLimits{});
  TestClient c = open();
  for (int i = 0; i < 3; ++i) {  // one connection, three requests
    ASSERT_TRUE(c.write_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").ok());
    auto r = c.read_http_response();
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().message();
    EXPECT_EQ(r->body, "{\"status\":\"ok\"}\n");
  }
  ASSERT_TRUE(c.write_all("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  auto head = c.read_line();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, "HTTP/1.1 200 OK");
  std::string headers;
  for (auto line = c.read_line(); line.ok() && !line->empty(); line = c.read_line()) headers += *line + "\n";
  EXPECT_NE(headers.find("Content-Length: 16"), std::string::npos) << headers;
  // What curl does with a body over 1 KiB: waits for "100 Continue" first.
  TestBackend extra("extra");
  std::string body = R"({"address": "127.0.0.1", "port": )" + std::to_string(extra.port()) + "}";
  ASSERT_TRUE(c.write_all("POST /api/v1/backends HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Expect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n")
                  .ok());
  auto go_ahead = c.read_line();
  ASSERT_TRUE(go_ahead.ok()) << go_ahead.status().message();
  EXPECT_EQ(*go_ahead, "HTTP/1.1 100 Continue");
  ASSERT_TRUE(c.read_line().ok());
  ASSERT_TRUE(c.write_all(body).ok());
  auto added = c.read_http_response();
  ASSERT_TRUE(added.ok()) << added.status().message();
  EXPECT_EQ(added->status, 201) << added->body;
}

}  // namespace
}  // namespace nib::admin::test
