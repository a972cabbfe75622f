// backends_from with the real binary and a real DNS server: Debian's dnsmasq
// (dnsmasq-base) serves a hosts file on a loopback port; the test edits the
// file and has dnsmasq re-read it (SIGHUP). nib finds the backends, drains
// and then removes one whose record went away, adds a new one, keeps them
// across its own reload, and keeps them all when dnsmasq is gone.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "nib/admin/v1/admin.grpc.pb.h"
#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"
#include "tests/support/test_dnsmasq.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NibProcess;
namespace v1 = admin::v1;

constexpr const char* kName = "web.nib.test";

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class DnsDiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NIB_REQUIRE(test::nib_binary_exists(), "nib not built");
    NIB_REQUIRE(test::TestDnsmasq::installed(), "dnsmasq not installed (Debian package dnsmasq-base)");
  }

  static std::string hosts(const std::vector<std::string>& ips) {
    std::string text;
    for (const auto& ip : ips) text += ip + " " + kName + "\n";
    return text;
  }

  void start_nib() {
    const std::string config = dir_.write_file(
        "nib.yaml", "services:\n  - name: lb\n    listen: 127.0.0.1:" + std::to_string(lb_port_) +
                        "\n    policy: {mode: roundrobin}\n    backends_from:\n      dns: " + kName +
                        "\n      port: " + std::to_string(backend_port_) +
                        "\n      interval: 100ms\n      resolver: " + dns_.address() + "\n");
    auto p = NibProcess::start({"-p", dir_.file("nib.pid"), "--admin-grpc", admin_addr_, "--admin-http",
                                http_addr_.to_string(), "--state", dir_.file("nib.state"),
                                "--config", config});
    ASSERT_TRUE(p.ok()) << p.status().message();
    nib_ = std::move(*p);
    bool up = test::wait_until([&] { return test::read_file(dir_.file("nib.pid")).ok() || !nib_->running(); }, 10s);
    ASSERT_TRUE(up && nib_->running()) << nib_->output();
    stub_ = v1::Admin::NewStub(grpc::CreateChannel(admin_addr_, grpc::InsecureChannelCredentials()));
  }

  std::vector<v1::Backend> backends() {
    v1::ListBackendsResponse out;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    grpc::Status s = stub_->ListBackends(&ctx, v1::ListBackendsRequest(), &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {out.backends().begin(), out.backends().end()};
  }

  // "ip state" of every backend, sorted: what the waits compare.
  std::set<std::string> listing() {
    std::set<std::string> out;
    for (const auto& b : backends()) {
      EXPECT_EQ(b.source(), "dns") << b.DebugString();
      EXPECT_EQ(b.port(), backend_port_);
      out.insert(b.address() + (b.state() == v1::BACKEND_STATE_DRAINING ? " draining" : ""));
    }
    return out;
  }

  bool wait_for_listing(const std::set<std::string>& want) {
    bool ok = test::wait_until([&] { return listing() == want; }, 10s);
    if (!ok) {
      std::string got;
      for (const auto& s : listing()) got += s + "; ";
      ADD_FAILURE() << "backends: " << got << "\n" << nib_->output();
    }
    return ok;
  }

  // The backends `n` new clients reach (round-robin: each in turn).
  std::set<std::string> served(int n) {
    std::set<std::string> out;
    for (int i = 0; i < n; ++i) {
      auto who = test::who_serves(lb_);
      EXPECT_TRUE(who.ok()) << who.status().message();
      if (who.ok()) out.insert(*who);
    }
    return out;
  }

  test::TempDir dir_;
  test::TestDnsmasq dns_{dir_.path()};
  uint16_t backend_port_ = test::free_port();
  uint16_t lb_port_ = test::free_port();
  SocketAddress lb_ = *SocketAddress::from_ip("127.0.0.1", lb_port_);
  std::string admin_addr_ = "127.0.0.1:" + std::to_string(test::free_port());
  SocketAddress http_addr_ = *SocketAddress::from_ip("127.0.0.1", test::free_port());
  // One port, three loopback addresses: what a headless Service's pods look like.
  test::TestBackend one_{"one", test::BackendMode::kEcho, "127.0.0.2", backend_port_};
  test::TestBackend two_{"two", test::BackendMode::kEcho, "127.0.0.3", backend_port_};
  test::TestBackend three_{"three", test::BackendMode::kEcho, "127.0.0.4", backend_port_};
  std::unique_ptr<NibProcess> nib_;
  std::unique_ptr<v1::Admin::Stub> stub_;
};

TEST_F(DnsDiscoveryTest, BackendsFollowTheRecordsAndSurviveAnOutage) {
  Status dns = dns_.start(hosts({"127.0.0.2", "127.0.0.3"}));
  ASSERT_TRUE(dns.ok()) << dns.message();
  ASSERT_NO_FATAL_FAILURE(start_nib());
  ASSERT_TRUE(wait_for_listing({"127.0.0.2", "127.0.0.3"}));
  EXPECT_EQ(served(4), (std::set<std::string>{"one", "two"}));

  // nib's own reload: discovery restarts and takes the backends over (same
  // ids, none added twice).
  std::set<uint32_t> ids;
  for (const auto& b : backends()) ids.insert(b.id());
  ASSERT_TRUE(nib_->signal(SIGHUP).ok());
  ASSERT_TRUE(nib_->wait_for_output("reloaded", 10s)) << nib_->output();
  // The new discovery's first lookup is logged as the first one was.
  ASSERT_TRUE(test::wait_until(
      [&] { return count_of(nib_->output(), "DNS lookup of web.nib.test answers 2 record(s)") >= 2; }, 10s))
      << nib_->output();
  std::set<uint32_t> ids_after;
  for (const auto& b : backends()) ids_after.insert(b.id());
  EXPECT_EQ(ids_after, ids);

  // A client that stays on "one" while its record goes away.
  std::optional<test::TestClient> held;
  for (int i = 0; i < 4 && !held; ++i) {
    auto client = test::TestClient::connect(lb_);
    ASSERT_TRUE(client.ok()) << client.status().message();
    auto greeting = client->read_line();
    ASSERT_TRUE(greeting.ok()) << greeting.status().message();
    if (*greeting == "one") held.emplace(std::move(*client));
  }
  ASSERT_TRUE(held.has_value());

  dns = dns_.publish(hosts({"127.0.0.3", "127.0.0.4"}));
  ASSERT_TRUE(dns.ok()) << dns.message();
  ASSERT_TRUE(wait_for_listing({"127.0.0.2 draining", "127.0.0.3", "127.0.0.4"}));
  // New clients: the two in DNS only. The held one still talks to "one".
  EXPECT_EQ(served(4), (std::set<std::string>{"two", "three"}));
  ASSERT_TRUE(held->write_all("still here\n").ok());
  auto echo = held->read_line();
  ASSERT_TRUE(echo.ok()) << echo.status().message();
  EXPECT_EQ(*echo, "still here");
  // Its last connection closes: the drained backend goes.
  held.reset();
  ASSERT_TRUE(wait_for_listing({"127.0.0.3", "127.0.0.4"}));

  // DNS goes away: the backends stay, and so does the traffic.
  dns_.stop();
  ASSERT_TRUE(nib_->wait_for_output("DNS lookup of web.nib.test (a) failed", 10s)) << nib_->output();
  EXPECT_EQ(listing(), (std::set<std::string>{"127.0.0.3", "127.0.0.4"}));
  EXPECT_EQ(served(4), (std::set<std::string>{"two", "three"}));
  EXPECT_GE(test::scrape_metric(http_addr_, "nib_discovery_lookups_total{service=\"lb\",result=\"ok\"}"), 3);
  EXPECT_GE(test::scrape_metric(http_addr_, "nib_discovery_lookups_total{service=\"lb\",result=\"timeout\"}"), 1);
  EXPECT_EQ(test::scrape_metric(http_addr_, "nib_discovery_backends{service=\"lb\"}"), 2);

  // Discovered backends are not the operator's: the state file (written by
  // this operator's change to one of them) leaves them out.
  v1::UpdateBackendRequest heavier;
  heavier.set_id(backends()[0].id());
  heavier.set_weight(3);
  v1::Backend updated;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  ASSERT_TRUE(stub_->UpdateBackend(&ctx, heavier, &updated).ok());
  EXPECT_EQ(updated.source(), "dns");
  auto state = test::read_file(dir_.file("nib.state"));
  ASSERT_TRUE(state.ok()) << state.status().message();
  EXPECT_EQ(state->find("127.0.0.3"), std::string::npos) << *state;
  EXPECT_EQ(state->find("127.0.0.4"), std::string::npos) << *state;
  EXPECT_NE(state->find("\"lb\""), std::string::npos) << *state;
}

}  // namespace
}  // namespace nib
