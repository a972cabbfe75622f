#include "server/config/pen_args.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/temp_file.h"

namespace nib {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Action = CommandLine::Action;
using Args = std::vector<std::string>;

Result<CommandLine> parse(const Args& args) { return PenArgs::parse(args); }

std::string error_of(const Args& args) {
  auto result = parse(args);
  EXPECT_FALSE(result.ok()) << "parsed unexpectedly";
  return result.ok() ? "" : result.status().message();
}

// The one service of a Pen command line that must parse.
ServiceConfig service_of(const Args& args) {
  auto result = parse(args);
  EXPECT_TRUE(result.ok()) << result.status().message();
  if (!result.ok() || result->config.dataplane.services.size() != 1) return {};
  return result->config.dataplane.services[0];
}

// Pen options go before "80 127.0.0.1:81".
ServiceConfig with_options(Args options) {
  options.insert(options.end(), {"80", "127.0.0.1:81"});
  return service_of(options);
}

SocketAddress addr(const char* text) { return *SocketAddress::parse(text); }

using test::TempFile;

constexpr std::string_view kYaml = "workers: 3\nservices:\n  - name: web\n    listen: 127.0.0.1:8080\n";

// ---- positional arguments ----

TEST(PenArgsTest, PenManPageExample) {
  // pen 80 www1:8000:10 www2:80:10 www3
  auto result = parse({"80", "127.0.0.1:8000:10", "localhost:80:10", "127.0.0.3"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->action, Action::kRun);
  ASSERT_EQ(result->config.dataplane.services.size(), 1u);
  const ServiceConfig& s = result->config.dataplane.services[0];
  EXPECT_EQ(s.name, "default");
  EXPECT_EQ(s.listen, addr("0.0.0.0:80"));
  ASSERT_EQ(s.backends.size(), 3u);
  EXPECT_EQ(s.backends[0].address, addr("127.0.0.1:8000"));
  EXPECT_EQ(s.backends[0].soft_limit, 10u);
  EXPECT_EQ(s.backends[1].host, "localhost");
  EXPECT_EQ(s.backends[1].address.port(), 80);
  EXPECT_EQ(s.backends[1].soft_limit, 10u);
  EXPECT_EQ(s.backends[2].address, addr("127.0.0.3:80"));  // port defaults to the listen port
  EXPECT_EQ(s.backends[2].soft_limit, 0u);
}

TEST(PenArgsTest, DefaultsMatchPen) {
  ServiceConfig s = service_of({"8080", "127.0.0.1"});
  EXPECT_EQ(s.protocol, Protocol::kTcp);
  EXPECT_EQ(s.policy, PolicyConfig{});
  EXPECT_EQ(s.policy.mode, BalanceMode::kAffinity);
  EXPECT_EQ(s.policy.blacklist_seconds, 30);
  EXPECT_EQ(s.policy.table_size, 2048u);
  EXPECT_EQ(s.policy.connect_timeout_seconds, 5);
  EXPECT_FALSE(s.emergency.has_value());
  EXPECT_EQ(s.backends.at(0).weight, 0u);  // Pen's setaddress(): no weight field, weight 0
  EXPECT_EQ(s.backends.at(0).prio, 0u);
  EXPECT_TRUE(s.tcp_nodelay);
  auto result = parse({"8080", "127.0.0.1"});
  EXPECT_EQ(result->config.verbosity, 0);
  EXPECT_TRUE(result->config.daemonize);  // Pen's background mode, unless -f
  EXPECT_TRUE(result->warnings.empty());
  EXPECT_EQ(result->config.shutdown_grace_seconds, 30);
  EXPECT_EQ(result->config.pid_file, "");
  EXPECT_EQ(result->config.config_path, "");
}

TEST(PenArgsTest, AllServerFields) {
  ServiceConfig s = service_of({"80", "127.0.0.1:81:10:20:3:7"});
  const BackendConfig& b = s.backends.at(0);
  EXPECT_EQ(b.address, addr("127.0.0.1:81"));
  EXPECT_EQ(b.soft_limit, 10u);
  EXPECT_EQ(b.hard_limit, 20u);
  EXPECT_EQ(b.weight, 3u);
  EXPECT_EQ(b.prio, 7u);
}

TEST(PenArgsTest, EmptyServerFieldsTakeDefaults) {
  ServiceConfig s = service_of({"80", "127.0.0.1::10", "127.0.0.2:::::5", "127.0.0.3:"});
  EXPECT_EQ(s.backends.at(0).address, addr("127.0.0.1:80"));
  EXPECT_EQ(s.backends.at(0).soft_limit, 10u);
  EXPECT_EQ(s.backends.at(1).address, addr("127.0.0.2:80"));
  EXPECT_EQ(s.backends.at(1).weight, 0u);
  EXPECT_EQ(s.backends.at(1).prio, 5u);
  EXPECT_EQ(s.backends.at(2).address, addr("127.0.0.3:80"));
}

TEST(PenArgsTest, ListenForms) {
  EXPECT_EQ(service_of({"127.0.0.1:8080", "127.0.0.1:81"}).listen, addr("127.0.0.1:8080"));
  EXPECT_EQ(service_of({"[::1]:8080", "127.0.0.1:81"}).listen, addr("[::1]:8080"));
  EXPECT_EQ(service_of({":8080", "127.0.0.1:81"}).listen, addr("0.0.0.0:8080"));
  EXPECT_EQ(service_of({"localhost:8080", "127.0.0.1:81"}).listen.port(), 8080);
}

TEST(PenArgsTest, Ipv6Servers) {
  ServiceConfig s = service_of({"[::1]:8080", "[::1]", "[::1]:81:5", "[::2]:"});
  EXPECT_EQ(s.backends.at(0).address, addr("[::1]:8080"));
  EXPECT_EQ(s.backends.at(0).host, "::1");
  EXPECT_EQ(s.backends.at(1).address, addr("[::1]:81"));
  EXPECT_EQ(s.backends.at(1).soft_limit, 5u);
  EXPECT_EQ(s.backends.at(2).address, addr("[::2]:8080"));
}

// Pen's `pen /path/to/socket h1:p1 ...`: a Unix socket listener for a TCP
// service; what needs an IP or UDP is an error naming it.
TEST(PenArgsTest, UnixSocketListenPath) {
  ServiceConfig s = service_of({"-r", "/tmp/pen.sock", "127.0.0.1:80", "127.0.0.2:80"});
  EXPECT_EQ(s.listen_path, "/tmp/pen.sock");
  EXPECT_EQ(s.backends.size(), 2u);
  EXPECT_THAT(error_of({"-U", "/tmp/pen.sock", "127.0.0.1:53"}),
              HasSubstr("a Unix socket listen path (/tmp/pen.sock) cannot be used with UDP (-U)"));
  EXPECT_THAT(error_of({"-O", "transparent", "/tmp/pen.sock", "127.0.0.1:80"}),
              HasSubstr("a Unix socket listen path (/tmp/pen.sock) cannot be used with transparent"));
  EXPECT_THAT(error_of({"-O", "dsr_if eth0", "/tmp/pen.sock", "127.0.0.1:80"}),
              HasSubstr("a Unix socket listen path (/tmp/pen.sock) cannot be used with direct server return (dsr_if)"));
  EXPECT_THAT(error_of({"--defer-accept", "/tmp/pen.sock", "127.0.0.1:80"}),
              HasSubstr("cannot be used with defer_accept"));
  // No listen port for a server to default to.
  EXPECT_THAT(error_of({"/tmp/pen.sock", "127.0.0.1"}),
              HasSubstr("server '127.0.0.1': a port is needed (the listen address is a Unix socket"));
  EXPECT_THAT(error_of({"-e", "127.0.0.9", "/tmp/pen.sock", "127.0.0.1:80"}),
              HasSubstr("expected host:port (the listen address is a Unix socket"));
  EXPECT_THAT(error_of({"tmp/pen.sock", "127.0.0.1:80"}), StartsWith("listen address: "));
}

TEST(PenArgsTest, PositionalErrors) {
  EXPECT_THAT(error_of({}), StartsWith("expected [host:]port and at least one server, or --config FILE"));
  EXPECT_THAT(error_of({"80"}), StartsWith("expected at least one server after the listen address '80'"));
  EXPECT_THAT(error_of({"nosuchservice", "127.0.0.1"}),
              StartsWith("listen address: expected [host:]port with a port 1-65535 or a service name from "
                         "/etc/services, got 'nosuchservice'"));
  EXPECT_EQ(error_of({"80", "127.0.0.1:99999"}),
            "server '127.0.0.1:99999': port: expected a port 1-65535 or a tcp service name from /etc/services, "
            "got '99999'");
  EXPECT_EQ(error_of({"80", "127.0.0.1:81:x"}), "server '127.0.0.1:81:x': maxc: expected an integer 0-1000000, got 'x'");
  EXPECT_EQ(error_of({"80", "127.0.0.1:81:1:-1"}),
            "server '127.0.0.1:81:1:-1': hard: expected an integer 0-1000000, got '-1'");
  EXPECT_EQ(error_of({"80", "127.0.0.1:81:1:1:10001"}),
            "server '127.0.0.1:81:1:1:10001': weight: expected an integer 0-10000, got '10001'");
  EXPECT_EQ(error_of({"80", "127.0.0.1:81:1:1:1:1000001"}),
            "server '127.0.0.1:81:1:1:1:1000001': prio: expected an integer 0-1000000, got '1000001'");
  EXPECT_THAT(error_of({"80", "127.0.0.1:81:1:1:1:1:1"}),
              StartsWith("server '127.0.0.1:81:1:1:1:1:1': expected host[:port[:maxc[:hard[:weight[:prio]]]]]"));
  EXPECT_THAT(error_of({"80", ":81"}), StartsWith("server ':81': expected host[:port"));
  EXPECT_THAT(error_of({"80", "[::1"}), StartsWith("server '[::1': expected host[:port"));
  EXPECT_THAT(error_of({"80", "[::1]81"}), StartsWith("server '[::1]81': expected host[:port"));
  EXPECT_THAT(error_of({"80", "nosuch.invalid"}), StartsWith("server 'nosuch.invalid': cannot resolve host 'nosuch.invalid'"));
}

// As in Pen, each listing is a server of its own (a crude weight without -W).
TEST(PenArgsTest, DuplicateServersAreAllowed) {
  ServiceConfig s = service_of({"80", "127.0.0.1", "127.0.0.1:80", "127.0.0.2"});
  ASSERT_EQ(s.backends.size(), 3u);
  EXPECT_EQ(s.backends[0].address, s.backends[1].address);
}

// getservbyname(), as Pen's getport(): "pen smtp mailhost1:smtp mailhost2:25".
TEST(PenArgsTest, PortNamesResolveThroughEtcServices) {
  ServiceConfig s = service_of({"127.0.0.1:smtp", "127.0.0.2:smtp", "127.0.0.3:http", "127.0.0.4"});
  EXPECT_EQ(s.listen, addr("127.0.0.1:25"));
  EXPECT_EQ(s.backends.at(0).address, addr("127.0.0.2:25"));
  EXPECT_EQ(s.backends.at(1).address, addr("127.0.0.3:80"));
  EXPECT_EQ(s.backends.at(2).address, addr("127.0.0.4:25"));  // the listen port
  EXPECT_EQ(service_of({"http", "127.0.0.1"}).listen, addr("0.0.0.0:80"));
  EXPECT_EQ(service_of({"-U", "domain", "127.0.0.1"}).listen, addr("0.0.0.0:53"));  // looked up as udp
  EXPECT_EQ(with_options({"-e", "127.0.0.9:http"}).emergency->address, addr("127.0.0.9:80"));
  auto control = parse({"-C", "127.0.0.1:http", "80", "127.0.0.1"});
  ASSERT_TRUE(control.ok()) << control.status().message();
  EXPECT_EQ(control->config.admin.penctl_listen, "127.0.0.1:80");
  EXPECT_EQ(error_of({"80", "127.0.0.1:smpt"}),
            "server '127.0.0.1:smpt': port: expected a port 1-65535 or a tcp service name from /etc/services, "
            "got 'smpt'");
}

// Pen: a server listed without a weight has weight 0, which -W never chooses
// for a new client. nib does the same and says so.
TEST(PenArgsTest, ServersWithoutAWeightUnderWeightModeAreNamedInAWarning) {
  auto result = parse({"-W", "80", "127.0.0.1:81", "127.0.0.2:81:0:0:2", "127.0.0.3:81::"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  const auto& backends = result->config.dataplane.services[0].backends;
  EXPECT_EQ(backends.at(0).weight, 0u);
  EXPECT_EQ(backends.at(1).weight, 2u);
  ASSERT_EQ(result->warnings.size(), 1u);
  EXPECT_THAT(result->warnings[0], HasSubstr("no weight given for 127.0.0.1:81, 127.0.0.3:81::"));
  EXPECT_TRUE(parse({"80", "127.0.0.1:81"})->warnings.empty()) << "no warning without -W";
}

// ---- Pen options ----

TEST(PenArgsTest, NumericOptions) {
  ServiceConfig s = with_options({"-b", "10", "-c", "4096", "-t", "2.5", "-x", "100", "-T", "60", "-q", "64"});
  EXPECT_EQ(s.policy.blacklist_seconds, 10);
  EXPECT_EQ(s.policy.table_size, 4096u);
  EXPECT_EQ(s.policy.connect_timeout_seconds, 2.5);
  EXPECT_EQ(s.policy.max_connections, 100u);
  EXPECT_EQ(s.policy.tracking_seconds, 60);
  EXPECT_EQ(s.backlog, 64);
}

TEST(PenArgsTest, EmergencyServer) {
  ServiceConfig s = with_options({"-e", "127.0.0.1:8089"});
  ASSERT_TRUE(s.emergency.has_value());
  EXPECT_EQ(s.emergency->address, addr("127.0.0.1:8089"));
  EXPECT_EQ(with_options({"-e", "[::1]:8089"}).emergency->address, addr("[::1]:8089"));
  // Without a port: the listen port, as Pen's setaddress() does.
  EXPECT_EQ(with_options({"-e", "127.0.0.9"}).emergency->address, addr("127.0.0.9:80"));
  EXPECT_EQ(with_options({"-e", "[::1]"}).emergency->address, addr("[::1]:80"));
  EXPECT_EQ(error_of({"-e", "127.0.0.1:80:5", "80", "127.0.0.1"}), "option -e '127.0.0.1:80:5': expected host[:port]");
  EXPECT_THAT(error_of({"-e", "127.0.0.1:x", "80", "127.0.0.1"}),
              StartsWith("option -e '127.0.0.1:x': expected a port 1-65535"));
  EXPECT_EQ(error_of({"-e", "", "80", "127.0.0.1"}), "option -e: expected host[:port]");
}

// Pen's -B: where clients the client ACL denies go; host[:port] like -e.
TEST(PenArgsTest, AbuseServer) {
  ServiceConfig s = with_options({"-B", "127.0.0.1:8090"});
  ASSERT_TRUE(s.abuse.has_value());
  EXPECT_EQ(s.abuse->address, addr("127.0.0.1:8090"));
  EXPECT_EQ(s.abuse->host, "127.0.0.1");
  EXPECT_FALSE(s.emergency.has_value());
  EXPECT_FALSE(with_options({}).abuse.has_value());
  EXPECT_EQ(with_options({"-B127.0.0.1:8090"}).abuse->address, addr("127.0.0.1:8090"));
  EXPECT_EQ(with_options({"-B", "127.0.0.9"}).abuse->address, addr("127.0.0.9:80")) << "the listen port";
  EXPECT_EQ(with_options({"-B", "[::1]:http"}).abuse->address, addr("[::1]:80")) << "a port name";
  EXPECT_EQ(with_options({"-B", "localhost:8090"}).abuse->host, "localhost") << "resolved once, name kept";
  EXPECT_EQ(error_of({"-B", "127.0.0.1:80:5", "80", "127.0.0.1"}), "option -B '127.0.0.1:80:5': expected host[:port]");
  EXPECT_THAT(error_of({"-B", "127.0.0.1:x", "80", "127.0.0.1"}),
              StartsWith("option -B '127.0.0.1:x': expected a port 1-65535"));
  EXPECT_EQ(error_of({"-B", "", "80", "127.0.0.1"}), "option -B: expected host[:port]");
  EXPECT_THAT(error_of({"-B", "no-such-host.invalid:80", "80", "127.0.0.1"}),
              StartsWith("option -B 'no-such-host.invalid:80': "));
}

// Pen's initial_server(): prio over weight over hash over roundrobin,
// whatever the order the flags were given in.
TEST(PenArgsTest, ModeFlagsCombineAsPens) {
  EXPECT_EQ(with_options({"-r"}).policy.mode, BalanceMode::kRoundRobin);
  EXPECT_EQ(with_options({"-h"}).policy.mode, BalanceMode::kHash);
  EXPECT_EQ(with_options({"-W"}).policy.mode, BalanceMode::kWeight);
  EXPECT_EQ(with_options({"-r", "-h"}).policy.mode, BalanceMode::kHash);
  EXPECT_EQ(with_options({"-h", "-r"}).policy.mode, BalanceMode::kHash);
  EXPECT_EQ(with_options({"-W", "-h"}).policy.mode, BalanceMode::kWeight);
  EXPECT_EQ(with_options({"-h", "-W", "-r"}).policy.mode, BalanceMode::kWeight);
  EXPECT_EQ(with_options({"-o", "prio", "-W", "-h"}).policy.mode, BalanceMode::kPrio);
  EXPECT_EQ(with_options({"-W", "-o", "prio"}).policy.mode, BalanceMode::kPrio);
  EXPECT_EQ(with_options({"-rhW", "-o", "no weight"}).policy.mode, BalanceMode::kHash);
}

TEST(PenArgsTest, Stubborn) { EXPECT_TRUE(with_options({"-s"}).policy.stubborn); }

TEST(PenArgsTest, ProcessOptions) {
  auto result = parse({"-p", "/run/nib.pid", "-w", "/tmp/status.html", "-d", "-d", "-f", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.pid_file, "/run/nib.pid");
  EXPECT_EQ(result->config.status_file, "/tmp/status.html");
  EXPECT_EQ(result->config.verbosity, 2);
  EXPECT_FALSE(result->config.daemonize);  // -f
}

// Options Pen takes but that do nothing here: one warning each, and nib runs.
TEST(PenArgsTest, ObsoleteOptionsWarnAndContinue) {
  auto result = parse({"-D", "-Q", "-S", "16", "-n", "-P", "-a", "-m", "10", "-fPa", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->action, Action::kRun);
  const auto& w = result->warnings;
  ASSERT_EQ(w.size(), 9u);
  for (std::string option : {"-D", "-Q", "-S", "-n", "-P", "-a", "-m"}) {
    EXPECT_EQ(std::count_if(w.begin(), w.end(), [&](const std::string& x) { return x.starts_with("option " + option + " ("); }),
              option == "-P" || option == "-a" ? 2 : 1)
        << option;
  }
  EXPECT_THAT(w[0], HasSubstr("obsolete"));
  EXPECT_EQ(result->config.dataplane.services.at(0).backends.size(), 1u) << "-S took its value, not a server";
  // -S takes a value, as in Pen: here "80", which leaves "127.0.0.1" as the listen address.
  EXPECT_THAT(error_of({"-S", "80", "127.0.0.1"}), StartsWith("listen address: "));
  EXPECT_EQ(error_of({"-S", "many", "80", "127.0.0.1"}), "option -S: expected an integer 1-100000000, got 'many'");
  EXPECT_EQ(error_of({"80", "127.0.0.1", "-m"}), "option -m: expected a value");
}

TEST(PenArgsTest, BundledFlags) {
  auto result = parse({"-fdr", "-dd", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.verbosity, 3);
  EXPECT_EQ(result->config.dataplane.services[0].policy.mode, BalanceMode::kRoundRobin);
}

TEST(PenArgsTest, AttachedAndSeparateValues) {
  EXPECT_EQ(with_options({"-b30"}).policy.blacklist_seconds, 30);
  EXPECT_EQ(with_options({"-b", "31"}).policy.blacklist_seconds, 31);
  // A value-taking letter takes the rest of the group: -sb5 is -s -b 5.
  ServiceConfig s = with_options({"-sb5"});
  EXPECT_TRUE(s.policy.stubborn);
  EXPECT_EQ(s.policy.blacklist_seconds, 5);
  EXPECT_EQ(with_options({"-sT", "7"}).policy.tracking_seconds, 7);
}

TEST(PenArgsTest, OptionsMayFollowPositionals) {
  auto result = parse({"80", "127.0.0.1", "-r", "-d"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.dataplane.services[0].policy.mode, BalanceMode::kRoundRobin);
  EXPECT_EQ(result->config.verbosity, 1);
}

TEST(PenArgsTest, DoubleDashEndsOptions) {
  EXPECT_EQ(service_of({"-r", "--", "80", "127.0.0.1"}).backends.size(), 1u);
  EXPECT_THAT(error_of({"--", "80", "-r"}), StartsWith("server '-r': "));
}

TEST(PenArgsTest, NumericOptionErrors) {
  struct Case {
    Args args;
    const char* message;
  } cases[] = {
      {{"-b", "abc"}, "option -b: expected seconds >= 0, got 'abc'"},
      {{"-b", "-1"}, "option -b: expected seconds >= 0, got '-1'"},
      {{"-c", "0"}, "option -c: expected an integer 1-100000000, got '0'"},
      {{"-t", "0"}, "option -t: expected seconds > 0 and <= 3600, got '0'"},
      {{"-t", "3601"}, "option -t: expected seconds > 0 and <= 3600, got '3601'"},
      {{"-x", "10000001"}, "option -x: expected an integer 0-10000000, got '10000001'"},
      {{"-T", "soon"}, "option -T: expected seconds >= 0, got 'soon'"},
      {{"-q", "0"}, "option -q: expected an integer 1-65535, got '0'"},
      {{"-m", "0"}, "option -m: expected an integer 1-1000000, got '0'"},
      {{"-c2k"}, "option -c: expected an integer 1-100000000, got '2k'"},
  };
  for (auto& c : cases) {
    Args args = c.args;
    args.insert(args.end(), {"80", "127.0.0.1"});
    EXPECT_EQ(error_of(args), c.message) << c.args[0];
  }
}

TEST(PenArgsTest, MissingOptionValue) {
  EXPECT_EQ(error_of({"80", "127.0.0.1", "-b"}), "option -b: expected a value");
  EXPECT_EQ(error_of({"80", "127.0.0.1", "-p"}), "option -p: expected a value");
  EXPECT_EQ(error_of({"80", "127.0.0.1", "--workers"}), "option --workers: expected a value");
}

TEST(PenArgsTest, UdpSetsTheProtocol) {
  EXPECT_EQ(with_options({}).protocol, Protocol::kTcp);
  EXPECT_EQ(with_options({"-U"}).protocol, Protocol::kUdp);
  ServiceConfig s = with_options({"-fU", "-r"});
  EXPECT_EQ(s.protocol, Protocol::kUdp);
  EXPECT_EQ(s.policy.mode, BalanceMode::kRoundRobin);
  EXPECT_EQ(s.udp_session_timeout_seconds, 60);
  EXPECT_EQ(s.udp_max_sessions, 0u);
}

TEST(PenArgsTest, UdpSessionOptions) {
  ServiceConfig s = with_options({"-U", "--session-timeout", "2.5", "--max-sessions=100"});
  EXPECT_EQ(s.udp_session_timeout_seconds, 2.5);
  EXPECT_EQ(s.udp_max_sessions, 100u);
  EXPECT_EQ(error_of({"--max-sessions", "10", "80", "127.0.0.1"}), "option --max-sessions: applies to UDP only; add -U");
  EXPECT_EQ(error_of({"-U", "--session-timeout", "0", "80", "127.0.0.1"}),
            "option --session-timeout: expected seconds > 0, got '0'");
  EXPECT_EQ(error_of({"-U", "--max-sessions", "x", "80", "127.0.0.1"}),
            "option --max-sessions: expected an integer 0-10000000, got 'x'");
  TempFile file(kYaml);
  EXPECT_EQ(error_of({"-U", "--config", file.path()}),
            "option -U cannot be used with --config; set protocol in " + file.path() + " instead");
  EXPECT_EQ(error_of({"--config", file.path(), "--session-timeout", "5"}),
            "option --session-timeout cannot be used with --config; set session_timeout in " + file.path() +
                " instead");
}

TEST(PenArgsTest, DeferAccept) {
  EXPECT_FALSE(with_options({}).defer_accept);
  EXPECT_TRUE(with_options({"--defer-accept"}).defer_accept);
  EXPECT_EQ(error_of({"--defer-accept=1", "80", "127.0.0.1"}), "option --defer-accept: takes no value");
  EXPECT_EQ(error_of({"-U", "--defer-accept", "80", "127.0.0.1"}),
            "option --defer-accept: applies to TCP only; not with -U");
  TempFile file(kYaml);
  EXPECT_EQ(error_of({"--config", file.path(), "--defer-accept"}),
            "option --defer-accept cannot be used with --config; set defer_accept in " + file.path() + " instead");
}

TEST(PenArgsTest, ReusePort) {
  EXPECT_FALSE(with_options({}).reuse_port);
  EXPECT_TRUE(with_options({"--reuse-port"}).reuse_port);
  EXPECT_TRUE(with_options({"-U", "--reuse-port"}).reuse_port);  // UDP services share ports the same way
  EXPECT_EQ(error_of({"--reuse-port=1", "80", "127.0.0.1"}), "option --reuse-port: takes no value");
  TempFile file(kYaml);
  EXPECT_EQ(error_of({"--config", file.path(), "--reuse-port"}),
            "option --reuse-port cannot be used with --config; set reuse_port in " + file.path() + " instead");
}

TEST(PenArgsTest, PenOptionsNibLacksAreErrors) {
  for (char letter : std::string("i")) {
    std::string option = std::string("-") + letter;
    EXPECT_THAT(error_of({option, "80", "127.0.0.1"}), StartsWith("option " + option + " ("))
        << option;
    EXPECT_THAT(error_of({option, "80", "127.0.0.1"}), HasSubstr(") is not yet supported by nib")) << option;
  }
}

TEST(PenArgsTest, TlsOptionsFillTheServicesTls) {
  const ServiceConfig s = with_options({"-E", "/c.pem", "-K", "/k.pem", "-G", "/ca.pem", "-A", "/ca.d", "-R", "-L",
                                        "tls1.3"});
  EXPECT_EQ(s.tls.cert_file, "/c.pem");
  EXPECT_EQ(s.tls.key_file, "/k.pem");
  EXPECT_EQ(s.tls.ca_file, "/ca.pem");
  EXPECT_EQ(s.tls.ca_dir, "/ca.d");
  EXPECT_EQ(s.tls.client_auth, TlsClientAuth::kRequired);
  EXPECT_EQ(s.tls.min_version, "1.3");
  // Older protocols than TLS 1.2 are raised to it, with a warning; -Z warns.
  auto old = parse({"-E", "/c.pem", "-L", "tls1", "-Z", "80", "127.0.0.1:81"});
  ASSERT_TRUE(old.ok()) << old.status().message();
  EXPECT_EQ(old->config.dataplane.services[0].tls.min_version, "1.2");
  ASSERT_EQ(old->warnings.size(), 2u);
  EXPECT_THAT(old->warnings[0], HasSubstr("TLS 1.2 and newer only"));
  EXPECT_THAT(old->warnings[1], HasSubstr("-Z"));
  EXPECT_THAT(error_of({"-E", "/c.pem", "-L", "tls9", "80", "127.0.0.1:81"}), HasSubstr("expected ssl23"));
  EXPECT_THAT(error_of({"-K", "/k.pem", "80", "127.0.0.1:81"}), HasSubstr("without a certificate"));
  EXPECT_THAT(error_of({"-E", "", "80", "127.0.0.1:81"}), HasSubstr("expected a file name"));
}

TEST(PenArgsTest, SslWords) {
  const ServiceConfig s = with_options({"-E", "/c.pem", "-o", "ssl_ciphers ECDHE+AESGCM", "-o",
                                        "ssl_option cipher_server_preference", "-o", "ssl_option no_tlsv1.2", "-o",
                                        "ssl_option no_sslv3", "-o", "ssl_sni_path /sni", "-o",
                                        "ssl_ocsp_response /ocsp.der"});
  EXPECT_EQ(s.tls.ciphers, "ECDHE+AESGCM");
  EXPECT_TRUE(s.tls.prefer_server_ciphers);
  EXPECT_EQ(s.tls.min_version, "1.3");
  EXPECT_EQ(s.tls.sni_path, "/sni");
  EXPECT_EQ(s.tls.ocsp_response_file, "/ocsp.der");
  EXPECT_THAT(error_of({"-E", "/c.pem", "-o", "ssl_option no_such", "80", "127.0.0.1:81"}),
              HasSubstr("cipher_server_preference"));
  EXPECT_THAT(error_of({"-E", "/c.pem", "-o", "ssl_ocsp_response", "80", "127.0.0.1:81"}),
              HasSubstr("expected 'ssl_ocsp_response FILE'"));
}

TEST(PenArgsTest, UnknownOptions) {
  EXPECT_EQ(error_of({"-y", "80", "127.0.0.1"}), "unknown option -y; see nib --help");
  EXPECT_EQ(error_of({"-fy", "80", "127.0.0.1"}), "unknown option -y; see nib --help");
  EXPECT_EQ(error_of({"--bogus", "80", "127.0.0.1"}), "unknown option --bogus; see nib --help");
  EXPECT_EQ(error_of({"--help=1"}), "option --help: takes no value");
}

// ---- -o / -O penctl words ----

TEST(PenArgsTest, PenctlModeWords) {
  EXPECT_EQ(with_options({"-o", "prio"}).policy.mode, BalanceMode::kPrio);
  EXPECT_EQ(with_options({"-o", "weight"}).policy.mode, BalanceMode::kWeight);
  EXPECT_EQ(with_options({"-o", "hash"}).policy.mode, BalanceMode::kHash);
  EXPECT_EQ(with_options({"-o", "roundrobin"}).policy.mode, BalanceMode::kRoundRobin);
  EXPECT_EQ(with_options({"-O", "prio"}).policy.mode, BalanceMode::kPrio);
  EXPECT_EQ(with_options({"-oprio"}).policy.mode, BalanceMode::kPrio);
  EXPECT_EQ(with_options({"-o", "prio", "-o", "hash"}).policy.mode, BalanceMode::kPrio);  // prio wins, as in Pen
  EXPECT_EQ(with_options({"-h", "-o", "prio"}).policy.mode, BalanceMode::kPrio);
}

TEST(PenArgsTest, PenctlNoWordsResetOnlyTheirOwnMode) {
  EXPECT_EQ(with_options({"-o", "hash", "-o", "no hash"}).policy.mode, BalanceMode::kAffinity);
  EXPECT_EQ(with_options({"-r", "-o", "no roundrobin"}).policy.mode, BalanceMode::kAffinity);
  EXPECT_EQ(with_options({"-W", "-o", "no weight"}).policy.mode, BalanceMode::kAffinity);
  EXPECT_EQ(with_options({"-o", "prio", "-o", "no prio"}).policy.mode, BalanceMode::kAffinity);
  EXPECT_EQ(with_options({"-o", "hash", "-o", "no prio"}).policy.mode, BalanceMode::kHash);
}

TEST(PenArgsTest, PenctlTcpNodelay) {
  EXPECT_TRUE(with_options({}).tcp_nodelay);
  EXPECT_FALSE(with_options({"-o", "no tcp_nodelay"}).tcp_nodelay);
  EXPECT_TRUE(with_options({"-o", "no tcp_nodelay", "-o", "tcp_nodelay"}).tcp_nodelay);
  EXPECT_THAT(error_of({"-o", "tcp_nodelay on", "80", "127.0.0.1"}), HasSubstr("penctl command not supported"));
}

TEST(PenArgsTest, PenctlKeepaliveAndFastClose) {
  EXPECT_FALSE(with_options({}).keepalive);
  EXPECT_TRUE(with_options({"-o", "keepalive"}).keepalive);
  EXPECT_FALSE(with_options({"-o", "keepalive", "-o", "no keepalive"}).keepalive);
  EXPECT_EQ(with_options({}).tcp_fastclose, FastClose::kOff);
  EXPECT_EQ(with_options({"-o", "tcp_fastclose up"}).tcp_fastclose, FastClose::kUp);
  EXPECT_EQ(with_options({"-o", "tcp_fastclose down"}).tcp_fastclose, FastClose::kDown);
  EXPECT_EQ(with_options({"-o", "tcp_fastclose both", "-o", "tcp_fastclose off"}).tcp_fastclose, FastClose::kOff);
  EXPECT_EQ(with_options({"-o", "tcp_fastclose both"}).tcp_fastclose, FastClose::kBoth);
  for (const char* bad : {"tcp_fastclose", "tcp_fastclose sideways", "tcp_fastclose up down", "no tcp_fastclose"}) {
    EXPECT_THAT(error_of({"-o", bad, "80", "127.0.0.1"}), HasSubstr("tcp_fastclose")) << bad;
  }
}

TEST(PenArgsTest, PenctlSource) {
  EXPECT_FALSE(with_options({}).source.has_value());
  auto v4 = with_options({"-o", "source 127.0.0.9"}).source;
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->to_string(), "127.0.0.9:0");
  auto v6 = with_options({"-o", "source ::1"}).source;
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->ip_string(), "::1");
  for (const char* bad : {"source", "source 127.0.0.300", "source host.example", "source 127.0.0.1 80", "no source"}) {
    EXPECT_THAT(error_of({"-o", bad, "80", "127.0.0.1"}), HasSubstr("source")) << bad;
  }
}

TEST(PenArgsTest, AclCommandsGoToTheControlPortsInterpreterInOrder) {
  auto r = parse({"-o", "acl 1 deny 127.0.0.5", "-O", "client_acl 1", "-o", "no acl 2", "-o", "control_acl 3", "80",
                  "127.0.0.1"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config.admin.penctl_commands,
            (std::vector<std::string>{"acl 1 deny 127.0.0.5", "client_acl 1", "no acl 2", "control_acl 3"}));
  EXPECT_TRUE(parse({"80", "127.0.0.1"})->config.admin.penctl_commands.empty());
  EXPECT_THAT(error_of({"-o", std::string("acl 1 deny 127.0.0.5\nexit"), "80", "127.0.0.1"}),
              HasSubstr("a control character"));
}

TEST(PenArgsTest, DashHAndPenctlHttp) {
  EXPECT_FALSE(with_options({}).http);
  EXPECT_TRUE(with_options({"-H"}).http);
  EXPECT_TRUE(with_options({"-o", "http"}).http);
  EXPECT_FALSE(with_options({"-H", "-o", "no http"}).http);
}

TEST(PenArgsTest, PenctlTransparent) {
  EXPECT_FALSE(with_options({}).transparent);
  EXPECT_TRUE(with_options({"-O", "transparent"}).transparent);
  EXPECT_TRUE(with_options({"-o", "transparent"}).transparent);
  EXPECT_FALSE(with_options({"-O", "transparent", "-o", "no transparent"}).transparent);
  EXPECT_TRUE(with_options({"-o", "dummy"}).dummy);
  EXPECT_FALSE(with_options({"-o", "dummy", "-o", "no dummy"}).dummy);
  EXPECT_THAT(error_of({"-o", "transparent yes", "80", "127.0.0.1"}), HasSubstr("not supported"));
}

TEST(PenArgsTest, PenctlAbortOnError) {
  EXPECT_FALSE(parse({"80", "127.0.0.1"})->config.abort_on_error);
  EXPECT_TRUE(parse({"-o", "abort_on_error", "80", "127.0.0.1"})->config.abort_on_error);
  EXPECT_FALSE(parse({"-o", "abort_on_error", "-O", "no abort_on_error", "80", "127.0.0.1"})->config.abort_on_error);
  EXPECT_THAT(error_of({"-o", "abort_on_error 1", "80", "127.0.0.1"}), HasSubstr("not supported"));
}

TEST(PenArgsTest, PenctlDsrIfAndTarpitAcl) {
  EXPECT_EQ(with_options({}).dsr_interface, "");
  EXPECT_EQ(service_of({"-O", "dsr_if eth1", "10.0.0.1:80", "10.0.0.2"}).dsr_interface, "eth1");
  EXPECT_THAT(error_of({"-O", "dsr_if eth1", "80", "10.0.0.2"}), HasSubstr("the service's own IPv4 address"));
  for (const char* bad : {"dsr_if", "dsr_if a b", "dsr_if name-longer-than-15", "no dsr_if"}) {
    EXPECT_THAT(error_of({"-o", bad, "80", "127.0.0.1"}), AnyOf(HasSubstr("dsr_if"), HasSubstr("not supported"))) << bad;
  }
  // The tarpit names an access list: the control port's interpreter applies it, in order.
  auto r = parse({"-O", "dsr_if eth1", "-O", "acl 1 permit 10.0.0.9", "-O", "tarpit_acl 1", "10.0.0.1:80", "10.0.0.2"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config.admin.penctl_commands, (std::vector<std::string>{"acl 1 permit 10.0.0.9", "tarpit_acl 1"}));
}

TEST(PenArgsTest, PenctlStubborn) {
  EXPECT_TRUE(with_options({"-o", "stubborn"}).policy.stubborn);
  EXPECT_FALSE(with_options({"-s", "-o", "no stubborn"}).policy.stubborn);
}

TEST(PenArgsTest, PenctlValueWords) {
  ServiceConfig s = with_options({"-o", "blacklist 10", "-o", "tracking 60", "-o", "timeout 2", "-o",
                                  "idle_timeout 300", "-o", "clients_max 5000", "-O", "conn_max 99", "-o",
                                  "pending_max 20", "-o", "idlers 4"});
  EXPECT_EQ(s.policy.blacklist_seconds, 10);
  EXPECT_EQ(s.policy.tracking_seconds, 60);
  EXPECT_EQ(s.policy.connect_timeout_seconds, 2);
  EXPECT_EQ(s.policy.idle_timeout_seconds, 300);
  EXPECT_EQ(s.policy.table_size, 5000u);
  EXPECT_EQ(s.policy.max_connections, 99u);
  EXPECT_EQ(s.policy.pending_max, 20u);
  EXPECT_EQ(s.policy.idlers, 4u);
  EXPECT_EQ(with_options({"-o", "  tracking   1.5 "}).policy.tracking_seconds, 1.5);
}

TEST(PenArgsTest, PenctlErrors) {
  auto err = [](const std::string& words) { return error_of({"-o", words, "80", "127.0.0.1"}); };
  EXPECT_EQ(err("tracking abc"), "option -o 'tracking abc': expected seconds >= 0, got 'abc'");
  EXPECT_EQ(err("timeout 0"), "option -o 'timeout 0': expected seconds > 0 and <= 3600, got '0'");
  EXPECT_EQ(err("clients_max 0"), "option -o 'clients_max 0': expected an integer 1-100000000, got '0'");
  EXPECT_EQ(err("tracking"), "option -o 'tracking': expected 'tracking N' with N seconds >= 0");
  EXPECT_EQ(err("conn_max 1 2"), "option -o 'conn_max 1 2': expected 'conn_max N' with N an integer 0-10000000");
  EXPECT_THAT(err("ssl_no_such /x"),
              StartsWith("option -o 'ssl_no_such /x': penctl command not supported by nib; use one of: prio,"));
  EXPECT_EQ(err("idlers 10001"), "option -o 'idlers 10001': expected an integer 0-10000, got '10001'");
  EXPECT_THAT(err("dummy now"), StartsWith("option -o 'dummy now': penctl command not supported"));
  EXPECT_THAT(err("no blacklist"), StartsWith("option -o 'no blacklist': penctl command not supported"));
  EXPECT_THAT(err("hash now"), StartsWith("option -o 'hash now': penctl command not supported"));
  EXPECT_EQ(err(""), "option -o '': expected a penctl command");
  EXPECT_EQ(err("no"), "option -o 'no': expected a penctl command");
}

// ---- long options ----

TEST(PenArgsTest, HelpAndVersion) {
  EXPECT_EQ(parse({"--help"})->action, Action::kHelp);
  EXPECT_EQ(parse({"--version"})->action, Action::kVersion);
  EXPECT_EQ(parse({"-r", "--help", "-y"})->action, Action::kHelp);  // nothing after --help matters
  EXPECT_EQ(parse({"-h", "80", "127.0.0.1"})->action, Action::kRun);  // -h is Pen's hash
  EXPECT_EQ(error_of({"-h"}), "expected [host:]port and at least one server, or --config FILE; see nib --help "
                              "(-h selects hash balancing, as in pen)");
}

TEST(PenArgsTest, Check) {
  auto result = parse({"--check", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->action, Action::kCheck);
  EXPECT_EQ(result->config.dataplane.services.size(), 1u);
}

TEST(PenArgsTest, Demo) {
  auto result = parse({"--demo"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->action, Action::kDemo);
  EXPECT_TRUE(result->config.dataplane.services.empty());
  result = parse({"--demo", "-d", "--workers", "2", "-p", "/tmp/x.pid"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.verbosity, 1);
  EXPECT_EQ(result->config.dataplane.workers, 2);
  EXPECT_EQ(result->config.pid_file, "/tmp/x.pid");
  EXPECT_THAT(error_of({"--demo", "80", "127.0.0.1"}), HasSubstr("cannot be given with --demo"));
  EXPECT_EQ(error_of({"--demo", "-r"}), "option -r cannot be used with --demo");
  EXPECT_EQ(error_of({"--demo", "--check"}), "--check and --demo cannot be used together");
}

TEST(PenArgsTest, ProcessLongOptions) {
  auto result = parse({"--workers", "4", "--shutdown-grace=2.5", "--idle-timeout", "60", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.dataplane.workers, 4);
  EXPECT_EQ(result->config.shutdown_grace_seconds, 2.5);
  EXPECT_EQ(result->config.dataplane.services[0].policy.idle_timeout_seconds, 60);
  EXPECT_EQ(error_of({"--workers=257", "80", "127.0.0.1"}), "option --workers: expected an integer 0-256, got '257'");
  EXPECT_EQ(error_of({"--shutdown-grace", "x", "80", "127.0.0.1"}),
            "option --shutdown-grace: expected seconds >= 0, got 'x'");
  EXPECT_EQ(error_of({"--idle-timeout=-1", "80", "127.0.0.1"}), "option --idle-timeout: expected seconds >= 0, got '-1'");
}

TEST(PenArgsTest, EventLoopIsEpollUnlessAsked) {
  auto result = parse({"80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.dataplane.event_loop, LoopBackend::kEpoll);
  result = parse({"--event-loop", "io_uring", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.dataplane.event_loop, LoopBackend::kIoUring);
  EXPECT_EQ(error_of({"--event-loop=uring", "80", "127.0.0.1"}),
            "option --event-loop: expected epoll or io_uring, got 'uring'");
}

// ---- admin plane listeners ----

// Pen users run one pen per service: with Pen's command line the admin plane
// starts only when asked, so several nibs run side by side.
TEST(PenArgsTest, AdminIsOffWithPensCommandLineUnlessAsked) {
  auto result = parse({"80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_FALSE(result->config.admin.enabled);
  result = parse({"--admin", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_TRUE(result->config.admin.enabled);
  EXPECT_TRUE(result->config.admin.serve_http);
  EXPECT_TRUE(result->config.admin.serve_grpc);
  EXPECT_EQ(result->config.admin.http_listen, "127.0.0.1:9901");
  EXPECT_EQ(result->config.admin.grpc_listen, "127.0.0.1:9902");
  result = parse({"--admin-http", "127.0.0.1:7001", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_TRUE(result->config.admin.enabled);
  EXPECT_TRUE(result->config.admin.serve_http);
  EXPECT_FALSE(result->config.admin.serve_grpc) << "only the listener asked for";
  result = parse({"--admin-grpc", "127.0.0.1:7002", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_FALSE(result->config.admin.serve_http);
  EXPECT_TRUE(result->config.admin.serve_grpc);
  result = parse({"--admin", "--admin-grpc", "127.0.0.1:7002", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_TRUE(result->config.admin.serve_http);
  EXPECT_EQ(result->config.admin.grpc_listen, "127.0.0.1:7002");
  EXPECT_EQ(error_of({"--admin", "--no-admin", "80", "127.0.0.1"}), "--admin and --no-admin cannot be used together");
  EXPECT_EQ(error_of({"--admin=1", "80", "127.0.0.1"}), "option --admin: takes no value");
  EXPECT_THAT(error_of({"--admin-token-file", "/t", "80", "127.0.0.1"}),
              StartsWith("option --admin-token-file: with Pen's command line the admin plane runs only when asked: "
                         "add --admin"));
}

TEST(PenArgsTest, YamlAndDemoKeepTheAdminDefaults) {
  TempFile file(kYaml);
  auto result = parse({"--config", file.path()});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_TRUE(result->config.admin.enabled);
  EXPECT_TRUE(result->config.admin.serve_http);
  EXPECT_TRUE(result->config.admin.serve_grpc);
  EXPECT_FALSE(result->config.daemonize) << "YAML mode stays in the foreground";
  result = parse({"--demo"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_TRUE(result->config.admin.enabled);
  EXPECT_FALSE(result->config.daemonize);
}

TEST(PenArgsTest, AdminOptions) {
  auto result = parse({"--admin-grpc", "127.0.0.1:0", "--admin-http=[::1]:8001", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_TRUE(result->config.admin.enabled);
  EXPECT_TRUE(result->config.admin.serve_http && result->config.admin.serve_grpc);
  EXPECT_EQ(result->config.admin.grpc_listen, "127.0.0.1:0");
  EXPECT_EQ(result->config.admin.http_listen, "[::1]:8001");
  result = parse({"--no-admin", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_FALSE(result->config.admin.enabled);
  result = parse({"--demo", "--no-admin", "--admin-grpc", "127.0.0.1:7000"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_FALSE(result->config.admin.enabled);
  EXPECT_EQ(result->config.admin.grpc_listen, "127.0.0.1:7000");
}

TEST(PenArgsTest, AdminOptionErrors) {
  EXPECT_EQ(error_of({"--admin-grpc", "localhost:9902", "80", "127.0.0.1"}),
            "option --admin-grpc: expected IP:port such as 127.0.0.1:9902 ([::1]:9902 for IPv6), got "
            "'localhost:9902'");
  EXPECT_THAT(error_of({"--admin-http=9901", "80", "127.0.0.1"}), StartsWith("option --admin-http: expected IP:port"));
  EXPECT_EQ(error_of({"--admin-grpc"}), "option --admin-grpc: expected a value");
  EXPECT_EQ(error_of({"--no-admin=1", "80", "127.0.0.1"}), "option --no-admin: takes no value");
}

TEST(PenArgsTest, AdminOptionsOverrideTheConfigFile) {
  TempFile file(std::string(kYaml) + "admin:\n  grpc_listen: 127.0.0.1:7002\n  http_listen: 127.0.0.1:7001\n");
  auto result = parse({"--config", file.path()});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.admin.grpc_listen, "127.0.0.1:7002");
  result = parse({"--config", file.path(), "--admin-grpc", "127.0.0.1:0", "--no-admin"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.admin.grpc_listen, "127.0.0.1:0");
  EXPECT_EQ(result->config.admin.http_listen, "127.0.0.1:7001");
  EXPECT_FALSE(result->config.admin.enabled);
}

TEST(PenArgsTest, AdminTokenFile) {
  auto result = parse({"--admin", "--admin-token-file", "/etc/nib/tokens", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.admin.token_file, "/etc/nib/tokens");
  EXPECT_EQ(parse({"80", "127.0.0.1"})->config.admin.token_file, "");
  EXPECT_EQ(error_of({"--admin-token-file=", "80", "127.0.0.1"}), "option --admin-token-file: expected a file name");
  EXPECT_EQ(error_of({"--admin-token-file"}), "option --admin-token-file: expected a value");
  // Overrides the config file's admin.token_file, like the other admin options.
  TempFile file(std::string(kYaml) + "admin:\n  token_file: /from/yaml\n");
  EXPECT_EQ(parse({"--config", file.path()})->config.admin.token_file, "/from/yaml");
  EXPECT_EQ(parse({"--config", file.path(), "--admin-token-file=/from/flag"})->config.admin.token_file, "/from/flag");
}

TEST(PenArgsTest, AdminTls) {
  auto result = parse({"--admin", "--admin-tls-cert", "/c.pem", "--admin-tls-key=/k.pem", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.admin.tls_cert_file, "/c.pem");
  EXPECT_EQ(result->config.admin.tls_key_file, "/k.pem");
  EXPECT_EQ(error_of({"--admin", "--admin-tls-cert", "/c.pem", "80", "127.0.0.1"}),
            "admin TLS needs both a certificate and a key: only the certificate was given (--admin-tls-cert FILE "
            "--admin-tls-key FILE, or admin.tls_cert_file and admin.tls_key_file in YAML)");
  EXPECT_EQ(error_of({"--admin-tls-key="}), "option --admin-tls-key: expected a file name");
  // One from the file, one from the command line: a pair.
  TempFile file(std::string(kYaml) + "admin:\n  tls_cert_file: /from/yaml.pem\n  tls_key_file: /from/yaml.key\n");
  result = parse({"--config", file.path(), "--admin-tls-key", "/from/flag.key"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.admin.tls_cert_file, "/from/yaml.pem");
  EXPECT_EQ(result->config.admin.tls_key_file, "/from/flag.key");
  EXPECT_FALSE(parse({"--demo", "--admin-tls-cert", "/c.pem"}).ok());
}

TEST(PenArgsTest, DashXEnablesTheExitCommand) {
  EXPECT_TRUE(parse({"-X", "-C", "8888", "80", "127.0.0.1"})->config.admin.penctl_exit);
  EXPECT_TRUE(parse({"-fX", "80", "127.0.0.1"})->config.admin.penctl_exit);
  EXPECT_FALSE(parse({"-C", "8888", "80", "127.0.0.1"})->config.admin.penctl_exit);
}

// Pen's -F: read by the App at start (PenctlServer::run_file); the parser
// keeps the path, with Pen's command line only.
TEST(PenArgsTest, DashFNamesThePenctlFile) {
  EXPECT_EQ(parse({"-F", "pen.cfg", "80", "127.0.0.1"})->config.admin.penctl_file, "pen.cfg");
  EXPECT_EQ(parse({"-fFpen.cfg", "80", "127.0.0.1"})->config.admin.penctl_file, "pen.cfg");
  EXPECT_EQ(parse({"80", "127.0.0.1"})->config.admin.penctl_file, "");
  EXPECT_EQ(error_of({"-F", "", "80", "127.0.0.1"}), "option -F: expected a file of penctl commands");
  EXPECT_EQ(error_of({"80", "127.0.0.1", "-F"}), "option -F: expected a value");
  TempFile file(kYaml);
  EXPECT_EQ(error_of({"--config", file.path(), "-F", "pen.cfg"}),
            "option -F: Pen's penctl file works with Pen's command line, not with --config");
  EXPECT_EQ(error_of({"--demo", "-F", "pen.cfg"}),
            "option -F: Pen's penctl file works with Pen's command line, not with --demo");
}

TEST(PenArgsTest, ControlPort) {
  auto result = parse({"-C", "8888", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.admin.penctl_listen, "127.0.0.1:8888");
  EXPECT_EQ(parse({"-C", "0.0.0.0:8888", "80", "127.0.0.1"})->config.admin.penctl_listen, "0.0.0.0:8888");
  EXPECT_EQ(parse({"-C", "/run/nib/ctl", "80", "127.0.0.1"})->config.admin.penctl_listen, "/run/nib/ctl");
  EXPECT_EQ(parse({"-C8888", "80", "127.0.0.1"})->config.admin.penctl_listen, "127.0.0.1:8888");
  EXPECT_EQ(parse({"80", "127.0.0.1"})->config.admin.penctl_listen, "");
  EXPECT_FALSE(parse({"-C", "nowhere", "80", "127.0.0.1"}).ok());
  EXPECT_FALSE(parse({"-C", "0", "80", "127.0.0.1"}).ok());
  TempFile file(std::string(kYaml) + "admin:\n  penctl_listen: 127.0.0.1:9999\n");
  EXPECT_EQ(parse({"--config", file.path()})->config.admin.penctl_listen, "127.0.0.1:9999");
}

TEST(PenArgsTest, StateFile) {
  auto result = parse({"--state", "/var/lib/nib/state", "80", "127.0.0.1"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.admin.state_file, "/var/lib/nib/state");
  EXPECT_EQ(parse({"80", "127.0.0.1"})->config.admin.state_file, "");
  EXPECT_EQ(error_of({"--state=", "80", "127.0.0.1"}), "option --state: expected a file name");
  TempFile file(std::string(kYaml) + "admin:\n  state_file: /from/yaml\n");
  EXPECT_EQ(parse({"--config", file.path()})->config.admin.state_file, "/from/yaml");
  EXPECT_EQ(parse({"--config", file.path(), "--state=/from/flag"})->config.admin.state_file, "/from/flag");
}

TEST(PenArgsTest, ConfigFile) {
  TempFile file(kYaml);
  for (const Args& args : {Args{"--config", file.path()}, Args{"--config=" + file.path()}}) {
    auto result = parse(args);
    ASSERT_TRUE(result.ok()) << result.status().message();
    EXPECT_EQ(result->action, Action::kRun);
    EXPECT_EQ(result->config.config_path, file.path());
    EXPECT_EQ(result->config.dataplane.workers, 3);
    EXPECT_EQ(result->config.dataplane.services.at(0).name, "web");
  }
}

TEST(PenArgsTest, ConfigFileKeepsProcessOptions) {
  TempFile file(kYaml);
  auto result = parse({"-fdd", "-p", "/tmp/nib.pid", "--config", file.path(), "-w", "/tmp/s.html", "-P", "--check"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->action, Action::kCheck);
  EXPECT_EQ(result->config.verbosity, 2);
  EXPECT_EQ(result->config.pid_file, "/tmp/nib.pid");
  EXPECT_EQ(result->config.status_file, "/tmp/s.html");
}

TEST(PenArgsTest, ConfigFileRejectsBalancingOptions) {
  TempFile file(kYaml);
  EXPECT_EQ(error_of({"-b", "10", "--config", file.path()}),
            "option -b cannot be used with --config; set policy.blacklist in " + file.path() + " instead");
  EXPECT_EQ(error_of({"--config", file.path(), "-r"}),
            "option -r cannot be used with --config; set policy.mode in " + file.path() + " instead");
  EXPECT_EQ(error_of({"--config", file.path(), "-o", "conn_max 5"}),
            "option -o 'conn_max 5' cannot be used with --config; set max_connections in " + file.path() +
                " instead");
  EXPECT_EQ(error_of({"--config", file.path(), "-e", "127.0.0.1:1"}),
            "option -e cannot be used with --config; set emergency in " + file.path() + " instead");
  EXPECT_EQ(error_of({"--config", file.path(), "-B", "127.0.0.1:1"}),
            "option -B cannot be used with --config; set abuse in " + file.path() + " instead");
  EXPECT_EQ(error_of({"--config", file.path(), "80", "127.0.0.1"}),
            "'80': a listen address and servers cannot be given with --config; list the services in " +
                file.path() + " instead");
  EXPECT_THAT(error_of({"--config", file.path(), "--workers", "2"}),
              StartsWith("--workers, --event-loop and --shutdown-grace cannot be used with --config"));
  EXPECT_THAT(error_of({"--config", file.path(), "--event-loop", "io_uring"}),
              StartsWith("--workers, --event-loop and --shutdown-grace cannot be used with --config; set workers, "
                         "event_loop and shutdown_grace in "));
  EXPECT_EQ(error_of({"--config", file.path(), "--config", file.path()}), "option --config: given twice");
  EXPECT_EQ(error_of({"--config", file.path(), "--demo"}), "--config and --demo cannot be used together");
}

TEST(PenArgsTest, ExampleFileCommentMatchesItsFirstService) {
  // docs/examples/nib.yaml gives the Pen command line equivalent to service "web".
  auto path = std::filesystem::path(__FILE__).parent_path() / "../../../docs/examples/nib.yaml";
  auto yaml = parse({"--config", path.string()});
  ASSERT_TRUE(yaml.ok()) << yaml.status().message();
  ServiceConfig from_yaml = yaml->config.dataplane.services.at(0);
  ServiceConfig from_pen = service_of({"-e", "127.0.0.1:8089", "127.0.0.1:8080", "10.0.0.1:8081:100:120:2",
                                       "10.0.0.2:8082:0:0:1", "[::1]:8083:0:0:1"});
  EXPECT_EQ(from_pen.listen, from_yaml.listen);
  EXPECT_EQ(from_pen.policy, from_yaml.policy);
  EXPECT_EQ(from_pen.backends, from_yaml.backends);
  EXPECT_EQ(from_pen.emergency, from_yaml.emergency);
  EXPECT_EQ(from_pen.policy.connect_timeout_seconds, from_yaml.policy.connect_timeout_seconds);
  EXPECT_EQ(from_pen.policy.idle_timeout_seconds, from_yaml.policy.idle_timeout_seconds);
  EXPECT_EQ(from_pen.policy.max_connections, from_yaml.policy.max_connections);
  EXPECT_EQ(from_pen.backlog, from_yaml.backlog);
}

TEST(PenArgsTest, ConfigFileErrorsPassThrough) {
  EXPECT_EQ(error_of({"--config", "/nonexistent/nib.yaml"}),
            "cannot read /nonexistent/nib.yaml: No such file or directory");
  TempFile file("services: []\n");
  EXPECT_EQ(error_of({"--config", file.path()}), file.path() + ":1:11: services: expected at least one service, got none");
}

TEST(PenArgsTest, UsageMentionsEveryOption) {
  std::string usage = PenArgs::usage();
  for (const char* option : {"-b sec", "-c N", "-e host[:port]", "-t sec", "-x N", "-T sec", "-q backlog", "-r", "-h",
                             "-W", "-s", "-o command", "-O", "-p file", "-w file", "-d", "-f", "-P", "-a", "-m N",
                             "-U", "-C", "--config FILE", "--check", "--demo", "--workers N", "--shutdown-grace SEC",
                             "--idle-timeout SEC", "--session-timeout SEC", "--max-sessions N", "--help",
                             "--version", "--admin ", "--admin-http IP:PORT", "--admin-grpc IP:PORT", "--no-admin",
                             "--admin-token-file FILE", "--state FILE"}) {
    EXPECT_THAT(usage, HasSubstr(option));
  }
  EXPECT_THAT(usage, HasSubstr("-h is NOT help"));
}

}  // namespace
}  // namespace nib

namespace nib {
namespace {

// ---- -l: the access log ----

TEST(PenArgsTest, LogToAFileOrToHostPortOverUdp) {
  auto file = parse({"-l", "/var/log/pen.log", "80", "127.0.0.1:81"});
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->config.dataplane.access_log.path, "/var/log/pen.log");
  EXPECT_EQ(file->config.dataplane.access_log.format, AccessLogFormat::kPen);
  auto relative = parse({"-l", "pen.log", "80", "127.0.0.1:81"});
  ASSERT_TRUE(relative.ok());
  EXPECT_EQ(relative->config.dataplane.access_log.path, "pen.log");
  auto udp = parse({"-l", "localhost:10000", "80", "127.0.0.1:81"});
  ASSERT_TRUE(udp.ok()) << udp.status().message();
  EXPECT_TRUE(udp->config.dataplane.access_log.path.empty());
  EXPECT_EQ(udp->config.dataplane.access_log.udp, "127.0.0.1:10000");
  EXPECT_THAT(error_of({"-l", "127.0.0.1:99999", "80", "127.0.0.1:81"}), HasSubstr("option -l"));
}

TEST(PenArgsTest, LogOverridesTheConfigFilesAccessLog) {
  TempFile yaml(std::string(kYaml) + "    backends: [127.0.0.1:81]\naccess_log: {path: from-file.log}\n");
  auto result = parse({"--config", yaml.path(), "-l", "from-command-line.log"});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->config.dataplane.access_log.path, "from-command-line.log");
  auto kept = parse({"--config", yaml.path()});
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  EXPECT_EQ(kept->config.dataplane.access_log.path, "from-file.log");
}

// ---- -u, -j: least privilege (server/privilege_drop.h) ----

TEST(PenArgsTest, SyslogAndLogFormat) {
  auto defaults = parse({"80", "127.0.0.1:81"});
  ASSERT_TRUE(defaults.ok()) << defaults.status().message();
  EXPECT_FALSE(defaults->config.syslog);
  EXPECT_EQ(defaults->config.log_format, LogFormat::kText);
  auto set = parse({"--syslog", "--log-format=json", "-f", "80", "127.0.0.1:81"});
  ASSERT_TRUE(set.ok()) << set.status().message();
  EXPECT_TRUE(set->config.syslog);
  EXPECT_EQ(set->config.log_format, LogFormat::kJson);
  EXPECT_THAT(error_of({"--log-format", "xml", "80", "127.0.0.1:81"}), HasSubstr("expected text or json, got 'xml'"));
  EXPECT_THAT(error_of({"--syslog=yes", "80", "127.0.0.1:81"}), HasSubstr("takes no value"));
}

TEST(PenArgsTest, RelayMode) {
  auto defaults = parse({"80", "127.0.0.1:81"});
  ASSERT_TRUE(defaults.ok()) << defaults.status().message();
  EXPECT_EQ(defaults->config.dataplane.relay, RelayMode::kSplice);
  auto kernel = parse({"--relay", "sockmap", "-f", "80", "127.0.0.1:81"});
  ASSERT_TRUE(kernel.ok()) << kernel.status().message();
  EXPECT_EQ(kernel->config.dataplane.relay, RelayMode::kSockmap);
  auto splice = parse({"--relay=splice", "80", "127.0.0.1:81"});
  ASSERT_TRUE(splice.ok()) << splice.status().message();
  EXPECT_EQ(splice->config.dataplane.relay, RelayMode::kSplice);
  EXPECT_THAT(error_of({"--relay", "ebpf", "80", "127.0.0.1:81"}),
              HasSubstr("option --relay: expected splice or sockmap, got 'ebpf'"));
}

TEST(PenArgsTest, UserAndChrootFromPenOptionsAndLongOptions) {
  auto pen = parse({"-u", "nobody", "-j", "/srv/nib", "80", "127.0.0.1:81"});
  ASSERT_TRUE(pen.ok()) << pen.status().message();
  EXPECT_EQ(pen->config.user, "nobody");
  EXPECT_EQ(pen->config.jail, "/srv/nib");
  auto bundled = parse({"-fu", "nobody", "-j/srv/nib", "80", "127.0.0.1:81"});
  ASSERT_TRUE(bundled.ok()) << bundled.status().message();
  EXPECT_EQ(bundled->config.user, "nobody");
  EXPECT_EQ(bundled->config.jail, "/srv/nib");
  auto long_form = parse({"--user=nobody", "--chroot", "/srv/nib", "80", "127.0.0.1:81"});
  ASSERT_TRUE(long_form.ok()) << long_form.status().message();
  EXPECT_EQ(long_form->config.user, "nobody");
  EXPECT_EQ(long_form->config.jail, "/srv/nib");
  auto none = parse({"80", "127.0.0.1:81"});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->config.user.empty());
  EXPECT_TRUE(none->config.jail.empty());
  EXPECT_EQ(error_of({"-u"}), "option -u: expected a value");
  EXPECT_EQ(error_of({"--user="}), "option -u: expected a user name");
  EXPECT_EQ(error_of({"--chroot="}), "option -j: expected a directory");
}

TEST(PenArgsTest, UserAndChrootOverrideTheConfigFiles) {
  TempFile yaml(std::string(kYaml) + "    backends: [127.0.0.1:81]\nuser: daemon\nchroot: /from/file\n");
  auto kept = parse({"--config", yaml.path()});
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  EXPECT_EQ(kept->config.user, "daemon");
  EXPECT_EQ(kept->config.jail, "/from/file");
  auto overridden = parse({"--config", yaml.path(), "-u", "nobody", "-j", "/from/flag"});
  ASSERT_TRUE(overridden.ok()) << overridden.status().message();
  EXPECT_EQ(overridden->config.user, "nobody");
  EXPECT_EQ(overridden->config.jail, "/from/flag");
}

// The state file is written after the chroot: only a path relative to the
// jail names the same file before and after it.
TEST(PenArgsTest, ChrootNeedsARelativeStatePath) {
  EXPECT_EQ(error_of({"-j", "/srv/nib", "--state", "/srv/nib/nib.state", "80", "127.0.0.1:81"}),
            "state file /srv/nib/nib.state with -j /srv/nib: give the state file relative to the jail (it is "
            "written after the chroot), e.g. --state state/nib.state for /srv/nib/state/nib.state");
  EXPECT_TRUE(parse({"-j", "/srv/nib", "--state", "nib.state", "80", "127.0.0.1:81"}).ok());
  EXPECT_TRUE(parse({"--state", "/var/lib/nib.state", "80", "127.0.0.1:81"}).ok());
}

TEST(PenArgsTest, AllowRootControl) {
  EXPECT_FALSE(parse({"-C", "8888", "80", "127.0.0.1"})->config.admin.allow_root_control);
  EXPECT_TRUE(parse({"--allow-root-control", "-C", "8888", "80", "127.0.0.1"})->config.admin.allow_root_control);
  EXPECT_EQ(error_of({"--allow-root-control=yes"}), "option --allow-root-control: takes no value");
}

}  // namespace
}  // namespace nib
