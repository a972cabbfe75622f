// nib.admin.v1.Admin end to end: an in-process Dataplane in front of real
// TestBackends, the GrpcAdminServer on an ephemeral port, and a real gRPC
// channel to it. Every RPC's happy path, each error code, and that a failed
// call changes nothing.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cmath>
#include <set>
#include <thread>

#include "admin/grpc/grpc_admin_server.h"
#include "admin/state/state_writer.h"
#include "dataplane/dataplane.h"
#include "dataplane/net/socket_ops.h"
#include "nib/admin/v1/admin.grpc.pb.h"
#include "tests/admin/admin_core_holder.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib::admin {
namespace {

using namespace std::chrono_literals;
using test::TestBackend;
using test::TestClient;

std::string client_ip(int n) { return "127.0.0." + std::to_string(10 + n); }

BackendConfig backend_config(const TestBackend& b) {
  BackendConfig c;
  c.address = b.address();
  c.host = "127.0.0.1";
  return c;
}

class GrpcAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) backends_.push_back(std::make_unique<TestBackend>("b" + std::to_string(i)));
    ServiceConfig service;
    service.name = "web";
    service.listen = *SocketAddress::parse("127.0.0.1:0");
    service.policy.connect_timeout_seconds = 2;
    for (const auto& b : backends_) service.backends.push_back(backend_config(*b));
    DataplaneConfig config;
    config.workers = 2;
    config.services = {service};
    config_ = config;
    start(config);
  }
  void TearDown() override {
    if (server_) server_->stop(0s);
    server_.reset();
    dp_.reset();
  }

  DataplaneConfig config_;  // as SetUp started it

  void start(const DataplaneConfig& config) {
    dp_ = std::make_unique<Dataplane>(config);
    Status st = dp_->start();
    ASSERT_TRUE(st.ok()) << st.message();
    server_ = std::make_unique<GrpcAdminServer>(core_.get(*dp_), GrpcAdminServerOptions{.listen = "127.0.0.1:0"});
    st = server_->start();
    ASSERT_TRUE(st.ok()) << st.message();
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Admin::NewStub(channel_);
  }

  // Deadlines keep a broken server from hanging the test.
  static std::unique_ptr<grpc::ClientContext> context(Duration timeout = 10s) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
    return ctx;
  }

  SocketAddress lb() const { return *dp_->bound_address("web"); }
  std::string who(int client) {
    auto name = test::who_serves(lb(), client_ip(client));
    return name.ok() ? *name : "closed";
  }
  std::pair<TestClient, std::string> hold(int client) {
    auto c = TestClient::connect(lb(), client_ip(client));
    EXPECT_TRUE(c.ok()) << c.status().message();
    auto line = c->read_line();
    return {std::move(*c), line.ok() ? *line : "closed"};
  }

  v1::ListBackendsResponse list_backends() {
    v1::ListBackendsResponse out;
    grpc::Status s = stub_->ListBackends(context().get(), v1::ListBackendsRequest(), &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }
  uint32_t id_of(int backend) { return list_backends().backends(backend).id(); }
  v1::Backend get_backend(uint32_t id) {
    v1::GetBackendRequest r;
    r.set_id(id);
    v1::Backend out;
    grpc::Status s = stub_->GetBackend(context().get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }
  v1::ListClientsResponse list_clients(std::optional<uint32_t> backend = std::nullopt) {
    v1::ListClientsRequest r;
    if (backend) r.set_backend_id(*backend);
    v1::ListClientsResponse out;
    grpc::Status s = stub_->ListClients(context().get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  // Everything an admin call may change, as comparable text: backends and
  // their settings, pins, clients and policy (not counters, which traffic moves).
  std::string state() {
    std::string out;
    auto backends = list_backends();  // the loop must not outlive the response
    for (const auto& b : backends.backends()) {
      out += std::to_string(b.id()) + " " + b.address() + ":" + std::to_string(b.port()) + " w" +
             std::to_string(b.weight()) + " p" + std::to_string(b.prio()) + " s" + std::to_string(b.soft_limit()) +
             " h" + std::to_string(b.hard_limit()) + " " + v1::BackendState_Name(b.state()) + "\n";
    }
    v1::ListPinsRequest pr;
    v1::ListPinsResponse pins;
    EXPECT_TRUE(stub_->ListPins(context().get(), pr, &pins).ok());
    for (const auto& p : pins.pins()) out += "pin " + p.prefix() + " -> " + std::to_string(p.backend_id()) + "\n";
    auto clients = list_clients();
    for (const auto& c : clients.clients()) {
      out += "client " + c.address() + " -> " + std::to_string(c.backend_id()) + "\n";
    }
    v1::Policy policy;
    EXPECT_TRUE(stub_->GetPolicy(context().get(), v1::GetPolicyRequest(), &policy).ok());
    out += "policy " + policy.ShortDebugString();
    return out;
  }

  std::vector<std::unique_ptr<TestBackend>> backends_;
  std::unique_ptr<Dataplane> dp_;
  AdminCoreHolder core_;  // before the server: outlives it
  std::unique_ptr<GrpcAdminServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Admin::Stub> stub_;
};

// Runs `call`, expects `code`, and checks that nothing changed.
#define EXPECT_REJECTED(call, code)                                               \
  do {                                                                            \
    std::string before = state();                                                 \
    grpc::Status status_ = (call);                                                \
    EXPECT_EQ(status_.error_code(), grpc::StatusCode::code) << status_.error_message(); \
    EXPECT_FALSE(status_.error_message().empty());                                \
    EXPECT_EQ(state(), before) << "a failed call changed something";              \
  } while (0)

TEST_F(GrpcAdminTest, ListServicesDescribesTheRunningService) {
  v1::ListServicesResponse out;
  ASSERT_TRUE(stub_->ListServices(context().get(), v1::ListServicesRequest(), &out).ok());
  ASSERT_EQ(out.services_size(), 1);
  const v1::Service& s = out.services(0);
  EXPECT_EQ(s.name(), "web");
  EXPECT_EQ(s.protocol(), v1::PROTOCOL_TCP);
  EXPECT_EQ(s.listen(), lb().to_string());
  EXPECT_EQ(s.backend_count(), 2u);
  EXPECT_EQ(s.policy().mode(), v1::BALANCE_MODE_AFFINITY);
  EXPECT_EQ(s.policy().table_size(), 2048u);
  EXPECT_DOUBLE_EQ(s.connect_timeout_seconds(), 2);
  EXPECT_FALSE(s.has_emergency());
}

TEST_F(GrpcAdminTest, ListAndGetBackends) {
  auto list = list_backends();
  ASSERT_EQ(list.backends_size(), 2);
  EXPECT_FALSE(list.has_emergency());
  for (int i = 0; i < 2; ++i) {
    const v1::Backend& b = list.backends(i);
    EXPECT_NE(b.id(), 0u);
    EXPECT_EQ(b.address(), "127.0.0.1");
    EXPECT_EQ(b.port(), backends_[i]->port());
    EXPECT_EQ(b.index(), i);
    EXPECT_EQ(b.weight(), 1u);
    EXPECT_EQ(b.state(), v1::BACKEND_STATE_UP);
  }
  EXPECT_NE(list.backends(0).id(), list.backends(1).id());

  EXPECT_EQ(who(1), "b0");
  // The relay counts the greeting's bytes just after sending it: the client
  // may read it a moment before the counter moves.
  v1::Backend b0;
  EXPECT_TRUE(test::wait_until([&] {
    b0 = get_backend(list.backends(0).id());
    return b0.bytes_out() > 0;
  }));
  EXPECT_EQ(b0.total_connections(), 1u);
  EXPECT_EQ(b0.remembered_clients(), 1u);
  // The listing counts them too, in one pass over the table.
  list = list_backends();
  EXPECT_EQ(list.backends(0).remembered_clients(), 1u);
  EXPECT_EQ(list.backends(1).remembered_clients(), 0u);
}

TEST_F(GrpcAdminTest, GetBackendErrors) {
  v1::GetBackendRequest r;
  v1::Backend out;
  r.set_id(9999);
  EXPECT_EQ(stub_->GetBackend(context().get(), r, &out).error_code(), grpc::StatusCode::NOT_FOUND);
  r.set_id(0);
  EXPECT_EQ(stub_->GetBackend(context().get(), r, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  r.set_id(id_of(0));
  r.set_service("nope");
  grpc::Status s = stub_->GetBackend(context().get(), r, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("nope"), std::string::npos) << s.error_message();
  r.set_service("web");
  EXPECT_TRUE(stub_->GetBackend(context().get(), r, &out).ok());
}

TEST_F(GrpcAdminTest, AddBackendTakesTrafficWithAFreshId) {
  TestBackend b2("b2");
  v1::AddBackendRequest r;
  r.set_address("127.0.0.1");
  r.set_port(b2.port());
  r.set_prio(3);
  v1::Backend added;
  grpc::Status s = stub_->AddBackend(context().get(), r, &added);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(added.port(), b2.port());
  EXPECT_EQ(added.weight(), 1u);  // the default
  EXPECT_EQ(added.prio(), 3u);
  EXPECT_EQ(added.state(), v1::BACKEND_STATE_UP);
  auto list = list_backends();
  ASSERT_EQ(list.backends_size(), 3);
  EXPECT_EQ(list.backends(2).id(), added.id());
  EXPECT_NE(added.id(), list.backends(0).id());
  EXPECT_NE(added.id(), list.backends(1).id());
  // Round-robin initial choice over three servers now (wherever the cursor stands).
  std::set<std::string> served;
  for (int client = 1; client <= 3; ++client) served.insert(who(client));
  EXPECT_EQ(served, (std::set<std::string>{"b0", "b1", "b2"}));
}

TEST_F(GrpcAdminTest, SetClientAclDecidesWhoIsServed) {
  v1::SetClientAclRequest r;
  r.add_entries("deny " + client_ip(1));
  r.add_entries("deny 10.0.0.0 255.0.255.0");  // Pen's dotted mask, shown as given
  v1::ClientAcl acl;
  grpc::Status s = stub_->SetClientAcl(context().get(), r, &acl);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(acl.entries_size(), 2);
  EXPECT_EQ(acl.entries(0), "deny " + client_ip(1) + "/32");
  EXPECT_EQ(acl.entries(1), "deny 10.0.0.0 255.0.255.0");
  EXPECT_EQ(who(1), "closed");
  EXPECT_NE(who(2), "closed") << "a list ending in deny lets the others in";
  v1::ClientAcl got;
  ASSERT_TRUE(stub_->GetClientAcl(context().get(), v1::GetClientAclRequest(), &got).ok());
  EXPECT_EQ(got.SerializeAsString(), acl.SerializeAsString());

  v1::SetClientAclRequest bad;
  bad.add_entries("deny 127.0.0.0/8");
  bad.add_entries("allow 10.0.0.1");
  s = stub_->SetClientAcl(context().get(), bad, &acl);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("entries[1]"), std::string::npos) << s.error_message();
  ASSERT_TRUE(stub_->GetClientAcl(context().get(), v1::GetClientAclRequest(), &got).ok());
  EXPECT_EQ(got.entries_size(), 2) << "a bad entry changes nothing";
  ASSERT_TRUE(stub_->SetClientAcl(context().get(), v1::SetClientAclRequest(), &acl).ok());
  EXPECT_EQ(acl.entries_size(), 0);
  EXPECT_NE(who(1), "closed") << "an empty list serves everyone";
}

TEST_F(GrpcAdminTest, AddBackendAcceptsIpv6Literals) {
  v1::AddBackendRequest r;
  r.set_address("[::1]");
  r.set_port(9);
  v1::Backend added;
  grpc::Status s = stub_->AddBackend(context().get(), r, &added);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(added.address(), "::1");
}

// The one DNS policy (admin/core/admin_api.h): a name is resolved once, at
// the call, as REST does; the backend keeps the address and shows the name.
TEST_F(GrpcAdminTest, AddBackendResolvesAHostNameOnce) {
  TestBackend extra("extra");
  v1::AddBackendRequest r;
  r.set_address("localhost");
  r.set_port(extra.port());
  v1::Backend added;
  grpc::Status s = stub_->AddBackend(context().get(), r, &added);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(added.host(), "localhost");
  EXPECT_TRUE(added.address() == "127.0.0.1" || added.address() == "::1") << added.address();
}

// As the REST test of the same name: concurrent SetPolicy calls, each with
// one field, never revert one another's acknowledged field.
TEST_F(GrpcAdminTest, ConcurrentPartialPolicyUpdatesKeepEveryAcknowledgedField) {
  for (int round = 1; round <= 200; ++round) {
    v1::SetPolicyRequest requests[3];
    requests[0].set_stubborn(round % 2 == 0);
    requests[1].set_tracking_seconds(round);
    requests[2].set_table_size(1000 + round);
    grpc::Status statuses[3];
    std::vector<std::thread> clients;
    for (int i = 0; i < 3; ++i) {
      clients.emplace_back([&, i] {
        v1::Policy out;
        statuses[i] = stub_->SetPolicy(context().get(), requests[i], &out);
      });
    }
    for (auto& t : clients) t.join();
    for (const auto& st : statuses) ASSERT_TRUE(st.ok()) << "round " << round << ": " << st.error_message();
    v1::Policy policy;
    ASSERT_TRUE(stub_->GetPolicy(context().get(), v1::GetPolicyRequest(), &policy).ok());
    ASSERT_EQ(policy.stubborn(), round % 2 == 0) << "round " << round;
    ASSERT_EQ(policy.tracking_seconds(), round) << "round " << round;
    ASSERT_EQ(policy.table_size(), 1000u + round) << "round " << round;
  }
}

TEST_F(GrpcAdminTest, AddBackendRejectsBadArguments) {
  auto add = [&](const std::string& address, uint32_t port, std::optional<uint32_t> weight = std::nullopt,
                 uint32_t soft = 0, const std::string& service = "") {
    v1::AddBackendRequest r;
    r.set_service(service);
    r.set_address(address);
    r.set_port(port);
    if (weight) r.set_weight(*weight);
    r.set_soft_limit(soft);
    v1::Backend out;
    return stub_->AddBackend(context().get(), r, &out);
  };
  EXPECT_REJECTED(add("not-an-ip", 80), INVALID_ARGUMENT);
  EXPECT_REJECTED(add("", 80), INVALID_ARGUMENT);
  EXPECT_REJECTED(add("127.0.0.1", 0), INVALID_ARGUMENT);
  EXPECT_REJECTED(add("127.0.0.1", 65536), INVALID_ARGUMENT);
  EXPECT_REJECTED(add("127.0.0.1", 80, 10'001), INVALID_ARGUMENT);
  EXPECT_REJECTED(add("127.0.0.1", 80, 1, 2'000'000), INVALID_ARGUMENT);
  EXPECT_REJECTED(add("127.0.0.1", backends_[0]->port()), ALREADY_EXISTS);
  EXPECT_REJECTED(add("127.0.0.1", 80, std::nullopt, 0, "nope"), NOT_FOUND);

  grpc::Status s = add("127.0.0.1", 70000);
  EXPECT_NE(s.error_message().find("port"), std::string::npos) << s.error_message();
  s = add("10.0.0.x", 80);
  EXPECT_NE(s.error_message().find("address"), std::string::npos) << s.error_message();
}

// Finding 5 of the hardening issue: text that would plant a record in the
// state file never gets in.
TEST_F(GrpcAdminTest, AddBackendRefusesControlBytesAndOverLongAddresses) {
  auto add = [&](const std::string& address) {
    v1::AddBackendRequest r;
    r.set_address(address);
    r.set_port(81);
    v1::Backend out;
    return stub_->AddBackend(context().get(), r, &out);
  };
  using namespace std::string_literals;
  EXPECT_REJECTED(add("127.0.0.1\0 evil\nservice x"s), INVALID_ARGUMENT);
  grpc::Status s = add("127.0.0.1\0 evil\nservice x"s);
  EXPECT_EQ(s.error_message(), "field \"address\": expected a host name or IP address, got "
                               "'127.0.0.1\\x00 evil\\x0aservice x' (control byte 0x00 at offset 9)");
  EXPECT_REJECTED(add("127.0.0.1\n"), INVALID_ARGUMENT);
  EXPECT_REJECTED(add(std::string(300, '1')), INVALID_ARGUMENT);
  EXPECT_NE(add(std::string(300, '1')).error_message().find("field \"address\": at most 253 bytes"), std::string::npos);
}

// With a state writer, OK means on disk; a failed save is UNAVAILABLE with
// the reason (the change itself is applied).
TEST_F(GrpcAdminTest, ChangesAreAcknowledgedOnlyOnceSaved) {
  test::TempDir dir;
  const std::string path = dir.file("nib.state");
  StateWriter writer(*dp_, path);
  writer.start();
  core_->set_state_writer(&writer);  // the core keeps each change before answering
  TestBackend b2("b2");
  v1::AddBackendRequest add;
  add.set_address("127.0.0.1");
  add.set_port(b2.port());
  v1::Backend added;
  grpc::Status s = stub_->AddBackend(context().get(), add, &added);
  ASSERT_TRUE(s.ok()) << s.error_message();
  auto text = test::read_file(path);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find(":" + std::to_string(b2.port()) + "\""), std::string::npos) << *text;

  ASSERT_EQ(::mkdir((path + ".tmp").c_str(), 0700), 0);  // writes fail from now on
  v1::RemoveBackendRequest remove;
  remove.set_id(added.id());
  v1::RemoveBackendResponse removed;
  s = stub_->RemoveBackend(context().get(), remove, &removed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("the change is applied but not saved"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("Is a directory (EISDIR)"), std::string::npos) << s.error_message();
  EXPECT_EQ(list_backends().backends_size(), 2) << "applied in memory";
  ASSERT_EQ(::rmdir((path + ".tmp").c_str()), 0);
  v1::SetPolicyRequest policy;
  policy.set_stubborn(true);
  v1::Policy out;
  s = stub_->SetPolicy(context().get(), policy, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  text = test::read_file(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->find(":" + std::to_string(b2.port()) + "\""), std::string::npos) << "the removal is saved too";
  EXPECT_NE(text->find("\"stubborn\": true"), std::string::npos) << *text;
  core_->set_state_writer(nullptr);
  writer.stop();
}

TEST_F(GrpcAdminTest, SetPolicySetsConnectionSettingsAndRejectsBadOnes) {
  v1::SetPolicyRequest r;
  r.set_connect_timeout_seconds(9);
  r.set_max_connections(20);
  r.set_pending_max(30);
  v1::Policy out;
  grpc::Status s = stub_->SetPolicy(context().get(), r, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_DOUBLE_EQ(out.connect_timeout_seconds(), 9);
  EXPECT_EQ(out.max_connections(), 20u);
  EXPECT_EQ(out.pending_max(), 30u);
  EXPECT_DOUBLE_EQ(out.idle_timeout_seconds(), 0) << "left out, kept";
  v1::SetPolicyRequest bad;
  bad.set_connect_timeout_seconds(3601);
  bad.set_max_connections(1);
  s = stub_->SetPolicy(context().get(), bad, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("connect_timeout_seconds"), std::string::npos) << s.error_message();
  v1::Policy now;
  ASSERT_TRUE(stub_->GetPolicy(context().get(), v1::GetPolicyRequest(), &now).ok());
  EXPECT_DOUBLE_EQ(now.connect_timeout_seconds(), 9) << "nothing changed";
  EXPECT_EQ(now.max_connections(), 20u);
  bad.Clear();
  bad.set_pending_max(10'000'001);
  s = stub_->SetPolicy(context().get(), bad, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("pending_max"), std::string::npos) << s.error_message();
  ASSERT_TRUE(stub_->GetPolicy(context().get(), v1::GetPolicyRequest(), &now).ok());
  EXPECT_EQ(now.pending_max(), 30u) << "nothing changed";
}

TEST_F(GrpcAdminTest, UpdateBackendChangesOnlyWhatIsSet) {
  uint32_t id = id_of(0);
  v1::UpdateBackendRequest r;
  r.set_id(id);
  r.set_weight(5);
  r.set_hard_limit(7);
  v1::Backend out;
  grpc::Status s = stub_->UpdateBackend(context().get(), r, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.id(), id);
  EXPECT_EQ(out.weight(), 5u);
  EXPECT_EQ(out.hard_limit(), 7u);
  EXPECT_EQ(out.prio(), 0u);
  EXPECT_EQ(get_backend(id).weight(), 5u);

  v1::UpdateBackendRequest disable;
  disable.set_id(id);
  disable.set_enabled(false);
  ASSERT_TRUE(stub_->UpdateBackend(context().get(), disable, &out).ok());
  EXPECT_EQ(out.state(), v1::BACKEND_STATE_DISABLED);
  EXPECT_EQ(out.weight(), 5u);
  EXPECT_EQ(who(1), "b1");  // out of rotation
  EXPECT_EQ(who(2), "b1");

  disable.set_enabled(true);
  ASSERT_TRUE(stub_->UpdateBackend(context().get(), disable, &out).ok());
  EXPECT_EQ(out.state(), v1::BACKEND_STATE_UP);
}

TEST_F(GrpcAdminTest, UpdateBackendSwitchesTcpFastOpen) {
  uint32_t id = id_of(0);
  EXPECT_FALSE(get_backend(id).tcp_fast_open()) << "off by default";
  v1::UpdateBackendRequest r;
  r.set_id(id);
  r.set_tcp_fast_open(true);
  v1::Backend out;
  grpc::Status s = stub_->UpdateBackend(context().get(), r, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(out.tcp_fast_open());
  EXPECT_EQ(out.weight(), 1u) << "nothing else changed";
  EXPECT_TRUE(get_backend(id).tcp_fast_open());
  EXPECT_EQ(who(1), "b0") << "still served";
  r.set_tcp_fast_open(false);
  ASSERT_TRUE(stub_->UpdateBackend(context().get(), r, &out).ok());
  EXPECT_FALSE(get_backend(id).tcp_fast_open());
}

TEST_F(GrpcAdminTest, UpdateBackendErrorsChangeNothing) {
  auto update = [&](uint32_t id, std::optional<uint32_t> weight, std::optional<uint32_t> prio = std::nullopt) {
    v1::UpdateBackendRequest r;
    r.set_id(id);
    if (weight) r.set_weight(*weight);
    if (prio) r.set_prio(*prio);
    v1::Backend out;
    return stub_->UpdateBackend(context().get(), r, &out);
  };
  uint32_t id = id_of(0);
  EXPECT_REJECTED(update(9999, 2), NOT_FOUND);
  EXPECT_REJECTED(update(0, 2), INVALID_ARGUMENT);
  EXPECT_REJECTED(update(id, 10'001), INVALID_ARGUMENT);
  EXPECT_REJECTED(update(id, 2, 2'000'000), INVALID_ARGUMENT);  // weight fine, prio not: neither applies
  EXPECT_REJECTED(update(id, std::nullopt), INVALID_ARGUMENT);  // nothing to update
}

TEST_F(GrpcAdminTest, RemoveBackend) {
  uint32_t id = id_of(0);
  v1::RemoveBackendRequest r;
  r.set_id(id);
  v1::RemoveBackendResponse out;
  grpc::Status s = stub_->RemoveBackend(context().get(), r, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  auto list = list_backends();
  ASSERT_EQ(list.backends_size(), 1);
  EXPECT_NE(list.backends(0).id(), id);
  v1::GetBackendRequest g;
  g.set_id(id);
  v1::Backend b;
  EXPECT_EQ(stub_->GetBackend(context().get(), g, &b).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(who(1), "b1");

  EXPECT_REJECTED(stub_->RemoveBackend(context().get(), r, &out), NOT_FOUND);  // already gone
  r.set_id(0);
  EXPECT_REJECTED(stub_->RemoveBackend(context().get(), r, &out), INVALID_ARGUMENT);
}

TEST_F(GrpcAdminTest, DrainKeepsOpenConnectionsAndReportsWhatStillPointsAtIt) {
  auto [held, name] = hold(1);
  ASSERT_EQ(name, "b0");
  uint32_t id = id_of(0);
  v1::DrainBackendRequest r;
  r.set_id(id);
  v1::Backend drained;
  grpc::Status s = stub_->DrainBackend(context().get(), r, &drained);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(drained.state(), v1::BACKEND_STATE_DRAINING);
  EXPECT_EQ(drained.active_connections(), 1);
  EXPECT_EQ(drained.remembered_clients(), 1u);
  EXPECT_FALSE(drained.drain_finished());
  EXPECT_NE(drained.state_reason().find("1 connection"), std::string::npos) << drained.state_reason();

  // The open connection still works; new clients go elsewhere.
  ASSERT_TRUE(held.write_all("ping\n").ok());
  EXPECT_EQ(*held.read_line(), "ping");
  EXPECT_EQ(who(2), "b1");
  EXPECT_EQ(who(3), "b1");

  held.close();
  ASSERT_TRUE(test::wait_until([&] { return get_backend(id).drain_finished(); }));
  EXPECT_EQ(get_backend(id).active_connections(), 0);

  r.set_id(9999);
  EXPECT_REJECTED(stub_->DrainBackend(context().get(), r, &drained), NOT_FOUND);
}

TEST_F(GrpcAdminTest, BackendHealthCarriesTheLastCheck) {
  TearDown();
  backends_[1]->stop();  // b1 is dead: its first check takes it down
  ServiceConfig service;
  service.name = "web";
  service.listen = *SocketAddress::parse("127.0.0.1:0");
  for (const auto& b : backends_) service.backends.push_back(backend_config(*b));
  HealthCheckConfig check;
  // Room for a loaded sanitizer build: a live backend's check that times out
  // would take it down and fail the test (it did once under ASan, with 0.4 s).
  check.interval_seconds = 2;
  check.timeout_seconds = 1.9;
  service.health_check = check;
  DataplaneConfig config;
  config.workers = 1;
  config.services = {service};
  start(config);
  const uint32_t up_id = id_of(0), down_id = id_of(1);
  ASSERT_TRUE(test::wait_until([&] { return !get_backend(down_id).health().healthy(); }, 15s));
  ASSERT_TRUE(test::wait_until([&] { return get_backend(up_id).health().has_last_check_time(); }, 15s));

  v1::BackendHealth down = get_backend(down_id).health();
  EXPECT_TRUE(down.checked());
  EXPECT_EQ(down.reason(), "first check failed: connect: Connection refused");
  ASSERT_TRUE(down.has_changed());
  EXPECT_GT(down.changed().seconds(), 1'600'000'000);
  EXPECT_FALSE(down.last_check_ok());
  EXPECT_EQ(down.last_check(), "connect: Connection refused");
  EXPECT_GE(down.last_check_ms(), 0);
  EXPECT_TRUE(down.has_last_check_time());
  EXPECT_EQ(down.transitions(), 1u);
  EXPECT_EQ(get_backend(down_id).state(), v1::BACKEND_STATE_DOWN);

  v1::BackendHealth up = get_backend(up_id).health();
  EXPECT_TRUE(up.checked());
  EXPECT_TRUE(up.healthy());
  EXPECT_FALSE(up.has_changed());  // never changed
  EXPECT_TRUE(up.last_check_ok());
  EXPECT_EQ(up.last_check(), "ok");
  EXPECT_EQ(up.transitions(), 0u);
  // ListBackends carries the same block.
  EXPECT_EQ(list_backends().backends(1).health().reason(), down.reason());
}

TEST_F(GrpcAdminTest, ADrainDeadlineClosesStragglers) {
  auto [held, name] = hold(1);
  ASSERT_EQ(name, "b0");
  uint32_t id = id_of(0);
  v1::DrainBackendRequest r;
  r.set_id(id);
  r.set_timeout_seconds(-1);
  v1::Backend drained;
  EXPECT_REJECTED(stub_->DrainBackend(context().get(), r, &drained), INVALID_ARGUMENT);
  EXPECT_EQ(get_backend(id).state(), v1::BACKEND_STATE_UP);  // nothing changed
  r.set_timeout_seconds(0.2);
  grpc::Status s = stub_->DrainBackend(context().get(), r, &drained);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(drained.active_connections(), 1);
  // The held connection idles: the deadline closes it and the drain finishes.
  ASSERT_TRUE(test::wait_until([&] { return get_backend(id).drain_finished(); }));
  auto rest = held.read_until_eof();
  EXPECT_TRUE(!rest.ok() || rest->empty());
}

TEST_F(GrpcAdminTest, ListClientsPagesAndFilters) {
  for (int i = 0; i < 5; ++i) who(i);  // 0,2,4 -> b0; 1,3 -> b1
  auto all = list_clients();
  EXPECT_EQ(all.clients_size(), 5);
  EXPECT_TRUE(all.next_page_token().empty());
  EXPECT_EQ(list_clients(id_of(0)).clients_size(), 3);
  EXPECT_EQ(list_clients(id_of(1)).clients_size(), 2);
  auto b1_clients = list_clients(id_of(1));
  for (const auto& c : b1_clients.clients()) {
    EXPECT_EQ(c.backend_id(), id_of(1));
    EXPECT_EQ(c.connects(), 1u);
    EXPECT_FALSE(c.pinned());
  }

  std::set<std::string> seen;
  v1::ListClientsRequest r;
  r.set_page_size(2);
  int pages = 0;
  do {
    v1::ListClientsResponse page;
    grpc::Status s = stub_->ListClients(context().get(), r, &page);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_LE(page.clients_size(), 2);
    for (const auto& c : page.clients()) seen.insert(c.address());
    r.set_page_token(page.next_page_token());
    ++pages;
  } while (!r.page_token().empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_TRUE(seen.contains(client_ip(0)));
}

TEST_F(GrpcAdminTest, ListClientsErrors) {
  auto call = [&](uint32_t size, const std::string& token, std::optional<uint32_t> backend) {
    v1::ListClientsRequest r;
    r.set_page_size(size);
    r.set_page_token(token);
    if (backend) r.set_backend_id(*backend);
    v1::ListClientsResponse out;
    return stub_->ListClients(context().get(), r, &out);
  };
  EXPECT_EQ(call(20'000, "", std::nullopt).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(call(10, "abc", std::nullopt).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(call(10, "", 9999).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(call(10, "", 0).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GrpcAdminTest, ForgetClientMakesItChooseAfresh) {
  EXPECT_EQ(who(1), "b0");
  v1::ForgetClientRequest r;
  r.set_address(client_ip(1));
  v1::ForgetClientResponse out;
  grpc::Status s = stub_->ForgetClient(context().get(), r, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(list_clients().clients_size(), 0);

  r.set_address("999.1.1.1");
  EXPECT_REJECTED(stub_->ForgetClient(context().get(), r, &out), INVALID_ARGUMENT);
  r.set_address("");
  EXPECT_REJECTED(stub_->ForgetClient(context().get(), r, &out), INVALID_ARGUMENT);
}

TEST_F(GrpcAdminTest, PinAndUnpinClients) {
  uint32_t b1 = id_of(1);
  v1::PinClientRequest pin;
  pin.set_prefix("127.0.0.0/24");
  pin.set_backend_id(b1);
  v1::PinClientResponse pinned;
  grpc::Status s = stub_->PinClient(context().get(), pin, &pinned);
  ASSERT_TRUE(s.ok()) << s.error_message();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(who(i), "b1") << i;  // round robin would have picked b0 for some

  v1::ListPinsResponse pins;
  ASSERT_TRUE(stub_->ListPins(context().get(), v1::ListPinsRequest(), &pins).ok());
  ASSERT_EQ(pins.pins_size(), 1);
  EXPECT_EQ(pins.pins(0).backend_id(), b1);
  EXPECT_NE(pins.pins(0).prefix().find("127.0.0.0"), std::string::npos) << pins.pins(0).prefix();
  auto clients = list_clients();
  for (const auto& c : clients.clients()) EXPECT_TRUE(c.pinned()) << c.address();

  v1::UnpinClientRequest unpin;
  unpin.set_prefix("127.0.0.0/24");
  v1::UnpinClientResponse unpinned;
  s = stub_->UnpinClient(context().get(), unpin, &unpinned);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(stub_->ListPins(context().get(), v1::ListPinsRequest(), &pins).ok());
  EXPECT_EQ(pins.pins_size(), 0);
}

TEST_F(GrpcAdminTest, PinErrorsChangeNothing) {
  v1::PinClientRequest pin;
  v1::PinClientResponse out;
  pin.set_prefix("127.0.0.0/33");
  pin.set_backend_id(id_of(0));
  EXPECT_REJECTED(stub_->PinClient(context().get(), pin, &out), INVALID_ARGUMENT);
  pin.set_prefix("not-an-ip");
  EXPECT_REJECTED(stub_->PinClient(context().get(), pin, &out), INVALID_ARGUMENT);
  pin.set_prefix("10.0.0.1");
  pin.set_backend_id(9999);
  EXPECT_REJECTED(stub_->PinClient(context().get(), pin, &out), NOT_FOUND);
  pin.set_backend_id(0);
  EXPECT_REJECTED(stub_->PinClient(context().get(), pin, &out), INVALID_ARGUMENT);

  v1::UnpinClientRequest unpin;
  v1::UnpinClientResponse unpinned;
  unpin.set_prefix("10.0.0.0/x");
  EXPECT_REJECTED(stub_->UnpinClient(context().get(), unpin, &unpinned), INVALID_ARGUMENT);
}

TEST_F(GrpcAdminTest, MigrateClientsMovesOrForgets) {
  for (int i = 0; i < 4; ++i) who(i);  // 0,2 -> b0; 1,3 -> b1
  uint32_t b0 = id_of(0), b1 = id_of(1);
  v1::MigrateClientsRequest r;
  r.set_from_backend_id(b0);
  r.set_to_backend_id(b1);
  v1::MigrateClientsResponse out;
  grpc::Status s = stub_->MigrateClients(context().get(), r, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.moved(), 2u);
  EXPECT_EQ(list_clients(b1).clients_size(), 4);
  EXPECT_EQ(who(0), "b1");  // remembered at its new server

  r.set_from_backend_id(b1);
  r.clear_to_backend_id();
  ASSERT_TRUE(stub_->MigrateClients(context().get(), r, &out).ok());
  EXPECT_EQ(out.moved(), 4u);
  EXPECT_EQ(list_clients().clients_size(), 0);

  who(5);
  r.set_from_backend_id(9999);
  EXPECT_REJECTED(stub_->MigrateClients(context().get(), r, &out), NOT_FOUND);
  r.set_from_backend_id(b0);
  r.set_to_backend_id(9999);
  EXPECT_REJECTED(stub_->MigrateClients(context().get(), r, &out), NOT_FOUND);
  r.set_to_backend_id(b0);
  EXPECT_REJECTED(stub_->MigrateClients(context().get(), r, &out), INVALID_ARGUMENT);
  r.set_from_backend_id(0);
  EXPECT_REJECTED(stub_->MigrateClients(context().get(), r, &out), INVALID_ARGUMENT);
}

TEST_F(GrpcAdminTest, GetStatsCountsTrafficAndAffinity) {
  EXPECT_EQ(who(1), "b0");
  EXPECT_EQ(who(1), "b0");
  EXPECT_EQ(who(2), "b1");
  v1::Stats stats;
  ASSERT_TRUE(test::wait_until([&] {
    stats.Clear();
    return stub_->GetStats(context().get(), v1::GetStatsRequest(), &stats).ok() && stats.active_connections() == 0;
  }));
  EXPECT_EQ(stats.service(), "web");
  EXPECT_EQ(stats.accepted(), 3u);
  EXPECT_EQ(stats.affinity().hits(), 1u);
  EXPECT_EQ(stats.affinity().misses(), 2u);
  EXPECT_EQ(stats.affinity().size(), 2u);
  EXPECT_EQ(stats.affinity().capacity(), 2048u);
  EXPECT_DOUBLE_EQ(stats.affinity().fill_ratio(), 2.0 / 2048);
  ASSERT_EQ(stats.backends_size(), 2);
  EXPECT_EQ(stats.backends(0).total_connections(), 2u);
  EXPECT_EQ(stats.backends(1).total_connections(), 1u);
  EXPECT_EQ(stats.backends(0).address(), backends_[0]->address().to_string());
  EXPECT_EQ(stats.backends(0).state(), v1::BACKEND_STATE_UP);
  const v1::LatencyHistogram& latency = stats.backends(0).connect_latency();
  EXPECT_EQ(latency.count(), 2u) << "one sample per established connect";
  ASSERT_EQ(latency.upper_bounds_seconds_size() + 1, latency.counts_size());
  uint64_t in_buckets = 0;
  for (uint64_t n : latency.counts()) in_buckets += n;
  EXPECT_EQ(in_buckets, 2u);
  EXPECT_FALSE(stats.has_udp()) << "a TCP service";

  v1::GetStatsRequest bad;
  bad.set_service("nope");
  EXPECT_EQ(stub_->GetStats(context().get(), bad, &stats).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcAdminTest, GetStatsOfAUdpServiceCountsSessionsAndDatagrams) {
  // A UDP backend answered by this thread: one question, one answer.
  UniqueFd backend(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  SocketAddress backend_addr = *SocketAddress::parse("127.0.0.1:0");
  ASSERT_EQ(::bind(backend.get(), backend_addr.sockaddr_ptr(), backend_addr.length()), 0);
  backend_addr = *local_address(backend.get());
  ServiceConfig udp;
  udp.name = "dns";
  udp.protocol = Protocol::kUdp;
  udp.listen = *SocketAddress::parse("127.0.0.1:0");
  udp.backends.push_back(BackendConfig{.host = "127.0.0.1", .address = backend_addr});
  DataplaneConfig config = config_;
  config.services.push_back(udp);
  TearDown();
  start(config);

  UniqueFd client(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  SocketAddress lb_udp = *dp_->bound_address("dns");
  ASSERT_EQ(::connect(client.get(), lb_udp.sockaddr_ptr(), lb_udp.length()), 0);
  timeval tv{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(backend.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(::send(client.get(), "question", 8, 0), 8);
    char buf[64];
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(backend.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    ASSERT_EQ(n, 8);
    ASSERT_EQ(::sendto(backend.get(), "answer", 6, 0, reinterpret_cast<sockaddr*>(&from), len), 6);
    ASSERT_EQ(::recv(client.get(), buf, sizeof buf, 0), 6);
  }

  v1::GetStatsRequest r;
  r.set_service("dns");
  v1::Stats stats;
  ASSERT_TRUE(test::wait_until([&] {
    stats.Clear();
    return stub_->GetStats(context().get(), r, &stats).ok() && stats.udp().datagrams_out() == 3;
  }));
  EXPECT_EQ(stats.udp().sessions(), 1u);
  EXPECT_EQ(stats.udp().sessions_opened(), 1u);
  EXPECT_EQ(stats.udp().datagrams_in(), 3u);
  EXPECT_EQ(stats.udp().bytes_in(), 24u);
  EXPECT_EQ(stats.udp().bytes_out(), 18u);
  EXPECT_EQ(stats.udp().drops_no_backend(), 0u);
  EXPECT_DOUBLE_EQ(stats.udp().session_timeout_seconds(), 60);
  ASSERT_EQ(stats.backends_size(), 1);
  EXPECT_EQ(stats.backends(0).datagrams_in(), 3u);
  EXPECT_EQ(stats.backends(0).datagrams_out(), 3u);
  EXPECT_FALSE(stats.backends(0).has_connect_latency()) << "no connects in UDP";
}

TEST_F(GrpcAdminTest, DownBackendIsReportedWithAReason) {
  backends_[0]->stop();
  EXPECT_EQ(who(1), "b1");  // failover; b0 is blacklisted
  v1::Backend b0 = get_backend(id_of(0));
  EXPECT_EQ(b0.state(), v1::BACKEND_STATE_DOWN);
  EXPECT_TRUE(b0.blacklisted());
  EXPECT_GT(b0.blacklist_remaining_seconds(), 0);
  EXPECT_NE(b0.state_reason().find("blacklisted"), std::string::npos) << b0.state_reason();
  EXPECT_EQ(b0.connect_failures(), 1u);
}

TEST_F(GrpcAdminTest, GetAndSetPolicy) {
  v1::SetPolicyRequest r;
  r.set_mode(v1::BALANCE_MODE_ROUND_ROBIN);
  r.set_table_size(100);
  r.set_tracking_seconds(60);
  v1::Policy out;
  grpc::Status s = stub_->SetPolicy(context().get(), r, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.mode(), v1::BALANCE_MODE_ROUND_ROBIN);
  EXPECT_EQ(out.table_size(), 100u);
  EXPECT_DOUBLE_EQ(out.tracking_seconds(), 60);
  EXPECT_DOUBLE_EQ(out.blacklist_seconds(), 30);  // unset: kept
  EXPECT_FALSE(out.stubborn());

  v1::Policy got;
  ASSERT_TRUE(stub_->GetPolicy(context().get(), v1::GetPolicyRequest(), &got).ok());
  EXPECT_EQ(got.ShortDebugString(), out.ShortDebugString());
  // Round robin: one client alternates.
  std::string first = who(1), second = who(1);
  EXPECT_NE(first, second);
}

TEST_F(GrpcAdminTest, SetPolicyErrorsChangeNothing) {
  auto set = [&](auto&& edit) {
    v1::SetPolicyRequest r;
    r.set_stubborn(true);  // valid, and must not be applied when another field is bad
    edit(r);
    v1::Policy out;
    return stub_->SetPolicy(context().get(), r, &out);
  };
  EXPECT_REJECTED(set([](v1::SetPolicyRequest& r) { r.set_table_size(0); }), INVALID_ARGUMENT);
  EXPECT_REJECTED(set([](v1::SetPolicyRequest& r) { r.set_table_size(200'000'000); }), INVALID_ARGUMENT);
  EXPECT_REJECTED(set([](v1::SetPolicyRequest& r) { r.set_tracking_seconds(-1); }), INVALID_ARGUMENT);
  EXPECT_REJECTED(set([](v1::SetPolicyRequest& r) { r.set_blacklist_seconds(std::nan("")); }), INVALID_ARGUMENT);
  EXPECT_REJECTED(set([](v1::SetPolicyRequest& r) { r.set_mode(v1::BALANCE_MODE_UNSPECIFIED); }),
                  INVALID_ARGUMENT);
  EXPECT_REJECTED(set([](v1::SetPolicyRequest& r) { r.set_mode(static_cast<v1::BalanceMode>(42)); }),
                  INVALID_ARGUMENT);
  EXPECT_REJECTED(set([](v1::SetPolicyRequest& r) { r.set_service("nope"); }), NOT_FOUND);
}

// Reads one event with a deadline-bounded stream; false when the stream ended.
bool next_event(grpc::ClientReader<v1::Event>* reader, v1::Event* event, v1::EventType skip = v1::EVENT_TYPE_UNSPECIFIED) {
  while (reader->Read(event)) {
    if (event->type() != skip) return true;
  }
  return false;
}

TEST_F(GrpcAdminTest, WatchEventsSeesAddRemoveAndDrainFinished) {
  auto ctx = context(20s);
  v1::WatchEventsRequest wr;
  auto reader = stub_->WatchEvents(ctx.get(), wr);
  reader->WaitForInitialMetadata();  // subscribed from here on

  TestBackend b2("b2");
  v1::AddBackendRequest add;
  add.set_address("127.0.0.1");
  add.set_port(b2.port());
  v1::Backend added;
  ASSERT_TRUE(stub_->AddBackend(context().get(), add, &added).ok());
  v1::Event e;
  ASSERT_TRUE(next_event(reader.get(), &e));
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_BACKEND_ADDED);
  EXPECT_EQ(e.backend_id(), added.id());
  EXPECT_EQ(e.service(), "web");
  EXPECT_GT(e.sequence(), 0u);
  EXPECT_GT(e.time().seconds(), 1'600'000'000);
  uint64_t sequence = e.sequence();

  v1::RemoveBackendRequest rm;
  rm.set_id(added.id());
  v1::RemoveBackendResponse removed;
  ASSERT_TRUE(stub_->RemoveBackend(context().get(), rm, &removed).ok());
  ASSERT_TRUE(next_event(reader.get(), &e));
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_BACKEND_REMOVED);
  EXPECT_EQ(e.backend_id(), added.id());
  EXPECT_GT(e.sequence(), sequence);

  auto [held, name] = hold(1);
  ASSERT_EQ(name, "b0");
  v1::DrainBackendRequest drain;
  drain.set_id(id_of(0));
  v1::Backend drained;
  ASSERT_TRUE(stub_->DrainBackend(context().get(), drain, &drained).ok());
  ASSERT_TRUE(next_event(reader.get(), &e));
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_DRAIN_STARTED);
  held.close();
  ASSERT_TRUE(next_event(reader.get(), &e));
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_DRAIN_FINISHED);
  EXPECT_EQ(e.backend_id(), drain.id());

  ctx->TryCancel();
  while (reader->Read(&e)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(GrpcAdminTest, WatchEventsFiltersByServiceAndRejectsUnknownOnes) {
  v1::WatchEventsRequest wr;
  wr.set_service("nope");
  auto ctx = context();
  auto reader = stub_->WatchEvents(ctx.get(), wr);
  v1::Event e;
  EXPECT_FALSE(reader->Read(&e));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);

  wr.set_service("web");
  auto ctx2 = context();
  auto reader2 = stub_->WatchEvents(ctx2.get(), wr);
  reader2->WaitForInitialMetadata();
  v1::SetPolicyRequest p;
  p.set_stubborn(true);
  v1::Policy out;
  ASSERT_TRUE(stub_->SetPolicy(context().get(), p, &out).ok());
  ASSERT_TRUE(next_event(reader2.get(), &e));
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_POLICY_CHANGED);
  ctx2->TryCancel();
}

TEST_F(GrpcAdminTest, StoppingTheServerEndsWatchStreams) {
  auto ctx = context();
  auto reader = stub_->WatchEvents(ctx.get(), v1::WatchEventsRequest());
  reader->WaitForInitialMetadata();
  auto started = std::chrono::steady_clock::now();
  server_->stop(5s);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s) << "stop waited for the stream";
  v1::Event e;
  while (reader->Read(&e)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GrpcAdminTest, ASecondServerOnTheSamePortFailsToStart) {
  GrpcAdminServer second(*core_, GrpcAdminServerOptions{.listen = server_->address()});
  Status st = second.start();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.message();
  EXPECT_NE(st.message().find(server_->address()), std::string::npos) << st.message();

  GrpcAdminServer bad(*core_, GrpcAdminServerOptions{.listen = "nowhere:port"});
  EXPECT_EQ(bad.start().code(), StatusCode::kInvalidArgument);
}

// ---- Two services: the service name becomes required.

class GrpcAdminTwoServicesTest : public GrpcAdminTest {
 protected:
  void SetUp() override {
    backends_.push_back(std::make_unique<TestBackend>("b0"));
    DataplaneConfig config;
    config.workers = 1;
    for (const char* name : {"web", "api"}) {
      ServiceConfig s;
      s.name = name;
      s.listen = *SocketAddress::parse("127.0.0.1:0");
      s.backends.push_back(backend_config(*backends_[0]));
      config.services.push_back(s);
    }
    start(config);
  }
};

TEST_F(GrpcAdminTwoServicesTest, EmptyServiceIsInvalidAndNamedOnesWork) {
  v1::ListBackendsResponse out;
  grpc::Status s = stub_->ListBackends(context().get(), v1::ListBackendsRequest(), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("api"), std::string::npos) << s.error_message();
  v1::ListBackendsRequest r;
  r.set_service("api");
  ASSERT_TRUE(stub_->ListBackends(context().get(), r, &out).ok());
  EXPECT_EQ(out.backends_size(), 1);
  v1::ListServicesResponse services;
  ASSERT_TRUE(stub_->ListServices(context().get(), v1::ListServicesRequest(), &services).ok());
  EXPECT_EQ(services.services_size(), 2);
}

}  // namespace
}  // namespace nib::admin
