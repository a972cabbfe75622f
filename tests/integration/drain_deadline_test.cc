// Drain deadlines: connections (UDP: sessions) still open when a drain's
// deadline passes are closed by their own workers, and the drain then
// finishes, announced once. On a manual clock: not a moment before the
// deadline, and at once when it passes (advance() returns after the workers
// fired their timers).
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include "dataplane/dataplane.h"
#include "tests/support/dataplane_fixture.h"
#include "tests/support/test_udp_backend.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::TestBackend;
using test::TestClient;
using test::wait_until;

class DrainDeadlineTest : public test::DataplaneFixture<> {
 protected:
  void SetUp() override {
    DataplaneFixture::SetUp();
    manual_time_ = true;
    service_.policy.mode = BalanceMode::kPrio;  // b0 first
    add_backends(2);
    for (int i = 0; i < 2; ++i) service_.backends[i].prio = static_cast<uint32_t>(i);
  }
  // An idle client connection held open on b0.
  TestClient hold() {
    auto c = TestClient::connect(lb_);
    EXPECT_TRUE(c.ok());
    EXPECT_EQ(*c->read_line(), "b0");
    return std::move(*c);
  }
  uint32_t id(int i) { return dp_->status()[0].backends[i].id; }
  int count(DataplaneEvent::Kind kind) { return static_cast<int>(events_.count(kind)); }
  std::string detail_of(DataplaneEvent::Kind kind) {
    auto events = events_.of(kind);
    return events.empty() ? "" : events[0].detail;
  }
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
  clock_.advance(299ms);
  EXPECT_EQ(dp_->backend("test", id(0))->active, 2);
  EXPECT_EQ(count(DataplaneEvent::Kind::kDrainFinished), 0);
  clock_.advance(1ms);
  EXPECT_EQ(count(DataplaneEvent::Kind::kDrainFinished), 1);
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
  clock_.advance(199ms);
  EXPECT_EQ(count(DataplaneEvent::Kind::kDrainFinished), 0);
  clock_.advance(1ms);
  EXPECT_EQ(count(DataplaneEvent::Kind::kDrainFinished), 1);
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
  clock_.advance(std::chrono::hours(24));
  EXPECT_EQ(count(DataplaneEvent::Kind::kDrainFinished), 0);
  held.close();
  ASSERT_TRUE(wait_until([&] { return count(DataplaneEvent::Kind::kDrainFinished) == 1; }, 5s));
}

TEST_F(DrainDeadlineTest, EnablingTheBackendCancelsTheDeadline) {
  start();
  TestClient held = hold();
  ASSERT_TRUE(dp_->drain_backend("test", id(0), 0.3).ok());
  ASSERT_TRUE(dp_->update_backend("test", id(0), BackendPatch{.enabled = true}).ok());
  clock_.advance(1s);  // well past the deadline
  EXPECT_EQ(dp_->backend("test", id(0))->active, 1);
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
  clock_.advance(199ms);
  EXPECT_EQ(dp_->backend("dns", id(0))->active, 1);
  clock_.advance(1ms);
  EXPECT_EQ(count(DataplaneEvent::Kind::kDrainFinished), 1);
  EXPECT_EQ(dp_->backend("dns", id(0))->active, 0);
}

}  // namespace
}  // namespace nib
