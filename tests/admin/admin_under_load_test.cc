// The admin APIs while clients connect without pause: what an operator does
// through REST and gRPC (add, drain, remove, tune) costs no client its
// connection. The concurrency test also runs under ThreadSanitizer
// (NIB_TSAN=ON build: see docs in README "Tests").
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/admin/admin_core_holder.h"
#include "admin/grpc/grpc_admin_server.h"
#include "dataplane/base/log.h"
#include "nib/admin/v1/admin.grpc.pb.h"
#include "tests/admin/http_admin_fixture.h"

namespace nib::admin::test {
namespace {

using namespace std::chrono_literals;

// Clients from a rotating set of addresses: each visit reads the backend's
// greeting, sends a line, reads its echo and closes. Anything else is a failure.
class Traffic {
 public:
  Traffic(SocketAddress lb, int threads) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, lb, t] {
        for (int i = 0; !stop_.load(); ++i) visit(lb, "127.0." + std::to_string(1 + t) + "." + std::to_string(1 + i % 200));
      });
    }
  }
  ~Traffic() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int visits() const { return visits_.load(); }
  int failures() const { return failures_.load(); }
  // Waits until `n` more visits completed (bounded).
  bool wait_visits(int n) {
    int target = visits() + n;
    return nib::test::wait_until([&] { return visits() >= target; }, 30s);
  }

 private:
  void visit(const SocketAddress& lb, const std::string& ip) {
    bool ok = false;
    if (auto c = TestClient::connect(lb, ip); c.ok()) {
      auto greeting = c->read_line();
      ok = greeting.ok() && c->write_all("ping\n").ok();
      if (ok) {
        auto echo = c->read_line();
        ok = echo.ok() && *echo == "ping";
      }
    }
    if (!ok) failures_.fetch_add(1);
    visits_.fetch_add(1);
  }

  std::atomic<bool> stop_{false};
  std::atomic<int> visits_{0}, failures_{0};
  std::vector<std::thread> threads_;
};

class AdminUnderLoadTest : public HttpAdminFixture {
 protected:
  void SetUp() override {
    HttpAdminFixture::SetUp();
    add_backends(2);
    start();
    grpc_ = std::make_unique<GrpcAdminServer>(core_.get(*dp_), GrpcAdminServerOptions{.listen = "127.0.0.1:0"});
    ASSERT_TRUE(grpc_->start().ok());
    stub_ = v1::Admin::NewStub(grpc::CreateChannel(grpc_->address(), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (grpc_) grpc_->stop(0s);
    grpc_.reset();
    HttpAdminFixture::TearDown();
  }
  static std::unique_ptr<grpc::ClientContext> ctx() {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + 10s);
    return c;
  }
  json::Value backend(uint32_t id) { return get("/api/v1/backends/" + std::to_string(id)).json; }

  AdminCoreHolder core_;  // before the server: outlives it
  std::unique_ptr<GrpcAdminServer> grpc_;
  std::unique_ptr<v1::Admin::Stub> stub_;
};

TEST_F(AdminUnderLoadTest, AddDrainAndRemoveThroughTheApisFailNoClient) {
  const uint32_t b0 = backend_id(0), b1 = backend_id(1);
  // A client of b0 that stays connected through its drain.
  auto held = TestClient::connect(lb_, "127.0.9.1");
  ASSERT_TRUE(held.ok());
  auto held_name = held->read_line();
  ASSERT_TRUE(held_name.ok());
  const uint32_t held_id = *held_name == "b0" ? b0 : b1;

  Traffic traffic(lb_, 3);
  ASSERT_TRUE(traffic.wait_visits(50));

  // Add (REST): new clients reach the new backend.
  backends_.push_back(std::make_unique<TestBackend>("b2"));
  Reply added = post("/api/v1/backends",
                     R"({"address": "127.0.0.1", "port": )" + std::to_string(backends_[2]->port()) + "}");
  ASSERT_EQ(added.status, 201) << added.body;
  EXPECT_TRUE(nib::test::wait_until([&] { return backends_[2]->accepted() > 10; }, 30s));

  // Drain (REST) the held client's backend: the held connection goes on, no
  // new client reaches it, and the drain finishes when the held one closes.
  Reply drained = post("/api/v1/backends/" + std::to_string(held_id) + "/drain");
  ASSERT_EQ(drained.status, 200) << drained.body;
  TestBackend& held_backend = *backends_[held_id == b0 ? 0 : 1];
  // Visits chosen just before the drain may still land; each traffic thread
  // finishes its visit in flight long before 30 more complete.
  ASSERT_TRUE(traffic.wait_visits(30));
  const uint64_t accepted_at_drain = held_backend.accepted();
  ASSERT_TRUE(traffic.wait_visits(100));
  EXPECT_EQ(held_backend.accepted(), accepted_at_drain) << "a draining backend got a new client";
  ASSERT_TRUE(held->write_all("still here\n").ok());
  auto echoed = held->read_line();
  EXPECT_TRUE(echoed.ok() && *echoed == "still here");
  EXPECT_EQ(backend(held_id).find("state")->as_string(), "draining");
  held->close();
  EXPECT_TRUE(nib::test::wait_until([&] { return backend(held_id).find("drain_finished")->as_bool(); }));

  // Remove (gRPC) the other original backend while it serves.
  const uint32_t other = held_id == b0 ? b1 : b0;
  v1::RemoveBackendRequest rm;
  rm.set_id(other);
  v1::RemoveBackendResponse removed;
  grpc::Status s = stub_->RemoveBackend(ctx().get(), rm, &removed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const uint64_t b2_before = backends_[2]->accepted();
  ASSERT_TRUE(traffic.wait_visits(100));
  EXPECT_GE(backends_[2]->accepted(), b2_before + 90) << "new clients go to the one backend left (a few chose before)";

  traffic.stop();
  EXPECT_EQ(traffic.failures(), 0) << "of " << traffic.visits() << " client connections";
  RecordProperty("client_connections", traffic.visits());
}

// Several admin clients, REST and gRPC, read and change everything while
// clients connect: answers stay well-formed, nothing crashes, no client fails
// while b0 (never touched) is up. Clean under ThreadSanitizer.
TEST_F(AdminUnderLoadTest, ConcurrentAdminCallsDuringTraffic) {
  struct QuietLog {
    QuietLog() { Log::set_level(LogLevel::kWarn); }
    ~QuietLog() { Log::set_level(LogLevel::kInfo); }
  } quiet;
  const uint32_t b1 = backend_id(1);
  backends_.push_back(std::make_unique<TestBackend>("spare"));
  const std::string spare = R"({"address": "127.0.0.1", "port": )" + std::to_string(backends_[2]->port()) + "}";
  Traffic traffic(lb_, 2);
  std::atomic<int> bad{0};
  auto expect = [&](bool ok, const std::string& what) {
    if (!ok) {
      bad.fetch_add(1);
      ADD_FAILURE() << what;
    }
  };
  constexpr int kRounds = 30;
  std::vector<std::thread> admins;
  admins.emplace_back([&] {  // REST readers
    for (int r = 0; r < kRounds; ++r) {
      for (const char* path : {"/api/v1/backends", "/api/v1/stats", "/metrics", "/api/v1/clients?limit=20",
                               "/stats.html", "/readyz"}) {
        Reply reply = get(path);
        expect(reply.status == 200, std::string(path) + ": " + std::to_string(reply.status));
      }
    }
  });
  admins.emplace_back([&] {  // REST writers: a spare backend in and out, b1 tuned
    for (int r = 0; r < kRounds; ++r) {
      Reply added = post("/api/v1/backends", spare);
      expect(added.status == 201, "add: " + added.body);
      if (added.status != 201) continue;
      std::string id = std::to_string(added.json.find("id")->as_uint64());
      expect(patch("/api/v1/backends/" + id, R"({"weight": 3})").status == 200, "patch");
      expect(post("/api/v1/backends/" + id + "/drain").status == 200, "drain");
      expect(del("/api/v1/backends/" + id).status == 204, "delete");
      Reply tuned = patch("/api/v1/backends/" + std::to_string(b1), r % 2 ? R"({"enabled": false})" : R"({"enabled": true, "weight": 2})");
      expect(tuned.status == 200, "tune b1: " + tuned.body);
    }
  });
  admins.emplace_back([&] {  // gRPC: stats, policy, pins, migrations
    for (int r = 0; r < kRounds; ++r) {
      v1::Stats stats;
      expect(stub_->GetStats(ctx().get(), v1::GetStatsRequest(), &stats).ok(), "GetStats");
      v1::SetPolicyRequest policy;
      policy.set_table_size(r % 2 ? 64 : 2048);
      policy.set_stubborn(false);
      v1::Policy set;
      expect(stub_->SetPolicy(ctx().get(), policy, &set).ok(), "SetPolicy");
      v1::PinClientRequest pin;
      pin.set_prefix("127.0.9.0/24");
      pin.set_backend_id(b1);
      v1::PinClientResponse pinned;
      (void)stub_->PinClient(ctx().get(), pin, &pinned);
      v1::UnpinClientRequest unpin;
      unpin.set_prefix("127.0.9.0/24");
      v1::UnpinClientResponse unpinned;
      (void)stub_->UnpinClient(ctx().get(), unpin, &unpinned);
      v1::ListClientsRequest clients;
      clients.set_page_size(50);
      v1::ListClientsResponse listed;
      expect(stub_->ListClients(ctx().get(), clients, &listed).ok(), "ListClients");
    }
  });
  for (auto& t : admins) t.join();
  traffic.stop();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(traffic.failures(), 0) << "of " << traffic.visits() << " client connections";
  EXPECT_GT(traffic.visits(), 0);
}

}  // namespace
}  // namespace nib::admin::test
