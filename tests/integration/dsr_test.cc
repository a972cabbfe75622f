// Pen's Direct Server Return (issue 12) through the real nib binary, on a
// segment the test builds: a client, nib and two backends, each in its own
// namespace, plugged into one bridge. The backends hold the service address
// on lo (arp_ignore=1, arp_announce=2: only nib answers ARP for it), nib
// forwards the clients' frames with their MAC addresses changed, and the
// backends answer the clients directly. Every namespace is deleted, with its
// interfaces, when the test ends, however it ends.
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/namespace_fixture.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"
#include "tests/support/test_udp_backend.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NetNamespace;
using test::TestBackend;
using test::TestClient;
using test::TestUdpBackend;

// Private addresses that exist only inside the test's namespaces.
constexpr const char* kService = "10.214.0.100";
constexpr const char* kClient = "10.214.0.10";
constexpr const char* kClient2 = "10.214.0.11";
constexpr const char* kNib = "10.214.0.2";
constexpr const char* kBackendIp[2] = {"10.214.0.3", "10.214.0.4"};
constexpr uint16_t kPort = 8080;

class DsrTest : public test::NamespaceFixture {
 protected:
  void SetUp() override {
    NamespaceFixture::SetUp();
    if (unready()) return;
    switch_ = make("s");
    ASSERT_TRUE(switch_);
    ok(client_->plug("c0", std::string(kClient) + "/24", *switch_, "br0"));
    ok(client_->ip(std::string("addr add ") + kClient2 + "/24 dev c0"));
    ok(nib_ns_->plug("n0", std::string(kNib) + "/24", *switch_, "br0"));
    for (int i = 0; i < 2; ++i) {
      ok(backend_ns_[i]->plug("e0", std::string(kBackendIp[i]) + "/24", *switch_, "br0"));
      ok(backend_ns_[i]->ip(std::string("addr add ") + kService + "/32 dev lo"));
      // The service address is the backends' too, but only nib may answer
      // ARP for it: the usual setup of a DSR real server.
      ok(test::run_command("ip netns exec " + backend_ns_[i]->name() +
                           " sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore &&"
                           " echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce'"));
    }
  }

  // nib from a YAML file: DSR with a TCP health check on both backends.
  std::unique_ptr<test::NibProcess> start_checked_nib() {
    const std::string path = dir_.file("nib.yaml");
    std::ofstream(path) << "services:\n  - name: web\n    listen: " << kService << ":" << kPort
                        << "\n    dsr_interface: n0\n"
                        << "    health_check: {type: tcp, interval: 1, timeout: 0.9, fall: 1, rise: 1}\n"
                        << "    backends: [" << kBackendIp[0] << ":" << kPort << ", " << kBackendIp[1] << ":" << kPort
                        << "]\n";
    return start_nib({"--no-admin", "--config", path});
  }
  // A TCP backend in backend namespace `i`, listening on every address: the
  // service address for the clients, its own for nib's health checks.
  std::unique_ptr<TestBackend> tcp_backend(int i) {
    NetNamespace::Enter in(*backend_ns_[i]);
    EXPECT_TRUE(in.ok());
    return std::make_unique<TestBackend>("b" + std::to_string(i), test::BackendMode::kEcho, "0.0.0.0", kPort);
  }
  std::string at(int i) { return std::string(kBackendIp[i]) + ":" + std::to_string(kPort); }
  std::string service() { return std::string(kService) + ":" + std::to_string(kPort); }
  // The backend that greets a client from `source_ip`; "error: ..." when none does.
  std::string who(const std::string& source_ip, Duration timeout = 5s) {
    NetNamespace::Enter in(*client_);
    auto name = test::who_serves(*SocketAddress::from_ip(kService, kPort), source_ip, timeout);
    return name.ok() ? *name : "error: " + name.status().message();
  }
  // What nib's interface has received so far, in bytes (its namespace's /proc/net/dev).
  uint64_t nib_received_bytes() {
    NetNamespace::Enter in(*nib_ns_);
    std::ifstream dev("/proc/thread-self/net/dev");
    std::string line;
    while (std::getline(dev, line)) {
      const auto colon = line.find(':');
      if (colon == std::string::npos || line.substr(0, colon).find("n0") == std::string::npos) continue;
      std::istringstream fields(line.substr(colon + 1));
      uint64_t bytes = 0;
      fields >> bytes;
      return bytes;
    }
    ADD_FAILURE() << "no n0 in nib's /proc/net/dev";
    return 0;
  }

  // A sample from nib's /metrics (admin HTTP on 127.0.0.1:9901 in its
  // namespace); -1 when it is not there.
  double metric(const std::string& series) {
    NetNamespace::Enter in(*nib_ns_);
    return test::scrape_metric(*SocketAddress::from_ip("127.0.0.1", 9901), series);
  }

  // The segment's bridge; the base fixture's namespaces plug into it.
  std::unique_ptr<NetNamespace> switch_;
};

TEST_F(DsrTest, BackendsAnswerTheClientDirectlyAndPensAffinityHolds) {
  auto b0 = tcp_backend(0);
  auto b1 = tcp_backend(1);
  // The admin plane listens on nib's namespace's own loopback.
  auto nib = start_nib({"--admin-http", "127.0.0.1:9901", "-O", "dsr_if n0", service(), at(0), at(1)});
  ASSERT_TRUE(nib);

  const std::string first = who(kClient);
  ASSERT_TRUE(first == "b0" || first == "b1") << first << "\n" << nib->output();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(who(kClient), first) << "Pen's client table: the same server";
  TestBackend& chosen = first == "b0" ? *b0 : *b1;
  auto ips = chosen.peer_ips();
  ASSERT_EQ(ips.size(), 6u);
  EXPECT_TRUE(std::all_of(ips.begin(), ips.end(), [](const std::string& ip) { return ip == kClient; }))
      << "the backend sees the client itself: " << ips.front();
  const std::string second = who(kClient2);
  EXPECT_TRUE(second == "b0" || second == "b1") << second;

  // A MiB each way: the client's bytes cross nib, the backend's echo does
  // not (it would double what nib's interface receives).
  const std::string data(1 << 20, 'x');
  const uint64_t before = nib_received_bytes();
  std::string echoed;
  {
    NetNamespace::Enter in(*client_);
    auto c = TestClient::connect(*SocketAddress::from_ip(kService, kPort), kClient);
    ASSERT_TRUE(c.ok()) << c.status().message();
    ASSERT_EQ(*c->read_line(), first);
    auto r = c->write_all_and_read_until_eof(data);
    ASSERT_TRUE(r.ok()) << r.status().message();
    echoed = *r;
  }
  const uint64_t received = nib_received_bytes() - before;
  EXPECT_EQ(echoed.size(), data.size());
  EXPECT_GE(received, data.size()) << "the client's bytes come through nib";
  EXPECT_LT(received, data.size() + data.size() / 4) << "the echo went around nib";

  // Eight connections, eight flows; the frames forwarded hold at least the MiB.
  EXPECT_GE(metric("nib_dsr_flows_opened_total{service=\"default\"}"), 8);
  EXPECT_GE(metric("nib_dsr_bytes_total{service=\"default\"}"), static_cast<double>(data.size()));
  EXPECT_GE(metric("nib_dsr_arp_replies_total{service=\"default\"}"), 1);
  EXPECT_EQ(metric("nib_dsr_dropped_frames_total{service=\"default\",reason=\"no_backend\"}"), 0);
}

TEST_F(DsrTest, ADeadBackendsClientsMoveOnceItsHealthCheckFails) {
  auto b0 = tcp_backend(0);
  auto b1 = tcp_backend(1);
  auto nib = start_checked_nib();
  ASSERT_TRUE(nib);
  std::string first = who(kClient);
  ASSERT_TRUE(first == "b0" || first == "b1") << first << "\n" << nib->output();
  TestBackend& chosen = first == "b0" ? *b0 : *b1;
  TestBackend& other = first == "b0" ? *b1 : *b0;
  chosen.stop();
  // Frames still go to the dead server until its check fails (a few tenths
  // of a second): those connects are refused there at once. Then the client
  // moves. Bounded: 200 tries, 50 ms apart.
  std::string now;
  for (int attempt = 0; attempt < 200 && now != other.name(); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(50ms);
    now = who(kClient, 1s);
  }
  EXPECT_EQ(now, other.name()) << nib->output();
  EXPECT_EQ(who(kClient), other.name()) << "remembered at its new server";
  EXPECT_EQ(other.peer_ips().back(), kClient);
}

TEST_F(DsrTest, UdpDatagramsGoToTheBackendWhichAnswersDirectly) {
  std::unique_ptr<TestUdpBackend> u0;
  {
    NetNamespace::Enter in(*backend_ns_[0]);
    ASSERT_TRUE(in.ok());
    u0 = std::make_unique<TestUdpBackend>("u0", TestUdpBackend::Mode::kWho, kService, kPort);
  }
  auto nib = start_nib({"-U", "-O", "dsr_if n0", service(), at(0)});
  ASSERT_TRUE(nib);
  NetNamespace::Enter in(*client_);
  ASSERT_TRUE(in.ok());
  // The first datagrams go nowhere until nib has the backend's MAC.
  const std::string reply = test::udp_exchange(kClient, *SocketAddress::from_ip(kService, kPort), "hi");
  // "<name> <sender> <payload>": the backend saw the client itself.
  EXPECT_EQ(reply.rfind(std::string("u0 ") + kClient + ":", 0), 0u) << reply << "\n" << nib->output();
}

TEST_F(DsrTest, RunsAsAnotherUserWithThePacketSocketOpenedBeforeTheDrop) {
  auto b0 = tcp_backend(0);
  auto nib = start_nib({"-u", "nobody", "-O", "dsr_if n0", service(), at(0)});
  ASSERT_TRUE(nib);
  EXPECT_EQ(who(kClient), "b0") << nib->output();
}

TEST_F(DsrTest, TheTarpitAnswersForTheAddressesItsAclPermitsAndHoldsTheScanner) {
  auto b0 = tcp_backend(0);
  auto nib = start_nib({"-O", "dsr_if n0", "-O", "acl 1 permit 10.214.0.200", "-O", "tarpit_acl 1", service(), at(0)});
  ASSERT_TRUE(nib);
  NetNamespace::Enter in(*client_);
  ASSERT_TRUE(in.ok());
  // Nothing holds 10.214.0.200: only nib's ARP answer and SYN-ACK make a
  // connect there succeed, on any port; no byte ever comes back.
  for (uint16_t port : {22, 443}) {
    auto c = TestClient::connect(*SocketAddress::from_ip("10.214.0.200", port), kClient, 3s);
    ASSERT_TRUE(c.ok()) << port << ": " << c.status().message() << "\n" << nib->output();
    c->set_timeout(300ms);
    auto r = c->read_some();
    EXPECT_FALSE(r.ok()) << "a tarpit never answers: " << *r;
  }
  // An address the list does not permit gets no answer.
  auto c = TestClient::connect(*SocketAddress::from_ip("10.214.0.201", 22), kClient, 1s);
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(test::who_serves(*SocketAddress::from_ip(kService, kPort), kClient).value_or("none"), "b0")
      << "the service is served as before";
}

TEST(DsrConfigTest, AServiceAddressAndAnInterfaceAreRequired) {
  NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built");
  auto r = test::run_nib({"-f", "-O", "dsr_if lo", "0.0.0.0:8080", "127.0.0.1:8080"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("direct server return needs the service's own IPv4 address"), std::string::npos) << r.output;
  r = test::run_nib({"-f", "-O", "dsr_if nib-no-such0", "127.0.0.9:8080", "127.0.0.1:8080"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("direct server return on nib-no-such0: no such interface"), std::string::npos) << r.output;
  r = test::run_nib({"-f", "-O", "dsr_if lo", "-O", "transparent", "127.0.0.9:8080", "127.0.0.1:8080"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("transparent cannot apply"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace nib
