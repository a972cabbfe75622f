// Active health checks through the whole Dataplane: real backends on loopback,
// a real listener, real clients. The checker must take a dead server out of
// rotation before a client pays for it, say so (status, event), and bring it
// back without dragging remembered clients back.
#include <gtest/gtest.h>

#include <map>

#include "dataplane/dataplane.h"
#include "tests/support/dataplane_fixture.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::BackendMode;
using test::TestBackend;
using test::wait_until;

class HealthCheckTest : public test::DataplaneFixture<> {
 protected:
  void SetUp() override {
    DataplaneFixture::SetUp();
    service_.connect_timeout_seconds = 2;
    HealthCheckConfig c;
    c.interval_seconds = 0.05;
    c.timeout_seconds = 0.04;
    c.rise = 2;
    c.fall = 2;
    service_.health_check = c;
  }
  BackendStatus backend_status(int i) { return dp_->status()[0].backends[i]; }
  bool checked(int i) { return backend_status(i).health.last_check_time.time_since_epoch().count() != 0; }
  std::vector<DataplaneEvent> health_events() { return events_.of(DataplaneEvent::Kind::kHealthChanged); }
};

TEST_F(HealthCheckTest, ADownBackendCostsClientsNoFailedConnect) {
  service_.policy.mode = BalanceMode::kRoundRobin;
  add_backends(2);
  start();
  ASSERT_TRUE(wait_until([&] { return checked(0) && checked(1); }));
  EXPECT_EQ(backend_status(1).state, BackendState::kUp);

  backends_[1]->stop();
  ASSERT_TRUE(wait_until([&] { return backend_status(1).state == BackendState::kDown; }, 3s));
  BackendStatus down = backend_status(1);
  EXPECT_NE(down.health.reason.find("check(s) failed"), std::string::npos) << down.health.reason;
  EXPECT_FALSE(down.health.last_check_ok);
  EXPECT_FALSE(down.blacklisted);  // the checker found it, not a client

  std::map<std::string, int> served;
  for (int i = 0; i < 20; ++i) ++served[who(i)];
  EXPECT_EQ(served["b0"], 20);
  EXPECT_EQ(backend_status(1).counters.connect_failures, 0u) << "a client paid for the dead server";

  // The event is published just after the state changes: wait for it.
  ASSERT_TRUE(wait_until([&] { return health_events().size() >= 1; }));
  auto events = health_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].service, "test");
  EXPECT_EQ(events[0].backend_id, down.id);
  EXPECT_EQ(events[0].detail.rfind("up -> down: ", 0), 0u) << events[0].detail;

  ASSERT_TRUE(backends_[1]->start().ok());
  ASSERT_TRUE(wait_until([&] { return backend_status(1).state == BackendState::kUp; }, 3s));
  served.clear();
  for (int i = 0; i < 4; ++i) ++served[who(i)];
  EXPECT_EQ(served["b1"], 2);
  ASSERT_TRUE(wait_until([&] { return health_events().size() >= 2; }));
  events = health_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].detail.rfind("down -> up: ", 0), 0u) << events[1].detail;
}

// Documented choice: a client moved off a down server stays on its new one
// when the old one comes back (no flapping back, no second cache warm-up).
TEST_F(HealthCheckTest, ARememberedClientMovesAndStaysMoved) {
  add_backends(2);
  start();
  ASSERT_EQ(who(1), "b0");
  ASSERT_EQ(who(2), "b1");
  backends_[1]->stop();
  ASSERT_TRUE(wait_until([&] { return backend_status(1).state == BackendState::kDown; }, 3s));
  EXPECT_EQ(who(2), "b0");
  ASSERT_TRUE(backends_[1]->start().ok());
  ASSERT_TRUE(wait_until([&] { return backend_status(1).state == BackendState::kUp; }, 3s));
  EXPECT_EQ(who(2), "b0");
  EXPECT_EQ(backend_status(1).counters.connect_failures, 0u);
}

TEST_F(HealthCheckTest, TheEmergencyServerServesOnlyWhenNoRegularServerIsUp) {
  add_backends(1);
  auto emergency = std::make_unique<TestBackend>("emergency");
  service_.emergency = BackendConfig{.host = "127.0.0.1", .address = emergency->address()};
  start();
  EXPECT_EQ(who(1), "b0");
  backends_[0]->stop();
  ASSERT_TRUE(wait_until([&] { return backend_status(0).state == BackendState::kDown; }, 3s));
  EXPECT_EQ(who(1), "emergency");
  ASSERT_TRUE(backends_[0]->start().ok());
  ASSERT_TRUE(wait_until([&] { return backend_status(0).state == BackendState::kUp; }, 3s));
  EXPECT_EQ(who(3), "b0");
}

TEST_F(HealthCheckTest, HttpCheckTakesASickAppOutOfRotation) {
  HealthCheckConfig c = *service_.health_check;
  c.type = HealthCheckType::kHttp;
  service_.health_check = c;
  add_backends(2, BackendMode::kHttp);
  start();
  ASSERT_TRUE(wait_until([&] { return checked(0) && checked(1); }));
  backends_[0]->set_mode(BackendMode::kHttpError);
  ASSERT_TRUE(wait_until([&] { return backend_status(0).state == BackendState::kDown; }, 3s));
  EXPECT_NE(backend_status(0).health.reason.find("status 500"), std::string::npos);
  EXPECT_EQ(backend_status(1).state, BackendState::kUp);
}

TEST_F(HealthCheckTest, BackendsWithoutChecksAreNotChecked) {
  service_.health_check.reset();
  add_backends(1);
  start();
  EXPECT_EQ(who(1), "b0");
  BackendStatus s = backend_status(0);
  EXPECT_FALSE(s.health.checked);
  EXPECT_EQ(s.state, BackendState::kUp);
  EXPECT_EQ(backends_[0]->accepted(), 1u);  // only the client's connection
}

TEST_F(HealthCheckTest, APerBackendOverrideAndAReloadAreHonoured) {
  service_.health_check.reset();
  add_backends(2);
  HealthCheckConfig c;
  c.interval_seconds = 0.05;
  c.timeout_seconds = 0.04;
  service_.backends[1].health_check = c;
  start();
  ASSERT_TRUE(wait_until([&] { return checked(1); }));
  EXPECT_FALSE(backend_status(0).health.checked);
  // A reload that adds a service-wide check covers backend 0 too.
  service_.health_check = c;
  ASSERT_TRUE(dp_->reload(config()).ok());
  ASSERT_TRUE(wait_until([&] { return checked(0); }));
  // And one that removes every check leaves them unchecked (and up).
  service_.health_check.reset();
  service_.backends[1].health_check.reset();
  backends_[0]->stop();
  ASSERT_TRUE(dp_->reload(config()).ok());
  ASSERT_TRUE(wait_until([&] { return !backend_status(0).health.checked && !backend_status(1).health.checked; }));
  EXPECT_EQ(backend_status(0).state, BackendState::kUp);
}


// Pen's passive check feeds the same state machine: a client's failed connect
// takes a checked backend down at once, and the active check (not the 30 s
// blacklist) decides when it returns.
TEST_F(HealthCheckTest, AFailedClientConnectTakesACheckedBackendDownUntilItsCheckRises) {
  HealthCheckConfig c = *service_.health_check;
  c.interval_seconds = 0.2;
  c.timeout_seconds = 0.1;
  c.fall = 1000;  // the active check alone would never take it down here
  service_.health_check = c;
  service_.policy.mode = BalanceMode::kRoundRobin;
  add_backends(2);
  start();
  ASSERT_TRUE(wait_until([&] { return checked(0) && checked(1); }));
  backends_[1]->stop();
  std::map<std::string, int> served;
  for (int i = 0; i < 4; ++i) ++served[who(i)];
  EXPECT_EQ(served["b0"], 4);  // failover hid it
  BackendStatus b1 = backend_status(1);
  EXPECT_EQ(b1.state, BackendState::kDown);
  EXPECT_EQ(b1.health.reason, "a client's connect failed");
  EXPECT_EQ(b1.counters.connect_failures, 1u);
  ASSERT_TRUE(wait_until([&] { return health_events().size() >= 1; }));
  auto events = health_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].detail, "up -> down: a client's connect failed");

  ASSERT_TRUE(backends_[1]->start().ok());
  ASSERT_TRUE(wait_until([&] { return backend_status(1).state == BackendState::kUp; }, 3s));
  EXPECT_FALSE(backend_status(1).blacklisted);  // cleared by the check, long before 30 s
  served.clear();
  for (int i = 0; i < 4; ++i) ++served[who(i)];
  EXPECT_EQ(served["b1"], 2);
}

}  // namespace
}  // namespace nib
