// Pen's abuse server (-B) over real loopback sockets: clients the client ACL
// denies are relayed to it instead of being closed. client_ip(0) = 127.0.0.2
// (denied below), client_ip(1) = 127.0.0.3 (permitted).
#include <unistd.h>

#include <gtest/gtest.h>

#include "dataplane/dataplane.h"
#include "tests/support/dataplane_fixture.h"
#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"

namespace nib {
namespace {

using namespace std::chrono_literals;

class AbuseServerTest : public test::DataplaneFixture<> {
 protected:
  // `regular` backends b0.., then the abuse server b<regular>, and the ACL
  // that denies client 0.
  test::TestBackend& configure(int regular) {
    add_backends(regular);
    test::TestBackend& abuse = spare();
    service_.abuse = backend_config(abuse);
    service_.client_acl.add(*parse_access_entry("deny 127.0.0.2"));
    return abuse;
  }
  ServiceStatus status() { return dp_->status()[0]; }
};

TEST_F(AbuseServerTest, ADeniedClientReachesTheAbuseServerAndAPermittedOneABackend) {
  test::TestBackend& abuse = configure(1);
  start();
  EXPECT_EQ(who(0), "b1");
  EXPECT_EQ(who(1), "b0");
  EXPECT_EQ(who(0), "b1");
  EXPECT_EQ(abuse.accepted(), 2u);
  EXPECT_EQ(backends_[0]->accepted(), 1u);
  EXPECT_TRUE(test::wait_until([&] { return dp_->open_connections() == 0; }));
  ServiceStatus st = status();
  EXPECT_EQ(st.counters.abuse, 2u);
  EXPECT_EQ(st.counters.rejected_acl, 0u) << "counted as rejected only when closed";
  EXPECT_EQ(st.counters.accepted, 3u);
  // Not a regular backend's connection, and not remembered.
  EXPECT_EQ(st.backends[0].counters.connections, 1u);
  ASSERT_TRUE(st.abuse.has_value());
  EXPECT_EQ(st.abuse->address, abuse.address());
  EXPECT_EQ(st.abuse->counters.connections, 2u);
  auto clients = dp_->clients("test");
  ASSERT_EQ(clients.size(), 1u) << "only the permitted client is remembered";
  EXPECT_EQ(clients[0].client, *IpKey::parse("127.0.0.3"));
}

TEST_F(AbuseServerTest, TheDeniedClientsBytesGoBothWays) {
  configure(1);
  start();
  auto [client, name] = hold(0);
  ASSERT_EQ(name, "b1");
  ASSERT_TRUE(client.write_all("hello\n").ok());
  auto echoed = client.read_line();
  ASSERT_TRUE(echoed.ok()) << echoed.status().message();
  EXPECT_EQ(*echoed, "hello");
}

TEST_F(AbuseServerTest, AnAbuseServerThatIsDownClosesTheDeniedClientWithNoFailover) {
  test::TestBackend& abuse = configure(2);
  abuse.stop();
  start();
  EXPECT_EQ(who(0), "closed");
  EXPECT_EQ(who(0), "closed") << "blacklisted now: closed at once";
  EXPECT_EQ(backends_[0]->accepted() + backends_[1]->accepted(), 0u) << "no failover to a real backend";
  EXPECT_EQ(who(1), "b0");
  ServiceStatus st = status();
  EXPECT_EQ(st.counters.rejected_acl, 2u);
  EXPECT_EQ(st.counters.abuse, 0u);
  EXPECT_EQ(st.counters.rejected_no_backend, 0u) << "a denied client is not a missing backend";
  EXPECT_TRUE(st.backends[0].state == BackendState::kUp && !st.backends[0].blacklisted);
  EXPECT_EQ(dp_->clients("test").size(), 1u);
}

TEST_F(AbuseServerTest, WithoutAnAbuseServerTheDeniedClientIsClosedAsBefore) {
  add_backends(1);
  service_.client_acl.add(*parse_access_entry("deny 127.0.0.2"));
  start();
  EXPECT_EQ(who(0), "closed");
  EXPECT_EQ(status().counters.rejected_acl, 1u);
  EXPECT_FALSE(status().abuse.has_value());
}

TEST_F(AbuseServerTest, AReloadSetsAndRemovesIt) {
  add_backends(1);
  test::TestBackend& abuse = spare();
  service_.client_acl.add(*parse_access_entry("deny 127.0.0.2"));
  start();
  EXPECT_EQ(who(0), "closed");
  service_.abuse = backend_config(abuse);
  ASSERT_TRUE(dp_->reload(config()).ok());
  EXPECT_EQ(who(0), "b1");
  service_.abuse.reset();
  ASSERT_TRUE(dp_->reload(config()).ok());
  EXPECT_EQ(who(0), "closed");
  EXPECT_EQ(abuse.accepted(), 1u);
}

// The real binary with Pen's command line (-B, -C) and the client ACL set
// the way a pen user does, with Debian's penctl: "acl 1 deny 127.0.0.2",
// "client_acl 1".
class PenAbuseServerTest : public ::testing::Test {
 protected:
  static constexpr const char* kPenctl = "/usr/bin/penctl";
  void SetUp() override { NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built"); }
  static std::string at(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }
  // nib -f -d -C PORT `args`, ready once its pid file is written; then the
  // client ACL through the control port.
  std::unique_ptr<test::NibProcess> start(const std::string& name, std::vector<std::string> args) {
    std::string pid_file = dir_.file(name + ".pid");
    control_ = at(test::free_port());
    args.insert(args.begin(), {"-f", "-d", "-p", pid_file, "--allow-root-control", "-C", control_});
    auto nib = test::start_until_pid_file(args, pid_file);
    if (nib) {
      penctl({"acl", "1", "deny", "127.0.0.2"});
      penctl({"client_acl", "1"});
    }
    return nib;
  }
  void penctl(std::vector<std::string> args) {
    args.insert(args.begin(), control_);
    auto p = test::NibProcess::start_program(kPenctl, args);
    ASSERT_TRUE(p.ok()) << p.status().message();
    EXPECT_EQ((*p)->wait_exit(10s), 0) << args[1] << ": " << (*p)->output();
  }
  test::TempDir dir_;
  std::string control_;
};

TEST_F(PenAbuseServerTest, PensCommandLineSendsDeniedClientsToTheAbuseServer) {
  NIB_REQUIRE(::access(kPenctl, X_OK) == 0, "no /usr/bin/penctl (Debian's pen: scripts/install-deps.sh --test)");
  test::TestBackend b0("b0"), abuse("abuse");
  uint16_t port = test::free_port();
  auto nib = start("abuse", {"-B", at(abuse.port()), at(port), at(b0.port())});
  ASSERT_TRUE(nib);
  SocketAddress lb = *SocketAddress::from_ip("127.0.0.1", port);
  EXPECT_EQ(*test::who_serves(lb, "127.0.0.2"), "abuse");
  EXPECT_EQ(*test::who_serves(lb, "127.0.0.3"), "b0");
  EXPECT_TRUE(nib->wait_for_output("denied by the acl; to the abuse server", 5s)) << nib->output();
  EXPECT_TRUE(nib->wait_for_output("chose the abuse server " + at(abuse.port()), 5s)) << nib->output();
  EXPECT_EQ(b0.accepted(), 1u);
  EXPECT_EQ(abuse.accepted(), 1u);
}

TEST_F(PenAbuseServerTest, AnAbuseServerThatIsDownClosesTheDeniedClientOnly) {
  NIB_REQUIRE(::access(kPenctl, X_OK) == 0, "no /usr/bin/penctl (Debian's pen: scripts/install-deps.sh --test)");
  test::TestBackend b0("b0");
  uint16_t dead = test::free_port(), port = test::free_port();
  auto nib = start("dead", {"-B", at(dead), at(port), at(b0.port())});
  ASSERT_TRUE(nib);
  SocketAddress lb = *SocketAddress::from_ip("127.0.0.1", port);
  EXPECT_FALSE(test::who_serves(lb, "127.0.0.2").ok());
  EXPECT_TRUE(nib->wait_for_output("closed: no server (denied by the acl)", 5s)) << nib->output();
  EXPECT_EQ(b0.accepted(), 0u) << "no failover from the abuse server";
  EXPECT_EQ(*test::who_serves(lb, "127.0.0.3"), "b0");
}

TEST_F(PenAbuseServerTest, CheckValidatesIt) {
  uint16_t port = test::free_port();
  auto good = test::run_nib({"--check", "-B", "127.0.0.1:http", at(port), "127.0.0.1:80"});
  EXPECT_EQ(good.exit_code, 0) << good.output;
  auto bad = test::run_nib({"--check", "-B", "127.0.0.1:80:5", at(port), "127.0.0.1:80"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("option -B '127.0.0.1:80:5': expected host[:port]"), std::string::npos) << bad.output;
  std::string yaml = dir_.write_file("abuse.yaml", "services:\n  - name: web\n    listen: " + at(port) +
                                                       "\n    backends: [127.0.0.1:80]\n    abuse: 8090\n");
  auto bad_yaml = test::run_nib({"--check", "--config", yaml});
  EXPECT_EQ(bad_yaml.exit_code, 2) << bad_yaml.output;
  EXPECT_NE(bad_yaml.output.find("abuse.yaml:5:12: services[0].abuse: expected host:port"), std::string::npos)
      << bad_yaml.output;
}

}  // namespace
}  // namespace nib
