// A TCP service listening on a Unix socket path (Pen's `pen /path/to/socket
// h1:p1 ...`): clients connect over the socket, the backends stay TCP. One
// socket shared by every worker (TcpEngine says why), clients seen as
// 0.0.0.0 port 0 and never remembered, and the socket file's life: a stale
// one replaced, a live one refused, removed at stop. docs/pen-compat.md
// points here.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <gtest/gtest.h>

#include <cstring>

#include "dataplane/net/socket_ops.h"
#include "tests/support/dataplane_fixture.h"
#include "tests/support/temp_file.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::TestClient;

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Worker counts: one, and more than one sharing the socket.
class UnixListenTest : public test::DataplaneFixture<>, public ::testing::WithParamInterface<int> {
 protected:
  void SetUp() override {
    DataplaneFixture::SetUp();
    path_ = dir_.file("lb.sock");
    service_.listen = SocketAddress();
    service_.listen_path = path_;
  }
  DataplaneConfig config() const override {
    DataplaneConfig c = DataplaneFixture::config();
    c.workers = GetParam();
    c.access_log.path = access_log_;
    return c;
  }
  TestClient unix_client() {
    auto c = TestClient::connect_unix(path_);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return std::move(*c);
  }
  // The backend that greets a new client of the socket.
  std::string greeted() {
    TestClient c = unix_client();
    auto line = c.read_line();
    return line.ok() ? *line : "closed";
  }

  test::TempDir dir_;  // TearDown() stops the dataplane before it goes
  std::string path_;
  std::string access_log_;  // empty: none
};

INSTANTIATE_TEST_SUITE_P(Workers, UnixListenTest, ::testing::Values(1, 3));

TEST_P(UnixListenTest, ClientsReachTheBackendsRoundRobin) {
  service_.policy.mode = BalanceMode::kRoundRobin;
  add_backends(2);
  start();
  for (const char* expected : {"b0", "b1", "b0", "b1"}) EXPECT_EQ(greeted(), expected);
  // Bytes go both ways through the relay.
  TestClient c = unix_client();
  EXPECT_EQ(*c.read_line(), "b0");
  auto echoed = c.write_all_and_read_until_eof("ping over a Unix socket\n");
  ASSERT_TRUE(echoed.ok()) << echoed.status().message();
  EXPECT_EQ(*echoed, "ping over a Unix socket\n");
  auto st = dp_->service("test");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->listen_text(), path_) << "status prints the path, not 0.0.0.0:0";
}

// Pen's default mode tracks clients by IP; these have none, so each one is
// placed afresh (round-robin's initial choice) and none takes a table slot.
TEST_P(UnixListenTest, ClientsAreNotRememberedInTheClientTable) {
  add_backends(2);  // the default mode: affinity
  start();
  for (const char* expected : {"b0", "b1", "b0", "b1"}) EXPECT_EQ(greeted(), expected);
  auto st = dp_->service_with_clients("test");
  ASSERT_TRUE(st.ok());
  for (const auto& b : st->backends) EXPECT_EQ(b.remembered_clients, 0u) << b.address.to_string();
}

// 0.0.0.0 goes through the client ACL like any address: a list that denies
// it turns Unix socket clients away, one that permits it serves them.
TEST_P(UnixListenTest, TheClientAclSeesZeroZeroZeroZero) {
  add_backends(1);
  service_.client_acl.add(*parse_access_entry("deny 0.0.0.0"));
  service_.client_acl.add(*parse_access_entry("permit 0.0.0.0/0"));
  start();
  EXPECT_EQ(greeted(), "closed");
  AccessList permit;
  permit.add(*parse_access_entry("permit 0.0.0.0"));
  ASSERT_TRUE(dp_->set_client_acl("test", permit).ok());
  EXPECT_EQ(greeted(), "b0");
}

// What names the client to the backends: X-Forwarded-For says 0.0.0.0, and
// a PROXY header says nothing (v1 UNKNOWN: the backend uses its own peer).
TEST_P(UnixListenTest, HeadersToTheBackendsNameNoClient) {
  add_backends(1);
  service_.http = true;
  service_.proxy_protocol = ProxyProtocol::kV1;
  start();
  TestClient c = unix_client();
  ASSERT_TRUE(c.write_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  const std::string want = "b0\nPROXY UNKNOWN\r\nGET / HTTP/1.1\r\nHost: x\r\n"
                           "X-Forwarded-For: 0.0.0.0\r\nX-Forwarded-Proto: http\r\n\r\n";
  auto got = c.read_exact(want.size());
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(*got, want);
}

// Pen's -l line names the client 0.0.0.0 (what mergelogs and penlogd read).
TEST_P(UnixListenTest, TheAccessLogNamesZeroZeroZeroZero) {
  add_backends(1);
  access_log_ = dir_.file("access.log");
  start();
  {
    TestClient c = unix_client();
    EXPECT_EQ(*c.read_line(), "b0");
    ASSERT_TRUE(c.write_all("hello\n").ok());
  }  // closed: the connection ends and is logged
  std::string text;
  EXPECT_TRUE(test::wait_until([&] {
    auto log = test::read_file(access_log_);
    text = log.ok() ? *log : "";
    return !text.empty();
  }));
  EXPECT_EQ(text.rfind("0.0.0.0 ", 0), 0u) << text;
  EXPECT_NE(text.find(" 127.0.0.1 hello"), std::string::npos) << text;
}

// The path is a setting of the listening socket: a reload cannot change it.
TEST_P(UnixListenTest, AReloadCannotChangeThePath) {
  add_backends(1);
  start();
  DataplaneConfig moved = config();
  moved.services[0].listen_path = dir_.file("other.sock");
  Status st = dp_->reload(moved);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("listen address change needs a restart"), std::string::npos) << st.message();
  EXPECT_TRUE(dp_->reload(config()).ok()) << "the same path reloads";
  EXPECT_EQ(greeted(), "b0");
}

// The socket follows the umask (clients of other users connect to it), and
// the file goes away when the dataplane stops.
TEST_P(UnixListenTest, TheSocketFollowsTheUmaskAndIsRemovedAtStop) {
  add_backends(1);
  const mode_t mask = ::umask(022);
  start();
  ::umask(mask);
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  EXPECT_EQ(greeted(), "b0");
  dp_.reset();
  EXPECT_FALSE(exists(path_));
}

// A socket file left by a process that died (nobody listens) is replaced.
TEST_P(UnixListenTest, AStaleSocketFileIsReplaced) {
  add_backends(1);
  {
    UniqueFd dead(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path_.data(), path_.size());
    ASSERT_EQ(::bind(dead.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
  }  // closed without unlinking: the file stays, nobody answers on it
  ASSERT_TRUE(exists(path_));
  start();
  EXPECT_EQ(greeted(), "b0");
}

// A socket another process listens on is refused, and left to its owner.
TEST_P(UnixListenTest, ALiveSocketIsRefused) {
  add_backends(1);
  auto other = make_unix_listener(path_, 16);
  ASSERT_TRUE(other.ok()) << other.status().message();
  dp_ = std::make_unique<Dataplane>(config());
  Status st = dp_->start();
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists) << st.message();
  EXPECT_NE(st.message().find(path_ + " is in use by another process"), std::string::npos) << st.message();
  dp_.reset();
  EXPECT_TRUE(exists(path_)) << "the other process's socket stays";
  auto c = TestClient::connect_unix(path_);
  EXPECT_TRUE(c.ok()) << "still the other process's: " << c.status().message();
  ::unlink(path_.c_str());
}

// Pen's `listen` moves an IP listener at runtime; a path needs a restart.
TEST_P(UnixListenTest, ListenCannotMoveAPathAtRuntime) {
  add_backends(1);
  start();
  Status st = dp_->set_listen("test", *SocketAddress::parse("127.0.0.1:0"));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("restart"), std::string::npos) << st.message();
  EXPECT_EQ(greeted(), "b0") << "still on the socket";
}

}  // namespace
}  // namespace nib
