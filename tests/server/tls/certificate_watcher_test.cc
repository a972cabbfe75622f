#include "server/tls/certificate_watcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "dataplane/dataplane.h"
#include "server/tls/tls_terminators.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_certificate.h"

namespace nib {
namespace {

using test::TempFile;
using test::TestCertificate;
using test::TestCertificateFiles;

// The watcher runs on real time (its own thread polls the files), so the
// test waits for its effect, bounded, instead of firing a fake timer.
template <typename Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

TEST(CertificateWatcherTest, ANewOcspResponseFileMakesANewTerminator) {
  const TestCertificate ca = test::make_self_signed_certificate("test ca");
  const TestCertificate leaf = test::make_ca_signed_certificate(ca, "web.example");
  TestCertificateFiles files(leaf);
  TempFile ocsp(test::make_ocsp_response(leaf, ca), ".der");

  DataplaneConfig config;
  config.workers = 1;
  ServiceConfig& s = config.services.emplace_back();
  s.name = "web";
  s.listen = *SocketAddress::parse("127.0.0.1:0");
  s.tls.cert_file = files.cert.path();
  s.tls.key_file = files.key.path();
  s.tls.ocsp_response_file = ocsp.path();
  s.tls.watch_interval_seconds = 0.02;
  ASSERT_TRUE(load_tls_terminators(config).ok());
  Dataplane dataplane(config);
  Status started = dataplane.start();
  ASSERT_TRUE(started.ok()) << started.message();
  const auto before = dataplane.tls_terminator("web");
  ASSERT_NE(before, nullptr);

  CertificateWatcher watcher(dataplane);
  watcher.watch(config.services);
  // A garbage response does not load: the terminator in use stays.
  ASSERT_TRUE(ocsp.rewrite("not an OCSP response").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // several intervals
  EXPECT_EQ(dataplane.tls_terminator("web"), before);
  // A good one does.
  ASSERT_TRUE(ocsp.rewrite(test::make_ocsp_response(leaf, ca)).ok());
  EXPECT_TRUE(eventually([&] { return dataplane.tls_terminator("web") != before; }));
}

TEST(CertificateWatcherTest, RotatedBackendTlsFilesMakeANewConnector) {
  const TestCertificate ca = test::make_self_signed_certificate("backends ca");
  TempFile ca_file(ca.cert_pem, ".pem");
  const TestCertificate server = test::make_self_signed_certificate("web");
  TestCertificateFiles files(server);

  DataplaneConfig config;
  config.workers = 1;
  ServiceConfig& s = config.services.emplace_back();
  s.name = "web";
  s.listen = *SocketAddress::parse("127.0.0.1:0");
  s.tls.cert_file = files.cert.path();  // the watch interval is tls's
  s.tls.key_file = files.key.path();
  s.tls.watch_interval_seconds = 0.02;
  s.backend_tls.enabled = true;
  s.backend_tls.ca_file = ca_file.path();
  ASSERT_TRUE(load_tls_terminators(config).ok());
  Dataplane dataplane(config);
  Status started = dataplane.start();
  ASSERT_TRUE(started.ok()) << started.message();
  const auto before = dataplane.tls_connector("web");
  ASSERT_NE(before, nullptr);

  CertificateWatcher watcher(dataplane);
  watcher.watch(config.services);
  ASSERT_TRUE(ca_file.rewrite("not a certificate").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // several intervals
  EXPECT_EQ(dataplane.tls_connector("web"), before);  // kept
  ASSERT_TRUE(ca_file.rewrite(test::make_self_signed_certificate("next ca").cert_pem).ok());
  EXPECT_TRUE(eventually([&] { return dataplane.tls_connector("web") != before; }));
  EXPECT_EQ(dataplane.tls_terminator("web") != nullptr, true);
}

}  // namespace
}  // namespace nib
