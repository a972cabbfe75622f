// Maglev in the selector and the registry: mode maglev and affinity with
// consistent place new clients by the snapshot's table, two registries listing
// the same backends in different orders agree, and unusable backends are
// stepped over the same way everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "dataplane/balancer/selector.h"

namespace nib {
namespace {

using std::chrono::seconds;

const MonoTime kT0 = MonoTime{} + seconds(1000);

IpKey client(int n) { return *IpKey::parse("127.0." + std::to_string(n / 250) + "." + std::to_string(n % 250 + 1)); }

ServiceConfig service(int servers, BalanceMode mode, bool consistent = false, bool reversed = false) {
  ServiceConfig c;
  c.name = "s";
  c.listen = *SocketAddress::parse("127.0.0.1:1");
  c.policy.mode = mode;
  c.policy.consistent = consistent;
  for (int i = 0; i < servers; ++i) {
    BackendConfig b;
    b.address = *SocketAddress::parse("127.0.1." + std::to_string(i + 1) + ":80");
    c.backends.push_back(b);
  }
  if (reversed) std::reverse(c.backends.begin(), c.backends.end());
  return c;
}

struct Replica {
  explicit Replica(const ServiceConfig& c) {
    (void)registry.apply(c);  // the diff is for reload events
    snap = registry.snapshot();
  }
  Selection choose(int c) { return Selector::choose(*snap, table, cursor, client(c), kT0); }
  std::string address_for(int c) {
    Selection s = choose(c);
    return s.kind == Selection::Kind::kBackend ? snap->backends[s.index]->address().to_string() : "";
  }
  Backend& at(const std::string& address) {
    for (const auto& b : snap->backends) {
      if (b->address().to_string() == address) return *b;
    }
    ADD_FAILURE() << address;
    return *snap->backends[0];
  }
  void refresh() { snap = registry.snapshot(); }

  BackendRegistry registry{1};
  std::shared_ptr<const RegistrySnapshot> snap;
  AffinityTable table{2048, Duration::zero()};
  std::atomic<uint32_t> cursor{0};
};

TEST(SelectorMaglevTest, ModeMaglevPicksTheTablesBackend) {
  Replica r(service(5, BalanceMode::kMaglev));
  ASSERT_NE(r.snap->maglev, nullptr);
  for (int c = 0; c < 200; ++c) {
    Selection s = r.choose(c);
    ASSERT_EQ(s.kind, Selection::Kind::kBackend);
    EXPECT_EQ(s.index, r.snap->maglev->lookup(MaglevTable::client_hash(client(c))));
  }
}

TEST(SelectorMaglevTest, OnlyMaglevPoliciesGetATable) {
  EXPECT_EQ(Replica(service(3, BalanceMode::kAffinity)).snap->maglev, nullptr);
  EXPECT_EQ(Replica(service(3, BalanceMode::kHash, true)).snap->maglev, nullptr);  // consistent: affinity only
  EXPECT_NE(Replica(service(3, BalanceMode::kAffinity, true)).snap->maglev, nullptr);
  EXPECT_NE(Replica(service(3, BalanceMode::kMaglev)).snap->maglev, nullptr);
}

TEST(SelectorMaglevTest, ReplicasListingBackendsInAnotherOrderAgree) {
  Replica a(service(7, BalanceMode::kMaglev));
  Replica b(service(7, BalanceMode::kMaglev, false, true));
  for (int c = 0; c < 500; ++c) EXPECT_EQ(a.address_for(c), b.address_for(c)) << c;
}

TEST(SelectorMaglevTest, AnUnusableBackendIsSteppedOverAlikeOnEveryReplica) {
  Replica a(service(7, BalanceMode::kMaglev));
  Replica b(service(7, BalanceMode::kMaglev, false, true));
  const std::string down = "127.0.1.3:80";
  a.at(down).blacklist_until(kT0 + seconds(30));
  EXPECT_TRUE(b.at(down).set_health(false, "test"));
  int moved = 0;
  for (int c = 0; c < 500; ++c) {
    const std::string got = a.address_for(c);
    EXPECT_NE(got, down);
    EXPECT_EQ(got, b.address_for(c)) << c;
    const int home = a.snap->maglev->lookup(MaglevTable::client_hash(client(c)));
    if (a.snap->backends[home]->address().to_string() == down) {
      ++moved;
    } else {
      EXPECT_EQ(got, a.snap->backends[home]->address().to_string()) << "only the down backend's clients move";
    }
  }
  EXPECT_GT(moved, 0);
}

TEST(SelectorMaglevTest, FailoverWalksTheTableAsAFreshPickWould) {
  Replica a(service(6, BalanceMode::kMaglev));
  Replica b(service(6, BalanceMode::kMaglev, false, true));
  for (int c = 0; c < 100; ++c) {
    Selection first = a.choose(c);
    ASSERT_EQ(first.kind, Selection::Kind::kBackend);
    const std::string failed = a.snap->backends[first.index]->address().to_string();
    Selection next = Selector::after_failure(*a.snap, first, client(c), kT0);  // not blacklisted: excluded anyway
    ASSERT_EQ(next.kind, Selection::Kind::kBackend);
    EXPECT_EQ(next.attempts, 2);
    const std::string next_address = a.snap->backends[next.index]->address().to_string();
    EXPECT_NE(next_address, failed);
    // Replica b, which already saw it fail, picks the same one afresh.
    b.at(failed).blacklist_until(kT0 + seconds(30));
    EXPECT_EQ(b.address_for(c), next_address) << c;
    b.at(failed).blacklist_until(kT0);  // over
  }
}

TEST(SelectorMaglevTest, ConsistentAffinityRemembersTheClient) {
  Replica r(service(5, BalanceMode::kAffinity, true));
  for (int c = 0; c < 50; ++c) {
    Selection s = r.choose(c);
    ASSERT_EQ(s.kind, Selection::Kind::kBackend);
    EXPECT_FALSE(s.returning);
    EXPECT_EQ(s.index, r.snap->maglev->lookup(MaglevTable::client_hash(client(c))));
    Selector::remember(*r.snap, r.table, s, client(c), kT0);
    EXPECT_EQ(r.table.lookup(client(c), kT0), r.snap->backends[s.index]->id());
  }
  // A new backend reshuffles some first choices, but remembered clients go back.
  ServiceConfig more = service(6, BalanceMode::kAffinity, true);
  (void)r.registry.apply(more);
  Replica fresh(more);
  r.refresh();
  int changed = 0;
  for (int c = 0; c < 50; ++c) {
    Selection s = r.choose(c);
    EXPECT_TRUE(s.returning);
    if (fresh.choose(c).index != s.index) ++changed;
  }
  EXPECT_GT(changed, 0);
}

TEST(SelectorMaglevTest, WeightZeroAndDisabledBackendsOwnNoSlotsButDrainingAndDownDo) {
  ServiceConfig c = service(4, BalanceMode::kMaglev);
  c.backends[1].weight = 0;
  Replica r(c);
  const uint32_t disabled = r.snap->backends[2]->id();
  const uint32_t draining = r.snap->backends[3]->id();
  ASSERT_TRUE(r.registry.set_admin_state(disabled, AdminState::kDisabled).ok());
  ASSERT_TRUE(r.registry.set_admin_state(draining, AdminState::kDraining).ok());
  EXPECT_TRUE(r.snap->backends[0]->set_health(false, "test"));
  r.refresh();
  std::vector<int> owners;
  for (const auto& m : r.snap->maglev->members()) owners.push_back(m.index);
  std::sort(owners.begin(), owners.end());
  EXPECT_EQ(owners, (std::vector<int>{0, 3}));
  // Neither is usable for a new client: no backend.
  EXPECT_EQ(r.choose(1).kind, Selection::Kind::kReject);
}

TEST(SelectorMaglevTest, ATableIsReusedWhenItsMembersDidNotChange) {
  Replica r(service(4, BalanceMode::kMaglev));
  auto before = r.snap->maglev;
  ASSERT_TRUE(r.registry.pin(*IpPrefix::parse("10.0.0.0/8"), r.snap->backends[0]->id()).ok());
  r.refresh();
  EXPECT_EQ(r.snap->maglev, before);
  BackendPatch heavier;
  heavier.weight = 3;
  ASSERT_TRUE(r.registry.update(r.snap->backends[0]->id(), heavier).ok());
  r.refresh();
  EXPECT_NE(r.snap->maglev, before);
}

TEST(SelectorMaglevTest, SetPolicyBuildsAndDropsTheTable) {
  Replica r(service(3, BalanceMode::kAffinity));
  EXPECT_EQ(r.snap->maglev, nullptr);
  PolicyConfig p = r.snap->policy;
  p.consistent = true;
  ASSERT_TRUE(r.registry.set_policy(p).ok());
  r.refresh();
  EXPECT_NE(r.snap->maglev, nullptr);
  p.mode = BalanceMode::kRoundRobin;
  ASSERT_TRUE(r.registry.set_policy(p).ok());
  r.refresh();
  EXPECT_EQ(r.snap->maglev, nullptr);
}

}  // namespace
}  // namespace nib
