// The control port's transport (admin/penctl/penctl_listener.h) with hostile
// clients: idle and dribbling connections cost nobody else's time, a line
// over the cap or late gets an error line, connections past the cap are told
// so, and stop() closes whatever is open. Real sockets throughout.
#include "admin/penctl/penctl_listener.h"

#include <gtest/gtest.h>

#include "admin/common/admin_plane_stats.h"
#include "admin/penctl/penctl_server.h"
#include "dataplane/dataplane.h"
#include "tests/admin/admin_core_holder.h"
#include "tests/support/dataplane_fixture.h"
#include "tests/support/dribbling_client.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib::admin {
namespace {

using namespace std::chrono_literals;
using test::TestClient;

class PenctlListenerTest : public ::testing::Test {
 protected:
  void start(PenctlLimits limits = {}) {
    dp_ = std::make_unique<Dataplane>(test::one_backend_config(b0_.address()));
    ASSERT_TRUE(dp_->start().ok());
    server_ = std::make_unique<PenctlServer>(
        core_.get(*dp_), PenctlServerOptions{.listen = "127.0.0.1:0", .limits = limits, .stats = &stats_});
    Status st = server_->start();
    ASSERT_TRUE(st.ok()) << st.message();
    address_ = *SocketAddress::from_ip("127.0.0.1", server_->port());
  }
  void TearDown() override {
    server_.reset();
    if (dp_) dp_->stop();
  }

  TestClient connect(const std::string& source_ip = "127.0.0.1") {
    auto c = TestClient::connect(address_, source_ip);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return std::move(*c);
  }
  // What penctl does: one line, then everything up to the server's close.
  // An error line must come with a reset (that is how penctl notices it).
  std::string penctl(const std::string& bytes, const std::string& source_ip = "127.0.0.1") {
    auto reply = test::control_command(address_, bytes, source_ip);
    if (!reply.ok()) return "<" + reply.status().message() + ">";
    EXPECT_EQ(reply->reset, reply->text.rfind("error: ", 0) == 0) << reply->text;
    return reply->text;
  }

  test::TestBackend b0_{"b0"};
  AdminPlaneStats stats_;
  std::unique_ptr<Dataplane> dp_;
  AdminCoreHolder core_;  // before the server: outlives it
  std::unique_ptr<PenctlServer> server_;
  SocketAddress address_;
};

TEST_F(PenctlListenerTest, IdleAndDribblingClientsDoNotDelayACommand) {
  start();
  std::vector<TestClient> idle;
  for (int i = 0; i < 20; ++i) idle.push_back(connect("127.0.0." + std::to_string(2 + i)));
  test::DribblingClient dribbler(connect("127.0.1.1"), "s");
  ASSERT_TRUE(test::wait_until([&] { return stats_.value(AdminGauge::kPenctlConnections) == 21; }));
  // One at a time, each of these waited for the idle ones before (34 s for 20).
  auto begin = MonoClock::now();
  EXPECT_EQ(penctl("pid\n", "127.0.2.1"), std::to_string(::getpid()) + "\n");
  std::string servers = penctl("servers\n", "127.0.2.2");
  EXPECT_NE(servers.find("0 addr 127.0.0.1 port " + std::to_string(b0_.port())), std::string::npos) << servers;
  EXPECT_LT(MonoClock::now() - begin, 3s) << "not starved";
  // The others are still open. The listener counts a command's connection
  // out just after its close, which the client may see first: wait for it.
  EXPECT_TRUE(test::wait_until([&] { return stats_.value(AdminGauge::kPenctlConnections) == 21; }))
      << stats_.value(AdminGauge::kPenctlConnections);
}

TEST_F(PenctlListenerTest, ALineOverTheCapGetsAnErrorLine) {
  start();
  EXPECT_EQ(penctl(std::string(5000, 'x')), "error: the command line is longer than 4096 bytes\n");
  EXPECT_EQ(penctl(std::string(4097, 'x') + "\n"), "error: the command line is longer than 4096 bytes\n");
  EXPECT_EQ(stats_.hits(AdminLimitId::kPenctlMaxLineBytes), 2u);
  // At the cap it is a command like any other (and an unknown one here).
  std::string at_cap = penctl(std::string(4096, 'x') + "\n");
  EXPECT_EQ(at_cap.find("longer than"), std::string::npos) << at_cap;
  EXPECT_EQ(penctl("pid\n"), std::to_string(::getpid()) + "\n");
}

TEST_F(PenctlListenerTest, AClientThatNeverEndsItsLineGetsAnErrorAtTheDeadline) {
  start(PenctlLimits{.command_timeout_seconds = 0.3});
  TestClient silent = connect();
  TestClient dribbling = connect();
  ASSERT_TRUE(dribbling.write_all("serv").ok());
  for (TestClient* c : {&silent, &dribbling}) {
    auto reply = c->read_until_close();
    ASSERT_TRUE(reply.ok()) << reply.status().message();
    EXPECT_EQ(reply->text, "error: no complete command line within 0.3 s\n");
    EXPECT_TRUE(reply->reset);
  }
  EXPECT_EQ(stats_.hits(AdminLimitId::kPenctlCommandTimeout), 2u);
  EXPECT_EQ(penctl("pid\n"), std::to_string(::getpid()) + "\n");
}

TEST_F(PenctlListenerTest, ConnectionsPastTheCapAreToldAndClosed) {
  start(PenctlLimits{.max_connections = 4});
  std::vector<TestClient> held;
  for (int i = 0; i < 4; ++i) held.push_back(connect());
  ASSERT_TRUE(test::wait_until([&] { return stats_.value(AdminGauge::kPenctlConnections) == 4; }));
  TestClient refused = connect();  // reads first: the refusal comes at once
  auto reply = refused.read_until_eof();
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_EQ(*reply, "error: too many control connections are open; try again\n");
  EXPECT_EQ(stats_.hits(AdminLimitId::kPenctlMaxConnections), 1u);
  held.pop_back();  // one leaves: room for a command again
  ASSERT_TRUE(test::wait_until([&] { return stats_.value(AdminGauge::kPenctlConnections) == 3; }));
  EXPECT_EQ(penctl("pid\n"), std::to_string(::getpid()) + "\n");
}

TEST_F(PenctlListenerTest, StopClosesEveryConnectionWhateverItsClientDoes) {
  start();
  TestClient idle = connect();
  test::DribblingClient dribbler(connect(), "s");
  ASSERT_TRUE(test::wait_until([&] { return stats_.value(AdminGauge::kPenctlConnections) == 2; }));
  auto begin = MonoClock::now();
  server_->stop();
  EXPECT_LT(MonoClock::now() - begin, 3s);
  auto rest = idle.read_until_eof();
  EXPECT_TRUE(rest.ok() && rest->empty()) << (rest.ok() ? *rest : rest.status().message());
  EXPECT_EQ(stats_.value(AdminGauge::kPenctlConnections), 0);
}

// Issue 17, finding 12: a window of seconds that no duration can hold.
TEST_F(PenctlListenerTest, RecentWithAHugeWindowIsAClearError) {
  start();
  const std::string expected = "error: recent: expected seconds, an integer 0-1000000000, got '";
  EXPECT_EQ(penctl("recent 99999999999999999999\n"), expected + "99999999999999999999'\n");
  EXPECT_EQ(penctl("recent 18446744073709551615\n"), expected + "18446744073709551615'\n");
  EXPECT_EQ(penctl("recent 1000000001\n"), expected + "1000000001'\n");
  EXPECT_EQ(penctl("recent 1000000000\n"), "");  // no client yet
}

}  // namespace
}  // namespace nib::admin
