// TLS termination (issue 13) through the real nib binary, with real clients:
// an OpenSSL client in the test (a distinct source address each), curl and
// `openssl s_client`. Clients speak TLS to nib; the echoing backend sees the
// plaintext. Bad clients cost their connection and are counted; bad
// certificates stop the start (exit 2) naming the file; a reload rotates the
// certificate for new clients and keeps the old one when the new is bad.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/socket.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

#include "tests/support/net_namespace.h"
#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_certificate.h"
#include "tests/support/test_client.h"

#ifndef NIBCTL_BINARY
#define NIBCTL_BINARY "nibctl"
#endif

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::TestBackend;
using test::TestCertificate;
using test::TestClient;

std::string at(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }
SocketAddress lb(uint16_t port) { return *SocketAddress::from_ip("127.0.0.1", port); }

struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

// A blocking TLS client over a TestClient's socket (bounded by its timeouts).
class TlsClient {
 public:
  struct Options {
    std::string source_ip = "127.0.0.1";
    std::string sni;
    const TestCertificate* client_cert = nullptr;
    std::string alpn;  // offered, in ALPN's wire format ("\x02h2\x08http/1.1")
  };
  // The handshake's failure comes back as an error with OpenSSL's reason.
  static Result<std::unique_ptr<TlsClient>> connect(uint16_t port, const Options& o) {
    auto tcp = TestClient::connect(lb(port), o.source_ip);
    if (!tcp.ok()) return tcp.status();
    auto c = std::unique_ptr<TlsClient>(new TlsClient(std::move(*tcp)));
    timeval tv{10, 0};  // every read and write is bounded
    ::setsockopt(c->tcp_.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(c->tcp_.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    c->ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (o.client_cert) load_identity(c->ctx_.get(), *o.client_cert);
    c->ssl_.reset(SSL_new(c->ctx_.get()));
    SSL_set_fd(c->ssl_.get(), c->tcp_.fd());
    if (!o.sni.empty()) SSL_set_tlsext_host_name(c->ssl_.get(), o.sni.c_str());
    if (!o.alpn.empty()) {
      SSL_set_alpn_protos(c->ssl_.get(), reinterpret_cast<const unsigned char*>(o.alpn.data()),
                          static_cast<unsigned>(o.alpn.size()));
    }
    if (SSL_connect(c->ssl_.get()) != 1) return Status::unavailable("handshake failed: " + error_text());
    return c;
  }

  Status write(std::string_view data) {
    if (SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size())) != static_cast<int>(data.size())) {
      return Status::unavailable("write: " + error_text());
    }
    return {};
  }
  Result<std::string> read_exact(size_t n) {
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
      const int r = SSL_read(ssl_.get(), out.data() + got, static_cast<int>(n - got));
      if (r <= 0) return Status::unavailable("read after " + std::to_string(got) + " bytes: " + error_text());
      got += static_cast<size_t>(r);
    }
    return out;
  }
  // Reads until the stream ends; true when it ended (close_notify or FIN), not timed out.
  bool read_until_closed() {
    char buf[4096];
    for (int i = 0; i < 1000; ++i) {
      if (SSL_read(ssl_.get(), buf, sizeof buf) <= 0) {
        const int err = SSL_get_error(ssl_.get(), 0);
        return err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL || err == SSL_ERROR_SSL;
      }
    }
    return false;
  }
  // The protocol agreed by ALPN, or empty.
  std::string alpn() const {
    const unsigned char* p = nullptr;
    unsigned n = 0;
    SSL_get0_alpn_selected(ssl_.get(), &p, &n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  // The certificate nib presented: its subject's common name.
  std::string peer_common_name() const {
    std::unique_ptr<X509, void (*)(X509*)> cert(SSL_get1_peer_certificate(ssl_.get()), X509_free);
    if (!cert) return "";
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn);
    return cn;
  }

 private:
  explicit TlsClient(TestClient tcp) : tcp_(std::move(tcp)) {}
  static void load_identity(SSL_CTX* ctx, const TestCertificate& c) {
    std::unique_ptr<BIO, int (*)(BIO*)> cb(BIO_new_mem_buf(c.cert_pem.data(), static_cast<int>(c.cert_pem.size())),
                                           BIO_free);
    std::unique_ptr<BIO, int (*)(BIO*)> kb(BIO_new_mem_buf(c.key_pem.data(), static_cast<int>(c.key_pem.size())),
                                           BIO_free);
    X509* x = PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr);
    EVP_PKEY* k = PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr);
    SSL_CTX_use_certificate(ctx, x);
    SSL_CTX_use_PrivateKey(ctx, k);
    X509_free(x);
    EVP_PKEY_free(k);
  }
  static std::string error_text() {
    char buf[256] = "no OpenSSL error queued";
    if (unsigned long e = ERR_get_error(); e != 0) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
  }

  TestClient tcp_;
  std::unique_ptr<SSL_CTX, SslFree> ctx_;
  std::unique_ptr<SSL, SslFree> ssl_;
};

// A client tool's output, bounded by timeout(1); an error (with the output)
// when it fails.
Result<std::string> run_client(const std::string& command) { return test::command_output("timeout 30 " + command); }

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built");
    ::signal(SIGPIPE, SIG_IGN);  // a write to a connection nib closed is an error here, not a death
    write_file(cert_, server_.cert_pem);
    write_file(key_, server_.key_pem);
  }
  std::unique_ptr<test::NibProcess> start(std::vector<std::string> args) {
    return test::start_foreground(std::move(args), dir_.file("nib.pid"));
  }
  // nib with a YAML file: one TLS service `tls` (its `tls:` mapping given) on `port_`.
  std::unique_ptr<test::NibProcess> start_yaml(uint16_t backend, const std::string& tls) {
    write_file(config_, "services:\n  - name: web\n    listen: " + at(port_) + "\n    backends: [\"" + at(backend) +
                            "\"]\n    tls: " + tls + "\n");
    return start({"--config", config_, "--admin-http", at(admin_port_), "--admin-grpc", at(test::free_port())});
  }
  double metric(const std::string& series) { return test::scrape_metric(lb(admin_port_), series); }
  // Waits (bounded) until `series` reads `want`.
  bool metric_reaches(const std::string& series, double want) {
    return test::wait_until([&] { return metric(series) == want; }, 10s);
  }

  test::TempDir dir_;
  const TestCertificate server_ = test::make_self_signed_certificate("nib-test-a");
  const std::string cert_ = dir_.file("cert.pem");
  const std::string key_ = dir_.file("key.pem");
  const std::string config_ = dir_.file("nib.yaml");
  const uint16_t port_ = test::free_port();
  const uint16_t admin_port_ = test::free_port();
};

TEST_F(TlsTest, PenOptionsTerminateTlsAndTheBackendSeesPlaintext) {
  TestBackend b0("b0");
  auto nib = start({"-E", cert_, "-K", key_, "--admin-http", at(admin_port_), at(port_), at(b0.port())});
  ASSERT_TRUE(nib);
  auto c = TlsClient::connect(port_, {.source_ip = "127.0.0.5"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ((*c)->peer_common_name(), "nib-test-a");
  // Larger than a TLS record and than one relay buffer, both ways.
  const std::string data = test::random_bytes(300 * 1024, 3);
  ASSERT_TRUE((*c)->write(data).ok());
  auto echoed = (*c)->read_exact(3 + data.size());
  ASSERT_TRUE(echoed.ok()) << echoed.status().message();
  EXPECT_TRUE(*echoed == "b0\n" + data) << "the bytes differ";
  EXPECT_TRUE(metric_reaches("nib_tls_handshakes_total{service=\"default\",result=\"ok\"}", 1));
  EXPECT_GT(metric("nib_tls_certificate_expiry_timestamp_seconds{service=\"default\"}"), 1e9);
  // The admin views say so too.
  auto view = test::http_request(lb(admin_port_), "GET", "/api/v1/services/default");
  ASSERT_TRUE(view.ok()) << view.status().message();
  EXPECT_NE(view->body.find("\"tls\":true"), std::string::npos) << view->body;
  EXPECT_NE(view->body.find("\"tls_handshakes\":1"), std::string::npos) << view->body;
}

TEST_F(TlsTest, CurlGetsItsAnswerOverHttps) {
  TestBackend b0("b0", test::BackendMode::kHttp);
  auto nib = start({"-H", "-E", cert_, "-K", key_, at(port_), at(b0.port())});
  ASSERT_TRUE(nib);
  // curl verifies nib's certificate against it (its own trust anchor), by name.
  const std::string port = std::to_string(port_);
  auto run = run_client("curl -sS --max-time 10 --cacert " + cert_ + " --resolve localhost:" + port +
                        ":127.0.0.1 https://localhost:" + port + "/a https://localhost:" + port + "/b");
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_EQ(*run, "b0\nb0\n");  // two requests on one kept-alive connection
}

TEST_F(TlsTest, XForwardedProtoSaysHttps) {
  TestBackend b0("b0");  // echoes the request as the server saw it
  auto nib = start({"-H", "-E", cert_, "-K", key_, at(port_), at(b0.port())});
  ASSERT_TRUE(nib);
  auto c = TlsClient::connect(port_, {.source_ip = "127.0.0.6"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE((*c)->write("GET / HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  const std::string want =
      "b0\nGET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 127.0.0.6\r\nX-Forwarded-Proto: https\r\n\r\n";
  auto got = (*c)->read_exact(want.size());
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(*got, want);
}

TEST_F(TlsTest, OpensslSClientSeesTheChosenSniCertificate) {
  TestBackend b0("b0");
  const std::string sni = dir_.file("sni");
  ASSERT_EQ(::mkdir(sni.c_str(), 0700), 0);
  const TestCertificate other = test::make_self_signed_certificate("shop.example");
  write_file(sni + "/shop.example.crt", other.cert_pem);
  write_file(sni + "/shop.example.key", other.key_pem);
  auto nib = start({"-E", cert_, "-K", key_, "-o", "ssl_sni_path " + sni, at(port_), at(b0.port())});
  ASSERT_TRUE(nib);
  for (const auto& [name, want] : {std::pair{"shop.example", "CN = shop.example"}, {"other.example", "CN = nib-test-a"}}) {
    auto run = run_client("openssl s_client -connect " + at(port_) + " -servername " + name + " </dev/null");
    ASSERT_TRUE(run.ok()) << run.status().message();
    EXPECT_NE(run->find(std::string("subject=") + want), std::string::npos) << name << ":\n" << *run;
  }
}

TEST_F(TlsTest, ARequiredClientCertificateIsChecked) {
  TestBackend b0("b0");
  const TestCertificate ca = test::make_self_signed_certificate("client-ca");
  const std::string ca_file = dir_.file("ca.pem");
  write_file(ca_file, ca.cert_pem);
  auto nib = start({"-E", cert_, "-K", key_, "-G", ca_file, "-R", "--admin-http", at(admin_port_), at(port_),
                    at(b0.port())});
  ASSERT_TRUE(nib);
  {  // Without a certificate: refused (TLS 1.3 says so at the first read).
    auto c = TlsClient::connect(port_, {});
    if (c.ok()) {
      EXPECT_FALSE((*c)->write("x").ok() && (*c)->read_exact(3).ok());
    }
  }
  {  // A stranger's certificate: refused.
    const TestCertificate stranger = test::make_self_signed_certificate("stranger");
    auto c = TlsClient::connect(port_, {.client_cert = &stranger});
    if (c.ok()) {
      EXPECT_FALSE((*c)->write("x").ok() && (*c)->read_exact(3).ok());
    }
  }
  EXPECT_TRUE(metric_reaches("nib_tls_handshakes_total{service=\"default\",result=\"failed\"}", 2));
  const TestCertificate signed_cert = test::make_ca_signed_certificate(ca, "client-1");
  auto c = TlsClient::connect(port_, {.client_cert = &signed_cert});
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE((*c)->write("hi").ok());
  auto got = (*c)->read_exact(5);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(*got, "b0\nhi");
}

TEST_F(TlsTest, GarbageAndStalledClientsCostTheirConnectionOnly) {
  TestBackend b0("b0");
  auto nib = start_yaml(b0.port(), "{cert: " + cert_ + ", key: " + key_ + ", handshake_timeout: 1}");
  ASSERT_TRUE(nib);
  {  // Plaintext HTTP to a TLS port: closed at once, counted.
    auto c = TestClient::connect(lb(port_), "127.0.0.7");
    ASSERT_TRUE(c.ok());
    auto closed = c->write_all_and_read_until_eof("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_TRUE(closed.ok() || true);  // closed either way; what nib counts is the point
  }
  EXPECT_TRUE(metric_reaches("nib_tls_handshakes_total{service=\"web\",result=\"failed\"}", 1));
  // A client that connects and says nothing: closed by the handshake timeout.
  auto stalled = TestClient::connect(lb(port_), "127.0.0.8", 10s);
  ASSERT_TRUE(stalled.ok());
  EXPECT_TRUE(metric_reaches("nib_tls_handshakes_total{service=\"web\",result=\"timeout\"}", 1));
  EXPECT_TRUE(stalled->read_until_eof().ok());
  // Meanwhile and after, real clients are served; no backend was blamed.
  auto c = TlsClient::connect(port_, {.source_ip = "127.0.0.9"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE((*c)->write("ok").ok());
  auto got = (*c)->read_exact(5);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(*got, "b0\nok");
  EXPECT_EQ(metric("nib_backend_connect_failures_total{service=\"web\",backend=\"1\",address=\"" + at(b0.port()) +
                   "\"}"),
            0);
}

TEST_F(TlsTest, BadCertificatesStopTheStartNamingTheFile) {
  const TestCertificate expired = test::make_expired_certificate();
  const std::string expired_file = dir_.file("expired.pem");
  write_file(expired_file, expired.cert_pem + expired.key_pem);
  const TestCertificate other = test::make_self_signed_certificate("other");
  const std::string other_key = dir_.file("other-key.pem");
  write_file(other_key, other.key_pem);
  const std::string missing = dir_.file("missing.pem");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-E", missing}, missing},
      {{"-E", expired_file}, expired_file},
      {{"-E", cert_, "-K", other_key}, other_key},
      {{"-E", cert_, "-K", key_, "-R"}, "client"},
  };
  for (const auto& [tls, named] : cases) {
    for (bool check : {true, false}) {
      std::vector<std::string> args = tls;
      if (check) args.insert(args.begin(), "--check");
      args.insert(args.end(), {"-f", at(port_), "127.0.0.1:9"});
      auto run = test::run_nib(args);
      EXPECT_EQ(run.exit_code, 2) << run.output;
      EXPECT_NE(run.output.find(named), std::string::npos) << run.output;
    }
  }
}

TEST_F(TlsTest, AReloadRotatesTheCertificateAndKeepsItWhenTheNewOneIsBad) {
  TestBackend b0("b0");
  auto nib = start_yaml(b0.port(), "{cert: " + cert_ + ", key: " + key_ + "}");
  ASSERT_TRUE(nib);
  auto before = TlsClient::connect(port_, {});
  ASSERT_TRUE(before.ok()) << before.status().message();
  EXPECT_EQ((*before)->peer_common_name(), "nib-test-a");
  ASSERT_TRUE((*before)->read_exact(3).ok());
  const TestCertificate next = test::make_self_signed_certificate("nib-test-b");
  write_file(cert_, next.cert_pem);
  write_file(key_, next.key_pem);
  ASSERT_TRUE(nib->signal(SIGHUP).ok());
  ASSERT_TRUE(nib->wait_for_output("reloaded", 10s)) << nib->output();
  auto after = TlsClient::connect(port_, {});
  ASSERT_TRUE(after.ok()) << after.status().message();
  EXPECT_EQ((*after)->peer_common_name(), "nib-test-b");
  // The connection from before the reload goes on with its session.
  ASSERT_TRUE((*before)->write("still").ok());
  auto got = (*before)->read_exact(5);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(*got, "still");
  // A bad certificate at the next reload: the running one stays, the log says why.
  write_file(cert_, "not a certificate\n");
  ASSERT_TRUE(nib->signal(SIGHUP).ok());
  ASSERT_TRUE(nib->wait_for_output("keeping the certificates in use", 10s)) << nib->output();
  auto kept = TlsClient::connect(port_, {});
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  EXPECT_EQ((*kept)->peer_common_name(), "nib-test-b");
}

TEST_F(TlsTest, WatchedFilesRotateWithoutASignal) {
  // As a Kubernetes Secret volume changes under a running pod.
  TestBackend b0("b0");
  auto nib = start_yaml(b0.port(), "{cert: " + cert_ + ", key: " + key_ + ", watch_interval: 0.1}");
  ASSERT_TRUE(nib);
  auto cn_now = [&] {
    auto c = TlsClient::connect(port_, {});
    return c.ok() ? (*c)->peer_common_name() : "connect: " + c.status().message();
  };
  EXPECT_EQ(cn_now(), "nib-test-a");
  const TestCertificate next = test::make_self_signed_certificate("nib-test-b");
  // The key first, then the certificate: in between the pair does not match,
  // which must keep the running certificate (and say so), not fail clients.
  write_file(key_, next.key_pem);
  ASSERT_TRUE(nib->wait_for_output("keeping the certificates in use", 10s)) << nib->output();
  EXPECT_EQ(cn_now(), "nib-test-a");
  write_file(cert_, next.cert_pem);
  ASSERT_TRUE(nib->wait_for_output("new clients get the new certificates", 10s)) << nib->output();
  EXPECT_EQ(cn_now(), "nib-test-b");
}

// TLS settings changed at runtime: REST (GET and PUT .../tls, POST
// .../tls/reload), the control port's ssl_* words with Debian's penctl, and
// --state keeping the change across a restart. A file that does not load is
// a 400 naming it, and the certificate in use stays.
TEST_F(TlsTest, TheAdminApiChangesTheSettingsAndTheStateFileKeepsThem) {
  static constexpr const char* kPenctl = "/usr/bin/penctl";
  NIB_REQUIRE(::access(kPenctl, X_OK) == 0, "no /usr/bin/penctl (Debian's pen: scripts/install-deps.sh --test)");
  TestBackend b0("b0");
  const std::string control = at(test::free_port());
  write_file(config_, "admin:\n  penctl_listen: " + control + "\nservices:\n  - name: web\n    listen: " + at(port_) +
                          "\n    backends: [\"" + at(b0.port()) + "\"]\n    tls: {cert: " + cert_ + ", key: " + key_ +
                          "}\n");
  const uint16_t grpc_port = test::free_port();
  const std::vector<std::string> args = {"--config", config_, "--admin-http", at(admin_port_), "--admin-grpc",
                                         at(grpc_port), "--state", dir_.file("nib.state"), "--allow-root-control"};
  auto nib = start(args);
  ASSERT_TRUE(nib);
  const SocketAddress admin = lb(admin_port_);
  auto cn_now = [&] {
    auto c = TlsClient::connect(port_, {});
    return c.ok() ? (*c)->peer_common_name() : "connect: " + c.status().message();
  };
  auto get = test::http_request(admin, "GET", "/api/v1/services/web/tls");
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->status, 200) << get->body;
  EXPECT_NE(get->body.find("\"cert_file\":\"" + cert_ + "\""), std::string::npos) << get->body;

  // A new pair by PUT: new clients get it.
  const TestCertificate b = test::make_self_signed_certificate("nib-test-b");
  const std::string cert_b = dir_.file("b.crt"), key_b = dir_.file("b.key");
  write_file(cert_b, b.cert_pem);
  write_file(key_b, b.key_pem);
  auto put = test::http_request(admin, "PUT", "/api/v1/services/web/tls",
                                "{\"cert_file\":\"" + cert_b + "\", \"key_file\": \"" + key_b + "\"}");
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(put->status, 200) << put->body;
  EXPECT_EQ(cn_now(), "nib-test-b");

  // A file that does not load: 400 naming it; nothing changes.
  auto bad = test::http_request(admin, "PUT", "/api/v1/services/web/tls",
                                "{\"cert_file\":\"" + dir_.file("missing.crt") + "\"}");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400) << bad->body;
  EXPECT_NE(bad->body.find("missing.crt"), std::string::npos) << bad->body;
  auto unknown = test::http_request(admin, "PUT", "/api/v1/services/web/tls", "{\"min_version\": \"1.1\"}");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 400) << unknown->body;
  EXPECT_EQ(cn_now(), "nib-test-b");

  // The files rewritten in place, then read again by POST .../tls/reload.
  const TestCertificate c = test::make_self_signed_certificate("nib-test-c");
  write_file(cert_b, c.cert_pem);
  write_file(key_b, c.key_pem);
  auto reload = test::http_request(admin, "POST", "/api/v1/services/web/tls/reload");
  ASSERT_TRUE(reload.ok());
  EXPECT_EQ(reload->status, 200) << reload->body;
  EXPECT_EQ(cn_now(), "nib-test-c");

  // Pen's words on the control port, as a penctl script sends them.
  auto penctl = [&](std::vector<std::string> words) {
    words.insert(words.begin(), control);
    auto p = test::NibProcess::start_program(kPenctl, words);
    if (!p.ok()) return std::string("cannot run penctl: ") + p.status().message();
    const std::optional<int> code = (*p)->wait_exit(10s);
    (*p)->wait_output_closed(5s);
    return std::to_string(code.value_or(-1)) + ":" + (*p)->output();
  };
  EXPECT_EQ(penctl({"ssl_ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"}), "0:");
  EXPECT_EQ(penctl({"ssl_ciphers"}), "0:ECDHE-ECDSA-AES128-GCM-SHA256\n");
  EXPECT_EQ(penctl({"ssl_option", "cipher_server_preference"}), "0:");
  EXPECT_NE(penctl({"ssl_option", "no_such_option"}).find("expected one of"), std::string::npos);
  const std::string sni = penctl({"ssl_sni_path", dir_.file("no-such-dir")});
  EXPECT_NE(sni.find("no-such-dir"), std::string::npos) << sni;
  get = test::http_request(admin, "GET", "/api/v1/services/web/tls");
  ASSERT_TRUE(get.ok());
  EXPECT_NE(get->body.find("\"ciphers\":\"ECDHE-ECDSA-AES128-GCM-SHA256\""), std::string::npos) << get->body;
  EXPECT_NE(get->body.find("\"prefer_server_ciphers\":true"), std::string::npos) << get->body;
  EXPECT_EQ(get->body.find("no-such-dir"), std::string::npos) << get->body;

  // nibctl over gRPC: what is in force, and a change.
  auto nibctl = [&](std::vector<std::string> words) {
    words.insert(words.begin(), {"--addr", at(grpc_port)});
    auto p = test::NibProcess::start_program(NIBCTL_BINARY, words);
    if (!p.ok()) return std::string("cannot run nibctl: ") + p.status().message();
    const std::optional<int> code = (*p)->wait_exit(20s);
    (*p)->wait_output_closed(5s);
    return std::to_string(code.value_or(-9)) + ":" + (*p)->stdout_output() + (*p)->stderr_output();
  };
  std::string shown = nibctl({"tls"});
  EXPECT_EQ(shown.rfind("0:certificate      " + cert_b + "\n", 0), 0u) << shown;
  EXPECT_NE(shown.find("ECDHE-ECDSA-AES128-GCM-SHA256 (nib's order)"), std::string::npos) << shown;
  shown = nibctl({"tls", "set", "--alpn", "h2,http/1.1"});
  EXPECT_NE(shown.find("alpn             h2,http/1.1\n"), std::string::npos) << shown;
  shown = nibctl({"tls", "set", "--min-version", "1.1"});
  EXPECT_EQ(shown.rfind("1:", 0), 0u) << shown;
  EXPECT_NE(shown.find("min_version"), std::string::npos) << shown;

  // A restart with --state: the settings changed through the API are in force.
  nib.reset();
  nib = test::start_foreground(args, dir_.file("restarted.pid"));
  ASSERT_TRUE(nib);
  EXPECT_EQ(cn_now(), "nib-test-c") << nib->output();
  get = test::http_request(admin, "GET", "/api/v1/services/web/tls");
  ASSERT_TRUE(get.ok());
  EXPECT_NE(get->body.find("\"cert_file\":\"" + cert_b + "\""), std::string::npos) << get->body;
  EXPECT_NE(get->body.find("\"ciphers\":\"ECDHE-ECDSA-AES128-GCM-SHA256\""), std::string::npos) << get->body;
  auto h2 = TlsClient::connect(port_, {.alpn = std::string("\x02h2", 3)});
  ASSERT_TRUE(h2.ok()) << h2.status().message();
  EXPECT_EQ((*h2)->alpn(), "h2");
}

TEST_F(TlsTest, AThousandConcurrentHandshakes) {
  TestBackend b0("b0");
  auto nib = start({"-E", cert_, "-K", key_, "--admin-http", at(admin_port_), at(port_), at(b0.port())});
  ASSERT_TRUE(nib);
  // 1,000 TCP connections open at once from 250 sources, then their
  // handshakes, each then relaying: all of them are in flight together.
  constexpr int kClients = 1000;
  std::vector<std::unique_ptr<TlsClient>> clients;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::atomic<int> failed{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kClients; i += 8) {
        auto c = TlsClient::connect(port_, {.source_ip = "127.0.1." + std::to_string(1 + i % 250)});
        if (!c.ok() || !(*c)->read_exact(3).ok()) {
          ++failed;
          continue;
        }
        std::lock_guard lock(mu);
        clients.push_back(std::move(*c));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(clients.size(), static_cast<size_t>(kClients));
  EXPECT_TRUE(metric_reaches("nib_tls_handshakes_total{service=\"default\",result=\"ok\"}", kClients));
  EXPECT_EQ(metric("nib_service_active_connections{service=\"default\"}"), kClients);
}

// ---- TLS toward the backends (backend_tls): nib re-encrypts to backends
// that are themselves nib instances terminating TLS in front of an echo
// server (real parts on both hops).
class BackendTlsTest : public TlsTest {
 protected:
  // A TLS-terminating nib on its own port in front of `backend`, with the
  // certificate `c`.
  uint16_t start_tls_backend(const TestCertificate& c, uint16_t backend) {
    const std::string name = "tls-backend-" + std::to_string(tls_backends_.size());
    write_file(dir_.file(name + ".crt"), c.cert_pem);
    write_file(dir_.file(name + ".key"), c.key_pem);
    const uint16_t port = test::free_port();
    tls_backends_.push_back(test::start_foreground(
        {"-E", dir_.file(name + ".crt"), "-K", dir_.file(name + ".key"), at(port), at(backend)},
        dir_.file(name + ".pid")));
    return tls_backends_.back() ? port : 0;
  }
  // The nib under test: plain toward clients, `backend_tls` toward `backends`.
  std::unique_ptr<test::NibProcess> start_front(const std::vector<uint16_t>& backends, const std::string& backend_tls,
                                                const std::string& extra = "") {
    std::string list;
    for (uint16_t b : backends) list += (list.empty() ? "\"" : ", \"") + at(b) + "\"";
    write_file(config_, "services:\n  - name: web\n    listen: " + at(port_) + "\n    backends: [" + list +
                            "]\n    policy: {mode: roundrobin}\n    backend_tls: " + backend_tls + "\n" + extra);
    return start({"--config", config_, "--admin-http", at(admin_port_), "--admin-grpc", at(test::free_port())});
  }
  // A plain client's echo through nib from `source`: "NAME\n" + data.
  Result<std::string> echo(const std::string& source, const std::string& data) {
    auto c = TestClient::connect(lb(port_), source);
    if (!c.ok()) return c.status();
    if (Status st = c->write_all(data); !st.ok()) return st;
    auto name = c->read_line();
    if (!name.ok()) return name.status();
    auto rest = c->read_exact(data.size());
    if (!rest.ok()) return rest.status();
    return *name + "\n" + *rest;
  }

  std::vector<std::unique_ptr<test::NibProcess>> tls_backends_;
};

TEST_F(BackendTlsTest, ReEncryptsToAVerifiedBackend) {
  TestBackend b0("b0");
  const uint16_t tls_b0 = start_tls_backend(server_, b0.port());
  ASSERT_NE(tls_b0, 0);
  // Verified against the backend's own certificate, by its IP address (no server_name).
  auto nib = start_front({tls_b0}, "{ca: " + cert_ + "}");
  ASSERT_TRUE(nib);
  const std::string data = test::random_bytes(200 * 1024, 5);  // many records each way
  auto got = echo("127.0.0.21", data);
  ASSERT_TRUE(got.ok()) << got.status().message() << "\n" << nib->output();
  EXPECT_TRUE(*got == "b0\n" + data) << "the bytes differ";
  EXPECT_TRUE(metric_reaches("nib_backend_tls_handshakes_total{service=\"web\",result=\"ok\"}", 1));
  auto view = test::http_request(lb(admin_port_), "GET", "/api/v1/services/web");
  ASSERT_TRUE(view.ok()) << view.status().message();
  EXPECT_NE(view->body.find("\"backend_tls\":true"), std::string::npos) << view->body;
}

TEST_F(BackendTlsTest, ABackendWhoseCertificateDoesNotVerifyIsFailedOverAndCounted) {
  TestBackend b0("b0");
  TestBackend b1("b1");
  const uint16_t trusted = start_tls_backend(server_, b0.port());
  const uint16_t rogue = start_tls_backend(test::make_self_signed_certificate("rogue"), b1.port());
  ASSERT_NE(trusted, 0);
  ASSERT_NE(rogue, 0);
  auto nib = start_front({rogue, trusted}, "{ca: " + cert_ + ", server_name: localhost}");
  ASSERT_TRUE(nib);
  // Round robin offers the rogue one at least once in two clients; each
  // client fails over to the trusted one and is served by it.
  for (const char* source : {"127.0.0.22", "127.0.0.23", "127.0.0.24"}) {
    auto got = echo(source, "ping");
    ASSERT_TRUE(got.ok()) << source << ": " << got.status().message() << "\n" << nib->output();
    EXPECT_EQ(*got, "b0\nping");
  }
  EXPECT_TRUE(metric_reaches("nib_backend_tls_handshakes_total{service=\"web\",result=\"failed\"}", 1));
  EXPECT_TRUE(nib->wait_for_output("failed the TLS handshake", 10s)) << nib->output();
}

TEST_F(BackendTlsTest, TheServerNameIsVerified) {
  TestBackend b0("b0");
  const uint16_t tls_b0 = start_tls_backend(server_, b0.port());
  ASSERT_NE(tls_b0, 0);
  auto nib = start_front({tls_b0}, "{ca: " + cert_ + ", server_name: other.example}");
  ASSERT_TRUE(nib);
  auto got = echo("127.0.0.25", "ping");
  EXPECT_FALSE(got.ok()) << *got;  // no backend it can verify: the client is closed
  EXPECT_TRUE(metric_reaches("nib_backend_tls_handshakes_total{service=\"web\",result=\"failed\"}", 1));
  EXPECT_TRUE(nib->wait_for_output("other.example", 10s)) << nib->output();
}

TEST_F(BackendTlsTest, BothHopsWithAlpn) {
  TestBackend b0("b0");
  const uint16_t tls_b0 = start_tls_backend(server_, b0.port());
  ASSERT_NE(tls_b0, 0);
  auto nib = start_front({tls_b0}, "{ca: " + cert_ + "}",
                         "    tls: {cert: " + cert_ + ", key: " + key_ + ", alpn: [h2, http/1.1]}\n");
  ASSERT_TRUE(nib);
  auto c = TlsClient::connect(port_, {.source_ip = "127.0.0.26", .alpn = std::string("\x08http/1.1\x02h2", 12)});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ((*c)->alpn(), "h2");  // nib's preference among what the client offers
  ASSERT_TRUE((*c)->write("both").ok());
  auto got = (*c)->read_exact(7);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(*got, "b0\nboth");
  EXPECT_TRUE(metric_reaches("nib_backend_tls_handshakes_total{service=\"web\",result=\"ok\"}", 1));
}

}  // namespace
}  // namespace nib
