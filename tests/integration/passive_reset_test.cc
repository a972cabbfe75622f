// Pen's passive check extended to resets: a backend that accepts and then
// resets before its first byte fails like a refused connect (counted,
// blacklisted, taken down when checked). A client none of whose bytes reached
// it fails over; one whose request did is closed.
#include <gtest/gtest.h>

#include "dataplane/dataplane.h"
#include "tests/support/dataplane_fixture.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::BackendMode;
using test::TestBackend;
using test::TestClient;
using test::wait_until;

class PassiveResetTest : public test::DataplaneFixture<> {
 protected:
  void SetUp() override {
    DataplaneFixture::SetUp();
    service_.policy.mode = BalanceMode::kPrio;  // b0 first, while usable
  }
  void add_backend(BackendMode mode) {
    add_backends(1, mode);
    service_.backends.back().prio = static_cast<uint32_t>(backends_.size());
  }
  BackendStatus backend_status(int i) { return dp_->status()[0].backends[i]; }
  std::vector<std::string> health_events() {
    std::vector<std::string> out;
    for (const auto& e : events_.of(DataplaneEvent::Kind::kHealthChanged)) out.push_back(e.detail);
    return out;
  }
};

TEST_F(PassiveResetTest, AResetBeforeAnythingWasSentFailsOverToTheNextServer) {
  add_backend(BackendMode::kReset);
  add_backend(BackendMode::kEcho);
  start();
  auto name = test::who_serves(lb_);
  ASSERT_TRUE(name.ok()) << name.status().message();
  EXPECT_EQ(*name, "b1");  // the client never saw b0's reset
  BackendStatus b0 = backend_status(0);
  EXPECT_EQ(b0.counters.connect_failures, 1u);
  EXPECT_TRUE(b0.blacklisted);
  EXPECT_EQ(backends_[0]->accepted(), 1u);
  // Blacklisted: the next clients go straight to b1.
  EXPECT_EQ(*test::who_serves(lb_), "b1");
  EXPECT_EQ(backends_[0]->accepted(), 1u);
  EXPECT_EQ(backend_status(1).counters.connect_failures, 0u);
}

TEST_F(PassiveResetTest, AResetAfterTheClientsBytesClosesTheClient) {
  add_backend(BackendMode::kResetOnData);
  add_backend(BackendMode::kEcho);
  start();
  auto client = TestClient::connect(lb_);
  ASSERT_TRUE(client.ok()) << client.status().message();
  ASSERT_TRUE(client->write_all("GET / HTTP/1.0\r\n\r\n").ok());
  // The request reached b0: retrying it elsewhere could run it twice.
  auto reply = client->read_until_eof();
  EXPECT_FALSE(reply.ok() && !reply->empty()) << *reply;
  ASSERT_TRUE(wait_until([&] { return backend_status(0).counters.connect_failures == 1; }));
  EXPECT_TRUE(backend_status(0).blacklisted);
  EXPECT_EQ(*test::who_serves(lb_), "b1");
}

TEST_F(PassiveResetTest, ACloseWithoutAReplyToTheClientsBytesCountsToo) {
  add_backend(BackendMode::kCloseOnData);
  add_backend(BackendMode::kEcho);
  start();
  auto client = TestClient::connect(lb_);
  ASSERT_TRUE(client.ok()) << client.status().message();
  ASSERT_TRUE(client->write_all("PING\r\n").ok());
  auto reply = client->read_until_eof();
  EXPECT_TRUE(!reply.ok() || reply->empty());
  ASSERT_TRUE(wait_until([&] { return backend_status(0).counters.connect_failures == 1; }));
  EXPECT_TRUE(backend_status(0).blacklisted);
  EXPECT_EQ(*test::who_serves(lb_), "b1");
}

TEST_F(PassiveResetTest, AServerClosingAnIdleConnectionCountsNothing) {
  // The client sends nothing and half-closes; the backend (echo) greets,
  // sees the EOF and closes: bytes came back, nothing is wrong.
  add_backend(BackendMode::kEcho);
  start();
  auto client = TestClient::connect(lb_);
  ASSERT_TRUE(client.ok());
  client->shutdown_write();
  auto all = client->read_until_eof();
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(*all, "b0\n");
  EXPECT_EQ(backend_status(0).counters.connect_failures, 0u);
  EXPECT_FALSE(backend_status(0).blacklisted);
}

TEST_F(PassiveResetTest, AResetTakesACheckedBackendDown) {
  HealthCheckConfig c;  // tcp: the connect succeeds, so only the passive path can see it
  c.interval_seconds = 0.5;
  c.timeout_seconds = 0.2;
  c.fall = 1000;
  c.rise = 1000;  // stays down for the test
  service_.health_check = c;
  add_backend(BackendMode::kResetOnData);  // deterministic: connected long before the reset
  add_backend(BackendMode::kEcho);
  start();
  ASSERT_TRUE(wait_until([&] { return backend_status(0).health.last_check_ok; }));
  auto client = TestClient::connect(lb_);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client->write_all("x").ok());
  ASSERT_TRUE(wait_until([&] { return backend_status(0).counters.connect_failures == 1; }));
  EXPECT_EQ(*test::who_serves(lb_), "b1");
  // The blacklist is immediate; the health checker records the reason on its
  // own thread just after, so wait for it rather than race it.
  const std::string reason = "a client's connection was reset before the first byte";
  ASSERT_TRUE(wait_until([&] { return backend_status(0).health.reason == reason; }));
  EXPECT_EQ(backend_status(0).state, BackendState::kDown);
  ASSERT_TRUE(wait_until([&] { return health_events().size() >= 1; }));  // published just after the state
  auto events = health_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], "up -> down: a client's connection was reset before the first byte");
}

}  // namespace
}  // namespace nib
