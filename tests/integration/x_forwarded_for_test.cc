// Pen's -H (issue 12) through the real nib binary: every HTTP/1.x request
// on a connection, pipelined, keep-alive, chunked or split across reads,
// reaches the server with X-Forwarded-For naming the client; a malformed
// request is answered 400, closed and counted. The echoing backend sends back
// exactly what it received, so the test sees what the server saw.
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::TestBackend;
using test::TestClient;

std::string at(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }
SocketAddress lb(uint16_t port) { return *SocketAddress::from_ip("127.0.0.1", port); }

class XForwardedForTest : public ::testing::Test {
 protected:
  void SetUp() override { NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built"); }
  std::unique_ptr<test::NibProcess> start(std::vector<std::string> args) {
    return test::start_foreground(std::move(args), dir_.file("nib.pid"));
  }
  // Reads from `c` until `want` bytes came (the greeting line included).
  static std::string read_bytes(TestClient& c, size_t want) {
    auto got = c.read_exact(want);
    return got.ok() ? *got : "read: " + got.status().message();
  }
  double metric(const std::string& name) { return test::scrape_metric(lb(admin_port_), name); }
  test::TempDir dir_;
  const uint16_t admin_port_ = test::free_port();
};

constexpr std::string_view kHeaders = "X-Forwarded-For: 127.0.0.9\r\nX-Forwarded-Proto: http\r\n";

TEST_F(XForwardedForTest, EveryRequestOnAConnectionGetsTheClientsAddress) {
  TestBackend b0("b0");
  const uint16_t port = test::free_port();
  auto nib = start({"-H", at(port), at(b0.port())});
  ASSERT_TRUE(nib);
  auto c = TestClient::connect(lb(port), "127.0.0.9");
  ASSERT_TRUE(c.ok()) << c.status().message();
  // Two pipelined requests, the second with a body, in one write.
  const std::string two =
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody";
  ASSERT_TRUE(c->write_all(two).ok());
  const std::string want_two = "GET /a HTTP/1.1\r\nHost: x\r\n" + std::string(kHeaders) +
                               "\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n" + std::string(kHeaders) +
                               "\r\nbody";
  EXPECT_EQ(read_bytes(*c, 3 + want_two.size()), "b0\n" + want_two);
  // A chunked request split across reads: each piece reaches the server
  // before the next is sent, the headers once their block is whole.
  const std::vector<std::string> pieces = {"PUT /c HTTP/1.1\r\nTransfer-Enc", "oding: chunked\r\n",
                                           "\r\n3\r\nab", "c\r\n0\r\n\r\n"};
  const std::vector<std::string> seen = {"", "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n",
                                         std::string(kHeaders) + "\r\n3\r\nab", "c\r\n0\r\n\r\n"};
  for (size_t i = 0; i < pieces.size(); ++i) {
    ASSERT_TRUE(c->write_all(pieces[i]).ok());
    if (!seen[i].empty()) EXPECT_EQ(read_bytes(*c, seen[i].size()), seen[i]) << "piece " << i;
  }
  // Expect: 100-continue: the headers go at once; the body after the
  // server's answer (here the echo of the headers).
  const std::string expect = "PUT /d HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
  ASSERT_TRUE(c->write_all(expect).ok());
  const std::string want_expect = expect.substr(0, expect.size() - 2) + std::string(kHeaders) + "\r\n";
  EXPECT_EQ(read_bytes(*c, want_expect.size()), want_expect);
  ASSERT_TRUE(c->write_all("ok").ok());
  EXPECT_EQ(read_bytes(*c, 2), "ok");
}

TEST_F(XForwardedForTest, LargeBodiesPassWholeAndTheNextRequestStillGetsTheHeaders) {
  // Bodies of megabytes (spliced past the parser, never more than is due)
  // and a large chunk, each followed by a request the parser must find.
  TestBackend b0("b0");
  const uint16_t port = test::free_port();
  auto nib = start({"-H", at(port), at(b0.port())});
  ASSERT_TRUE(nib);
  const std::string body = test::random_bytes(3 * 1024 * 1024 + 17, 7);
  const std::string chunk = test::random_bytes(1024 * 1024 + 3, 8);
  char size[32];
  std::snprintf(size, sizeof size, "%zx", chunk.size());
  const std::string put = "PUT /big HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  const std::string post = std::string("POST /chunks HTTP/1.1\r\nTransfer-Encoding: chunked\r\n");
  const std::string chunked = std::string(size) + "\r\n" + chunk + "\r\n0\r\n\r\n";
  const std::string get = "GET /after HTTP/1.1\r\n";
  auto c = TestClient::connect(lb(port), "127.0.0.9", 20s);
  ASSERT_TRUE(c.ok());
  auto all = c->write_all_and_read_until_eof(put + "\r\n" + body + post + "\r\n" + chunked + get + "\r\n");
  ASSERT_TRUE(all.ok()) << all.status().message();
  const std::string h(kHeaders);
  const std::string want = "b0\n" + put + h + "\r\n" + body + post + h + "\r\n" + chunked + get + h + "\r\n";
  ASSERT_EQ(all->size(), want.size());
  EXPECT_TRUE(*all == want) << "the bytes differ";
}

TEST_F(XForwardedForTest, AMalformedRequestIsAnswered400ClosedAndCounted) {
  TestBackend b0("b0", test::BackendMode::kHttp);  // an HTTP server: it says nothing first
  const uint16_t port = test::free_port();
  auto nib = start({"-H", "--admin-http", at(admin_port_), at(port), at(b0.port())});
  ASSERT_TRUE(nib);
  EXPECT_EQ(metric("nib_http_header_errors_total"), 0);
  {  // Smuggling-shaped: both a length and chunked.
    auto c = TestClient::connect(lb(port));
    ASSERT_TRUE(c.ok());
    auto all = c->write_all_and_read_until_eof(
        "POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    ASSERT_TRUE(all.ok()) << all.status().message();
    EXPECT_EQ(*all, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  }
  {  // After a good request a bad one closes without a 400, which could land inside a reply.
    auto c = TestClient::connect(lb(port));
    ASSERT_TRUE(c.ok());
    auto all = c->write_all_and_read_until_eof("GET / HTTP/1.1\r\n\r\nGET / HTTP/2.0\r\n\r\n");
    ASSERT_TRUE(all.ok()) << all.status().message();
    EXPECT_EQ(all->find("400 Bad Request"), std::string::npos) << *all;
  }
  EXPECT_TRUE(test::wait_until([&] { return metric("nib_http_header_errors_total") == 2; }, 5s))
      << metric("nib_http_header_errors_total");
  EXPECT_EQ(b0.http_requests(), 0u) << "no malformed bytes reached the server";
  // The server is fine: a bad request is the client's fault, not the server's.
  auto c = TestClient::connect(lb(port));
  ASSERT_TRUE(c.ok());
  auto all = c->write_all_and_read_until_eof("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(all->rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << *all;
}

TEST_F(XForwardedForTest, YamlAddsForwardedOnRequest) {
  TestBackend b0("b0");
  const uint16_t port = test::free_port();
  const std::string config = dir_.file("nib.yaml");
  ASSERT_TRUE(test::write_file(config, "services:\n  - name: web\n    listen: " + at(port) +
                                           "\n    http: true\n    http_forwarded: true\n    backends: [" +
                                           at(b0.port()) + "]\nadmin:\n  http_listen: 127.0.0.1:0\n"
                                           "  grpc_listen: 127.0.0.1:0\n")
                  .ok());
  auto nib = start({"--config", config});
  ASSERT_TRUE(nib);
  auto c = TestClient::connect(lb(port), "127.0.0.9");
  ASSERT_TRUE(c.ok());
  auto all = c->write_all_and_read_until_eof("GET / HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, "b0\nGET / HTTP/1.0\r\n" + std::string(kHeaders) + "Forwarded: for=127.0.0.9;proto=http\r\n\r\n");
}

TEST_F(XForwardedForTest, UdpOrForwardedWithoutHttpIsAConfigError) {
  auto r = test::run_nib({"-f", "-U", "-H", at(test::free_port()), "127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("http (X-Forwarded-For) is for TCP services only"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace nib
