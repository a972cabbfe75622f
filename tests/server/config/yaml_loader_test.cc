#include "server/config/yaml_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/support/temp_file.h"

namespace nib {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

Result<AppConfig> load(std::string_view yaml) { return YamlLoader::load_string(yaml, "nib.yaml"); }

// The error text of a load that must fail.
std::string error_of(std::string_view yaml) {
  auto result = load(yaml);
  EXPECT_FALSE(result.ok()) << "loaded unexpectedly:\n" << yaml;
  return result.ok() ? "" : result.status().message();
}

SocketAddress addr(const char* text) { return *SocketAddress::parse(text); }

using test::TempFile;

constexpr std::string_view kMinimal = R"(services:
  - name: web
    listen: 8080
)";

// ---- what loads ----

TEST(YamlLoaderTest, MinimalServiceTakesDefaults) {
  auto config = load(kMinimal);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.workers, 0);
  EXPECT_EQ(config->shutdown_grace_seconds, 30);
  ASSERT_EQ(config->dataplane.services.size(), 1u);
  const ServiceConfig& s = config->dataplane.services[0];
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.listen, addr("0.0.0.0:8080"));
  EXPECT_EQ(s.protocol, Protocol::kTcp);
  EXPECT_EQ(s.policy, PolicyConfig{});
  EXPECT_TRUE(s.backends.empty());
  EXPECT_FALSE(s.emergency.has_value());
  EXPECT_EQ(s.policy.connect_timeout_seconds, 5);
  EXPECT_EQ(s.policy.idle_timeout_seconds, 0);
  EXPECT_EQ(s.policy.max_connections, 0u);
  EXPECT_EQ(s.backlog, 4096);
  EXPECT_FALSE(s.defer_accept);
  EXPECT_TRUE(s.tcp_nodelay);
  EXPECT_EQ(config->config_path, "");
}

// Pen's idlers are idle TCP connections: a UDP service refuses them.
TEST(YamlLoaderTest, IdlersAreForTcpServices) {
  auto config = load(std::string(kMinimal) + "    idlers: 2\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.services[0].policy.idlers, 2u);
  EXPECT_EQ(error_of(std::string(kMinimal) + "    protocol: udp\n    idlers: 2\n"),
            "nib.yaml:5:13: services[0].idlers: applies to tcp services only; a udp service has "
            "session_timeout and max_sessions");
}

TEST(YamlLoaderTest, TcpNodelay) {
  auto config = load(std::string(kMinimal) + "    tcp_nodelay: false\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_FALSE(config->dataplane.services[0].tcp_nodelay);
  EXPECT_EQ(error_of(std::string(kMinimal) + "    tcp_nodelay: off please\n"),
            "nib.yaml:4:18: services[0].tcp_nodelay: expected true or false, got 'off please'");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    protocol: udp\n    tcp_nodelay: true\n"),
            "nib.yaml:5:18: services[0].tcp_nodelay: applies to tcp services only; a udp service has "
            "session_timeout and max_sessions");
}

TEST(YamlLoaderTest, KeepaliveAndFastClose) {
  auto config = load(std::string(kMinimal) + "    keepalive: true\n    tcp_fastclose: both\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_TRUE(config->dataplane.services[0].keepalive);
  EXPECT_EQ(config->dataplane.services[0].tcp_fastclose, FastClose::kBoth);
  auto defaults = load(kMinimal);
  ASSERT_TRUE(defaults.ok());
  EXPECT_FALSE(defaults->dataplane.services[0].keepalive);
  EXPECT_EQ(defaults->dataplane.services[0].tcp_fastclose, FastClose::kOff);
  EXPECT_EQ(error_of(std::string(kMinimal) + "    tcp_fastclose: sideways\n"),
            "nib.yaml:4:20: services[0].tcp_fastclose: expected one of: off, up, down, both; got 'sideways'");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    protocol: udp\n    keepalive: true\n"),
            "nib.yaml:5:16: services[0].keepalive: applies to tcp services only; a udp service has "
            "session_timeout and max_sessions");
}

TEST(YamlLoaderTest, HttpAndForwardedAreForTcp) {
  auto config = load(std::string(kMinimal) + "    http: true\n    http_forwarded: true\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_TRUE(config->dataplane.services[0].http);
  EXPECT_TRUE(config->dataplane.services[0].http_forwarded);
  EXPECT_FALSE(load(kMinimal)->dataplane.services[0].http);
  EXPECT_NE(error_of(std::string(kMinimal) + "    protocol: udp\n    http: true\n").find("applies to tcp services only"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimal) + "    http_forwarded: true\n").find("http_forwarded needs http: true"),
            std::string::npos);
}

TEST(YamlLoaderTest, TransparentIsABooleanForTcpAndUdp) {
  EXPECT_FALSE(load(kMinimal)->dataplane.services[0].transparent);
  auto config = load(std::string(kMinimal) + "    transparent: true\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_TRUE(config->dataplane.services[0].transparent);
  auto udp = load(std::string(kMinimal) + "    protocol: udp\n    transparent: true\n");
  ASSERT_TRUE(udp.ok()) << udp.status().message();
  EXPECT_TRUE(udp->dataplane.services[0].transparent);
  EXPECT_NE(error_of(std::string(kMinimal) + "    transparent: maybe\n").find("nib.yaml:4:18: services[0].transparent"),
            std::string::npos);
}

TEST(YamlLoaderTest, DsrInterfaceAndTarpitForDirectServerReturn) {
  const std::string dsr = "services:\n  - name: web\n    listen: 10.0.0.1:80\n    backends: [10.0.0.2:80]\n";
  auto config = load(dsr + "    dsr_interface: eth1\n    tarpit: [permit 10.0.0.0/24, deny 10.0.0.1]\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.services[0].dsr_interface, "eth1");
  EXPECT_EQ(config->dataplane.services[0].tarpit.entries().size(), 2u);
  EXPECT_NE(error_of(dsr + "    dsr_interface: \"\"\n").find("services[0].dsr_interface: expected an interface name"),
            std::string::npos);
  EXPECT_NE(error_of(dsr + "    tarpit: [permit 10.0.0.9]\n").find("tarpit_acl works with direct server return"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimal) + "    dsr_interface: eth1\n")
                .find("direct server return needs the service's own IPv4 address"),
            std::string::npos);
}

TEST(YamlLoaderTest, SourceIsAnAddressWithoutAPort) {
  auto config = load(std::string(kMinimal) + "    source: 127.0.0.9\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  ASSERT_TRUE(config->dataplane.services[0].source.has_value());
  EXPECT_EQ(config->dataplane.services[0].source->ip_string(), "127.0.0.9");
  EXPECT_FALSE(load(kMinimal)->dataplane.services[0].source.has_value());
  EXPECT_EQ(error_of(std::string(kMinimal) + "    source: 127.0.0.9:80\n"),
            "nib.yaml:4:13: services[0].source: expected an IPv4 or IPv6 address (no port), got '127.0.0.9:80'");
}

TEST(YamlLoaderTest, EveryKeyIsRead) {
  auto config = load(R"(workers: 4
shutdown_grace: 2.5
services:
  - name: web-1.a_b
    listen: 127.0.0.1:8080
    protocol: tcp
    policy:
      mode: weight
      stubborn: true
      tracking: 60
      blacklist: 0.5
      table_size: 100000
    backends:
      - address: 127.0.0.2
        port: 8081
        soft_limit: 10
        hard_limit: 20
        weight: 3
        prio: 7
    emergency: 127.0.0.1:8089
    connect_timeout: 1.5
    idle_timeout: 300
    max_connections: 1000
    pending_max: 64
    idlers: 3
    dummy: true
    backlog: 128
    defer_accept: true
    reuse_port: true
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.workers, 4);
  EXPECT_EQ(config->shutdown_grace_seconds, 2.5);
  const ServiceConfig& s = config->dataplane.services.at(0);
  EXPECT_EQ(s.name, "web-1.a_b");
  EXPECT_EQ(s.listen, addr("127.0.0.1:8080"));
  EXPECT_EQ(s.policy.mode, BalanceMode::kWeight);
  EXPECT_TRUE(s.policy.stubborn);
  EXPECT_EQ(s.policy.tracking_seconds, 60);
  EXPECT_EQ(s.policy.blacklist_seconds, 0.5);
  EXPECT_EQ(s.policy.table_size, 100000u);
  ASSERT_EQ(s.backends.size(), 1u);
  const BackendConfig& b = s.backends[0];
  EXPECT_EQ(b.host, "127.0.0.2");
  EXPECT_EQ(b.address, addr("127.0.0.2:8081"));
  EXPECT_EQ(b.soft_limit, 10u);
  EXPECT_EQ(b.hard_limit, 20u);
  EXPECT_EQ(b.weight, 3u);
  EXPECT_EQ(b.prio, 7u);
  ASSERT_TRUE(s.emergency.has_value());
  EXPECT_EQ(s.emergency->address, addr("127.0.0.1:8089"));
  EXPECT_EQ(s.policy.connect_timeout_seconds, 1.5);
  EXPECT_EQ(s.policy.idle_timeout_seconds, 300);
  EXPECT_EQ(s.policy.max_connections, 1000u);
  EXPECT_EQ(s.policy.pending_max, 64u);
  EXPECT_EQ(s.policy.idlers, 3u);
  EXPECT_TRUE(s.dummy);
  EXPECT_EQ(s.backlog, 128);
  EXPECT_TRUE(s.defer_accept);
  EXPECT_TRUE(s.reuse_port);
}

TEST(YamlLoaderTest, ListenStringForms) {
  struct Case {
    const char* listen;
    const char* expected;
  } cases[] = {
      {"8080", "0.0.0.0:8080"},
      {"\"8080\"", "0.0.0.0:8080"},
      {":8080", "0.0.0.0:8080"},
      {"127.0.0.1:8080", "127.0.0.1:8080"},
      {"\"[::1]:8080\"", "[::1]:8080"},
      {"\"[::]:8080\"", "[::]:8080"},
  };
  for (const auto& c : cases) {
    std::string yaml = std::string("services:\n  - name: web\n    listen: ") + c.listen + "\n";
    auto config = load(yaml);
    ASSERT_TRUE(config.ok()) << c.listen << ": " << config.status().message();
    EXPECT_EQ(config->dataplane.services[0].listen, addr(c.expected)) << c.listen;
  }
}

// Pen's /path/to/socket: a listen value starting with / is a Unix socket
// path (tcp only; errors name the listen line).
TEST(YamlLoaderTest, ListenUnixSocketPath) {
  const std::string head = "services:\n  - name: web\n    listen: /run/nib/web.sock\n";
  auto config = load(head + "    backends: [127.0.0.1:80]\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.services[0].listen_path, "/run/nib/web.sock");
  EXPECT_THAT(error_of(head + "    protocol: udp\n"),
              StartsWith("nib.yaml:3:13: services[0].listen: a Unix socket listen path (/run/nib/web.sock) cannot be "
                         "used with UDP (-U)"));
  EXPECT_THAT(error_of(head + "    transparent: true\n"),
              StartsWith("nib.yaml:3:13: services[0].listen: a Unix socket listen path (/run/nib/web.sock) cannot be "
                         "used with transparent"));
  EXPECT_THAT(error_of(head + "    defer_accept: true\n"), HasSubstr("cannot be used with defer_accept"));
  EXPECT_THAT(error_of("services:\n  - name: web\n    listen: /" + std::string(120, 'x') + "\n"),
              StartsWith("nib.yaml:3:13: services[0].listen: a Unix socket listen path must be 1-107 bytes"));
  EXPECT_THAT(error_of(head + "  - name: api\n    listen: /run/nib/web.sock\n"),
              HasSubstr("nib.yaml:5:13: services[1].listen: listen address /run/nib/web.sock is already used by "
                        "service 'web' (line 3)"));
}

TEST(YamlLoaderTest, ListenMappingForm) {
  auto config = load(R"(services:
  - name: a
    listen: {address: 127.0.0.1, port: 81}
  - name: b
    listen:
      port: 82
  - name: c
    listen: {address: "::1", port: 83}
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.services[0].listen, addr("127.0.0.1:81"));
  EXPECT_EQ(config->dataplane.services[1].listen, addr("0.0.0.0:82"));
  EXPECT_EQ(config->dataplane.services[2].listen, addr("[::1]:83"));
}

TEST(YamlLoaderTest, LocalhostResolves) {
  auto config = load("services:\n  - name: web\n    listen: localhost:8080\n    backends: [localhost:81]\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.services[0].listen.port(), 8080);
  EXPECT_EQ(config->dataplane.services[0].backends[0].host, "localhost");
  EXPECT_EQ(config->dataplane.services[0].backends[0].address.port(), 81);
}

TEST(YamlLoaderTest, BackendShorthandAndIpv6) {
  auto config = load(R"(services:
  - name: web
    listen: 8080
    backends:
      - 127.0.0.1:81
      - "[::1]:82"
      - {address: "::1", port: 83}
      - {address: "[::1]", port: 84}
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const auto& backends = config->dataplane.services[0].backends;
  ASSERT_EQ(backends.size(), 4u);
  EXPECT_EQ(backends[0].address, addr("127.0.0.1:81"));
  EXPECT_EQ(backends[0].weight, 1u);
  EXPECT_EQ(backends[1].address, addr("[::1]:82"));
  EXPECT_EQ(backends[1].host, "::1");
  EXPECT_EQ(backends[2].address, addr("[::1]:83"));
  EXPECT_EQ(backends[3].address, addr("[::1]:84"));
}

TEST(YamlLoaderTest, EmergencyMappingForm) {
  auto config = load(R"(services:
  - name: web
    listen: 8080
    emergency: {address: 127.0.0.1, port: 8089}
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.services[0].emergency->address, addr("127.0.0.1:8089"));
}

TEST(YamlLoaderTest, EmptyCollectionsMeanDefaults) {
  auto config = load("services:\n  - name: web\n    listen: 8080\n    policy:\n    backends:\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.services[0].policy, PolicyConfig{});
  EXPECT_TRUE(config->dataplane.services[0].backends.empty());
}

TEST(YamlLoaderTest, YamlBooleanSpellingsAreAccepted) {
  for (const char* word : {"yes", "on", "true", "True"}) {
    std::string yaml = std::string(kMinimal) + "    policy: {stubborn: " + word + "}\n";
    auto config = load(yaml);
    ASSERT_TRUE(config.ok()) << word << ": " << config.status().message();
    EXPECT_TRUE(config->dataplane.services[0].policy.stubborn) << word;
  }
}

TEST(YamlLoaderTest, EveryModeName) {
  for (const char* mode : {"affinity", "roundrobin", "hash", "weight", "prio", "maglev"}) {
    std::string yaml = std::string(kMinimal) + "    policy: {mode: " + mode + "}\n";
    auto config = load(yaml);
    ASSERT_TRUE(config.ok()) << mode;
    EXPECT_STREQ(to_string(config->dataplane.services[0].policy.mode), mode);
  }
}

TEST(YamlLoaderTest, MaglevModeAndConsistent) {
  auto maglev = load(std::string(kMinimal) + "    policy: {mode: maglev}\n");
  ASSERT_TRUE(maglev.ok()) << maglev.status().message();
  EXPECT_EQ(maglev->dataplane.services[0].policy.mode, BalanceMode::kMaglev);
  EXPECT_FALSE(maglev->dataplane.services[0].policy.consistent);
  auto consistent = load(std::string(kMinimal) + "    policy: {mode: affinity, consistent: true}\n");
  ASSERT_TRUE(consistent.ok()) << consistent.status().message();
  EXPECT_EQ(consistent->dataplane.services[0].policy.mode, BalanceMode::kAffinity);
  EXPECT_TRUE(consistent->dataplane.services[0].policy.consistent);
  EXPECT_EQ(initial_choice(consistent->dataplane.services[0].policy), BalanceMode::kMaglev);
  EXPECT_FALSE(load(std::string(kMinimal) + "    policy: {consistent: 3}\n").ok());
}

TEST(YamlLoaderTest, EventLoopIsEpollOrIoUring) {
  auto config = load(kMinimal);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.event_loop, LoopBackend::kEpoll);
  config = load("event_loop: io_uring\n" + std::string(kMinimal));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.event_loop, LoopBackend::kIoUring);
  EXPECT_EQ(error_of("event_loop: kqueue\n" + std::string(kMinimal)),
            "nib.yaml:1:13: event_loop: expected one of: epoll, io_uring; got 'kqueue'");
}

TEST(YamlLoaderTest, RangeBoundsAreInclusive) {
  auto config = load(R"(workers: 256
services:
  - name: web
    listen: 65535
    policy: {table_size: 100000000, tracking: 0, blacklist: 0}
    backends:
      - {address: 127.0.0.1, port: 1, soft_limit: 1000000, hard_limit: 1000000, weight: 10000, prio: 1000000}
      - {address: 127.0.0.1, port: 2, weight: 0}
    connect_timeout: 3600
    max_connections: 10000000
    backlog: 65535
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
}

TEST(YamlLoaderTest, TwoServicesOnDifferentPorts) {
  auto config = load(R"(services:
  - name: a
    listen: 8080
  - name: b
    listen: 8081
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.services.size(), 2u);
}

TEST(YamlLoaderTest, ExampleFileLoads) {
  auto path = std::filesystem::path(__FILE__).parent_path() / "../../../docs/examples/nib.yaml";
  auto config = YamlLoader::load_file(path.string());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->config_path, path.string());
  ASSERT_EQ(config->dataplane.services.size(), 3u);
  EXPECT_EQ(config->dataplane.services[0].name, "web");
  EXPECT_EQ(config->dataplane.services[0].backends.size(), 3u);
  ASSERT_TRUE(config->dataplane.services[0].health_check);
  EXPECT_EQ(config->dataplane.services[0].health_check->type, HealthCheckType::kHttp);
  EXPECT_EQ(config->dataplane.services[1].policy.mode, BalanceMode::kHash);
  EXPECT_EQ(config->dataplane.services[2].protocol, Protocol::kUdp);
  ASSERT_TRUE(config->dataplane.services[2].health_check);
  EXPECT_EQ(config->dataplane.services[2].health_check->type, HealthCheckType::kUdp);
}

TEST(YamlLoaderTest, LoadFileSetsConfigPath) {
  TempFile file(kMinimal);
  auto config = YamlLoader::load_file(file.path());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->config_path, file.path());
}

// ---- errors: FILE:LINE:COL: PATH: MESSAGE ----

TEST(YamlLoaderTest, PortNotANumber) {
  EXPECT_EQ(error_of(R"(services:
  - name: web
    listen: 8080
    backends:
      - address: 127.0.0.1
        weight: 1
        port: http
)"),
            "nib.yaml:7:15: services[0].backends[0].port: expected an integer 1-65535, got 'http'");
}

// The stored-text gate, with the line: a YAML escape can put any byte in a host.
TEST(YamlLoaderTest, HostsWithControlBytesOrSpacesAreRefused) {
  EXPECT_EQ(error_of(R"(services:
  - name: web
    listen: 8080
    backends:
      - address: "127.0.0.1\0 evil\nservice x"
        port: 81
)"),
            "nib.yaml:5:18: services[0].backends[0].address: host: expected a host name or IP address, got "
            "'127.0.0.1\\x00 evil\\x0aservice x' (control byte 0x00 at offset 9)");
  EXPECT_THAT(error_of(R"(services:
  - name: web
    listen: 8080
    backends: ["local host:81"]
)"),
              HasSubstr("nib.yaml:4:16: services[0].backends[0]: host: expected a host name or IP address, got "
                        "'local host' (a space at offset 5)"));
}

TEST(YamlLoaderTest, UnknownKeyListsTheValidOnes) {
  EXPECT_EQ(error_of(R"(services:
  - name: web
    listen: 8080
    prot: tcp
)"),
            "nib.yaml:4:5: services[0]: unknown key 'prot', expected one of: name, listen, protocol, policy, "
            "backends, backends_from, emergency, connect_timeout, idle_timeout, max_connections, pending_max, idlers, backlog, defer_accept, "
            "reuse_port, "
            "session_timeout, max_sessions, health_check, slow_start, drain_timeout, acl, tcp_nodelay, "
            "tcp_fastclose, keepalive, abuse, source, transparent, dsr_interface, tarpit, http, http_forwarded, proxy_protocol, "
            "accept_proxy_protocol, dummy, tls, backend_tls");
}

TEST(YamlLoaderTest, UserAndChroot) {
  auto config = load(std::string(kMinimal) + "user: nobody\nchroot: /srv/nib\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->user, "nobody");
  EXPECT_EQ(config->jail, "/srv/nib");
  auto none = load(kMinimal);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->user.empty());
  EXPECT_TRUE(none->jail.empty());
  EXPECT_THAT(error_of(std::string(kMinimal) + "user: [a, b]\n"), HasSubstr("user: expected a user name, got"));
  EXPECT_THAT(error_of(std::string(kMinimal) + "chroot: \"\"\n"),
              HasSubstr("chroot: expected a directory, got an empty value"));
}

TEST(YamlLoaderTest, RelayMode) {
  auto defaults = load(kMinimal);
  ASSERT_TRUE(defaults.ok()) << defaults.status().message();
  EXPECT_EQ(defaults->dataplane.relay, RelayMode::kSplice);
  auto kernel = load(std::string("relay: sockmap\n") + std::string(kMinimal));
  ASSERT_TRUE(kernel.ok()) << kernel.status().message();
  EXPECT_EQ(kernel->dataplane.relay, RelayMode::kSockmap);
  EXPECT_EQ(error_of(std::string("relay: ebpf\n") + std::string(kMinimal)),
            "nib.yaml:1:8: relay: expected one of: splice, sockmap; got 'ebpf'");
}

TEST(YamlLoaderTest, UnknownTopLevelKey) {
  EXPECT_THAT(error_of(std::string("worker: 2\n") + std::string(kMinimal)),
              StartsWith("nib.yaml:1:1: unknown key 'worker', expected one of: workers, event_loop, shutdown_grace, services"));
}

TEST(YamlLoaderTest, UnknownPolicyAndBackendKeys) {
  std::string err = error_of(R"(services:
  - name: web
    listen: 8080
    policy: {mode: hash, sticky: true}
    backends:
      - {address: 127.0.0.1, port: 81, maxc: 3}
)");
  EXPECT_THAT(err, HasSubstr("nib.yaml:4:26: services[0].policy: unknown key 'sticky', expected one of: mode, "
                             "stubborn, consistent, tracking, blacklist, table_size"));
  EXPECT_THAT(err, HasSubstr("nib.yaml:6:40: services[0].backends[0]: unknown key 'maxc', expected one of: "
                             "address, port, soft_limit, hard_limit, weight, prio"));
}

TEST(YamlLoaderTest, DuplicateKey) {
  EXPECT_EQ(error_of("services:\n  - name: web\n    listen: 8080\n    listen: 8081\n"),
            "nib.yaml:4:5: services[0]: duplicate key 'listen' (first at line 3)");
}

TEST(YamlLoaderTest, SequenceWhereMappingExpected) {
  EXPECT_THAT(error_of(std::string(kMinimal) + "    policy: [hash]\n"),
              StartsWith("nib.yaml:4:13: services[0].policy: expected a mapping with keys mode, stubborn, "
                         "consistent, tracking, blacklist, table_size; got a sequence"));
}

TEST(YamlLoaderTest, MappingWhereSequenceExpected) {
  EXPECT_EQ(error_of("services:\n  name: web\n"),
            "nib.yaml:2:3: services: expected a sequence of services, got a mapping");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    backends: 127.0.0.1:81\n"),
            "nib.yaml:4:15: services[0].backends: expected a sequence of backends, got '127.0.0.1:81'");
}

TEST(YamlLoaderTest, StringWhereNumberExpected) {
  EXPECT_EQ(error_of("workers: many\n" + std::string(kMinimal)),
            "nib.yaml:1:10: workers: expected an integer 0-256, got 'many'");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    connect_timeout: soon\n"),
            "nib.yaml:4:22: services[0].connect_timeout: expected seconds > 0 and <= 3600, got 'soon'");
}

TEST(YamlLoaderTest, SequenceWhereNumberExpected) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "    backlog: [1]\n"),
            "nib.yaml:4:14: services[0].backlog: expected an integer 1-65535, got a sequence");
}

TEST(YamlLoaderTest, EmptyValuePointsAtItsKey) {
  // yaml-cpp marks an empty value at the next token; the message must not.
  EXPECT_EQ(error_of(std::string(kMinimal) + "    backlog:\n\n\n    idle_timeout: 1\n"),
            "nib.yaml:4:5: services[0].backlog: expected an integer 1-65535, got an empty value");
}

TEST(YamlLoaderTest, NotABoolean) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "    policy:\n      stubborn: maybe\n"),
            "nib.yaml:5:17: services[0].policy.stubborn: expected true or false, got 'maybe'");
}

TEST(YamlLoaderTest, OutOfRangeValues) {
  struct Case {
    const char* line;
    const char* message;
  } cases[] = {
      {"    backlog: 0", "nib.yaml:4:14: services[0].backlog: expected an integer 1-65535, got '0'"},
      {"    backlog: 65536", "services[0].backlog: expected an integer 1-65535, got '65536'"},
      {"    max_connections: 10000001", "expected an integer 0-10000000, got '10000001'"},
      {"    max_connections: -1", "expected an integer 0-10000000, got '-1'"},
      {"    pending_max: 10000001", "expected an integer 0-10000000, got '10000001'"},
      {"    idlers: 10001", "services[0].idlers: expected an integer 0-10000, got '10001'"},
      {"    connect_timeout: 0", "services[0].connect_timeout: expected seconds > 0 and <= 3600, got '0'"},
      {"    connect_timeout: 3600.5", "expected seconds > 0 and <= 3600, got '3600.5'"},
      {"    idle_timeout: -1", "services[0].idle_timeout: expected seconds >= 0, got '-1'"},
      {"    idle_timeout: .inf", "expected seconds >= 0, got '.inf'"},
      {"    idle_timeout: 1e12", "expected seconds >= 0, got '1e12' (at most 1000000000)"},
      {"    policy: {table_size: 0}", "services[0].policy.table_size: expected an integer 1-100000000, got '0'"},
      {"    policy: {tracking: -5}", "services[0].policy.tracking: expected seconds >= 0, got '-5'"},
      {"    policy: {blacklist: x}", "services[0].policy.blacklist: expected seconds >= 0, got 'x'"},
      {"    backends: [{address: 127.0.0.1, port: 0}]", "port: expected an integer 1-65535, got '0'"},
      {"    backends: [{address: 127.0.0.1, port: 1, weight: 10001}]",
       "services[0].backends[0].weight: expected an integer 0-10000, got '10001'"},
      {"    backends: [{address: 127.0.0.1, port: 1, prio: 1000001}]", "expected an integer 0-1000000, got '1000001'"},
      {"    backends: [{address: 127.0.0.1, port: 1, soft_limit: 1000001}]",
       "services[0].backends[0].soft_limit: expected an integer 0-1000000"},
      {"    backends: [{address: 127.0.0.1, port: 1, hard_limit: 2.5}]",
       "services[0].backends[0].hard_limit: expected an integer 0-1000000, got '2.5'"},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(error_of(std::string(kMinimal) + c.line + "\n"), HasSubstr(c.message)) << c.line;
  }
  EXPECT_EQ(error_of("workers: 257\n" + std::string(kMinimal)),
            "nib.yaml:1:10: workers: expected an integer 0-256, got '257'");
  EXPECT_EQ(error_of("shutdown_grace: -1\n" + std::string(kMinimal)),
            "nib.yaml:1:17: shutdown_grace: expected seconds >= 0, got '-1'");
}

TEST(YamlLoaderTest, MissingRequiredKeysPointAtTheMapping) {
  EXPECT_EQ(error_of("services:\n  - name: web\n    protocol: tcp\n"),
            "nib.yaml:2:5: services[0]: missing required key 'listen'");
  EXPECT_EQ(error_of("services:\n  - listen: 80\n"), "nib.yaml:2:5: services[0]: missing required key 'name'");
  EXPECT_EQ(error_of("workers: 2\n"), "nib.yaml:1:1: missing required key 'services'");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    backends:\n      - {address: 127.0.0.1}\n"),
            "nib.yaml:5:9: services[0].backends[0]: missing required key 'port'");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    emergency: {port: 80}\n"),
            "nib.yaml:4:16: services[0].emergency: missing required key 'address'");
}

TEST(YamlLoaderTest, NoServices) {
  EXPECT_EQ(error_of("services: []\n"), "nib.yaml:1:11: services: expected at least one service, got none");
  EXPECT_EQ(error_of("services:\n"), "nib.yaml:1:1: services: expected at least one service, got none");
}

TEST(YamlLoaderTest, DuplicateServiceNames) {
  EXPECT_EQ(error_of(R"(services:
  - name: web
    listen: 8080
  - name: web
    listen: 8081
)"),
            "nib.yaml:4:11: services[1].name: duplicate service name 'web' (first used at line 2)");
}

TEST(YamlLoaderTest, DuplicateBackend) {
  EXPECT_EQ(error_of(R"(services:
  - name: web
    listen: 8080
    backends:
      - 127.0.0.1:81
      - {address: 127.0.0.1, port: 81}
)"),
            "nib.yaml:6:9: services[0].backends[1]: backend 127.0.0.1:81 is listed twice (first at line 5)");
}

TEST(YamlLoaderTest, SameBackendInTwoServicesIsFine) {
  auto config = load(R"(services:
  - name: a
    listen: 8080
    backends: [127.0.0.1:81]
  - name: b
    listen: 8081
    backends: [127.0.0.1:81]
)");
  EXPECT_TRUE(config.ok()) << config.status().message();
}

TEST(YamlLoaderTest, TwoServicesOnTheSameListenAddress) {
  EXPECT_EQ(error_of(R"(services:
  - name: a
    listen: 8080
  - name: b
    listen: {address: 0.0.0.0, port: 8080}
)"),
            "nib.yaml:5:13: services[1].listen: listen address 0.0.0.0:8080 is already used by service 'a' "
            "(line 3)");
}

TEST(YamlLoaderTest, BadModeListsTheValidOnes) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "    policy:\n      mode: rr\n"),
            "nib.yaml:5:13: services[0].policy.mode: expected one of: affinity, roundrobin, hash, weight, prio, maglev; "
            "got 'rr'");
}

TEST(YamlLoaderTest, UdpServices) {
  auto plain = load(std::string(kMinimal) + "    protocol: udp\n");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  const ServiceConfig& s = plain->dataplane.services[0];
  EXPECT_EQ(s.protocol, Protocol::kUdp);
  EXPECT_EQ(s.udp_session_timeout_seconds, 60);
  EXPECT_EQ(s.udp_max_sessions, 0u);
  auto tuned = load(std::string(kMinimal) + "    protocol: udp\n    session_timeout: 2.5\n    max_sessions: 1000\n");
  ASSERT_TRUE(tuned.ok()) << tuned.status().message();
  EXPECT_EQ(tuned->dataplane.services[0].udp_session_timeout_seconds, 2.5);
  EXPECT_EQ(tuned->dataplane.services[0].udp_max_sessions, 1000u);
  EXPECT_EQ(error_of(std::string(kMinimal) + "    protocol: sctp\n"),
            "nib.yaml:4:15: services[0].protocol: expected tcp or udp, got 'sctp'");
}

TEST(YamlLoaderTest, UdpSettingsAreRangeChecked) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "    protocol: udp\n    session_timeout: 0\n"),
            "nib.yaml:5:22: services[0].session_timeout: expected seconds > 0, got '0'");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    protocol: udp\n    max_sessions: -1\n"),
            "nib.yaml:5:19: services[0].max_sessions: expected an integer 0-10000000, got '-1'");
}

TEST(YamlLoaderTest, ProtocolSpecificKeysAreErrorsForTheOtherProtocol) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "    session_timeout: 5\n"),
            "nib.yaml:4:22: services[0].session_timeout: applies to udp services only (protocol: udp)");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    protocol: udp\n    idle_timeout: 5\n"),
            "nib.yaml:5:19: services[0].idle_timeout: applies to tcp services only; a udp service has "
            "session_timeout and max_sessions");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    protocol: udp\n    defer_accept: true\n"),
            "nib.yaml:5:19: services[0].defer_accept: applies to tcp services only; a udp service has "
            "session_timeout and max_sessions");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    defer_accept: 1s\n"),
            "nib.yaml:4:19: services[0].defer_accept: expected true or false, got '1s'");
  // An unparsable protocol is reported once, not echoed by every such key.
  EXPECT_EQ(error_of(std::string(kMinimal) + "    protocol: sctp\n    max_sessions: 5\n"),
            "nib.yaml:4:15: services[0].protocol: expected tcp or udp, got 'sctp'");
}

TEST(YamlLoaderTest, TcpFastOpenIsABackendSettingOffByDefault) {
  auto config = load(std::string(kMinimal) + "    backends:\n      - {address: 10.0.0.1, port: 80, tcp_fast_open: true}\n"
                                             "      - {address: 10.0.0.2, port: 80, tcp_fast_open: false}\n"
                                             "      - 10.0.0.3:80\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const auto& b = config->dataplane.services[0].backends;
  ASSERT_EQ(b.size(), 3u);
  EXPECT_TRUE(b[0].tcp_fast_open);
  EXPECT_FALSE(b[1].tcp_fast_open);
  EXPECT_FALSE(b[2].tcp_fast_open);
  EXPECT_EQ(error_of(std::string(kMinimal) + "    backends:\n      - {address: 10.0.0.1, port: 80, tcp_fast_open: 3}\n"),
            "nib.yaml:5:54: services[0].backends[0].tcp_fast_open: expected true or false, got '3'");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    protocol: udp\n    backends:\n"
                                             "      - {address: 10.0.0.1, port: 53, tcp_fast_open: true}\n"),
            "nib.yaml:6:54: services[0].backends[0].tcp_fast_open: tcp_fast_open is for TCP services only");
}

TEST(YamlLoaderTest, ABackendMayHaveItsOwnProxyProtocol) {
  const std::string backends = "    backends:\n      - {address: 10.0.0.1, port: 80, proxy_protocol: v2}\n"
                               "      - {address: 10.0.0.2, port: 80, proxy_protocol: off}\n      - 10.0.0.3:80\n";
  auto config = load(std::string(kMinimal) + "    proxy_protocol: v1\n" + backends);
  ASSERT_TRUE(config.ok()) << config.status().message();
  const auto& b = config->dataplane.services[0].backends;
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].proxy_protocol, ProxyProtocol::kV2);
  EXPECT_EQ(b[1].proxy_protocol, ProxyProtocol::kOff);
  EXPECT_EQ(b[2].proxy_protocol, std::nullopt) << "the service's";
  EXPECT_EQ(error_of(std::string(kMinimal) + "    backends:\n      - {address: 10.0.0.1, port: 80, proxy_protocol: v3}\n"),
            "nib.yaml:5:55: services[0].backends[0].proxy_protocol: expected one of: v1, v2, off; got 'v3'");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    protocol: udp\n    backends:\n"
                                             "      - {address: 10.0.0.1, port: 80, proxy_protocol: v1}\n"),
            "nib.yaml:6:55: services[0].backends[0].proxy_protocol: v1 has no UDP form; a udp service sends v2 (or off)");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    protocol: udp\n    proxy_protocol: v1\n"),
            "nib.yaml:5:21: services[0].proxy_protocol: v1 has no UDP form; a udp service sends v2 (or off)");
  auto udp = load(std::string(kMinimal) + "    protocol: udp\n    proxy_protocol: v2\n    backends:\n"
                                         "      - {address: 10.0.0.1, port: 53, proxy_protocol: off}\n");
  ASSERT_TRUE(udp.ok()) << udp.status().message();
  EXPECT_EQ(udp->dataplane.services[0].proxy_protocol, ProxyProtocol::kV2);
  EXPECT_EQ(udp->dataplane.services[0].backends[0].proxy_protocol, ProxyProtocol::kOff);
}

TEST(YamlLoaderTest, TcpAndUdpServicesMayShareAPort) {
  auto config = load(R"(services:
  - name: dns-tcp
    listen: 127.0.0.1:5353
  - name: dns-udp
    protocol: udp
    listen: 127.0.0.1:5353
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.services[1].protocol, Protocol::kUdp);
}

TEST(YamlLoaderTest, BadServiceNames) {
  for (const char* name : {"'my web'", "web/1", "''", "x0123456789012345678901234567890123456789012345678901234567890123"}) {
    std::string yaml = std::string("services:\n  - name: ") + name + "\n    listen: 80\n";
    EXPECT_THAT(error_of(yaml), StartsWith("nib.yaml:2:11: services[0].name: expected a name of 1-64 letters, "
                                           "digits, '_', '.' or '-', got "))
        << name;
  }
}

TEST(YamlLoaderTest, BadListenAddresses) {
  struct Case {
    const char* listen;
    const char* message;
  } cases[] = {
      {"web", "expected [host:]port with a port 1-65535, got 'web'"},
      {"127.0.0.1:70000", "expected [host:]port with a port 1-65535, got '127.0.0.1:70000'"},
      {"::1:8080", "expected [host:]port (IPv6 as [::1]:8080), got '::1:8080'"},
      {"[1, 2]", "expected '[host:]port' or a mapping with address and port, got a sequence"},
  };
  for (const auto& c : cases) {
    std::string yaml = std::string("services:\n  - name: web\n    listen: ") + c.listen + "\n";
    EXPECT_THAT(error_of(yaml), StartsWith(std::string("nib.yaml:3:13: services[0].listen: ") + c.message))
        << c.listen;
  }
}

TEST(YamlLoaderTest, EmergencyNeedsAHost) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "    emergency: 8089\n"),
            "nib.yaml:4:16: services[0].emergency: expected host:port (IPv6 as [::1]:8080), got '8089'");
}

// Pen's -B: the abuse server, for clients the acl denies; host:port or a
// mapping, as the emergency server.
TEST(YamlLoaderTest, AbuseServer) {
  auto config = load(std::string(kMinimal) + "    abuse: 127.0.0.1:8090\n    acl: [deny 127.0.0.2]\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const ServiceConfig& s = config->dataplane.services[0];
  ASSERT_TRUE(s.abuse.has_value());
  EXPECT_EQ(s.abuse->address, addr("127.0.0.1:8090"));
  EXPECT_FALSE(s.emergency.has_value());
  auto mapped = load(std::string(kMinimal) + "    abuse: {address: localhost, port: 8090}\n");
  ASSERT_TRUE(mapped.ok()) << mapped.status().message();
  EXPECT_EQ(mapped->dataplane.services[0].abuse->address.port(), 8090);
  EXPECT_EQ(mapped->dataplane.services[0].abuse->host, "localhost");
  auto udp = load("services:\n  - name: dns\n    protocol: udp\n    listen: 5353\n    abuse: 127.0.0.1:53\n");
  ASSERT_TRUE(udp.ok()) << udp.status().message();
  EXPECT_TRUE(udp->dataplane.services[0].abuse.has_value());
  EXPECT_FALSE(load(kMinimal)->dataplane.services[0].abuse.has_value());
}

TEST(YamlLoaderTest, AbuseServerErrorsNameTheLine) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "    abuse: 8090\n"),
            "nib.yaml:4:12: services[0].abuse: expected host:port (IPv6 as [::1]:8080), got '8090'");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    abuse: {port: 80}\n"),
            "nib.yaml:4:12: services[0].abuse: missing required key 'address'");
  EXPECT_THAT(error_of(std::string(kMinimal) + "    abuse: [1, 2]\n"), StartsWith("nib.yaml:4:12: services[0].abuse: "));
}

TEST(YamlLoaderTest, BackendShorthandNeedsAPort) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "    backends: [127.0.0.1]\n"),
            "nib.yaml:4:16: services[0].backends[0]: expected host:port (IPv6 as [::1]:8080), got '127.0.0.1'");
  EXPECT_EQ(error_of(std::string(kMinimal) + "    backends: [127.0.0.1:x]\n"),
            "nib.yaml:4:16: services[0].backends[0]: expected host:port with a port 1-65535, got '127.0.0.1:x'");
}

TEST(YamlLoaderTest, UnresolvableHostIsAnErrorAtItsLine) {
  std::string err = error_of(std::string(kMinimal) + "    backends:\n      - address: nosuch.invalid\n        port: 80\n");
  EXPECT_THAT(err, StartsWith("nib.yaml:5:18: services[0].backends[0].address: cannot resolve host 'nosuch.invalid'"));
}

TEST(YamlLoaderTest, SyntaxErrorHasAPosition) {
  EXPECT_THAT(error_of("services:\n  - name: web\n     listen: 8080\n"),
              StartsWith("nib.yaml:3:12: invalid YAML: "));
  EXPECT_THAT(error_of("services: [\n"), StartsWith("nib.yaml:"));
}

// Found by fuzz/yaml_loader_fuzzer: yaml-cpp 0.7 loops forever, allocating,
// on a ',' that starts a block document; the loader stops it and names the
// place. (Before the fix this test never ended.)
TEST(YamlLoaderTest, StrayCommaIsAnErrorNotAHang) {
  EXPECT_THAT(error_of(",\n"), StartsWith("nib.yaml:1:1: invalid YAML: the parser does not advance here"));
  EXPECT_THAT(error_of("# the example config, cut\n, name and\nservices: []\n"),
              StartsWith("nib.yaml:2:1: invalid YAML: the parser does not advance here"));
  // Deep but legitimate nesting stays within the parser's event budget.
  std::string deep = "x: " + std::string(200, '[') + std::string(200, ']') + "\n";
  EXPECT_THAT(error_of(deep), Not(HasSubstr("does not advance")));
}

TEST(YamlLoaderTest, EmptyDocument) {
  EXPECT_EQ(error_of(""), "nib.yaml:1:1: the file is empty; expected a mapping with a 'services' list");
  EXPECT_EQ(error_of("# nothing yet\n\n"),
            "nib.yaml:1:1: the file is empty; expected a mapping with a 'services' list");
}

TEST(YamlLoaderTest, RootMustBeAMapping) {
  EXPECT_EQ(error_of("- web\n"),
            "nib.yaml:1:1: expected a mapping with keys workers, event_loop, shutdown_grace, services, admin, access_log, user, "
            "chroot, registry, relay; got a sequence");
}

TEST(YamlLoaderTest, MoreThanOneDocument) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "---\nworkers: 1\n"),
            "nib.yaml:5:1: expected one YAML document, found 2");
}

TEST(YamlLoaderTest, AllErrorsAreReportedOneALine) {
  std::string err = error_of(R"(workers: -1
services:
  - name: web
    listen: 8080
    backlog: 0
)");
  EXPECT_EQ(err,
            "nib.yaml:1:10: workers: expected an integer 0-256, got '-1'\n"
            "nib.yaml:5:14: services[0].backlog: expected an integer 1-65535, got '0'");
}

TEST(YamlLoaderTest, ErrorFloodIsCapped) {
  std::string yaml = "services:\n  - name: web\n    listen: 8080\n";
  for (int i = 0; i < 30; ++i) yaml += "    bad" + std::to_string(i) + ": 1\n";
  std::string err = error_of(yaml);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 20);
  EXPECT_THAT(err, HasSubstr("(10 more errors not shown)"));
}

TEST(YamlLoaderTest, MissingFile) {
  auto config = YamlLoader::load_file("/nonexistent/nib.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(), "cannot read /nonexistent/nib.yaml: No such file or directory");
}

TEST(YamlLoaderTest, DirectoryIsUnreadable) {
  auto config = YamlLoader::load_file("/tmp");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(), "cannot read /tmp: Is a directory");
}

// ---- the admin section ----

TEST(YamlLoaderTest, AdminDefaultsWhenAbsent) {
  auto config = load(kMinimal);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_TRUE(config->admin.enabled);
  EXPECT_EQ(config->admin.http_listen, "127.0.0.1:9901");
  EXPECT_EQ(config->admin.grpc_listen, "127.0.0.1:9902");
}

TEST(YamlLoaderTest, AdminKeysAreRead) {
  auto config = load(std::string(kMinimal) + "admin:\n  enabled: no\n  http_listen: 0.0.0.0:8001\n"
                                             "  grpc_listen: \"[::1]:8002\"\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_FALSE(config->admin.enabled);
  EXPECT_EQ(config->admin.http_listen, "0.0.0.0:8001");
  EXPECT_EQ(config->admin.grpc_listen, "[::1]:8002");
  config = load(std::string(kMinimal) + "admin:\n");  // all commented out: defaults
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_TRUE(config->admin.enabled);
  config = load(std::string(kMinimal) + "admin:\n  penctl_listen: /run/nib/ctl\n");  // a Unix socket, as Pen's -C
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->admin.penctl_listen, "/run/nib/ctl");
  EXPECT_THAT(error_of(std::string(kMinimal) + "admin:\n  penctl_listen: ctl\n"),
              HasSubstr("admin.penctl_listen: expected IP:PORT with a port 1-65535 or a /path/to/socket, got 'ctl'"));
}

TEST(YamlLoaderTest, AdminErrors) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "admin:\n  grpc_listen: localhost:9902\n"),
            "nib.yaml:5:16: admin.grpc_listen: expected IP:port such as 127.0.0.1:9902 (\"[::1]:9902\" for IPv6), "
            "got 'localhost:9902'");
  EXPECT_THAT(error_of(std::string(kMinimal) + "admin:\n  grpc: 127.0.0.1:1\n"),
              StartsWith("nib.yaml:5:3: admin: unknown key 'grpc', expected one of: enabled, http_listen, grpc_listen"));
  EXPECT_EQ(error_of(std::string(kMinimal) + "admin:\n  enabled: perhaps\n"),
            "nib.yaml:5:12: admin.enabled: expected true or false, got 'perhaps'");
  EXPECT_THAT(error_of(std::string(kMinimal) + "admin:\n  http_listen: [127.0.0.1]\n"),
              HasSubstr("admin.http_listen: expected IP:port such as 127.0.0.1:9902"));
  EXPECT_THAT(error_of(std::string(kMinimal) + "admin: 9902\n"),
              StartsWith("nib.yaml:4:8: admin: expected a mapping with keys enabled, http_listen, grpc_listen"));
}

TEST(YamlLoaderTest, AdminTokenFile) {
  EXPECT_EQ(load(kMinimal)->admin.token_file, "");  // no auth unless asked for
  auto config = load(std::string(kMinimal) + "admin:\n  token_file: /etc/nib/tokens\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->admin.token_file, "/etc/nib/tokens");
  EXPECT_EQ(error_of(std::string(kMinimal) + "admin:\n  token_file: \"\"\n"),
            "nib.yaml:5:15: admin.token_file: expected a file name, got an empty value");
  EXPECT_EQ(error_of(std::string(kMinimal) + "admin:\n  token_file: [a, b]\n"),
            "nib.yaml:5:15: admin.token_file: expected a file name, got a sequence");
}

TEST(YamlLoaderTest, AdminTlsFiles) {
  auto config = load(std::string(kMinimal) + "admin:\n  tls_cert_file: /etc/nib/tls.crt\n  tls_key_file: /etc/nib/tls.key\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->admin.tls_cert_file, "/etc/nib/tls.crt");
  EXPECT_EQ(config->admin.tls_key_file, "/etc/nib/tls.key");
  EXPECT_EQ(load(kMinimal)->admin.tls_cert_file, "");  // plaintext unless asked for
  EXPECT_EQ(error_of(std::string(kMinimal) + "admin:\n  tls_cert_file: /etc/nib/tls.crt\n"),
            "nib.yaml:5:3: admin: expected both tls_cert_file and tls_key_file for admin TLS, got only tls_cert_file");
  EXPECT_EQ(error_of(std::string(kMinimal) + "admin:\n  tls_key_file: \"\"\n"),
            "nib.yaml:5:17: admin.tls_key_file: expected a file name, got an empty value");
}

TEST(YamlLoaderTest, FileErrorsNameTheFile) {
  TempFile file("services:\n  - name: web\n    listen: 99999\n");
  auto config = YamlLoader::load_file(file.path());
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), StartsWith(file.path() + ":3:13: services[0].listen: "));
}

TEST(YamlLoaderTest, EmptyFile) {
  TempFile file("");
  auto config = YamlLoader::load_file(file.path());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            file.path() + ":1:1: the file is empty; expected a mapping with a 'services' list");
}

}  // namespace
}  // namespace nib

// ---- health checks ----

namespace nib {
namespace {

TEST(YamlLoaderHealthTest, ServiceCheckAndBackendOverride) {
  auto config = load(R"(services:
  - name: web
    listen: 8080
    health_check:
      type: http
      interval: 2
      timeout: 0.5
      rise: 3
      fall: 4
      jitter: 0.1
      method: HEAD
      path: /healthz
      host: app.example
      expect_status: 200-204
      expect_body: ok
      source: 127.0.0.9
    backends:
      - 127.0.0.1:81
      - {address: 127.0.0.1, port: 82, health_check: {path: /other, fall: 1}}
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const ServiceConfig& s = config->dataplane.services[0];
  ASSERT_TRUE(s.health_check);
  const HealthCheckConfig& c = *s.health_check;
  EXPECT_EQ(c.type, HealthCheckType::kHttp);
  EXPECT_EQ(c.interval_seconds, 2);
  EXPECT_EQ(c.timeout_seconds, 0.5);
  EXPECT_EQ(c.rise, 3u);
  EXPECT_EQ(c.fall, 4u);
  EXPECT_EQ(c.jitter, 0.1);
  EXPECT_EQ(c.method, "HEAD");
  EXPECT_EQ(c.path, "/healthz");
  EXPECT_EQ(c.host_header, "app.example");
  EXPECT_EQ(c.status_min, 200);
  EXPECT_EQ(c.status_max, 204);
  EXPECT_EQ(c.body_contains, "ok");
  ASSERT_TRUE(c.source);
  EXPECT_EQ(c.source->ip_string(), "127.0.0.9");
  EXPECT_FALSE(s.backends[0].health_check);  // inherits at run time
  ASSERT_TRUE(s.backends[1].health_check);
  // The override starts from the service's check.
  EXPECT_EQ(s.backends[1].health_check->path, "/other");
  EXPECT_EQ(s.backends[1].health_check->fall, 1u);
  EXPECT_EQ(s.backends[1].health_check->rise, 3u);
  EXPECT_EQ(s.backends[1].health_check->type, HealthCheckType::kHttp);
}

TEST(YamlLoaderHealthTest, DefaultsAreTcp) {
  auto config = load("services:\n  - name: web\n    listen: 8080\n    health_check: {}\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  ASSERT_TRUE(config->dataplane.services[0].health_check);
  EXPECT_EQ(config->dataplane.services[0].health_check->type, HealthCheckType::kTcp);
  EXPECT_FALSE(load(kMinimal)->dataplane.services[0].health_check);
}

TEST(YamlLoaderHealthTest, BadChecksAreRejectedWithALine) {
  EXPECT_EQ(error_of("services:\n  - name: web\n    listen: 8080\n    health_check: {interval: -1}\n"),
            "nib.yaml:4:30: services[0].health_check.interval: expected seconds > 0 and <= 86400, got '-1'");
  EXPECT_EQ(error_of("services:\n  - name: web\n    listen: 8080\n    health_check: {interval: 1, timeout: 1}\n"),
            "nib.yaml:4:42: services[0].health_check.timeout: timeout (1.000000 s) must be less than interval "
            "(1.000000 s)");
  EXPECT_EQ(error_of("services:\n  - name: web\n    listen: 8080\n    health_check: {type: http, expect_body: ''}\n"),
            "nib.yaml:4:45: services[0].health_check.expect_body: expected a non-empty substring of the body, "
            "got an empty value");
  std::string err = error_of(R"(services:
  - name: web
    listen: 8080
    health_check:
      type: smtp
      rise: 0
      jitter: 2
      expect_status: 600
      bogus: 1
)");
  EXPECT_THAT(err, HasSubstr("nib.yaml:5:13: services[0].health_check.type: expected one of: tcp, http, send-expect, udp; got 'smtp'"));
  EXPECT_THAT(err, HasSubstr("nib.yaml:6:13: services[0].health_check.rise: expected an integer 1-1000"));
  EXPECT_THAT(err, HasSubstr("nib.yaml:7:15: services[0].health_check.jitter: expected a fraction 0-0.5"));
  EXPECT_THAT(err, HasSubstr("nib.yaml:8:22: services[0].health_check.expect_status: expected a status code"));
  EXPECT_THAT(err, HasSubstr("nib.yaml:9:7: services[0].health_check: unknown key 'bogus'"));
}

TEST(YamlLoaderHealthTest, HttpKeysNeedAnHttpCheck) {
  EXPECT_EQ(error_of("services:\n  - name: web\n    listen: 8080\n    health_check: {path: /x}\n"),
            "nib.yaml:4:26: services[0].health_check.path: applies to type: http checks only");
}

TEST(YamlLoaderHealthTest, UdpServicesTakeUdpChecks) {
  auto config = load(R"(services:
  - name: dns
    protocol: udp
    listen: 5353
    health_check: {send: "ping", expect: "^pong", expect_regex: true, interval: 1, timeout: 0.5}
    backends:
      - 127.0.0.1:53
      - {address: 127.0.0.2, port: 53, health_check: {expect: other}}
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const ServiceConfig& s = config->dataplane.services[0];
  ASSERT_TRUE(s.health_check);
  EXPECT_EQ(s.health_check->type, HealthCheckType::kUdp);  // the default for a udp service
  EXPECT_EQ(s.health_check->send, "ping");
  EXPECT_EQ(s.health_check->expect, "^pong");
  EXPECT_TRUE(s.health_check->expect_regex);
  ASSERT_TRUE(s.backends[1].health_check);
  EXPECT_EQ(s.backends[1].health_check->type, HealthCheckType::kUdp);
  EXPECT_EQ(s.backends[1].health_check->expect, "other");
  // No payload and no expected bytes: an empty datagram, and any reply passes.
  auto bare = load("services:\n  - name: dns\n    protocol: udp\n    listen: 53\n    health_check: {type: udp}\n");
  ASSERT_TRUE(bare.ok()) << bare.status().message();
  EXPECT_TRUE(bare->dataplane.services[0].health_check->expect.empty());
}

TEST(YamlLoaderHealthTest, CheckTypesMustFitTheProtocol) {
  EXPECT_EQ(error_of("services:\n  - name: dns\n    protocol: udp\n    listen: 53\n    health_check: {type: tcp}\n"),
            "nib.yaml:5:26: services[0].health_check.type: a tcp check connects over TCP; a udp service takes "
            "type: udp checks");
  EXPECT_EQ(error_of("services:\n  - name: dns\n    protocol: udp\n    listen: 53\n    backends:\n"
                     "      - {address: 127.0.0.1, port: 53, health_check: {type: http}}\n"),
            "nib.yaml:6:61: services[0].backends[0].health_check.type: an http check connects over TCP; a udp "
            "service takes type: udp checks");
  EXPECT_EQ(error_of("services:\n  - name: web\n    listen: 80\n    health_check: {type: udp}\n"),
            "nib.yaml:4:26: services[0].health_check.type: type: udp checks apply to udp services only "
            "(protocol: udp)");
}

TEST(YamlLoaderHealthTest, SendExpectCheck) {
  auto config = load(R"(services:
  - name: redis
    listen: 6380
    health_check: {type: send-expect, send: "PING\r\n", expect: "^\\+PONG", expect_regex: true}
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const HealthCheckConfig& c = *config->dataplane.services[0].health_check;
  EXPECT_EQ(c.type, HealthCheckType::kSendExpect);
  EXPECT_EQ(c.send, "PING\r\n");
  EXPECT_EQ(c.expect, "^\\+PONG");
  EXPECT_TRUE(c.expect_regex);
  EXPECT_EQ(error_of("services:\n  - name: web\n    listen: 8080\n    health_check: {type: send-expect, expect: ''}\n"),
            "nib.yaml:4:47: services[0].health_check.expect: expected the bytes (or regex) the reply must contain, "
            "got an empty value");
  EXPECT_EQ(error_of("services:\n  - name: web\n    listen: 8080\n    health_check: {type: send-expect}\n"),
            "nib.yaml:4:26: services[0].health_check.type: a send-expect check needs a non-empty 'expect'");
  EXPECT_THAT(error_of("services:\n  - name: web\n    listen: 8080\n    health_check: {type: send-expect, "
                       "expect: '(', expect_regex: true}\n"),
              HasSubstr("nib.yaml:4:19: services[0].health_check: expect is not a valid regex"));
  EXPECT_EQ(error_of("services:\n  - name: web\n    listen: 8080\n    health_check: {expect: x}\n"),
            "nib.yaml:4:28: services[0].health_check.expect: applies to type: send-expect and udp checks only");
}

TEST(YamlLoaderHealthTest, SlowStartAndDrainTimeout) {
  auto config = load("services:\n  - name: web\n    listen: 8080\n    slow_start: 30\n    drain_timeout: 2.5\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.services[0].slow_start_seconds, 30);
  EXPECT_EQ(config->dataplane.services[0].drain_timeout_seconds, 2.5);
  EXPECT_EQ(load(kMinimal)->dataplane.services[0].slow_start_seconds, 0);
  EXPECT_EQ(load(kMinimal)->dataplane.services[0].drain_timeout_seconds, 0);
  EXPECT_EQ(error_of("services:\n  - name: web\n    listen: 8080\n    slow_start: 3601\n"),
            "nib.yaml:4:17: services[0].slow_start: expected seconds >= 0 and <= 3600, got '3601'");
  EXPECT_EQ(error_of("services:\n  - name: web\n    listen: 8080\n    drain_timeout: -1\n"),
            "nib.yaml:4:20: services[0].drain_timeout: expected seconds >= 0, got '-1'");
}

TEST(YamlLoaderHealthTest, BackendOverrideErrorsNameTheBackend) {
  std::string err = error_of(R"(services:
  - name: web
    listen: 8080
    health_check: {interval: 1, timeout: 0.5}
    backends:
      - {address: 127.0.0.1, port: 81, health_check: {timeout: 3}}
)");
  EXPECT_THAT(err, HasSubstr("nib.yaml:6:64: services[0].backends[0].health_check.timeout: timeout (3.000000 s) "
                             "must be less than interval (1.000000 s)"));
}

}  // namespace
}  // namespace nib

// ---- acl ----

namespace nib {
namespace {

TEST(YamlLoaderAclTest, EntriesLoadInOrder) {
  auto config = load(std::string(kMinimal) + "    acl: [\"deny 10.0.0.7\", \"permit 10.0.0.0/8\", \"permit ::1\"]\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const AccessList& acl = config->dataplane.services[0].client_acl;
  ASSERT_EQ(acl.entries().size(), 3u);
  EXPECT_EQ(acl.entries()[0].to_string(), "deny 10.0.0.7/32");
  EXPECT_EQ(acl.entries()[1].to_string(), "permit 10.0.0.0/8");
  EXPECT_EQ(acl.entries()[2].to_string(), "permit ::1/128");
  EXPECT_FALSE(acl.permits(*SocketAddress::parse("10.0.0.7:1")));
  EXPECT_TRUE(acl.permits(*SocketAddress::parse("10.9.0.7:1")));
  EXPECT_FALSE(acl.permits(*SocketAddress::parse("192.168.0.1:1")));
  auto none = load(kMinimal);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->dataplane.services[0].client_acl.empty());
}

TEST(YamlLoaderAclTest, CountryEntriesAsInPen) {
  auto config = load(std::string(kMinimal) + "    acl: [\"permit 10.0.0.0/8\", \"deny country se\"]\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const AccessList& acl = config->dataplane.services[0].client_acl;
  ASSERT_EQ(acl.entries().size(), 2u);
  EXPECT_EQ(acl.entries()[1].to_string(), "deny country SE");
  EXPECT_THAT(error_of(std::string(kMinimal) + "    acl: [\"deny country SWE\"]\n"),
              HasSubstr("got 'deny country SWE' (expected a two-letter country code such as SE"));
}

TEST(YamlLoaderAclTest, BadEntriesNameTheirLine) {
  EXPECT_THAT(error_of(std::string(kMinimal) + "    acl: \"permit 10.0.0.0/8\"\n"),
              HasSubstr("nib.yaml:4:10: services[0].acl: expected a sequence of 'permit CIDR', 'deny CIDR'"));
  std::string err = error_of(std::string(kMinimal) + "    acl:\n      - permit 10.0.0.0/8\n      - allow 10.0.0.0/8\n" +
                             "      - deny 10.0.0.1/8\n      - {permit: 10.0.0.0/8}\n");
  EXPECT_THAT(err, HasSubstr("nib.yaml:6:9: services[0].acl[1]: expected 'permit CIDR', 'deny CIDR' or "
                             "'permit|deny country CC'"));
  EXPECT_THAT(err, HasSubstr("got 'allow 10.0.0.0/8'"));
  EXPECT_THAT(err, HasSubstr("nib.yaml:7:9: services[0].acl[2]: expected 'permit CIDR', 'deny CIDR' or "
                             "'permit|deny country CC' such as "
                             "'deny 10.0.0.0/8', got 'deny 10.0.0.1/8' ('10.0.0.1/8' has host bits set"));
  EXPECT_THAT(err, HasSubstr("nib.yaml:8:9: services[0].acl[3]: expected 'permit CIDR', 'deny CIDR' or "
                             "'permit|deny country CC'"));
  EXPECT_THAT(err, HasSubstr("got a mapping"));
}

}  // namespace
}  // namespace nib

namespace nib {
namespace {

// ---- access_log ----

TEST(YamlLoaderTest, AccessLogKeys) {
  auto config = load(std::string("access_log:\n  path: /var/log/nib/access.log\n  format: template\n"
                                 "  template: \"{client} {backend} {reason}\"\n  ring_size: 64\n") +
                     std::string(kMinimal));
  ASSERT_TRUE(config.ok()) << config.status().message();
  const AccessLogConfig& log = config->dataplane.access_log;
  EXPECT_EQ(log.path, "/var/log/nib/access.log");
  EXPECT_EQ(log.format, AccessLogFormat::kTemplate);
  EXPECT_EQ(log.template_text, "{client} {backend} {reason}");
  EXPECT_EQ(log.ring_size, 64u);
  auto udp = load(std::string("access_log: {udp: 127.0.0.1:10000, format: json}\n") + std::string(kMinimal));
  ASSERT_TRUE(udp.ok()) << udp.status().message();
  EXPECT_EQ(udp->dataplane.access_log.udp, "127.0.0.1:10000");
  EXPECT_EQ(udp->dataplane.access_log.format, AccessLogFormat::kJson);
  EXPECT_FALSE(load(kMinimal)->dataplane.access_log.enabled());
}

TEST(YamlLoaderTest, AccessLogErrorsNameTheLine) {
  EXPECT_THAT(error_of(std::string("access_log: {path: a, udp: 127.0.0.1:1}\n") + std::string(kMinimal)),
              HasSubstr("nib.yaml:1:13: access_log: expected path or udp, got both"));
  EXPECT_THAT(error_of(std::string("access_log: {format: json}\n") + std::string(kMinimal)),
              HasSubstr("access_log: expected path (a file) or udp (IP:PORT)"));
  EXPECT_THAT(error_of(std::string("access_log: {udp: loghost:10000}\n") + std::string(kMinimal)),
              HasSubstr("expected IP:PORT with a port 1-65535, got 'loghost:10000'"));
  EXPECT_THAT(error_of(std::string("access_log: {path: a, format: clf}\n") + std::string(kMinimal)),
              HasSubstr("expected one of: pen, json, template; got 'clf'"));
  EXPECT_THAT(error_of(std::string("access_log: {path: a, format: template, template: \"{nope}\"}\n") +
                       std::string(kMinimal)),
              HasSubstr("nib.yaml:1:51: access_log.template: unknown placeholder {nope}"));
  EXPECT_THAT(error_of(std::string("access_log: {path: a, template: \"{client}\"}\n") + std::string(kMinimal)),
              HasSubstr("a template needs format: template"));
  EXPECT_THAT(error_of(std::string("access_log: {path: a, ring_size: 0}\n") + std::string(kMinimal)),
              HasSubstr("ring_size"));
}

}  // namespace
}  // namespace nib

namespace nib {
namespace {

TEST(YamlLoaderTlsTest, TheTlsMappingFillsTheServicesTls) {
  auto config = load(R"(services:
  - name: web
    listen: 8443
    tls: {cert: /c.pem, key: /k.pem, ca: /ca.pem, ca_dir: /cas, sni_path: /sni, min_version: "1.3",
          ciphers: ECDHE+AESGCM, client_auth: optional, prefer_server_ciphers: true, handshake_timeout: 3,
          watch_interval: 30, alpn: [h2, http/1.1], ocsp_response: /ocsp.der}
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const TlsConfig& t = config->dataplane.services[0].tls;
  EXPECT_EQ(t.cert_file, "/c.pem");
  EXPECT_EQ(t.key_file, "/k.pem");
  EXPECT_EQ(t.ca_file, "/ca.pem");
  EXPECT_EQ(t.ca_dir, "/cas");
  EXPECT_EQ(t.sni_path, "/sni");
  EXPECT_EQ(t.min_version, "1.3");
  EXPECT_EQ(t.ciphers, "ECDHE+AESGCM");
  EXPECT_EQ(t.client_auth, TlsClientAuth::kOptional);
  EXPECT_TRUE(t.prefer_server_ciphers);
  EXPECT_EQ(t.handshake_timeout_seconds, 3);
  EXPECT_EQ(t.watch_interval_seconds, 30);
  EXPECT_EQ(t.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(t.ocsp_response_file, "/ocsp.der");
  EXPECT_FALSE(config->dataplane.services[0].backend_tls.enabled);
}

TEST(YamlLoaderTlsTest, BackendTlsFillsTheServicesBackendTls) {
  auto config = load(R"(services:
  - name: web
    listen: 8080
    backend_tls: {ca: /ca.pem, server_name: api.internal, cert: /c.pem, key: /k.pem, min_version: "1.3",
                  ciphers: ECDHE+AESGCM}
  - name: defaults
    listen: 8081
    backend_tls: {}
  - name: unverified
    listen: 8082
    backend_tls: {verify: false}
)");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const BackendTlsConfig& b = config->dataplane.services[0].backend_tls;
  EXPECT_TRUE(b.enabled);
  EXPECT_TRUE(b.verify);
  EXPECT_EQ(b.ca_file, "/ca.pem");
  EXPECT_EQ(b.server_name, "api.internal");
  EXPECT_EQ(b.cert_file, "/c.pem");
  EXPECT_EQ(b.key_file, "/k.pem");
  EXPECT_EQ(b.min_version, "1.3");
  EXPECT_EQ(b.ciphers, "ECDHE+AESGCM");
  const BackendTlsConfig& d = config->dataplane.services[1].backend_tls;
  EXPECT_TRUE(d.enabled);  // the system's CAs, the backend's IP address
  EXPECT_TRUE(d.verify);
  EXPECT_EQ(d.ca_file, "");
  EXPECT_FALSE(config->dataplane.services[2].backend_tls.verify);
}

TEST(YamlLoaderTlsTest, BadBackendTlsValuesNameTheirLine) {
  const std::string head = "services:\n  - name: web\n    listen: 8080\n";
  EXPECT_EQ(error_of(head + "    backend_tls: {key: /k.pem}\n"),
            "nib.yaml:4:24: services[0].backend_tls.key: a key without a cert: set cert too");
  EXPECT_EQ(error_of(head + "    backend_tls: {verify: false, ca: /ca.pem}\n"),
            "nib.yaml:4:38: services[0].backend_tls.ca: CAs given while verify is false");
  EXPECT_EQ(error_of(head + "    backend_tls: {server_name: \"\"}\n"),
            "nib.yaml:4:32: services[0].backend_tls.server_name: expected a DNS name, got an empty value");
  EXPECT_EQ(error_of(head + "    backend_tls: {sni: x}\n"),
            "nib.yaml:4:19: services[0].backend_tls: unknown key 'sni', expected one of: verify, ca, ca_dir, "
            "server_name, cert, key, min_version, ciphers");
  EXPECT_EQ(error_of(head + "    tls: {cert: /c.pem, alpn: [\"\"]}\n"),
            "nib.yaml:4:32: services[0].tls.alpn[0]: expected an ALPN protocol name of 1 to 255 bytes, got ''");
  EXPECT_EQ(error_of(head + "    protocol: udp\n    backend_tls: {}\n"),
            "nib.yaml:5:18: services[0].backend_tls: applies to tcp services only; a udp service has "
            "session_timeout and max_sessions");
}

TEST(YamlLoaderTlsTest, BadTlsValuesNameTheirLine) {
  const std::string head = "services:\n  - name: web\n    listen: 8443\n";
  EXPECT_EQ(error_of(head + "    tls: {key: /k.pem}\n"), "nib.yaml:4:10: services[0].tls: missing required key 'cert'");
  EXPECT_EQ(error_of(head + "    tls: {cert: /c.pem, min_version: \"1.1\"}\n"),
            "nib.yaml:4:38: services[0].tls.min_version: expected 1.2 or 1.3, got '1.1'");
  EXPECT_EQ(error_of(head + "    tls: {cert: /c.pem, client_auth: required}\n"),
            "nib.yaml:4:38: services[0].tls.client_auth: client certificates need the CAs they chain to: set ca "
            "or ca_dir");
  EXPECT_EQ(error_of(head + "    tls: {cert: /c.pem, client_auth: always, ca: /ca.pem}\n"),
            "nib.yaml:4:38: services[0].tls.client_auth: expected one of: off, optional, required; got 'always'");
  EXPECT_EQ(error_of(head + "    tls: {cert: /c.pem, handshake_timeout: 0}\n"),
            "nib.yaml:4:44: services[0].tls.handshake_timeout: expected seconds > 0 and <= 3600, got '0'");
  EXPECT_EQ(error_of(head + "    protocol: udp\n    tls: {cert: /c.pem}\n"),
            "nib.yaml:5:10: services[0].tls: applies to tcp services only; a udp service has session_timeout and "
            "max_sessions");
}

}  // namespace
}  // namespace nib
