// Pen's control port over real TCP, the way penctl talks: connect, send one
// command line, read the reply until the server closes.
#include "admin/penctl/penctl_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "admin/state/state_writer.h"
#include "dataplane/base/log.h"
#include "dataplane/dataplane.h"
#include "tests/admin/admin_core_holder.h"
#include "tests/support/dataplane_fixture.h"
#include "tests/support/table_country_lookup.h"
#include "tests/support/temp_file.h"
#include "tests/support/nib_process.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib::admin {
namespace {

using namespace std::chrono_literals;

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
    config.countries = countries_;
    dp_ = std::make_unique<Dataplane>(config);
    ASSERT_TRUE(dp_->start().ok());
    server_ = std::make_unique<PenctlServer>(core_.get(*dp_), PenctlServerOptions{.listen = "127.0.0.1:0"});
    Status st = server_->start();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void TearDown() override {
    server_.reset();
    dp_->stop();
  }

  // What penctl does: one command, then read until the server closes. A
  // failed command ends in a reset (the read fails), which makes penctl exit
  // non-zero.
  struct Answer {
    std::string text;
    bool reset = false;
  };
  Answer ask(const std::string& command) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server_->port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    std::string line = command + "\n";
    EXPECT_EQ(::send(fd, line.data(), line.size(), MSG_NOSIGNAL), static_cast<ssize_t>(line.size()));
    Answer answer;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.text.append(buf, static_cast<size_t>(n));
    answer.reset = n < 0 && errno == ECONNRESET;
    ::close(fd);
    return answer;
  }
  std::string penctl(const std::string& command) { return ask(command).text; }
  // A command that must fail the way penctl notices: one error line, then a reset.
  std::string failure(const std::string& command) {
    Answer a = ask(command);
    EXPECT_TRUE(a.reset) << command << ": " << a.text;
    EXPECT_EQ(a.text.rfind("error: ", 0), 0u) << command << ": " << a.text;
    EXPECT_EQ(std::count(a.text.begin(), a.text.end(), '\n'), 1) << command << ": " << a.text;
    return a.text;
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
  std::shared_ptr<CountryLookup> countries_;  // set before SetUp() by a fixture that needs one
  std::unique_ptr<Dataplane> dp_;
  AdminCoreHolder core_;  // before the server: outlives it
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
  EXPECT_EQ(failure("server 9 weight 1"), "error: no server 9\n");
  failure("server 0 weight x");
  EXPECT_NE(failure("server 0 weight 2 acl 10").find("acl: expected a list number 0-9, got '10'"), std::string::npos);
  EXPECT_NE(failure("server 0 weight 2 colour blue").find("unknown setting 'colour'"), std::string::npos);
  EXPECT_EQ(dp_->service("web")->backends[0].weight, 1u) << "a failed command changes nothing";
}

// nib's own key of `server N`: the server's PROXY header, kept by `write`
// (a replayed line of it is no change).
TEST_F(PenctlServerTest, ServerTakesItsOwnProxyProtocol) {
  EXPECT_EQ(penctl("server 1 proxy_protocol v2"), "");
  EXPECT_EQ(dp_->service("web")->backends[1].proxy_protocol, ProxyProtocol::kV2);
  EXPECT_NE(failure("server 1 proxy_protocol v3").find("proxy_protocol: expected v1, v2, off or service, got 'v3'"),
            std::string::npos);
  EXPECT_EQ(dp_->service("web")->backends[1].proxy_protocol, ProxyProtocol::kV2) << "a failed command changes nothing";
  test::TempDir dir;
  const std::string file = dir.file("pen.cfg");
  EXPECT_EQ(penctl("write " + file), "");
  auto text = test::read_file(file);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find(" port " + std::to_string(b1_.port()) + " max 0 hard 0 proxy_protocol v2\n"), std::string::npos)
      << *text;
  EXPECT_EQ(penctl("server 1 proxy_protocol service"), "");
  EXPECT_EQ(dp_->service("web")->backends[1].proxy_protocol, std::nullopt);
}

// nib's own key of `server N`: TCP Fast Open toward the server, kept by `write`.
TEST_F(PenctlServerTest, ServerTakesTcpFastOpen) {
  EXPECT_EQ(penctl("server 1 tcp_fast_open on"), "");
  EXPECT_TRUE(dp_->service("web")->backends[1].tcp_fast_open);
  EXPECT_NE(failure("server 1 tcp_fast_open yes").find("tcp_fast_open: expected on or off, got 'yes'"),
            std::string::npos);
  EXPECT_TRUE(dp_->service("web")->backends[1].tcp_fast_open) << "a failed command changes nothing";
  test::TempDir dir;
  const std::string file = dir.file("pen.cfg");
  EXPECT_EQ(penctl("write " + file), "");
  auto text = test::read_file(file);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find(" port " + std::to_string(b1_.port()) + " max 0 hard 0 tcp_fast_open on\n"), std::string::npos)
      << *text;
  EXPECT_EQ(penctl("server 1 tcp_fast_open off"), "");
  EXPECT_FALSE(dp_->service("web")->backends[1].tcp_fast_open);
}

// A change waits for its durable write on the command thread, not on the
// listener's loop: while a write is held up, the control port still accepts
// and reads other connections, and the change is answered once the write is done.
TEST_F(PenctlServerTest, ADurableWaitDoesNotHoldTheListenerLoop) {
  test::TempDir dir;
  std::mutex mu;
  std::condition_variable cv;
  bool writing = false, release = false;
  StateWriter writer(*dp_, dir.file("nib.state"), StateWriterOptions{.after_step = [&](WriteStep) {
                       std::unique_lock lock(mu);
                       writing = true;
                       cv.notify_all();
                       cv.wait(lock, [&] { return release; });
                     }});
  writer.start();
  core_->set_state_writer(&writer);
  auto change = std::async(std::launch::async, [&] { return penctl("server 1 weight 3"); });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return writing; });
  }
  // The write is held, and with it the command thread. The loop still
  // accepts and reads: an over-long line is refused by the loop itself.
  Answer refused = ask(std::string(5000, 'x'));
  EXPECT_NE(refused.text.find("longer than 4096 bytes"), std::string::npos) << refused.text;
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_EQ(change.get(), "");
  EXPECT_EQ(dp_->service("web")->backends[1].weight, 3u);
  core_->set_state_writer(nullptr);
  writer.stop();
}

// penctl's acl commands replace the service's client ACL: announced on the
// event bus like every other change (WatchEvents and SSE see it).
TEST_F(PenctlServerTest, ClientAclChangesAreAnnounced) {
  std::mutex mu;
  std::vector<DataplaneEvent> heard;
  uint64_t token = dp_->events().subscribe([&](const DataplaneEvent& e) {
    std::lock_guard lock(mu);
    heard.push_back(e);
  });
  EXPECT_EQ(penctl("acl 0 deny 127.0.0.9"), "");
  dp_->events().unsubscribe(token);
  std::lock_guard lock(mu);
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard[0].kind, DataplaneEvent::Kind::kAclChanged);
  EXPECT_EQ(heard[0].service, "web");
  EXPECT_EQ(heard[0].detail, "client ACL set: 1 entries");
}

// With a state writer, Pen's empty "done" reply means on disk; a failed save
// is an error line with the reason.
TEST_F(PenctlServerTest, ChangesAreAcknowledgedOnlyOnceSaved) {
  test::TempDir dir;
  const std::string path = dir.file("nib.state");
  StateWriter writer(*dp_, path);
  writer.start();
  core_->set_state_writer(&writer);  // the core keeps each change before answering
  EXPECT_EQ(penctl("server 1 weight 3"), "");
  auto text = test::read_file(path);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find(":" + std::to_string(b1_.port()) + "\""), std::string::npos) << *text;
  EXPECT_NE(text->find("\"weight\": 3,"), std::string::npos) << *text;
  EXPECT_EQ(penctl("hash"), "");
  EXPECT_NE(test::read_file(path)->find("\"mode\": \"hash\""), std::string::npos);

  ASSERT_EQ(::mkdir((path + ".tmp").c_str(), 0700), 0);  // writes fail from now on
  // Pen's flags: hash outranks roundrobin, so "no hash" is what changes the mode.
  std::string reply = failure("no hash");
  EXPECT_EQ(reply.rfind("error: the change is applied but not saved", 0), 0u) << reply;
  EXPECT_NE(reply.find("Is a directory (EISDIR)"), std::string::npos) << reply;
  EXPECT_EQ(failure("server 0 prio 2").rfind("error: the change is applied but not saved", 0), 0u);
  ASSERT_EQ(::rmdir((path + ".tmp").c_str()), 0);
  EXPECT_EQ(penctl("tracking 5"), "5\n");
  text = test::read_file(path);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("\"tracking_seconds\": 5,"), std::string::npos) << *text;
  core_->set_state_writer(nullptr);
  writer.stop();
}

TEST_F(PenctlServerTest, ModesAndTheirNoForms) {
  EXPECT_EQ(penctl("mode"), "no hash no roundrobin no stubborn no weight no prio\n");
  EXPECT_EQ(penctl("roundrobin"), "");
  EXPECT_EQ(penctl("mode"), "no hash roundrobin no stubborn no weight no prio\n");
  EXPECT_EQ(penctl("hash"), "");
  EXPECT_EQ(penctl("stubborn"), "");
  // Pen keeps the flags side by side; hash wins over roundrobin.
  EXPECT_EQ(penctl("mode"), "hash roundrobin stubborn no weight no prio\n");
  EXPECT_EQ(dp_->policy("web")->mode, BalanceMode::kHash);
  EXPECT_EQ(penctl("no roundrobin"), "");
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
  EXPECT_EQ(dp_->policy("web")->mode, BalanceMode::kWeight);  // the weight flag is still on
  EXPECT_EQ(penctl("no weight"), "");
  EXPECT_EQ(dp_->policy("web")->mode, BalanceMode::kAffinity);
  failure("hash now");
}

// Pen's initial_server(): prio over weight over hash over roundrobin,
// whatever order the words came in.
TEST_F(PenctlServerTest, ModeFlagsCombineAsPens) {
  EXPECT_EQ(penctl("weight"), "");
  EXPECT_EQ(penctl("hash"), "");
  EXPECT_EQ(dp_->policy("web")->mode, BalanceMode::kWeight) << "hash does not override weight";
  EXPECT_EQ(penctl("mode"), "hash no roundrobin no stubborn weight no prio\n");
  EXPECT_EQ(penctl("no weight"), "");
  EXPECT_EQ(dp_->policy("web")->mode, BalanceMode::kHash);
  EXPECT_EQ(penctl("prio"), "");
  EXPECT_EQ(penctl("roundrobin"), "");
  EXPECT_EQ(dp_->policy("web")->mode, BalanceMode::kPrio);
  // A mode set elsewhere (REST, gRPC) is the starting point of the next word.
  PolicyConfig p = *dp_->policy("web");
  p.mode = BalanceMode::kRoundRobin;
  ASSERT_TRUE(dp_->set_policy("web", p).ok());
  EXPECT_EQ(penctl("mode"), "no hash roundrobin no stubborn no weight no prio\n");
  EXPECT_EQ(penctl("hash"), "");
  EXPECT_EQ(penctl("no hash"), "");
  EXPECT_EQ(dp_->policy("web")->mode, BalanceMode::kRoundRobin);
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
  failure("tracking soon");
  failure("tracking 1 2");
  EXPECT_EQ(dp_->policy("web")->tracking_seconds, 30);
}

// timeout, idle_timeout and conn_max are the service's policy: what the
// dataplane applies to the next connection, and what the status shows.
TEST_F(PenctlServerTest, ConnectionSettingsAreThePolicy) {
  EXPECT_EQ(penctl("timeout"), "5\n");
  EXPECT_EQ(penctl("timeout 7"), "7\n");
  EXPECT_EQ(penctl("idle_timeout 30"), "Idle timeout: 30 seconds\n");
  EXPECT_EQ(penctl("conn_max 4"), "4\n");
  auto policy = dp_->policy("web");
  EXPECT_EQ(policy->connect_timeout_seconds, 7);
  EXPECT_EQ(policy->idle_timeout_seconds, 30);
  EXPECT_EQ(policy->max_connections, 4u);
  auto status = dp_->service("web");
  EXPECT_EQ(status->connect_timeout_seconds, 7);
  EXPECT_EQ(status->idle_timeout_seconds, 30);
  EXPECT_EQ(status->max_connections, 4u);
  EXPECT_EQ(failure("timeout 0"), "error: timeout: expected an integer 1-3600, got '0'\n");
  failure("timeout -1");
  failure("idle_timeout 1.5");
  failure("conn_max 99999999");
  failure("conn_max 1 2");
  EXPECT_EQ(*dp_->policy("web"), *policy) << "nothing changed";
}

TEST_F(PenctlServerTest, DebugSetsTheLogLevelAsPensDashD) {
  EXPECT_EQ(penctl("debug"), "0\n");
  EXPECT_EQ(penctl("debug 1"), "1\n");
  EXPECT_EQ(Log::level(), LogLevel::kDebug);
  EXPECT_EQ(penctl("debug 3"), "2\n") << "2 and more: nib's deepest level";
  EXPECT_EQ(Log::level(), LogLevel::kTrace);
  failure("debug -1");
  failure("debug 10");
  failure("debug x");
  EXPECT_EQ(Log::level(), LogLevel::kTrace) << "nothing changed";
  EXPECT_EQ(penctl("debug 0"), "0\n");
  EXPECT_EQ(Log::level(), LogLevel::kInfo);
}

TEST_F(PenctlServerTest, ExitOnlyWhenEnabled) {
  EXPECT_EQ(failure("exit"), "error: exit: not enabled; restart nib with -X\n");
  std::atomic<int> exits{0};
  PenctlServer with_x(core_.get(*dp_), PenctlServerOptions{.listen = "127.0.0.1:0", .exit = [&] { ++exits; }});
  ASSERT_TRUE(with_x.start().ok());
  EXPECT_EQ(with_x.execute("exit").text, "");
  EXPECT_FALSE(with_x.execute("exit").failed);
  EXPECT_EQ(exits.load(), 2);
  EXPECT_TRUE(with_x.execute("exit now").failed);
  EXPECT_EQ(exits.load(), 2);
}

TEST_F(PenctlServerTest, TcpNodelayAnswersTheSettingInForceAndRefusesAChange) {
  EXPECT_EQ(penctl("tcp_nodelay"), "");  // nib's default
  std::string reply = failure("no tcp_nodelay");
  EXPECT_NE(reply.find("cannot change at runtime"), std::string::npos) << reply;
  EXPECT_NE(reply.find("restart nib with -o 'no tcp_nodelay'"), std::string::npos) << reply;
}

TEST_F(PenctlServerTest, KeepaliveAndFastCloseAnswerTheSettingInForceAndRefuseAChange) {
  EXPECT_EQ(penctl("no keepalive"), "");  // the default
  EXPECT_EQ(penctl("tcp_fastclose"), "off\n");
  EXPECT_EQ(penctl("tcp_fastclose off"), "");
  std::string reply = failure("keepalive");
  EXPECT_NE(reply.find("restart nib with -o 'keepalive'"), std::string::npos) << reply;
  reply = failure("tcp_fastclose both");
  EXPECT_NE(reply.find("restart nib with -o 'tcp_fastclose both'"), std::string::npos) << reply;
  reply = failure("tcp_fastclose sideways");
  EXPECT_NE(reply.find("expected 'tcp_fastclose up|down|both|off'"), std::string::npos) << reply;
  EXPECT_EQ(penctl("tcp_fastclose"), "off\n") << "nothing changed";
}

TEST_F(PenctlServerTest, SourceAnswersTheAddressInForceAndRefusesAChange) {
  EXPECT_EQ(penctl("source"), "") << "none set: the kernel chooses";
  std::string reply = failure("source 127.0.0.9");
  EXPECT_NE(reply.find("restart nib with -o 'source 127.0.0.9'"), std::string::npos) << reply;
  EXPECT_NE(failure("source 127.0.0.300").find("expected an IPv4 or IPv6 address"), std::string::npos);
  EXPECT_NE(failure("no source").find("unknown command 'no source'"), std::string::npos) << "not pen's either";
  EXPECT_NE(failure("source 127.0.0.9 80").find("expected 'source [IP]'"), std::string::npos);
}

TEST_F(PenctlServerTest, TransparentAnswersTheSettingInForceAndRefusesAChange) {
  EXPECT_EQ(penctl("no transparent"), "");  // the default
  std::string reply = failure("transparent");
  EXPECT_NE(reply.find("restart nib with -o 'transparent'"), std::string::npos) << reply;
  EXPECT_NE(failure("transparent now").find("transparent: takes no argument"), std::string::npos);
}

TEST_F(PenctlServerTest, ListenMovesTheListenerAndOpenConnectionsGoOn) {
  const SocketAddress before = *dp_->bound_address("web");
  EXPECT_EQ(penctl("listen"), before.to_string() + "\n");
  auto open = test::TestClient::connect(before);
  ASSERT_TRUE(open.ok()) << open.status().message();
  const std::string greeting = *open->read_line();

  const uint16_t port = test::free_port();
  const std::string moved = "127.0.0.1:" + std::to_string(port);
  EXPECT_EQ(penctl("listen " + moved), moved + "\n");
  EXPECT_EQ(dp_->bound_address("web")->to_string(), moved);
  EXPECT_EQ(penctl("listen"), moved + "\n");
  EXPECT_TRUE(test::who_serves(*SocketAddress::parse(moved)).ok()) << "served at the new address";
  EXPECT_FALSE(test::TestClient::connect(before, "127.0.0.1", 1s).ok()) << "the old listener is closed";
  ASSERT_TRUE(open->write_all("still here\n").ok());
  EXPECT_EQ(*open->read_line(), "still here") << "a connection from the old listener goes on (" << greeting << ")";

  // A port another process holds: an error, and nothing moves.
  test::TestBackend holder("holder");
  EXPECT_NE(failure("listen 127.0.0.1:" + std::to_string(holder.port())).find("in use"), std::string::npos);
  EXPECT_EQ(penctl("listen"), moved + "\n");
  // Only the port: the address in use stays.
  const uint16_t again = test::free_port();
  EXPECT_EQ(penctl("listen " + std::to_string(again)), "127.0.0.1:" + std::to_string(again) + "\n");
  for (const char* bad : {"listen 127.0.0.1:70000", "listen host:80", "listen 1 2", "listen 127.0.0.1:"}) {
    EXPECT_NE(failure(bad).find("listen: expected"), std::string::npos) << bad;
  }
}

TEST_F(PenctlServerTest, AbortOnErrorTurnsAbortOnAFatalErrorOnAndOff) {
  EXPECT_EQ(penctl("abort_on_error"), "");
  EXPECT_TRUE(Log::abort_on_fatal());
  EXPECT_EQ(penctl("no abort_on_error"), "");
  EXPECT_FALSE(Log::abort_on_fatal());
  EXPECT_NE(failure("abort_on_error now").find("abort_on_error: takes no argument"), std::string::npos);
  EXPECT_FALSE(Log::abort_on_fatal()) << "a refused command changes nothing";
}

TEST_F(PenctlServerTest, DsrIfAndTarpitAclBelongToADirectServerReturnService) {
  // dsr_if is set at start; alone it prints the interface in force (none here).
  EXPECT_EQ(penctl("dsr_if"), "");
  EXPECT_NE(failure("dsr_if eth1").find("restart nib with -o 'dsr_if eth1'"), std::string::npos);
  // Pen's form: -1 for none. This service relays sockets: it has no tarpit.
  EXPECT_EQ(penctl("tarpit_acl"), "tarpit_acl = -1\n");
  EXPECT_NE(failure("tarpit_acl 1").find("tarpit_acl works with direct server return (dsr_if) only"),
            std::string::npos);
  EXPECT_NE(failure("tarpit_acl 10").find("expected a list number 0-9"), std::string::npos);
  EXPECT_EQ(penctl("tarpit_acl"), "tarpit_acl = -1\n") << "a refused change changes nothing";
  EXPECT_EQ(penctl("acl 1 permit 10.0.0.9"), "") << "a list no tarpit uses is not pushed to one";
}

TEST_F(PenctlServerTest, ProxyProtocolWordsAnswerTheSettingInForceAndRefuseAChange) {
  EXPECT_EQ(penctl("proxy_protocol"), "off\n");
  EXPECT_EQ(penctl("accept_proxy_protocol"), "") << "no trusted balancer";
  EXPECT_NE(failure("proxy_protocol v2").find("restart nib with -o 'proxy_protocol v2'"), std::string::npos);
  EXPECT_NE(failure("proxy_protocol v3").find("expected 'proxy_protocol v1|v2|off'"), std::string::npos);
  EXPECT_NE(failure("accept_proxy_protocol 10.1.2.3/8").find("accept_proxy_protocol: "), std::string::npos);

  ServiceConfig s;
  s.name = "fronted";
  s.listen = *SocketAddress::parse("127.0.0.1:0");
  s.proxy_protocol = ProxyProtocol::kV2;
  s.accept_proxy_from = {*IpPrefix::parse("10.0.0.0/8"), *IpPrefix::parse("::1")};
  DataplaneConfig config;
  config.workers = 1;
  config.services = {s};
  Dataplane dp(config);
  ASSERT_TRUE(dp.start().ok());
  test::TempDir dir;
  PenctlServer server(core_.get(dp), PenctlServerOptions{.listen = "127.0.0.1:0"});
  EXPECT_EQ(server.execute("proxy_protocol").text, "v2\n");
  EXPECT_EQ(server.execute("accept_proxy_protocol").text, "10.0.0.0/8 ::1/128\n");
  EXPECT_FALSE(server.execute("proxy_protocol v2").failed) << "a replayed line of write's file";
  EXPECT_FALSE(server.execute("accept_proxy_protocol 10.0.0.0/8 ::1").failed);
  EXPECT_TRUE(server.execute("accept_proxy_protocol 10.0.0.0/8").failed);
  const std::string file = dir.file("written.cfg");
  EXPECT_FALSE(server.execute("write " + file).failed);
  auto text = test::read_file(file);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("\nproxy_protocol v2\naccept_proxy_protocol 10.0.0.0/8 ::1/128\n"), std::string::npos) << *text;
  dp.stop();
}

TEST_F(PenctlServerTest, WebStatsPrintsSetsAndClearsTheStatusFile) {
  test::TempDir dir;
  StatusFileSetting setting(dir.file("start.html"));  // as -w gives it
  PenctlServer with_w(core_.get(*dp_), PenctlServerOptions{.listen = "127.0.0.1:0", .status_file = &setting});
  auto run = [&](const std::string& line) { return with_w.execute(line); };
  EXPECT_EQ(run("web_stats").text, dir.file("start.html") + "\n");
  EXPECT_FALSE(run("web_stats " + dir.file("page.html")).failed);
  EXPECT_EQ(setting.get(), dir.file("page.html"));
  const std::string written = dir.file("written.cfg");
  EXPECT_FALSE(run("write " + written).failed);
  EXPECT_NE(test::read_file(written)->find("\nweb_stats " + dir.file("page.html") + "\n"), std::string::npos);
  for (const std::string& bad : {dir.file("missing/page.html"), dir.file("sub/"), std::string("a b c")}) {
    EXPECT_TRUE(run("web_stats " + bad).failed) << bad;
  }
  EXPECT_TRUE(run("no web_stats now").failed);
  EXPECT_EQ(setting.get(), dir.file("page.html")) << "refusals change nothing";
  EXPECT_FALSE(run("no web_stats").failed);
  EXPECT_EQ(setting.get(), "");
  EXPECT_EQ(run("web_stats").text, "");
  // Without a setting (a server made without one): asked for, there is none;
  // a file is refused; `no web_stats` states what is in force.
  EXPECT_EQ(penctl("web_stats"), "");
  EXPECT_NE(failure("web_stats /tmp/x.html").find("not available here"), std::string::npos);
  EXPECT_EQ(penctl("no web_stats"), "");
}

// Pen adds a server with `server N address A port P` and the next free N.
TEST_F(PenctlServerTest, ServerWithTheNextNumberAndAnAddressAddsAServer) {
  test::TestBackend b2("b2");
  const std::string port = std::to_string(b2.port());
  EXPECT_EQ(failure("server 3 address 127.0.0.1 port " + port), "error: no server 3; the next new server is 2\n");
  EXPECT_NE(failure("server 2 address 127.0.0.1 port 0").find("port: expected 1-65535"), std::string::npos);
  EXPECT_NE(failure("server 2 address 127.0.0.1 port " + port + " acl x").find("acl: expected a list number"),
            std::string::npos);
  ASSERT_EQ(dp_->service("web")->backends.size(), 2u) << "refusals add nothing";
  EXPECT_EQ(penctl("server 2 address 127.0.0.1 port " + port + " weight 4 max 5 hard 6"), "");
  auto st = dp_->service("web");
  ASSERT_EQ(st->backends.size(), 3u);
  EXPECT_EQ(st->backends[2].index, 2);
  EXPECT_EQ(st->backends[2].address, b2.address());
  EXPECT_EQ(st->backends[2].weight, 4u);
  EXPECT_EQ(st->backends[2].soft_limit, 5u);
  EXPECT_EQ(st->backends[2].hard_limit, 6u);
  EXPECT_NE(penctl("servers").find("2 addr 127.0.0.1 port " + port), std::string::npos);
  // Without a port, the listen port (as for -e); an address it has is a replayed line.
  EXPECT_EQ(penctl("server 3 address 127.0.0.2"), "");
  EXPECT_EQ(dp_->service("web")->backends[3].address.port(), dp_->bound_address("web")->port());
  EXPECT_EQ(penctl("server 2 address 127.0.0.1 port " + port + " weight 2"), "");
  EXPECT_EQ(dp_->service("web")->backends[2].weight, 2u);
}

// write: Pen's lines, in Pen's order; to -F's file when no FILE is given.
TEST_F(PenctlServerTest, WriteWritesTheRunningConfigurationInPensFormat) {
  test::TempDir dir;
  EXPECT_NE(failure("write").find("no file"), std::string::npos);
  penctl("server 1 weight 3");
  penctl("weight");
  penctl("timeout 9");
  penctl("acl 3 permit 10.0.0.0 255.0.0.0");
  penctl("acl 3 deny ::1");
  const std::string file = dir.file("written.cfg");
  EXPECT_EQ(penctl("write " + file), "");
  auto text = test::read_file(file);
  ASSERT_TRUE(text.ok());
  auto b = [](const test::TestBackend& t) { return "address 127.0.0.1 port " + std::to_string(t.port()); };
  const std::string body = text->substr(text->find("\n", text->find("# pen")) + 1);
  EXPECT_EQ(body,
            "no acl 3\n"
            "acl 3 permit 10.0.0.0 255.0.0.0\n"
            "acl 3 deny ::1/128\n"
            "no ascii\nblacklist 30\nclient_acl 0\ncontrol_acl 0\nconn_max 0\ndebug 0\nno hash\nno http\n"
            "idle_timeout 0\nno log\nno roundrobin\n"
            "server 0 " + b(b0_) + " max 0 hard 0 weight 1\n"
            "server 1 " + b(b1_) + " max 0 hard 0 weight 3\n"
            "no stubborn\ntcp_fastclose off\ntcp_nodelay\ntimeout 9\ntracking 0\nno web_stats\nweight\nno prio\n");
  EXPECT_NE(text->find("# pen -F '" + file + "' -C 127.0.0.1:" + std::to_string(server_->port()) + " " +
                       dp_->bound_address("web")->to_string() + "\n"),
            std::string::npos)
      << *text;
  // Replayed, every server line is taken (its address and port are the ones it has).
  EXPECT_EQ(penctl("server 0 " + b(b0_) + " max 2 hard 3 weight 1"), "");
  EXPECT_EQ(dp_->service("web")->backends[0].soft_limit, 2u);

  const std::string dash_f = dir.file("dash-f.cfg");
  PenctlServer with_f(core_.get(*dp_), PenctlServerOptions{.listen = "127.0.0.1:0", .config_file = dash_f});
  ASSERT_TRUE(with_f.start().ok());
  EXPECT_FALSE(with_f.execute("write").failed);
  EXPECT_TRUE(test::read_file(dash_f).ok());
  PenctlReply bad = with_f.execute("write " + dir.file("no-such-dir/x.cfg"));
  EXPECT_TRUE(bad.failed);
  EXPECT_EQ(bad.text.rfind("error: write: cannot create", 0), 0u) << bad.text;
}

// Pen's -F file: the interpreter of the control port, line by line.
TEST_F(PenctlServerTest, RunFileAppliesEachLineSkippingCommentsAndBlankLines) {
  test::TempDir dir;
  const std::string file = dir.write_file("pen.cfg",
                                          "# Pen's configuration\n"
                                          "\n"
                                          "tracking 60\r\n"
                                          "   # indented comment\n"
                                          "server 1 weight 4 prio 2\n"
                                          "servers\n"
                                          "acl 2 deny 10.0.0.1\n"
                                          "no hash\n");
  Status st = server_->run_file(file);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(dp_->policy("web")->tracking_seconds, 60);
  EXPECT_EQ(dp_->service("web")->backends[1].weight, 4u);
  EXPECT_EQ(dp_->service("web")->backends[1].prio, 2u);
  EXPECT_EQ(penctl("tracking"), "60\n");
}

// Every line is checked before any applies: a bad one is named FILE:LINE and
// what came before it in the file did not change anything.
TEST_F(PenctlServerTest, ABadLineIsNamedAndNothingOfTheFileApplies) {
  test::TempDir dir;
  const std::map<std::string, std::string> bad = {
      {"timeout abc", ":3: timeout: expected an integer 1-3600, got 'abc'"},
      {"frobnicate", ":3: unknown command 'frobnicate'"},
      {"server 9 weight 1", ":3: no server 9"},
      {"server 0 weight x", ":3: weight: expected a non-negative integer"},
      {"acl 11 deny 10.0.0.1", ":3: acl: expected a list number 0-9, got '11'"},
      {"ssl_ciphers HIGH", ":3: ssl_ciphers: service 'web' does not speak TLS"},
      {"dsr_ip 10.0.0.1", ":3: 'dsr_ip' is not yet supported by nib"},
      {"idlers 10001", ":3: idlers: expected an integer 0-10000, got '10001'"},
      {"dummy", ":3: dummy: cannot change at runtime"},
      {"debug 99", ":3: debug: expected"},
      {"tcp_fastclose both", ":3: tcp_fastclose both: cannot change at runtime"},
  };
  for (const auto& [line, error] : bad) {
    const std::string file = dir.write_file("bad.cfg", "tracking 60\nserver 1 weight 4\n" + line + "\n");
    Status st = server_->run_file(file);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << line;
    EXPECT_EQ(st.message().rfind(file + error, 0), 0u) << line << ": " << st.message();
    EXPECT_EQ(dp_->policy("web")->tracking_seconds, 0) << line;
    EXPECT_EQ(dp_->service("web")->backends[1].weight, 1u) << line;
  }
  Status missing = server_->run_file(dir.file("missing.cfg"));
  EXPECT_EQ(missing.message(), "cannot read " + dir.file("missing.cfg") + ": No such file or directory");
}

TEST_F(PenctlServerTest, IncludeReadsItsFileInPlaceBoundedInDepth) {
  test::TempDir dir;
  const std::string inner = dir.write_file("inner.cfg", "# inner\ntracking 45\n");
  const std::string outer = dir.write_file("outer.cfg", "blacklist 7\ninclude " + inner + "\nserver 0 weight 3\n");
  Status st = server_->run_file(outer);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(dp_->policy("web")->tracking_seconds, 45);
  EXPECT_EQ(dp_->policy("web")->blacklist_seconds, 7);

  // Over the control port, as penctl sends it.
  dir.write_file("inner.cfg", "tracking 46\n");
  EXPECT_EQ(penctl("include " + inner), "");
  EXPECT_EQ(dp_->policy("web")->tracking_seconds, 46);
  // A bad line inside names itself, and nothing applies.
  dir.write_file("inner.cfg", "tracking 47\nstubborn 1\n");
  EXPECT_EQ(failure("include " + outer), "error: include: " + inner + ":2: stubborn: takes no argument\n");
  EXPECT_EQ(dp_->policy("web")->tracking_seconds, 46);
  EXPECT_EQ(failure("include"), "error: include: expected 'include FILE'\n");
  const std::string missing = dir.write_file("missing.cfg", "include " + dir.file("nowhere.cfg") + "\n");
  EXPECT_EQ(server_->run_file(missing).message(),
            missing + ":1: include: cannot read " + dir.file("nowhere.cfg") + ": No such file or directory");

  // A chain of kMaxIncludeDepth includes is read; one more is refused, as is
  // a file that includes itself.
  auto chain = [&](int includes) {
    std::string next = dir.write_file("end.cfg", "tracking " + std::to_string(includes) + "\n");
    for (int i = includes; i >= 1; --i) {
      next = dir.write_file("chain" + std::to_string(i) + ".cfg", "include " + next + "\n");
    }
    return next;
  };
  const int max = PenctlServer::kMaxIncludeDepth;
  st = server_->run_file(chain(max));
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(dp_->policy("web")->tracking_seconds, max);
  st = server_->run_file(chain(max + 1));
  EXPECT_NE(st.message().find(":1: include: nested more than 8 deep"), std::string::npos) << st.message();
  const std::string loop = dir.write_file("loop.cfg", "tracking 1\ninclude " + dir.file("loop.cfg") + "\n");
  st = server_->run_file(loop);
  EXPECT_EQ(st.message(), loop + ":2: include: nested more than 8 deep (does a file include itself?)");
  EXPECT_EQ(dp_->policy("web")->tracking_seconds, max);
}

// nib --check: the words, without a running nib.
TEST_F(PenctlServerTest, CheckFileWordsNamesUnknownAndUnsupportedCommands) {
  test::TempDir dir;
  EXPECT_TRUE(PenctlServer::check_file_words(dir.write_file("ok.cfg", "# c\ntracking 5\nno hash\n")).ok());
  const std::string unknown = dir.write_file("unknown.cfg", "tracking 5\n\nfrobnicate 3\n");
  EXPECT_EQ(PenctlServer::check_file_words(unknown).message().rfind(unknown + ":3: unknown command 'frobnicate'", 0),
            0u);
  const std::string unsupported = dir.write_file("unsupported.cfg", "dsr_ip 10.0.0.1\n");
  EXPECT_EQ(PenctlServer::check_file_words(unsupported).message().rfind(unsupported + ":1: 'dsr_ip' is not yet", 0),
            0u);
}

// The lines Pen's `write` adds for its defaults, which nib always has: a file
// Pen or nib wrote replays.
TEST_F(PenctlServerTest, PensDefaultLinesAreAcceptedAndOtherValuesRefused) {
  for (const char* line : {"no ascii", "no http", "tcp_fastclose off", "no web_stats"}) {
    Answer a = ask(line);
    EXPECT_FALSE(a.reset) << line << ": " << a.text;
    EXPECT_EQ(a.text, "") << line;
  }
  EXPECT_NE(failure("tcp_fastclose up").find("restart nib with -o 'tcp_fastclose up'"), std::string::npos);
  EXPECT_NE(failure("no http 1").find("http: takes no argument"), std::string::npos);
  EXPECT_NE(failure("http").find("restart nib with -o 'http'"), std::string::npos) << "-H is set at start";
  EXPECT_NE(failure("ascii").find("does not dump traffic"), std::string::npos);

  test::TempDir dir;
  penctl("server 1 weight 3");
  penctl("tracking 30");
  const std::string file = dir.file("written.cfg");
  ASSERT_EQ(penctl("write " + file), "");
  penctl("tracking 0");
  Status st = server_->run_file(file);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(dp_->policy("web")->tracking_seconds, 30);
}

TEST_F(PenctlServerTest, StatusPidRecentAndUnknown) {
  EXPECT_NE(penctl("status").find("<html"), std::string::npos);
  EXPECT_EQ(penctl("pid"), std::to_string(::getpid()) + "\n");
  EXPECT_EQ(penctl("recent"), "");
  EXPECT_EQ(penctl("recent 60"), "");
  EXPECT_EQ(failure("bogus"), "error: unknown command 'bogus'; see penctl(1) and docs/pen-compat.md\n");
  EXPECT_EQ(failure("no bogus"), "error: unknown command 'no bogus'; see penctl(1) and docs/pen-compat.md\n");
  EXPECT_EQ(penctl(""), "");
  EXPECT_EQ(penctl("# a comment, as in Pen's config files"), "");
  EXPECT_FALSE(ask("pid").reset);
  failure("pid 1");
}

// penctl(1)'s commands, each word as the manual lists it: it works (no reset)
// or it fails loudly. Also checks that the table misses none of them.
TEST_F(PenctlServerTest, EveryPenctlCommandWorksOrFails) {
  const std::vector<std::string> manual = {
      "abort_on_error", "no abort_on_error", "acl", "no acl", "ascii", "no ascii", "blacklist", "block", "no block",
      "client_acl", "clients_max", "close", "connection", "conn_max", "control", "control_acl", "debug",
      "delayed_forward", "no delayed_forward", "dsr_if", "dummy", "no dummy", "epoll", "exit", "hash", "no hash",
      "http", "no http", "idle_timeout", "idlers", "include", "kqueue", "listen", "log", "no log", "mode",
      "pending_max", "pid", "poll", "prio", "no prio", "recent", "roundrobin", "no roundrobin", "select", "server",
      "servers", "socket", "source", "ssl_ciphers", "ssl_client_renegotiation_interval", "ssl_ocsp_response",
      "ssl_option", "ssl_sni_path", "status", "stubborn", "no stubborn", "tarpit_acl", "tcp_fastclose",
      "tcp_nodelay", "no tcp_nodelay", "timeout", "tracking", "transparent", "no transparent", "web_stats",
      "no web_stats", "weight", "no weight", "write"};
  std::set<std::string> keys;
  for (const auto& c : PenctlServer::commands()) keys.insert(std::string(c.key));
  for (const auto& word : manual) EXPECT_TRUE(keys.count(word)) << word << " is missing from the table";
  for (const auto& c : PenctlServer::commands()) {
    if (c.handler != nullptr) continue;
    std::string reply = failure(std::string(c.key) + " 1");
    EXPECT_NE(reply.find("'" + std::string(c.key) + "'"), std::string::npos) << reply;
    EXPECT_NE(reply.find("not"), std::string::npos) << reply;
  }
  // The ones that work answer without a reset (arguments as penctl(1) shows them).
  for (const char* ok : {"block", "no block", "delayed_forward", "no delayed_forward", "epoll", "control", "listen",
                         "mode", "servers", "recent", "blacklist", "tracking", "clients_max", "client_acl",
                         "control_acl", "status", "stubborn", "no stubborn", "timeout", "idle_timeout", "conn_max",
                         "debug", "tcp_nodelay", "log", "no log", "source", "pending_max", "no dummy"}) {
    Answer a = ask(ok);
    EXPECT_FALSE(a.reset) << ok << ": " << a.text;
    EXPECT_EQ(a.text.rfind("error", 0), std::string::npos) << ok << ": " << a.text;
  }
  EXPECT_EQ(penctl("control"), "127.0.0.1:" + std::to_string(server_->port()) + "\n");
  EXPECT_EQ(penctl("listen"), dp_->bound_address("web")->to_string() + "\n");
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

// Pen's "connection N" and "close N", N as the status page numbers open
// connections: the client sees its connection end, and a number no longer
// open is an error.
TEST_F(PenctlServerTest, ConnectionDescribesAndCloseClosesAnOpenConnection) {
  auto lb = dp_->bound_address("web");
  ASSERT_TRUE(lb.has_value());
  auto client = test::TestClient::connect(*lb);
  ASSERT_TRUE(client.ok()) << client.status().message();
  ASSERT_TRUE(client->read_line().ok());  // the backend's greeting: relaying
  uint64_t id = 0;
  for (const ConnectionInfo& c : dp_->connections()) {
    if (c.protocol == Protocol::kTcp) id = c.id;
  }
  ASSERT_NE(id, 0u);
  const std::string n = std::to_string(id);
  const std::string described = penctl("connection " + n);
  EXPECT_EQ(described.rfind("connection " + n + " service web client 127.0.0.1:", 0), 0u) << described;
  EXPECT_NE(described.find(" state open "), std::string::npos) << described;
  EXPECT_EQ(penctl("close " + n), "");
  auto rest = client->read_until_eof();
  EXPECT_TRUE(rest.ok()) << rest.status().message();
  EXPECT_NE(failure("close " + n).find("no open connection " + n), std::string::npos);
  EXPECT_NE(failure("connection " + n).find("no open connection " + n), std::string::npos);
  EXPECT_NE(failure("close x").find("expected 'close N'"), std::string::npos);
  EXPECT_NE(failure("connection").find("expected 'connection N'"), std::string::npos);
}

TEST_F(PenctlServerTest, AclCommandsChangeWhoIsServed) {
  EXPECT_EQ(who("127.0.0.2"), "b0");
  // List 1 is not the client list yet: nothing changes.
  EXPECT_EQ(penctl("acl 1 deny 127.0.0.2"), "");
  EXPECT_EQ(penctl("acl 1 permit 127.0.0.0 255.0.0.0"), "");
  EXPECT_NE(who("127.0.0.2"), "closed");
  EXPECT_EQ(penctl("client_acl 1"), "1\n");  // Pen prints the list in use
  EXPECT_EQ(penctl("client_acl"), "1\n");
  EXPECT_EQ(who("127.0.0.2"), "closed");
  EXPECT_NE(who("127.0.0.3"), "closed");
  EXPECT_EQ(dp_->service("web")->counters.rejected_acl, 1u);
  // Editing the client list applies at once; the first match decides.
  EXPECT_EQ(penctl("no acl 1"), "");
  EXPECT_NE(who("127.0.0.2"), "closed");  // an empty list permits all
  EXPECT_EQ(penctl("acl 1 permit 127.0.0.2"), "");
  EXPECT_NE(who("127.0.0.2"), "closed");
  EXPECT_EQ(who("127.0.0.3"), "closed");  // no match: the opposite of the last entry (permit)
  EXPECT_EQ(penctl("no acl 1"), "");
  EXPECT_EQ(penctl("acl 1 deny 127.0.0.2"), "");
  EXPECT_EQ(who("127.0.0.2"), "closed");
  EXPECT_NE(who("127.0.0.3"), "closed");  // no match: the opposite of the last entry (deny)
  EXPECT_EQ(penctl("client_acl 0"), "0\n");   // list 0 is empty
  EXPECT_NE(who("127.0.0.3"), "closed");
}

// The list in use is the service's ACL: what the API set is what an added
// entry extends and what `write` writes.
TEST_F(PenctlServerTest, TheClientListIsTheServicesAclWhoeverSetIt) {
  admin::v1::SetClientAclRequest set;
  set.set_service("web");
  set.add_entries("deny 127.0.0.2");
  ASSERT_TRUE(core_->set_client_acl(set).ok());
  EXPECT_EQ(penctl("acl 0 deny 127.0.0.3"), "");
  const AccessList acl = dp_->client_acl("web").value();
  ASSERT_EQ(acl.entries().size(), 2u);
  EXPECT_EQ(acl.entries()[0].to_string(), "deny 127.0.0.2/32");
  EXPECT_EQ(acl.entries()[1].to_string(), "deny 127.0.0.3/32");
  EXPECT_EQ(who("127.0.0.2"), "closed");
  EXPECT_EQ(who("127.0.0.3"), "closed");
  EXPECT_NE(who("127.0.0.4"), "closed");
  test::TempDir dir;
  ASSERT_EQ(penctl("write " + dir.file("pen.cfg")), "");
  const std::string text = test::read_file(dir.file("pen.cfg")).value_or("");
  EXPECT_NE(text.find("no acl 0\nacl 0 deny 127.0.0.2 255.255.255.255\nacl 0 deny 127.0.0.3 255.255.255.255\n"),
            std::string::npos)
      << text;
}

// Pen's `server N acl A`: server 0 takes only the clients list 5 permits,
// from the command on and whenever list 5 changes; `write` keeps the pair.
TEST_F(PenctlServerTest, AServersAclLimitsTheClientsItTakes) {
  EXPECT_EQ(penctl("acl 5 permit 127.0.0.2"), "");
  EXPECT_EQ(penctl("server 0 acl 5"), "");
  for (const char* ip : {"127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"}) EXPECT_EQ(who(ip), "b1") << ip;
  EXPECT_EQ(penctl("acl 5 permit 127.0.0.7"), "") << "the server follows its list";
  EXPECT_EQ(dp_->service("web")->backends.size(), 2u);
  test::TempDir dir;
  ASSERT_EQ(penctl("write " + dir.file("pen.cfg")), "");
  const std::string text = test::read_file(dir.file("pen.cfg")).value_or("");
  EXPECT_NE(text.find("server 0 acl 5 address 127.0.0.1 port " + std::to_string(b0_.port())), std::string::npos)
      << text;
  EXPECT_NE(text.find("server 1 address "), std::string::npos) << text;
  EXPECT_EQ(penctl("no acl 5"), "");  // an empty list: everyone again
  std::set<std::string> seen;
  for (int i = 10; i < 30 && seen.size() < 2; ++i) seen.insert(who("127.0.0." + std::to_string(i)));
  EXPECT_EQ(seen, (std::set<std::string>{"b0", "b1"}));
}

TEST_F(PenctlServerTest, ControlAclGuardsTheControlPort) {
  EXPECT_EQ(penctl("acl 2 permit 127.0.0.1"), "");
  EXPECT_EQ(penctl("acl 2 permit ::1/128"), "");
  EXPECT_EQ(penctl_from("127.0.0.2", "pid"), std::to_string(::getpid()) + "\n");
  EXPECT_EQ(penctl("control_acl 2"), "2\n");
  EXPECT_EQ(penctl_from("127.0.0.2", "pid"), "");  // closed without a reply
  EXPECT_EQ(penctl_from("127.0.0.2", "control_acl 0"), "");
  EXPECT_EQ(penctl("pid"), std::to_string(::getpid()) + "\n");
  EXPECT_EQ(penctl("control_acl 0"), "0\n");
  EXPECT_EQ(penctl_from("127.0.0.2", "pid"), std::to_string(::getpid()) + "\n");
  EXPECT_NE(who("127.0.0.2"), "closed") << "control_acl does not touch the service";
}

// Pen's -C /path/to/socket: the control port on a Unix socket (owner only).
class PenctlUnixSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dp_ = std::make_unique<Dataplane>(test::one_backend_config(b0_.address()));
    ASSERT_TRUE(dp_->start().ok());
  }
  void TearDown() override { dp_->stop(); }
  std::unique_ptr<PenctlServer> server(const std::string& path) {
    return std::make_unique<PenctlServer>(core_.get(*dp_), PenctlServerOptions{.listen = path});
  }
  // One command over the socket, read until the server closes.
  static std::string ask(const std::string& path, const std::string& command) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "connect failed";
    std::string line = command + "\n";
    EXPECT_EQ(::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL), static_cast<ssize_t>(line.size()));
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd.get(), buf, sizeof buf, 0)) > 0;) text.append(buf, static_cast<size_t>(n));
    return text;
  }

  test::TestBackend b0_{"b0"};
  std::unique_ptr<Dataplane> dp_;
  AdminCoreHolder core_;
  test::TempDir dir_;
};

TEST_F(PenctlUnixSocketTest, ServesOnAnOwnerOnlySocketAndRemovesItOnStop) {
  const std::string path = dir_.file("ctl");
  auto s = server(path);
  ASSERT_TRUE(s->start().ok());
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(ask(path, "control"), path + "\n");
  EXPECT_NE(ask(path, "servers").find("0 addr 127.0.0.1"), std::string::npos);
  // A second nib on the same live socket is refused and leaves it working.
  Status taken = server(path)->start();
  EXPECT_EQ(taken.code(), StatusCode::kAlreadyExists) << taken.message();
  EXPECT_EQ(ask(path, "control"), path + "\n");
  s.reset();
  EXPECT_NE(::lstat(path.c_str(), &st), 0) << "stop() removes the socket";
}

TEST_F(PenctlUnixSocketTest, AStaleSocketIsReplacedAndAnyOtherFileIsLeftAlone) {
  const std::string path = dir_.file("stale");
  {
    UniqueFd dead(::socket(AF_UNIX, SOCK_STREAM, 0));  // bound, never listening: what a killed nib leaves
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    ASSERT_EQ(::bind(dead.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  auto s = server(path);
  ASSERT_TRUE(s->start().ok());
  EXPECT_EQ(ask(path, "control"), path + "\n");

  const std::string file = dir_.write_file("not-a-socket", "keep me\n");
  Status refused = server(file)->start();
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("is not a socket"), std::string::npos) << refused.message();
  EXPECT_EQ(*test::read_file(file), "keep me\n");
}

// Pen's GeoIP entries: "acl N permit|deny country CC", here answered from a
// table (the GeoIP database itself has no loopback countries).
class PenctlCountryAclTest : public PenctlServerTest {
 protected:
  void SetUp() override {
    countries_ = std::make_shared<test::TableCountryLookup>(
        std::map<std::string, std::string>{{"127.0.0.2", "SE"}, {"127.0.0.3", "NO"}});
    PenctlServerTest::SetUp();
  }
};

TEST_F(PenctlCountryAclTest, ACountryEntryKeepsThatCountrysClientsOut) {
  EXPECT_EQ(penctl("acl 1 deny country se"), "");
  EXPECT_EQ(penctl("client_acl 1"), "1\n");
  EXPECT_EQ(who("127.0.0.2"), "closed");
  EXPECT_NE(who("127.0.0.3"), "closed");
  EXPECT_EQ(dp_->service("web")->counters.rejected_acl, 1u);
}

TEST_F(PenctlServerTest, BadAclCommandsAreErrorsAndChangeNothing) {
  EXPECT_NE(failure("acl 10 permit 127.0.0.1").find("expected a list number 0-9"), std::string::npos);
  failure("acl x permit 127.0.0.1");
  EXPECT_NE(failure("acl 0 allow 127.0.0.1").find("error: acl: expected"), std::string::npos);
  EXPECT_NE(failure("acl 0 permit 127.0.0.1 255.255").find("mask"), std::string::npos);
  failure("acl 0 permit ::1 255.0.0.0");
  failure("acl 0 permit nowhere");
  // This dataplane has no country lookup (the server gives it GeoIP's).
  EXPECT_NE(failure("acl 0 deny country SE").find("no country database"), std::string::npos);
  EXPECT_NE(failure("acl 0 deny country S3").find("two-letter country code"), std::string::npos);
  EXPECT_NE(failure("acl 0 deny country").find("country code after 'country'"), std::string::npos);
  failure("client_acl 10");
  failure("client_acl 1 2");
  failure("control_acl x");
  failure("no acl 11");
  EXPECT_EQ(penctl("client_acl"), "0\n");
  EXPECT_NE(who("127.0.0.2"), "closed");
  EXPECT_EQ(dp_->service("web")->counters.rejected_acl, 0u);
}

}  // namespace

}  // namespace nib::admin
