// The registry's runtime changes: validation first (an error changes nothing),
// a new snapshot per change, and reloads that keep what they match.
#include "dataplane/registry/backend_registry.h"

#include <gtest/gtest.h>

#include <thread>

namespace nib {
namespace {

BackendConfig backend(int n, uint32_t weight = 1) {
  BackendConfig b;
  b.address = *SocketAddress::parse("127.0.1." + std::to_string(n) + ":80");
  b.weight = weight;
  return b;
}

IpPrefix prefix(const char* text) { return *IpPrefix::parse(text); }

// One field of a patch set (designated initializers would warn about the rest).
BackendPatch patch(std::optional<uint32_t> BackendPatch::*field, uint32_t value) {
  BackendPatch p;
  p.*field = value;
  return p;
}

class BackendRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.name = "s";
    config_.listen = *SocketAddress::parse("127.0.0.1:1");
    config_.backends = {backend(1), backend(2)};
    registry_.apply(config_);
  }
  std::shared_ptr<const RegistrySnapshot> snap() const { return registry_.snapshot(); }
  uint32_t id(int index) const { return snap()->backends[index]->id(); }
  // Everything a failed call must leave alone.
  struct Fingerprint {
    uint64_t generation;
    size_t backends;
    PolicyConfig policy;
    size_t pins;
    bool operator==(const Fingerprint&) const = default;
  };
  Fingerprint fingerprint() const {
    auto s = snap();
    return {s->generation, s->backends.size(), s->policy, s->pins ? s->pins->size() : 0};
  }

  ServiceConfig config_;
  BackendRegistry registry_{2};
};

TEST_F(BackendRegistryTest, AddAppendsWithAFreshIdAndBumpsTheGeneration) {
  uint64_t gen = registry_.generation();
  auto added = registry_.add(backend(3, 5));
  ASSERT_TRUE(added.ok()) << added.status().message();
  EXPECT_GT(registry_.generation(), gen);
  auto s = snap();
  ASSERT_EQ(s->backends.size(), 3u);
  EXPECT_EQ(s->backends[2], *added);
  EXPECT_EQ((*added)->weight(), 5u);
  EXPECT_NE((*added)->id(), id(0));
  EXPECT_NE((*added)->id(), id(1));
  EXPECT_EQ(s->index_of((*added)->id()), 2);
}

TEST_F(BackendRegistryTest, AddRejectsDuplicatesAndBadValues) {
  Fingerprint before = fingerprint();
  EXPECT_EQ(registry_.add(backend(1)).status().code(), StatusCode::kAlreadyExists);
  BackendConfig heavy = backend(3, 10'001);
  EXPECT_EQ(registry_.add(heavy).status().code(), StatusCode::kInvalidArgument);
  BackendConfig prio = backend(3);
  prio.prio = 1'000'001;
  EXPECT_EQ(registry_.add(prio).status().code(), StatusCode::kInvalidArgument);
  BackendConfig limits = backend(3);
  limits.hard_limit = 1'000'001;
  EXPECT_EQ(registry_.add(limits).status().code(), StatusCode::kInvalidArgument);
  BackendConfig no_port = backend(3);
  no_port.address.set_port(0);
  EXPECT_EQ(registry_.add(no_port).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_.add(BackendConfig{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fingerprint(), before);
}

TEST_F(BackendRegistryTest, AddRejectsTheEmergencyAddress) {
  config_.emergency = backend(9);
  registry_.apply(config_);
  EXPECT_EQ(registry_.add(backend(9)).status().code(), StatusCode::kAlreadyExists);
}

TEST_F(BackendRegistryTest, UpdatePatchesOnlyTheGivenFields) {
  uint64_t gen = registry_.generation();
  BackendPatch patch;
  patch.weight = 3;
  patch.hard_limit = 10;
  auto patched = registry_.update(id(0), patch);
  ASSERT_TRUE(patched.ok()) << patched.status().message();
  EXPECT_EQ(patched->before.weight, 1u);
  const Backend& b = *snap()->backends[0];
  EXPECT_EQ(b.weight(), 3u);
  EXPECT_EQ(b.hard_limit(), 10u);
  EXPECT_EQ(b.soft_limit(), 0u);
  EXPECT_EQ(b.prio(), 0u);
  EXPECT_GT(registry_.generation(), gen);
}

TEST_F(BackendRegistryTest, UpdateEnabledFlagSetsTheAdminState) {
  BackendPatch off;
  off.enabled = false;
  ASSERT_TRUE(registry_.update(id(0), off).ok());
  EXPECT_EQ(snap()->backends[0]->admin_state(), AdminState::kDisabled);
  ASSERT_TRUE(registry_.set_admin_state(id(1), AdminState::kDraining).ok());
  BackendPatch on;
  on.enabled = true;
  ASSERT_TRUE(registry_.update(id(0), on).ok());
  auto ended = registry_.update(id(1), on);  // enabling ends a drain
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(ended->state_before, AdminState::kDraining);
  EXPECT_EQ(snap()->backends[0]->admin_state(), AdminState::kEnabled);
  EXPECT_EQ(snap()->backends[1]->admin_state(), AdminState::kEnabled);
}

// Pen's `server N address A`: a new Backend with the same id in the same
// place; the old one (its open connections) lives on outside the snapshot.
TEST_F(BackendRegistryTest, UpdateAddressReplacesTheBackendInPlace) {
  const uint32_t first = id(0);
  std::shared_ptr<Backend> old = snap()->backends[0];
  old->add_connection(0);
  old->connection_opened();
  ASSERT_TRUE(registry_.update(first, patch(&BackendPatch::weight, 4)).ok());
  ASSERT_TRUE(registry_.set_admin_state(first, AdminState::kDisabled).ok());
  BackendPatch moved;
  moved.address = backend(9).address;
  moved.host = "nine";
  auto patched = registry_.update(first, moved);
  ASSERT_TRUE(patched.ok()) << patched.status().message();
  EXPECT_EQ(patched->replaced, old);
  const auto& now = snap()->backends[0];
  EXPECT_EQ(now, patched->backend);
  EXPECT_NE(now, old);
  EXPECT_EQ(now->id(), first);
  EXPECT_EQ(now->address(), backend(9).address);
  EXPECT_EQ(now->host(), "nine");
  EXPECT_EQ(now->weight(), 4u);
  EXPECT_EQ(now->admin_state(), AdminState::kDisabled);
  EXPECT_EQ(now->active(), 0);
  EXPECT_EQ(old->active(), 1) << "its connection finishes on the old address";
  EXPECT_EQ(snap()->index_of(first), 0);
}

TEST_F(BackendRegistryTest, UpdateAddressRefusesATakenAddressAndADrain) {
  Fingerprint before = fingerprint();
  BackendPatch taken;
  taken.address = backend(2).address;
  taken.weight = 5;
  EXPECT_EQ(registry_.update(id(0), taken).status().code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(registry_.set_admin_state(id(0), AdminState::kDraining).ok());
  before = fingerprint();
  BackendPatch moved;
  moved.address = backend(9).address;
  EXPECT_EQ(registry_.update(id(0), moved).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fingerprint(), before);
  EXPECT_EQ(snap()->backends[0]->weight(), 1u);
  moved.enabled = true;  // ends the drain: then it may move
  std::shared_ptr<Backend> old = snap()->backends[0];
  auto patched = registry_.update(id(0), moved);
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ(patched->replaced, old);
  EXPECT_EQ(old->admin_state(), AdminState::kEnabled) << "the old one's drain ends too";
  EXPECT_EQ(snap()->backends[0]->admin_state(), AdminState::kEnabled);
  EXPECT_EQ(snap()->backends[0]->address(), backend(9).address);
}

TEST_F(BackendRegistryTest, UpdateRejectsBadValuesAndUnknownIds) {
  Fingerprint before = fingerprint();
  for (auto bad : {patch(&BackendPatch::weight, 10'001), patch(&BackendPatch::prio, 2'000'000),
                   patch(&BackendPatch::soft_limit, 1'000'001), patch(&BackendPatch::hard_limit, UINT32_MAX)}) {
    bad.enabled = false;  // must not be applied either
    EXPECT_EQ(registry_.update(id(0), bad).status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(registry_.update(999, patch(&BackendPatch::weight, 2)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fingerprint(), before);
  EXPECT_EQ(snap()->backends[0]->admin_state(), AdminState::kEnabled);
  EXPECT_EQ(snap()->backends[0]->weight(), 1u);
}

TEST_F(BackendRegistryTest, EmergencyServerIsNotChangedAtRuntime) {
  config_.emergency = backend(9);
  registry_.apply(config_);
  uint32_t eid = snap()->emergency->id();
  Fingerprint before = fingerprint();
  EXPECT_EQ(registry_.update(eid, patch(&BackendPatch::weight, 2)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_.remove(eid).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_.pin(prefix("10.0.0.0/8"), eid).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fingerprint(), before);
}

TEST_F(BackendRegistryTest, RemoveDropsTheBackendAndItsPins) {
  uint32_t gone = id(0);
  ASSERT_TRUE(registry_.pin(prefix("10.0.0.0/8"), gone).ok());
  ASSERT_TRUE(registry_.pin(prefix("10.1.0.0/16"), id(1)).ok());
  auto removed = registry_.remove(gone);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->pins_dropped, 1u);
  EXPECT_EQ(removed->backend->id(), gone);
  auto s = snap();
  ASSERT_EQ(s->backends.size(), 1u);
  EXPECT_EQ(s->index_of(gone), -1);
  EXPECT_EQ(s->index_of(id(0)), 0);
  ASSERT_TRUE(s->pins);
  EXPECT_EQ(s->pins->size(), 1u);
  EXPECT_EQ(registry_.remove(gone).status().code(), StatusCode::kNotFound);
}

TEST_F(BackendRegistryTest, OldSnapshotsKeepRemovedBackendsAlive) {
  auto old = snap();
  std::weak_ptr<Backend> weak = old->backends[0];
  ASSERT_TRUE(registry_.remove(id(0)).ok());
  EXPECT_FALSE(weak.expired());
  old.reset();
  EXPECT_TRUE(weak.expired());
}

TEST_F(BackendRegistryTest, IdsAreNeverReused) {
  uint32_t first = id(0);
  ASSERT_TRUE(registry_.remove(first).ok());
  auto again = registry_.add(backend(1));
  ASSERT_TRUE(again.ok());
  EXPECT_NE((*again)->id(), first);
}

TEST_F(BackendRegistryTest, SetPolicyValidatesEveryField) {
  Fingerprint before = fingerprint();
  auto bad = [&](auto change) {
    PolicyConfig p;
    change(p);
    EXPECT_EQ(registry_.set_policy(p).status().code(), StatusCode::kInvalidArgument);
  };
  bad([](PolicyConfig& p) { p.tracking_seconds = -1; });
  bad([](PolicyConfig& p) { p.tracking_seconds = 2e9; });
  bad([](PolicyConfig& p) { p.blacklist_seconds = -0.5; });
  bad([](PolicyConfig& p) { p.blacklist_seconds = std::numeric_limits<double>::quiet_NaN(); });
  bad([](PolicyConfig& p) { p.blacklist_seconds = std::numeric_limits<double>::infinity(); });
  bad([](PolicyConfig& p) { p.table_size = 0; });
  bad([](PolicyConfig& p) { p.table_size = 100'000'001; });
  bad([](PolicyConfig& p) { p.mode = static_cast<BalanceMode>(42); });
  EXPECT_EQ(fingerprint(), before);

  PolicyConfig good;
  good.mode = BalanceMode::kWeight;
  good.table_size = 1;
  good.tracking_seconds = 1e9;
  auto old = registry_.set_policy(good);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->mode, BalanceMode::kAffinity);
  EXPECT_EQ(snap()->policy, good);
}

TEST_F(BackendRegistryTest, PinAndUnpin) {
  Fingerprint before = fingerprint();
  EXPECT_EQ(registry_.pin(prefix("10.0.0.0/8"), 999).status().code(), StatusCode::kNotFound);
  IpPrefix bad{*IpKey::parse("10.0.0.1"), 8};  // host bits set
  EXPECT_EQ(registry_.pin(bad, id(0)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_.unpin(prefix("10.0.0.0/8")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fingerprint(), before);
  EXPECT_FALSE(snap()->pins);  // no pins: no set at all, the selector's fast path

  auto first = registry_.pin(prefix("10.0.0.0/8"), id(0));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 0u);
  auto moved = registry_.pin(prefix("10.0.0.0/8"), id(1));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, id(0));
  EXPECT_EQ(snap()->pins->find(*IpKey::parse("10.5.5.5")), id(1));
  auto was = registry_.unpin(prefix("10.0.0.0/8"));
  ASSERT_TRUE(was.ok());
  EXPECT_EQ(*was, id(1));
  EXPECT_FALSE(snap()->pins);
}

TEST_F(BackendRegistryTest, ReloadKeepsIdsCountersAndAdminState) {
  uint32_t a = id(0), b = id(1);
  snap()->backends[0]->add_connection(0);
  ASSERT_TRUE(registry_.set_admin_state(b, AdminState::kDraining).ok());
  config_.backends[0].weight = 7;
  RegistryDiff diff = registry_.apply(config_);
  EXPECT_TRUE(diff.added.empty());
  EXPECT_TRUE(diff.removed.empty());
  EXPECT_EQ(id(0), a);
  EXPECT_EQ(id(1), b);
  EXPECT_EQ(snap()->backends[0]->counters().connections, 1u);
  EXPECT_EQ(snap()->backends[0]->weight(), 7u);  // the file is the truth for settings
  EXPECT_EQ(snap()->backends[1]->admin_state(), AdminState::kDraining);  // not undone by a reload
}

TEST_F(BackendRegistryTest, ReloadRemovesRuntimeBackendsMissingFromTheFile) {
  auto added = registry_.add(backend(3));
  ASSERT_TRUE(added.ok());
  ASSERT_TRUE(registry_.pin(prefix("10.0.0.0/8"), (*added)->id()).ok());
  ASSERT_TRUE(registry_.pin(prefix("10.1.0.0/16"), id(0)).ok());
  RegistryDiff diff = registry_.apply(config_);
  ASSERT_EQ(diff.removed.size(), 1u);
  EXPECT_EQ(diff.removed[0], *added);
  EXPECT_EQ(diff.pins_dropped, 1u);
  EXPECT_EQ(snap()->backends.size(), 2u);
  ASSERT_TRUE(snap()->pins);
  EXPECT_EQ(snap()->pins->size(), 1u);  // the pin to a kept backend survives
}

TEST_F(BackendRegistryTest, ReloadKeepsARuntimeBackendTheFileNames) {
  auto added = registry_.add(backend(3));
  ASSERT_TRUE(added.ok());
  config_.backends.push_back(backend(3));
  RegistryDiff diff = registry_.apply(config_);
  EXPECT_TRUE(diff.added.empty());
  EXPECT_EQ(id(2), (*added)->id());
}

TEST_F(BackendRegistryTest, ReloadReportsAddedBackendsAndPolicyChanges) {
  config_.backends.push_back(backend(4));
  config_.policy.table_size = 10;
  RegistryDiff diff = registry_.apply(config_);
  ASSERT_EQ(diff.added.size(), 1u);
  EXPECT_EQ(diff.added[0]->address(), backend(4).address);
  EXPECT_TRUE(diff.policy_changed);
  EXPECT_FALSE(registry_.apply(config_).policy_changed);
}

TEST_F(BackendRegistryTest, ConcurrentChangesAndReadersStayConsistent) {
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) {
      auto s = snap();
      for (size_t i = 0; i < s->backends.size(); ++i) {
        ASSERT_EQ(s->index_of(s->backends[i]->id()), static_cast<int>(i));
      }
    }
  });
  for (int round = 0; round < 200; ++round) {
    auto added = registry_.add(backend(3));
    ASSERT_TRUE(added.ok());
    ASSERT_TRUE(registry_.update((*added)->id(), patch(&BackendPatch::weight, 2)).ok());
    ASSERT_TRUE(registry_.pin(prefix("10.0.0.0/8"), (*added)->id()).ok());
    if (round % 2 == 0) registry_.apply(config_);
    else ASSERT_TRUE(registry_.remove((*added)->id()).ok());
  }
  stop = true;
  reader.join();
  EXPECT_EQ(snap()->backends.size(), 2u);
  EXPECT_FALSE(snap()->pins);
}

}  // namespace
}  // namespace nib
