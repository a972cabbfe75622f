// Drain deadlines: connections (UDP: sessions) still open when a drain's
// deadline passes are closed by their own workers, and the drain then
// finishes, announced once.
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <mutex>

#include "dataplane/dataplane.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"
#include "tests/support/test_udp_backend.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::TestBackend;
using test::TestClient;
using test::wait_until;

class DrainDeadlineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_.name = "test";
    service_.listen = *SocketAddress::parse("127.0.0.1:0");
    service_.policy.mode = BalanceMode::kPrio;  // b0 first
    for (int i = 0; i < 2; ++i) {
      backends_.push_back(std::make_unique<TestBackend>("b" + std::to_string(i)));
      service_.backends.push_back(BackendConfig{.host = "127.0.0.1", .address = backends_.back()->address(),
                                                .prio = static_cast<uint32_t>(i)});
    }
  }
  void TearDown() override {
    if (dp_) dp_->events().unsubscribe(token_);
    dp_.reset();
  }
  void start() {
    DataplaneConfig c;
    c.workers = 2;
    c.services = {service_};
    dp_ = std::make_unique<Dataplane>(c);
    token_ = dp_->events().subscribe([this](const DataplaneEvent& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    });
    ASSERT_TRUE(dp_->start().ok());
    lb_ = *dp_->bound_address(service_.name);
  }
  // An idle client connection held open on b0.
  TestClient hold() {
    auto c = TestClient::connect(lb_);
    EXPECT_TRUE(c.ok());
    EXPECT_EQ(*c->read_line(), "b0");
    return std::move(*c);
  }
  uint32_t id(int i) { return dp_->status()[0].backends[i].id; }
  int count(DataplaneEvent::Kind kind) {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& e : events_) n += e.kind == kind;
    return n;
  }
  std::string detail_of(DataplaneEvent::Kind kind) {
    std::lock_guard lock(mu_);
    for (const auto& e : events_) {
      if (e.kind == kind) return e.detail;
    }
    return "";
  }

  ServiceConfig service_;
  std::vector<std::unique_ptr<TestBackend>> backends_;
  std::unique_ptr<Dataplane> dp_;
  SocketAddress lb_;
  uint64_t token_ = 0;
  std::mutex mu_;
  std::vector<DataplaneEvent> events_;
};

TEST_F(DrainDeadlineTest, TheServicesDrainTimeoutClosesAnIdleStraggler) {
  service_.drain_timeout_seconds = 0.3;
  start();
  TestClient held = hold();
  TestClient second = hold();
  auto drained = dp_->drain_backend("test", id(0));
  ASSERT_TRUE(drained.ok());
  EXPECT_EQ(drained->active, 2);
  EXPECT_NE(detail_of(DataplaneEvent::Kind::kDrainStarted).find("closed after 0.3 s"), std::string::npos)
      << detail_of(DataplaneEvent::Kind::kDrainStarted);
  ASSERT_TRUE(wait_until([&] { return count(DataplaneEvent::Kind::kDrainFinished) == 1; }, 5s));
  auto rest = held.read_until_eof();
  EXPECT_TRUE(!rest.ok() || rest->empty());
  EXPECT_EQ(dp_->backend("test", id(0))->active, 0);
  EXPECT_TRUE(dp_->backend("test", id(0))->drain_finished);
  EXPECT_EQ(*test::who_serves(lb_), "b1");
  EXPECT_EQ(count(DataplaneEvent::Kind::kDrainFinished), 1);  // two closes, one announcement
}

TEST_F(DrainDeadlineTest, ARequestsTimeoutOverridesTheService) {
  start();  // drain_timeout 0: wait forever
  TestClient held = hold();
  ASSERT_TRUE(dp_->drain_backend("test", id(0), 0.2).ok());
  ASSERT_TRUE(wait_until([&] { return count(DataplaneEvent::Kind::kDrainFinished) == 1; }, 5s));
  EXPECT_EQ(dp_->backend("test", id(0))->active, 0);
  EXPECT_EQ(dp_->drain_backend("test", id(1), -1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(dp_->backend("test", id(1))->admin_state, AdminState::kEnabled);  // rejected: nothing changed
}

TEST_F(DrainDeadlineTest, WithoutADeadlineTheDrainWaitsForTheLastClose) {
  start();
  TestClient held = hold();
  ASSERT_TRUE(dp_->drain_backend("test", id(0)).ok());
  ASSERT_TRUE(held.write_all("still here\n").ok());
  EXPECT_EQ(*held.read_line(), "still here");
  EXPECT_EQ(count(DataplaneEvent::Kind::kDrainFinished), 0);
  held.close();
  ASSERT_TRUE(wait_until([&] { return count(DataplaneEvent::Kind::kDrainFinished) == 1; }, 5s));
}

TEST_F(DrainDeadlineTest, EnablingTheBackendCancelsTheDeadline) {
  start();
  TestClient held = hold();
  ASSERT_TRUE(dp_->drain_backend("test", id(0), 0.3).ok());
  ASSERT_TRUE(dp_->update_backend("test", id(0), BackendPatch{.enabled = true}).ok());
  // Past the deadline (a bounded wait for something that must not happen).
  EXPECT_FALSE(wait_until([&] { return dp_->backend("test", id(0))->active == 0; }, 800ms));
  ASSERT_TRUE(held.write_all("ping\n").ok());
  EXPECT_EQ(*held.read_line(), "ping");
  EXPECT_EQ(count(DataplaneEvent::Kind::kDrainFinished), 0);
}

TEST_F(DrainDeadlineTest, UdpSessionsAreClosedAtTheDeadlineToo) {
  test::TestUdpBackend u0("u0"), u1("u1");
  service_.name = "dns";
  service_.protocol = Protocol::kUdp;
  service_.backends = {BackendConfig{.host = "127.0.0.1", .address = u0.address(), .prio = 0},
                       BackendConfig{.host = "127.0.0.1", .address = u1.address(), .prio = 1}};
  start();
  UniqueFd client(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(client.get(), lb_.sockaddr_ptr(), lb_.length()), 0);
  ASSERT_EQ(::send(client.get(), "hi", 2, 0), 2);
  pollfd p{client.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  char buf[64];
  ASSERT_GT(::recv(client.get(), buf, sizeof buf, 0), 0);
  ASSERT_TRUE(wait_until([&] { return dp_->backend("dns", id(0))->active == 1; }));
  ASSERT_TRUE(dp_->drain_backend("dns", id(0), 0.2).ok());
  ASSERT_TRUE(wait_until([&] { return count(DataplaneEvent::Kind::kDrainFinished) == 1; }, 5s));
  EXPECT_EQ(dp_->backend("dns", id(0))->active, 0);
}

}  // namespace
}  // namespace nib
