// The real nibctl against a real nib process: what an operator types, what
// they see, and the exit statuses scripts rely on.
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>

#include "admin/http/json.h"
#include "tests/support/nib_process.h"
#include "tests/support/test_certificate.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"
#include "tests/support/prerequisites.h"

#ifndef NIBCTL_BINARY
#define NIBCTL_BINARY "nibctl"
#endif

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NibProcess;
using test::TestBackend;
using test::TestClient;

struct CtlResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs nibctl with args to completion.
CtlResult run_nibctl_alone(const std::vector<std::string>& args) {
  auto p = NibProcess::start_program(NIBCTL_BINARY, args);
  if (!p.ok()) return {127, "", p.status().message()};
  auto code = (*p)->wait_exit(20s);
  (*p)->wait_output_closed(5s);
  return {code.value_or(-9), (*p)->stdout_output(), (*p)->stderr_output()};
}

class NibctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NIB_REQUIRE(test::nib_binary_exists() && ::access(NIBCTL_BINARY, X_OK) == 0, "nib and nibctl not built");
    for (int i = 0; i < 2; ++i) backends_.push_back(std::make_unique<TestBackend>("b" + std::to_string(i)));
    lb_port_ = test::free_port();
    admin_addr_ = "127.0.0.1:" + std::to_string(test::free_port());
    std::string pid_file = dir_.file("nib.pid");
    std::vector<std::string> args = {"-f", "-p", pid_file, "--admin-grpc", admin_addr_, "--admin-http", "127.0.0.1:0",
                                     "127.0.0.1:" + std::to_string(lb_port_)};
    args.insert(args.begin(), extra_args_.begin(), extra_args_.end());
    for (const auto& b : backends_) args.push_back("127.0.0.1:" + std::to_string(b->port()));
    auto p = NibProcess::start(args);
    ASSERT_TRUE(p.ok()) << p.status().message();
    nib_ = std::move(*p);
    bool up = test::wait_until([&] { return test::read_file(pid_file).ok() || !nib_->running(); }, 10s);
    ASSERT_TRUE(up && nib_->running()) << nib_->output();
  }

  // Runs nibctl --addr <nib's admin address> args... to completion.
  CtlResult nibctl(std::vector<std::string> args, bool with_addr = true) {
    if (with_addr) args.insert(args.begin(), {"--addr", admin_addr_});
    return run_nibctl_alone(args);
  }

  // `nibctl -o json backends list`: the backends, in the REST API's shape.
  json::Array backends_json() {
    CtlResult r = nibctl({"-o", "json", "backends", "list"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto parsed = json::parse(r.out);
    EXPECT_TRUE(parsed.ok() && parsed->find("backends")) << r.out;
    if (!parsed.ok() || parsed->find("backends") == nullptr) return {};
    return parsed->find("backends")->as_array();
  }
  // A field of the i-th backend listed; 0 / false when there is none.
  uint64_t backend_number(size_t i, const char* key) {
    json::Array list = backends_json();
    const json::Value* v = i < list.size() ? list[i].find(key) : nullptr;
    return v && v->is_integer() ? v->as_uint64() : 0;
  }
  bool drain_finished(size_t i) {
    json::Array list = backends_json();
    const json::Value* v = i < list.size() ? list[i].find("drain_finished") : nullptr;
    return v && v->is_bool() && v->as_bool();
  }

  std::vector<std::string> extra_args_;  // set by a derived fixture before SetUp

  SocketAddress lb() const { return *SocketAddress::from_ip("127.0.0.1", lb_port_); }

  // A client's whole visit: connect, read which backend greets, close; then
  // wait until that backend closed its side too. Starting nibctl (a fork)
  // while a TestBackend closes a socket races: the child briefly holds the
  // descriptor, so epoll keeps reporting it after TestBackend freed its
  // state (TestBackend::close_conn does not EPOLL_CTL_DEL).
  std::string visit(const std::string& ip) {
    std::vector<uint64_t> before = backend_actives();
    auto name = test::who_serves(lb(), ip);
    EXPECT_TRUE(test::wait_until([&] { return backend_actives() == before; }));
    return name.ok() ? *name : "closed";
  }
  std::vector<uint64_t> backend_actives() const {
    std::vector<uint64_t> out;
    for (const auto& b : backends_) out.push_back(b->active());
    return out;
  }

  test::TempDir dir_;
  std::vector<std::unique_ptr<TestBackend>> backends_;
  uint16_t lb_port_ = 0;
  std::string admin_addr_;
  std::unique_ptr<NibProcess> nib_;
};

TEST_F(NibctlTest, BackendsListIsATable) {
  ASSERT_EQ(visit("127.0.0.2"), "b0");
  CtlResult r = nibctl({"backends", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("ID  ADDRESS", 0), 0u) << r.out;
  for (const auto& b : backends_) {
    EXPECT_NE(r.out.find("127.0.0.1:" + std::to_string(b->port()) + "  up"), std::string::npos) << r.out;
  }
  EXPECT_EQ(nibctl({"backends"}).out, nibctl({"backends", "list"}).out);  // "list" is the default
}

TEST_F(NibctlTest, RegistrySaysWhereTheStateIsKept) {
  CtlResult r = nibctl({"registry"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("store            none"), std::string::npos) << r.out;
}

// nibctl -o json prints what GET /api/v1/backends prints: proto field
// names, enum words, numbers.
TEST_F(NibctlTest, JsonHasTheRestApisShape) {
  json::Array list = backends_json();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].find("port")->as_uint64(), backends_[0]->port());
  EXPECT_EQ(list[0].find("state")->as_string(), "up");
  EXPECT_EQ(list[0].find("admin_state")->as_string(), "enabled");
  EXPECT_TRUE(list[0].find("total_connections")->is_integer()) << "64-bit counters are numbers, not strings";
  EXPECT_NE(list[0].find("id")->as_uint64(), list[1].find("id")->as_uint64());
}

TEST_F(NibctlTest, AddedBackendTakesClients) {
  TestBackend b2("b2");
  CtlResult r = nibctl({"backends", "add", "127.0.0.1:" + std::to_string(b2.port()), "--weight", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("127.0.0.1:" + std::to_string(b2.port())), std::string::npos) << r.out;
  ASSERT_EQ(backends_json().size(), 3u);
  EXPECT_EQ(backend_number(2, "weight"), 2u);
  std::set<std::string> served;
  std::string seen;
  for (const std::string ip : {"127.0.0.2", "127.0.0.3", "127.0.0.4"}) {
    std::string name = visit(ip);
    served.insert(name);
    seen += ip + " -> " + name + "; ";
  }
  EXPECT_TRUE(served.contains("b2")) << seen << nib_->output();
}

TEST_F(NibctlTest, SetAddressAndPortMovesABackend) {
  ASSERT_EQ(visit("127.0.0.2"), "b0");
  TestBackend moved("moved");
  const std::string id = std::to_string(backend_number(0, "id"));
  CtlResult r = nibctl({"backends", "set", id, "--address", "127.0.0.1", "--port", std::to_string(moved.port())});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("127.0.0.1:" + std::to_string(moved.port())), std::string::npos) << r.out;
  EXPECT_EQ(visit("127.0.0.2"), "moved") << "its client follows server 0";
  EXPECT_NE(nibctl({"backends", "set", id, "--port", "x"}).exit_code, 0);
  EXPECT_NE(nibctl({"backends", "set", id, "--port", "70000"}).exit_code, 0);
  EXPECT_EQ(backend_number(0, "port"), moved.port());
}

TEST_F(NibctlTest, ProxyProtocolIsABackendSetting) {
  const std::string id = std::to_string(backend_number(0, "id"));
  CtlResult r = nibctl({"backends", "set", id, "--proxy-protocol", "v2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("backend " + id + ": proxy_protocol v2 (its own)"), std::string::npos) << r.out;
  r = nibctl({"backends", "set", id, "--proxy-protocol", "v3"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--proxy-protocol: expected v1, v2, off or service, got 'v3'"), std::string::npos) << r.err;
  EXPECT_EQ(backends_json()[0].find("proxy_protocol")->as_string(), "v2");
  r = nibctl({"backends", "set", id, "--proxy-protocol", "service"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("proxy_protocol"), std::string::npos) << r.out;
}

TEST_F(NibctlTest, TcpFastOpenIsABackendSetting) {
  const std::string id = std::to_string(backend_number(0, "id"));
  CtlResult r = nibctl({"backends", "set", id, "--tcp-fast-open"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("backend " + id + ": tcp_fast_open on"), std::string::npos) << r.out;
  EXPECT_TRUE(backends_json()[0].find("tcp_fast_open")->as_bool());
  r = nibctl({"backends", "set", id, "--tcp-fast-open", "--no-tcp-fast-open"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--tcp-fast-open and --no-tcp-fast-open together"), std::string::npos) << r.err;
  EXPECT_TRUE(backends_json()[0].find("tcp_fast_open")->as_bool()) << "a refused call changes nothing";
  r = nibctl({"backends", "set", id, "--no-tcp-fast-open"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("tcp_fast_open"), std::string::npos) << r.out;
  EXPECT_FALSE(backends_json()[0].find("tcp_fast_open")->as_bool());
}

TEST_F(NibctlTest, DrainShowsWhatStillPointsAtTheBackend) {
  auto held = TestClient::connect(lb(), "127.0.0.2");
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(*held->read_line(), "b0");
  uint32_t id = static_cast<uint32_t>(backend_number(0, "id"));
  CtlResult r = nibctl({"backends", "drain", std::to_string(id)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("draining backend " + std::to_string(id) + ": 1 open connection(s) and 1 remembered"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(visit("127.0.0.3"), "b1");
  held->close();
  ASSERT_TRUE(test::wait_until([&] { return backends_[0]->active() == 0; }));
  ASSERT_TRUE(test::wait_until([&] { return drain_finished(0); }, 10s));
  EXPECT_NE(nibctl({"backends"}).out.find("draining (done)"), std::string::npos);
}

TEST_F(NibctlTest, DrainCloseAfterClosesStragglers) {
  auto held = TestClient::connect(lb(), "127.0.0.2");
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(*held->read_line(), "b0");
  uint32_t id = static_cast<uint32_t>(backend_number(0, "id"));
  EXPECT_EQ(nibctl({"backends", "drain", std::to_string(id), "--close-after=-1"}).exit_code, 2);
  CtlResult r = nibctl({"backends", "drain", std::to_string(id), "--close-after", "0.2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(test::wait_until([&] { return drain_finished(0); }, 10s));
  auto rest = held->read_until_eof();
  EXPECT_TRUE(!rest.ok() || rest->empty());
}

TEST_F(NibctlTest, ErrorsHaveMessagesAndExitStatuses) {
  CtlResult r = nibctl({"backends", "rm", "999"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("NOT_FOUND"), std::string::npos) << r.err;
  r = nibctl({"backends", "add", "127.0.0.1:70000"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("INVALID_ARGUMENT: field \"port\""), std::string::npos) << r.err;
  r = nibctl({"backends", "frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command"), std::string::npos) << r.err;
  r = nibctl({"backends", "rm"});
  EXPECT_EQ(r.exit_code, 2);
  r = nibctl({"-o", "yaml", "stats"});
  EXPECT_EQ(r.exit_code, 2);
  r = nibctl({"--token-file", dir_.file("missing"), "stats"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--token-file"), std::string::npos) << r.err;
  r = nibctl({"--addr", "127.0.0.1:" + std::to_string(test::free_port()), "stats"}, /*with_addr=*/false);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("cannot reach nib"), std::string::npos) << r.err;
  EXPECT_EQ(backends_json().size(), 2u);  // nothing changed
}

TEST_F(NibctlTest, PolicySetChangesTheConnectionSettings) {
  CtlResult r = nibctl({"policy", "set", "--connect-timeout", "7", "--idle-timeout", "30", "--max-connections", "12"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("connect timeout  7s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("idle timeout     30s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("max connections  12"), std::string::npos) << r.out;
  r = nibctl({"policy", "set", "--connect-timeout", "0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("INVALID_ARGUMENT: field \"connect_timeout_seconds\""), std::string::npos) << r.err;
  EXPECT_NE(nibctl({"policy"}).out.find("connect timeout  7s"), std::string::npos) << "nothing changed";
}

TEST_F(NibctlTest, AclSetShowAndClearDecideWhoIsServed) {
  CtlResult r = nibctl({"acl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "no entries: every client is served\n");
  // Pen's rule: nothing matches 127.0.0.2, so the opposite of the last entry (deny) serves it.
  r = nibctl({"acl", "set", "permit 127.0.0.4,  deny  127.0.0.3/32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1  permit 127.0.0.4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2  deny 127.0.0.3/32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no match: served"), std::string::npos) << r.out;
  EXPECT_EQ(visit("127.0.0.3"), "closed");
  EXPECT_NE(visit("127.0.0.2"), "closed");
  // A bad entry is refused and changes nothing.
  r = nibctl({"acl", "set", "permit 127.0.0.300"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("INVALID_ARGUMENT"), std::string::npos) << r.err;
  r = nibctl({"-o", "json", "acl", "show"});
  EXPECT_NE(r.out.find("\"permit 127.0.0.4/32\""), std::string::npos) << r.out << r.err;  // as nib keeps it
  EXPECT_EQ(nibctl({"acl", "set", "permit 127.0.0.4,,deny 127.0.0.3"}).exit_code, 2);  // an empty entry
  r = nibctl({"acl", "clear"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(visit("127.0.0.3"), "closed");
}

TEST_F(NibctlTest, StatsClientsAndToken) {
  ASSERT_EQ(visit("127.0.0.2"), "b0");
  std::string token = dir_.write_file("token", "s3cret\n");
  CtlResult r = nibctl({"--token-file", token, "stats"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("client table: 1/2048"), std::string::npos) << r.out;
  r = nibctl({"clients"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("127.0.0.2"), std::string::npos) << r.out;
}

TEST_F(NibctlTest, WatchPrintsEventsAsTheyHappen) {
  auto watcher = NibProcess::start_program(NIBCTL_BINARY, {"--addr", admin_addr_, "watch"});
  ASSERT_TRUE(watcher.ok());
  // The watch subscribes asynchronously: repeat the change until it is seen.
  uint32_t id = static_cast<uint32_t>(backend_number(1, "id"));
  bool seen = test::wait_until(
      [&] {
        nibctl({"backends", "set", std::to_string(id), "--weight", "3"});
        nibctl({"backends", "set", std::to_string(id), "--weight", "1"});
        return (*watcher)->stdout_output().find("backend_updated") != std::string::npos;
      },
      10s);
  EXPECT_TRUE(seen) << (*watcher)->output();
  EXPECT_NE((*watcher)->stdout_output().find("backend " + std::to_string(id)), std::string::npos);
}

// nibctl's command line on CLI11: every command has a --help of its own, and
// usage errors need no running nib.
TEST(NibctlCommandLineTest, EachCommandHasItsOwnHelp) {
  NIB_REQUIRE(::access(NIBCTL_BINARY, X_OK) == 0, "nibctl not built");
  CtlResult top = run_nibctl_alone({"--help"});
  EXPECT_EQ(top.exit_code, 0) << top.err;
  for (const char* word : {"backends", "clients", "policy", "acl", "services", "stats", "watch", "--addr", "--token-file",
                           "--ca-file", "Exit status"}) {
    EXPECT_NE(top.out.find(word), std::string::npos) << word << "\n" << top.out;
  }
  EXPECT_EQ(run_nibctl_alone({"help"}).out, top.out);
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> expected;
  };
  const Case cases[] = {
      {{"backends", "--help"}, {"list", "show", "add", "rm", "drain", "set", "'backends' alone means 'backends list'"}},
      {{"backends", "add", "--help"}, {"IP:PORT", "--weight", "--prio", "--soft-limit", "--hard-limit"}},
      {{"backends", "set", "-h"}, {"ID", "--enable", "--disable", "ends a drain"}},
      {{"backends", "drain", "--help"}, {"--close-after", "SEC"}},
      {{"clients", "pin", "--help"}, {"IP|CIDR", "ID"}},
      {{"clients", "migrate", "--help"}, {"FROM_ID", "--to"}},
      {{"acl", "set", "--help"}, {"ENTRIES", "commas", "opposite of the last entry"}},
      {{"policy", "set", "--help"}, {"--mode", "--stubborn", "--no-stubborn", "--tracking", "--blacklist",
                                     "--table-size", "--connect-timeout", "--idle-timeout", "--max-connections"}},
      {{"--addr", "127.0.0.1:1", "watch", "--help"}, {"print events", "global options"}},
  };
  for (const auto& c : cases) {
    CtlResult r = run_nibctl_alone(c.args);
    EXPECT_EQ(r.exit_code, 0) << c.args[0] << " " << c.args[1] << ": " << r.err;
    for (const auto& e : c.expected) EXPECT_NE(r.out.find(e), std::string::npos) << e << "\n" << r.out;
    EXPECT_NE(r.out, top.out) << c.args[0] << " " << c.args[1];
  }
}

TEST(NibctlCommandLineTest, UsageErrorsExitTwoWithAMessage) {
  NIB_REQUIRE(::access(NIBCTL_BINARY, X_OK) == 0, "nibctl not built");
  CtlResult none = run_nibctl_alone({});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("backends"), std::string::npos) << "the usage goes to stderr: " << none.err;
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"backends", "frobnicate"}, "unknown command 'backends frobnicate'"},
      {{"backends", "rm"}, "backends rm: expected ID"},
      {{"backends", "rm", "1", "2"}, "backends rm: expected ID, got '2' too"},
      {{"clients", "pin", "10.0.0.0/8"}, "clients pin: expected IP|CIDR ID"},
      {{"backends", "add", "127.0.0.1:80", "--colour", "red"}, "backends add: unknown option --colour"},
      {{"services", "--weight", "3"}, "services: unknown option --weight"},
      {{"backends", "add", "127.0.0.1:80", "--weight"}, "backends add: --weight"},
      {{"backends", "set", "1", "--weight", "x"}, "--weight: expected a non-negative integer, got 'x'"},
      {{"policy", "set", "--mode", "fastest"}, "--mode: expected affinity, roundrobin, hash, weight, prio or maglev"},
      {{"-o", "yaml", "stats"}, "-o: expected table or json, got 'yaml'"},
      {{"stats", "--timeout", "0"}, "--timeout: expected seconds > 0"},
  };
  for (const auto& [args, message] : cases) {
    CtlResult r = run_nibctl_alone(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("nibctl: " + message), std::string::npos) << r.err;
  }
}

// nib's token file holds "admin TOKEN" / "readonly TOKEN" lines; nibctl's
// --token-file holds just the one token it sends.
class NibctlTokenTest : public NibctlTest {
 protected:
  static constexpr const char* kAdminToken = "admin-token-0123456789abcdef";
  static constexpr const char* kReadToken = "read-token-0123456789abcdef";
  void SetUp() override {
    std::string tokens =
        dir_.write_file("tokens", std::string("admin ") + kAdminToken + "\nreadonly " + kReadToken + "\n");
    extra_args_ = {"--admin-token-file", tokens};
    NibctlTest::SetUp();
  }
};

TEST_F(NibctlTokenTest, GrpcChecksTheTokenFile) {
  CtlResult r = nibctl({"backends", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("UNAUTHENTICATED"), std::string::npos) << r.err;
  std::string read = dir_.write_file("read", std::string(kReadToken) + "\n");
  r = nibctl({"--token-file", read, "backends", "list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = nibctl({"--token-file", read, "backends", "add", "127.0.0.1:9"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("PERMISSION_DENIED"), std::string::npos) << r.err;
  std::string admin = dir_.write_file("admin", std::string(kAdminToken) + "\n");
  r = nibctl({"--token-file", admin, "backends", "add", "127.0.0.1:9"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nib_->output().find("does not check admin tokens"), std::string::npos) << nib_->output();
}

// Admin TLS from Pen's command line: nibctl needs --tls (or --ca-file) to talk
// to it, and verifies nib's certificate.
class NibctlTlsTest : public NibctlTest {
 protected:
  void SetUp() override {
    test::TestCertificate c = test::make_self_signed_certificate();
    cert_ = dir_.write_file("tls.crt", c.cert_pem);
    std::string key = dir_.write_file("tls.key", c.key_pem);
    extra_args_ = {"--admin-tls-cert", cert_, "--admin-tls-key", key};
    NibctlTest::SetUp();
  }
  std::string cert_;
};

TEST_F(NibctlTlsTest, NibctlTalksTlsWithTheCaFile) {
  CtlResult r = nibctl({"--ca-file", cert_, "backends", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("127.0.0.1:" + std::to_string(backends_[0]->port())), std::string::npos) << r.out;
  r = nibctl({"--ca-file", cert_, "--tls-server-name", "localhost", "services"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(nib_->output().find("--tls"), std::string::npos) << "the log says how to reach it";
}

TEST_F(NibctlTlsTest, PlaintextOrAnUntrustedCertificateCannotConnect) {
  EXPECT_EQ(nibctl({"--timeout", "2", "backends", "list"}).exit_code, 3);
  std::string other = dir_.write_file("other.crt", test::make_self_signed_certificate("other").cert_pem);
  EXPECT_EQ(nibctl({"--timeout", "2", "--ca-file", other, "backends", "list"}).exit_code, 3);
  CtlResult r = nibctl({"--ca-file", dir_.file("missing.crt"), "backends", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--ca-file: cannot read"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace nib
