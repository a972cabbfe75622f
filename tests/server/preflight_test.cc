// `nib --check` checks what the real start checks: each file the start reads
// before it serves, with the error the start would give.
#include "server/preflight.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "admin/state/state_store.h"
#include "tests/support/dataplane_fixture.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_certificate.h"

namespace nib {
namespace {

class PreflightTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.dataplane = test::one_backend_config(*SocketAddress::parse("127.0.0.1:81"));
  }
  std::string message() {
    Status st = preflight(config_);
    EXPECT_FALSE(st.ok());
    return st.message();
  }

  test::TempDir dir_;
  AppConfig config_;
};

TEST_F(PreflightTest, NothingToReadPasses) { EXPECT_TRUE(preflight(config_).ok()); }

TEST_F(PreflightTest, TheAdminTokenFile) {
  config_.admin.token_file = dir_.write_file("tokens", "admin abcdefghijklmnopqrstuvwxyz0123456789\n");
  EXPECT_TRUE(preflight(config_).ok()) << preflight(config_).message();
  config_.admin.token_file = dir_.write_file("bad-tokens", "superuser abcdefghijklmnopqrstuvwxyz0123456789\n");
  EXPECT_EQ(message().rfind("admin token file " + config_.admin.token_file + ":1: ", 0), 0u) << message();
  config_.admin.token_file = dir_.file("missing");
  EXPECT_NE(message().find(dir_.file("missing") + ": cannot read"), std::string::npos) << message();
  config_.admin.enabled = false;  // --no-admin: the start never reads it
  EXPECT_TRUE(preflight(config_).ok());
}

TEST_F(PreflightTest, TheAdminTlsFiles) {
  test::TestCertificateFiles good(test::make_self_signed_certificate());
  test::TestCertificateFiles other(test::make_self_signed_certificate("other"));
  config_.admin.tls_cert_file = good.cert.path();
  config_.admin.tls_key_file = good.key.path();
  EXPECT_TRUE(preflight(config_).ok()) << preflight(config_).message();
  config_.admin.tls_key_file = other.key.path();
  EXPECT_EQ(message().rfind("admin TLS: the key in " + other.key.path() + " does not belong to the certificate in " +
                                good.cert.path(), 0),
            0u)
      << message();
  config_.admin.tls_key_file = dir_.file("missing.pem");
  EXPECT_EQ(message(), "admin TLS: cannot read the key file " + dir_.file("missing.pem"));
  config_.admin.tls_key_file = good.cert.path();
  EXPECT_NE(message().find("holds no unencrypted PEM private key"), std::string::npos) << message();
}

TEST_F(PreflightTest, TheStateFile) {
  config_.admin.state_file = dir_.file("nib.state");
  EXPECT_TRUE(preflight(config_).ok()) << "a first start: no file yet";
  EXPECT_FALSE(test::read_file(config_.admin.state_file).ok()) << "nothing written";

  dir_.write_file("nib.state", "nib-state 1\nservice web\nbackend 127.0.0.1:0 - 1 0 0 0 enabled\nend\n");
  EXPECT_EQ(message().rfind("state file " + config_.admin.state_file + ":3: backend 127.0.0.1:0: ", 0), 0u)
      << message();
  dir_.write_file("nib.state", "nib-state 1\nservice web\nbackend 127.0.0.1:81 - 1 0 0 0 enabled\nend\n");
  EXPECT_TRUE(preflight(config_).ok()) << preflight(config_).message();

  config_.admin.state_file = dir_.file("no-such-dir/nib.state");
  EXPECT_EQ(message(), "state file " + config_.admin.state_file + ": cannot create " + config_.admin.state_file +
                           ".tmp: No such file or directory (ENOENT)");
  ASSERT_EQ(::mkdir(dir_.file("a-dir").c_str(), 0700), 0);
  config_.admin.state_file = dir_.file("a-dir");
  EXPECT_EQ(message(), "state file " + dir_.file("a-dir") + ": is a directory; expected a file name");
}

}  // namespace
}  // namespace nib
