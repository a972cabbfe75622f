// Slow start, decided without sockets: explicit times stand in for the clock,
// so the ramp is measured at chosen points of the window, never by waiting.
#include <gtest/gtest.h>

#include "dataplane/balancer/selector.h"

namespace nib {
namespace {

using std::chrono::seconds;

const MonoTime kT0 = MonoTime{} + seconds(1000);
constexpr double kWindow = 10;  // seconds

IpKey client(int n) { return *IpKey::parse("10." + std::to_string(n / 65536 % 256) + "." +
                                           std::to_string(n / 256 % 256) + "." + std::to_string(n % 256)); }

MonoTime at(double s) { return kT0 + seconds_to_duration(s); }

TEST(SlowStartRuleTest, TheShareRampsLinearlyFromASixteenthToAll) {
  const Duration window = seconds_to_duration(kWindow);
  const int64_t began = kT0.time_since_epoch().count();
  auto roll = [](double fraction) { return static_cast<uint32_t>(fraction * 4294967295.0); };
  EXPECT_TRUE(slow_start_admits(0, kT0, window, roll(0.99)));  // never came up: full share
  EXPECT_TRUE(slow_start_admits(began, at(0), window, roll(0.06)));
  EXPECT_FALSE(slow_start_admits(began, at(0), window, roll(0.07)));  // 1/16 = 0.0625
  EXPECT_TRUE(slow_start_admits(began, at(5), window, roll(0.49)));
  EXPECT_FALSE(slow_start_admits(began, at(5), window, roll(0.51)));
  EXPECT_TRUE(slow_start_admits(began, at(9), window, roll(0.89)));
  EXPECT_FALSE(slow_start_admits(began, at(9), window, roll(0.91)));
  EXPECT_TRUE(slow_start_admits(began, at(10), window, roll(1.0)));
  EXPECT_TRUE(slow_start_admits(began, at(3600), window, roll(1.0)));
}

class SlowStartTest : public ::testing::Test {
 protected:
  void configure(int servers, BalanceMode mode, double slow_start = kWindow) {
    config_.name = "s";
    config_.listen = *SocketAddress::parse("127.0.0.1:1");
    config_.policy.mode = mode;
    config_.slow_start_seconds = slow_start;
    for (int i = 0; i < servers; ++i) {
      BackendConfig b;
      b.address = *SocketAddress::parse("127.0.1." + std::to_string(i + 1) + ":80");
      config_.backends.push_back(b);
    }
    registry_.apply(config_);
    snap_ = registry_.snapshot();
  }
  Backend& server(int i) { return *snap_->backends[i]; }
  int serve(int c, MonoTime now) {
    Selection s = Selector::choose(*snap_, table_, cursor_, client(c), now);
    if (s.kind != Selection::Kind::kBackend) return -1;
    Selector::remember(*snap_, table_, s, client(c), now);
    return s.index;
  }
  // The share of `n` new clients (fresh addresses) that server `i` gets at `now`.
  double share_of(int i, MonoTime now, int n = 4000) {
    int hits = 0;
    for (int k = 0; k < n; ++k) hits += serve(next_client_++, now) == i;
    return static_cast<double>(hits) / n;
  }

  ServiceConfig config_;
  BackendRegistry registry_{1};
  std::shared_ptr<const RegistrySnapshot> snap_;
  AffinityTable table_{1 << 16, Duration::zero()};
  std::atomic<uint32_t> cursor_{0};
  int next_client_ = 1;
};

TEST_F(SlowStartTest, ABackendThatCameUpGetsARampingShareOfNewClients) {
  configure(2, BalanceMode::kRoundRobin);
  server(1).begin_slow_start(kT0);
  // Round-robin offers it every other client; it takes a fraction p of those
  // offers, so its share is p / (1 + p): 0.06 at first, 0.5 at the end.
  double previous = 0;
  for (double t : {0.0, 2.5, 5.0, 7.5, 10.0}) {
    double p = std::max(1.0 / 16, t / kWindow);
    double share = share_of(1, at(t));
    EXPECT_NEAR(share, p / (1 + p), 0.04) << "at " << t << " s";
    EXPECT_GT(share, previous) << "at " << t << " s";
    previous = share;
  }
  EXPECT_NEAR(share_of(1, at(60)), 0.5, 0.01);  // done: plain round-robin
}

TEST_F(SlowStartTest, WithoutSlowStartTheBackendTakesItsShareAtOnce) {
  configure(2, BalanceMode::kRoundRobin, /*slow_start=*/0);
  server(1).begin_slow_start(kT0);
  EXPECT_NEAR(share_of(1, at(0)), 0.5, 0.01);
}

TEST_F(SlowStartTest, ReturningClientsAreNotThinnedOut) {
  configure(2, BalanceMode::kAffinity);
  std::vector<int> on_one;
  for (int c = 1; c <= 200; ++c) {
    if (serve(c, at(-100)) == 1) on_one.push_back(c);
  }
  ASSERT_FALSE(on_one.empty());
  server(1).begin_slow_start(kT0);
  for (int c : on_one) EXPECT_EQ(serve(c, at(0)), 1) << "client " << c;
}

TEST_F(SlowStartTest, ARampingBackendStillTakesClientsWhenNoOtherCan) {
  configure(2, BalanceMode::kRoundRobin);
  server(0).set_admin_state(AdminState::kDisabled);
  server(1).begin_slow_start(kT0);
  EXPECT_EQ(share_of(1, at(0), 500), 1.0);
}

TEST_F(SlowStartTest, LeastConnectionsDoesNotFloodANewBackend) {
  // The reason slow start exists: with mode weight an empty new backend would
  // otherwise take every new client until it caught up.
  configure(2, BalanceMode::kWeight);
  for (int k = 0; k < 50; ++k) server(0).connection_opened();
  server(1).begin_slow_start(kT0);
  EXPECT_LT(share_of(1, at(0)), 0.1);
  EXPECT_NEAR(share_of(1, at(5)), 0.5, 0.04);  // half its draws, and then it is the emptiest
  EXPECT_EQ(share_of(1, at(10)), 1.0);
}

TEST_F(SlowStartTest, ComingUpStartsTheRamp) {
  configure(3, BalanceMode::kRoundRobin);
  EXPECT_EQ(server(0).slow_start_began_ns(), 0);  // the backends a service starts with
  server(0).set_checked(true);
  ASSERT_TRUE(server(0).set_health(false, "test"));
  EXPECT_EQ(server(0).slow_start_began_ns(), 0);
  ASSERT_TRUE(server(0).set_health(true, "test"));
  EXPECT_NE(server(0).slow_start_began_ns(), 0);
  server(1).set_admin_state(AdminState::kDisabled);
  EXPECT_EQ(server(1).slow_start_began_ns(), 0);
  server(1).set_admin_state(AdminState::kEnabled);  // back from the operator
  EXPECT_NE(server(1).slow_start_began_ns(), 0);
  BackendConfig added;
  added.address = *SocketAddress::parse("127.0.1.9:80");
  auto b = registry_.add(added);
  ASSERT_TRUE(b.ok());
  EXPECT_NE((*b)->slow_start_began_ns(), 0);
  EXPECT_EQ(server(2).slow_start_began_ns(), 0);
  EXPECT_EQ(registry_.snapshot()->slow_start, seconds_to_duration(kWindow));
}

}  // namespace
}  // namespace nib
