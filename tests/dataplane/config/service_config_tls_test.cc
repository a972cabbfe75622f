// check_tls: the rules of TLS toward clients (tls) and toward backends
// (backend_tls) that span fields, whatever loader filled them.
#include <gtest/gtest.h>

#include "dataplane/config/service_config.h"

namespace nib {
namespace {

ServiceConfig tcp_service() {
  ServiceConfig s;
  s.name = "web";
  return s;
}

std::string error_of(const ServiceConfig& s) { return check_tls(s).message(); }

TEST(ServiceConfigTlsTest, BackendTlsAloneIsAllowedOnTcp) {
  ServiceConfig s = tcp_service();
  s.backend_tls.enabled = true;
  EXPECT_TRUE(check_tls(s).ok());
  s.backend_tls.min_version = "1.3";
  s.backend_tls.server_name = "api.internal";
  EXPECT_TRUE(check_tls(s).ok());
}

TEST(ServiceConfigTlsTest, BackendTlsRefusesWhatCannotWork) {
  ServiceConfig s = tcp_service();
  s.backend_tls.server_name = "api.internal";  // set, but backend_tls is off
  EXPECT_EQ(error_of(s), "backend_tls settings while backend_tls is not enabled");
  s.backend_tls.enabled = true;
  s.protocol = Protocol::kUdp;
  EXPECT_EQ(error_of(s), "backend_tls: TLS is for TCP services only");
  s.protocol = Protocol::kTcp;
  s.dsr_interface = "eth0";
  EXPECT_EQ(error_of(s), "backend_tls: not with dsr_interface (nib never sees a DSR stream)");
  s.dsr_interface.clear();
  s.backend_tls.min_version = "1.1";
  EXPECT_EQ(error_of(s), "backend_tls: min_version must be 1.2 or 1.3, got '1.1'");
  s.backend_tls.min_version = "1.2";
  s.backend_tls.key_file = "/k.pem";
  EXPECT_EQ(error_of(s), "backend_tls: a key without a cert");
  s.backend_tls.key_file.clear();
  s.backend_tls.verify = false;
  s.backend_tls.ca_file = "/ca.pem";
  EXPECT_EQ(error_of(s), "backend_tls: CAs given while verify is off");
  s.backend_tls.verify = true;
  s.backend_tls.ca_file.clear();
  HealthCheckConfig http;
  http.type = HealthCheckType::kHttp;
  s.health_check = http;
  EXPECT_EQ(error_of(s), "backend_tls: health checks to TLS backends must be type: tcp (an http or send_expect "
                         "check does not speak TLS)");
  s.health_check = HealthCheckConfig{};  // tcp: a connect is all it does
  EXPECT_TRUE(check_tls(s).ok());
}

TEST(ServiceConfigTlsTest, AlpnAndOcspBelongToTlsTowardClients) {
  ServiceConfig s = tcp_service();
  s.tls.alpn = {"h2"};
  EXPECT_EQ(error_of(s), "tls: TLS settings without a certificate (YAML tls.cert, Pen's -E)");
  s.tls.alpn.clear();
  s.tls.ocsp_response_file = "/ocsp.der";
  EXPECT_EQ(error_of(s), "tls: TLS settings without a certificate (YAML tls.cert, Pen's -E)");
  s.tls.cert_file = "/c.pem";
  EXPECT_TRUE(check_tls(s).ok());
  s.tls.alpn = {"h2", std::string(256, 'x')};
  EXPECT_EQ(error_of(s), "tls: an ALPN protocol name must be 1 to 255 bytes, got '" + std::string(256, 'x') + "'");
}

TEST(ServiceConfigTlsTest, AServiceWithoutItsConnectorIsNotLoaded) {
  ServiceConfig s = tcp_service();
  s.backend_tls.enabled = true;
  EXPECT_EQ(check_tls_loaded(s).message(), "service 'web': backend_tls was not loaded (no connector was made for it)");
}

}  // namespace
}  // namespace nib
