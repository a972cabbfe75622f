// Replicas that agree (issue 15): three real nibs share a registry on a real
// three-member etcd cluster (Debian's etcd-server, on loopback ports). A
// change through any replica's API (gRPC, REST, Pen's control port) reaches
// the others; every replica sends a client to the same backend (Maglev);
// concurrent conflicting edits through different replicas are all kept;
// etcd outages cost changes, never traffic, and are caught up; a restart of
// everything loses nothing.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "nib/admin/v1/admin.grpc.pb.h"
#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"
#include "tests/support/test_etcd.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NibProcess;
namespace v1 = admin::v1;

struct Replica {
  uint16_t lb_port = test::free_port();
  std::string grpc = "127.0.0.1:" + std::to_string(test::free_port());
  SocketAddress http = *SocketAddress::from_ip("127.0.0.1", test::free_port());
  uint16_t penctl_port = test::free_port();
  std::string endpoints;  // etcd members it knows
  std::unique_ptr<NibProcess> process;
  std::unique_ptr<v1::Admin::Stub> stub;

  SocketAddress lb() const { return *SocketAddress::from_ip("127.0.0.1", lb_port); }
};

class SharedRegistryTest : public ::testing::Test {
 protected:
  static constexpr int kReplicas = 3;

  void SetUp() override {
    NIB_REQUIRE(test::nib_binary_exists(), "nib not built");
    NIB_REQUIRE(test::TestEtcdCluster::installed(), "etcd not installed (Debian packages etcd-server, etcd-client)");
    Status st = etcd_.start();
    ASSERT_TRUE(st.ok()) << st.message();
    for (auto& r : replicas_) r.endpoints = etcd_.endpoints();
  }

  std::string config(int i, const std::string& mode) {
    const Replica& r = replicas_[static_cast<size_t>(i)];
    std::string endpoints;
    for (size_t at = 0; at <= r.endpoints.size();) {
      size_t comma = std::min(r.endpoints.find(',', at), r.endpoints.size());
      endpoints += (endpoints.empty() ? "" : ", ") + r.endpoints.substr(at, comma - at);
      at = comma + 1;
    }
    return dir_.write_file("nib" + std::to_string(i) + ".yaml",
                           "registry:\n  store: etcd\n  endpoints: [" + endpoints + "]\n  prefix: /nib-test/\n" +
                               "admin:\n  penctl_listen: 127.0.0.1:" + std::to_string(r.penctl_port) + "\n" +
                               "services:\n  - name: web\n    listen: 127.0.0.1:" + std::to_string(r.lb_port) +
                               "\n    policy: {mode: " + mode + "}\n    backends:\n      - " +
                               one_.address().to_string() + "\n      - " + two_.address().to_string() + "\n");
  }

  // Starts the replicas together (the first start races to initialize the
  // registry), then waits for each one's pid file.
  void start_replicas(const std::vector<int>& which, const std::string& mode = "maglev") {
    for (int i : which) {
      Replica& r = replicas_[static_cast<size_t>(i)];
      auto p = NibProcess::start({"-p", pid_file(i), "--admin-grpc", r.grpc, "--admin-http", r.http.to_string(),
                                  "--allow-root-control", "--config", config(i, mode)});
      ASSERT_TRUE(p.ok()) << p.status().message();
      r.process = std::move(*p);
      r.stub = v1::Admin::NewStub(grpc::CreateChannel(r.grpc, grpc::InsecureChannelCredentials()));
    }
    for (int i : which) {
      Replica& r = replicas_[static_cast<size_t>(i)];
      bool up = test::wait_until([&] { return test::read_file(pid_file(i)).ok() || !r.process->running(); }, 15s);
      ASSERT_TRUE(up && r.process->running()) << "replica " << i << ": " << r.process->output();
    }
  }

  void stop_replica(int i, int sig = SIGTERM) {
    Replica& r = replicas_[static_cast<size_t>(i)];
    if (!r.process) return;
    (void)r.process->signal(sig);
    (void)r.process->wait_exit(30s);
    r.process.reset();
    (void)::unlink(pid_file(i).c_str());
  }

  std::string pid_file(int i) { return dir_.file("nib" + std::to_string(i) + ".pid"); }
  Replica& replica(int i) { return replicas_[static_cast<size_t>(i)]; }

  grpc::Status list(int i, v1::ListBackendsResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    return replica(i).stub->ListBackends(&ctx, v1::ListBackendsRequest(), out);
  }

  // "address weight prio soft state" of every backend, sorted: what replicas
  // must agree on (ids are each replica's own).
  std::set<std::string> listing(int i) {
    v1::ListBackendsResponse out;
    if (!list(i, &out).ok()) return {"(unreachable)"};
    std::set<std::string> rows;
    for (const auto& b : out.backends()) {
      rows.insert(b.address() + ":" + std::to_string(b.port()) + " w" + std::to_string(b.weight()) + " p" +
                  std::to_string(b.prio()) + " s" + std::to_string(b.soft_limit()) + " " +
                  v1::BackendState_Name(b.state()));
    }
    return rows;
  }

  // The id replica i gives the backend at `address`; 0 when it has none.
  uint32_t id_of(int i, const SocketAddress& address) {
    v1::ListBackendsResponse out;
    if (!list(i, &out).ok()) return 0;
    for (const auto& b : out.backends()) {
      if (b.address() + ":" + std::to_string(b.port()) == address.to_string()) return b.id();
    }
    return 0;
  }

  // Waits until every running replica lists the same backends as replica `i`.
  bool agree(int i, Duration timeout = 10s) {
    bool ok = test::wait_until(
        [&] {
          const auto want = listing(i);
          for (int j = 0; j < kReplicas; ++j) {
            if (replica(j).process && listing(j) != want) return false;
          }
          return true;
        },
        timeout);
    if (!ok) {
      for (int j = 0; j < kReplicas; ++j) {
        if (!replica(j).process) continue;
        std::string rows;
        for (const auto& row : listing(j)) rows += row + "; ";
        ADD_FAILURE() << "replica " << j << ": " << rows << "\n" << replica(j).process->output();
      }
    }
    return ok;
  }

  grpc::Status add_backend(int i, const SocketAddress& address, v1::Backend* out = nullptr) {
    v1::AddBackendRequest r;
    r.set_address(address.ip_string());
    r.set_port(address.port());
    v1::Backend ignored;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    return replica(i).stub->AddBackend(&ctx, r, out ? out : &ignored);
  }

  grpc::Status update(int i, const v1::UpdateBackendRequest& r) {
    v1::Backend out;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    return replica(i).stub->UpdateBackend(&ctx, r, &out);
  }

  v1::Registry registry(int i) {
    v1::Registry out;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    EXPECT_TRUE(replica(i).stub->GetRegistry(&ctx, v1::GetRegistryRequest(), &out).ok());
    return out;
  }

  test::TempDir dir_;
  test::TestEtcdCluster etcd_{dir_.path(), 3};
  uint16_t backend_port_ = test::free_port();
  test::TestBackend one_{"one", test::BackendMode::kEcho, "127.0.0.2", backend_port_};
  test::TestBackend two_{"two", test::BackendMode::kEcho, "127.0.0.3", backend_port_};
  test::TestBackend three_{"three", test::BackendMode::kEcho, "127.0.0.4", backend_port_};
  test::TestBackend four_{"four", test::BackendMode::kEcho, "127.0.0.5", backend_port_};
  test::TestBackend five_{"five", test::BackendMode::kEcho, "127.0.0.6", backend_port_};
  std::array<Replica, kReplicas> replicas_;
};

TEST_F(SharedRegistryTest, AChangeThroughAnyReplicaReachesTheOthers) {
  start_replicas({0, 1, 2}, "roundrobin");
  ASSERT_TRUE(agree(0));
  // gRPC through replica 0: the others run it within a second (the watch
  // delivers it; measured, and bounded generously for sanitizer builds).
  const auto before = std::chrono::steady_clock::now();
  grpc::Status s = add_backend(0, three_.address());
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(test::wait_until([&] { return id_of(1, three_.address()) && id_of(2, three_.address()); }, 5s));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
  RecordProperty("propagation_seconds", std::to_string(seconds));
  // REST through replica 1: drain one and two; traffic through replicas 1
  // and 2 reaches only the backend replica 0 registered.
  for (const auto& b : {one_.address(), two_.address()}) {
    auto r = test::http_request(replica(1).http, "POST",
                                "/api/v1/services/web/backends/" + std::to_string(id_of(1, b)) + "/drain");
    ASSERT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.status().message());
  }
  ASSERT_TRUE(agree(1));
  for (int i : {1, 2}) {
    for (int n = 0; n < 6; ++n) {
      auto who = test::who_serves(replica(i).lb());
      ASSERT_TRUE(who.ok()) << who.status().message();
      EXPECT_EQ(*who, "three") << "replica " << i;
    }
  }
  // Pen's control port on replica 2: server 2 (three) weight 7, everywhere.
  auto penctl = test::control_command(*SocketAddress::from_ip("127.0.0.1", replica(2).penctl_port),
                                      "server 2 weight 7\n");
  ASSERT_TRUE(penctl.ok()) << penctl.status().message();
  ASSERT_TRUE(test::wait_until([&] { return listing(0).count(three_.address().to_string() + " w7 p0 s0 BACKEND_STATE_UP"); }, 5s))
      << *listing(0).begin();
  // A replica dies: the others carry on, and still agree.
  stop_replica(0, SIGKILL);
  v1::UpdateBackendRequest enable;
  enable.set_service("web");
  enable.set_id(id_of(2, one_.address()));
  enable.set_enabled(true);
  s = update(2, enable);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(agree(1));
  EXPECT_EQ(registry(1).store(), "etcd");
  EXPECT_TRUE(registry(1).connected());
  EXPECT_EQ(test::scrape_metric(replica(1).http, "nib_registry_connected"), 1);
  EXPECT_GT(test::scrape_metric(replica(1).http, "nib_registry_writes_total"), 0);
}

TEST_F(SharedRegistryTest, EveryReplicaSendsAClientToTheSameBackend) {
  start_replicas({0, 1, 2}, "maglev");
  ASSERT_TRUE(add_backend(1, three_.address()).ok());
  ASSERT_TRUE(add_backend(2, four_.address()).ok());
  ASSERT_TRUE(add_backend(0, five_.address()).ok());
  ASSERT_TRUE(agree(0));
  // 1,000 client addresses, each through all three replicas, four threads.
  std::atomic<int> disagreements{0}, failures{0};
  std::map<std::string, int> per_backend;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int c = t; c < 1000; c += 4) {
        const std::string ip = "127.1." + std::to_string(c / 250) + "." + std::to_string(c % 250 + 1);
        std::set<std::string> seen;
        std::string first;
        for (int i = 0; i < kReplicas; ++i) {
          auto who = test::who_serves(replica(i).lb(), ip);
          if (!who.ok()) {
            ++failures;
            continue;
          }
          seen.insert(*who);
          first = *who;
        }
        if (seen.size() > 1) ++disagreements;
        std::lock_guard lock(mu);
        ++per_backend[first];
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(disagreements.load(), 0);
  EXPECT_EQ(per_backend.size(), 5u);  // every backend got clients
}

TEST_F(SharedRegistryTest, ConcurrentConflictingEditsAreNeverLost) {
  start_replicas({0, 1, 2}, "roundrobin");
  ASSERT_TRUE(agree(0));
  // 102 updates of one backend, each replica its own field (weight, prio,
  // soft_limit), 1..34 in order; 98 additions of new backends, spread over
  // the replicas. All at once: 200 edits, many on the same object.
  constexpr int kUpdates = 34, kAdds = 98;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < kReplicas; ++k) {
    threads.emplace_back([&, k] {
      const uint32_t id = id_of(k, one_.address());
      for (int v = 1; v <= kUpdates; ++v) {
        v1::UpdateBackendRequest r;
        r.set_service("web");
        r.set_id(id);
        if (k == 0) r.set_weight(static_cast<uint32_t>(v));
        if (k == 1) r.set_prio(static_cast<uint32_t>(v));
        if (k == 2) r.set_soft_limit(static_cast<uint32_t>(v));
        if (grpc::Status s = update(k, r); !s.ok()) {
          ADD_FAILURE() << "replica " << k << ": " << s.error_message();
          ++failed;
        }
      }
    });
    threads.emplace_back([&, k] {
      for (int n = k; n < kAdds; n += kReplicas) {
        auto address = *SocketAddress::from_ip("127.0.3." + std::to_string(n + 1), backend_port_);
        if (grpc::Status s = add_backend(k, address); !s.ok()) {
          ADD_FAILURE() << "replica " << k << ": " << s.error_message();
          ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  ASSERT_TRUE(agree(0));
  const auto rows = listing(0);
  EXPECT_EQ(rows.size(), static_cast<size_t>(2 + kAdds));
  EXPECT_EQ(rows.count(one_.address().to_string() + " w34 p34 s34 BACKEND_STATE_UP"), 1u) << *rows.begin();
  uint64_t conflicts = 0;
  for (int i = 0; i < kReplicas; ++i) conflicts += registry(i).conflicts();
  RecordProperty("conflicts_retried", std::to_string(conflicts));
}

TEST_F(SharedRegistryTest, EtcdOutagesCostChangesNeverTraffic) {
  // Replica 2 knows etcd member 2 only: its outage is replica 2's alone.
  replica(2).endpoints = etcd_.endpoint(2);
  start_replicas({0, 1, 2}, "roundrobin");
  ASSERT_TRUE(agree(0));
  // One member down: writes go on (the client moves to another member).
  etcd_.kill(0);
  grpc::Status s = add_backend(0, three_.address());
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(agree(0));
  ASSERT_TRUE(etcd_.restart(0).ok());
  // Replica 2's member down: it serves the last state, refuses changes,
  // says degraded.
  etcd_.kill(2);
  ASSERT_TRUE(test::wait_until([&] { return !registry(2).connected(); }, 30s));
  auto ready = test::http_request(replica(2).http, "GET", "/readyz");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 200);
  EXPECT_NE(ready->body.find("\"status\":\"degraded\""), std::string::npos) << ready->body;
  s = add_backend(2, four_.address());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(s.error_message().find("nothing changed"), std::string::npos) << s.error_message();
  EXPECT_TRUE(test::who_serves(replica(2).lb()).ok());
  // Meanwhile the others change things, and etcd compacts the history
  // replica 2 would resume from: on its return it reads everything again.
  ASSERT_TRUE(add_backend(1, five_.address()).ok());
  ASSERT_TRUE(add_backend(0, four_.address()).ok());
  ASSERT_TRUE(etcd_.compact().ok());
  const uint64_t resyncs = registry(2).resyncs();
  ASSERT_TRUE(etcd_.restart(2).ok());
  ASSERT_TRUE(agree(0, 30s));
  EXPECT_GT(registry(2).resyncs(), resyncs);
  EXPECT_TRUE(test::wait_until([&] { return registry(2).connected(); }, 10s));
  // Every member down: traffic goes on everywhere; writes fail clearly.
  for (int m = 0; m < 3; ++m) etcd_.kill(m);
  ASSERT_TRUE(test::wait_until([&] { return !registry(0).connected(); }, 30s));
  for (int i = 0; i < kReplicas; ++i) EXPECT_TRUE(test::who_serves(replica(i).lb()).ok()) << "replica " << i;
  v1::UpdateBackendRequest drain;
  drain.set_service("web");
  drain.set_id(id_of(0, one_.address()));
  drain.set_enabled(false);
  s = update(0, drain);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(s.error_message().find("etcd"), std::string::npos) << s.error_message();
  // Back: every replica reconnects, and changes flow again.
  ASSERT_TRUE(etcd_.restart_all().ok());
  ASSERT_TRUE(test::wait_until([&] {
    return registry(0).connected() && registry(1).connected() && registry(2).connected();
  }, 30s));
  s = update(1, [&] {
    v1::UpdateBackendRequest r = drain;
    r.set_id(id_of(1, one_.address()));
    return r;
  }());
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(agree(1));
}

TEST_F(SharedRegistryTest, RestartingEverythingLosesNothing) {
  start_replicas({0, 1, 2}, "roundrobin");
  ASSERT_TRUE(add_backend(0, three_.address()).ok());
  ASSERT_TRUE(add_backend(1, four_.address()).ok());
  auto drained = test::http_request(replica(2).http, "POST",
                                    "/api/v1/services/web/backends/" + std::to_string(id_of(2, two_.address())) +
                                        "/drain");
  ASSERT_TRUE(drained.ok() && drained->status == 200);
  auto pinned = test::http_request(replica(1).http, "PUT", "/api/v1/services/web/clients/127.9.0.0%2F16/pin",
                                   "{\"backend_id\": " + std::to_string(id_of(1, four_.address())) + "}");
  ASSERT_TRUE(pinned.ok() && pinned->status == 200) << (pinned.ok() ? pinned->body : "");
  auto acl = test::http_request(replica(0).http, "PUT", "/api/v1/services/web/acl",
                                "{\"entries\": [\"deny 127.8.0.0/16\"]}");
  ASSERT_TRUE(acl.ok() && acl->status == 200) << (acl.ok() ? acl->body : "");
  auto policy = test::http_request(replica(2).http, "PUT", "/api/v1/services/web/policy", "{\"stubborn\": true}");
  ASSERT_TRUE(policy.ok() && policy->status == 200) << (policy.ok() ? policy->body : "");
  ASSERT_TRUE(agree(0));
  const auto before = listing(0);
  for (int i = 0; i < kReplicas; ++i) stop_replica(i);
  for (int m = 0; m < 3; ++m) etcd_.kill(m);
  ASSERT_TRUE(etcd_.restart_all().ok());
  start_replicas({0, 1, 2}, "roundrobin");
  for (int i = 0; i < kReplicas; ++i) {
    EXPECT_EQ(listing(i), before) << "replica " << i;
    auto pins = test::http_request(replica(i).http, "GET", "/api/v1/services/web/pins");
    ASSERT_TRUE(pins.ok());
    EXPECT_NE(pins->body.find("127.9.0.0/16"), std::string::npos) << pins->body;
    auto got = test::http_request(replica(i).http, "GET", "/api/v1/services/web/acl");
    ASSERT_TRUE(got.ok());
    EXPECT_NE(got->body.find("deny 127.8.0.0/16"), std::string::npos) << got->body;
    auto p = test::http_request(replica(i).http, "GET", "/api/v1/services/web/policy");
    ASSERT_TRUE(p.ok());
    EXPECT_NE(p->body.find("\"stubborn\":true"), std::string::npos) << p->body;
    // The pin holds: a client of 127.9/16 reaches four through every replica.
    auto who = test::who_serves(replica(i).lb(), "127.9.0.1");
    ASSERT_TRUE(who.ok()) << who.status().message();
    EXPECT_EQ(*who, "four");
  }
  auto ctl = NibProcess::start_program(NIBCTL_BINARY, {"--addr", replica(1).grpc, "registry"});
  ASSERT_TRUE(ctl.ok());
  ASSERT_EQ((*ctl)->wait_exit(20s), 0);
  (void)(*ctl)->wait_output_closed(5s);
  EXPECT_NE((*ctl)->stdout_output().find("link             connected to 127.0.0.1:"), std::string::npos)
      << (*ctl)->output();
  auto shown = test::http_request(replica(0).http, "GET", "/api/v1/registry");
  ASSERT_TRUE(shown.ok());
  EXPECT_NE(shown->body.find("\"store\":\"etcd\""), std::string::npos) << shown->body;
  EXPECT_NE(shown->body.find("\"connected\":true"), std::string::npos) << shown->body;
}

}  // namespace
}  // namespace nib
