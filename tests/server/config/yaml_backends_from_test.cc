// A service's backends_from (DNS discovery): the keys, their defaults and the
// errors, each naming its line and column.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "server/config/yaml_loader.h"

namespace nib {
namespace {

using ::testing::HasSubstr;

Result<AppConfig> load(std::string_view yaml) { return YamlLoader::load_string(yaml, "nib.yaml"); }

std::string error_of(const std::string& yaml) {
  auto result = load(yaml);
  EXPECT_FALSE(result.ok()) << "loaded unexpectedly:\n" << yaml;
  return result.ok() ? "" : result.status().message();
}

// Line 4, column 5 is where backends_from's mapping starts.
std::string service_with(const std::string& backends_from) {
  return "services:\n"
         "  - name: web\n"
         "    listen: 8080\n"
         "    backends_from: " + backends_from + "\n";
}

TEST(YamlBackendsFromTest, EveryKeyIsRead) {
  auto config = load(service_with(
      "{dns: web.default.svc.cluster.local, port: 8081, interval: 200ms, resolver: 127.0.0.1:5353, type: aaaa}"));
  ASSERT_TRUE(config.ok()) << config.status().message();
  ASSERT_EQ(config->backends_from.size(), 1u);
  const DnsDiscoveryConfig& c = config->backends_from[0];
  EXPECT_EQ(c.service, "web");
  EXPECT_EQ(c.name, "web.default.svc.cluster.local");
  EXPECT_EQ(c.port, 8081);
  EXPECT_DOUBLE_EQ(c.interval_seconds, 0.2);
  ASSERT_TRUE(c.resolver.has_value());
  EXPECT_EQ(*c.resolver, *SocketAddress::parse("127.0.0.1:5353"));
  EXPECT_EQ(c.type, DnsRecordType::kAaaa);
  // No backend is listed: they come from DNS once nib runs.
  EXPECT_TRUE(config->dataplane.services[0].backends.empty());
}

TEST(YamlBackendsFromTest, Defaults) {
  auto config = load(service_with("{dns: web, port: 80}"));
  ASSERT_TRUE(config.ok()) << config.status().message();
  ASSERT_EQ(config->backends_from.size(), 1u);
  const DnsDiscoveryConfig& c = config->backends_from[0];
  EXPECT_EQ(c.type, DnsRecordType::kA);
  EXPECT_DOUBLE_EQ(c.interval_seconds, 5);
  EXPECT_FALSE(c.resolver.has_value());
}

TEST(YamlBackendsFromTest, IntervalSpellings) {
  for (auto [text, seconds] : {std::pair{"5", 5.0}, {"5s", 5.0}, {"0.1", 0.1}, {"100ms", 0.1}, {"2.5s", 2.5}}) {
    auto config = load(service_with(std::string("{dns: web, port: 80, interval: ") + text + "}"));
    ASSERT_TRUE(config.ok()) << text << ": " << config.status().message();
    EXPECT_DOUBLE_EQ(config->backends_from[0].interval_seconds, seconds) << text;
  }
}

TEST(YamlBackendsFromTest, SrvTakesNoPort) {
  auto config = load(service_with("{dns: _http._tcp.web.example, type: srv}"));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->backends_from[0].type, DnsRecordType::kSrv);
  EXPECT_THAT(error_of(service_with("{dns: _http._tcp.web, type: srv, port: 80}")),
              HasSubstr("nib.yaml:4:59: services[0].backends_from.port: SRV records carry their own ports"));
}

TEST(YamlBackendsFromTest, BlockMappingWithStaticBackends) {
  auto config = load(
      "services:\n"
      "  - name: web\n"
      "    listen: 8080\n"
      "    backends: [10.0.0.1:80]\n"
      "    backends_from:\n"
      "      dns: web-headless\n"
      "      port: 80\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->dataplane.services[0].backends.size(), 1u);
  ASSERT_EQ(config->backends_from.size(), 1u);
  EXPECT_EQ(config->backends_from[0].name, "web-headless");
}

TEST(YamlBackendsFromTest, ErrorsNameLineColumnAndWhatWasExpected) {
  EXPECT_THAT(error_of(service_with("{port: 80}")),
              HasSubstr("nib.yaml:4:20: services[0].backends_from: missing required key 'dns'"));
  EXPECT_THAT(error_of(service_with("{dns: web}")),
              HasSubstr("nib.yaml:4:20: services[0].backends_from: missing required key 'port'"));
  EXPECT_THAT(error_of(service_with("{dns: 'web..x', port: 80}")),
              HasSubstr("nib.yaml:4:26: services[0].backends_from.dns: expected a DNS name"));
  EXPECT_THAT(error_of(service_with("{dns: web, port: 0}")),
              HasSubstr("nib.yaml:4:37: services[0].backends_from.port: expected an integer 1-65535, got '0'"));
  EXPECT_THAT(error_of(service_with("{dns: web, port: 80, type: mx}")),
              HasSubstr("nib.yaml:4:47: services[0].backends_from.type: expected one of: a, aaaa, srv; got 'mx'"));
  EXPECT_THAT(error_of(service_with("{dns: web, port: 80, interval: 10ms}")),
              HasSubstr("nib.yaml:4:51: services[0].backends_from.interval: expected an interval of 0.05-86400 "
                        "seconds"));
  EXPECT_THAT(error_of(service_with("{dns: web, port: 80, interval: soon}")),
              HasSubstr("services[0].backends_from.interval: expected an interval"));
  EXPECT_THAT(error_of(service_with("{dns: web, port: 80, resolver: '[::1]:53'}")),
              HasSubstr("nib.yaml:4:51: services[0].backends_from.resolver: expected an IPv4 address and port "
                        "(127.0.0.1:5353), got '[::1]:53'"));
  EXPECT_THAT(error_of(service_with("{dns: web, port: 80, resolver: 127.0.0.1}")),
              HasSubstr("backends_from.resolver: expected an IPv4 address and port"));
  EXPECT_THAT(error_of(service_with("{dns: web, port: 80, ttl: 5}")),
              HasSubstr("nib.yaml:4:41: services[0].backends_from: unknown key 'ttl', expected one of: dns, port, "
                        "interval, resolver, type"));
  EXPECT_THAT(error_of(service_with("web.example")),
              HasSubstr("nib.yaml:4:20: services[0].backends_from: expected a mapping with keys dns, port"));
}

}  // namespace
}  // namespace nib
