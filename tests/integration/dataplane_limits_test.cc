// The real nib binary at its limits (issue 17 findings 1, 2, 10 and 12; issue
// 11's -x): long replies to regex health checks, a descriptor flood under a
// 256-descriptor limit, a second nib on the same port, the connection cap,
// and a reload that asks for more workers. docs/operations.md ("Dataplane
// limits") describes what each of these must do.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "tests/support/prerequisites.h"
#include "tests/support/nib_process.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"
#include "tests/support/test_udp_backend.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NibProcess;
using test::TestBackend;
using test::TestClient;
using test::TestUdpBackend;

std::string client_ip(int n) { return "127.0.1." + std::to_string(n % 250 + 2); }
std::string far_client_ip(int n) { return "127.0." + std::to_string(10 + n / 250) + "." + std::to_string(n % 250 + 2); }

SocketAddress loopback(uint16_t port) { return *SocketAddress::from_ip("127.0.0.1", port); }

// One datagram from `source_ip` to `to`, and the first reply (nullopt after `timeout`).
std::optional<std::string> ask_udp(const SocketAddress& to, const std::string& source_ip, std::string_view payload,
                                   Duration timeout = 2s) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  auto from = SocketAddress::from_ip(source_ip, 0);
  if (!fd || ::bind(fd.get(), from->sockaddr_ptr(), from->length()) != 0 ||
      ::connect(fd.get(), to.sockaddr_ptr(), to.length()) != 0 ||
      ::send(fd.get(), payload.data(), payload.size(), 0) != static_cast<ssize_t>(payload.size())) {
    return std::nullopt;
  }
  pollfd p{fd.get(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count())) != 1) {
    return std::nullopt;
  }
  std::string buf(65536, '\0');
  ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
  if (n < 0) return std::nullopt;
  buf.resize(static_cast<size_t>(n));
  return buf;
}

class DataplaneLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built");
  }

  // Starts nib (under `prlimit --nofile=N:N` when fd_limit is set) with its
  // own pid file, and waits until it is ready (the pid file is written last).
  std::unique_ptr<NibProcess> start(std::vector<std::string> args, int fd_limit = 0) {
    std::string pid_file = dir_.file("nib" + std::to_string(++started_) + ".pid");
    // -f: Pen's command line without it would daemonize, out of the test's reach.
    args.insert(args.begin(), {"-f", "-p", pid_file});
    auto p = fd_limit == 0 ? NibProcess::start(args) : start_limited(args, fd_limit);
    EXPECT_TRUE(p.ok()) << p.status().message();
    if (!p.ok()) return nullptr;
    bool up = test::wait_until([&] { return test::read_file(pid_file).ok() || !(*p)->running(); }, 15s);
    EXPECT_TRUE(up && (*p)->running()) << (*p)->output();
    if (!up || !(*p)->running()) return nullptr;
    return std::move(*p);
  }

  static Result<std::unique_ptr<NibProcess>> start_limited(const std::vector<std::string>& args, int fd_limit) {
    std::vector<std::string> all = {"--nofile=" + std::to_string(fd_limit) + ":" + std::to_string(fd_limit),
                                    test::nib_binary()};
    all.insert(all.end(), args.begin(), args.end());
    return NibProcess::start_program("/usr/bin/prlimit", all);
  }

  std::string write_config(const std::string& yaml) { return dir_.write_file("nib.yaml", yaml); }

  // The admin HTTP address nib logged (started with --admin-http 127.0.0.1:0).
  static SocketAddress admin_http(NibProcess& nib) {
    EXPECT_TRUE(nib.wait_for_output("admin HTTP on http://", 10s)) << nib.output();
    std::string out = nib.output();
    size_t from = out.find("admin HTTP on http://") + std::string("admin HTTP on http://").size();
    return *SocketAddress::parse(out.substr(from, out.find("/ (", from) - from));
  }

  // One value of /metrics, or -1.
  static double metric(const SocketAddress& admin, const std::string& series) {
    return test::scrape_metric(admin, series);
  }

  // nib under a 256-descriptor limit on port_, in front of `a` and `b`, which
  // a tcp check watches (so a failure blamed on them would take them down
  // too); its admin HTTP on admin_.
  std::unique_ptr<NibProcess> start_under_256_descriptors(const TestBackend& a, const TestBackend& b) {
    port_ = test::free_port();
    std::string config = write_config(
        "workers: 2\nservices:\n  - name: web\n    listen: 127.0.0.1:" + std::to_string(port_) + "\n" +
        "    health_check: {type: tcp, interval: 0.5, timeout: 0.4, fall: 1}\n" +
        "    backends: [127.0.0.1:" + std::to_string(a.port()) + ", 127.0.0.1:" + std::to_string(b.port()) + "]\n");
    auto nib = start({"--admin-http", "127.0.0.1:0", "--admin-grpc", "127.0.0.1:0", "--config", config}, 256);
    if (nib) admin_ = admin_http(*nib);
    return nib;
  }

  // After a flood: new clients (from far_client_ip(first) on) are served at
  // once, by both backends in turn (the names' first letters), and nothing
  // was blamed on a backend.
  void expect_both_serve_at_once(NibProcess& nib, int first) {
    std::set<char> served_by;
    for (int i = first; i < first + 4; ++i) {
      auto who = test::who_serves(loopback(port_), far_client_ip(i), 5s);
      ASSERT_TRUE(who.ok()) << "client " << i << ": " << who.status().message() << "\n" << nib.output();
      served_by.insert(who->front());
    }
    EXPECT_EQ(served_by, (std::set<char>{'A', 'B'}));
    const std::string out = nib.output();
    EXPECT_EQ(out.find("blacklisted"), std::string::npos) << out;
    EXPECT_EQ(out.find("up -> down"), std::string::npos) << out;
    EXPECT_EQ(metric(admin_, "nib_service_rejected_connections_total{service=\"web\",reason=\"no_backend\"}"), 0);
    EXPECT_TRUE(nib.running());
  }

  test::TempDir dir_;
  int started_ = 0;
  uint16_t port_ = 0;
  SocketAddress admin_;
};

// Finding 1: a send-expect check with `.*OK` against a backend that greets
// with 32 KiB crashed nib (std::regex_search recursed per byte), at every
// restart; UDP checks ran the same code on replies up to 65,507 bytes.
TEST_F(DataplaneLimitsTest, RegexChecksOnLongRepliesKeepNibRunningAndJudgeRight) {
  const std::string bulk(32 << 10, 'x');
  TestBackend good(bulk + "OK");  // greets with its name: 32 KiB and OK
  TestBackend bad(bulk);          // 32 KiB, no OK, and never closes
  TestUdpBackend echo("echo", TestUdpBackend::Mode::kEcho);  // answers with the datagram
  TestUdpBackend other("u");                                  // answers "u <datagram>"
  const uint16_t port = test::free_port(), udp_port = test::free_port();
  auto check = [](const std::string& rest) {
    return "{" + rest + ", expect_regex: true, interval: 0.2, timeout: 0.15, rise: 1, fall: 1}";
  };
  std::string config = write_config(
      "services:\n"
      "  - name: web\n    listen: 127.0.0.1:" + std::to_string(port) + "\n" +
      "    health_check: " + check("type: send-expect, expect: \".*OK\"") + "\n" +
      "    backends: [127.0.0.1:" + std::to_string(good.port()) + ", 127.0.0.1:" + std::to_string(bad.port()) + "]\n" +
      "  - name: dns\n    protocol: udp\n    listen: 127.0.0.1:" + std::to_string(udp_port) + "\n" +
      "    health_check: " + check("send: \"" + std::string(65505, 'x') + "OK\", expect: \"^x+OK$\"") + "\n" +
      "    backends: [127.0.0.1:" + std::to_string(echo.port()) + ", 127.0.0.1:" + std::to_string(other.port()) + "]\n");
  auto nib = start({"--no-admin", "--config", config});
  ASSERT_TRUE(nib);
  // The long replies were searched: the one without OK (and the udp reply
  // that is not the bare echo) took their backends down, the others stay.
  EXPECT_TRUE(nib->wait_for_output("(127.0.0.1:" + std::to_string(bad.port()) + ") up -> down", 10s)) << nib->output();
  EXPECT_TRUE(nib->wait_for_output("(127.0.0.1:" + std::to_string(other.port()) + ") up -> down", 10s));
  ASSERT_TRUE(nib->running());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(test::who_serves(loopback(port), client_ip(i)).value_or("closed"), bulk + "OK") << "client " << i;
    EXPECT_EQ(ask_udp(loopback(udp_port), client_ip(i), "hello").value_or("none"), "hello") << "client " << i;
  }
  const std::string out = nib->output();
  EXPECT_EQ(out.find("(127.0.0.1:" + std::to_string(good.port()) + ") up -> down"), std::string::npos) << out;
  EXPECT_EQ(out.find("(127.0.0.1:" + std::to_string(echo.port()) + ") up -> down"), std::string::npos) << out;
  EXPECT_TRUE(nib->running());
}

// Finding 10: without reuse_port a second nib on the same port is an error
// (exit 2, naming the port and the service), for TCP and UDP services; with
// it, on purpose, both run.
TEST_F(DataplaneLimitsTest, APortAnotherProcessUsesIsAnErrorUnlessSharingIsAskedFor) {
  TestBackend b0("b0");
  TestUdpBackend u0("u0");
  const uint16_t port = test::free_port(), udp_port = test::free_port(), spare = test::free_port();
  auto yaml = [&](uint16_t tcp, uint16_t udp, bool share) {
    std::string reuse = share ? "    reuse_port: true\n" : "";
    return "services:\n  - name: web\n    listen: 127.0.0.1:" + std::to_string(tcp) + "\n" + reuse +
           "    backends: [127.0.0.1:" + std::to_string(b0.port()) + "]\n" +
           "  - name: dns\n    protocol: udp\n    listen: 127.0.0.1:" + std::to_string(udp) + "\n" + reuse +
           "    backends: [127.0.0.1:" + std::to_string(u0.port()) + "]\n";
  };
  auto first = start({"--no-admin", "--config", dir_.write_file("first.yaml", yaml(port, udp_port, false))});
  ASSERT_TRUE(first);

  auto second = test::run_nib({"--no-admin", "--config", dir_.write_file("second.yaml", yaml(port, udp_port, false))});
  EXPECT_EQ(second.exit_code, 2) << second.output;
  EXPECT_NE(second.output.find("service 'web': port " + std::to_string(port) + " (tcp 127.0.0.1:" +
                               std::to_string(port) + ") is already in use by another process"),
            std::string::npos)
      << second.output;
  EXPECT_NE(second.output.find("reuse_port: true"), std::string::npos) << second.output;
  // The UDP service alone (its TCP sibling moved to a free port).
  auto udp_only = test::run_nib({"--no-admin", "--config", dir_.write_file("third.yaml", yaml(spare, udp_port, false))});
  EXPECT_EQ(udp_only.exit_code, 2) << udp_only.output;
  EXPECT_NE(udp_only.output.find("service 'dns': port " + std::to_string(udp_port) + " (udp"), std::string::npos)
      << udp_only.output;
  // The same from Pen's command line.
  auto pen = test::run_nib({"--no-admin", "127.0.0.1:" + std::to_string(port), "127.0.0.1:" + std::to_string(b0.port())});
  EXPECT_EQ(pen.exit_code, 2) << pen.output;
  EXPECT_NE(pen.output.find("(--reuse-port)"), std::string::npos) << pen.output;
  EXPECT_EQ(test::who_serves(loopback(port), client_ip(1)).value_or("closed"), "b0");
  ASSERT_TRUE(first->signal(SIGTERM).ok());
  EXPECT_EQ(first->wait_exit(10s), 0);

  // Asked for on both sides: both run and serve the port, TCP and UDP.
  auto a = start({"--no-admin", "--config", dir_.write_file("a.yaml", yaml(port, udp_port, true))});
  auto b = start({"--no-admin", "--config", dir_.write_file("b.yaml", yaml(port, udp_port, true))});
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->signal(SIGTERM).ok());
  EXPECT_EQ(a->wait_exit(10s), 0);
  EXPECT_TRUE(b->running());
  EXPECT_EQ(test::who_serves(loopback(port), client_ip(2)).value_or("closed"), "b0");
  EXPECT_EQ(ask_udp(loopback(udp_port), client_ip(2), "ping").value_or("none"), "u0 ping");
  b.reset();

  // And with --reuse-port on Pen's command line.
  std::vector<std::string> pen_shared = {"--no-admin", "--reuse-port", "127.0.0.1:" + std::to_string(port),
                                         "127.0.0.1:" + std::to_string(b0.port())};
  auto c = start(pen_shared);
  auto d = start(pen_shared);
  EXPECT_TRUE(c && d);
}

// Issue 11: -x at its limit stops accepting (clients wait in the listen
// backlog, as with Pen) instead of accepting and closing; a connection that
// closes lets the next one in, whichever worker it waits on.
TEST_F(DataplaneLimitsTest, AtMaxConnectionsClientsWaitInTheBacklog) {
  TestBackend b0("b0");
  const uint16_t port = test::free_port();
  auto nib = start({"--no-admin", "--workers", "2", "-x", "2", "127.0.0.1:" + std::to_string(port),
                    "127.0.0.1:" + std::to_string(b0.port())});
  ASSERT_TRUE(nib);
  std::vector<TestClient> held;
  for (int i = 0; i < 2; ++i) {
    auto c = TestClient::connect(loopback(port), client_ip(i));
    ASSERT_TRUE(c.ok());
    ASSERT_EQ(c->read_line().value_or("closed"), "b0");
    held.push_back(std::move(*c));
  }
  // Connected by the kernel, not accepted: no greeting, and not closed either.
  std::vector<TestClient> waiting;
  for (int i = 2; i < 6; ++i) {
    auto c = TestClient::connect(loopback(port), client_ip(i));
    ASSERT_TRUE(c.ok()) << "client " << i << ": " << c.status().message();
    c->set_timeout(300ms);
    auto line = c->read_line();
    EXPECT_TRUE(!line.ok() && test::is_timeout(line.status())) << "client " << i << " got an answer";
    waiting.push_back(std::move(*c));
  }
  EXPECT_EQ(b0.accepted(), 2u);
  // Each close lets exactly one more in.
  for (size_t k = 0; k < waiting.size(); ++k) {
    TestClient& closing = held[k % 2];
    closing.close();
    TestClient* next = nullptr;
    ASSERT_TRUE(test::wait_until([&] {
      for (auto& c : waiting) {
        if (c.fd() < 0) continue;
        c.set_timeout(5ms);
        if (c.read_line().ok()) next = &c;
      }
      return next != nullptr;
    }, 5s)) << "after close " << k;
    EXPECT_EQ(b0.accepted(), 3 + k) << "after close " << k;
    closing = std::move(*next);
  }
  EXPECT_TRUE(nib->running());
}

// Finding 2: under a 256-descriptor limit, clients that never read a bulk
// reply used to exhaust descriptors; EMFILE from socket() counted as the
// backends' failure, blacklisted them all and refused every client for the
// blacklist time. Now clients beyond the budget wait, no backend is blamed,
// and once the flood ends a new client is served at once.
TEST_F(DataplaneLimitsTest, ADescriptorFloodCostsClientsAWaitNeverABackend) {
  const std::string bulk(256 << 10, '.');
  TestBackend a("A" + bulk), b("B" + bulk);  // each greets with 256 KiB
  auto nib = start_under_256_descriptors(a, b);
  ASSERT_TRUE(nib);

  // 120 clients read nothing: 240 descriptors and more than the budget has.
  std::vector<TestClient> flood;
  for (int i = 0; i < 120; ++i) {
    auto c = TestClient::connect(loopback(port_), far_client_ip(i));
    ASSERT_TRUE(c.ok()) << "client " << i << ": " << c.status().message();
    flood.push_back(std::move(*c));
  }
  ASSERT_TRUE(nib->wait_for_output("descriptors of the budget are in use", 10s)) << nib->output();
  ASSERT_TRUE(test::wait_until([&] { return a.accepted() + b.accepted() >= 60; }, 10s));
  EXPECT_TRUE(nib->running());
  EXPECT_GT(metric(admin_, "nib_resource_exhausted_total{resource=\"fd\"}"), 0) << nib->output();
  flood.clear();  // the flood ends

  expect_both_serve_at_once(*nib, 500);
  // One line for the burst, not one per pause.
  const std::string out = nib->output();
  size_t lines = 0;
  for (size_t at = 0; (at = out.find("descriptors of the budget are in use", at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, 1u) << out;
}

// Finding 2, the kernel's side: idle admin connections take descriptors
// outside the budget until accept() and socket() meet EMFILE themselves.
// The client that cannot be served is closed and counted; no backend is
// blamed; accepting backs off and comes back.
TEST_F(DataplaneLimitsTest, EmfileFromTheKernelIsNibsShortageNotTheBackends) {
  TestBackend a("A"), b("B");
  auto nib = start_under_256_descriptors(a, b);
  ASSERT_TRUE(nib);
  std::vector<TestClient> idle_admin;
  for (int i = 0; i < 150; ++i) {
    auto c = TestClient::connect(admin_, far_client_ip(i));
    if (c.ok()) idle_admin.push_back(std::move(*c));
  }
  std::vector<TestClient> clients;
  for (int i = 0; i < 100; ++i) {
    auto c = TestClient::connect(loopback(port_), client_ip(i), 2s);
    if (c.ok()) clients.push_back(std::move(*c));
  }
  for (auto& c : clients) {
    c.set_timeout(20ms);
    (void)c.read_line();  // served, closed for want of a descriptor, or still waiting
  }
  EXPECT_TRUE(nib->running());
  idle_admin.clear();
  clients.clear();
  expect_both_serve_at_once(*nib, 200);
  EXPECT_GE(metric(admin_, "nib_resource_exhausted_total{resource=\"fd\"}"), 0);
}

// Finding 12: a reload that changes workers was "reloaded" and ignored; it
// is refused like the other settings made at start.
TEST_F(DataplaneLimitsTest, AReloadThatChangesWorkersIsRefused) {
  TestBackend b0("b0"), b1("b1");
  const uint16_t port = test::free_port();
  auto yaml = [&](int workers, const TestBackend& b) {
    return "workers: " + std::to_string(workers) + "\nservices:\n  - name: web\n    listen: 127.0.0.1:" +
           std::to_string(port) + "\n    backends: [127.0.0.1:" + std::to_string(b.port()) + "]\n";
  };
  std::string config = write_config(yaml(2, b0));
  auto nib = start({"--no-admin", "--config", config});
  ASSERT_TRUE(nib);
  write_config(yaml(3, b1));
  ASSERT_TRUE(nib->signal(SIGHUP).ok());
  ASSERT_TRUE(nib->wait_for_output("reload failed", 5s)) << nib->output();
  EXPECT_NE(nib->output().find("reload failed, keeping the running configuration: workers change (2 -> 3) needs a "
                               "restart"),
            std::string::npos)
      << nib->output();
  EXPECT_EQ(nib->output().find("reloaded"), std::string::npos);
  // Refused as a whole: the backend change in the same file did not apply.
  EXPECT_EQ(test::who_serves(loopback(port), client_ip(1)).value_or("closed"), "b0");

  write_config(yaml(2, b1));
  ASSERT_TRUE(nib->signal(SIGHUP).ok());
  ASSERT_TRUE(nib->wait_for_output("reloaded", 5s)) << nib->output();
  EXPECT_EQ(test::who_serves(loopback(port), client_ip(2)).value_or("closed"), "b1");
}

}  // namespace
}  // namespace nib
