// Pen's selection rules, decided without sockets: a registry snapshot, a client
// table and explicit times.
#include "dataplane/balancer/selector.h"

#include <gtest/gtest.h>

#include <map>

namespace nib {
namespace {

using std::chrono::seconds;

const MonoTime kT0 = MonoTime{} + seconds(1000);

IpKey client(int n) { return *IpKey::parse("127.0.0." + std::to_string(n)); }

class SelectorTest : public ::testing::Test {
 protected:
  // Servers 127.0.1.1:80, 127.0.1.2:80, ... (never connected to here).
  void configure(int servers, BalanceMode mode = BalanceMode::kAffinity, bool stubborn = false,
                 bool emergency = false) {
    config_ = ServiceConfig{};
    config_.name = "s";
    config_.listen = *SocketAddress::parse("127.0.0.1:1");
    config_.policy.mode = mode;
    config_.policy.stubborn = stubborn;
    for (int i = 0; i < servers; ++i) {
      BackendConfig b;
      b.address = *SocketAddress::parse("127.0.1." + std::to_string(i + 1) + ":80");
      config_.backends.push_back(b);
    }
    if (emergency) {
      BackendConfig e;
      e.address = *SocketAddress::parse("127.0.2.1:80");
      config_.emergency = e;
    }
    apply();
    cursor_ = static_cast<uint32_t>(servers - 1);
  }
  void apply() {
    registry_.apply(config_);
    snap_ = registry_.snapshot();
  }
  Backend& server(int i) { return *snap_->backends[i]; }
  Selection choose(int c, MonoTime now = kT0) { return Selector::choose(*snap_, table_, cursor_, client(c), now); }
  // choose + remember, as a connection that succeeded does.
  int serve(int c, MonoTime now = kT0) {
    Selection s = choose(c, now);
    if (s.kind == Selection::Kind::kBackend) Selector::remember(*snap_, table_, s, client(c), now);
    return s.kind == Selection::Kind::kBackend ? s.index : -1;
  }
  void occupy(int i, int connections) {
    for (int k = 0; k < connections; ++k) server(i).connection_opened();
  }

  ServiceConfig config_;
  BackendRegistry registry_{1};
  std::shared_ptr<const RegistrySnapshot> snap_;
  AffinityTable table_{2048, Duration::zero()};
  std::atomic<uint32_t> cursor_{0};
};

TEST_F(SelectorTest, TrackingSendsAClientBackToItsServer) {
  configure(3);
  EXPECT_EQ(serve(2), 0);
  EXPECT_EQ(serve(3), 1);  // a second client goes to the next server
  EXPECT_EQ(serve(2), 0);
  EXPECT_EQ(serve(3), 1);
  EXPECT_EQ(serve(4), 2);
  Selection again = choose(2);
  EXPECT_TRUE(again.returning);
}

TEST_F(SelectorTest, RoundRobinModeIgnoresTheTable) {
  configure(2, BalanceMode::kRoundRobin);
  EXPECT_EQ(serve(2), 0);
  EXPECT_EQ(serve(2), 1);
  EXPECT_EQ(serve(2), 0);
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(SelectorTest, BlacklistedServerIsSkippedUntilItExpires) {
  configure(2);
  server(0).blacklist_until(kT0 + seconds(30));
  EXPECT_EQ(serve(2), 1);
  EXPECT_EQ(serve(3), 1);
  EXPECT_EQ(serve(4, kT0 + seconds(31)), 0);
}

TEST_F(SelectorTest, ReturningClientWhoseServerIsDownMovesAndIsRemembered) {
  configure(2);
  EXPECT_EQ(serve(2), 0);
  server(0).blacklist_until(kT0 + seconds(30));
  Selection s = choose(2);
  EXPECT_TRUE(s.affinity_break);
  EXPECT_FALSE(s.returning);
  EXPECT_EQ(serve(2), 1);
  // Once back, the server does not take its old client back: no flapping.
  EXPECT_EQ(serve(2, kT0 + seconds(60)), 1);
}

TEST_F(SelectorTest, StubbornClosesWhenTheRememberedServerIsDown) {
  configure(2, BalanceMode::kAffinity, /*stubborn=*/true);
  EXPECT_EQ(serve(2), 0);
  server(0).blacklist_until(kT0 + seconds(30));
  Selection s = choose(2);
  EXPECT_EQ(s.kind, Selection::Kind::kReject);
  EXPECT_EQ(s.reason, Selection::Reject::kStubborn);
}

TEST_F(SelectorTest, FailoverScansFromTheServerAfterTheFailedOne) {
  configure(4);
  Selection s = choose(2);
  ASSERT_EQ(s.index, 0);
  server(0).blacklist_until(kT0 + seconds(30));
  server(1).blacklist_until(kT0 + seconds(30));
  Selection next = Selector::after_failure(*snap_, s, client(2), kT0);
  EXPECT_EQ(next.kind, Selection::Kind::kBackend);
  EXPECT_EQ(next.index, 2);
  EXPECT_EQ(next.attempts, 2);
}

TEST_F(SelectorTest, FailoverWrapsAroundOnce) {
  configure(3);
  cursor_ = 1;  // next initial choice is server 2
  Selection s = choose(2);
  ASSERT_EQ(s.index, 2);
  server(2).blacklist_until(kT0 + seconds(30));
  EXPECT_EQ(Selector::after_failure(*snap_, s, client(2), kT0).index, 0);
}

TEST_F(SelectorTest, FailoverTriesEachServerOnceEvenWithoutBlacklisting) {
  configure(3);
  Selection s = choose(2);
  int tried = 1;
  while (true) {
    s = Selector::after_failure(*snap_, s, client(2), kT0);  // nothing blacklisted
    if (s.kind != Selection::Kind::kBackend) break;
    ++tried;
    ASSERT_LE(tried, 3);
  }
  EXPECT_EQ(tried, 3);
  EXPECT_EQ(s.kind, Selection::Kind::kReject);
}

TEST_F(SelectorTest, StubbornDoesNotFailOver) {
  configure(3, BalanceMode::kAffinity, /*stubborn=*/true);
  Selection s = choose(2);
  server(s.index).blacklist_until(kT0 + seconds(30));
  Selection next = Selector::after_failure(*snap_, s, client(2), kT0);
  EXPECT_EQ(next.kind, Selection::Kind::kReject);
  EXPECT_EQ(next.reason, Selection::Reject::kStubborn);
}

TEST_F(SelectorTest, EmergencyServerOnlyWhenNoRegularServerIsUsable) {
  configure(2, BalanceMode::kAffinity, false, /*emergency=*/true);
  EXPECT_EQ(choose(2).kind, Selection::Kind::kBackend);
  server(0).blacklist_until(kT0 + seconds(30));
  EXPECT_EQ(choose(3).kind, Selection::Kind::kBackend);
  server(1).blacklist_until(kT0 + seconds(30));
  Selection s = choose(4);
  EXPECT_EQ(s.kind, Selection::Kind::kEmergency);
  // A client served by the emergency server is not remembered there.
  Selector::remember(*snap_, table_, s, client(4), kT0);
  EXPECT_FALSE(table_.lookup(client(4), kT0).has_value());
}

TEST_F(SelectorTest, FailoverEndsAtTheEmergencyServer) {
  configure(2, BalanceMode::kAffinity, false, /*emergency=*/true);
  Selection s = choose(2);
  server(0).blacklist_until(kT0 + seconds(30));
  s = Selector::after_failure(*snap_, s, client(2), kT0);
  ASSERT_EQ(s.index, 1);
  server(1).blacklist_until(kT0 + seconds(30));
  s = Selector::after_failure(*snap_, s, client(2), kT0);
  EXPECT_EQ(s.kind, Selection::Kind::kEmergency);
  EXPECT_EQ(Selector::after_failure(*snap_, s, client(2), kT0).kind, Selection::Kind::kReject);
}

TEST_F(SelectorTest, NoServerAndNoEmergencyRejects) {
  configure(1);
  server(0).blacklist_until(kT0 + seconds(30));
  Selection s = choose(2);
  EXPECT_EQ(s.kind, Selection::Kind::kReject);
  EXPECT_EQ(s.reason, Selection::Reject::kNoBackend);
}

TEST_F(SelectorTest, SoftLimitStopsNewClientsHardLimitStopsReturningOnes) {
  configure(2);
  config_.backends[0].soft_limit = 1;
  config_.backends[0].hard_limit = 2;
  apply();
  EXPECT_EQ(serve(2), 0);  // client 2 remembered on server 0
  occupy(0, 1);            // server 0 at its soft limit
  EXPECT_EQ(serve(3), 1);  // a new client may not go there
  EXPECT_EQ(serve(2), 0);  // a returning one may, under the hard limit
  occupy(0, 1);            // now at the hard limit
  Selection s = choose(2);
  EXPECT_TRUE(s.affinity_break);
  EXPECT_EQ(s.index, 1);
}

TEST_F(SelectorTest, SoftLimitAloneCapsEveryone) {
  configure(2);
  config_.backends[0].soft_limit = 1;  // pen's h:p:1
  apply();
  EXPECT_EQ(serve(2), 0);
  occupy(0, 1);
  EXPECT_EQ(choose(2).index, 1);
}

TEST_F(SelectorTest, WeightModeFollowsActiveConnectionsPerWeight) {
  configure(2, BalanceMode::kWeight);
  config_.backends[0].weight = 3;
  config_.backends[1].weight = 1;
  apply();
  std::map<int, int> picks;
  for (int i = 0; i < 40; ++i) {
    Selection s = choose(10 + i);
    ASSERT_EQ(s.kind, Selection::Kind::kBackend);
    ++picks[s.index];
    occupy(s.index, 1);  // connections stay open
  }
  EXPECT_EQ(picks[0], 30);
  EXPECT_EQ(picks[1], 10);
}

TEST_F(SelectorTest, WeightModeTiesGoToTheServerListedFirst) {
  configure(3, BalanceMode::kWeight);
  EXPECT_EQ(choose(2).index, 0);
  EXPECT_EQ(choose(3).index, 0);  // nothing opened: still tied, still first
}

TEST_F(SelectorTest, WeightZeroTakesNoNewClients) {
  configure(2, BalanceMode::kWeight);
  config_.backends[0].weight = 0;
  apply();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(choose(10 + i).index, 1);
}

TEST_F(SelectorTest, PrioModePrefersTheLowestPrioWhileItIsUsable) {
  configure(3, BalanceMode::kPrio);
  config_.backends[0].prio = 5;
  config_.backends[1].prio = 1;
  config_.backends[2].prio = 1;
  config_.backends[1].soft_limit = 2;
  apply();
  EXPECT_EQ(choose(2).index, 1);
  occupy(1, 2);
  EXPECT_EQ(choose(3).index, 2);  // same prio, next listed
  server(2).blacklist_until(kT0 + seconds(30));
  EXPECT_EQ(choose(4).index, 0);  // only the worse tier is left
}

TEST_F(SelectorTest, HashModeIsStableAndSpreadsLoopbackAddresses) {
  configure(4, BalanceMode::kHash);
  std::map<int, int> counts;
  for (int i = 2; i < 202; ++i) {
    Selection s = choose(i);
    ++counts[s.index];
    // Same client, a fresh table and cursor (another nib, or after a restart): same server.
    AffinityTable other(16, Duration::zero());
    std::atomic<uint32_t> cursor{0};
    EXPECT_EQ(Selector::choose(*snap_, other, cursor, client(i), kT0).index, s.index);
  }
  ASSERT_EQ(counts.size(), 4u);  // unlike Pen's address modulo count
  for (auto [server, n] : counts) EXPECT_GT(n, 25) << "server " << server;
}

TEST_F(SelectorTest, HashModeMovesOnWhenTheHashedServerIsDown) {
  configure(3, BalanceMode::kHash);
  int first = choose(2).index;
  server(first).blacklist_until(kT0 + seconds(30));
  EXPECT_EQ(choose(2).index, (first + 1) % 3);
}

TEST_F(SelectorTest, DrainingAndDisabledServersTakeNoClients) {
  configure(2);
  EXPECT_EQ(serve(2), 0);
  server(0).set_admin_state(AdminState::kDraining);
  EXPECT_EQ(choose(2).index, 1);  // its remembered clients move on
  EXPECT_EQ(choose(3).index, 1);
  server(0).set_admin_state(AdminState::kDisabled);
  EXPECT_EQ(choose(4).index, 1);
}

TEST_F(SelectorTest, RemovedServerClientsChooseAfresh) {
  configure(2);
  EXPECT_EQ(serve(2), 0);
  config_.backends.erase(config_.backends.begin());
  apply();
  Selection s = choose(2);
  EXPECT_EQ(s.kind, Selection::Kind::kBackend);
  EXPECT_FALSE(s.returning);
  EXPECT_FALSE(s.affinity_break);
}

// Pen's -B: the abuse server, for clients the ACL denied (the relay decides
// who is denied; the selector only where they go).
class AbuseSelectorTest : public SelectorTest {
 protected:
  void configure_abuse(const char* address) {
    configure(2);
    BackendConfig a;
    a.address = *SocketAddress::parse(address);
    config_.abuse = a;
    apply();
  }
};

TEST_F(AbuseSelectorTest, WithoutOneADeniedClientHasNoServer) {
  configure(2);
  Selection s = Selector::abuse(*snap_, kT0);
  EXPECT_EQ(s.kind, Selection::Kind::kReject);
  EXPECT_EQ(s.reason, Selection::Reject::kDenied);
  EXPECT_EQ(Selector::describe(*snap_, s), "no server (denied by the acl)");
}

TEST_F(AbuseSelectorTest, ADeniedClientGoesThereAndIsNotRemembered) {
  configure_abuse("127.0.3.1:80");
  Selection s = Selector::abuse(*snap_, kT0);
  ASSERT_EQ(s.kind, Selection::Kind::kAbuse);
  EXPECT_EQ(s.backend(*snap_), snap_->abuse.get());
  EXPECT_EQ(Selector::describe(*snap_, s), "the abuse server 127.0.3.1:80");
  Selector::remember(*snap_, table_, s, client(2), kT0);
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(AbuseSelectorTest, NoFailoverFromTheAbuseServer) {
  configure_abuse("127.0.3.1:80");
  Selection failed = Selector::abuse(*snap_, kT0);
  snap_->abuse->blacklist_until(kT0 + seconds(30));
  Selection next = Selector::after_failure(*snap_, failed, client(2), kT0);
  EXPECT_EQ(next.kind, Selection::Kind::kReject);
  EXPECT_EQ(next.reason, Selection::Reject::kDenied);
  // Blacklisted, as Pen's try_server: the next denied client is closed too.
  EXPECT_EQ(Selector::abuse(*snap_, kT0).kind, Selection::Kind::kReject);
  EXPECT_EQ(Selector::abuse(*snap_, kT0 + seconds(31)).kind, Selection::Kind::kAbuse);
}

TEST_F(AbuseSelectorTest, ItIsABackendOfItsOwnEvenAtARegularBackendsAddress) {
  configure_abuse("127.0.1.1:80");  // server 0's address
  ASSERT_NE(snap_->abuse, nullptr);
  EXPECT_NE(snap_->abuse.get(), snap_->backends[0].get());
  EXPECT_LT(snap_->index_of(snap_->abuse->id()), 0) << "not one of the regular servers";
  // A reload at the same address keeps it (and its counters).
  const Backend* before = snap_->abuse.get();
  apply();
  EXPECT_EQ(snap_->abuse.get(), before);
}

// Pen's `server N acl A`: a server its ACL does not permit is not usable for
// the client, whether new, returning or failing over.
TEST_F(SelectorTest, AServersAclKeepsOtherClientsAway) {
  configure(3);
  ASSERT_TRUE(registry_.set_server_acl(server(0).id(), AccessList({*parse_access_entry("permit 127.0.0.2")})).ok());
  ASSERT_TRUE(registry_.set_server_acl(server(1).id(), AccessList({*parse_access_entry("deny 127.0.0.3")})).ok());
  snap_ = registry_.snapshot();
  for (int round = 0; round < 6; ++round) {
    for (int c : {3, 4, 5}) {
      Selection s = choose(c);
      ASSERT_EQ(s.kind, Selection::Kind::kBackend);
      EXPECT_NE(s.index, 0) << "client " << c << " is not on server 0's list";
      if (c == 3) {
        EXPECT_EQ(s.index, 2) << "server 1 denies client 3";
      }
    }
  }
  // Remembered on server 0 before the list: a returning client the list denies chooses afresh.
  table_.record(client(4), server(0).id(), kT0);
  EXPECT_NE(choose(4).index, 0);
  // Failover from server 2 skips server 0 for client 3 and server 1 denies it: none left.
  Selection on2;
  on2.kind = Selection::Kind::kBackend;
  on2.index = 2;
  on2.attempts = 1;
  EXPECT_EQ(Selector::after_failure(*snap_, on2, client(3), kT0).kind, Selection::Kind::kReject);
  EXPECT_EQ(Selector::after_failure(*snap_, on2, client(2), kT0).index, 0);
  // An empty list lifts it; a server that leaves takes its list with it.
  ASSERT_TRUE(registry_.set_server_acl(server(0).id(), AccessList()).ok());
  ASSERT_TRUE(registry_.remove(server(1).id()).ok());
  snap_ = registry_.snapshot();
  EXPECT_EQ(snap_->server_acls, nullptr);
  EXPECT_EQ(registry_.set_server_acl(999, AccessList()).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace nib
