// Tests for the test support itself: TestBackend, TestClient, NibProcess and
// the temp files, against real loopback sockets and real processes.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/nib_process.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"
#include "tests/support/prerequisites.h"

namespace nib::test {
namespace {

TestClient connect_or_die(const SocketAddress& to, const std::string& source = "127.0.0.1") {
  auto c = TestClient::connect(to, source);
  if (!c.ok()) throw std::runtime_error("connect: " + c.status().message());
  return std::move(c).value();
}

TEST(TestBackendTest, EchoRoundTrip) {
  TestBackend b("b1");
  EXPECT_NE(b.port(), 0);
  EXPECT_EQ(b.address().to_string(), "127.0.0.1:" + std::to_string(b.port()));
  TestClient c = connect_or_die(b.address());
  EXPECT_EQ(*c.read_line(), "b1");
  ASSERT_TRUE(c.write_all("hello\n").ok());
  EXPECT_EQ(*c.read_line(), "hello");
  ASSERT_TRUE(c.write_all("abc").ok());
  c.shutdown_write();
  auto rest = c.read_until_eof();
  ASSERT_TRUE(rest.ok()) << rest.status().message();
  EXPECT_EQ(*rest, "abc");
  EXPECT_TRUE(wait_until([&] { return b.active() == 0; }));
  EXPECT_EQ(b.accepted(), 1u);
  EXPECT_EQ(b.closed_by_peer(), 1u);
}

TEST(TestBackendTest, EchoesEightMiBWithConcurrentWriteAndRead) {
  TestBackend b("big");
  TestClient c = connect_or_die(b.address());
  c.set_timeout(30s);
  std::string data(8 << 20, '\0');
  std::mt19937_64 rng(42);
  for (auto& ch : data) ch = static_cast<char>(rng());
  ASSERT_EQ(*c.read_line(), "big");
  // Both directions at once: the backend must apply back-pressure rather than
  // deadlock with full socket buffers on both sides.
  auto echoed = c.write_all_and_read_until_eof(data);
  ASSERT_TRUE(echoed.ok()) << echoed.status().message();
  ASSERT_EQ(echoed->size(), data.size());
  EXPECT_TRUE(*echoed == data);
}

TEST(TestBackendTest, HttpKeepAliveThenClose) {
  TestBackend b("h1", BackendMode::kHttp);
  TestClient c = connect_or_die(b.address());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.write_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n").ok());
    auto r = c.read_http_response();
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "h1\n");
    EXPECT_NE(r->head.find("Content-Length: 3"), std::string::npos);
  }
  EXPECT_EQ(b.active(), 1u);
  ASSERT_TRUE(c.write_all("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok());
  auto r = c.read_http_response();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->body, "h1\n");
  auto eof = c.read_until_eof();
  ASSERT_TRUE(eof.ok()) << eof.status().message();
  EXPECT_EQ(*eof, "");
  EXPECT_EQ(b.http_requests(), 3u);
  c.close();
  EXPECT_TRUE(wait_until([&] { return b.active() == 0; }));
}

TEST(TestBackendTest, HttpPipelinedAndHttp10) {
  TestBackend b("h2", BackendMode::kHttp);
  TestClient c = connect_or_die(b.address());
  ASSERT_TRUE(c.write_all("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n").ok());
  EXPECT_EQ(c.read_http_response()->body, "h2\n");
  EXPECT_EQ(c.read_http_response()->body, "h2\n");
  TestClient old = connect_or_die(b.address());
  ASSERT_TRUE(old.write_all("GET / HTTP/1.0\r\n\r\n").ok());
  EXPECT_EQ(old.read_http_response()->body, "h2\n");
  EXPECT_EQ(*old.read_until_eof(), "");
}

TEST(TestBackendTest, StopRefusesConnectsAndStartListensAgain) {
  TestBackend b("s1");
  uint16_t port = b.port();
  TestClient open = connect_or_die(b.address());
  ASSERT_EQ(*open.read_line(), "s1");
  b.stop();
  EXPECT_FALSE(b.running());
  EXPECT_EQ(b.active(), 0u);
  // The open connection is closed by the stop.
  auto eof = open.read_until_eof();
  EXPECT_TRUE(eof.ok() ? eof->empty() : is_closed(eof.status())) << eof.status().message();
  auto refused = TestClient::connect(b.address());
  ASSERT_FALSE(refused.ok());
  EXPECT_FALSE(is_timeout(refused.status())) << refused.status().message();
  EXPECT_NE(refused.status().message().find("refused"), std::string::npos)
      << refused.status().message();

  ASSERT_TRUE(b.start().ok());
  EXPECT_EQ(b.port(), port);
  EXPECT_EQ(*who_serves(b.address(), "127.0.0.1"), "s1");
  EXPECT_EQ(b.accepted(), 2u);
}

TEST(TestBackendTest, WhoServes) {
  TestBackend a("alpha"), z("zulu");
  EXPECT_EQ(*who_serves(a.address(), "127.0.0.2"), "alpha");
  EXPECT_EQ(*who_serves(z.address(), "127.0.0.3"), "zulu");
  TestBackend silent("quiet", BackendMode::kSilent);
  auto none = who_serves(silent.address(), "127.0.0.1", 200ms);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(is_timeout(none.status())) << none.status().message();
  // A connection closed before any greeting is an error too.
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto any = *SocketAddress::from_ip("127.0.0.1", 0);
  ASSERT_EQ(::bind(listener.get(), any.sockaddr_ptr(), any.length()), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  SocketAddress closer(reinterpret_cast<sockaddr*>(&ss), len);
  std::thread accept_and_close([&] { UniqueFd c(::accept(listener.get(), nullptr, nullptr)); });
  auto closed = who_serves(closer, "127.0.0.1");
  accept_and_close.join();
  ASSERT_FALSE(closed.ok());
  EXPECT_TRUE(is_closed(closed.status())) << closed.status().message();
}

TEST(TestBackendTest, BackendSeesTheSourceIp) {
  TestBackend b("src");
  TestClient c = connect_or_die(b.address(), "127.0.0.5");
  EXPECT_EQ(c.local_address().ip_string(), "127.0.0.5");
  ASSERT_EQ(*c.read_line(), "src");
  ASSERT_EQ(b.peer_ips().size(), 1u);
  EXPECT_EQ(b.peer_ips()[0], "127.0.0.5");
}

TEST(TestBackendTest, ThousandConcurrentConnections) {
  constexpr int kClients = 1200;
  TestBackend b("many");
  std::vector<TestClient> clients;
  clients.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    // Spread over source IPs, as balancer tests will.
    auto c = TestClient::connect(b.address(), "127.0.1." + std::to_string(1 + i % 200));
    ASSERT_TRUE(c.ok()) << i << ": " << c.status().message();
    clients.push_back(std::move(c).value());
  }
  ASSERT_TRUE(wait_until([&] { return b.active() == kClients; }, 10s)) << b.active();
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(clients[i].write_all("ping " + std::to_string(i) + "\n").ok());
  }
  for (int i = 0; i < kClients; ++i) {
    ASSERT_EQ(*clients[i].read_line(), "many");
    ASSERT_EQ(*clients[i].read_line(), "ping " + std::to_string(i));
  }
  EXPECT_EQ(b.accepted(), static_cast<uint64_t>(kClients));
  clients.clear();
  EXPECT_TRUE(wait_until([&] { return b.active() == 0; }, 10s)) << b.active();
}

TEST(TestBackendTest, SilentNeverWritesNorCloses) {
  TestBackend b("mute", BackendMode::kSilent);
  TestClient c = connect_or_die(b.address());
  c.set_timeout(100ms);
  ASSERT_TRUE(c.write_all("anyone?\n").ok());
  auto r = c.read_some();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(is_timeout(r.status()));
  c.shutdown_write();
  ASSERT_TRUE(wait_until([&] { return b.closed_by_peer() == 1; }));
  EXPECT_EQ(b.active(), 1u);  // still open on the backend's side
  EXPECT_TRUE(is_timeout(c.read_some().status()));
  b.stop();
  c.set_timeout(5s);
  auto eof = c.read_until_eof();
  EXPECT_TRUE(eof.ok() ? eof->empty() : is_closed(eof.status()));
}

TEST(TestBackendTest, SetModeAppliesToNewConnections) {
  TestBackend b("m");
  TestClient echo = connect_or_die(b.address());
  ASSERT_EQ(*echo.read_line(), "m");
  b.set_mode(BackendMode::kHttp);
  TestClient http = connect_or_die(b.address());
  ASSERT_TRUE(http.write_all("GET / HTTP/1.1\r\n\r\n").ok());
  EXPECT_EQ(http.read_http_response()->body, "m\n");
  ASSERT_TRUE(echo.write_all("still echo\n").ok());
  EXPECT_EQ(*echo.read_line(), "still echo");
}

TEST(TestClientTest, ConnectRefusedAndReadTimeouts) {
  uint16_t port = free_port();
  ASSERT_NE(port, 0);
  auto refused = TestClient::connect(*SocketAddress::from_ip("127.0.0.1", port));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);

  TestBackend b("t");
  TestClient c = connect_or_die(b.address());
  c.set_timeout(50ms);
  auto start = MonoClock::now();
  auto r = c.read_exact(100);  // only the greeting ever comes
  EXPECT_TRUE(is_timeout(r.status())) << r.status().message();
  EXPECT_GE(MonoClock::now() - start, 50ms);
  c.set_timeout(5s);
  EXPECT_EQ(*c.read_line(), "t");  // the partial read stayed buffered
}

TEST(WaitUntilTest, ReturnsAsSoonAsThePredicateHolds) {
  int calls = 0;
  EXPECT_TRUE(wait_until([&] { return ++calls == 3; }));
  EXPECT_EQ(calls, 3);
  auto start = MonoClock::now();
  EXPECT_FALSE(wait_until([] { return false; }, 30ms));
  EXPECT_GE(MonoClock::now() - start, 30ms);
}

TEST(TempFileTest, WritesRewritesAndRemoves) {
  std::string path, dir_path;
  {
    TempFile f("a: 1\n", ".yaml");
    path = f.path();
    EXPECT_TRUE(path.ends_with(".yaml"));
    EXPECT_EQ(f.read(), "a: 1\n");
    ASSERT_TRUE(f.rewrite("a: 2\n").ok());
    EXPECT_EQ(*read_file(path), "a: 2\n");
    TempDir d;
    dir_path = d.path();
    std::string inner = d.write_file("x.txt", "x");
    EXPECT_EQ(inner, d.file("x.txt"));
    EXPECT_EQ(*read_file(inner), "x");
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  EXPECT_NE(::access(dir_path.c_str(), F_OK), 0);
}

TEST(NibProcessTest, CapturesOutputAndExitCode) {
  auto p = NibProcess::start_program("/bin/sh", {"-c", "echo to-out; echo to-err >&2; exit 3"});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ((*p)->wait_exit(5s), 3);
  ASSERT_TRUE((*p)->wait_output_closed(5s));
  EXPECT_EQ((*p)->stdout_output(), "to-out\n");
  EXPECT_EQ((*p)->stderr_output(), "to-err\n");
  EXPECT_NE((*p)->output().find("to-err"), std::string::npos);
}

TEST(NibProcessTest, SignalsWaitsAndKillsOnDestruction) {
  auto p = NibProcess::start_program("/bin/sh", {"-c", "echo ready; exec sleep 30"});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE((*p)->wait_for_output("ready", 5s));
  EXPECT_FALSE((*p)->wait_exit(20ms).has_value());
  ASSERT_TRUE((*p)->signal(SIGTERM).ok());
  EXPECT_EQ((*p)->wait_exit(5s), -SIGTERM);
  EXPECT_FALSE((*p)->signal(SIGTERM).ok());

  auto q = NibProcess::start_program("/bin/sleep", {"30"});
  ASSERT_TRUE(q.ok());
  int pid = (*q)->pid();
  q = Status::internal("dropped");  // destroys the process object
  EXPECT_NE(::kill(pid, 0), 0);     // killed and reaped: no such process
}

TEST(NibProcessTest, ExecFailureIsAnError) {
  auto p = NibProcess::start_program("/nonexistent/nib", {});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("No such file"), std::string::npos);
}

TEST(NibProcessTest, FdsOfTheTestDoNotLeakIntoTheChild) {
  TestBackend b("leak");
  auto p = NibProcess::start_program("/bin/sh", {"-c", "ls /proc/self/fd"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->wait_exit(5s), 0);
  ASSERT_TRUE((*p)->wait_output_closed(5s));
  // 0, 1, 2 and the fd ls opens for /proc/self/fd.
  EXPECT_EQ((*p)->stdout_output(), "0\n1\n2\n3\n");
}

TEST(NibProcessTest, RunNibVersion) {
  NIB_REQUIRE(nib_binary_exists(), std::string("nib binary not built yet: ") + nib_binary());
  RunResult r = run_nib({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(NIB_VERSION), std::string::npos) << r.output;
}

TEST(NibProcessTest, FreePortIsBindable) {
  uint16_t port = free_port();
  ASSERT_NE(port, 0);
  TestBackend b("fp", BackendMode::kEcho, "127.0.0.1", port);
  EXPECT_EQ(b.port(), port);
}

}  // namespace
}  // namespace nib::test
