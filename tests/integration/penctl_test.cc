// nib -C with Pen's own penctl program (Debian's pen package): replies, and
// the exit status scripts rely on. penctl exits non-zero only when its read
// fails, so a failed command must end in a reset after its error line.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <set>
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

constexpr const char* kPenctl = "/usr/bin/penctl";

struct Penctl {
  int exit_code = -1;
  std::string out;
};

class PenctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built");
    NIB_REQUIRE(::access(kPenctl, X_OK) == 0, "no /usr/bin/penctl (Debian's pen: scripts/install-deps.sh --test)");
    control_ = "127.0.0.1:" + std::to_string(test::free_port());
    listen_ = "127.0.0.1:" + std::to_string(test::free_port());
    start_nib({});
  }

  // nib with Pen's command line: `extra` options, the control port, the
  // listener and both backends. Waits for the pid file, written once it listens.
  void start_nib(const std::vector<std::string>& extra) {
    (void)::unlink(dir_.file("nib.pid").c_str());
    std::vector<std::string> args = {"-f", "-p", dir_.file("nib.pid"), "--allow-root-control", "-C", control_};
    args.insert(args.end(), extra.begin(), extra.end());
    for (const std::string& a : {listen_, "127.0.0.1:" + std::to_string(b0_.port()),
                                 "127.0.0.1:" + std::to_string(b1_.port())}) {
      args.push_back(a);
    }
    auto nib = NibProcess::start(args);
    ASSERT_TRUE(nib.ok()) << nib.status().message();
    nib_ = std::move(*nib);
    ASSERT_TRUE(test::wait_until([&] { return test::read_file(dir_.file("nib.pid")).ok() || !nib_->running(); }, 10s));
    ASSERT_TRUE(nib_->running()) << nib_->output();
  }

  void stop_nib() {
    ASSERT_TRUE(nib_->signal(SIGTERM).ok());
    EXPECT_EQ(nib_->wait_exit(10s), 0) << nib_->output();
  }

  Penctl penctl(std::vector<std::string> args) {
    args.insert(args.begin(), control_);
    auto p = NibProcess::start_program(kPenctl, args);
    EXPECT_TRUE(p.ok());
    if (!p.ok()) return {};
    auto code = (*p)->wait_exit(10s);
    (*p)->wait_output_closed(5s);
    return {code.value_or(-9), (*p)->stdout_output()};
  }

  // A command that must succeed; its reply.
  std::string ok(std::vector<std::string> args) {
    Penctl r = penctl(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.out;
    return r.out;
  }

  test::TempDir dir_;
  test::TestBackend b0_{"b0"}, b1_{"b1"};
  std::string control_, listen_;
  std::unique_ptr<NibProcess> nib_;
};

TEST_F(PenctlTest, PensPenctlDrivesNib) {
  auto ok = [&](std::vector<std::string> args) {
    Penctl r = penctl(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.out;
    return r.out;
  };
  EXPECT_EQ(ok({"server", "1", "weight", "3"}), "");
  std::string servers = ok({"servers"});
  EXPECT_NE(servers.find("1 addr 127.0.0.1 port " + std::to_string(b1_.port()) + " conn 0 max 0 hard 0 weight 3"),
            std::string::npos)
      << servers;
  EXPECT_EQ(ok({"roundrobin"}), "");
  EXPECT_EQ(ok({"mode"}), "no hash roundrobin no stubborn no weight no prio\n");
  EXPECT_EQ(ok({"hash"}), "");
  EXPECT_EQ(ok({"mode"}), "hash roundrobin no stubborn no weight no prio\n");
  EXPECT_EQ(ok({"pid"}), std::to_string(nib_->pid()) + "\n");
  EXPECT_EQ(ok({"client_acl", "0"}), "0\n");
  EXPECT_EQ(ok({"control"}), control_ + "\n");
}

// Pen's GeoIP entries through the real binary and Debian's GeoIP database:
// a loopback client is in no country, so a list of one "permit country SE"
// keeps it out (no match: the opposite of the last entry) and one of
// "deny country SE" lets it in.
TEST_F(PenctlTest, CountryAclsUseTheGeoIpDatabase) {
  NIB_REQUIRE(::access("/usr/share/GeoIP/GeoIP.dat", R_OK) == 0, "no GeoIP database (geoip-database)");
  const SocketAddress lb = *SocketAddress::parse(listen_);
  using Args = std::vector<std::string>;
  for (const Args& args : {Args{"acl", "1", "permit", "country", "SE"}, Args{"acl", "2", "deny", "country", "se"}}) {
    Penctl r = penctl(args);
    ASSERT_EQ(r.exit_code, 0) << args[2] << ": " << r.out;
  }
  ASSERT_EQ(penctl({"client_acl", "1"}).out, "1\n");
  EXPECT_FALSE(test::who_serves(lb, "127.0.0.2").ok()) << "closed: a loopback client is not in SE";
  ASSERT_EQ(penctl({"client_acl", "2"}).out, "2\n");
  EXPECT_TRUE(test::who_serves(lb, "127.0.0.2").ok());
}

// Pen's -C /path: Debian's penctl talks to the Unix socket as it does to a port.
TEST(PenctlUnixSocketBinaryTest, PensPenctlDrivesNibOverAUnixSocket) {
  NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built");
  NIB_REQUIRE(::access(kPenctl, X_OK) == 0, "no /usr/bin/penctl (Debian's pen: scripts/install-deps.sh --test)");
  test::TempDir dir;
  test::TestBackend b0("b0");
  const std::string socket = dir.file("ctl");
  auto nib = NibProcess::start({"-f", "-p", dir.file("nib.pid"), "--allow-root-control", "-C", socket,
                                "127.0.0.1:" + std::to_string(test::free_port()),
                                "127.0.0.1:" + std::to_string(b0.port())});
  ASSERT_TRUE(nib.ok()) << nib.status().message();
  ASSERT_TRUE(test::wait_until([&] { return test::read_file(dir.file("nib.pid")).ok() || !(*nib)->running(); }, 10s));
  auto penctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), socket);
    auto p = NibProcess::start_program(kPenctl, args);
    EXPECT_TRUE(p.ok());
    if (!p.ok()) return Penctl{};
    auto code = (*p)->wait_exit(10s);
    (*p)->wait_output_closed(5s);
    return Penctl{code.value_or(-9), (*p)->stdout_output()};
  };
  Penctl control = penctl({"control"});
  EXPECT_EQ(control.exit_code, 0);
  EXPECT_EQ(control.out, socket + "\n");
  EXPECT_EQ(penctl({"server", "0", "weight", "4"}).exit_code, 0);
  EXPECT_NE(penctl({"servers"}).out.find("weight 4"), std::string::npos);
  // penctl fails only when its read fails; a Unix socket has no reset to make
  // it fail with, so there the error line is all a script gets.
  EXPECT_EQ(penctl({"bogus"}).out.rfind("error: unknown command 'bogus'", 0), 0u);
  ASSERT_EQ(::kill((*nib)->pid(), SIGTERM), 0);
  EXPECT_EQ((*nib)->wait_exit(10s), 0);
  EXPECT_NE(::access(socket.c_str(), F_OK), 0) << "nib removes its socket when it stops";
}

// Unsupported, unknown and malformed commands: one error line on stdout, and
// penctl exits non-zero, so `penctl host:port cmd || ...` works in scripts.
TEST_F(PenctlTest, FailedCommandsMakePenctlExitNonZero) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  } cases[] = {
      {{"close", "0"}, "error: close: no open connection 0"},
      {{"ssl_ciphers", "HIGH"}, "error: ssl_ciphers: service 'default' does not speak TLS"},
      {{"dsr_ip", "10.0.0.1"}, "error: 'dsr_ip' is not yet supported by nib"},
      {{"dummy"}, "error: dummy: cannot change at runtime"},
      {{"http"}, "error: http: cannot change at runtime"},
      {{"kqueue"}, "error: 'kqueue' is not supported by nib: it always uses epoll"},
      {{"bogus"}, "error: unknown command 'bogus'"},
      {{"server", "9", "weight", "1"}, "error: no server 9"},
      {{"tracking", "soon"}, "error: tracking: expected an integer 0-"},
      {{"acl", "0", "deny", "country", "S3"}, "error: acl: expected a two-letter country code such as SE"},
  };
  for (const auto& c : cases) {
    Penctl r = penctl(c.args);
    EXPECT_NE(r.exit_code, 0) << c.args[0] << ": " << r.out;
    EXPECT_EQ(r.out.rfind(c.says, 0), 0u) << c.args[0] << ": " << r.out;
  }
  EXPECT_EQ(penctl({"tracking"}).out, "0\n") << "nothing changed";
  EXPECT_TRUE(nib_->running()) << nib_->output();
}

// An operator finds a stuck connection on the status page and closes it
// with Debian's penctl; nib logs that an operator closed it.
TEST_F(PenctlTest, StatusNumbersConnectionsThatCloseCloses) {
  auto lb = SocketAddress::parse(listen_);
  ASSERT_TRUE(lb.ok());
  auto client = test::TestClient::connect(*lb);
  ASSERT_TRUE(client.ok()) << client.status().message();
  ASSERT_TRUE(client->read_line().ok());  // a backend's greeting: relaying
  const std::string page = ok({"status"});
  const std::string table = "<table class=\"connections\">";
  size_t at = page.find(table);
  ASSERT_NE(at, std::string::npos) << page;
  at = page.find("<tr><td>", at);
  ASSERT_NE(at, std::string::npos) << page;
  at += 8;
  const std::string n = page.substr(at, page.find('<', at) - at);
  ASSERT_FALSE(n.empty());
  EXPECT_EQ(ok({"connection", n}).rfind("connection " + n + " service default client 127.0.0.1:", 0), 0u);
  EXPECT_EQ(ok({"close", n}), "");
  auto rest = client->read_until_eof();
  EXPECT_TRUE(rest.ok()) << rest.status().message();
  EXPECT_NE(penctl({"close", n}).exit_code, 0) << "closed already";
  EXPECT_TRUE(nib_->wait_for_output("connection " + n + " closed by an operator", 5s)) << nib_->output();
}

// timeout, idle_timeout, conn_max, pending_max and debug: the word alone prints the value,
// with a number it sets it; a bad value is one error line, penctl fails, and
// nothing changes.
TEST_F(PenctlTest, RuntimeSettingsReadBackAndBadValuesChangeNothing) {
  EXPECT_EQ(ok({"timeout"}), "5\n");
  EXPECT_EQ(ok({"timeout", "7"}), "7\n");
  EXPECT_EQ(ok({"timeout"}), "7\n");
  EXPECT_EQ(ok({"idle_timeout", "30"}), "Idle timeout: 30 seconds\n");  // Pen's words
  EXPECT_EQ(ok({"idle_timeout"}), "Idle timeout: 30 seconds\n");
  EXPECT_EQ(ok({"conn_max", "3"}), "3\n");
  EXPECT_EQ(ok({"conn_max"}), "3\n");
  EXPECT_EQ(ok({"pending_max"}), "0\n");  // no limit unless set (pen's default: 100)
  EXPECT_EQ(ok({"pending_max", "50"}), "50\n");
  EXPECT_EQ(ok({"debug"}), "0\n");
  EXPECT_EQ(ok({"debug", "1"}), "1\n");
  EXPECT_TRUE(nib_->wait_for_output("log level now debug", 10s)) << nib_->output();
  EXPECT_EQ(ok({"debug"}), "1\n");
  for (std::vector<std::string> bad : {std::vector<std::string>{"timeout", "-1"},
                                       {"timeout", "0"},
                                       {"timeout", "3601"},
                                       {"timeout", "soon"},
                                       {"idle_timeout", "-5"},
                                       {"idle_timeout", "1e99"},
                                       {"conn_max", "10000001"},
                                       {"conn_max", "many"},
                                       {"pending_max", "-1"},
                                       {"pending_max", "10000001"},
                                       {"debug", "-1"},
                                       {"debug", "99"},
                                       {"timeout", "1", "2"}}) {
    Penctl r = penctl(bad);
    EXPECT_NE(r.exit_code, 0) << bad[0] << " " << bad[1] << ": " << r.out;
    EXPECT_EQ(r.out.rfind("error: " + bad[0] + ": expected", 0), 0u) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  }
  EXPECT_EQ(ok({"timeout"}), "7\n") << "nothing changed";
  EXPECT_EQ(ok({"idle_timeout"}), "Idle timeout: 30 seconds\n");
  EXPECT_EQ(ok({"conn_max"}), "3\n");
  EXPECT_EQ(ok({"pending_max"}), "50\n");
  EXPECT_EQ(ok({"debug"}), "1\n");
}

// The connection settings are policy: kept in --state, back after a restart.
TEST_F(PenctlTest, ConnectionSettingsSurviveARestartWithState) {
  const std::string state = dir_.file("nib.state");
  stop_nib();
  start_nib({"--state", state});
  EXPECT_EQ(ok({"timeout", "7"}), "7\n");
  EXPECT_EQ(ok({"idle_timeout", "45"}), "Idle timeout: 45 seconds\n");
  EXPECT_EQ(ok({"conn_max", "9"}), "9\n");
  EXPECT_EQ(ok({"pending_max", "11"}), "11\n");
  EXPECT_EQ(ok({"idlers", "2"}).substr(0, 8), "Idlers: ");
  stop_nib();
  start_nib({"--state", state});
  EXPECT_EQ(ok({"timeout"}), "7\n");
  EXPECT_EQ(ok({"idle_timeout"}), "Idle timeout: 45 seconds\n");
  EXPECT_EQ(ok({"conn_max"}), "9\n");
  EXPECT_EQ(ok({"pending_max"}), "11\n");
  EXPECT_TRUE(test::wait_until([&] { return ok({"idlers"}) == "Idlers: 2/2\n"; })) << "open again after the restart";
}

// Pen's idlers: N idle connections kept open to the servers, round-robin;
// `idlers` alone answers Pen's "Idlers: open/wanted".
TEST_F(PenctlTest, IdlersKeepIdleConnectionsOpenToTheServers) {
  EXPECT_EQ(ok({"idlers"}), "Idlers: 0/0\n");
  EXPECT_EQ(ok({"idlers", "3"}).substr(0, 8), "Idlers: ");
  ASSERT_TRUE(test::wait_until([&] { return b0_.active() + b1_.active() == 3; }));
  EXPECT_GE(b0_.active(), 1u);
  EXPECT_GE(b1_.active(), 1u);
  EXPECT_TRUE(test::wait_until([&] { return ok({"idlers"}) == "Idlers: 3/3\n"; }));
  // A client is served as before, beside them.
  auto c = test::TestClient::connect(*SocketAddress::parse(listen_));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->read_line().ok());
  c->close();
  for (std::vector<std::string> bad : {std::vector<std::string>{"idlers", "-1"},
                                       {"idlers", "10001"},
                                       {"idlers", "many"},
                                       {"idlers", "1", "2"}}) {
    Penctl r = penctl(bad);
    EXPECT_NE(r.exit_code, 0) << bad[1] << ": " << r.out;
    EXPECT_EQ(r.out.rfind("error: idlers: expected", 0), 0u) << r.out;
  }
  EXPECT_EQ(ok({"idlers"}), "Idlers: 3/3\n") << "nothing changed";
  EXPECT_EQ(ok({"idlers", "0"}).substr(0, 8), "Idlers: ");
  EXPECT_TRUE(test::wait_until([&] { return b0_.active() + b1_.active() == 0; }));
  EXPECT_EQ(ok({"idlers"}), "Idlers: 0/0\n");
}

// write FILE: the running configuration in Pen's penctl format. Replayed line
// by line into a fresh nib (same command line), it gives the same servers,
// mode and settings. Lines for features nib does not have may fail; every
// other line must be taken.
TEST_F(PenctlTest, WrittenConfigurationReplaysIntoAFreshNib) {
  ok({"server", "1", "weight", "3"});
  ok({"server", "0", "max", "5", "hard", "7"});
  ok({"weight"});
  ok({"stubborn"});
  ok({"timeout", "9"});
  ok({"tracking", "60"});
  ok({"blacklist", "12"});
  ok({"conn_max", "40"});
  ok({"idle_timeout", "120"});
  ok({"acl", "2", "deny", "10.1.0.0", "255.255.0.0"});
  ok({"log", dir_.file("access.log")});
  const std::string file = dir_.file("pen.cfg");
  EXPECT_EQ(ok({"write", file}), "");
  auto text = test::read_file(file);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(text->rfind("# Generated by nib ", 0), 0u) << *text;
  EXPECT_NE(text->find("\nblacklist 12\nclient_acl 0\ncontrol_acl 0\n"), std::string::npos) << *text;
  EXPECT_NE(text->find("\nserver 1 address 127.0.0.1 port " + std::to_string(b1_.port()) +
                       " max 0 hard 0 weight 3\nstubborn\n"),
            std::string::npos)
      << *text;
  EXPECT_NE(text->find("\ntimeout 9\ntracking 60\n"), std::string::npos) << *text;
  const std::vector<std::string> queries = {"servers", "mode", "timeout", "tracking", "blacklist", "conn_max",
                                            "idle_timeout", "log"};
  std::vector<std::string> before;
  for (const auto& q : queries) before.push_back(ok({q}));

  stop_nib();
  start_nib({});
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> words;
    std::istringstream in(line);
    for (std::string w; in >> w;) words.push_back(w);
    Penctl r = penctl(words);
    EXPECT_EQ(r.exit_code, 0) << line << ": " << r.out;  // Pen's default lines included (no ascii, ...)
  }
  for (size_t i = 0; i < queries.size(); ++i) EXPECT_EQ(ok({queries[i]}), before[i]) << queries[i];
}

TEST_F(PenctlTest, WriteWithoutAFileFails) {
  Penctl r = penctl({"write"});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("error: write: no file", 0), 0u) << r.out;
  r = penctl({"write", dir_.file("no-such-dir/pen.cfg")});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("error: write: ", 0), 0u) << r.out;
}

// ---- Pen's -F file and `include FILE` ----

// nib's Pen command line with -F `file`, to completion (a bad file stops it).
test::RunResult run_with_file(const std::string& file, const std::string& listen, const std::string& server,
                              bool check = false) {
  std::vector<std::string> args = {"-f", "-F", file, listen, server};
  if (check) args.insert(args.begin(), "--check");
  return test::run_nib(args);
}

TEST_F(PenctlTest, DashFAppliesItsCommandsAtStart) {
  const std::string file = dir_.write_file("pen.cfg",
                                           "# weights, an ACL and tracking\n"
                                           "weight\n"
                                           "server 0 weight 2\n"
                                           "server 1 weight 7 max 9\n"
                                           "\n"
                                           "tracking 90\n"
                                           "acl 1 deny 127.0.0.2\n"
                                           "client_acl 1\n");
  stop_nib();
  start_nib({"-F", file});
  EXPECT_TRUE(nib_->wait_for_output("applied the penctl commands of " + file + " (-F)", 10s)) << nib_->output();
  const std::string servers = ok({"servers"});
  EXPECT_NE(servers.find("0 addr 127.0.0.1 port " + std::to_string(b0_.port()) + " conn 0 max 0 hard 0 weight 2 "),
            std::string::npos)
      << servers;
  EXPECT_NE(servers.find("1 addr 127.0.0.1 port " + std::to_string(b1_.port()) + " conn 0 max 9 hard 0 weight 7 "),
            std::string::npos)
      << servers;
  EXPECT_EQ(ok({"tracking"}), "90\n");
  EXPECT_EQ(ok({"client_acl"}), "1\n");
  auto lb = SocketAddress::parse(listen_);
  EXPECT_TRUE(test::who_serves(*lb, "127.0.0.1").ok());
  EXPECT_FALSE(test::who_serves(*lb, "127.0.0.2").ok()) << "acl 1 denies 127.0.0.2";
}

TEST_F(PenctlTest, ABadDashFLineStopsTheStartNamingFileAndLine) {
  stop_nib();
  const std::string server = "127.0.0.1:" + std::to_string(b0_.port());
  const std::string bad = dir_.write_file("bad.cfg", "tracking 5\n# fine so far\nserver 0 weight heavy\n");
  test::RunResult r = run_with_file(bad, listen_, server);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(bad + ":3: weight: expected a non-negative integer"), std::string::npos) << r.output;
  // --check knows the words; an argument is checked at start, against the services.
  const std::string unknown = dir_.write_file("unknown.cfg", "tracking 5\nfrobnicate\n");
  r = run_with_file(unknown, listen_, server, /*check=*/true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(unknown + ":2: unknown command 'frobnicate'"), std::string::npos) << r.output;
  r = run_with_file(bad, listen_, server, /*check=*/true);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run_with_file(dir_.file("missing.cfg"), listen_, server);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("cannot read " + dir_.file("missing.cfg")), std::string::npos) << r.output;
  // A file that includes itself is stopped at the depth limit.
  const std::string loop = dir_.write_file("loop.cfg", "include " + dir_.file("loop.cfg") + "\n");
  r = run_with_file(loop, listen_, server);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(loop + ":1: include: nested more than 8 deep"), std::string::npos) << r.output;
}

// SIGHUP re-reads the file: an edit applies; a bad edit changes nothing and
// its FILE:LINE is logged.
TEST_F(PenctlTest, SighupRereadsTheDashFFile) {
  const std::string file = dir_.write_file("pen.cfg", "tracking 30\nserver 1 weight 3\n");
  stop_nib();
  start_nib({"-F", file});
  EXPECT_EQ(ok({"tracking"}), "30\n");
  auto times = [&](const std::string& needle) {
    const std::string out = nib_->output();
    size_t n = 0;
    for (size_t at = out.find(needle); at != std::string::npos; at = out.find(needle, at + 1)) ++n;
    return n;
  };
  const std::string applied = "SIGHUP: applied the penctl commands of " + file;
  dir_.write_file("pen.cfg", "tracking 40\nserver 1 weight 4\n");
  ASSERT_TRUE(nib_->signal(SIGHUP).ok());
  ASSERT_TRUE(test::wait_until([&] { return times(applied) == 1; }, 10s)) << nib_->output();
  EXPECT_EQ(ok({"tracking"}), "40\n");
  EXPECT_NE(ok({"servers"}).find("\n1 addr 127.0.0.1 port " + std::to_string(b1_.port()) + " conn 0 max 0 hard 0 weight 4 "),
            std::string::npos);

  dir_.write_file("pen.cfg", "tracking 50\nserver 1 weight 5\nserver 7 weight 1\n");
  ASSERT_TRUE(nib_->signal(SIGHUP).ok());
  ASSERT_TRUE(nib_->wait_for_output("keeping the running settings", 10s)) << nib_->output();
  EXPECT_NE(nib_->output().find("SIGHUP: " + file + ":3: no server 7; keeping the running settings"),
            std::string::npos)
      << nib_->output();
  EXPECT_EQ(ok({"tracking"}), "40\n") << "a bad file changes nothing";
  EXPECT_NE(ok({"servers"}).find(" weight 4 "), std::string::npos);
  EXPECT_TRUE(nib_->running());
}

TEST_F(PenctlTest, IncludeReadsAFileOfCommandsOverTheControlPort) {
  const std::string inner = dir_.write_file("inner.cfg", "tracking 25\n");
  const std::string outer = dir_.write_file("outer.cfg", "# outer\ninclude " + inner + "\nserver 0 weight 6\n");
  EXPECT_EQ(ok({"include", outer}), "");
  EXPECT_EQ(ok({"tracking"}), "25\n");
  EXPECT_NE(ok({"servers"}).find(" weight 6 "), std::string::npos);
  dir_.write_file("inner.cfg", "tracking 26\ntracking soon\n");
  Penctl r = penctl({"include", outer});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("error: include: " + inner + ":2: tracking: expected", 0), 0u) << r.out;
  EXPECT_EQ(ok({"tracking"}), "25\n") << "nothing of the file applied";
  const std::string loop = dir_.write_file("loop.cfg", "include " + dir_.file("loop.cfg") + "\n");
  r = penctl({"include", loop});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("nested more than 8 deep"), std::string::npos) << r.out;
  EXPECT_TRUE(nib_->running());
}

// `write` without FILE writes the -F file; started again with it, nib has
// the same servers and settings.
TEST_F(PenctlTest, WriteWithoutAFileWritesTheDashFFileAndARestartReadsIt) {
  const std::string file = dir_.write_file("pen.cfg", "server 1 weight 2\n");
  stop_nib();
  start_nib({"-F", file});
  ok({"weight"});
  ok({"server", "0", "weight", "5", "max", "3", "hard", "4"});
  ok({"tracking", "60"});
  ok({"acl", "3", "deny", "10.0.0.0", "255.0.0.0"});
  ok({"client_acl", "3"});
  EXPECT_EQ(ok({"write"}), "");
  auto text = test::read_file(file);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(text->rfind("# Generated by nib ", 0), 0u) << *text;
  EXPECT_NE(text->find(" -F '" + file + "' -C " + control_), std::string::npos) << *text;
  const std::vector<std::string> queries = {"servers", "mode", "tracking", "client_acl", "timeout"};
  std::vector<std::string> before;
  for (const auto& q : queries) before.push_back(ok({q}));
  stop_nib();
  start_nib({"-F", file});
  for (size_t i = 0; i < queries.size(); ++i) EXPECT_EQ(ok({queries[i]}), before[i]) << queries[i];
}

// Pen's ACLs on the command line: -o "acl ..." and -o "client_acl N" apply
// at start through the control port's interpreter; a bad one stops nib.
TEST_F(PenctlTest, AclsGivenWithDashOApplyAtStart) {
  stop_nib();
  start_nib({"-o", "acl 1 deny 127.0.0.5", "-o", "client_acl 1"});
  EXPECT_EQ(ok({"client_acl"}), "1\n");
  auto lb = SocketAddress::parse(listen_);
  EXPECT_EQ(test::who_serves(*lb, "127.0.0.5").ok(), false) << "denied";
  EXPECT_TRUE(test::who_serves(*lb, "127.0.0.6").ok()) << "Pen's rule: a list ending in deny lets the rest in";
  stop_nib();
  auto bad = test::run_nib({"-f", "-o", "acl 1 deny 127.0.0.300", listen_, "127.0.0.1:1"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("-o 'acl 1 deny 127.0.0.300': "), std::string::npos) << bad.output;
  start_nib({});  // for TearDown
}

TEST_F(PenctlTest, ExitWithoutDashXFailsAndNibRuns) {
  Penctl r = penctl({"exit"});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "error: exit: not enabled; restart nib with -X\n");
  EXPECT_EQ(ok({"pid"}), std::to_string(nib_->pid()) + "\n");
}

TEST_F(PenctlTest, ExitWithDashXStopsNibCleanly) {
  stop_nib();
  start_nib({"-X"});
  EXPECT_EQ(ok({"exit"}), "");
  EXPECT_EQ(nib_->wait_exit(10s), 0) << nib_->output();
  // Exited: its last lines may still be in the pipe.
  ASSERT_TRUE(nib_->wait_output_closed(10s));
  EXPECT_NE(nib_->output().find("stopped"), std::string::npos) << nib_->output();
}

// TCP_NODELAY is set on sockets as they are made: asking for the setting in
// force is fine, a change is an error that says why.
TEST_F(PenctlTest, TcpNodelayCannotChangeAtRuntime) {
  EXPECT_EQ(ok({"tcp_nodelay"}), "");
  Penctl r = penctl({"no", "tcp_nodelay"});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("restart nib with -o 'no tcp_nodelay'"), std::string::npos) << r.out;
}

// Pen's web_stats at runtime: a nib started without -w writes the status page
// where penctl says, on each SIGUSR1; `no web_stats` stops it. Signals are
// handled in order by one thread, so a page written for a later SIGUSR1 says
// the earlier one was handled.
TEST_F(PenctlTest, ListenMovesTheServiceToAnotherPort) {
  const std::string moved = "127.0.0.1:" + std::to_string(test::free_port());
  EXPECT_EQ(ok({"listen"}), listen_ + "\n");
  EXPECT_EQ(ok({"listen", moved}), moved + "\n");
  EXPECT_TRUE(test::who_serves(*SocketAddress::parse(moved)).ok()) << nib_->output();
  EXPECT_FALSE(test::TestClient::connect(*SocketAddress::parse(listen_), "127.0.0.1", 1s).ok());
  EXPECT_NE(penctl({"listen", "127.0.0.1:99999"}).exit_code, 0);
  EXPECT_EQ(ok({"listen"}), moved + "\n");
}

TEST_F(PenctlTest, WebStatsSetsTheStatusPageFileAtRuntime) {
  const std::string page = dir_.file("status.html"), later = dir_.file("later.html");
  EXPECT_EQ(ok({"web_stats"}), "") << "none without -w";
  EXPECT_EQ(ok({"web_stats", page}), "");
  EXPECT_EQ(ok({"web_stats"}), page + "\n");
  ASSERT_TRUE(nib_->signal(SIGUSR1).ok());
  ASSERT_TRUE(test::wait_until([&] { return test::read_file(page).ok(); }, 10s)) << nib_->output();
  EXPECT_NE(test::read_file(page)->find("<table class=\"servers\">"), std::string::npos);

  EXPECT_EQ(ok({"no", "web_stats"}), "");
  EXPECT_EQ(ok({"web_stats"}), "");
  ASSERT_EQ(::unlink(page.c_str()), 0);
  ASSERT_TRUE(nib_->signal(SIGUSR1).ok());  // writes nothing
  EXPECT_EQ(ok({"web_stats", later}), "");
  ASSERT_TRUE(nib_->signal(SIGUSR1).ok());
  ASSERT_TRUE(test::wait_until([&] { return test::read_file(later).ok(); }, 10s)) << nib_->output();
  EXPECT_FALSE(test::read_file(page).ok()) << "written after no web_stats";

  Penctl r = penctl({"web_stats", dir_.file("no-such-dir/status.html")});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_EQ(ok({"web_stats"}), later + "\n") << "a refused file changes nothing";
}

// Pen's way to add a server, through Debian's penctl: the next number and an
// address. Round-robin without tracking shows it takes clients.
TEST_F(PenctlTest, ServerWithANewNumberAddsAServerThatTakesClients) {
  test::TestBackend b2("b2");
  EXPECT_EQ(ok({"server", "2", "address", "127.0.0.1", "port", std::to_string(b2.port())}), "");
  EXPECT_NE(ok({"servers"}).find("2 addr 127.0.0.1 port " + std::to_string(b2.port())), std::string::npos);
  EXPECT_EQ(ok({"roundrobin"}), "");
  SocketAddress lb = *SocketAddress::parse(listen_);
  std::set<std::string> seen;
  for (int i = 0; i < 6; ++i) seen.insert(test::who_serves(lb, "127.0.0.2").value_or("none"));
  EXPECT_EQ(seen, (std::set<std::string>{"b0", "b1", "b2"}));
  EXPECT_NE(penctl({"server", "4", "address", "127.0.0.1"}).exit_code, 0) << "not the next number";
}

// Pen's `server N address A port P`: server 0 moves; a connection open on
// it finishes on the old address, its client's next connection (remembered
// as server 0) reaches the new one; a bad address changes nothing.
TEST_F(PenctlTest, ServerAddressAndPortMoveAServerWhileItsOpenConnectionsFinish) {
  test::TestBackend b2("b2");
  SocketAddress lb = *SocketAddress::parse(listen_);
  std::string client;
  for (int i = 2; i < 40 && client.empty(); ++i) {
    const std::string ip = "127.0.0." + std::to_string(i);
    if (test::who_serves(lb, ip).value_or("") == "b0") client = ip;
  }
  ASSERT_FALSE(client.empty()) << "no client chose server 0";
  auto open = test::TestClient::connect(lb, client);
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->read_line().value_or(""), "b0");

  EXPECT_EQ(ok({"server", "0", "address", "127.0.0.1", "port", std::to_string(b2.port())}), "");
  EXPECT_NE(ok({"servers"}).find("0 addr 127.0.0.1 port " + std::to_string(b2.port())), std::string::npos);
  EXPECT_EQ(test::who_serves(lb, client).value_or("none"), "b2");
  ASSERT_TRUE(open->write_all("still here\n").ok());
  EXPECT_EQ(open->read_line().value_or(""), "still here") << "the open connection goes on with b0";

  const std::string before = ok({"servers"});
  EXPECT_NE(penctl({"server", "0", "port", "0"}).exit_code, 0);
  EXPECT_NE(penctl({"server", "0", "address", "no-such-host.invalid"}).exit_code, 0);
  EXPECT_NE(penctl({"server", "0", "address", "127.0.0.1", "port", std::to_string(b1_.port())}).exit_code, 0)
      << "server 1's address";
  EXPECT_EQ(ok({"servers"}), before);
}

}  // namespace
}  // namespace nib
