// nib as a drop-in for pen, driven the way pen users drive it: the real binary
// with Pen's command line, several side by side, in the background without
// -f, with -d, and with Pen's obsolete options. docs/pen-compat.md points here.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NibProcess;
using test::TestBackend;
using test::TestClient;

constexpr const char* kPenctl = "/usr/bin/penctl";

std::string at(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }
std::string at(const TestBackend& b) { return at(b.port()); }
SocketAddress lb(uint16_t port) { return *SocketAddress::from_ip("127.0.0.1", port); }

// /proc/PID/stat: "pid (comm) state ppid pgrp session ...". A zombie counts
// as gone: a container's init may never reap it.
struct ProcStat {
  char state = '?';
  int session = 0;
};
std::optional<ProcStat> proc_stat(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  ProcStat s;
  int ppid = 0, pgrp = 0;
  rest >> s.state >> ppid >> pgrp >> s.session;
  return s;
}
bool alive(int pid) {
  auto s = proc_stat(pid);
  return s && s->state != 'Z' && s->state != 'X';
}

// A background nib is no child of the test: this kills it on every exit path.
class DaemonGuard {
 public:
  explicit DaemonGuard(int pid) : pid_(pid) {}
  ~DaemonGuard() {
    if (pid_ > 0 && alive(pid_)) ::kill(pid_, SIGKILL);
  }
  DaemonGuard(const DaemonGuard&) = delete;
  DaemonGuard& operator=(const DaemonGuard&) = delete;

 private:
  int pid_;
};

class PenCompatTest : public ::testing::Test {
 protected:
  void SetUp() override { NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built"); }

  // nib in the foreground (-f) with Pen's command line; waits for its pid file.
  std::unique_ptr<NibProcess> start(const std::string& name, std::vector<std::string> args) {
    return test::start_foreground(std::move(args), dir_.file(name + ".pid"));
  }

  test::TempDir dir_;
};

// Pen users run one pen per service: two nibs with Pen's command lines run
// side by side (no admin plane unless asked); a third on a taken port, or an
// admin plane asked for on a taken port, stops with status 2 naming it.
TEST_F(PenCompatTest, TwoNibsRunSideBySide) {
  TestBackend b0("b0"), b1("b1");
  uint16_t port_a = test::free_port(), port_b = test::free_port();
  auto a = start("a", {at(port_a), at(b0), at(b1)});
  auto b = start("b", {at(port_b), at(b1), at(b0)});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*test::who_serves(lb(port_a), "127.0.0.2"), "b0");
  EXPECT_EQ(*test::who_serves(lb(port_b), "127.0.0.2"), "b1");
  for (auto* p : {a.get(), b.get()}) EXPECT_EQ(p->output().find("admin"), std::string::npos) << p->output();

  auto same_port = test::run_nib({"-f", at(port_a), at(b0)});
  EXPECT_EQ(same_port.exit_code, 2);
  EXPECT_NE(same_port.output.find("(tcp " + at(port_a) + ") is already in use"), std::string::npos)
      << same_port.output;
  auto admin_taken = test::run_nib({"-f", "--admin-http", at(b0), at(test::free_port()), at(b0)});
  EXPECT_EQ(admin_taken.exit_code, 2);
  EXPECT_NE(admin_taken.output.find("admin HTTP: cannot listen on " + at(b0)), std::string::npos)
      << admin_taken.output;
  EXPECT_NE(admin_taken.output.find("--admin-http IP:PORT"), std::string::npos) << admin_taken.output;
  EXPECT_EQ(*test::who_serves(lb(port_a), "127.0.0.3"), "b1") << "the first nib kept its port";
  ASSERT_TRUE(a->signal(SIGTERM).ok());
  ASSERT_TRUE(b->signal(SIGTERM).ok());
  EXPECT_EQ(a->wait_exit(10s), 0);
  EXPECT_EQ(b->wait_exit(10s), 0);
}

// Without -f, Pen forks into the background. nib does it once its listeners
// are bound: the command returns 0 when nib is ready, the pid file names the
// background process, and SIGTERM stops it.
TEST_F(PenCompatTest, WithoutDashFNibRunsInTheBackground) {
  TestBackend b0("b0");
  uint16_t port = test::free_port();
  std::string pid_file = dir_.file("bg.pid");
  auto r = test::run_nib({"-p", pid_file, at(port), at(b0)});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto text = test::read_file(pid_file);
  ASSERT_TRUE(text.ok()) << "the pid file is in place when the command returns";
  int pid = std::stoi(*text);
  DaemonGuard guard(pid);
  ASSERT_TRUE(alive(pid));
  EXPECT_EQ(proc_stat(pid)->session, pid) << "a session of its own";
  EXPECT_NE(r.output.find("running in the background as process " + std::to_string(pid)), std::string::npos)
      << r.output;
  EXPECT_EQ(*test::who_serves(lb(port), "127.0.0.2"), "b0");
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_TRUE(test::wait_until([&] { return !alive(pid); }, 10s));
  EXPECT_FALSE(test::read_file(pid_file).ok()) << "pid file left behind";
}

// A start-up error still reaches the terminal with status 2: the fork waits
// for the child to be ready.
TEST_F(PenCompatTest, ABackgroundStartThatFailsExitsTwoInTheForeground) {
  TestBackend taken("taken");
  std::string pid_file = dir_.file("bg.pid");
  auto r = test::run_nib({"-p", pid_file, at(taken), at(taken)});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("(tcp " + at(taken) + ") is already in use"), std::string::npos) << r.output;
  EXPECT_FALSE(test::read_file(pid_file).ok());
}

// Pen's abort_on_error: a fatal error ends nib by abort() (a core file for
// troubleshooting) instead of an exit status.
TEST_F(PenCompatTest, AbortOnErrorTurnsAFatalErrorIntoAbort) {
  // No core file from this test: nib may raise the soft limit only up to this hard one.
  rlimit none{0, 0};
  ASSERT_EQ(::setrlimit(RLIMIT_CORE, &none), 0);
  TestBackend taken("taken");
  auto r = test::run_nib({"-f", "-O", "abort_on_error", at(taken), at(taken)});
  EXPECT_EQ(r.exit_code, -SIGABRT) << r.output;
  EXPECT_NE(r.output.find("abort_on_error: exiting with status 2 by abort()"), std::string::npos) << r.output;
  r = test::run_nib({"-f", "-O", "abort_on_error", "-O", "no abort_on_error", at(taken), at(taken)});
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

// -d: each connection's choice, failover and close; -d -d: more (trace).
TEST_F(PenCompatTest, DebugLogsEachConnection) {
  TestBackend b0("b0");
  uint16_t dead = test::free_port();
  uint16_t port = test::free_port();
  auto nib = start("d", {"-d", at(port), at(dead), at(b0)});
  ASSERT_TRUE(nib);
  EXPECT_EQ(*test::who_serves(lb(port), "127.0.0.2"), "b0");
  const std::string client = "service default: client 127.0.0.2:";
  EXPECT_TRUE(nib->wait_for_output("chose server 0 " + at(dead) + " (new)", 5s)) << nib->output();
  EXPECT_TRUE(nib->wait_for_output("server 0 " + at(dead) + " (new) failed to connect; failing over to server 1 " +
                                       at(b0) + " (failover)",
                                   5s))
      << nib->output();
  EXPECT_TRUE(nib->wait_for_output(" bytes to " + at(b0), 5s)) << nib->output();
  EXPECT_NE(nib->output().find(client), std::string::npos) << nib->output();
  EXPECT_EQ(nib->output().find("TRACE"), std::string::npos) << "trace needs -d -d";

  uint16_t trace_port = test::free_port();
  auto trace = start("t", {"-dd", at(trace_port), at(b0)});
  ASSERT_TRUE(trace);
  EXPECT_EQ(*test::who_serves(lb(trace_port), "127.0.0.2"), "b0");
  EXPECT_TRUE(trace->wait_for_output("TRACE " + client, 5s)) << trace->output();
  EXPECT_TRUE(trace->wait_for_output("connecting to " + at(b0), 5s)) << trace->output();
  EXPECT_TRUE(trace->wait_for_output("connected to " + at(b0) + " in ", 5s)) << trace->output();

  // Without -d, not a line per connection. SIGUSR1's statistics mark a point
  // after the connection in the log.
  uint16_t quiet_port = test::free_port();
  auto quiet = start("q", {at(quiet_port), at(b0)});
  ASSERT_TRUE(quiet);
  EXPECT_EQ(*test::who_serves(lb(quiet_port), "127.0.0.2"), "b0");
  ASSERT_TRUE(test::wait_until([&] {
    return quiet->signal(SIGUSR1).ok() && quiet->wait_for_output("1 total", 200ms);
  }));
  EXPECT_EQ(quiet->output().find("client 127.0.0.2"), std::string::npos) << quiet->output();
}

// Options Pen still takes but that do nothing in nib warn and nib runs.
TEST_F(PenCompatTest, ObsoleteOptionsWarnAndNibRuns) {
  TestBackend b0("b0");
  uint16_t port = test::free_port();
  auto nib = start("o", {"-D", "-Q", "-S", "16", "-n", "-P", "-a", "-m", "8", at(port), at(b0)});
  ASSERT_TRUE(nib);
  EXPECT_EQ(*test::who_serves(lb(port), "127.0.0.2"), "b0");
  for (const char* option : {"-D", "-Q", "-S", "-n", "-P", "-a", "-m"}) {
    // The pid file can appear before the reader thread has taken the warnings from the pipe.
    EXPECT_TRUE(nib->wait_for_output(std::string("nib: warning: option ") + option + " (", 10s))
        << option << "\n" << nib->output();
  }
  auto bad = test::run_nib({"-f", "-m", "none", at(port), at(b0)});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("option -m: expected an integer"), std::string::npos) << bad.output;
}

// Pen lists a server twice to give it two turns; -e without a port takes the
// listen port.
TEST_F(PenCompatTest, DuplicateServersAndAnEmergencyServerWithoutAPort) {
  TestBackend b0("b0"), b1("b1");
  uint16_t port = test::free_port();
  auto nib = start("dup", {"-r", at(port), at(b0), at(b0), at(b1)});
  ASSERT_TRUE(nib);
  std::vector<std::string> seen;
  for (int i = 0; i < 6; ++i) seen.push_back(*test::who_serves(lb(port), "127.0.0.2"));
  EXPECT_EQ(seen, (std::vector<std::string>{"b0", "b0", "b1", "b0", "b0", "b1"}));

  // The state file names backends by address: it cannot hold a server twice,
  // so --state with a duplicate refuses to start (and --check says so).
  std::string state = dir_.file("dup.state");
  for (const char* check : {"", "--check"}) {
    std::vector<std::string> args = {"-f", "--state", state, at(test::free_port()), at(b0), at(b0)};
    if (*check) args.insert(args.begin(), check);
    auto refused = test::run_nib(args);
    EXPECT_EQ(refused.exit_code, 2) << check << refused.output;
    EXPECT_NE(refused.output.find("listed twice"), std::string::npos) << refused.output;
  }

  // The emergency server listens on 127.0.0.9:P; nib on 127.0.0.1:P. P comes
  // from free_port(), outside the ephemeral range: a kernel-picked P could be
  // another test's client source port on 127.0.0.1 by the time nib binds it.
  TestBackend e("e", test::BackendMode::kEcho, "127.0.0.9", test::free_port());
  auto emergency = start("e", {"-e", "127.0.0.9", at(e.port()), at(test::free_port())});
  ASSERT_TRUE(emergency);
  EXPECT_EQ(*test::who_serves(lb(e.port()), "127.0.0.2"), "e");
}

// -r with several workers: one atomic step of the shared cursor per choice,
// so sequential clients alternate exactly, whichever worker accepts them.
TEST_F(PenCompatTest, RoundRobinIsStrictWithFourWorkers) {
  TestBackend b0("b0"), b1("b1");
  uint16_t port = test::free_port();
  auto nib = start("rr", {"-r", "--workers", "4", at(port), at(b0), at(b1)});
  ASSERT_TRUE(nib);
  int breaks = 0;
  for (int i = 0; i < 1000; ++i) {
    auto name = test::who_serves(lb(port), "127.0.0.2");
    ASSERT_TRUE(name.ok()) << i << ": " << name.status().message();
    if (*name != (i % 2 == 0 ? "b0" : "b1")) ++breaks;
  }
  EXPECT_EQ(breaks, 0);
  EXPECT_NE(nib->output().find("4 worker(s)"), std::string::npos) << nib->output();
}

// Pen's dummy (-o dummy): nib answers every request itself, pipelined ones
// and one whose blank line is split across reads included, and never
// contacts a backend; a half-close after the requests still gets every
// answer. penctl's dummy word reads it back; changing it needs a restart.
TEST_F(PenCompatTest, DummyAnswersEveryRequestItself) {
  TestBackend b0("b0");
  uint16_t port = test::free_port(), control = test::free_port();
  auto nib = start("dummy", {"-o", "dummy", "-C", at(control), "--allow-root-control", at(port), at(b0)});
  ASSERT_TRUE(nib);
  auto c = TestClient::connect(lb(port), "127.0.0.2");
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE(c->write_all("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n\r").ok());
  auto first = c->read_http_response();
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, "nib dummy reply\n");
  ASSERT_TRUE(c->write_all("\n\r\nHEAD /3 HTTP/1.1\r\n\r\n").ok());
  c->shutdown_write();
  auto rest = c->read_until_eof();
  ASSERT_TRUE(rest.ok()) << rest.status().message();
  const std::string one = "HTTP/1.1 200 OK\r\nContent-Length: 16\r\nContent-Type: text/plain\r\n\r\nnib dummy reply\n";
  EXPECT_EQ(*rest, one + one) << "the second and third requests, each answered once";
  EXPECT_EQ(b0.accepted(), 0u) << "no backend is contacted";
  NIB_REQUIRE(::access(kPenctl, X_OK) == 0, "no /usr/bin/penctl (Debian's pen: scripts/install-deps.sh --test)");
  auto penctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), at(control));
    auto p = NibProcess::start_program(kPenctl, args);
    EXPECT_TRUE(p.ok());
    if (!p.ok()) return std::pair{-1, std::string()};
    auto code = (*p)->wait_exit(10s);
    (*p)->wait_output_closed(5s);
    return std::pair{code.value_or(-9), (*p)->stdout_output()};
  };
  EXPECT_EQ(penctl({"dummy"}).first, 0);
  auto [code, out] = penctl({"no", "dummy"});
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("cannot change at runtime"), std::string::npos) << out;
}

// Pen's rule when no entry matches: the opposite of the last entry's action.
TEST_F(PenCompatTest, AclListsEndingInDenyAndInPermit) {
  TestBackend b0("b0");
  uint16_t deny_last = test::free_port(), permit_last = test::free_port();
  std::string config = dir_.write_file(
      "acl.yaml", "services:\n"
                  "  - name: deny-last\n    listen: " + at(deny_last) + "\n    acl: [\"deny 127.0.0.2\"]\n"
                  "    backends: [\"" + at(b0) + "\"]\n"
                  "  - name: permit-last\n    listen: " + at(permit_last) + "\n"
                  "    acl: [\"deny 127.0.0.4\", \"permit 127.0.0.2\"]\n    backends: [\"" + at(b0) + "\"]\n");
  auto nib = start("acl", {"--no-admin", "--config", config});
  ASSERT_TRUE(nib);
  EXPECT_FALSE(test::who_serves(lb(deny_last), "127.0.0.2").ok());
  EXPECT_EQ(*test::who_serves(lb(deny_last), "127.0.0.3"), "b0");  // no match: the opposite of deny
  EXPECT_EQ(*test::who_serves(lb(permit_last), "127.0.0.2"), "b0");
  EXPECT_FALSE(test::who_serves(lb(permit_last), "127.0.0.3").ok());  // no match: the opposite of permit
  EXPECT_FALSE(test::who_serves(lb(permit_last), "127.0.0.4").ok());
}

// Pen's `pen [options] /path/to/socket h1:p1 ...`: clients connect over a
// Unix socket, the servers are TCP as ever. A second nib on the same path is
// refused (exit 2, naming it), as are -U and transparent with a path; the
// admin views and penctl's `listen` print the path, which `listen` will not
// move; SIGTERM removes the file.
TEST_F(PenCompatTest, ListensOnAUnixSocketPath) {
  TestBackend b0("b0"), b1("b1");
  const std::string path = dir_.file("pen.sock");
  const uint16_t control = test::free_port(), admin = test::free_port();
  auto nib = start("unix", {"-r", "--workers", "2", "--allow-root-control", "-C", at(control), "--admin-http",
                            at(admin), path, at(b0), at(b1)});
  ASSERT_TRUE(nib);
  // The admin views name the path where an IP listener shows its address.
  auto ready = test::http_request(lb(admin), "GET", "/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status().message();
  EXPECT_EQ(ready->status, 200) << ready->body;
  for (const char* page : {"/api/v1/services/default", "/stats.html"}) {
    auto view = test::http_request(lb(admin), "GET", page);
    ASSERT_TRUE(view.ok()) << page << ": " << view.status().message();
    EXPECT_NE(view->body.find(path), std::string::npos) << page << ": " << view->body;
    EXPECT_EQ(view->body.find("0.0.0.0:0"), std::string::npos) << page << ": " << view->body;
  }
  for (const char* expected : {"b0", "b1", "b0", "b1"}) {
    auto c = TestClient::connect_unix(path);
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_EQ(*c->read_line(), expected);
  }
  EXPECT_NE(nib->output().find("listening on " + path + " (tcp"), std::string::npos) << nib->output();
  auto listen = test::control_command(lb(control), "listen\n");
  ASSERT_TRUE(listen.ok()) << listen.status().message();
  EXPECT_EQ(listen->text, path + "\n");
  auto move = test::control_command(lb(control), "listen 127.0.0.1:0\n");
  ASSERT_TRUE(move.ok()) << move.status().message();
  EXPECT_NE(move->text.find("restart nib to change it"), std::string::npos) << move->text;

  auto second = test::run_nib({"-f", path, at(b0)});
  EXPECT_EQ(second.exit_code, 2);
  EXPECT_NE(second.output.find(path + " is in use by another process"), std::string::npos) << second.output;
  auto udp = test::run_nib({"-f", "-U", dir_.file("udp.sock"), at(b0)});
  EXPECT_EQ(udp.exit_code, 2);
  EXPECT_NE(udp.output.find("cannot be used with UDP (-U)"), std::string::npos) << udp.output;
  auto transparent = test::run_nib({"-f", "-O", "transparent", dir_.file("t.sock"), at(b0)});
  EXPECT_EQ(transparent.exit_code, 2);
  EXPECT_NE(transparent.output.find("cannot be used with transparent"), std::string::npos) << transparent.output;

  auto c = TestClient::connect_unix(path);
  ASSERT_TRUE(c.ok()) << "the first nib kept its socket: " << c.status().message();
  // Served (by either server: the second nib's probe that found the socket
  // live was a client too, and moved the round-robin on).
  auto served = c->read_line();
  EXPECT_TRUE(served.ok() && (*served == "b0" || *served == "b1")) << served.status().message();
  c->close();
  ASSERT_TRUE(nib->signal(SIGTERM).ok());
  EXPECT_EQ(nib->wait_exit(10s), 0) << nib->output();
  struct stat st {};
  EXPECT_NE(::lstat(path.c_str(), &st), 0) << "socket file left behind";
}

}  // namespace
}  // namespace nib
