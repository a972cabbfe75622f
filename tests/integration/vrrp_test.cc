// Two nibs behind VRRP (issue 15, docs/ha.md): Debian's keepalived in each
// nib's namespace moves a virtual address between them, nib's /readyz being
// its track script. On one bridge: a client namespace (many source
// addresses), nib A (MASTER) and nib B (BACKUP), two backend namespaces
// with two backends each, and a namespace running a one-member etcd: the
// registry both nibs share. Their YAML lists three of the four backends with
// mode maglev; the fourth is registered through A's admin API only, and B
// has it from etcd. So when A's nib stops and the address moves to B, every
// client reaches the backend it reached before, those of the registered
// backend included. Every process is stopped and every namespace deleted,
// with its interfaces, when the test ends, however it ends.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/namespace_fixture.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"
#include "tests/support/test_etcd.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NetNamespace;
using test::NibProcess;
using test::TestBackend;

constexpr const char* kKeepalived = "/usr/sbin/keepalived";
constexpr const char* kCurl = "/usr/bin/curl";

// Private addresses that exist only inside the test's namespaces.
constexpr const char* kVip = "10.215.0.100";
constexpr const char* kNibIp[2] = {"10.215.0.2", "10.215.0.3"};
constexpr const char* kBackendIp[2] = {"10.215.0.4", "10.215.0.5"};
constexpr const char* kEtcdIp = "10.215.0.6";
constexpr uint16_t kPort = 8080;
// Backends 0-2 are in both nibs' YAML; backend 3 only ever reaches the
// registry through nib A's admin API.
constexpr int kConfigured = 3;
constexpr int kRegistered = 3;
constexpr const char* kAdmin = "127.0.0.1";
constexpr uint16_t kAdminPort = 9901;
constexpr int kClients = 24;  // 10.215.0.10 ... 10.215.0.33
std::string client_ip(int i) { return "10.215.0." + std::to_string(10 + i); }

// keepalived in the foreground (its VRRP child shares its process group).
// SIGTERM first, so that it takes its address away and its child exits with
// it; NibProcess's destructor then kills whatever is left of the group.
struct Keepalived {
  std::unique_ptr<NibProcess> process;
  ~Keepalived() {
    if (process && process->running() && process->signal(SIGTERM).ok()) (void)process->wait_exit(5s);
  }
};

class VrrpTest : public test::NamespaceFixture {
 protected:
  void SetUp() override {
    NIB_REQUIRE(::access(kKeepalived, X_OK) == 0, "keepalived (Debian's keepalived package)");
    NIB_REQUIRE(::access(kCurl, X_OK) == 0, "curl (keepalived's track script)");
    NIB_REQUIRE(test::TestEtcdCluster::installed(), "etcd (Debian's etcd-server and etcd-client: the shared registry)");
    NamespaceFixture::SetUp();
    if (unready()) return;
    switch_ = make("s");
    standby_ns_ = make("m");
    etcd_ns_ = make("e");
    ASSERT_TRUE(switch_ && standby_ns_ && etcd_ns_);
    ok(client_->plug("c0", client_ip(0) + "/24", *switch_, "br0"));
    for (int i = 1; i < kClients; ++i) ok(client_->ip("addr add " + client_ip(i) + "/24 dev c0"));
    for (int i = 0; i < 2; ++i) {
      ok(nib_ns(i).plug("n0", std::string(kNibIp[i]) + "/24", *switch_, "br0"));
      // The standby listens on the virtual address before it holds it (and
      // the master before keepalived adds it): docs/ha.md's nonlocal bind.
      ok(test::run_command("ip netns exec " + nib_ns(i).name() +
                           " sh -c 'echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind'"));
      ok(backend_ns_[i]->plug("e0", std::string(kBackendIp[i]) + "/24", *switch_, "br0"));
    }
    ok(etcd_ns_->plug("e0", std::string(kEtcdIp) + "/24", *switch_, "br0"));
    // The registry: one member on the etcd namespace's address, which only
    // the namespaces on the bridge reach.
    etcd_ = std::make_unique<test::TestEtcdCluster>(dir_.path(), 1, kEtcdIp, etcd_ns_->name());
    ok(etcd_->start());
  }

  const NetNamespace& nib_ns(int i) const { return i == 0 ? *nib_ns_ : *standby_ns_; }

  // b0, b1 on the first backend namespace's ports 8080, 8081; b2, b3 on the second's.
  void start_backends() {
    for (int i = 0; i < 4; ++i) {
      NetNamespace::Enter in(*backend_ns_[i / 2]);
      ASSERT_TRUE(in.ok());
      backends_.push_back(std::make_unique<TestBackend>("b" + std::to_string(i), test::BackendMode::kEcho,
                                                        kBackendIp[i / 2], static_cast<uint16_t>(kPort + i % 2)));
    }
  }
  std::string backend_at(int i) const { return std::string(kBackendIp[i / 2]) + ":" + std::to_string(kPort + i % 2); }

  // nib `i` from YAML: the shared registry, the same backends on both
  // (listed in another order on B: Maglev does not care), all but the one
  // registered through the API; the admin HTTP port the track script asks.
  // The admin ports are fixed: each namespace has a loopback of its own.
  void start_nib_in(int i) {
    std::ostringstream y;
    y << "shutdown_grace: 1\n"
      << "registry:\n  store: etcd\n  endpoints: [" << etcd_->endpoint(0) << "]\n  prefix: /nib/\n"
      << "admin:\n  http_listen: " << kAdmin << ":" << kAdminPort << "\n  grpc_listen: 127.0.0.1:9902\n"
      << "services:\n  - name: web\n    listen: " << kVip << ":" << kPort << "\n    policy: {mode: maglev}\n"
      << "    backends:\n";
    for (int k = 0; k < kConfigured; ++k) y << "      - " << backend_at(i == 0 ? k : kConfigured - 1 - k) << "\n";
    const std::string tag = "nib" + std::to_string(i) + "-" + std::to_string(++starts_);
    const std::string config = dir_.write_file(tag + ".yaml", y.str());
    nib_[i] = test::start_foreground_in(nib_ns(i).name(), {"--config", config}, dir_.file(tag + ".pid"));
    ASSERT_TRUE(nib_[i]);
  }

  // docs/ha.md's keepalived.conf, faster: VRRPv3 allows adverts every 0.2 s
  // (a dead master is noticed in about 0.7 s), the track script runs every
  // second (its shortest interval) and one failure is enough.
  std::string keepalived_conf(int i) const {
    std::ostringstream c;
    c << "global_defs {\n  script_user nobody\n  enable_script_security\n  vrrp_version 3\n}\n"
      << "vrrp_script nib_ready {\n  script \"" << kCurl
      << " -fsS -m 1 -o /dev/null http://127.0.0.1:9901/readyz\"\n"
      << "  interval 1\n  timeout 2\n  fall 1\n  rise 1\n}\n"
      << "vrrp_instance nib {\n  state " << (i == 0 ? "MASTER" : "BACKUP") << "\n  interface n0\n"
      << "  virtual_router_id 51\n  priority " << (i == 0 ? 150 : 100) << "\n  advert_int 0.2\n"
      << "  virtual_ipaddress {\n    " << kVip << "/24 dev n0\n  }\n"
      << "  track_script {\n    nib_ready\n  }\n}\n";
    return c.str();
  }
  void start_keepalived(int i) {
    const std::string tag = "keepalived" + std::to_string(i);
    const std::string config = dir_.write_file(tag + ".conf", keepalived_conf(i));
    // Its own pid files, logs on the console (captured), none to syslog.
    auto p = NibProcess::start_program(
        "/bin/ip", {"netns", "exec", nib_ns(i).name(), kKeepalived, "--dont-fork", "--log-console", "--log-detail",
                    "--no-syslog", "--vrrp", "-f", config, "-p", dir_.file(tag + ".pid"), "-r",
                    dir_.file(tag + "-vrrp.pid"), "-c", dir_.file(tag + "-checkers.pid")});
    ASSERT_TRUE(p.ok()) << p.status().message();
    keepalived_[i].process = std::move(*p);
  }

  // Backends, both nibs, both keepalived; returns once A alone holds the address.
  void start_all() {
    start_backends();
    for (int i = 0; i < 2; ++i) {
      start_nib_in(i);
      if (HasFatalFailure()) return;
    }
    for (int i = 0; i < 2; ++i) {
      start_keepalived(i);
      if (HasFatalFailure()) return;
    }
    ASSERT_TRUE(wait_for_master(0)) << logs();
  }

  // nib i's admin HTTP, reached from inside its namespace.
  Result<test::HttpResponse> admin(int i, const std::string& method, const std::string& target,
                                   const std::string& body = "") const {
    NetNamespace::Enter in(nib_ns(i));
    if (!in.ok()) return Status::unavailable("cannot enter " + nib_ns(i).name());
    return test::http_request(*SocketAddress::from_ip(kAdmin, kAdminPort), method, target, body);
  }
  // A JSON body without its blanks (no string the test looks at has any).
  static std::string squeezed(std::string body) {
    std::erase_if(body, [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; });
    return body;
  }
  // Does nib i list the backend at `ip`:`port` (GET .../backends)?
  bool lists(int i, const std::string& ip, uint16_t port) const {
    auto r = admin(i, "GET", "/api/v1/services/web/backends");
    if (!r.ok() || r->status != 200) return false;
    // Each backend is one JSON object with its address and port (its nested
    // objects have neither).
    const std::string body = squeezed(r->body);
    const std::string address = "\"address\":\"" + ip + "\"";
    for (size_t at = body.find(address); at != std::string::npos; at = body.find(address, at + 1)) {
      size_t begin = at, end = at;
      for (int depth = 0; begin > 0; --begin) {
        if (body[begin] == '}') ++depth;
        if (body[begin] == '{' && depth-- == 0) break;
      }
      for (int depth = 0; end < body.size(); ++end) {
        if (body[end] == '{') ++depth;
        if (body[end] == '}' && depth-- == 0) break;
      }
      const std::string object = body.substr(begin, end + 1 - begin);
      const std::string key = "\"port\":" + std::to_string(port);
      if (object.find(key + ",") != std::string::npos || object.find(key + "}") != std::string::npos) return true;
    }
    return false;
  }
  bool registry_connected(int i) const {
    auto r = admin(i, "GET", "/api/v1/registry");
    return r.ok() && r->status == 200 && squeezed(r->body).find("\"connected\":true") != std::string::npos;
  }

  bool holds_vip(int i) const {
    auto out = test::command_output("ip -n " + nib_ns(i).name() + " -4 -o addr show dev n0");
    return out.ok() && out->find(std::string(" ") + kVip + "/") != std::string::npos;
  }
  // Bounded: a take-over needs a failed track script (1 s) or a missed
  // advert (0.7 s), then the new master's gratuitous ARP.
  bool wait_for_master(int i) {
    return test::wait_until([&] { return holds_vip(i) && !holds_vip(1 - i); }, 10s);
  }

  // Every client's backend through the virtual address: client IP -> name
  // ("error: ..." when none answered).
  std::map<std::string, std::string> serve_round() {
    std::map<std::string, std::string> served;
    NetNamespace::Enter in(*client_);
    EXPECT_TRUE(in.ok());
    for (int i = 0; i < kClients; ++i) {
      auto name = test::who_serves(*SocketAddress::from_ip(kVip, kPort), client_ip(i), 5s);
      served[client_ip(i)] = name.ok() ? *name : "error: " + name.status().message();
    }
    return served;
  }
  // The backends' peers (the nib that connected) from index `from` of each
  // backend's accept list on.
  std::set<std::string> peers_since(const std::vector<size_t>& from) const {
    std::set<std::string> peers;
    for (size_t b = 0; b < backends_.size(); ++b) {
      const auto ips = backends_[b]->peer_ips();
      for (size_t k = from[b]; k < ips.size(); ++k) peers.insert(ips[k]);
    }
    return peers;
  }
  std::vector<size_t> accept_marks() const {
    std::vector<size_t> marks;
    for (const auto& b : backends_) marks.push_back(b->peer_ips().size());
    return marks;
  }
  static int disagreements(const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b) {
    int n = 0;
    for (const auto& [ip, name] : a) {
      auto it = b.find(ip);
      if (it == b.end() || it->second != name || name.rfind("error", 0) == 0) ++n;
    }
    return n;
  }
  std::string logs() const {
    std::string s;
    for (int i = 0; i < 2; ++i) {
      if (keepalived_[i].process) s += "--- keepalived " + std::to_string(i) + ":\n" + keepalived_[i].process->output();
      if (nib_[i]) s += "--- nib " + std::to_string(i) + ":\n" + nib_[i]->output();
    }
    if (etcd_) s += "--- etcd:\n" + etcd_->output(0);
    return s;
  }

  // Declared in the order they start: destroyed the other way round,
  // keepalived first, etcd after the nibs, and all before the namespaces
  // (an etcd still running when its namespace is deleted would outlive it).
  std::unique_ptr<NetNamespace> switch_, standby_ns_, etcd_ns_;
  std::unique_ptr<test::TestEtcdCluster> etcd_;
  std::vector<std::unique_ptr<TestBackend>> backends_;
  std::unique_ptr<NibProcess> nib_[2];
  Keepalived keepalived_[2];
  int starts_ = 0;  // fresh config and pid file names for each nib start
};

TEST_F(VrrpTest, WhenTheActiveNibDiesClientsReachTheSameBackendsThroughTheStandby) {
  start_all();
  if (HasFatalFailure()) return;
  // Backend 3 through A's REST API only: B, whose YAML does not list it,
  // has it from etcd.
  const std::string ip = kBackendIp[kRegistered / 2];
  const auto port = static_cast<uint16_t>(kPort + kRegistered % 2);
  ASSERT_TRUE(test::wait_until([&] { return registry_connected(0) && registry_connected(1); }, 10s)) << logs();
  ASSERT_TRUE(lists(1, kBackendIp[0], kPort)) << "B lists its YAML's backends\n" << logs();
  ASSERT_FALSE(lists(1, ip, port)) << "B's YAML does not list " << backend_at(kRegistered);
  auto added = admin(0, "POST", "/api/v1/services/web/backends",
                     "{\"address\": \"" + ip + "\", \"port\": " + std::to_string(port) + "}");
  ASSERT_TRUE(added.ok()) << added.status().message();
  ASSERT_EQ(added->status, 201) << added->body;
  ASSERT_TRUE(test::wait_until([&] { return lists(0, ip, port) && lists(1, ip, port); }, 5s))
      << "B has the backend registered through A\n" << logs();

  auto marks = accept_marks();
  const auto before = serve_round();
  std::set<std::string> used;
  for (const auto& [ip, name] : before) {
    ASSERT_EQ(name.rfind("error", 0), std::string::npos) << ip << ": " << name << "\n" << logs();
    used.insert(name);
  }
  EXPECT_GE(used.size(), 2u) << "Maglev spreads " << kClients << " clients";
  ASSERT_TRUE(used.count("b" + std::to_string(kRegistered)))
      << "some clients reach the backend registered through A's API";
  EXPECT_EQ(peers_since(marks), std::set<std::string>{kNibIp[0]}) << "all through the master";

  // A connection open at the failover: nib's death resets it.
  std::optional<test::TestClient> open;
  {
    NetNamespace::Enter in(*client_);
    auto c = test::TestClient::connect(*SocketAddress::from_ip(kVip, kPort), client_ip(0));
    ASSERT_TRUE(c.ok()) << c.status().message();
    ASSERT_EQ(*c->read_line(), before.at(client_ip(0)));
    open.emplace(std::move(*c));
  }

  ASSERT_TRUE(nib_[0]->signal(SIGKILL).ok());
  ASSERT_TRUE(nib_[0]->wait_exit(5s).has_value());
  ASSERT_TRUE(wait_for_master(1)) << logs();
  EXPECT_TRUE(keepalived_[0].process->wait_for_output("Entering FAULT STATE", 5s))
      << "the track script, not a lost advert, moved it:\n" << logs();
  auto gone = open->read_some();
  EXPECT_TRUE(!gone.ok() || gone->empty()) << "the open connection ended";

  marks = accept_marks();
  const auto after = serve_round();
  EXPECT_EQ(disagreements(before, after), 0) << logs();
  EXPECT_EQ(peers_since(marks), std::set<std::string>{kNibIp[1]}) << "all through the standby";
}

TEST_F(VrrpTest, StoppingTheTrackedNibMovesTheAddressAndStartingItMovesItBack) {
  start_all();
  if (HasFatalFailure()) return;
  const auto before = serve_round();

  // keepalived stays up: only its track script can tell that nib is gone.
  ASSERT_TRUE(nib_[0]->signal(SIGTERM).ok());
  EXPECT_EQ(nib_[0]->wait_exit(10s), 0) << nib_[0]->output();
  ASSERT_TRUE(wait_for_master(1)) << logs();
  EXPECT_TRUE(keepalived_[0].process->running()) << logs();
  EXPECT_TRUE(keepalived_[0].process->wait_for_output("VRRP_Script(nib_ready) failed", 5s)) << logs();
  auto marks = accept_marks();
  const auto through_standby = serve_round();
  EXPECT_EQ(disagreements(before, through_standby), 0) << logs();
  EXPECT_EQ(peers_since(marks), std::set<std::string>{kNibIp[1]});

  // nib back: its /readyz succeeds, A has the higher priority and takes the
  // address back (keepalived preempts by default).
  start_nib_in(0);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(wait_for_master(0)) << logs();
  marks = accept_marks();
  const auto back = serve_round();
  EXPECT_EQ(disagreements(before, back), 0) << logs();
  EXPECT_EQ(peers_since(marks), std::set<std::string>{kNibIp[0]});
}

}  // namespace
}  // namespace nib
