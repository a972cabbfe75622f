// Pen's control port over real TCP, the way penctl talks: connect, send one
// command line, read the reply until the server closes.
#include "admin/penctl/penctl_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "admin/state/state_writer.h"
#include "dataplane/dataplane.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib::admin {
namespace {

class PenctlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServiceConfig s;
    s.name = "web";
    s.listen = *SocketAddress::parse("127.0.0.1:0");
    for (auto* b : {&b0_, &b1_}) {
      BackendConfig c;
      c.address = b->address();
      c.host = "127.0.0.1";
      s.backends.push_back(c);
    }
    DataplaneConfig config;
    config.workers = 1;
    config.services = {s};
    dp_ = std::make_unique<Dataplane>(config);
    ASSERT_TRUE(dp_->start().ok());
    server_ = std::make_unique<PenctlServer>(*dp_, PenctlServerOptions{.listen = "127.0.0.1:0"});
    Status st = server_->start();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void TearDown() override {
    server_.reset();
    dp_->stop();
  }

  // What penctl does: one command, then read until the server closes.
  std::string penctl(const std::string& command) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server_->port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    std::string line = command + "\n";
    EXPECT_EQ(::send(fd, line.data(), line.size(), MSG_NOSIGNAL), static_cast<ssize_t>(line.size()));
    std::string reply;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) reply.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return reply;
  }

  // A command from source_ip (127.0.0.x); "" when the server closes without a reply.
  std::string penctl_from(const std::string& source_ip, const std::string& command) {
    auto to = SocketAddress::from_ip("127.0.0.1", server_->port());
    auto c = test::TestClient::connect(*to, source_ip);
    if (!c.ok()) return "connect failed";
    (void)c->write_all(command + "\n");
    auto reply = c->read_until_eof();
    return reply.ok() ? *reply : "";
  }
  // The backend that greets a client from source_ip, or "closed".
  std::string who(const std::string& source_ip) {
    auto name = test::who_serves(*dp_->bound_address("web"), source_ip);
    return name.ok() ? *name : "closed";
  }

  std::string line_of(uint16_t port, uint32_t index, const std::string& rest) {
    return std::to_string(index) + " addr 127.0.0.1 port " + std::to_string(port) + " " + rest + "\n";
  }

  test::TestBackend b0_{"b0"}, b1_{"b1"};
  std::unique_ptr<Dataplane> dp_;
  std::unique_ptr<PenctlServer> server_;
};

TEST_F(PenctlServerTest, ServersListsEachServerInPensFormat) {
  EXPECT_EQ(penctl("servers"), line_of(b0_.port(), 0, "conn 0 max 0 hard 0 weight 1 prio 0 sx 0 rx 0") +
                                   line_of(b1_.port(), 1, "conn 0 max 0 hard 0 weight 1 prio 0 sx 0 rx 0"));
}

TEST_F(PenctlServerTest, ServerChangesWeightPrioLimitsAndBlacklist) {
  EXPECT_EQ(penctl("server 1 weight 3"), "");
  EXPECT_EQ(penctl("server 0 max 5 hard 7 prio 2"), "");
  EXPECT_EQ(penctl("servers"), line_of(b0_.port(), 0, "conn 0 max 5 hard 7 weight 1 prio 2 sx 0 rx 0") +
                                   line_of(b1_.port(), 1, "conn 0 max 0 hard 0 weight 3 prio 0 sx 0 rx 0"));
  EXPECT_EQ(penctl("server 1 blacklist 60"), "");
  EXPECT_TRUE(dp_->service("web")->backends[1].blacklisted);
  EXPECT_EQ(penctl("server 1 blacklist 0"), "");
  EXPECT_FALSE(dp_->service("web")->backends[1].blacklisted);
  EXPECT_EQ(penctl("server 9 weight 1"), "error: no server 9\n");
  EXPECT_NE(penctl("server 0 weight x").find("error"), std::string::npos);
  EXPECT_NE(penctl("server 0 acl 1").find("not supported"), std::string::npos);
}

// With a state writer, Pen's empty "done" reply means on disk; a failed save
// is an error line with the reason.
TEST_F(PenctlServerTest, ChangesAreAcknowledgedOnlyOnceSaved) {
  test::TempDir dir;
  const std::string path = dir.file("nib.state");
  StateWriter writer(*dp_, path);
  writer.start();
  EXPECT_EQ(penctl("server 1 weight 3"), "");
  auto text = test::read_file(path);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find(":" + std::to_string(b1_.port()) + " 127.0.0.1 3 "), std::string::npos) << *text;
  EXPECT_EQ(penctl("hash"), "");
  EXPECT_NE(test::read_file(path)->find("policy hash "), std::string::npos);

  ASSERT_EQ(::mkdir((path + ".tmp").c_str(), 0700), 0);  // writes fail from now on
  std::string reply = penctl("roundrobin");
  EXPECT_EQ(reply.rfind("error: the change is applied but not saved", 0), 0u) << reply;
  EXPECT_NE(reply.find("Is a directory (EISDIR)"), std::string::npos) << reply;
  EXPECT_EQ(penctl("server 0 prio 2").rfind("error: the change is applied but not saved", 0), 0u);
  ASSERT_EQ(::rmdir((path + ".tmp").c_str()), 0);
  EXPECT_EQ(penctl("tracking 5"), "5\n");
  text = test::read_file(path);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("policy roundrobin 0 5 "), std::string::npos) << *text;
  writer.stop();
}

TEST_F(PenctlServerTest, ModesAndTheirNoForms) {
  EXPECT_EQ(penctl("mode"), "no hash no roundrobin no stubborn no weight no prio\n");
  EXPECT_EQ(penctl("roundrobin"), "");
  EXPECT_EQ(penctl("mode"), "no hash roundrobin no stubborn no weight no prio\n");
  EXPECT_EQ(penctl("hash"), "");
  EXPECT_EQ(penctl("stubborn"), "");
  EXPECT_EQ(penctl("mode"), "hash no roundrobin stubborn no weight no prio\n");
  EXPECT_EQ(penctl("no roundrobin"), "");  // not the current mode: nothing changes
  EXPECT_EQ(dp_->policy("web")->mode, BalanceMode::kHash);
  EXPECT_EQ(penctl("no hash"), "");
  EXPECT_EQ(penctl("no stubborn"), "");
  EXPECT_EQ(dp_->policy("web")->mode, BalanceMode::kAffinity);
  EXPECT_FALSE(dp_->policy("web")->stubborn);
  EXPECT_EQ(penctl("weight"), "");
  EXPECT_EQ(penctl("mode"), "no hash no roundrobin no stubborn weight no prio\n");
  EXPECT_EQ(penctl("prio"), "");
  EXPECT_EQ(dp_->policy("web")->mode, BalanceMode::kPrio);
  EXPECT_EQ(penctl("no prio"), "");
  EXPECT_EQ(dp_->policy("web")->mode, BalanceMode::kAffinity);
}

TEST_F(PenctlServerTest, ValuedSettingsPrintAndSet) {
  EXPECT_EQ(penctl("blacklist"), "30\n");
  EXPECT_EQ(penctl("blacklist 12"), "12\n");
  EXPECT_EQ(dp_->policy("web")->blacklist_seconds, 12);
  EXPECT_EQ(penctl("tracking"), "0\n");
  EXPECT_EQ(penctl("tracking 30"), "30\n");
  EXPECT_EQ(dp_->policy("web")->tracking_seconds, 30);
  EXPECT_EQ(penctl("clients_max"), "2048\n");
  EXPECT_EQ(penctl("clients_max 4096"), "4096\n");
  EXPECT_EQ(dp_->policy("web")->table_size, 4096u);
  EXPECT_NE(penctl("tracking soon").find("error"), std::string::npos);
}

TEST_F(PenctlServerTest, StatusPidRecentAndUnknown) {
  EXPECT_NE(penctl("status").find("<html"), std::string::npos);
  EXPECT_EQ(penctl("pid"), std::to_string(::getpid()) + "\n");
  EXPECT_EQ(penctl("recent"), "");
  EXPECT_EQ(penctl("recent 60"), "");
  EXPECT_EQ(penctl("bogus"), "do_cmd: ignoring command starting with 'bogus'\n");
  EXPECT_EQ(penctl(""), "");
}

TEST_F(PenctlServerTest, RecentListsClientsSeenInTheWindow) {
  auto lb = dp_->bound_address("web");
  ASSERT_TRUE(lb.has_value());
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(fd, lb->sockaddr_ptr(), lb->length()), 0);
  char buf[64];
  ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0);  // the backend's greeting: the client is remembered
  ::close(fd);
  std::string reply = penctl("recent");
  EXPECT_EQ(reply.rfind("127.0.0.1 connects 1 ", 0), 0u) << reply;
}

TEST_F(PenctlServerTest, AclCommandsChangeWhoIsServed) {
  EXPECT_EQ(who("127.0.0.2"), "b0");
  // List 1 is not the client list yet: nothing changes.
  EXPECT_EQ(penctl("acl 1 deny 127.0.0.2"), "");
  EXPECT_EQ(penctl("acl 1 permit 127.0.0.0 255.0.0.0"), "");
  EXPECT_NE(who("127.0.0.2"), "closed");
  EXPECT_EQ(penctl("client_acl 1"), "");
  EXPECT_EQ(who("127.0.0.2"), "closed");
  EXPECT_NE(who("127.0.0.3"), "closed");
  EXPECT_EQ(dp_->service("web")->counters.rejected_acl, 1u);
  // Editing the client list applies at once; the first match decides.
  EXPECT_EQ(penctl("no acl 1"), "");
  EXPECT_NE(who("127.0.0.2"), "closed");  // an empty list permits all
  EXPECT_EQ(penctl("acl 1 permit 127.0.0.2"), "");
  EXPECT_NE(who("127.0.0.2"), "closed");
  EXPECT_EQ(who("127.0.0.3"), "closed");  // the implicit deny at the end
  EXPECT_EQ(penctl("client_acl 0"), "");   // list 0 is empty
  EXPECT_NE(who("127.0.0.3"), "closed");
}

TEST_F(PenctlServerTest, ControlAclGuardsTheControlPort) {
  EXPECT_EQ(penctl("acl 2 permit 127.0.0.1"), "");
  EXPECT_EQ(penctl("acl 2 permit ::1/128"), "");
  EXPECT_EQ(penctl_from("127.0.0.2", "pid"), std::to_string(::getpid()) + "\n");
  EXPECT_EQ(penctl("control_acl 2"), "");
  EXPECT_EQ(penctl_from("127.0.0.2", "pid"), "");  // closed without a reply
  EXPECT_EQ(penctl_from("127.0.0.2", "control_acl 0"), "");
  EXPECT_EQ(penctl("pid"), std::to_string(::getpid()) + "\n");
  EXPECT_EQ(penctl("control_acl 0"), "");
  EXPECT_EQ(penctl_from("127.0.0.2", "pid"), std::to_string(::getpid()) + "\n");
  EXPECT_NE(who("127.0.0.2"), "closed") << "control_acl does not touch the service";
}

TEST_F(PenctlServerTest, BadAclCommandsAreErrorsAndChangeNothing) {
  EXPECT_NE(penctl("acl 10 permit 127.0.0.1").find("expected a list number 0-9"), std::string::npos);
  EXPECT_NE(penctl("acl x permit 127.0.0.1").find("error"), std::string::npos);
  EXPECT_NE(penctl("acl 0 allow 127.0.0.1").find("error: acl: expected"), std::string::npos);
  EXPECT_NE(penctl("acl 0 permit 127.0.0.1 255.255").find("mask"), std::string::npos);
  EXPECT_NE(penctl("acl 0 permit ::1 255.0.0.0").find("error"), std::string::npos);
  EXPECT_NE(penctl("acl 0 permit nowhere").find("error"), std::string::npos);
  EXPECT_NE(penctl("acl 0 deny country SE").find("GeoIP"), std::string::npos);
  EXPECT_NE(penctl("client_acl").find("error"), std::string::npos);
  EXPECT_NE(penctl("no acl 11").find("error"), std::string::npos);
  EXPECT_NE(who("127.0.0.2"), "closed");
  EXPECT_EQ(dp_->service("web")->counters.rejected_acl, 0u);
}

}  // namespace

}  // namespace nib::admin
