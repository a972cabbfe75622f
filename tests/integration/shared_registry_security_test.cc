// The shared registry over TLS with an etcd user: etcd serves https only,
// verifies client certificates, and has authentication on with a user that
// may touch nib's prefix alone. Two nibs with the CA, a client certificate
// and the user's password share a backend; a nib with a wrong password or
// without a client certificate serves its configuration, refuses changes and
// says why.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "nib/admin/v1/admin.grpc.pb.h"
#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_certificate.h"
#include "tests/support/test_client.h"
#include "tests/support/test_etcd.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NibProcess;
namespace v1 = admin::v1;

class SharedRegistrySecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NIB_REQUIRE(test::nib_binary_exists(), "nib not built");
    NIB_REQUIRE(test::TestEtcdCluster::installed(), "etcd not installed (Debian packages etcd-server, etcd-client)");
    const test::TestCertificate ca = test::make_self_signed_certificate("nib-test-ca");
    const test::TestCertificate leaf = test::make_ca_signed_certificate(ca, "etcd");
    ca_ = dir_.write_file("ca.pem", ca.cert_pem);
    cert_ = dir_.write_file("cert.pem", leaf.cert_pem);
    key_ = dir_.write_file("key.pem", leaf.key_pem);
    etcd_.set_tls({.ca_file = ca_, .cert_file = cert_, .key_file = key_});
    Status st = etcd_.start();
    ASSERT_TRUE(st.ok()) << st.message();
    // root for etcdctl; nib may read and write /nib-test/ only.
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"user", "add", "root:root-password"},
          {"role", "add", "nib"},
          {"role", "grant-permission", "nib", "--prefix=true", "readwrite", "/nib-test/"},
          {"user", "add", "nib:nib-password"},
          {"user", "grant-role", "nib", "nib"},
          {"auth", "enable"}}) {
      auto out = etcd_.etcdctl(args);
      ASSERT_TRUE(out.ok()) << out.status().message();
    }
    etcd_.set_user("root:root-password");
  }

  struct Nib {
    uint16_t lb_port = test::free_port();
    std::string grpc = "127.0.0.1:" + std::to_string(test::free_port());
    SocketAddress http = *SocketAddress::from_ip("127.0.0.1", test::free_port());
    std::unique_ptr<NibProcess> process;
    std::unique_ptr<v1::Admin::Stub> stub;
  };

  // `password`: the etcd user's; `client_cert`: whether nib presents one.
  void start(Nib& n, const std::string& name, const std::string& password, bool client_cert = true) {
    const std::string password_file = dir_.write_file(name + ".password", password + "\n");
    const std::string tls = client_cert ? "{ca: " + ca_ + ", cert: " + cert_ + ", key: " + key_ + "}" : "{ca: " + ca_ + "}";
    const std::string config = dir_.write_file(
        name + ".yaml", "registry:\n  endpoints: [" + etcd_.endpoints() + "]\n  prefix: /nib-test/\n  tls: " + tls +
                            "\n  auth: {user: nib, password_file: " + password_file + "}\n" +
                            "services:\n  - name: web\n    listen: 127.0.0.1:" + std::to_string(n.lb_port) +
                            "\n    backends: [" + one_.address().to_string() + "]\n");
    const std::string pid = dir_.file(name + ".pid");
    auto p = NibProcess::start({"-p", pid, "--admin-grpc", n.grpc, "--admin-http", n.http.to_string(), "--config", config});
    ASSERT_TRUE(p.ok()) << p.status().message();
    n.process = std::move(*p);
    bool up = test::wait_until([&] { return test::read_file(pid).ok() || !n.process->running(); }, 15s);
    ASSERT_TRUE(up && n.process->running()) << n.process->output();
    n.stub = v1::Admin::NewStub(grpc::CreateChannel(n.grpc, grpc::InsecureChannelCredentials()));
  }

  v1::Registry registry(Nib& n) {
    v1::Registry out;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    EXPECT_TRUE(n.stub->GetRegistry(&ctx, v1::GetRegistryRequest(), &out).ok());
    return out;
  }

  grpc::Status add(Nib& n, const SocketAddress& address) {
    v1::AddBackendRequest r;
    r.set_address(address.ip_string());
    r.set_port(address.port());
    v1::Backend out;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    return n.stub->AddBackend(&ctx, r, &out);
  }

  size_t backends(Nib& n) {
    v1::ListBackendsResponse out;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    if (!n.stub->ListBackends(&ctx, v1::ListBackendsRequest(), &out).ok()) return 0;
    return static_cast<size_t>(out.backends_size());
  }

  test::TempDir dir_;
  std::string ca_, cert_, key_;
  test::TestEtcdCluster etcd_{dir_.path(), 1};
  uint16_t backend_port_ = test::free_port();
  test::TestBackend one_{"one", test::BackendMode::kEcho, "127.0.0.2", backend_port_};
  test::TestBackend two_{"two", test::BackendMode::kEcho, "127.0.0.3", backend_port_};
};

TEST_F(SharedRegistrySecurityTest, NibsWithTheCertificateAndPasswordShareBackends) {
  Nib a, b;
  start(a, "a", "nib-password");
  start(b, "b", "nib-password");
  ASSERT_TRUE(test::wait_until([&] { return registry(a).connected() && registry(b).connected(); }, 15s))
      << registry(a).last_error() << "\n" << a.process->output();
  grpc::Status s = add(a, two_.address());
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(test::wait_until([&] { return backends(b) == 2; }, 5s)) << b.process->output();
  // What nib wrote is under its prefix, readable by root.
  auto keys = etcd_.etcdctl({"get", "/nib-test/", "--prefix", "--keys-only"});
  ASSERT_TRUE(keys.ok()) << keys.status().message();
  EXPECT_NE(keys->find("/nib-test/services/web/backends/" + two_.address().to_string()), std::string::npos) << *keys;
}

TEST_F(SharedRegistrySecurityTest, AWrongPasswordOrNoClientCertificateServesButRefusesChanges) {
  Nib wrong, nocert;
  start(wrong, "wrong", "not-the-password");
  start(nocert, "nocert", "nib-password", /*client_cert=*/false);
  for (Nib* n : {&wrong, &nocert}) {
    const v1::Registry r = registry(*n);
    EXPECT_FALSE(r.connected());
    EXPECT_FALSE(r.last_error().empty());
    grpc::Status s = add(*n, two_.address());
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
    auto who = test::who_serves(*SocketAddress::from_ip("127.0.0.1", n->lb_port));
    ASSERT_TRUE(who.ok()) << who.status().message();
    EXPECT_EQ(*who, "one");
  }
  EXPECT_NE(registry(wrong).last_error().find("authentication failed"), std::string::npos)
      << registry(wrong).last_error();
}

}  // namespace
}  // namespace nib
