// TLS on both admin APIs: the files are checked at start (each error names the
// file), HTTPS and gRPC over TLS answer a client that trusts the certificate,
// and a plaintext client gets nothing.
#include "tests/admin/admin_core_holder.h"
#include "admin/common/admin_tls.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "admin/grpc/grpc_admin_server.h"
#include "nib/admin/v1/admin.grpc.pb.h"
#include "tests/admin/http_admin_fixture.h"
#include "tests/support/test_certificate.h"

namespace nib::admin::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using nib::test::make_self_signed_certificate;
using nib::test::TempFile;
using nib::test::TestCertificate;
using nib::test::TestCertificateFiles;

const TestCertificate& certificate() {
  static const TestCertificate c = make_self_signed_certificate();
  return c;
}

TEST(AdminTlsFilesTest, AGoodPairLoads) {
  TestCertificateFiles files(certificate());
  auto m = load_tls({files.cert.path(), files.key.path()});
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->cert_chain_pem, certificate().cert_pem);
  EXPECT_EQ(m->private_key_pem, certificate().key_pem);
}

TEST(AdminTlsFilesTest, EachBadFileIsNamed) {
  TestCertificateFiles files(certificate());
  TestCertificateFiles other(make_self_signed_certificate("other"));
  TempFile garbage("not a certificate\n", ".pem");
  struct Case {
    TlsFiles files;
    std::string expected;
  } cases[] = {
      {{files.cert.path(), ""}, "needs both a certificate file and a key file"},
      {{"/nonexistent/cert.pem", files.key.path()}, "cannot read the certificate file /nonexistent/cert.pem"},
      {{files.cert.path(), "/nonexistent/key.pem"}, "cannot read the key file /nonexistent/key.pem"},
      {{garbage.path(), files.key.path()}, garbage.path() + " holds no PEM certificate"},
      {{files.cert.path(), garbage.path()}, garbage.path() + " holds no unencrypted PEM private key"},
      {{files.cert.path(), other.key.path()}, "does not belong to the certificate in " + files.cert.path()},
  };
  for (const auto& c : cases) {
    auto m = load_tls(c.files);
    ASSERT_FALSE(m.ok()) << c.expected;
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(m.status().message(), StartsWith("admin TLS: "));
    EXPECT_THAT(m.status().message(), HasSubstr(c.expected));
  }
}

class HttpsAdminTest : public HttpAdminFixture {
 protected:
  void SetUp() override {
    HttpAdminFixture::SetUp();
    add_backends(1);
  }
  TestCertificateFiles files_{certificate()};
};

TEST_F(HttpsAdminTest, AnswersAClientThatTrustsTheCertificate) {
  HttpAdminOptions options;
  options.tls = {files_.cert.path(), files_.key.path()};
  start(options);
  httplib::SSLClient client("127.0.0.1", admin_address_.port());
  client.set_ca_cert_path(files_.cert.path().c_str());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(5);
  auto res = client.Get("/api/v1/services/web/backends");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(res->body, HasSubstr(backends_[0]->address().ip_string()));
}

TEST_F(HttpsAdminTest, APlaintextRequestGetsNoAnswer) {
  HttpAdminOptions options;
  options.tls = {files_.cert.path(), files_.key.path()};
  start(options);
  httplib::Client plain("127.0.0.1", admin_address_.port());
  plain.set_connection_timeout(5);
  plain.set_read_timeout(5);
  auto res = plain.Get("/healthz");
  EXPECT_FALSE(res && res->status == 200);
}

TEST_F(HttpsAdminTest, ABadKeyStopsTheStartWithTheFileNamed) {
  TestCertificateFiles other(make_self_signed_certificate("other"));
  dp_ = std::make_unique<Dataplane>(config());
  ASSERT_TRUE(dp_->start().ok());
  HttpAdminServer server(core_.get(*dp_), HttpAdminOptions{.listen = "127.0.0.1:0",
                                                .tls = {files_.cert.path(), other.key.path()}});
  Status st = server.start();
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr(other.key.path()));
}

class GrpcTlsTest : public HttpAdminFixture {
 protected:
  void SetUp() override {
    HttpAdminFixture::SetUp();
    add_backends(1);
    dp_ = std::make_unique<Dataplane>(config());
    ASSERT_TRUE(dp_->start().ok());
    grpc_ = std::make_unique<GrpcAdminServer>(
        core_.get(*dp_), GrpcAdminServerOptions{.listen = "127.0.0.1:0", .tls = {files_.cert.path(), files_.key.path()}});
    Status st = grpc_->start();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void TearDown() override {
    if (grpc_) grpc_->stop(std::chrono::seconds(0));
    grpc_.reset();
    HttpAdminFixture::TearDown();
  }
  grpc::Status list(const std::shared_ptr<grpc::ChannelCredentials>& credentials, v1::ListServicesResponse* out,
                    const grpc::ChannelArguments& arguments = {}) {
    auto stub = v1::Admin::NewStub(grpc::CreateCustomChannel(grpc_->address(), credentials, arguments));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub->ListServices(&ctx, v1::ListServicesRequest(), out);
  }

  TestCertificateFiles files_{certificate()};
  AdminCoreHolder core_;  // before the server: outlives it
  std::unique_ptr<GrpcAdminServer> grpc_;
};

TEST_F(GrpcTlsTest, AnswersAClientThatTrustsTheCertificate) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = certificate().cert_pem;
  v1::ListServicesResponse out;
  grpc::Status s = list(grpc::SslCredentials(ssl), &out);  // verifies 127.0.0.1 against the IP SAN
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(out.services_size(), 1);
  EXPECT_EQ(out.services(0).name(), "web");
  EXPECT_TRUE(grpc_->tls_enabled());
}

TEST_F(GrpcTlsTest, AClientThatTrustsAnotherCertificateIsRefused) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = make_self_signed_certificate("other").cert_pem;
  v1::ListServicesResponse out;
  EXPECT_EQ(list(grpc::SslCredentials(ssl), &out).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GrpcTlsTest, APlaintextClientIsRefused) {
  v1::ListServicesResponse out;
  EXPECT_EQ(list(grpc::InsecureChannelCredentials(), &out).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(GrpcTlsStartTest, AMissingCertificateStopsTheStart) {
  DataplaneConfig config;
  Dataplane dp(config);
  AdminApi api(dp);
  GrpcAdminServer server(api, GrpcAdminServerOptions{.listen = "127.0.0.1:0",
                                                    .tls = {"/nonexistent/cert.pem", "/nonexistent/key.pem"}});
  Status st = server.start();
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("cannot read the certificate file /nonexistent/cert.pem"));
}

}  // namespace
}  // namespace nib::admin::test
