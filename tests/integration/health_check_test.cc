// Active health checks through the whole Dataplane: real backends on loopback,
// a real listener, real clients. The checker must take a dead server out of
// rotation before a client pays for it, say so (status, event), and bring it
// back without dragging remembered clients back. Time is a manual clock:
// next_checks() runs one round of checks, so "down after fall checks" and "up
// after rise checks" are exact.
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
    manual_time_ = true;
    service_.policy.connect_timeout_seconds = 2;
    service_.health_check = check_config();
  }
  static HealthCheckConfig check_config() {
    HealthCheckConfig c;
    c.interval_seconds = 2;
    c.timeout_seconds = 1;
    c.rise = 2;
    c.fall = 2;
    return c;
  }
  BackendStatus backend_status(int i) { return dp_->status()[0].backends[i]; }
  uint64_t checks(int i) { return backend_status(i).health.checks; }
  std::vector<DataplaneEvent> health_events() { return events_.of(DataplaneEvent::Kind::kHealthChanged); }

  // One round of checks: the checker has applied the latest targets
  // (advance() returns once its loop caught up), one interval passes, and
  // every checked backend finishes the check that started (these backends
  // answer or refuse at once).
  void next_checks() {
    clock_.advance(Duration::zero());
    const std::vector<BackendStatus> before = all_backends();
    clock_.advance(seconds_to_duration(2));
    for (size_t i = 0; i < before.size(); ++i) {
      if (!before[i].health.checked) continue;
      ASSERT_TRUE(wait_until([&] { return all_backends()[i].health.checks > before[i].health.checks; }))
          << "backend " << before[i].id << ": no check finished";
    }
  }
  // The regular backends, then the emergency server (if any).
  std::vector<BackendStatus> all_backends() {
    ServiceStatus s = dp_->status()[0];
    if (s.emergency) s.backends.push_back(*s.emergency);
    return s.backends;
  }
};

TEST_F(HealthCheckTest, ADownBackendCostsClientsNoFailedConnect) {
  service_.policy.mode = BalanceMode::kRoundRobin;
  add_backends(2);
  start();
  next_checks();
  EXPECT_EQ(backend_status(1).state, BackendState::kUp);

  backends_[1]->stop();
  next_checks();
  EXPECT_EQ(backend_status(1).state, BackendState::kUp) << "down after 1 of 2 failed checks";
  next_checks();
  ASSERT_EQ(backend_status(1).state, BackendState::kDown);
  BackendStatus down = backend_status(1);
  EXPECT_NE(down.health.reason.find("check(s) failed"), std::string::npos) << down.health.reason;
  EXPECT_FALSE(down.health.last_check_ok);
  EXPECT_FALSE(down.blacklisted);  // the checker found it, not a client

  std::map<std::string, int> served;
  for (int i = 0; i < 20; ++i) ++served[who(i)];
  EXPECT_EQ(served["b0"], 20);
  EXPECT_EQ(backend_status(1).counters.connect_failures, 0u) << "a client paid for the dead server";

  // The event is published before the check is recorded.
  auto events = health_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].service, "test");
  EXPECT_EQ(events[0].backend_id, down.id);
  EXPECT_EQ(events[0].detail.rfind("up -> down: ", 0), 0u) << events[0].detail;

  ASSERT_TRUE(backends_[1]->start().ok());
  next_checks();
  EXPECT_EQ(backend_status(1).state, BackendState::kDown) << "up after 1 of 2 passed checks";
  next_checks();
  ASSERT_EQ(backend_status(1).state, BackendState::kUp);
  served.clear();
  for (int i = 0; i < 4; ++i) ++served[who(i)];
  EXPECT_EQ(served["b1"], 2);
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
  next_checks();
  next_checks();
  ASSERT_EQ(backend_status(1).state, BackendState::kDown);
  EXPECT_EQ(who(2), "b0");
  ASSERT_TRUE(backends_[1]->start().ok());
  next_checks();
  next_checks();
  ASSERT_EQ(backend_status(1).state, BackendState::kUp);
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
  next_checks();  // the first check at startup: one failure takes it down
  ASSERT_EQ(backend_status(0).state, BackendState::kDown);
  EXPECT_EQ(who(1), "emergency");
  ASSERT_TRUE(backends_[0]->start().ok());
  next_checks();
  next_checks();
  ASSERT_EQ(backend_status(0).state, BackendState::kUp);
  EXPECT_EQ(who(3), "b0");
}

TEST_F(HealthCheckTest, HttpCheckTakesASickAppOutOfRotation) {
  HealthCheckConfig c = *service_.health_check;
  c.type = HealthCheckType::kHttp;
  service_.health_check = c;
  add_backends(2, BackendMode::kHttp);
  start();
  next_checks();
  backends_[0]->set_mode(BackendMode::kHttpError);
  next_checks();
  next_checks();
  ASSERT_EQ(backend_status(0).state, BackendState::kDown);
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
  HealthCheckConfig c = check_config();
  service_.backends[1].health_check = c;
  start();
  next_checks();
  EXPECT_EQ(checks(1), 1u);
  EXPECT_FALSE(backend_status(0).health.checked);
  // A reload that adds a service-wide check covers backend 0 too.
  service_.health_check = c;
  ASSERT_TRUE(dp_->reload(config()).ok());
  next_checks();
  EXPECT_EQ(checks(0), 1u);
  // And one that removes every check leaves them unchecked (and up).
  service_.health_check.reset();
  service_.backends[1].health_check.reset();
  backends_[0]->stop();
  ASSERT_TRUE(dp_->reload(config()).ok());
  clock_.advance(Duration::zero());  // the checker applied it
  EXPECT_FALSE(backend_status(0).health.checked);
  EXPECT_FALSE(backend_status(1).health.checked);
  EXPECT_EQ(backend_status(0).state, BackendState::kUp);
}


// A backend's own check is the backend's: moved to a new address (penctl
// `server N address`, REST PATCH address), it is checked there with it.
TEST_F(HealthCheckTest, APerBackendCheckMovesWithItsBackend) {
  service_.health_check.reset();
  add_backends(2);
  service_.backends[1].health_check = check_config();
  start();
  next_checks();
  ASSERT_EQ(checks(1), 1u);
  test::TestBackend& moved = spare();
  const uint64_t probes_before = moved.accepted();
  BackendPatch patch;
  patch.address = moved.address();
  patch.host = "127.0.0.1";
  ASSERT_TRUE(dp_->update_backend("test", backend_status(1).id, patch).ok());
  next_checks();
  EXPECT_TRUE(backend_status(1).health.checked) << "the check moved with it";
  EXPECT_TRUE(wait_until([&] { return moved.accepted() > probes_before; })) << "probed at its new address";
  EXPECT_FALSE(backend_status(0).health.checked);
}

// Pen's passive check feeds the same state machine: a client's failed connect
// takes a checked backend down at once, and the active check (not the 30 s
// blacklist) decides when it returns.
TEST_F(HealthCheckTest, AFailedClientConnectTakesACheckedBackendDownUntilItsCheckRises) {
  HealthCheckConfig c = *service_.health_check;
  c.fall = 1000;  // the active check alone would never take it down here
  service_.health_check = c;
  service_.policy.mode = BalanceMode::kRoundRobin;
  add_backends(2);
  start();
  next_checks();
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
  next_checks();
  next_checks();  // rise 2
  ASSERT_EQ(backend_status(1).state, BackendState::kUp);
  EXPECT_FALSE(backend_status(1).blacklisted);  // cleared by the check, long before 30 s
  served.clear();
  for (int i = 0; i < 4; ++i) ++served[who(i)];
  EXPECT_EQ(served["b1"], 2);
}

}  // namespace
}  // namespace nib
