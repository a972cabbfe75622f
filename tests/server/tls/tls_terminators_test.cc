#include "server/tls/tls_terminators.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/temp_file.h"
#include "tests/support/test_certificate.h"

namespace nib {
namespace {

using test::TempFile;
using test::TestCertificate;
using test::TestCertificateFiles;

struct Files {
  TestCertificate ca = test::make_self_signed_certificate("test ca");
  TestCertificate server = test::make_ca_signed_certificate(ca, "backend.example");
  TempFile ca_file{ca.cert_pem, ".pem"};
  TestCertificateFiles server_files{server};
};

const Files& files() {
  static const Files f;
  return f;
}

// One service "web" with TLS toward its clients and toward its backends.
DataplaneConfig config_with(const std::string& backend_ca_file) {
  DataplaneConfig config;
  ServiceConfig& s = config.services.emplace_back();
  s.name = "web";
  s.tls.cert_file = files().server_files.cert.path();
  s.tls.key_file = files().server_files.key.path();
  s.backend_tls.enabled = true;
  s.backend_tls.ca_file = backend_ca_file;
  s.backend_tls.server_name = "backend.example";
  return config;
}

TEST(LoadTlsTerminatorsTest, MakesTheTerminatorAndTheConnector) {
  DataplaneConfig config = config_with(files().ca_file.path());
  ASSERT_TRUE(load_tls_terminators(config).ok());
  EXPECT_NE(config.services[0].tls_terminator, nullptr);
  EXPECT_NE(config.services[0].tls_connector, nullptr);

  // Turned off: cleared.
  config.services[0].backend_tls = {};
  ASSERT_TRUE(load_tls_terminators(config).ok());
  EXPECT_EQ(config.services[0].tls_connector, nullptr);
  EXPECT_NE(config.services[0].tls_terminator, nullptr);
}

TEST(LoadTlsTerminatorsTest, AtStartABadBackendFileFailsNamingTheServiceAndTheFile) {
  DataplaneConfig config = config_with("/nonexistent/backend-ca.pem");
  Status st = load_tls_terminators(config);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("service 'web': backend_tls: /nonexistent/backend-ca.pem: cannot read"),
            std::string::npos)
      << st.message();
}

TEST(LoadTlsTerminatorsTest, AReloadWhoseBackendFilesFailKeepsTheRunningConnector) {
  DataplaneConfig running = config_with(files().ca_file.path());
  ASSERT_TRUE(load_tls_terminators(running).ok());

  DataplaneConfig next = config_with("/nonexistent/backend-ca.pem");
  std::vector<std::string> kept;
  ASSERT_TRUE(load_tls_terminators(next, &running, &kept).ok());
  const ServiceConfig& s = next.services[0];
  EXPECT_EQ(s.tls_connector, running.services[0].tls_connector);
  EXPECT_EQ(s.backend_tls, running.services[0].backend_tls);  // the settings it runs with
  EXPECT_NE(s.tls_terminator, nullptr);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_NE(kept[0].find("service 'web': backend_tls: /nonexistent/backend-ca.pem"), std::string::npos) << kept[0];
  EXPECT_NE(kept[0].find("keeping the backend TLS settings in use"), std::string::npos) << kept[0];

  // A service that had no connector has nothing to keep.
  DataplaneConfig plain = config_with(files().ca_file.path());
  plain.services[0].backend_tls = {};
  ASSERT_TRUE(load_tls_terminators(plain).ok());
  kept.clear();
  DataplaneConfig again = config_with("/nonexistent/backend-ca.pem");
  Status st = load_tls_terminators(again, &plain, &kept);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(kept.empty());
}

}  // namespace
}  // namespace nib
