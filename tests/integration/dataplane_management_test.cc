// The runtime management API over real loopback sockets: an in-process
// Dataplane in front of real TestBackends, changed while clients connect.
// Distinct clients are distinct source addresses (127.0.x.y).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <sstream>
#include <thread>

#include "dataplane/base/log.h"
#include "dataplane/dataplane.h"
#include "tests/support/dataplane_fixture.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::client_ip;
using test::TestBackend;
using test::TestClient;
using Kind = DataplaneEvent::Kind;

IpKey client_key(int n) { return *IpKey::parse(client_ip(n)); }
IpPrefix prefix(const std::string& text) { return *IpPrefix::parse(text); }

// BackendPatch{.weight = 2} without -Wmissing-field-initializers: Patch().weight(2).
class Patch {
 public:
  Patch& weight(uint32_t v) { return set(&BackendPatch::weight, v); }
  Patch& prio(uint32_t v) { return set(&BackendPatch::prio, v); }
  Patch& soft_limit(uint32_t v) { return set(&BackendPatch::soft_limit, v); }
  Patch& hard_limit(uint32_t v) { return set(&BackendPatch::hard_limit, v); }
  Patch& enabled(bool v) {
    p_.enabled = v;
    return *this;
  }
  operator BackendPatch() const { return p_; }  // NOLINT: implicit by design

 private:
  Patch& set(std::optional<uint32_t> BackendPatch::*field, uint32_t v) {
    p_.*field = v;
    return *this;
  }
  BackendPatch p_;
};

class DataplaneManagementTest : public test::DataplaneFixture<> {
 protected:
  void SetUp() override {
    DataplaneFixture::SetUp();
    service_.policy.connect_timeout_seconds = 2;
  }

  static bool echoes(TestClient& c) {
    if (!c.write_all("ping\n").ok()) return false;
    auto line = c.read_line();
    return line.ok() && *line == "ping";
  }
  ServiceStatus status() { return dp_->status()[0]; }
  uint32_t id(int index) { return status().backends[index].id; }
  BackendStatus backend(uint32_t backend_id) {
    auto b = dp_->backend("test", backend_id);
    EXPECT_TRUE(b.ok()) << b.status().message();
    return b.ok() ? *b : BackendStatus{};
  }
  // What a failed call must leave alone: backends and their settings, the
  // policy, the pins and the client table.
  std::string fingerprint() {
    std::ostringstream out;
    ServiceStatus s = status();
    for (const auto& b : s.backends) {
      out << b.id << ' ' << b.address.to_string() << ' ' << to_string(b.admin_state) << ' ' << b.weight << ' '
          << b.prio << ' ' << b.soft_limit << ' ' << b.hard_limit << ';';
    }
    out << to_string(s.policy.mode) << s.policy.stubborn << s.policy.tracking_seconds << ' '
        << s.policy.blacklist_seconds << ' ' << s.policy.table_size << ';' << s.affinity.size << ' '
        << s.affinity.capacity << ';';
    auto pins = dp_->pins("test");  // not in the for: the Result must outlive the loop
    for (const auto& p : *pins) out << p.prefix.to_string() << "->" << p.backend_id << ';';
    for (const auto& c : dp_->clients("test")) out << c.client.to_string() << "->" << c.backend_id << ';';
    return out.str();
  }
};

TEST_F(DataplaneManagementTest, ListsServicesAndTheirState) {
  add_backends(2);
  start();
  EXPECT_EQ(dp_->service_names(), std::vector<std::string>{"test"});
  auto s = dp_->service("test");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->backends.size(), 2u);
  EXPECT_EQ(dp_->service("nope").status().code(), StatusCode::kNotFound);
  auto p = dp_->policy("test");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, service_.policy);
}

TEST_F(DataplaneManagementTest, AddedBackendTakesNewClientsWhileTrafficFlows) {
  add_backends(2);
  start();
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, served{0};
  std::thread traffic([&] {
    for (int i = 0; !stop.load(); ++i) {
      if (who(100 + i % 200) == "closed") failures.fetch_add(1);
      served.fetch_add(1);
    }
  });
  ASSERT_TRUE(test::wait_until([&] { return served.load() > 20; }));
  TestBackend& b2 = spare();
  auto added = dp_->add_backend("test", backend_config(b2));
  ASSERT_TRUE(added.ok()) << added.status().message();
  EXPECT_EQ(added->index, 2);
  EXPECT_EQ(added->admin_state, AdminState::kEnabled);
  ASSERT_TRUE(test::wait_until([&] { return b2.accepted() > 2; }));  // background clients reach it
  stop = true;
  traffic.join();
  EXPECT_EQ(failures.load(), 0);
  std::map<std::string, int> seen;
  for (int c = 1; c <= 6; ++c) ++seen[who(c)];  // new clients, round-robin over three
  EXPECT_EQ(seen["b2"], 2);
  auto events = events_.of(Kind::kBackendAdded);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].backend_id, added->id);
  EXPECT_EQ(events[0].service, "test");
  EXPECT_NE(events[0].detail.find(b2.address().to_string()), std::string::npos) << events[0].detail;
}

TEST_F(DataplaneManagementTest, WeightUpdatesChangeTheShare) {
  service_.policy.mode = BalanceMode::kWeight;
  add_backends(2);
  start();
  EXPECT_EQ(who(1), "b0");  // all idle: the first
  auto updated = dp_->update_backend("test", id(0), Patch().weight(0));
  ASSERT_TRUE(updated.ok()) << updated.status().message();
  EXPECT_EQ(updated->weight, 0u);
  EXPECT_EQ(who(2), "b1");  // weight 0: never chosen
  ASSERT_TRUE(dp_->update_backend("test", id(0), Patch().weight(3)).ok());
  ASSERT_TRUE(test::wait_until([&] { return dp_->open_connections() == 0; }));  // who() closes lazily
  std::vector<TestClient> open;
  std::map<std::string, int> share;
  for (int c = 10; c < 18; ++c) {
    auto [client, name] = hold(c);
    ++share[name];
    open.push_back(std::move(client));
  }
  EXPECT_EQ(share["b0"], 6);
  EXPECT_EQ(share["b1"], 2);
  auto events = events_.of(Kind::kBackendUpdated, id(0));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].detail, "weight 1 -> 0");
  EXPECT_EQ(events[1].detail, "weight 0 -> 3");
}

TEST_F(DataplaneManagementTest, PrioUpdatesMoveNewClients) {
  service_.policy.mode = BalanceMode::kPrio;
  add_backends(2);
  start();
  EXPECT_EQ(who(1), "b0");
  ASSERT_TRUE(dp_->update_backend("test", id(0), Patch().prio(10)).ok());
  EXPECT_EQ(who(2), "b1");
  EXPECT_EQ(who(1), "b0");  // a remembered client stays
  EXPECT_EQ(status().backends[0].prio, 10u);
}

TEST_F(DataplaneManagementTest, LimitUpdatesApplyToTheNextConnection) {
  service_.policy.mode = BalanceMode::kPrio;
  add_backends(2);
  service_.backends[1].prio = 1;
  start();
  BackendPatch limits;
  limits.soft_limit = 1;
  limits.hard_limit = 2;
  ASSERT_TRUE(dp_->update_backend("test", id(0), limits).ok());
  auto [a1, s1] = hold(1);
  EXPECT_EQ(s1, "b0");
  auto [a2, s2] = hold(1);
  EXPECT_EQ(s2, "b0");  // returning: up to the hard limit
  auto [b1, t1] = hold(2);
  EXPECT_EQ(t1, "b1");  // new: over the soft limit
  ASSERT_TRUE(dp_->update_backend("test", id(0), Patch().soft_limit(5).hard_limit(5)).ok());
  auto [c1, u1] = hold(3);
  EXPECT_EQ(u1, "b0");
  EXPECT_EQ(status().backends[0].soft_limit, 5u);
}

TEST_F(DataplaneManagementTest, DisableAndEnable) {
  add_backends(2);
  start();
  EXPECT_EQ(who(1), "b0");
  EXPECT_EQ(who(2), "b1");
  auto off = dp_->update_backend("test", id(0), Patch().enabled(false));
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->admin_state, AdminState::kDisabled);
  EXPECT_EQ(who(1), "b1");  // its server is out: chosen afresh
  for (int c = 3; c < 7; ++c) EXPECT_EQ(who(c), "b1");
  ASSERT_TRUE(dp_->update_backend("test", id(0), Patch().enabled(true)).ok());
  std::map<std::string, int> seen;
  for (int c = 10; c < 14; ++c) ++seen[who(c)];
  EXPECT_EQ(seen["b0"], 2);
  auto events = events_.of(Kind::kBackendUpdated, id(0));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].detail, "state enabled -> disabled");
  EXPECT_EQ(events[1].detail, "state disabled -> enabled");
}

TEST_F(DataplaneManagementTest, DrainKeepsOpenConnectionsAndFinishesWithTheLast) {
  add_backends(2);
  start();
  auto [held, name] = hold(1);
  ASSERT_EQ(name, "b0");
  auto [held2, name2] = hold(1);  // returning: b0 again
  ASSERT_EQ(name2, "b0");
  EXPECT_EQ(who(2), "b1");
  const uint32_t b0 = id(0);

  auto drained = dp_->drain_backend("test", b0);
  ASSERT_TRUE(drained.ok()) << drained.status().message();
  EXPECT_EQ(drained->admin_state, AdminState::kDraining);
  EXPECT_FALSE(drained->drain_finished);
  EXPECT_EQ(events_.count(Kind::kDrainStarted, b0), 1u);
  EXPECT_TRUE(echoes(held));  // open connections keep working
  EXPECT_EQ(who(3), "b1");    // no new clients
  EXPECT_EQ(who(1), "b1");    // a remembered client moves on its next connect
  EXPECT_EQ(who(1), "b1");    // and is remembered there
  EXPECT_EQ(backend(b0).remembered_clients, 0u);

  held.close();
  ASSERT_TRUE(test::wait_until([&] { return backend(b0).active == 1; }));
  EXPECT_EQ(events_.count(Kind::kDrainFinished), 0u);
  EXPECT_TRUE(echoes(held2));
  held2.close();
  ASSERT_TRUE(test::wait_until([&] { return events_.count(Kind::kDrainFinished) >= 1; }));
  BackendStatus done = backend(b0);
  EXPECT_TRUE(done.drain_finished);
  EXPECT_EQ(done.active, 0);
  auto finished = events_.of(Kind::kDrainFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].backend_id, b0);
  EXPECT_GT(finished[0].sequence, events_.of(Kind::kDrainStarted)[0].sequence);

  // Draining again changes nothing; more traffic announces nothing more.
  ASSERT_TRUE(dp_->drain_backend("test", b0).ok());
  for (int c = 20; c < 24; ++c) EXPECT_EQ(who(c), "b1");
  std::this_thread::sleep_for(50ms);  // would a late duplicate show up?
  EXPECT_EQ(events_.count(Kind::kDrainStarted), 1u);
  EXPECT_EQ(events_.count(Kind::kDrainFinished), 1u);

  // Enabling ends the drain.
  ASSERT_TRUE(dp_->update_backend("test", b0, Patch().enabled(true)).ok());
  EXPECT_EQ(backend(b0).admin_state, AdminState::kEnabled);
  EXPECT_FALSE(backend(b0).drain_finished);
}

TEST_F(DataplaneManagementTest, DrainingAnIdleBackendFinishesAtOnce) {
  add_backends(2);
  start();
  const uint32_t b1 = id(1);
  auto drained = dp_->drain_backend("test", b1);
  ASSERT_TRUE(drained.ok());
  EXPECT_TRUE(drained->drain_finished);
  auto events = events_.all();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kDrainStarted);
  EXPECT_EQ(events[1].kind, Kind::kDrainFinished);
  EXPECT_EQ(events[1].backend_id, b1);
  for (int c = 1; c < 5; ++c) EXPECT_EQ(who(c), "b0");
}

TEST_F(DataplaneManagementTest, RemovedBackendKeepsItsOpenConnectionUntilClosed) {
  add_backends(2);
  start();
  auto [held, name] = hold(1);
  ASSERT_EQ(name, "b0");
  const uint32_t b0 = id(0);
  ASSERT_TRUE(dp_->pin_clients("test", prefix("127.0.9.0/24"), b0).ok());
  ASSERT_TRUE(dp_->remove_backend("test", b0).ok());
  ServiceStatus s = status();
  ASSERT_EQ(s.backends.size(), 1u);
  EXPECT_EQ(s.backends[0].index, 0);
  EXPECT_EQ(dp_->backend("test", b0).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(dp_->pins("test")->empty());  // its pins left with it
  EXPECT_TRUE(echoes(held));
  EXPECT_EQ(who(1), "b1");  // its remembered client was forgotten
  EXPECT_EQ(who(2), "b1");
  EXPECT_EQ(backends_[0]->active(), 1u);
  held.close();
  ASSERT_TRUE(test::wait_until([&] { return backends_[0]->active() == 0; }));
  auto events = events_.of(Kind::kBackendRemoved, b0);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].detail.find("1 remembered clients forgotten, 1 pins dropped"), std::string::npos)
      << events[0].detail;
  EXPECT_EQ(dp_->remove_backend("test", b0).code(), StatusCode::kNotFound);
}

TEST_F(DataplaneManagementTest, PinnedClientsStickEvenAfterEviction) {
  service_.policy.table_size = 1;
  add_backends(3);
  start();
  const uint32_t b2 = id(2);
  ASSERT_TRUE(dp_->pin_clients("test", prefix(client_ip(1)), b2).ok());
  ASSERT_TRUE(dp_->pin_clients("test", prefix("127.0.5.0/24"), id(1)).ok());
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(who(1), "b2");
    EXPECT_NE(who(50 + round), "closed");  // unpinned clients come and go in the one slot
    EXPECT_EQ(who(1250 + round), "b1");  // 127.0.5.x
  }
  EXPECT_GE(status().affinity.evictions, 2u);
  auto pins = dp_->pins("test");
  ASSERT_TRUE(pins.ok());
  ASSERT_EQ(pins->size(), 2u);
  EXPECT_EQ((*pins)[0].prefix.to_string(), client_ip(1) + "/32");
  EXPECT_EQ((*pins)[0].backend_id, b2);
  EXPECT_EQ((*pins)[1].prefix.to_string(), "127.0.5.0/24");
  EXPECT_EQ(events_.count(Kind::kBackendUpdated), 2u);

  // A pinned client whose server is out chooses as usual, then returns.
  ASSERT_TRUE(dp_->update_backend("test", b2, Patch().enabled(false)).ok());
  EXPECT_NE(who(1), "b2");
  ASSERT_TRUE(dp_->update_backend("test", b2, Patch().enabled(true)).ok());
  EXPECT_EQ(who(1), "b2");

  ASSERT_TRUE(dp_->unpin_clients("test", prefix("127.0.5.0/24")).ok());
  EXPECT_EQ(dp_->unpin_clients("test", prefix("127.0.5.0/24")).code(), StatusCode::kNotFound);
  EXPECT_EQ(dp_->pins("test")->size(), 1u);
}

TEST_F(DataplaneManagementTest, MigrateClientsMovesOrForgetsThem) {
  add_backends(3);
  start();
  EXPECT_EQ(who(1), "b0");
  EXPECT_EQ(who(2), "b1");
  EXPECT_EQ(who(3), "b2");
  EXPECT_EQ(who(4), "b0");
  auto moved = dp_->migrate_clients("test", id(0), id(2));
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  EXPECT_EQ(*moved, 2u);
  EXPECT_EQ(who(1), "b2");
  EXPECT_EQ(who(4), "b2");
  EXPECT_EQ(backend(id(2)).remembered_clients, 3u);
  auto forgotten = dp_->migrate_clients("test", id(2), std::nullopt);
  ASSERT_TRUE(forgotten.ok());
  EXPECT_EQ(*forgotten, 3u);
  EXPECT_EQ(backend(id(2)).remembered_clients, 0u);
  auto listed = dp_->list_clients("test", 0, 100);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);  // client 2 on b1
  auto events = events_.of(Kind::kBackendUpdated);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].detail, "moved 2 remembered clients to backend " + std::to_string(id(2)));
  EXPECT_EQ(events[1].detail, "forgot 3 remembered clients");
}

TEST_F(DataplaneManagementTest, ListAndForgetClients) {
  add_backends(2);
  start();
  for (int c = 1; c <= 6; ++c) who(c);  // odd clients on b0, even on b1
  auto all = dp_->list_clients("test", 0, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 6u);
  auto page = dp_->list_clients("test", 2, 3);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ((*page)[0].client, (*all)[2].client);
  auto of_b1 = dp_->list_clients("test", 0, 100, id(1));
  ASSERT_TRUE(of_b1.ok());
  ASSERT_EQ(of_b1->size(), 3u);
  for (const auto& e : *of_b1) EXPECT_EQ(e.backend_id, id(1));
  auto second_of_b1 = dp_->list_clients("test", 1, 1, id(1));
  ASSERT_TRUE(second_of_b1.ok());
  ASSERT_EQ(second_of_b1->size(), 1u);
  EXPECT_EQ((*second_of_b1)[0].client, (*of_b1)[1].client);

  ASSERT_TRUE(dp_->forget_client("test", client_key(1)).ok());
  EXPECT_EQ(dp_->list_clients("test", 0, 100)->size(), 5u);
  EXPECT_EQ(dp_->forget_client("test", client_key(1)).code(), StatusCode::kNotFound);
  EXPECT_EQ(events_.count(Kind::kBackendUpdated), 1u);
}

TEST_F(DataplaneManagementTest, SetPolicyChangesTheModeLive) {
  add_backends(2);
  start();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(who(1), "b0");  // tracking
  PolicyConfig rr = *dp_->policy("test");
  rr.mode = BalanceMode::kRoundRobin;
  ASSERT_TRUE(dp_->set_policy("test", rr).ok());
  std::map<std::string, int> seen;
  for (int i = 0; i < 4; ++i) ++seen[who(1)];
  EXPECT_EQ(seen["b0"], 2);
  EXPECT_EQ(seen["b1"], 2);
  EXPECT_EQ(dp_->policy("test")->mode, BalanceMode::kRoundRobin);

  // A smaller table keeps the most recently used clients.
  PolicyConfig tracked = rr;
  tracked.mode = BalanceMode::kAffinity;
  ASSERT_TRUE(dp_->set_policy("test", tracked).ok());
  for (int c = 10; c < 15; ++c) who(c);
  tracked.table_size = 2;
  tracked.tracking_seconds = 60;
  ASSERT_TRUE(dp_->set_policy("test", tracked).ok());
  ServiceStatus s = status();
  EXPECT_EQ(s.affinity.capacity, 2u);
  auto left = dp_->list_clients("test", 0, 10);
  ASSERT_EQ(left->size(), 2u);
  for (const auto& e : *left) EXPECT_TRUE(e.client == client_key(13) || e.client == client_key(14));

  auto events = events_.of(Kind::kPolicyChanged);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].detail, "mode affinity -> roundrobin");
  EXPECT_EQ(events[2].detail, "tracking 0 s -> 60 s, table_size 2048 -> 2");
  ASSERT_TRUE(dp_->set_policy("test", tracked).ok());  // unchanged: nothing announced
  EXPECT_EQ(events_.count(Kind::kPolicyChanged), 3u);
}

TEST_F(DataplaneManagementTest, ReloadKeepsRuntimeStateOfBackendsItKeeps) {
  add_backends(2);
  start();
  const uint32_t b0 = id(0), b1 = id(1);
  ASSERT_TRUE(dp_->drain_backend("test", b1).ok());
  TestBackend& extra = spare();
  auto added = dp_->add_backend("test", backend_config(extra));
  ASSERT_TRUE(added.ok());
  ASSERT_TRUE(dp_->reload(config()).ok());  // the file: b0 and b1
  ServiceStatus s = status();
  ASSERT_EQ(s.backends.size(), 2u);
  EXPECT_EQ(s.backends[0].id, b0);
  EXPECT_EQ(s.backends[1].id, b1);
  EXPECT_EQ(s.backends[1].admin_state, AdminState::kDraining);
  EXPECT_EQ(events_.count(Kind::kBackendRemoved, added->id), 1u);
}

TEST_F(DataplaneManagementTest, ErrorsChangeNothing) {
  add_backends(2);
  TestBackend emergency("emergency");
  service_.emergency = backend_config(emergency);
  start();
  EXPECT_EQ(who(1), "b0");
  ASSERT_TRUE(dp_->pin_clients("test", prefix("10.0.0.0/8"), id(1)).ok());
  const std::string before = fingerprint();
  const size_t events = events_.size();
  const uint32_t b0 = id(0), eid = status().emergency->id;
  constexpr uint32_t kNoSuch = 999;
  auto code = [](const auto& r) {
    if constexpr (std::is_same_v<std::decay_t<decltype(r)>, Status>) {
      return r.code();
    } else {
      return r.status().code();
    }
  };
  using enum StatusCode;

  // Unknown service: every call.
  EXPECT_EQ(code(dp_->service("x")), kNotFound);
  EXPECT_EQ(code(dp_->add_backend("x", backend_config(spare()))), kNotFound);
  EXPECT_EQ(code(dp_->update_backend("x", b0, Patch().weight(2))), kNotFound);
  EXPECT_EQ(code(dp_->remove_backend("x", b0)), kNotFound);
  EXPECT_EQ(code(dp_->drain_backend("x", b0)), kNotFound);
  EXPECT_EQ(code(dp_->backend("x", b0)), kNotFound);
  EXPECT_EQ(code(dp_->list_clients("x", 0, 10)), kNotFound);
  EXPECT_EQ(code(dp_->forget_client("x", client_key(1))), kNotFound);
  EXPECT_EQ(code(dp_->pin_clients("x", prefix("10.0.0.0/8"), b0)), kNotFound);
  EXPECT_EQ(code(dp_->unpin_clients("x", prefix("10.0.0.0/8"))), kNotFound);
  EXPECT_EQ(code(dp_->pins("x")), kNotFound);
  EXPECT_EQ(code(dp_->migrate_clients("x", b0, std::nullopt)), kNotFound);
  EXPECT_EQ(code(dp_->policy("x")), kNotFound);
  EXPECT_EQ(code(dp_->set_policy("x", PolicyConfig{})), kNotFound);

  // Backends.
  EXPECT_EQ(code(dp_->add_backend("test", backend_config(*backends_[1]))), kAlreadyExists);
  EXPECT_EQ(code(dp_->add_backend("test", backend_config(emergency))), kAlreadyExists);
  BackendConfig heavy = backend_config(spare());
  heavy.weight = 10'001;
  EXPECT_EQ(code(dp_->add_backend("test", heavy)), kInvalidArgument);
  EXPECT_EQ(code(dp_->add_backend("test", BackendConfig{})), kInvalidArgument);
  EXPECT_EQ(code(dp_->update_backend("test", kNoSuch, Patch().weight(2))), kNotFound);
  EXPECT_EQ(code(dp_->update_backend("test", b0, Patch().weight(10'001).enabled(false))), kInvalidArgument);
  EXPECT_EQ(code(dp_->update_backend("test", b0, Patch().prio(1'000'001))), kInvalidArgument);
  EXPECT_EQ(code(dp_->update_backend("test", b0, Patch().soft_limit(1'000'001))), kInvalidArgument);
  EXPECT_EQ(code(dp_->update_backend("test", eid, Patch().weight(2))), kInvalidArgument);
  EXPECT_EQ(code(dp_->remove_backend("test", kNoSuch)), kNotFound);
  EXPECT_EQ(code(dp_->remove_backend("test", eid)), kInvalidArgument);
  EXPECT_EQ(code(dp_->drain_backend("test", kNoSuch)), kNotFound);
  EXPECT_EQ(code(dp_->drain_backend("test", eid)), kInvalidArgument);
  EXPECT_EQ(code(dp_->backend("test", kNoSuch)), kNotFound);

  // Clients and pins.
  EXPECT_EQ(code(dp_->list_clients("test", 0, 10, kNoSuch)), kNotFound);
  EXPECT_EQ(code(dp_->forget_client("test", client_key(77))), kNotFound);
  EXPECT_EQ(code(dp_->pin_clients("test", prefix("10.0.0.0/8"), kNoSuch)), kNotFound);
  EXPECT_EQ(code(dp_->pin_clients("test", prefix("10.0.0.0/8"), eid)), kInvalidArgument);
  EXPECT_EQ(code(dp_->pin_clients("test", IpPrefix{client_key(1), 8}, b0)), kInvalidArgument);  // host bits
  EXPECT_EQ(code(dp_->pin_clients("test", IpPrefix{client_key(1), 33}, b0)), kInvalidArgument);
  EXPECT_EQ(code(dp_->unpin_clients("test", prefix("10.0.0.0/9"))), kNotFound);
  EXPECT_EQ(code(dp_->migrate_clients("test", kNoSuch, b0)), kNotFound);
  EXPECT_EQ(code(dp_->migrate_clients("test", b0, kNoSuch)), kNotFound);
  EXPECT_EQ(code(dp_->migrate_clients("test", b0, b0)), kInvalidArgument);
  EXPECT_EQ(code(dp_->migrate_clients("test", b0, eid)), kInvalidArgument);

  // Policy.
  for (auto change : std::vector<std::function<void(PolicyConfig&)>>{
           [](PolicyConfig& p) { p.table_size = 0; },
           [](PolicyConfig& p) { p.table_size = 100'000'001; },
           [](PolicyConfig& p) { p.tracking_seconds = -1; },
           [](PolicyConfig& p) { p.tracking_seconds = 1e10; },
           [](PolicyConfig& p) { p.blacklist_seconds = std::numeric_limits<double>::quiet_NaN(); },
           [](PolicyConfig& p) { p.mode = static_cast<BalanceMode>(99); }}) {
    PolicyConfig p = *dp_->policy("test");
    p.mode = BalanceMode::kRoundRobin;  // a valid change riding along must not be applied
    change(p);
    EXPECT_EQ(code(dp_->set_policy("test", p)), kInvalidArgument);
  }

  EXPECT_EQ(fingerprint(), before);
  EXPECT_EQ(events_.size(), events) << "a failed call announced a change";
  EXPECT_EQ(who(1), "b0");
}

// Admin threads change everything while clients connect without pause: no
// client may fail while backend b0 (never touched) is usable. Run under TSan.
TEST_F(DataplaneManagementTest, ConcurrentChangesUnderTraffic) {
  struct QuietLog {  // thousands of changes: one INFO line each
    QuietLog() { Log::set_level(LogLevel::kWarn); }
    ~QuietLog() { Log::set_level(LogLevel::kInfo); }
  } quiet;
  add_backends(3);
  start();
  TestBackend& extra1 = spare();
  TestBackend& extra2 = spare();
  const uint32_t b0 = id(0), b1 = id(1), b2 = id(2);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, served{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        if (who(t * 60 + i % 60) == "closed") failures.fetch_add(1);
        served.fetch_add(1);
      }
    });
  }
  std::atomic<int> admin_errors{0};
  auto expect_ok = [&](const Status& s) {
    if (!s.ok()) {
      admin_errors.fetch_add(1);
      ADD_FAILURE() << s.message();
    }
  };
  // Each admin thread runs at least kRounds rounds and for at least a second.
  constexpr int kRounds = 40;
  const MonoTime until = MonoClock::now() + 1s;
  auto more = [&](int r) { return r < kRounds || MonoClock::now() < until; };
  threads.emplace_back([&] {  // add, tune, drain and remove the extra backends
    for (int r = 0; more(r); ++r) {
      TestBackend& b = r % 2 ? extra1 : extra2;
      auto added = dp_->add_backend("test", backend_config(b));
      if (!added.ok()) {
        expect_ok(added.status());
        continue;
      }
      expect_ok(dp_->update_backend("test", added->id, Patch().weight(5).soft_limit(2)).status());
      expect_ok(dp_->pin_clients("test", prefix("127.0.0.0/29"), added->id));
      expect_ok(dp_->drain_backend("test", added->id).status());
      expect_ok(dp_->remove_backend("test", added->id));
    }
  });
  threads.emplace_back([&] {  // b1 and b2 in and out of rotation
    for (int r = 0; more(r); ++r) {
      expect_ok(dp_->update_backend("test", b1, Patch().enabled(false)).status());
      expect_ok(dp_->drain_backend("test", b2).status());
      expect_ok(dp_->update_backend("test", b1, Patch().weight(1 + r % 3).prio(1).enabled(true)).status());
      expect_ok(dp_->migrate_clients("test", b2, b1).status());
      expect_ok(dp_->update_backend("test", b2, Patch().hard_limit(3).enabled(true)).status());
      expect_ok(dp_->migrate_clients("test", b1, std::nullopt).status());
      (void)dp_->backend("test", b2);
      (void)dp_->list_clients("test", 0, 50, b1);
    }
  });
  threads.emplace_back([&] {  // modes, table sizes, tracking
    const BalanceMode modes[] = {BalanceMode::kAffinity, BalanceMode::kRoundRobin, BalanceMode::kHash,
                                 BalanceMode::kWeight, BalanceMode::kPrio};
    const uint64_t sizes[] = {1, 16, 2048};
    for (int r = 0; more(r); ++r) {
      PolicyConfig p;
      p.mode = modes[r % 5];
      p.table_size = sizes[r % 3];
      p.tracking_seconds = r % 2 ? 10 : 0;
      expect_ok(dp_->set_policy("test", p));
      expect_ok(dp_->pin_clients("test", prefix("127.0.0.8/29"), b0));
      (void)dp_->unpin_clients("test", prefix("127.0.0.8/29"));
      (void)dp_->status();
    }
  });
  for (size_t i = 4; i < threads.size(); ++i) threads[i].join();
  const int during = served.load();
  stop = true;
  for (size_t i = 0; i < 4; ++i) threads[i].join();
  EXPECT_EQ(failures.load(), 0) << "of " << served.load() << " connections";
  EXPECT_EQ(admin_errors.load(), 0);
  EXPECT_GT(during, 100);
  RecordProperty("client_connections", served.load());
  RecordProperty("events", static_cast<int>(events_.size()));
  EXPECT_LE(events_.count(Kind::kDrainFinished), events_.count(Kind::kDrainStarted));
  ASSERT_TRUE(test::wait_until([&] { return dp_->open_connections() == 0; }));
  EXPECT_EQ(status().backends.size(), 3u);
  EXPECT_TRUE(dp_->pins("test")->empty());  // pins to the removed extras left with them
  for (const auto& b : status().backends) EXPECT_EQ(b.active, 0);
}

}  // namespace
}  // namespace nib
