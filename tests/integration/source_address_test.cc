// Pen's `source IP` through the real nib binary: connections to the backends
// (TCP, UDP sessions, health checks) leave from the configured local address,
// Debian's penctl reads it, a change at runtime is refused, and an address
// that is not this host's stops the start. 127.0.0.9 is a loopback address
// the host owns (all of 127/8 is), distinct from the clients' 127.0.0.1.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "dataplane/base/unique_fd.h"
#include "dataplane/net/socket_address.h"
#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib {
namespace {

using namespace std::chrono_literals;

constexpr const char* kSource = "127.0.0.9";
constexpr const char* kPenctl = "/usr/bin/penctl";

std::string at(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }
SocketAddress lb(uint16_t port) { return *SocketAddress::from_ip("127.0.0.1", port); }

class SourceAddressTest : public ::testing::Test {
 protected:
  void SetUp() override { NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built"); }
  // nib -f -p PIDFILE `args`, ready once its pid file is written.
  std::unique_ptr<test::NibProcess> start(std::vector<std::string> args) {
    return test::start_foreground(std::move(args), dir_.file("nib.pid"));
  }
  // Debian's penctl against `control`: its exit status and what it printed.
  std::pair<int, std::string> penctl(const std::string& control, std::vector<std::string> words) {
    words.insert(words.begin(), control);
    auto p = test::NibProcess::start_program(kPenctl, words);
    if (!p.ok()) return {-1, p.status().message()};
    int status = (*p)->wait_exit(10s).value_or(-1);
    (*p)->wait_output_closed(10s);
    return {status, (*p)->stdout_output()};
  }
  test::TempDir dir_;
};

TEST_F(SourceAddressTest, PensSourceOptionMakesConnectionsLeaveFromIt) {
  NIB_REQUIRE(::access(kPenctl, X_OK) == 0, "no /usr/bin/penctl (Debian's pen: scripts/install-deps.sh --test)");
  test::TestBackend b0("b0"), b1("b1");
  const uint16_t port = test::free_port();
  const std::string control = at(test::free_port());
  auto nib = start({"--allow-root-control", "-C", control, "-o", std::string("source ") + kSource, at(port),
                    at(b0.port()), at(b1.port())});
  ASSERT_TRUE(nib);
  EXPECT_EQ(*test::who_serves(lb(port), "127.0.0.2"), "b0");
  EXPECT_EQ(*test::who_serves(lb(port), "127.0.0.3"), "b1");
  EXPECT_EQ(b0.peer_ips(), std::vector<std::string>{kSource});
  EXPECT_EQ(b1.peer_ips(), std::vector<std::string>{kSource});

  EXPECT_EQ(penctl(control, {"source"}), std::make_pair(0, std::string(kSource) + "\n"));
  EXPECT_EQ(penctl(control, {"source", kSource}).first, 0) << "the address in force: a replayed write file";
  EXPECT_NE(penctl(control, {"source", "127.0.0.10"}).first, 0) << "a change needs a restart";
  EXPECT_NE(penctl(control, {"source", "nonsense"}).first, 0);
  EXPECT_EQ(*test::who_serves(lb(port), "127.0.0.2"), "b0");
  EXPECT_EQ(b0.peer_ips(), (std::vector<std::string>{kSource, kSource})) << "nothing changed";
}

TEST_F(SourceAddressTest, UdpSessionsLeaveFromItToo) {
  // The backend: a bare UDP socket that notes who sent and answers.
  UniqueFd backend(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  SocketAddress backend_at = *SocketAddress::from_ip("127.0.0.1", 0);
  ASSERT_EQ(::bind(backend.get(), backend_at.sockaddr_ptr(), backend_at.length()), 0);
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ASSERT_EQ(::getsockname(backend.get(), reinterpret_cast<sockaddr*>(&bound), &len), 0);
  timeval tv{5, 0};  // bounded receives: a lost datagram fails, never hangs
  ::setsockopt(backend.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  const uint16_t port = test::free_port();
  auto nib = start({"-U", "-o", std::string("source ") + kSource, at(port), at(ntohs(bound.sin_port))});
  ASSERT_TRUE(nib);
  UniqueFd client(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SocketAddress to = lb(port);
  ASSERT_EQ(::sendto(client.get(), "ping", 4, 0, to.sockaddr_ptr(), to.length()), 4);

  char buf[64];
  sockaddr_storage from{};
  socklen_t from_len = sizeof from;
  ssize_t n = ::recvfrom(backend.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
  ASSERT_EQ(n, 4) << nib->output();
  SocketAddress sender(reinterpret_cast<sockaddr*>(&from), from_len);
  EXPECT_EQ(sender.ip_string(), kSource);
  ASSERT_EQ(::sendto(backend.get(), "pong", 4, 0, sender.sockaddr_ptr(), sender.length()), 4);
  ASSERT_EQ(::recv(client.get(), buf, sizeof buf, 0), 4) << "the reply reaches the client";
  EXPECT_EQ(std::string(buf, 4), "pong");
}

TEST_F(SourceAddressTest, YamlSourceAlsoCarriesTheHealthChecks) {
  test::TestBackend b0("b0");
  const uint16_t port = test::free_port();
  const std::string config = dir_.write_file(
      "nib.yaml", "services:\n  - name: web\n    listen: " + at(port) + "\n    source: " + kSource +
                      "\n    backends: [" + at(b0.port()) + "]\n"
                      "    health_check: {type: tcp, interval: 0.2, timeout: 0.1}\n"
                      "admin: {enabled: false}\n");
  auto nib = test::NibProcess::start({"--config", config});
  ASSERT_TRUE(nib.ok()) << nib.status().message();
  ASSERT_TRUE(test::wait_until([&] { return b0.accepted() >= 2; }, 10s)) << (*nib)->output();
  EXPECT_EQ(*test::who_serves(lb(port), "127.0.0.2"), "b0");
  for (const std::string& peer : b0.peer_ips()) EXPECT_EQ(peer, kSource) << "probes and clients alike";
}

TEST_F(SourceAddressTest, AnAddressNotOfThisHostOrNotAnAddressStopsTheStart) {
  const uint16_t port = test::free_port();
  // 192.0.2.1 (TEST-NET-1) is nobody's here: binding to it fails, nothing is sent.
  auto foreign = test::run_nib({"-f", "-o", "source 192.0.2.1", at(port), "127.0.0.1:80"});
  EXPECT_EQ(foreign.exit_code, 2) << foreign.output;
  EXPECT_NE(foreign.output.find("source 192.0.2.1 is not an address of this host"), std::string::npos)
      << foreign.output;
  auto malformed = test::run_nib({"--check", "-o", "source 127.0.0.300", at(port), "127.0.0.1:80"});
  EXPECT_EQ(malformed.exit_code, 2) << malformed.output;
  EXPECT_NE(malformed.output.find("expected 'source IP'"), std::string::npos) << malformed.output;
  const std::string yaml = dir_.write_file("bad.yaml", "services:\n  - name: web\n    listen: " + at(port) +
                                                           "\n    source: 127.0.0.1:80\n    backends: [127.0.0.1:80]\n");
  auto bad_yaml = test::run_nib({"--check", "--config", yaml});
  EXPECT_EQ(bad_yaml.exit_code, 2) << bad_yaml.output;
  EXPECT_NE(bad_yaml.output.find("bad.yaml:4:13: services[0].source: expected an IPv4 or IPv6 address (no port)"),
            std::string::npos)
      << bad_yaml.output;
}

}  // namespace
}  // namespace nib
