// A backend's drain bookkeeping: whoever sees the last connection go (a closing
// connection or the arming call) finishes the drain, exactly once.
#include "dataplane/registry/backend.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tests/support/manual_clock.h"

namespace nib {
namespace {

BackendConfig config() {
  BackendConfig c;
  c.address = *SocketAddress::parse("127.0.1.1:80");
  return c;
}

TEST(BackendSettingsTest, ItsOwnProxyProtocolWinsOverTheServices) {
  Backend b(1, config(), 1);
  EXPECT_EQ(b.proxy_protocol(), std::nullopt);
  EXPECT_EQ(b.proxy_protocol_or(ProxyProtocol::kV1), ProxyProtocol::kV1);
  BackendConfig own = config();
  own.proxy_protocol = ProxyProtocol::kOff;
  b.apply(own);
  EXPECT_EQ(b.proxy_protocol_or(ProxyProtocol::kV1), ProxyProtocol::kOff);
  EXPECT_EQ(b.config().proxy_protocol, ProxyProtocol::kOff);
  own.proxy_protocol = ProxyProtocol::kV2;
  b.apply(own);
  EXPECT_EQ(b.proxy_protocol_or(ProxyProtocol::kOff), ProxyProtocol::kV2);
}

TEST(BackendDrainTest, ClosingTheLastConnectionFinishesAnArmedDrain) {
  Backend b(1, config(), 1);
  b.connection_opened();
  b.connection_opened();
  b.set_admin_state(AdminState::kDraining);
  EXPECT_FALSE(b.arm_drain());  // connections are open
  EXPECT_FALSE(b.connection_closed());
  EXPECT_TRUE(b.connection_closed());
  b.connection_opened();  // a late connection (chosen before the drain)
  EXPECT_FALSE(b.connection_closed());  // finished once already
}

TEST(BackendDrainTest, AnIdleBackendFinishesWhenArmed) {
  Backend b(1, config(), 1);
  b.set_admin_state(AdminState::kDraining);
  EXPECT_TRUE(b.arm_drain());
}

TEST(BackendDrainTest, NoFinishBeforeArmingOrWhenNotDraining) {
  Backend b(1, config(), 1);
  b.connection_opened();
  EXPECT_FALSE(b.connection_closed());  // enabled: nothing to finish
  b.connection_opened();
  b.set_admin_state(AdminState::kDraining);
  EXPECT_FALSE(b.connection_closed());  // not armed yet: arm_drain() will see it idle
  EXPECT_TRUE(b.arm_drain());
}

TEST(BackendDrainTest, LeavingDrainingCancelsTheFinish) {
  Backend b(1, config(), 1);
  b.connection_opened();
  b.set_admin_state(AdminState::kDraining);
  EXPECT_FALSE(b.arm_drain());
  b.set_admin_state(AdminState::kEnabled);
  EXPECT_FALSE(b.connection_closed());
}

TEST(BackendDrainTest, ExactlyOneFinishUnderRaces) {
  for (int round = 0; round < 200; ++round) {
    Backend b(1, config(), 4);
    constexpr int kConnections = 64;
    for (int i = 0; i < kConnections; ++i) b.connection_opened();
    std::atomic<int> finishes{0};
    std::vector<std::thread> closers;
    for (int t = 0; t < 4; ++t) {
      closers.emplace_back([&] {
        for (int i = 0; i < kConnections / 4; ++i) {
          if (b.connection_closed()) finishes.fetch_add(1);
        }
      });
    }
    b.set_admin_state(AdminState::kDraining);
    if (b.arm_drain()) finishes.fetch_add(1);
    for (auto& t : closers) t.join();
    ASSERT_EQ(finishes.load(), 1) << "round " << round;
    ASSERT_EQ(b.active(), 0);
  }
}

// Slow start is dated by the backend's clock whichever way it comes up.
TEST(BackendSlowStartTest, ComingUpBeginsSlowStartAtTheClocksTime) {
  test::ManualClock clock;
  Backend b(1, config(), 1, clock);
  EXPECT_EQ(b.slow_start_began_ns(), 0) << "a backend the service starts with takes its share at once";
  b.set_admin_state(AdminState::kDisabled);
  clock.advance(std::chrono::seconds(3));
  b.set_admin_state(AdminState::kEnabled);
  EXPECT_EQ(b.slow_start_began_ns(), clock.now().time_since_epoch().count());

  b.set_checked(true);
  b.passive_failure("refused");
  ASSERT_FALSE(b.health_up());
  clock.advance(std::chrono::seconds(5));
  ASSERT_TRUE(b.set_health(true, "2 check(s) passed"));
  EXPECT_EQ(b.slow_start_began_ns(), clock.now().time_since_epoch().count());
}

}  // namespace
}  // namespace nib

namespace nib {
namespace {

// Pen's try_server(): maxc 0 means no limit, whatever hard says; a hard limit
// below maxc is maxc.
TEST(BackendLimitsTest, ThePensRulesForSoftAndHardLimits) {
  const MonoTime now = MonoTime{} + std::chrono::seconds(100);
  auto backend = [](uint32_t soft, uint32_t hard, int active) {
    BackendConfig c = config();
    c.soft_limit = soft;
    c.hard_limit = hard;
    auto b = std::make_unique<Backend>(1, c, 1);
    for (int i = 0; i < active; ++i) b->connection_opened();
    return b;
  };
  EXPECT_TRUE(backend(0, 5, 9)->usable_for_returning(now)) << "maxc 0: hard is ignored";
  EXPECT_TRUE(backend(0, 5, 9)->usable_for_new(now));
  EXPECT_FALSE(backend(3, 0, 3)->usable_for_returning(now)) << "maxc alone caps everyone";
  EXPECT_TRUE(backend(3, 0, 2)->usable_for_returning(now));
  EXPECT_TRUE(backend(3, 5, 4)->usable_for_returning(now));
  EXPECT_FALSE(backend(3, 5, 5)->usable_for_returning(now));
  EXPECT_FALSE(backend(3, 5, 3)->usable_for_new(now));
  EXPECT_TRUE(backend(5, 2, 4)->usable_for_returning(now)) << "a hard limit below maxc is maxc";
  EXPECT_FALSE(backend(5, 2, 5)->usable_for_returning(now));
}

}  // namespace
}  // namespace nib
