// registry: (YAML) and --registry-etcd: the shared registry's settings, their
// errors (each YAML one naming its line and column), and the rule that a
// shared registry and a state file do not go together.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "server/config/pen_args.h"
#include "server/config/yaml_loader.h"

namespace nib {
namespace {

using ::testing::HasSubstr;

constexpr const char* kService = "services:\n  - name: web\n    listen: 8080\n    backends: [10.0.0.1:80]\n";

Result<AppConfig> load(const std::string& registry) {
  return YamlLoader::load_string("registry:\n" + registry + kService, "nib.yaml");
}

std::string error_of(const std::string& registry) {
  auto result = load(registry);
  EXPECT_FALSE(result.ok()) << "loaded unexpectedly:\n" << registry;
  return result.ok() ? "" : result.status().message();
}

TEST(RegistryConfigTest, EveryKeyIsRead) {
  auto config = load(
      "  store: etcd\n"
      "  endpoints: [https://etcd-0.etcd:2379, https://10.0.0.9:2379]\n"
      "  prefix: /lb/\n"
      "  tls: {ca: /etc/nib/ca.crt, cert: /etc/nib/tls.crt, key: /etc/nib/tls.key}\n"
      "  auth: {user: nib, password_file: /etc/nib/password}\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const RegistryConfig& r = config->registry;
  EXPECT_TRUE(r.enabled());
  EXPECT_TRUE(r.tls());
  EXPECT_THAT(r.endpoints, ::testing::ElementsAre("https://etcd-0.etcd:2379", "https://10.0.0.9:2379"));
  EXPECT_EQ(r.prefix, "/lb/");
  EXPECT_EQ(r.tls_ca_file, "/etc/nib/ca.crt");
  EXPECT_EQ(r.tls_cert_file, "/etc/nib/tls.crt");
  EXPECT_EQ(r.tls_key_file, "/etc/nib/tls.key");
  EXPECT_EQ(r.user, "nib");
  EXPECT_EQ(r.password_file, "/etc/nib/password");
}

TEST(RegistryConfigTest, DefaultsAndNoRegistry) {
  auto config = load("  endpoints: [127.0.0.1:2379]\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->registry.prefix, "/nib/");
  EXPECT_FALSE(config->registry.tls());
  auto none = YamlLoader::load_string(kService, "nib.yaml");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->registry.enabled());
}

TEST(RegistryConfigTest, ErrorsNameTheLineAndWhatWasExpected) {
  EXPECT_THAT(error_of("  endpoints: [ftp://x]\n"),
              HasSubstr("nib.yaml:2:15: registry.endpoints[0]: expected an etcd endpoint http://HOST:PORT"));
  EXPECT_THAT(error_of("  endpoints: [http://a:1, https://b:2]\n"), HasSubstr("expected the same scheme"));
  EXPECT_THAT(error_of("  endpoints: []\n"), HasSubstr("expected at least one etcd endpoint"));
  EXPECT_THAT(error_of("  store: consul\n  endpoints: [a:1]\n"), HasSubstr("expected etcd (the only store)"));
  EXPECT_THAT(error_of("  endpoints: [a:1]\n  prefix: nib\n"), HasSubstr("starting and ending with '/'"));
  EXPECT_THAT(error_of("  endpoints: [a:1]\n  tls: {ca: /ca}\n"), HasSubstr("TLS needs https:// endpoints"));
  EXPECT_THAT(error_of("  endpoints: [https://a:1]\n  tls: {cert: /c}\n"), HasSubstr("expected both cert and key"));
  EXPECT_THAT(error_of("  endpoints: [a:1]\n  auth: {user: nib}\n"), HasSubstr("password_file"));
  EXPECT_THAT(error_of("  prefix: /x/\n"), HasSubstr("missing required key 'endpoints'"));
}

TEST(RegistryConfigTest, TheCommandLineNamesTheMembers) {
  auto parsed = PenArgs::parse({"--registry-etcd", "http://127.0.0.1:2379,http://127.0.0.1:22379",
                                "--registry-prefix", "/lb/", "-f", "8080", "10.0.0.1:80"});
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->config.registry.endpoints.size(), 2u);
  EXPECT_EQ(parsed->config.registry.prefix, "/lb/");
  auto bad = PenArgs::parse({"--registry-etcd", "http://127.0.0.1", "-f", "8080", "10.0.0.1:80"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("--registry-etcd"));
  // A port of many digits (found by the pen_args fuzzer): an error, not an exception.
  for (const char* endpoint : {"a:99999999999999999999", "a:65536", "a:0", "a:-1", "a:+80", "a:80x"}) {
    auto huge = PenArgs::parse({"--registry-etcd", endpoint, "-f", "8080", "10.0.0.1:80"});
    ASSERT_FALSE(huge.ok()) << endpoint;
    EXPECT_THAT(huge.status().message(), HasSubstr("expected an etcd endpoint")) << endpoint;
  }
  auto prefix = PenArgs::parse({"--registry-etcd", "a:1", "--registry-prefix", "lb", "-f", "8080", "10.0.0.1:80"});
  ASSERT_FALSE(prefix.ok());
  EXPECT_THAT(prefix.status().message(), HasSubstr("registry.prefix"));
}

TEST(RegistryConfigTest, ARegistryAndAStateFileDoNotGoTogether) {
  auto both = PenArgs::parse({"--registry-etcd", "a:2379", "--state", "/tmp/nib.state", "-f", "8080", "10.0.0.1:80"});
  ASSERT_FALSE(both.ok());
  EXPECT_THAT(both.status().message(), HasSubstr("use one"));
}

}  // namespace
}  // namespace nib
