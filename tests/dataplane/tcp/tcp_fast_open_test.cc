// TCP Fast Open toward backends (issue 18): a backend with tcp_fast_open gets
// the client's first bytes in the SYN once its kernel gave nib a cookie; one
// that refuses still fails over before its first byte with the client's
// bytes intact; a server that speaks first still gets connected to. Every
// test runs in a private network namespace whose net.ipv4.tcp_fastopen is 3
// (client and server): the host's setting is never touched. The namespace
// (its sockets and its kernel's cookie cache with it) is deleted when the
// test ends.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>

#include "dataplane/base/unique_fd.h"
#include "dataplane/dataplane.h"
#include "dataplane/net/socket_ops.h"
#include "tests/support/dataplane_fixture.h"
#include "tests/support/net_namespace.h"
#include "tests/support/prerequisites.h"
#include "tests/support/test_udp_backend.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NetNamespace;
using test::TestClient;
using test::wait_until;

constexpr int kWaitMs = 5000;  // a bound on each wait, never a sleep

bool wait_readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, kWaitMs) == 1;
}

// A backend that listens with TCP_FASTOPEN (what a server needs, with the
// sysctl's server bit, to take data from a SYN): it serves one connection at
// a time on the test's thread.
class FastOpenServer {
 public:
  FastOpenServer() {
    fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto any = SocketAddress::parse("127.0.0.1:0");
    int qlen = 16;
    ok_ = fd_ && ::bind(fd_.get(), any->sockaddr_ptr(), any->length()) == 0 &&
          ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof qlen) == 0 && ::listen(fd_.get(), 16) == 0;
  }
  bool ok() const { return ok_; }
  SocketAddress address() const { return *local_address(fd_.get()); }

  struct Served {
    std::string bytes;       // what came before `want` bytes were in (or the peer's FIN)
    bool syn_data = false;   // the kernel took data from the SYN (TCPI_OPT_SYN_DATA)
  };
  // Accepts one connection, reads `want` bytes, answers `reply` and closes.
  Result<Served> serve_one(size_t want, const std::string& reply) {
    if (!wait_readable(fd_.get())) return Status::invalid("no connection came");
    UniqueFd conn(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return Status::invalid("accept failed");
    Served out;
    tcp_info info{};
    socklen_t len = sizeof info;
    if (::getsockopt(conn.get(), IPPROTO_TCP, TCP_INFO, &info, &len) == 0) {
      out.syn_data = (info.tcpi_options & TCPI_OPT_SYN_DATA) != 0;
    }
    char buf[4096];
    while (out.bytes.size() < want) {
      if (!wait_readable(conn.get())) return Status::invalid("bytes missing, got '" + out.bytes + "'");
      ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
      if (n <= 0) break;
      out.bytes.append(buf, static_cast<size_t>(n));
    }
    (void)!::send(conn.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
    return out;
  }

 private:
  UniqueFd fd_;
  bool ok_ = false;
};

class TcpFastOpenTest : public test::DataplaneFixture<> {
 protected:
  void SetUp() override {
    NIB_REQUIRE(test::can_build_namespaces(), "root and iproute2 (ip netns)");
    auto ns = NetNamespace::create("tfo");
    ASSERT_TRUE(ns.ok()) << ns.status().message();
    ns_ = std::move(*ns);
    // Per namespace: bit 1 the client (nib), bit 2 the server (the backends).
    Status st = test::run_command("ip netns exec " + ns_->name() + " sh -c 'echo 3 > /proc/sys/net/ipv4/tcp_fastopen'");
    ASSERT_TRUE(st.ok()) << st.message();
    // This thread, and the workers and backends it starts, live in it.
    enter_ = std::make_unique<NetNamespace::Enter>(*ns_);
    ASSERT_TRUE(enter_->ok());
    DataplaneFixture::SetUp();
    service_.defer_accept = true;  // the client's first bytes are in hand before the connect
    server_ = std::make_unique<FastOpenServer>();
    ASSERT_TRUE(server_->ok());
  }
  void TearDown() override {
    DataplaneFixture::TearDown();
    server_.reset();
    enter_.reset();
  }

  BackendConfig fast_open(const SocketAddress& address, bool on = true) {
    BackendConfig c;
    c.address = address;
    c.host = "127.0.0.1";
    c.tcp_fast_open = on;
    return c;
  }
  BackendStatus backend(int i) { return dp_->status()[0].backends[i]; }

  // A TcpExt counter of the namespace's kernel (/proc/net/netstat).
  uint64_t tcp_ext(const std::string& name) {
    auto text = test::command_output("ip netns exec " + ns_->name() + " cat /proc/net/netstat");
    if (!text.ok()) return 0;
    std::istringstream in(*text);
    std::string names, values;
    while (std::getline(in, names) && std::getline(in, values)) {
      if (names.rfind("TcpExt:", 0) != 0) continue;
      std::istringstream n(names), v(values);
      for (std::string key, value; n >> key && v >> value;) {
        if (key == name) return std::stoull(value);
      }
    }
    return 0;
  }

  // Client n sends `request` through nib; the server takes it and answers.
  FastOpenServer::Served exchange(const std::string& request, int n = 1) {
    auto client = TestClient::connect(lb_, test::client_ip(n));
    EXPECT_TRUE(client.ok()) << client.status().message();
    if (!client.ok()) return {};
    EXPECT_TRUE(client->write_all(request).ok());
    auto served = server_->serve_one(request.size(), "ok\n");
    EXPECT_TRUE(served.ok()) << served.status().message();
    auto reply = client->read_line();
    EXPECT_TRUE(reply.ok() && *reply == "ok") << (reply.ok() ? *reply : reply.status().message());
    return served.ok() ? *served : FastOpenServer::Served{};
  }

  std::unique_ptr<NetNamespace> ns_;
  std::unique_ptr<NetNamespace::Enter> enter_;
  std::unique_ptr<FastOpenServer> server_;
};

TEST_F(TcpFastOpenTest, TheClientsBytesGoInTheSynOnceTheBackendGaveACookie) {
  service_.backends = {fast_open(server_->address())};
  start();
  const uint64_t passive_before = tcp_ext("TCPFastOpenPassive");
  // The first SYN asks for a cookie and carries nothing: the bytes follow the handshake.
  auto first = exchange("GET /one HTTP/1.0\r\n\r\n");
  EXPECT_EQ(first.bytes, "GET /one HTTP/1.0\r\n\r\n");
  EXPECT_FALSE(first.syn_data);
  // With the cookie, the SYN carries them.
  auto second = exchange("GET /two HTTP/1.0\r\n\r\n");
  EXPECT_EQ(second.bytes, "GET /two HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(second.syn_data);
  EXPECT_EQ(tcp_ext("TCPFastOpenPassive"), passive_before + 1);
  // Counted as a connect and relayed bytes, as without Fast Open.
  ASSERT_TRUE(wait_until([&] { return backend(0).counters.bytes_in == 2 * first.bytes.size(); }));
  EXPECT_EQ(backend(0).counters.connections, 2u);
  EXPECT_EQ(backend(0).counters.connect_failures, 0u);
  EXPECT_EQ(backend(0).counters.connect_latency.count, 2u);
}

TEST_F(TcpFastOpenTest, OffByDefaultAndSwitchedOnAtRuntimeForNewConnections) {
  BackendConfig plain = fast_open(server_->address(), /*on=*/false);
  EXPECT_FALSE(BackendConfig{}.tcp_fast_open);
  service_.backends = {plain};
  start();
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(exchange("plain\n").syn_data);
  BackendPatch patch;
  patch.tcp_fast_open = true;
  auto updated = dp_->update_backend(service_.name, backend(0).id, patch);
  ASSERT_TRUE(updated.ok()) << updated.status().message();
  EXPECT_TRUE(updated->tcp_fast_open);
  EXPECT_FALSE(exchange("cookie\n").syn_data);
  EXPECT_TRUE(exchange("fast\n").syn_data);
}

TEST_F(TcpFastOpenTest, ARefusingBackendFailsOverWithTheClientsBytesIntact) {
  // b0 refuses: a port bound but never listening answers every SYN, data or
  // not, with a reset. The kernel's cookie is per destination address, so
  // once b1 (same address) gave one, b0's SYNs carry the bytes too.
  UniqueFd refusing(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto any = SocketAddress::parse("127.0.0.1:0");
  ASSERT_EQ(::bind(refusing.get(), any->sockaddr_ptr(), any->length()), 0);
  service_.policy.mode = BalanceMode::kPrio;
  service_.policy.blacklist_seconds = 0;  // b0 is tried first every time
  service_.backends = {fast_open(*local_address(refusing.get())), fast_open(server_->address())};
  service_.backends[1].prio = 1;
  start();
  const uint64_t active_before = tcp_ext("TCPFastOpenActive");
  const std::string requests[] = {"first request\n", "second request, sent in a SYN to b0 first\n"};
  for (int i = 0; i < 2; ++i) {
    // Two clients: a client goes back to the server it used last, b1.
    auto served = exchange(requests[i], i + 1);
    EXPECT_EQ(served.bytes, requests[i]);  // once, whole, in order
  }
  EXPECT_EQ(backend(0).counters.connect_failures, 2u);
  EXPECT_EQ(backend(0).counters.connections, 0u);
  EXPECT_EQ(backend(1).counters.connections, 2u);
  EXPECT_EQ(backend(1).counters.connect_failures, 0u);
  // The second client's bytes went in b0's SYN, then in b1's, acknowledged there.
  EXPECT_EQ(tcp_ext("TCPFastOpenActive"), active_before + 1);
}

TEST_F(TcpFastOpenTest, AServerThatSpeaksFirstIsConnectedToWithoutWaitingForTheClient) {
  // A client that sends nothing: no bytes in hand, so a plain connect (a
  // Fast Open SYN would wait for data that never comes). Not deferred here,
  // as defer_accept would hold such a client for its timeout first.
  service_.defer_accept = false;
  auto& greeter = spare();  // greets with its name, then echoes
  service_.backends = {fast_open(greeter.address())};
  start();
  for (int i = 0; i < 2; ++i) {
    auto client = TestClient::connect(lb_);
    ASSERT_TRUE(client.ok()) << client.status().message();
    auto greeting = client->read_line();
    ASSERT_TRUE(greeting.ok()) << greeting.status().message();
    EXPECT_EQ(*greeting, "b0");
    ASSERT_TRUE(client->write_all("echo\n").ok());
    EXPECT_EQ(*client->read_line(), "echo");
  }
}

TEST_F(TcpFastOpenTest, APROXYHeaderGoesFirstInTheSyn) {
  service_.proxy_protocol = ProxyProtocol::kV1;
  service_.backends = {fast_open(server_->address())};
  start();
  for (int i = 0; i < 2; ++i) {
    const std::string request = "hello " + std::to_string(i) + "\n";
    auto client = TestClient::connect(lb_);
    ASSERT_TRUE(client.ok()) << client.status().message();
    ASSERT_TRUE(client->write_all(request).ok());
    const std::string header = "PROXY TCP4 127.0.0.1 " + lb_.ip_string() + " " +
                               std::to_string(client->local_address().port()) + " " + std::to_string(lb_.port()) + "\r\n";
    auto served = server_->serve_one(header.size() + request.size(), "ok\n");
    ASSERT_TRUE(served.ok()) << served.status().message();
    EXPECT_EQ(served->bytes, header + request);
    EXPECT_EQ(served->syn_data, i == 1);  // the second has the cookie
    EXPECT_EQ(*client->read_line(), "ok");
  }
}

// The setting is TCP's: a UDP service refuses it from the configuration and
// from an update, which then changes nothing.
TEST(TcpFastOpenConfigTest, AUdpServiceRefusesIt) {
  test::TestUdpBackend backend("u0");
  DataplaneConfig config;
  config.workers = 1;
  ServiceConfig s;
  s.name = "dns";
  s.protocol = Protocol::kUdp;
  s.listen = *SocketAddress::parse("127.0.0.1:0");
  BackendConfig b;
  b.address = backend.address();
  b.tcp_fast_open = true;
  s.backends = {b};
  config.services = {s};
  EXPECT_EQ(validate(config).message(), "service 'dns': backend " + b.address.to_string() +
                                            ": tcp_fast_open is for TCP services only");
  config.services[0].backends[0].tcp_fast_open = false;
  Dataplane dp(config);
  ASSERT_TRUE(dp.start().ok());
  BackendPatch patch;
  patch.tcp_fast_open = true;
  auto updated = dp.update_backend("dns", dp.status()[0].backends[0].id, patch);
  EXPECT_EQ(updated.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(updated.status().message(), "tcp_fast_open is for TCP services only");
  EXPECT_FALSE(dp.status()[0].backends[0].tcp_fast_open);
}

}  // namespace
}  // namespace nib
