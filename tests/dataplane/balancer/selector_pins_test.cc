// Pins and drains in Pen's selection rules, without sockets: a pinned client
// goes to its pinned server ahead of the table; an unusable pinned server is a
// remembered server that is down; a draining server sends its clients on.
#include <gtest/gtest.h>

#include "dataplane/balancer/selector.h"

namespace nib {
namespace {

using std::chrono::seconds;

const MonoTime kT0 = MonoTime{} + seconds(1000);

IpKey client(int n) { return *IpKey::parse("127.0.0." + std::to_string(n)); }
IpPrefix prefix(const std::string& text) { return *IpPrefix::parse(text); }

class SelectorPinsTest : public ::testing::Test {
 protected:
  void configure(int servers, BalanceMode mode = BalanceMode::kAffinity, bool stubborn = false) {
    config_.name = "s";
    config_.listen = *SocketAddress::parse("127.0.0.1:1");
    config_.policy.mode = mode;
    config_.policy.stubborn = stubborn;
    config_.policy.table_size = 1;  // one remembered client: every new one evicts the last
    for (int i = 0; i < servers; ++i) {
      BackendConfig b;
      b.address = *SocketAddress::parse("127.0.1." + std::to_string(i + 1) + ":80");
      config_.backends.push_back(b);
    }
    registry_.apply(config_);
    cursor_ = static_cast<uint32_t>(servers - 1);
  }
  std::shared_ptr<const RegistrySnapshot> snap() const { return registry_.snapshot(); }
  uint32_t id(int index) const { return snap()->backends[index]->id(); }
  Backend& server(int index) { return *snap()->backends[index]; }
  void pin(const std::string& p, int index) { ASSERT_TRUE(registry_.pin(prefix(p), id(index)).ok()); }
  Selection choose(int c) { return Selector::choose(*snap(), table_, cursor_, client(c), kT0); }
  int serve(int c) {
    auto s = snap();
    Selection sel = Selector::choose(*s, table_, cursor_, client(c), kT0);
    if (sel.kind == Selection::Kind::kBackend) Selector::remember(*s, table_, sel, client(c), kT0);
    return sel.kind == Selection::Kind::kBackend ? sel.index : -1;
  }

  ServiceConfig config_;
  BackendRegistry registry_{1};
  AffinityTable table_{1, Duration::zero()};
  std::atomic<uint32_t> cursor_{0};
};

TEST_F(SelectorPinsTest, APinnedClientGoesToItsServerAndStaysOutOfTheTable) {
  configure(3);
  pin("127.0.0.9", 2);
  for (int i = 0; i < 3; ++i) {
    Selection s = choose(9);
    EXPECT_EQ(s.index, 2);
    EXPECT_TRUE(s.pinned);
    EXPECT_TRUE(s.returning);
    Selector::remember(*snap(), table_, s, client(9), kT0);
  }
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(SelectorPinsTest, APinOutlivesEviction) {
  configure(3);
  pin("127.0.0.0/29", 1);  // clients .0-.7
  EXPECT_EQ(serve(2), 1);
  EXPECT_EQ(serve(20), 0);  // unpinned: round-robin from the start, and fills the one slot
  EXPECT_EQ(serve(21), 1);  // evicts 20
  EXPECT_EQ(table_.stats().evictions, 1u);
  EXPECT_EQ(serve(2), 1);
  EXPECT_EQ(serve(5), 1);
}

TEST_F(SelectorPinsTest, PinsWinOverTheTable) {
  configure(2);
  EXPECT_EQ(serve(3), 0);
  pin("127.0.0.3", 1);
  EXPECT_EQ(serve(3), 1);
}

TEST_F(SelectorPinsTest, LongestPrefixWins) {
  configure(3);
  pin("127.0.0.0/24", 0);
  pin("127.0.0.8/29", 2);
  EXPECT_EQ(serve(9), 2);
  EXPECT_EQ(serve(7), 0);
}

TEST_F(SelectorPinsTest, PinsApplyInRoundRobinMode) {
  configure(3, BalanceMode::kRoundRobin);
  pin("127.0.0.4", 2);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(serve(4), 2);
}

TEST_F(SelectorPinsTest, AnUnusablePinnedServerMeansANormalChoice) {
  configure(3);
  pin("127.0.0.4", 1);
  server(1).set_admin_state(AdminState::kDisabled);
  Selection s = choose(4);
  EXPECT_EQ(s.kind, Selection::Kind::kBackend);
  EXPECT_NE(s.index, 1);
  EXPECT_TRUE(s.affinity_break);
  EXPECT_FALSE(s.returning);
}

TEST_F(SelectorPinsTest, StubbornClosesAPinnedClientWhoseServerIsDown) {
  configure(2, BalanceMode::kAffinity, /*stubborn=*/true);
  pin("127.0.0.4", 1);
  server(1).blacklist_until(kT0 + seconds(30));
  Selection s = choose(4);
  EXPECT_EQ(s.kind, Selection::Kind::kReject);
  EXPECT_EQ(s.reason, Selection::Reject::kStubborn);
}

TEST_F(SelectorPinsTest, PinnedClientsRespectTheHardLimit) {
  configure(2);
  BackendPatch limits;
  limits.soft_limit = 1;
  limits.hard_limit = 2;
  ASSERT_TRUE(registry_.update(id(1), limits).ok());
  pin("127.0.0.4", 1);
  server(1).connection_opened();
  EXPECT_EQ(choose(4).index, 1);  // a returning client may go up to the hard limit
  server(1).connection_opened();
  EXPECT_EQ(choose(4).index, 0);
}

TEST_F(SelectorPinsTest, ADrainingServerSendsItsClientsOnEvenWhenStubborn) {
  configure(2, BalanceMode::kAffinity, /*stubborn=*/true);
  EXPECT_EQ(serve(3), 0);
  server(0).set_admin_state(AdminState::kDraining);
  Selection s = choose(3);
  EXPECT_EQ(s.kind, Selection::Kind::kBackend);
  EXPECT_EQ(s.index, 1);
  EXPECT_TRUE(s.affinity_break);
  Selector::remember(*snap(), table_, s, client(3), kT0);
  EXPECT_EQ(serve(3), 1);  // remembered on its new server
}

TEST_F(SelectorPinsTest, ADisabledServerStillClosesStubbornClients) {
  configure(2, BalanceMode::kAffinity, /*stubborn=*/true);
  EXPECT_EQ(serve(3), 0);
  server(0).set_admin_state(AdminState::kDisabled);
  EXPECT_EQ(choose(3).reason, Selection::Reject::kStubborn);
}

TEST_F(SelectorPinsTest, ARemovedServerLeavesWithItsPins) {
  configure(2);
  pin("127.0.0.4", 1);
  ASSERT_TRUE(registry_.remove(id(1)).ok());
  Selection s = choose(4);
  EXPECT_EQ(s.index, 0);
  EXPECT_FALSE(s.pinned);
  EXPECT_FALSE(snap()->pins);
}

}  // namespace
}  // namespace nib
