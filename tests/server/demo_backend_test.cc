// DemoBackend over real loopback sockets.
#include "server/demo_backend.h"

#include <gtest/gtest.h>

#include "tests/support/nib_process.h"
#include "tests/support/test_client.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::TestClient;

SocketAddress loopback(uint16_t port) { return *SocketAddress::from_ip("127.0.0.1", port); }

TestClient connect_to(const DemoBackend& b) {
  auto c = TestClient::connect(loopback(b.port()));
  if (!c.ok()) throw std::runtime_error(c.status().message());
  return std::move(c).value();
}

std::string expected_body(const DemoBackend& b) {
  return "hello from nib demo backend " + b.name() + " (127.0.0.1:" + std::to_string(b.port()) + ")\n";
}

TEST(DemoBackendTest, AnswersWithItsNameAndKeepsAlive) {
  DemoBackend b("one");
  ASSERT_TRUE(b.start().ok());
  ASSERT_NE(b.port(), 0);
  TestClient c = connect_to(b);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.write_all("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").ok());
    auto r = c.read_http_response();
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, expected_body(b));
    EXPECT_NE(r->head.find("Content-Type: text/plain"), std::string::npos) << r->head;
    EXPECT_EQ(r->head.find("Connection: close"), std::string::npos) << r->head;
  }
  EXPECT_EQ(b.requests(), 3u);
}

TEST(DemoBackendTest, ConnectionCloseClosesAfterTheReply) {
  DemoBackend b("two");
  ASSERT_TRUE(b.start().ok());
  TestClient c = connect_to(b);
  ASSERT_TRUE(c.write_all("GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").ok());
  auto r = c.read_http_response();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_NE(r->head.find("Connection: close"), std::string::npos);
  EXPECT_EQ(r->body, expected_body(b));
  auto rest = c.read_until_eof();
  ASSERT_TRUE(rest.ok()) << rest.status().message();
  EXPECT_EQ(*rest, "");
}

TEST(DemoBackendTest, Http10ClosesUnlessKeepAlive) {
  DemoBackend b("old");
  ASSERT_TRUE(b.start().ok());
  TestClient closing = connect_to(b);
  ASSERT_TRUE(closing.write_all("GET / HTTP/1.0\r\n\r\n").ok());
  auto all = closing.read_until_eof();
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(all->ends_with(expected_body(b)));

  TestClient kept = connect_to(b);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(kept.write_all("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").ok());
    auto r = kept.read_http_response();
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_NE(r->head.find("Connection: keep-alive"), std::string::npos);
  }
}

// One request after another on one connection (httplib 0.11 does not serve
// pipelined requests: it answers the first only).
TEST(DemoBackendTest, ManyRequestsBodiesAndHeadOnOneConnection) {
  DemoBackend b("pipe");
  ASSERT_TRUE(b.start().ok());
  TestClient c = connect_to(b);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(c.write_all("GET / HTTP/1.1\r\nHost: a\r\n\r\n").ok());
    auto r = c.read_http_response();
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().message();
    ASSERT_EQ(r->body, expected_body(b));
  }
  ASSERT_TRUE(c.write_all("POST /p HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world").ok());
  auto posted = c.read_http_response();
  ASSERT_TRUE(posted.ok()) << posted.status().message();
  EXPECT_EQ(posted->body, expected_body(b));
  // HEAD: the head announces the length, no body follows.
  ASSERT_TRUE(c.write_all("HEAD / HTTP/1.1\r\n\r\n").ok());
  auto head_line = c.read_line();
  ASSERT_TRUE(head_line.ok());
  EXPECT_EQ(*head_line, "HTTP/1.1 200 OK");
  std::string line;
  while (!(line = *c.read_line()).empty()) {
  }
  ASSERT_TRUE(c.write_all("GET /last HTTP/1.1\r\n\r\n").ok());
  auto last = c.read_http_response();
  ASSERT_TRUE(last.ok()) << last.status().message();
  EXPECT_EQ(last->body, expected_body(b));
  EXPECT_EQ(b.requests(), 203u);
}

TEST(DemoBackendTest, BadRequestIs400AndCloses) {
  DemoBackend b("bad");
  ASSERT_TRUE(b.start().ok());
  TestClient c = connect_to(b);
  ASSERT_TRUE(c.write_all("NONSENSE\r\n\r\n").ok());
  auto all = c.read_until_eof();
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_TRUE(all->starts_with("HTTP/1.1 400 Bad Request\r\n")) << *all;
}

TEST(DemoBackendTest, ManyConcurrentClients) {
  DemoBackend b("busy");
  ASSERT_TRUE(b.start().ok());
  std::vector<TestClient> clients;
  for (int i = 0; i < 300; ++i) clients.push_back(connect_to(b));
  // Each asks to close after its reply: httplib serves a connection on one
  // pool thread until it closes or idles out, so 300 kept-alive clients would
  // wait for each other's keep-alive timeouts.
  for (auto& c : clients) ASSERT_TRUE(c.write_all("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").ok());
  for (auto& c : clients) {
    auto r = c.read_http_response();
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(b.requests(), 300u);
}

TEST(DemoBackendTest, StopRefusesAndStartListensAgainOnTheSamePort) {
  uint16_t port = test::free_port();
  ASSERT_NE(port, 0);
  DemoBackend b("fixed", port);
  ASSERT_TRUE(b.start().ok());
  ASSERT_TRUE(b.start().ok());  // no-op while running
  EXPECT_EQ(b.port(), port);
  TestClient open = connect_to(b);
  b.stop();
  EXPECT_FALSE(b.running());
  auto eof = open.read_until_eof();
  EXPECT_TRUE(eof.ok() ? eof->empty() : test::is_closed(eof.status()));
  EXPECT_FALSE(TestClient::connect(loopback(port)).ok());

  // The port is taken while b runs again: a second server cannot have it.
  ASSERT_TRUE(b.start().ok());
  DemoBackend clash("clash", port);
  Status st = clash.start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("bind"), std::string::npos) << st.message();

  TestClient c = connect_to(b);
  ASSERT_TRUE(c.write_all("GET / HTTP/1.1\r\n\r\n").ok());
  EXPECT_EQ(c.read_http_response()->body, expected_body(b));
}

TEST(DemoBackendTest, DestructorStopsAServerThatWasNeverStopped) {
  uint16_t port;
  {
    DemoBackend b("scoped");
    ASSERT_TRUE(b.start().ok());
    port = b.port();
    TestClient c = connect_to(b);  // an open connection at destruction too
  }
  EXPECT_FALSE(TestClient::connect(loopback(port)).ok());
}

}  // namespace
}  // namespace nib
