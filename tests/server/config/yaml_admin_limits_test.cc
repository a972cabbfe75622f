// admin.limits in YAML: one mapping per plane, each key a row of the admin
// limits table (admin/common/admin_limits.h), checked against its range.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/config/yaml_loader.h"

namespace nib {
namespace {

using ::testing::StartsWith;

constexpr std::string_view kService = "services:\n  - name: web\n    listen: 8080\n";

Result<AppConfig> load(const std::string& admin) {
  return YamlLoader::load_string(std::string(kService) + admin, "nib.yaml");
}

TEST(YamlAdminLimitsTest, DefaultsWithoutTheSection) {
  auto config = load("");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->admin.limits.http.max_connections, admin::HttpLimits{}.max_connections);
  EXPECT_EQ(config->admin.limits.grpc.max_watch_streams, admin::GrpcLimits{}.max_watch_streams);
  EXPECT_EQ(config->admin.limits.penctl.max_line_bytes, 4096u);
}

TEST(YamlAdminLimitsTest, EveryPlaneIsRead) {
  auto config = load(
      "admin:\n  limits:\n"
      "    http:\n      max_connections: 10\n      request_timeout: 0.5\n      max_header_count: 20\n"
      "    grpc:\n      max_watch_streams: 3\n      min_ping_interval: 30\n"
      "    penctl:\n      command_timeout: 2\n      max_line_bytes: 1024\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const admin::AdminLimits& l = config->admin.limits;
  EXPECT_EQ(l.http.max_connections, 10u);
  EXPECT_EQ(l.http.request_timeout_seconds, 0.5);
  EXPECT_EQ(l.http.max_header_count, 20u);
  EXPECT_EQ(l.http.idle_timeout_seconds, admin::HttpLimits{}.idle_timeout_seconds);  // untouched
  EXPECT_EQ(l.grpc.max_watch_streams, 3u);
  EXPECT_EQ(l.grpc.min_ping_interval_seconds, 30);
  EXPECT_EQ(l.penctl.command_timeout_seconds, 2);
  EXPECT_EQ(l.penctl.max_line_bytes, 1024u);
}

TEST(YamlAdminLimitsTest, ErrorsNameTheKeyAndTheRange) {
  auto error = [](const std::string& admin) {
    auto config = load(admin);
    return config.ok() ? std::string("loaded") : config.status().message();
  };
  EXPECT_EQ(error("admin:\n  limits:\n    http:\n      max_connections: 0\n"),
            "nib.yaml:7:24: admin.limits.http.max_connections: expected an integer 1-1000000, got '0'");
  EXPECT_EQ(error("admin:\n  limits:\n    penctl:\n      command_timeout: 0\n"),
            "nib.yaml:7:24: admin.limits.penctl.command_timeout: expected seconds > 0 and <= 3600, got '0'");
  EXPECT_THAT(error("admin:\n  limits:\n    http:\n      max_conections: 5\n"),
              StartsWith("nib.yaml:7:7: admin.limits.http: unknown key 'max_conections', expected one of: "
                         "max_connections, max_connections_per_client"));
  EXPECT_EQ(error("admin:\n  limits:\n    smtp: {}\n"),
            "nib.yaml:6:5: admin.limits: unknown key 'smtp', expected one of: http, grpc, penctl");
}

}  // namespace
}  // namespace nib
