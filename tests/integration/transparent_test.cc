// Pen's Transparent Reverse Proxy (issue 12) through the real nib binary, on
// networks the test builds: a client namespace, nib's namespace and two
// backend namespaces, each backend on its own veth with nib as its default
// gateway, nib's side routed by scripts/transparent-routing.sh (the script
// docs/transparent-proxy.md gives operators). The backends must see the
// client's own address; Pen's affinity and failover must hold as without
// transparent mode, with -u too. Every namespace is deleted, with its interfaces, when
// the test ends, however it ends.
#include <linux/capability.h>
#include <pwd.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
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
constexpr const char* kClient = "10.213.1.2";
constexpr const char* kClient2 = "10.213.1.3";
constexpr const char* kNib = "10.213.1.1";
constexpr const char* kBackendIp[2] = {"10.213.2.2", "10.213.3.2"};
constexpr uint16_t kPort = 8080;
#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif


class TransparentTest : public test::NamespaceFixture {
 protected:
  void SetUp() override {
    NamespaceFixture::SetUp();
    if (unready()) return;
    ok(client_->link("c0", std::string(kClient) + "/24", *nib_ns_, "n0", std::string(kNib) + "/24"));
    ok(client_->ip(std::string("addr add ") + kClient2 + "/24 dev c0"));
    ok(client_->ip(std::string("route add default via ") + kNib));
    for (int i = 0; i < 2; ++i) {
      const std::string net = "10.213." + std::to_string(i + 2);
      ok(nib_ns_->link("n" + std::to_string(i + 1), net + ".1/24", *backend_ns_[i], "b0", net + ".2/24"));
      ok(backend_ns_[i]->ip("route add default via " + net + ".1"));
    }
    ok(test::run_command("ip netns exec " + nib_ns_->name() + " " NIB_SOURCE_DIR
                         "/scripts/transparent-routing.sh up n1 n2"));
  }

  // nib as -u nobody, once it dropped its privileges (the pid file comes
  // before the drop).
  std::unique_ptr<test::NibProcess> start_as_nobody(std::vector<std::string> args) {
    args.insert(args.begin(), {"-u", "nobody"});
    auto nib = start_nib(std::move(args));
    if (nib && !nib->wait_for_output("running as user nobody", 10s)) {
      ADD_FAILURE() << "no privilege drop: " << nib->output();
      return nullptr;
    }
    return nib;
  }

  // Every thread of the nib whose pid file is the fixture's runs as nobody;
  // exactly `workers` threads hold CAP_NET_ADMIN, permitted and effective,
  // with a bounding set of it alone; all the others (the main thread first)
  // hold no capability. The workers start right after the drop's log line:
  // waited for.
  void expect_only_the_workers_keep_net_admin(size_t workers) {
    auto pid_text = test::read_file(dir_.file("nib.pid"));
    ASSERT_TRUE(pid_text.ok()) << pid_text.status().message();
    const std::string pid = std::to_string(std::stoi(*pid_text));
    const passwd* pw = ::getpwnam("nobody");
    ASSERT_NE(pw, nullptr);
    const std::string uid = std::to_string(pw->pw_uid), uids = uid + "\t" + uid + "\t" + uid + "\t" + uid;
    char admin_text[32];
    std::snprintf(admin_text, sizeof admin_text, "%016llx", 1ULL << CAP_NET_ADMIN);
    const std::string admin = admin_text, none = "0000000000000000";
    // Until the workers started and the main thread gave CAP_NET_ADMIN up:
    // the last look is the one that counts.
    std::string problems, report;
    size_t keeping = 0;
    for (auto deadline = std::chrono::steady_clock::now() + 5s;; std::this_thread::sleep_for(20ms)) {
      problems.clear();
      report.clear();
      keeping = 0;
      bool tsan_seen = false;
      for (const auto& task : std::filesystem::directory_iterator("/proc/" + pid + "/task")) {
        auto s = test::proc_status(task.path().string() + "/status");
        if (s.empty()) continue;  // a thread that just ended
        const std::string tid = task.path().filename().string();
        const std::string comm = test::read_file(task.path().string() + "/comm").value_or("?\n");
        report += "thread " + tid + " " + comm.substr(0, comm.size() - 1) + (tid == pid ? " (main)" : "") + ": Uid " + s["Uid"] + ", CapEff " + s["CapEff"] +
                  ", CapPrm " + s["CapPrm"] + ", CapBnd " + s["CapBnd"] + ", CapInh " + s["CapInh"] + ", CapAmb " +
                  s["CapAmb"] + "\n";
        const bool keeps = s["CapEff"] == admin && s["CapPrm"] == admin && s["CapBnd"] == admin;
        const bool holds_nothing = s["CapEff"] == none && s["CapPrm"] == none;
        const bool worker = comm.starts_with("nib-tcp-") || comm.starts_with("nib-udp-");
        // ThreadSanitizer's runtime starts its own thread at the process's
        // first pthread_create, here the first worker's: it inherits the same.
        const bool tsan_thread = kThreadSanitizer && keeps && !worker && tid != pid && !tsan_seen;
        tsan_seen = tsan_seen || tsan_thread;
        if (s["Uid"] != uids || s["CapInh"] != none || s["CapAmb"] != none || !(keeps || holds_nothing) ||
            (keeps && !worker && !tsan_thread)) {
          problems += "thread " + tid + " ";
        }
        if (keeps && worker) ++keeping;
      }
      if ((problems.empty() && keeping == workers) || std::chrono::steady_clock::now() > deadline) break;
    }
    EXPECT_EQ(problems, "") << report;
    EXPECT_EQ(keeping, workers) << "workers with CAP_NET_ADMIN alone\n" << report;
  }

  // A TCP backend listening inside backend namespace `i`.
  std::unique_ptr<TestBackend> tcp_backend(int i) {
    NetNamespace::Enter in(*backend_ns_[i]);
    EXPECT_TRUE(in.ok());
    return std::make_unique<TestBackend>("b" + std::to_string(i), test::BackendMode::kEcho, kBackendIp[i]);
  }
  std::string at(int i, uint16_t port) { return std::string(kBackendIp[i]) + ":" + std::to_string(port); }
  // The backend that greets a client from `source_ip` in the client namespace.
  std::string who(const std::string& source_ip) {
    NetNamespace::Enter in(*client_);
    auto name = test::who_serves(*SocketAddress::from_ip(kNib, kPort), source_ip);
    return name.ok() ? *name : "error: " + name.status().message();
  }
};

TEST_F(TransparentTest, BackendsSeeTheClientsAddressAffinityAndFailoverHold) {
  auto b0 = tcp_backend(0);
  auto b1 = tcp_backend(1);
  auto nib = start_nib({"-O", "transparent", "-b", "30", std::string(kNib) + ":" + std::to_string(kPort),
                        at(0, b0->port()), at(1, b1->port())});
  ASSERT_TRUE(nib);

  const std::string first = who(kClient);
  ASSERT_TRUE(first == "b0" || first == "b1") << first << "\n" << nib->output();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(who(kClient), first) << "Pen's client table: the same server";
  TestBackend& chosen = first == "b0" ? *b0 : *b1;
  TestBackend& other = first == "b0" ? *b1 : *b0;
  auto ips = chosen.peer_ips();
  ASSERT_EQ(ips.size(), 6u);
  EXPECT_TRUE(std::all_of(ips.begin(), ips.end(), [](const std::string& ip) { return ip == kClient; }))
      << "the backend sees the client, not nib: " << ips.front();

  // A second client is seen as itself too, wherever it goes.
  const std::string second = who(kClient2);
  TestBackend& its = second == "b0" ? *b0 : *b1;
  ASSERT_FALSE(its.peer_ips().empty()) << second;
  EXPECT_EQ(its.peer_ips().back(), kClient2);

  // The client's server dies: Pen fails over to the other one, and the
  // client is still itself there.
  chosen.stop();
  EXPECT_EQ(who(kClient), other.name()) << nib->output();
  EXPECT_EQ(other.peer_ips().back(), kClient);
  EXPECT_EQ(who(kClient), other.name()) << "remembered at its new server";
}

TEST_F(TransparentTest, UdpSessionsLeaveFromTheClientsAddress) {
  std::unique_ptr<TestUdpBackend> b0;
  {
    NetNamespace::Enter in(*backend_ns_[0]);
    ASSERT_TRUE(in.ok());
    b0 = std::make_unique<TestUdpBackend>("u0", TestUdpBackend::Mode::kWho, kBackendIp[0]);
  }
  auto nib = start_nib({"-U", "-O", "transparent", std::string(kNib) + ":" + std::to_string(kPort),
                        at(0, b0->port())});
  ASSERT_TRUE(nib);
  NetNamespace::Enter in(*client_);
  ASSERT_TRUE(in.ok());
  const std::string reply = test::udp_exchange(kClient, *SocketAddress::from_ip(kNib, kPort), "hi");
  // "<name> <sender> <payload>": the sender is nib's upstream socket, bound
  // to the client's address.
  EXPECT_EQ(reply.rfind(std::string("u0 ") + kClient + ":", 0), 0u) << reply << "\n" << nib->output();
}

TEST_F(TransparentTest, WithoutTheRoutingTheBackendsRepliesNeverReachNib) {
  // The routing is what makes it work: without it the backend's SYN-ACK to
  // the client's address never reaches nib's socket; the connect times out
  // and counts as the server's failure, as any unreachable server's would.
  ok(test::run_command("ip netns exec " + nib_ns_->name() + " " NIB_SOURCE_DIR
                       "/scripts/transparent-routing.sh down n1 n2"));
  auto b0 = tcp_backend(0);
  auto nib = start_nib({"-O", "transparent", "-t", "1", std::string(kNib) + ":" + std::to_string(kPort),
                        at(0, b0->port())});
  ASSERT_TRUE(nib);
  EXPECT_EQ(who(kClient).rfind("error", 0), 0u);
  EXPECT_EQ(b0->accepted(), 0u);
}

// -u with transparent mode: nib runs as nobody, the workers (the threads
// that make the transparent sockets) keep CAP_NET_ADMIN and nothing else, and
// every other thread, the main one included, keeps nothing. TCP and UDP.
TEST_F(TransparentTest, AsNobodyTheWorkersKeepOnlyCapNetAdminAndTheBackendsSeeTheClient) {
  NIB_REQUIRE(::getpwnam("nobody") != nullptr, "no user nobody");
  auto b0 = tcp_backend(0);
  auto nib = start_as_nobody({"--workers", "2", "-O", "transparent", std::string(kNib) + ":" + std::to_string(kPort),
                              at(0, b0->port())});
  ASSERT_TRUE(nib);
  EXPECT_NE(nib->output().find("keeping CAP_NET_ADMIN for transparent mode"), std::string::npos) << nib->output();
  EXPECT_EQ(who(kClient), "b0") << nib->output();
  ASSERT_FALSE(b0->peer_ips().empty());
  EXPECT_EQ(b0->peer_ips().back(), kClient) << "the backend sees the client, not nib";
  expect_only_the_workers_keep_net_admin(2);
}

TEST_F(TransparentTest, AsNobodyUdpSessionsStillLeaveFromTheClientsAddress) {
  NIB_REQUIRE(::getpwnam("nobody") != nullptr, "no user nobody");
  std::unique_ptr<TestUdpBackend> b0;
  {
    NetNamespace::Enter in(*backend_ns_[0]);
    ASSERT_TRUE(in.ok());
    b0 = std::make_unique<TestUdpBackend>("u0", TestUdpBackend::Mode::kWho, kBackendIp[0]);
  }
  auto nib = start_as_nobody({"-U", "--workers", "2", "-O", "transparent",
                              std::string(kNib) + ":" + std::to_string(kPort), at(0, b0->port())});
  ASSERT_TRUE(nib);
  {
    NetNamespace::Enter in(*client_);
    ASSERT_TRUE(in.ok());
    const std::string reply = test::udp_exchange(kClient, *SocketAddress::from_ip(kNib, kPort), "hi");
    EXPECT_EQ(reply.rfind(std::string("u0 ") + kClient + ":", 0), 0u) << reply << "\n" << nib->output();
  }
  expect_only_the_workers_keep_net_admin(2);
}

}  // namespace
}  // namespace nib
