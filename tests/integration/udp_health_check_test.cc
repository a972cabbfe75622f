// udp health checks through the whole Dataplane: real UDP backends on
// loopback that stop answering or close their port, a real UDP listener, real
// clients. A backend found down leaves rotation for new sessions, and a
// client whose session's backend went down moves on its next datagram.
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "dataplane/dataplane.h"
#include "tests/support/dataplane_fixture.h"
#include "tests/support/test_udp_backend.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::TestUdpBackend;
using test::wait_until;

// Checks run on wall time here (a whole Dataplane): a state change gets the
// slack of a loaded machine running the suites in parallel.
constexpr auto kStateChange = 10s;

// One UDP client (one source port: one session on the balancer).
class UdpClient {
 public:
  explicit UdpClient(const SocketAddress& lb) : fd_(::socket(lb.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    if (::connect(fd_.get(), lb.sockaddr_ptr(), lb.length()) != 0) ADD_FAILURE() << "connect: " << std::strerror(errno);
  }
  // The name of the backend that answered, or "" when nothing came back in time.
  std::string ask(const std::string& payload = "hi") {
    if (::send(fd_.get(), payload.data(), payload.size(), 0) < 0) return "";
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) return "";
    char buf[512];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n <= 0) return "";
    std::string reply(buf, static_cast<size_t>(n));
    return reply.substr(0, reply.find(' '));  // "<name> <payload>"
  }

 private:
  UniqueFd fd_;
};

class UdpHealthCheckTest : public test::DataplaneFixture<TestUdpBackend> {
 protected:
  void SetUp() override {
    DataplaneFixture::SetUp();
    service_.name = "dns";
    service_.protocol = Protocol::kUdp;
    service_.policy.mode = BalanceMode::kRoundRobin;
    HealthCheckConfig c;
    c.type = HealthCheckType::kUdp;
    c.send = "check";
    c.expect = "check";
    c.interval_seconds = 0.05;
    c.timeout_seconds = 0.04;
    c.rise = 2;
    c.fall = 2;
    service_.health_check = c;
    add_backends(2);
  }
  BackendStatus backend_status(int i) { return dp_->status()[0].backends[i]; }
  bool checked(int i) { return backend_status(i).health.last_check_time.time_since_epoch().count() != 0; }
  BackendState state(int i) { return backend_status(i).state; }
  size_t health_events() { return events_.count(DataplaneEvent::Kind::kHealthChanged); }
  // Which backends answer new clients (each a new session).
  std::map<std::string, int> spread(int clients) {
    std::map<std::string, int> out;
    for (int i = 0; i < clients; ++i) ++out[UdpClient(lb_).ask()];
    return out;
  }
};

TEST_F(UdpHealthCheckTest, ASilentBackendLeavesRotationAndItsClientsMove) {
  start();
  ASSERT_TRUE(wait_until([&] { return checked(0) && checked(1); }));
  EXPECT_EQ(state(0), BackendState::kUp);
  EXPECT_EQ(backend_status(0).health.last_check, "reply matched");

  UdpClient client(lb_);
  std::string first = client.ask();
  ASSERT_TRUE(first == "b0" || first == "b1") << first;
  const int hung = first == "b0" ? 0 : 1;
  const std::string other = hung == 0 ? "b1" : "b0";

  backends_[hung]->set_mode(TestUdpBackend::Mode::kSilent);  // the port stays open
  ASSERT_TRUE(wait_until([&] { return state(hung) == BackendState::kDown; }, kStateChange));
  EXPECT_NE(backend_status(hung).health.reason.find("timeout"), std::string::npos)
      << backend_status(hung).health.reason;
  // The client's session pointed at the hung backend: its next datagram
  // opens a session on the other one instead of vanishing.
  EXPECT_EQ(client.ask(), other);
  EXPECT_EQ(spread(6)[other], 6);

  backends_[hung]->set_mode(TestUdpBackend::Mode::kReply);
  ASSERT_TRUE(wait_until([&] { return state(hung) == BackendState::kUp; }, kStateChange));
  EXPECT_EQ(client.ask(), other);  // no flapping back
  EXPECT_EQ(spread(4)[first], 2);
  ASSERT_TRUE(wait_until([&] { return health_events() >= 2; }));  // published just after the state
  EXPECT_EQ(health_events(), 2u);
}

TEST_F(UdpHealthCheckTest, AClosedPortIsFoundByItsIcmpErrorAndComesBack) {
  start();
  ASSERT_TRUE(wait_until([&] { return checked(0) && checked(1); }));
  backends_[1]->stop();  // datagrams now draw ICMP port unreachable
  ASSERT_TRUE(wait_until([&] { return state(1) == BackendState::kDown; }, kStateChange));
  BackendStatus down = backend_status(1);
  EXPECT_NE(down.health.reason.find("port unreachable"), std::string::npos) << down.health.reason;
  EXPECT_FALSE(down.blacklisted);  // found by the check, not by a client

  EXPECT_EQ(spread(6)["b0"], 6);
  EXPECT_EQ(backend_status(1).counters.connect_failures, 0u) << "a client paid for the closed port";

  ASSERT_TRUE(backends_[1]->start().ok());
  ASSERT_TRUE(wait_until([&] { return state(1) == BackendState::kUp; }, kStateChange));
  auto served = spread(4);
  EXPECT_EQ(served["b0"], 2);
  EXPECT_EQ(served["b1"], 2);
}

TEST_F(UdpHealthCheckTest, ARefusedClientDatagramTakesACheckedBackendDown) {
  // fall 1000: only the passive path can take it down within the test.
  service_.health_check->fall = 1000;
  service_.health_check->interval_seconds = 0.2;
  service_.health_check->timeout_seconds = 0.1;
  start();
  ASSERT_TRUE(wait_until([&] { return checked(0) && checked(1); }));
  UdpClient client(lb_);
  std::string first = client.ask();
  ASSERT_TRUE(first == "b0" || first == "b1") << first;
  const int gone = first == "b0" ? 0 : 1;
  backends_[gone]->stop();
  // The datagram that finds the port closed is lost (UDP); the refusal
  // counts against the backend, and a later one goes elsewhere.
  std::string answered;
  ASSERT_TRUE(wait_until([&] {
    answered = client.ask();
    return !answered.empty();
  }, 10s));
  EXPECT_NE(answered, first);
  BackendStatus b = backend_status(gone);
  EXPECT_EQ(b.state, BackendState::kDown);
  EXPECT_EQ(b.health.reason, "a client's datagram was refused");
  ASSERT_TRUE(backends_[gone]->start().ok());
  ASSERT_TRUE(wait_until([&] { return state(gone) == BackendState::kUp; }, kStateChange));
  EXPECT_FALSE(backend_status(gone).blacklisted);
}

}  // namespace
}  // namespace nib
