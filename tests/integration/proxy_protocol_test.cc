// The PROXY protocol (issue 12) through the real nib binary: backends get a
// v1 or v2 header naming the real client ahead of its bytes; a trusted
// balancer's header names the client for affinity, the client ACL and the
// logs; a trusted peer without a valid header is closed and counted;
// anyone else is relayed as is. curl --haproxy-protocol is a real client.
#include <unistd.h>

#include <csignal>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "dataplane/net/proxy_protocol.h"
#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"
#include "tests/support/test_nginx.h"
#include "tests/support/test_udp_backend.h"
#include "tests/support/test_udp_client.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::TestBackend;
using test::TestClient;

std::string at(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }
SocketAddress lb(uint16_t port) { return *SocketAddress::from_ip("127.0.0.1", port); }

class ProxyProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override { NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built"); }
  std::unique_ptr<test::NibProcess> start(std::vector<std::string> args) {
    return test::start_foreground(std::move(args), dir_.file("nib.pid"));
  }
  // A service on `port` with `extra` YAML lines, one echoing backend, and the
  // REST admin plane on `admin_port_`.
  std::unique_ptr<test::NibProcess> start_yaml(uint16_t port, const std::string& extra, uint16_t backend_port) {
    const std::string config = dir_.file("nib.yaml");
    const std::string yaml = "services:\n  - name: web\n    listen: " + at(port) + "\n" + extra +
                             "    backends:\n      - " + at(backend_port) + "\nadmin:\n  http_listen: " +
                             at(admin_port_) + "\n  grpc_listen: 127.0.0.1:0\n";
    EXPECT_TRUE(test::write_file(config, yaml).ok());
    return start({"--config", config});
  }
  // What the echoing backend got from nib when `source_ip` sent `bytes`
  // (its greeting line taken off: it greets once nib connected, which with
  // a PROXY header to read is after the client's first bytes).
  std::string echoed(uint16_t port, const std::string& bytes, const std::string& source_ip = "127.0.0.1") {
    auto c = TestClient::connect(lb(port), source_ip);
    if (!c.ok()) return "connect: " + c.status().message();
    auto all = c->write_all_and_read_until_eof(bytes);
    if (!all.ok()) return "read: " + all.status().message();
    size_t nl = all->find('\n');
    return nl == std::string::npos ? "no greeting: " + *all : all->substr(nl + 1);
  }
  double metric(const std::string& name) { return test::scrape_metric(lb(admin_port_), name); }
  test::TempDir dir_;
  const uint16_t admin_port_ = test::free_port();
};

TEST_F(ProxyProtocolTest, BackendsGetAV1HeaderNamingTheClient) {
  TestBackend b0("b0");
  const uint16_t port = test::free_port();
  auto nib = start({"-o", "proxy_protocol v1", at(port), at(b0.port())});
  ASSERT_TRUE(nib);
  const std::string got = echoed(port, "hello\n", "127.0.0.7");
  const std::string prefix = "PROXY TCP4 127.0.0.7 127.0.0.1 ";
  ASSERT_EQ(got.rfind(prefix, 0), 0u) << got;
  EXPECT_NE(got.find(" " + std::to_string(port) + "\r\nhello\n"), std::string::npos) << got;
}

TEST_F(ProxyProtocolTest, BackendsGetAV2HeaderAndEveryConnectionItsOwn) {
  TestBackend b0("b0");
  const uint16_t port = test::free_port();
  auto nib = start_yaml(port, "    proxy_protocol: v2\n", b0.port());
  ASSERT_TRUE(nib);
  for (const char* ip : {"127.0.0.2", "127.0.0.3"}) {
    const std::string got = echoed(port, "payload", ip);
    ProxyHeader h = parse_proxy_header(got.data(), got.size());
    ASSERT_EQ(h.result, ProxyHeader::Result::kDone) << h.error;
    EXPECT_FALSE(h.local);
    EXPECT_EQ(h.client.ip_string(), ip);
    EXPECT_EQ(h.destination, lb(port));
    EXPECT_EQ(got.substr(h.length), "payload");
  }
}

// A balancer in front (here: whatever connects from 127.0.0.1) names the
// client; nib passes that client on in its own header, remembers it, and
// applies the client ACL to it. Others (127.0.0.5) are relayed as they are.
TEST_F(ProxyProtocolTest, ATrustedBalancersHeaderNamesTheClient) {
  TestBackend b0("b0");
  const uint16_t port = test::free_port();
  auto nib = start_yaml(port,
                        "    proxy_protocol: v1\n    accept_proxy_protocol: [127.0.0.1/32]\n"
                        "    acl: [deny 10.66.0.0/16]\n",
                        b0.port());
  ASSERT_TRUE(nib);
  EXPECT_EQ(echoed(port, "PROXY TCP4 10.9.8.7 10.0.0.1 5555 80\r\nGET /\n"),
            "PROXY TCP4 10.9.8.7 10.0.0.1 5555 80\r\nGET /\n");
  // v2 in, v1 out: the same client.
  char v2[kProxyHeaderMax];
  size_t n = write_proxy_header(ProxyProtocol::kV2, *SocketAddress::parse("[2001:db8::5]:4000"),
                                *SocketAddress::parse("[2001:db8::1]:443"), v2);
  EXPECT_EQ(echoed(port, std::string(v2, n) + "x"), "PROXY TCP6 2001:db8::5 2001:db8::1 4000 443\r\nx");
  // The named client is the one remembered.
  auto clients = test::http_request(lb(admin_port_), "GET", "/api/v1/services/web/clients");
  ASSERT_TRUE(clients.ok());
  EXPECT_NE(clients->body.find("10.9.8.7"), std::string::npos) << clients->body;
  EXPECT_EQ(clients->body.find("\"127.0.0.1\""), std::string::npos) << clients->body;
  // The ACL judges the named client, not the balancer.
  auto denied = TestClient::connect(lb(port));
  ASSERT_TRUE(denied.ok());
  ASSERT_TRUE(denied->write_all("PROXY TCP4 10.66.1.1 10.0.0.1 1 80\r\n").ok());
  auto closed = denied->read_until_eof();
  ASSERT_TRUE(closed.ok()) << closed.status().message();
  EXPECT_EQ(*closed, "");
  // Not trusted: the bytes are the client's, header-like or not.
  const std::string got = echoed(port, "PROXY TCP4 10.9.8.7 10.0.0.1 5555 80\r\n", "127.0.0.5");
  EXPECT_EQ(got.rfind("PROXY TCP4 127.0.0.5 127.0.0.1 ", 0), 0u) << got;
  EXPECT_NE(got.find("\r\nPROXY TCP4 10.9.8.7 "), std::string::npos) << got;
  EXPECT_EQ(metric("nib_proxy_protocol_errors_total"), 0);
}

TEST_F(ProxyProtocolTest, ATrustedPeerWithoutAValidHeaderIsClosedAndCounted) {
  TestBackend b0("b0");
  const uint16_t port = test::free_port();
  auto nib = start_yaml(port, "    connect_timeout: 0.5\n    accept_proxy_protocol: [127.0.0.0/8]\n", b0.port());
  ASSERT_TRUE(nib);
  for (const std::string& bad : {std::string("GET / HTTP/1.1\r\n\r\n"), std::string("PROXY TCP4 nonsense\r\n"),
                                 std::string("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n")}) {
    auto c = TestClient::connect(lb(port));
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c->write_all(bad).ok());
    auto r = c->read_until_close();
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->text, "") << bad;
  }
  // Silent past the deadline (the connect timeout).
  auto silent = TestClient::connect(lb(port));
  ASSERT_TRUE(silent.ok());
  auto r = silent->read_until_close();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(b0.accepted(), 0u) << "no backend was bothered";
  EXPECT_TRUE(test::wait_until([&] { return metric("nib_proxy_protocol_errors_total") == 4; }, 5s))
      << metric("nib_proxy_protocol_errors_total");
  // And a good one still goes through.
  EXPECT_EQ(echoed(port, "PROXY UNKNOWN\r\nok"), "ok");
}

TEST_F(ProxyProtocolTest, CurlsHaproxyProtocolHeaderIsTaken) {
  NIB_REQUIRE(::access("/usr/bin/curl", X_OK) == 0, "no curl (scripts/install-deps.sh --test)");
  TestBackend web("web", test::BackendMode::kHttp);
  const uint16_t port = test::free_port();
  auto nib = start({"-o", "accept_proxy_protocol 127.0.0.1", at(port), at(web.port())});
  ASSERT_TRUE(nib);
  auto curl = test::NibProcess::start_program(
      "/usr/bin/curl", {"-sS", "--max-time", "10", "--haproxy-protocol", "http://" + at(port) + "/"});
  ASSERT_TRUE(curl.ok()) << curl.status().message();
  EXPECT_EQ((*curl)->wait_exit(15s).value_or(-1), 0) << (*curl)->output();
  (*curl)->wait_output_closed(5s);
  EXPECT_EQ((*curl)->stdout_output(), "web\n");
  EXPECT_EQ(web.http_requests(), 1u);
}

// A backend that wants a header gets one from the health checks too: the
// LOCAL form (v1 "PROXY UNKNOWN"), which names no client.
TEST_F(ProxyProtocolTest, HealthChecksOpenWithTheLocalHeader) {
  TestBackend b0("b0");
  const uint16_t port = test::free_port();
  auto nib = start_yaml(port,
                        "    proxy_protocol: v1\n    health_check: {type: send-expect, send: \"ping\", "
                        "expect: \"PROXY UNKNOWN\\r\\nping\", interval: 0.2, timeout: 0.15, rise: 1, fall: 1}\n",
                        b0.port());
  ASSERT_TRUE(nib);
  std::string body;
  EXPECT_TRUE(test::wait_until([&] {
    auto r = test::http_request(lb(admin_port_), "GET", "/api/v1/services/web/backends");
    body = r.ok() ? r->body : "";
    return body.find("\"last_check_ok\": true") != std::string::npos ||
           body.find("\"last_check_ok\":true") != std::string::npos;
  }, 10s)) << body;
  EXPECT_EQ(nib->output().find("up -> down"), std::string::npos) << nib->output();
}

// One backend behind a listener that wants a header, its peers not: the
// backend's own proxy_protocol wins over the service's, from the YAML and at
// runtime by REST (new connections), and "service" hands it back.
TEST_F(ProxyProtocolTest, ABackendsOwnSettingWinsOverTheServices) {
  TestBackend b0("b0"), b1("b1");
  const uint16_t port = test::free_port();
  const std::string config = dir_.file("nib.yaml");
  ASSERT_TRUE(test::write_file(config, "services:\n  - name: web\n    listen: " + at(port) +
                                           "\n    policy: {mode: roundrobin}\n    backends:\n      - {address: 127.0.0.1, "
                                           "port: " + std::to_string(b0.port()) + ", proxy_protocol: v2}\n      - " +
                                           at(b1.port()) + "\nadmin:\n  http_listen: " + at(admin_port_) +
                                           "\n  grpc_listen: 127.0.0.1:0\n")
                  .ok());
  auto nib = start({"--config", config});
  ASSERT_TRUE(nib);
  // What each backend got, by its greeting, over a round of connections.
  auto round = [&](const char* ip) {
    std::map<std::string, std::string> got;
    for (int i = 0; i < 2; ++i) {
      auto c = TestClient::connect(lb(port), ip);
      if (!c.ok()) continue;
      auto all = c->write_all_and_read_until_eof("data");
      if (!all.ok()) continue;
      size_t nl = all->find('\n');
      if (nl != std::string::npos) got[all->substr(0, nl)] = all->substr(nl + 1);
    }
    return got;
  };
  auto got = round("127.0.0.4");
  ASSERT_EQ(got.size(), 2u);
  ProxyHeader h = parse_proxy_header(got["b0"].data(), got["b0"].size());
  ASSERT_EQ(h.result, ProxyHeader::Result::kDone) << got["b0"];
  EXPECT_EQ(h.client.ip_string(), "127.0.0.4");
  EXPECT_EQ(got["b0"].substr(h.length), "data");
  EXPECT_EQ(got["b1"], "data") << "the service sends none";

  auto b1_view = test::http_request(lb(admin_port_), "GET", "/api/v1/services/web/backends/2");
  ASSERT_TRUE(b1_view.ok());
  ASSERT_NE(b1_view->body.find(std::to_string(b1.port())), std::string::npos) << b1_view->body;
  EXPECT_NE(b1_view->body.find("\"proxy_protocol\":\"service\""), std::string::npos) << b1_view->body;
  auto bad = test::http_request(lb(admin_port_), "PATCH", "/api/v1/services/web/backends/2", R"({"proxy_protocol": "v3"})");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400) << bad->body;
  auto patched = test::http_request(lb(admin_port_), "PATCH", "/api/v1/services/web/backends/2", R"({"proxy_protocol": "v1"})");
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ(patched->status, 200) << patched->body;
  EXPECT_NE(patched->body.find("\"proxy_protocol\":\"v1\""), std::string::npos) << patched->body;
  got = round("127.0.0.5");
  EXPECT_EQ(got["b1"].rfind("PROXY TCP4 127.0.0.5 127.0.0.1 ", 0), 0u) << got["b1"];

  auto back = test::http_request(lb(admin_port_), "PATCH", "/api/v1/services/web/backends/1",
                                 R"({"proxy_protocol": "service"})");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->status, 200) << back->body;
  got = round("127.0.0.6");
  EXPECT_EQ(got["b0"], "data") << "back to the service's: none";
}

// UDP: v2 in front of every datagram to the backend (each may arrive alone),
// DGRAM over IPv4, naming the client and the address it reached; the
// backend's replies go back as they are. A backend of its own: none.
TEST_F(ProxyProtocolTest, UdpBackendsGetAV2HeaderOnEveryDatagram) {
  test::TestUdpBackend echo("echo", test::TestUdpBackend::Mode::kEcho);
  const uint16_t port = test::free_port();
  const std::string config = dir_.file("nib.yaml");
  ASSERT_TRUE(test::write_file(config, "services:\n  - name: dns\n    protocol: udp\n    listen: " + at(port) +
                                           "\n    proxy_protocol: v2\n    backends: [" + at(echo.port()) +
                                           "]\nadmin:\n  http_listen: " + at(admin_port_) +
                                           "\n  grpc_listen: 127.0.0.1:0\n")
                  .ok());
  auto nib = start({"--config", config});
  ASSERT_TRUE(nib);
  test::TestUdpClient client(lb(port), "127.0.0.8");
  for (const std::string payload : {"first", "second"}) {
    auto reply = client.ask(payload);
    ASSERT_TRUE(reply) << payload;
    ProxyHeader h = parse_proxy_header(reply->data(), reply->size());
    ASSERT_EQ(h.result, ProxyHeader::Result::kDone) << h.error;
    EXPECT_EQ(static_cast<uint8_t>((*reply)[13]), 0x12) << "UDP over IPv4";
    EXPECT_EQ(h.client, client.local());
    EXPECT_EQ(h.destination, lb(port));
    EXPECT_EQ(reply->substr(h.length), payload);
  }
  auto v1 = test::http_request(lb(admin_port_), "PATCH", "/api/v1/services/dns/backends/1", R"({"proxy_protocol": "v1"})");
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->status, 400) << v1->body;
  EXPECT_NE(v1->body.find("no UDP form"), std::string::npos) << v1->body;
  auto off = test::http_request(lb(admin_port_), "PATCH", "/api/v1/services/dns/backends/1", R"({"proxy_protocol": "off"})");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->status, 200) << off->body;
  test::TestUdpClient other(lb(port), "127.0.0.9");  // a new session takes the new setting
  EXPECT_EQ(other.ask("plain").value_or("none"), "plain");
}

// A real parser at the other end: nginx with `listen ... proxy_protocol`
// answers with the client its PROXY header named. One backend takes v1, the
// other v2, each as its own setting.
TEST_F(ProxyProtocolTest, NginxReadsTheClientFromEitherVersion) {
  NIB_REQUIRE(::access(test::kNginxBinary, X_OK) == 0, "nginx not installed (scripts/install-deps.sh --test)");
  const uint16_t v1_port = test::free_port(), v2_port = test::free_port();
  auto server = [](uint16_t port, const char* name) {
    return "  server { listen " + at(port) + " proxy_protocol; access_log off;\n    location / { return 200 \"" +
           name + " $proxy_protocol_addr $remote_addr\\n\"; } }\n";
  };
  auto nginx = test::start_nginx(dir_.path(), server(v1_port, "v1") + server(v2_port, "v2"), {});
  ASSERT_TRUE(nginx.ok()) << nginx.status().message();
  const uint16_t port = test::free_port();
  const std::string config = dir_.file("nib.yaml");
  ASSERT_TRUE(test::write_file(config, "services:\n  - name: web\n    listen: " + at(port) +
                                           "\n    policy: {mode: roundrobin}\n    backends:\n"
                                           "      - {address: 127.0.0.1, port: " + std::to_string(v1_port) +
                                           ", proxy_protocol: v1}\n      - {address: 127.0.0.1, port: " +
                                           std::to_string(v2_port) + ", proxy_protocol: v2}\n")
                  .ok());
  auto nib = start({"--config", config});
  ASSERT_TRUE(nib);
  std::set<std::string> answers;
  for (const char* ip : {"127.0.0.31", "127.0.0.32"}) {
    auto c = TestClient::connect(lb(port), ip);
    ASSERT_TRUE(c.ok()) << c.status().message();
    auto reply = c->write_all_and_read_until_eof("GET / HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(reply.ok()) << reply.status().message();
    const size_t body = reply->find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos) << *reply;
    answers.insert(reply->substr(body + 4));
  }
  // $remote_addr is the peer, nib; the header names the client.
  EXPECT_EQ(answers, (std::set<std::string>{"v1 127.0.0.31 127.0.0.1\n", "v2 127.0.0.32 127.0.0.1\n"}));
  ASSERT_TRUE((*nginx)->signal(SIGQUIT).ok());
  (*nginx)->wait_exit(std::chrono::seconds(30));
}

TEST_F(ProxyProtocolTest, BadSettingsStopTheStart) {
  auto udp = test::run_nib({"-f", "-U", "-o", "proxy_protocol v1", "127.0.0.1:" + std::to_string(test::free_port()), "127.0.0.1:9"});
  EXPECT_EQ(udp.exit_code, 2) << udp.output;
  EXPECT_NE(udp.output.find("PROXY protocol v1 has no UDP form"), std::string::npos) << udp.output;
  auto word = test::run_nib({"-f", "-o", "proxy_protocol v3", "127.0.0.1:" + std::to_string(test::free_port()), "127.0.0.1:9"});
  EXPECT_EQ(word.exit_code, 2) << word.output;
  EXPECT_NE(word.output.find("proxy_protocol v1|v2|off"), std::string::npos) << word.output;
  auto prefix = test::run_nib({"-f", "-o", "accept_proxy_protocol 10.0.0.1/8", "127.0.0.1:" + std::to_string(test::free_port()), "127.0.0.1:9"});
  EXPECT_EQ(prefix.exit_code, 2) << prefix.output;
}

}  // namespace
}  // namespace nib
