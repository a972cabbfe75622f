// The real nib binary, driven as users drive it: Pen's command line, YAML,
// signals, the pid file and the -w status page.
#include <signal.h>

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <thread>

#include "admin/http/json.h"
#include "tests/support/nib_process.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"
#include "tests/support/prerequisites.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NibProcess;
using test::TestBackend;
using test::TestClient;

class NibBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built");
  }
  // Starts nib in the foreground (-f) and waits until it listens (its pid file
  // is written after bind). No admin plane: tests run in parallel and would
  // fight over 9901/9902 (YAML turns it on by default).
  std::unique_ptr<NibProcess> start(std::vector<std::string> args) {
    pid_file_ = dir_.file("nib.pid");
    args.insert(args.begin(), {"-f", "--no-admin", "-p", pid_file_});
    return test::start_until_pid_file(args, pid_file_);
  }
  std::string yaml(uint16_t port, const std::vector<const TestBackend*>& backends, const std::string& extra = "") {
    std::string y = "services:\n  - name: web\n    listen: 127.0.0.1:" + std::to_string(port) + "\n" + extra +
                    "    backends:\n";
    for (auto* b : backends) y += "      - 127.0.0.1:" + std::to_string(b->port()) + "\n";
    return y;
  }

  test::TempDir dir_;
  std::string pid_file_;
};

TEST_F(NibBinaryTest, VersionAndHelp) {
  auto v = test::run_nib({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.output.find("nib "), std::string::npos);
  auto h = test::run_nib({"--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.output.find("-h"), std::string::npos);
}

TEST_F(NibBinaryTest, PenOptionsNotYetSupportedAreNamed) {
  // -f: a start that got past the options must not daemonize out of reach.
  for (const std::string opt : {"-i"}) {
    std::vector<std::string> args = {"-f", opt};
    args.push_back("service-name");
    args.insert(args.end(), {"8080", "127.0.0.1:80"});
    auto r = test::run_nib(args);
    EXPECT_EQ(r.exit_code, 2) << opt;
    EXPECT_NE(r.output.find("option " + opt), std::string::npos) << r.output;
  }
}

TEST_F(NibBinaryTest, PenCommandLineBalancesAndWritesPidFile) {
  TestBackend b0("b0"), b1("b1");
  uint16_t port = test::free_port();
  auto nib = start({"-f", "127.0.0.1:" + std::to_string(port), "127.0.0.1:" + std::to_string(b0.port()),
                    "127.0.0.1:" + std::to_string(b1.port())});
  ASSERT_TRUE(nib);
  EXPECT_EQ(*test::read_file(pid_file_), std::to_string(nib->pid()) + "\n");
  SocketAddress lb = *SocketAddress::parse("127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(*test::who_serves(lb, "127.0.0.2"), "b0");
  EXPECT_EQ(*test::who_serves(lb, "127.0.0.3"), "b1");
  EXPECT_EQ(*test::who_serves(lb, "127.0.0.2"), "b0");
  ASSERT_TRUE(nib->signal(SIGTERM).ok());
  EXPECT_EQ(nib->wait_exit(10s), 0);
  EXPECT_FALSE(test::read_file(pid_file_).ok()) << "pid file left behind";
}

TEST_F(NibBinaryTest, StatusPageOnSigusr1) {
  TestBackend b0("b0"), b1("b1");
  uint16_t port = test::free_port();
  std::string page = dir_.file("status.html");
  auto nib = start({"-w", page, "127.0.0.1:" + std::to_string(port), "127.0.0.1:" + std::to_string(b0.port()),
                    "127.0.0.1:" + std::to_string(b1.port()) + ":10:20:3:4"});
  ASSERT_TRUE(nib);
  SocketAddress lb = *SocketAddress::parse("127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(test::who_serves(lb, "127.0.0.7").ok());
  auto open = TestClient::connect(lb, "127.0.0.8");
  ASSERT_TRUE(open.ok());
  ASSERT_TRUE(open->read_line().ok());
  ASSERT_TRUE(nib->signal(SIGUSR1).ok());
  ASSERT_TRUE(test::wait_until([&] { return test::read_file(page).ok(); }));
  std::string html = *test::read_file(page);
  EXPECT_NE(html.find("<table class=\"servers\">"), std::string::npos);
  EXPECT_NE(html.find("<table class=\"clients\">"), std::string::npos);
  EXPECT_NE(html.find("<table class=\"connections\">"), std::string::npos);
  EXPECT_NE(html.find("127.0.0.7"), std::string::npos) << "client missing from the clients table";
  EXPECT_NE(html.find("127.0.0.8"), std::string::npos) << "open connection missing";
  EXPECT_NE(html.find("<td>" + std::to_string(b1.port()) + "</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>10</td><td>20</td>"), std::string::npos) << "soft/hard limits missing";
  EXPECT_TRUE(nib->wait_for_output("server 1", 5s));  // SIGUSR1 also logs statistics, as pen does
}

// --log-format json: every stderr line is one JSON object with time, level
// and msg, through start, a debug line per connection and shutdown.
TEST_F(NibBinaryTest, JsonLogFormatPrintsOneObjectPerLine) {
  TestBackend b0("b0");
  uint16_t port = test::free_port();
  auto nib = start({"-d", "--log-format", "json", "127.0.0.1:" + std::to_string(port),
                    "127.0.0.1:" + std::to_string(b0.port())});
  ASSERT_TRUE(nib);
  SocketAddress lb = *SocketAddress::parse("127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(*test::who_serves(lb, "127.0.0.2"), "b0");
  ASSERT_TRUE(nib->wait_for_output("closed", 5s)) << nib->output();
  ASSERT_TRUE(nib->signal(SIGTERM).ok());
  EXPECT_EQ(nib->wait_exit(10s), 0);
  ASSERT_TRUE(nib->wait_output_closed(10s));
  std::istringstream lines(nib->stderr_output());
  int parsed = 0;
  std::set<std::string> levels;
  for (std::string line; std::getline(lines, line);) {
    auto v = json::parse(line);
    ASSERT_TRUE(v.ok()) << v.status().message() << ": " << line;
    ASSERT_TRUE(v->is_object()) << line;
    for (const char* key : {"time", "level", "msg"}) {
      ASSERT_NE(v->find(key), nullptr) << key << " missing: " << line;
      EXPECT_TRUE(v->find(key)->is_string()) << line;
    }
    levels.insert(v->find("level")->as_string());
    ++parsed;
  }
  EXPECT_GE(parsed, 3) << nib->stderr_output();
  EXPECT_TRUE(levels.count("info") && levels.count("debug")) << nib->stderr_output();
}

// --syslog: the event lines leave stderr for syslog in the foreground too.
TEST_F(NibBinaryTest, SyslogTakesTheEventLinesOffStderr) {
  TestBackend b0("b0");
  uint16_t port = test::free_port();
  auto nib = start({"--syslog", "127.0.0.1:" + std::to_string(port), "127.0.0.1:" + std::to_string(b0.port())});
  ASSERT_TRUE(nib);
  ASSERT_TRUE(nib->signal(SIGTERM).ok());
  EXPECT_EQ(nib->wait_exit(10s), 0);
  ASSERT_TRUE(nib->wait_output_closed(10s));
  EXPECT_EQ(nib->stderr_output().find(" INFO "), std::string::npos) << nib->stderr_output();
}

TEST_F(NibBinaryTest, GracefulShutdownLetsOpenConnectionsFinish) {
  TestBackend b0("b0");
  uint16_t port = test::free_port();
  auto nib = start({"127.0.0.1:" + std::to_string(port), "127.0.0.1:" + std::to_string(b0.port())});
  ASSERT_TRUE(nib);
  SocketAddress lb = *SocketAddress::parse("127.0.0.1:" + std::to_string(port));
  auto c = TestClient::connect(lb, "127.0.0.2");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(*c->read_line(), "b0");
  ASSERT_TRUE(nib->signal(SIGTERM).ok());
  ASSERT_TRUE(nib->wait_for_output("shutting down", 5s));
  // New clients are refused, the open one still works.
  EXPECT_TRUE(test::wait_until([&] { return !TestClient::connect(lb, "127.0.0.3", 1s).ok(); }));
  ASSERT_TRUE(c->write_all("last words\n").ok());
  EXPECT_EQ(*c->read_line(), "last words");
  EXPECT_TRUE(nib->running());
  c->close();
  EXPECT_EQ(nib->wait_exit(10s), 0);
}

TEST_F(NibBinaryTest, ShutdownGraceClosesStragglers) {
  TestBackend b0("b0");
  uint16_t port = test::free_port();
  auto nib = start({"--shutdown-grace", "0.3", "127.0.0.1:" + std::to_string(port),
                    "127.0.0.1:" + std::to_string(b0.port())});
  ASSERT_TRUE(nib);
  auto c = TestClient::connect(*SocketAddress::parse("127.0.0.1:" + std::to_string(port)), "127.0.0.2");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->read_line().ok());
  ASSERT_TRUE(nib->signal(SIGTERM).ok());
  EXPECT_EQ(nib->wait_exit(10s), 0);
  EXPECT_TRUE(c->read_until_eof().ok());
}

TEST_F(NibBinaryTest, SighupReloadsYamlAndKeepsOpenConnections) {
  TestBackend b0("b0"), b1("b1");
  uint16_t port = test::free_port();
  std::string config = dir_.write_file("nib.yaml", yaml(port, {&b0}));
  auto nib = start({"--config", config});
  ASSERT_TRUE(nib);
  SocketAddress lb = *SocketAddress::parse("127.0.0.1:" + std::to_string(port));
  auto held = TestClient::connect(lb, "127.0.0.2");
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(*held->read_line(), "b0");

  dir_.write_file("nib.yaml", yaml(port, {&b1}));
  ASSERT_TRUE(nib->signal(SIGHUP).ok());
  ASSERT_TRUE(nib->wait_for_output("reloaded", 5s)) << nib->output();
  EXPECT_EQ(*test::who_serves(lb, "127.0.0.3"), "b1");
  ASSERT_TRUE(held->write_all("still here\n").ok());
  EXPECT_EQ(*held->read_line(), "still here");

  // An invalid file is reported and changes nothing.
  dir_.write_file("nib.yaml", "services:\n  - name: web\n    listen: 127.0.0.1:" + std::to_string(port) +
                                  "\n    backends: [{address: 127.0.0.1, port: http}]\n");
  ASSERT_TRUE(nib->signal(SIGHUP).ok());
  ASSERT_TRUE(nib->wait_for_output("reload failed", 5s));
  EXPECT_NE(nib->output().find("nib.yaml:4:"), std::string::npos) << nib->output();
  EXPECT_EQ(*test::who_serves(lb, "127.0.0.4"), "b1");
  EXPECT_TRUE(nib->running());
}

TEST_F(NibBinaryTest, YamlAclDeniesClientsAndSighupChangesIt) {
  TestBackend b0("b0");
  uint16_t port = test::free_port();
  std::string config =
      dir_.write_file("nib.yaml", yaml(port, {&b0}, "    acl: [\"deny 127.0.0.2\", \"permit 0.0.0.0/0\"]\n"));
  auto nib = start({"--config", config});
  ASSERT_TRUE(nib);
  SocketAddress lb = *SocketAddress::parse("127.0.0.1:" + std::to_string(port));
  EXPECT_FALSE(test::who_serves(lb, "127.0.0.2").ok());
  EXPECT_EQ(*test::who_serves(lb, "127.0.0.3"), "b0");

  dir_.write_file("nib.yaml", yaml(port, {&b0}, "    acl: [\"deny 127.0.0.3\", \"permit 0.0.0.0/0\"]\n"));
  ASSERT_TRUE(nib->signal(SIGHUP).ok());
  ASSERT_TRUE(nib->wait_for_output("reloaded", 5s)) << nib->output();
  EXPECT_EQ(*test::who_serves(lb, "127.0.0.2"), "b0");
  EXPECT_FALSE(test::who_serves(lb, "127.0.0.3").ok());
}

TEST_F(NibBinaryTest, CheckValidatesWithoutStarting) {
  TestBackend b0("b0");
  uint16_t port = test::free_port();
  std::string good = dir_.write_file("good.yaml", yaml(port, {&b0}));
  auto ok = test::run_nib({"--config", good, "--check"});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  // Nothing was bound: the port is still free.
  EXPECT_FALSE(TestClient::connect(*SocketAddress::parse("127.0.0.1:" + std::to_string(port)), "", 1s).ok());

  std::string bad = dir_.write_file("bad.yaml", yaml(port, {&b0}, "    protcol: tcp\n"));
  auto r = test::run_nib({"--config", bad, "--check"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("bad.yaml:4:5"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("protcol"), std::string::npos) << r.output;
}

TEST_F(NibBinaryTest, BadCommandLinesExitTwoWithAMessage) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"-b", "soon", "8080", "127.0.0.1:80"}, "-b"},
      {{"8080"}, "server"},
      {{"-x"}, "-x"},
      {{"99999", "127.0.0.1:80"}, "99999"},
      {{"--config", "/nonexistent/nib.yaml"}, "/nonexistent/nib.yaml"},
      {{"-y", "8080", "127.0.0.1:80"}, "-y"},
  };
  for (const auto& c : cases) {
    auto r = test::run_nib(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args[0];
    EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
  }
}

TEST_F(NibBinaryTest, PortInUseFailsTheStartWithStatusTwo) {
  TestBackend b0("b0");
  // A plain listener without SO_REUSEPORT: nib cannot share it.
  auto r = test::run_nib({"127.0.0.1:" + std::to_string(b0.port()), "127.0.0.1:" + std::to_string(b0.port())});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("port " + std::to_string(b0.port()) + " (tcp 127.0.0.1:" + std::to_string(b0.port()) +
                          ") is already in use by another process"),
            std::string::npos)
      << r.output;
}

TEST_F(NibBinaryTest, AdminPortInUseFailsTheStartWithStatusTwo) {
  TestBackend taken("taken");
  auto r = test::run_nib({"--admin-http", "127.0.0.1:0", "--admin-grpc", "127.0.0.1:" + std::to_string(taken.port()),
                          "127.0.0.1:" + std::to_string(test::free_port()),
                          "127.0.0.1:" + std::to_string(taken.port())});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("admin gRPC: cannot listen on 127.0.0.1:" + std::to_string(taken.port())),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--no-admin"), std::string::npos) << r.output;
}

TEST_F(NibBinaryTest, AdminHttpPortInUseFailsTheStartWithStatusTwo) {
  TestBackend taken("taken");
  auto r = test::run_nib({"--admin-grpc", "127.0.0.1:0", "--admin-http", "127.0.0.1:" + std::to_string(taken.port()),
                          "127.0.0.1:" + std::to_string(test::free_port()),
                          "127.0.0.1:" + std::to_string(taken.port())});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("admin HTTP: cannot listen on 127.0.0.1:" + std::to_string(taken.port()) +
                          ": Address already in use"),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--no-admin"), std::string::npos) << r.output;
}

// One HTTP/1.1 request on its own connection to the admin plane.
Result<test::HttpResponse> admin_get(uint16_t port, const std::string& path, const std::string& token = "") {
  auto c = TestClient::connect(*SocketAddress::from_ip("127.0.0.1", port));
  if (!c.ok()) return c.status();
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
  if (Status st = c->write_all(request + "\r\n"); !st.ok()) return st;
  return c->read_http_response();
}

TEST_F(NibBinaryTest, AdminHttpWithTokensServesTheRunningNib) {
  TestBackend b0("b0");
  uint16_t port = test::free_port();
  uint16_t admin_port = test::free_port();
  const std::string admin_token = "admin-token-0123456789", read_token = "read-token-0123456789";
  std::string tokens = dir_.write_file("tokens", "# ops\nadmin " + admin_token + "\nreadonly " + read_token + "\n");
  pid_file_ = dir_.file("nib.pid");
  auto p = NibProcess::start({"-f", "-p", pid_file_, "--admin-grpc", "127.0.0.1:0", "--admin-http",
                              "127.0.0.1:" + std::to_string(admin_port), "--admin-token-file", tokens,
                              "127.0.0.1:" + std::to_string(port), "127.0.0.1:" + std::to_string(b0.port())});
  ASSERT_TRUE(p.ok()) << p.status().message();
  auto& nib = *p;
  ASSERT_TRUE(test::wait_until([&] { return test::read_file(pid_file_).ok() || !nib->running(); }, 10s));
  ASSERT_TRUE(nib->running()) << nib->output();  // the pid file means the admin plane is up too

  auto ready = admin_get(admin_port, "/readyz");  // probes need no token
  ASSERT_TRUE(ready.ok()) << ready.status().message();
  EXPECT_EQ(ready->status, 200) << ready->body;
  auto denied = admin_get(admin_port, "/api/v1/stats");
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(denied->status, 401);
  auto stats = admin_get(admin_port, "/api/v1/stats", read_token);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->status, 200);
  EXPECT_NE(stats->body.find("\"port\":" + std::to_string(b0.port())), std::string::npos) << stats->body;
  ASSERT_TRUE(test::who_serves(*SocketAddress::from_ip("127.0.0.1", port), "127.0.0.2").ok());
  auto metrics = admin_get(admin_port, "/metrics", admin_token);
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("nib_service_accepted_connections_total{service=\"default\"} 1"), std::string::npos)
      << metrics->body;

  ASSERT_TRUE(nib->signal(SIGTERM).ok());
  EXPECT_EQ(nib->wait_exit(10s), 0);
  EXPECT_NE(nib->output().find("2 token(s) from " + tokens), std::string::npos) << nib->output();
  EXPECT_EQ(nib->output().find(admin_token), std::string::npos) << "a token reached the log";
  EXPECT_EQ(nib->output().find(read_token), std::string::npos) << "a token reached the log";
}

TEST_F(NibBinaryTest, DemoServesHttpThroughTwoBackends) {
  // The README's first command runs `nib --demo` on 127.0.0.1:8080; skip if that port is taken here.
  NIB_REQUIRE(!TestClient::connect(*SocketAddress::parse("127.0.0.1:8080"), "", 1s).ok(), "127.0.0.1:8080 busy");
  auto nib = NibProcess::start({"--demo", "--no-admin"});
  ASSERT_TRUE(nib.ok());
  ASSERT_TRUE((*nib)->wait_for_output("curl", 10s)) << (*nib)->output();
  SocketAddress lb = *SocketAddress::parse("127.0.0.1:8080");
  std::set<std::string> bodies;
  for (const std::string ip : {"127.0.0.2", "127.0.0.3"}) {
    auto c = TestClient::connect(lb, ip);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c->write_all("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok());
    auto resp = c->read_http_response();
    ASSERT_TRUE(resp.ok());
    EXPECT_EQ(resp->status, 200);
    bodies.insert(resp->body);
  }
  EXPECT_EQ(bodies.size(), 2u) << "two clients should reach the two demo backends";
  ASSERT_TRUE((*nib)->signal(SIGINT).ok());
  EXPECT_EQ((*nib)->wait_exit(10s), 0);
}

}  // namespace
}  // namespace nib
