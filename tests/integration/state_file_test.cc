// --state with the real binary: changes made through the admin API outlive a
// restart (and a SIGKILL), an acknowledged change is on disk already, and a
// corrupt or unwritable state file stops nib with exit 2 before anything is
// bound or rewritten.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include "nib/admin/v1/admin.grpc.pb.h"
#include "tests/support/nib_process.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"
#include "tests/support/prerequisites.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NibProcess;
namespace v1 = admin::v1;

class StateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NIB_REQUIRE(test::nib_binary_exists(), "nib not built");
    state_ = dir_.file("nib.state");
  }

  std::vector<std::string> args() {
    if (!config_.empty()) {
      return {"-p", dir_.file("nib.pid"), "--admin-grpc", admin_addr_, "--admin-http", http_addr_.to_string(),
              "--state", state_, "--config", config_};
    }
    return {"-f", "-p", dir_.file("nib.pid"), "--admin-grpc", admin_addr_, "--admin-http", http_addr_.to_string(),
            "--state", state_, "127.0.0.1:" + std::to_string(lb_port_),
            "127.0.0.1:" + std::to_string(b0_.port()), "127.0.0.1:" + std::to_string(b1_.port())};
  }

  void start_nib() {
    ::unlink(dir_.file("nib.pid").c_str());
    auto p = NibProcess::start(args());
    ASSERT_TRUE(p.ok()) << p.status().message();
    nib_ = std::move(*p);
    bool up = test::wait_until([&] { return test::read_file(dir_.file("nib.pid")).ok() || !nib_->running(); }, 10s);
    ASSERT_TRUE(up && nib_->running()) << nib_->output();
    // A channel of its own: gRPC shares connections between channels to the
    // same address, and one to the killed nib would fail the first call.
    grpc::ChannelArguments channel_args;
    channel_args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stub_ = v1::Admin::NewStub(
        grpc::CreateCustomChannel(admin_addr_, grpc::InsecureChannelCredentials(), channel_args));
  }

  std::unique_ptr<grpc::ClientContext> ctx() {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + 5s);
    return c;
  }

  v1::ListBackendsResponse list() {
    v1::ListBackendsResponse out;
    auto c = ctx();
    grpc::Status s = stub_->ListBackends(c.get(), v1::ListBackendsRequest(), &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  // Adds b2 and drains the first backend; both are on disk once acknowledged.
  void change_things() {
    v1::AddBackendRequest add;
    add.set_address("127.0.0.1");
    add.set_port(b2_.port());
    add.set_weight(4);
    v1::Backend added;
    auto c1 = ctx();
    ASSERT_TRUE(stub_->AddBackend(c1.get(), add, &added).ok());
    v1::DrainBackendRequest drain;
    drain.set_id(list().backends(0).id());
    v1::Backend drained;
    auto c2 = ctx();
    ASSERT_TRUE(stub_->DrainBackend(c2.get(), drain, &drained).ok());
    auto text = test::read_file(state_);
    ASSERT_TRUE(text.ok());
    EXPECT_NE(text->find(std::to_string(b2_.port())), std::string::npos) << *text;
    EXPECT_NE(text->find("draining"), std::string::npos) << *text;
  }

  void expect_restored() {
    auto backends = list();
    ASSERT_EQ(backends.backends_size(), 3) << backends.DebugString();
    EXPECT_EQ(backends.backends(0).port(), b0_.port());
    EXPECT_EQ(backends.backends(0).state(), v1::BACKEND_STATE_DRAINING) << backends.DebugString();
    EXPECT_EQ(backends.backends(2).port(), b2_.port());
    EXPECT_EQ(backends.backends(2).weight(), 4u);
  }

  // A YAML file for the service instead of Pen's command line.
  // With `emergency`, b1 is also the emergency server.
  std::string yaml(double idle_timeout, bool emergency = false) {
    return "services:\n  - name: lb\n    listen: 127.0.0.1:" + std::to_string(lb_port_) +
           "\n    idle_timeout: " + std::to_string(idle_timeout) +
           (emergency ? "\n    emergency: 127.0.0.1:" + std::to_string(b1_.port()) : std::string()) +
           "\n    backends:\n      - 127.0.0.1:" + std::to_string(b0_.port()) + "\n      - 127.0.0.1:" +
           std::to_string(b1_.port()) + "\n";
  }
  v1::Service service() {
    v1::ListServicesResponse out;
    auto c = ctx();
    EXPECT_TRUE(stub_->ListServices(c.get(), v1::ListServicesRequest(), &out).ok());
    return out.services_size() == 1 ? out.services(0) : v1::Service();
  }

  test::TempDir dir_;
  std::string config_;  // set: start with --config
  std::string state_;
  test::TestBackend b0_{"b0"}, b1_{"b1"}, b2_{"b2"};
  uint16_t lb_port_ = test::free_port();
  std::string admin_addr_ = "127.0.0.1:" + std::to_string(test::free_port());
  SocketAddress http_addr_ = *SocketAddress::from_ip("127.0.0.1", test::free_port());
  std::unique_ptr<NibProcess> nib_;
  std::unique_ptr<v1::Admin::Stub> stub_;
};

TEST_F(StateFileTest, ChangesSurviveARestart) {
  start_nib();
  change_things();
  ASSERT_TRUE(nib_->signal(SIGTERM).ok());
  ASSERT_EQ(nib_->wait_exit(20s).value_or(-99), 0) << nib_->output();
  start_nib();
  expect_restored();
  EXPECT_NE(nib_->output().find("restored runtime state"), std::string::npos) << nib_->output();
}

TEST_F(StateFileTest, ChangesSurviveSigkill) {
  start_nib();
  change_things();
  ASSERT_TRUE(nib_->signal(SIGKILL).ok());
  nib_->wait_exit(10s);
  start_nib();
  expect_restored();
}

// The idle timeout is policy (like the connect timeout and max connections):
// with --state the runtime value is kept, as the mode is.
TEST_F(StateFileTest, AReloadKeepsTheRuntimeBackendsAndAppliesTheRestOfTheFile) {
  config_ = dir_.write_file("nib.yaml", yaml(0));
  start_nib();
  change_things();
  ASSERT_TRUE(test::write_file(config_, yaml(30, /*emergency=*/true)).ok());
  ASSERT_TRUE(nib_->signal(SIGHUP).ok());
  ASSERT_TRUE(test::wait_until([&] { return service().has_emergency(); })) << nib_->output();
  EXPECT_EQ(service().emergency().port(), b1_.port());
  EXPECT_EQ(service().idle_timeout_seconds(), 0) << "the runtime policy, kept in --state";
  expect_restored();  // the API's backends and drain, not the file's list
  // nib logs the reload after applying it: wait for the line, not only the effect.
  EXPECT_TRUE(test::wait_until([&] { return nib_->output().find("kept the runtime backends") != std::string::npos; }))
      << nib_->output();
}

// A client ACL set through the API is saved, kept by a reload (as the
// runtime backends are) and put back by a restart.
TEST_F(StateFileTest, TheClientAclSurvivesAReloadAndARestart) {
  config_ = dir_.write_file("nib.yaml", yaml(0));
  start_nib();
  const SocketAddress lb = *SocketAddress::from_ip("127.0.0.1", lb_port_);
  v1::SetClientAclRequest set;
  set.add_entries("deny 127.0.0.5");
  v1::ClientAcl acl;
  auto c = ctx();
  ASSERT_TRUE(stub_->SetClientAcl(c.get(), set, &acl).ok());
  EXPECT_FALSE(test::who_serves(lb, "127.0.0.5", 2s).ok());
  EXPECT_TRUE(test::who_serves(lb, "127.0.0.6").ok());
  auto entries = [&] {
    v1::ClientAcl now;
    auto cc = ctx();
    EXPECT_TRUE(stub_->GetClientAcl(cc.get(), v1::GetClientAclRequest(), &now).ok());
    return now.entries_size() == 1 ? now.entries(0) : now.DebugString();
  };
  ASSERT_TRUE(nib_->signal(SIGHUP).ok());
  ASSERT_TRUE(test::wait_until([&] { return nib_->output().find("reloaded") != std::string::npos; }))
      << nib_->output();
  EXPECT_EQ(entries(), "deny 127.0.0.5/32");
  ASSERT_TRUE(nib_->signal(SIGTERM).ok());
  ASSERT_EQ(nib_->wait_exit(20s).value_or(-99), 0) << nib_->output();
  start_nib();
  EXPECT_EQ(entries(), "deny 127.0.0.5/32");
  EXPECT_FALSE(test::who_serves(lb, "127.0.0.5", 2s).ok());
  EXPECT_TRUE(test::who_serves(lb, "127.0.0.6").ok());
}

TEST_F(StateFileTest, CorruptStateFileStopsNibAndIsLeftAlone) {
  const std::string corrupt = "nib-state 1\nservice lb\nbackend nonsense\n";
  ASSERT_TRUE(test::write_file(state_, corrupt).ok());
  auto r = test::run_nib(args());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(state_ + ":3:"), std::string::npos) << r.output;
  auto text = test::read_file(state_);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, corrupt);
  EXPECT_FALSE(test::read_file(dir_.file("nib.pid")).ok()) << "nib never got as far as running";
}

// Hardening issue, finding 12: the reader applies the API's rules. A file with a
// backend twice or a port 0 stops nib, naming the line, and is left alone.
TEST_F(StateFileTest, AStateFileTheApiWouldRefuseStopsNibWithTheLine) {
  const std::string b0 = "backend 127.0.0.1:" + std::to_string(b0_.port()) + " - 1 0 0 0 enabled\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"nib-state 1\nservice default\n" + b0 + b0 + "end\n", ":4: backend 127.0.0.1:" +
                                                                   std::to_string(b0_.port()) + ": listed twice"},
      {"nib-state 1\nservice default\nbackend 127.0.0.1:0 - 1 0 0 0 enabled\nend\n",
       ":3: backend 127.0.0.1:0: backend address must be an IP address with a port 1-65535"},
  };
  for (const auto& [text, message] : cases) {
    ASSERT_TRUE(test::write_file(state_, text).ok());
    auto r = test::run_nib(args());
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(state_ + message), std::string::npos) << r.output;
    EXPECT_EQ(*test::read_file(state_), text);
    EXPECT_FALSE(test::read_file(dir_.file("nib.pid")).ok()) << "nib never got as far as running";
  }
}

// Finding 7: an unwritable --state path was accepted and every change lost.
TEST_F(StateFileTest, AnUnwritableStatePathStopsTheStart) {
  state_ = dir_.file("no-such-dir/nib.state");
  auto r = test::run_nib(args());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("cannot start: state file " + state_ + ": cannot create " + state_ +
                          ".tmp: No such file or directory (ENOENT)"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(test::read_file(dir_.file("nib.pid")).ok());
}

// A save that fails later: 503 with the reason, /readyz not ready, and both
// recover with the next successful save.
TEST_F(StateFileTest, AFailedSaveAnswers503AndTurnsReadyzNotReadyUntilASaveSucceeds) {
  start_nib();
  auto ready = test::http_request(http_addr_, "GET", "/readyz");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 200) << ready->body;
  ASSERT_EQ(::mkdir((state_ + ".tmp").c_str(), 0700), 0);  // writes fail from now on
  const std::string add = R"({"address": "127.0.0.1", "port": )" + std::to_string(b2_.port()) + "}";
  auto added = test::http_request(http_addr_, "POST", "/api/v1/backends", add);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->status, 503) << added->body;
  EXPECT_NE(added->body.find("the change is applied but not saved"), std::string::npos) << added->body;
  EXPECT_NE(added->body.find(state_ + ".tmp: Is a directory (EISDIR)"), std::string::npos) << added->body;
  ready = test::http_request(http_addr_, "GET", "/readyz");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 503) << ready->body;
  EXPECT_NE(ready->body.find("state file " + state_ + ": cannot create"), std::string::npos) << ready->body;

  ASSERT_EQ(::rmdir((state_ + ".tmp").c_str()), 0);
  v1::SetPolicyRequest policy;
  policy.set_stubborn(true);
  v1::Policy out;
  auto c = ctx();
  grpc::Status s = stub_->SetPolicy(c.get(), policy, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ready = test::http_request(http_addr_, "GET", "/readyz");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 200) << ready->body;
  ASSERT_TRUE(nib_->signal(SIGKILL).ok());
  nib_->wait_exit(10s);
  start_nib();
  EXPECT_EQ(list().backends_size(), 3) << "the add that answered 503 was saved by the later write\n" << nib_->output();
}

// `nib --check` fails where the start would: the state file, the token file,
// the TLS files.
TEST_F(StateFileTest, CheckFailsWhereTheStartWould) {
  auto check = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = args();
    a.insert(a.begin(), "--check");
    a.insert(a.end() - 3, extra.begin(), extra.end());  // options before the Pen-style operands
    return test::run_nib(a);
  };
  auto ok = check({});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  ASSERT_TRUE(test::write_file(state_, "nib-state 1\nservice default\nbackend 127.0.0.1:0 - 1 0 0 0 enabled\n"
                                       "end\n").ok());
  auto r = check({});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(state_ + ":3: backend 127.0.0.1:0"), std::string::npos) << r.output;
  ::unlink(state_.c_str());
  r = check({"--admin-token-file", dir_.file("no-tokens")});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(dir_.file("no-tokens")), std::string::npos) << r.output;
  r = check({"--admin-tls-cert", dir_.file("no-cert.pem"), "--admin-tls-key", dir_.file("no-key.pem")});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("admin TLS: cannot read the certificate file " + dir_.file("no-cert.pem")),
            std::string::npos)
      << r.output;
  state_ = dir_.file("no-such-dir/nib.state");
  r = check({});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("No such file or directory (ENOENT)"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace nib
