#include "server/tls/openssl_connector.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <utility>

#include "dataplane/base/unique_fd.h"
#include "server/tls/openssl_session.h"
#include "server/tls/openssl_terminator.h"
#include "tests/support/tcp_pair.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_certificate.h"

namespace nib {
namespace {

using test::TempFile;
using test::TestCertificate;
using test::TestCertificateFiles;

// Each round either makes progress or waits for a socket (poll with a
// timeout, never a sleep); a round that times out ends the loop.
constexpr int kMaxRounds = 20000;
constexpr int kPollMs = 2000;

// The connector's session on a TcpPair's `client` (nib toward a backend),
// the terminator's on `server` (the backend).
using test::TcpPair;

bool pending(TlsWait w) { return w == TlsWait::kRead || w == TlsWait::kWrite; }

short events(TlsWait w) { return w == TlsWait::kWrite ? POLLOUT : POLLIN; }

// The CA, a backend certificate it signed (SANs: backend.example, localhost,
// 127.0.0.1), and a client certificate it signed, made once.
struct Pki {
  TestCertificate ca = test::make_self_signed_certificate("test ca");
  TestCertificate backend = test::make_ca_signed_certificate(ca, "backend.example");
  TestCertificate client = test::make_ca_signed_certificate(ca, "nib client");
  TempFile ca_file{ca.cert_pem, ".pem"};
  TestCertificateFiles backend_files{backend};
  TestCertificateFiles client_files{client};
};

const Pki& pki() {
  static const Pki p;
  return p;
}

std::shared_ptr<const TlsTerminator> backend_terminator(TlsConfig config = {}) {
  config.cert_file = pki().backend_files.cert.path();
  config.key_file = pki().backend_files.key.path();
  auto made = make_tls_terminator(config);
  EXPECT_TRUE(made.ok()) << made.status().message();
  return made.ok() ? *made : nullptr;
}

BackendTlsConfig verified(std::string server_name = "backend.example") {
  BackendTlsConfig config;
  config.enabled = true;
  config.ca_file = pki().ca_file.path();
  config.server_name = std::move(server_name);
  return config;
}

std::shared_ptr<const TlsConnector> make(const BackendTlsConfig& config) {
  auto made = make_tls_connector(config);
  EXPECT_TRUE(made.ok()) << made.status().message();
  return made.ok() ? *made : nullptr;
}

SSL* ssl_of(TlsSession& session) { return dynamic_cast<tls::OpenSslSession&>(session).ssl(); }

// nib's client session toward a backend whose server session is a terminator's.
struct Hop {
  TcpPair sockets;
  std::unique_ptr<TlsSession> nib;
  std::unique_ptr<TlsSession> backend;

  Hop(const TlsConnector& connector, const TlsTerminator& terminator, std::string_view peer_ip = "127.0.0.1",
      std::string_view alpn = "")
      : nib(connector.connect(sockets.client.get(), peer_ip, alpn)), backend(terminator.accept(sockets.server.get())) {
    EXPECT_NE(nib, nullptr);
    EXPECT_NE(backend, nullptr);
  }

  // Both handshakes until both are done, or one failed and the other has
  // nothing more to read; {nib's verdict, the backend's}.
  std::pair<TlsWait, TlsWait> handshake() {
    TlsWait c = TlsWait::kWrite;
    TlsWait s = TlsWait::kRead;
    for (int round = 0; round < kMaxRounds; ++round) {
      if (pending(c)) c = nib->handshake();
      if (pending(s)) s = backend->handshake();
      if (!pending(c) && !pending(s)) return {c, s};
      pollfd fds[2] = {{sockets.client.get(), pending(c) ? events(c) : short{0}, 0},
                       {sockets.server.get(), pending(s) ? events(s) : short{0}, 0}};
      if (::poll(fds, 2, kPollMs) == 0) {
        // One side failed and the other waits for bytes that never come.
        if (!pending(c) || !pending(s)) return {c, s};
        break;
      }
    }
    ADD_FAILURE() << "the handshake did not finish";
    return {TlsWait::kFailed, TlsWait::kFailed};
  }

  // `text` from nib to the backend and back, which also lets nib's session
  // read what the backend sent after its handshake (TLS 1.3 tickets).
  void echo(const std::string& text) {
    ASSERT_EQ(nib->write(text.data(), text.size()).bytes, text.size());
    EXPECT_EQ(read_all(*backend, sockets.server.get(), text.size()), text);
    ASSERT_EQ(backend->write(text.data(), text.size()).bytes, text.size());
    EXPECT_EQ(read_all(*nib, sockets.client.get(), text.size()), text);
  }

  static std::string read_all(TlsSession& session, int fd, size_t n) {
    std::string out;
    char buf[4096];
    for (int round = 0; round < kMaxRounds && out.size() < n; ++round) {
      TlsIo io = session.read(buf, sizeof buf);
      out.append(buf, io.bytes);
      if (io.wait != TlsWait::kRead) break;
      if (out.size() >= n) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, kPollMs) == 0) break;
    }
    return out;
  }
};

TEST(OpenSslConnectorTest, VerifiesTheServerNameAgainstTheCa) {
  auto terminator = backend_terminator();
  auto connector = make(verified());
  Hop hop(*connector, *terminator);
  auto [nib, backend] = hop.handshake();
  ASSERT_EQ(nib, TlsWait::kNone) << hop.nib->failure();
  ASSERT_EQ(backend, TlsWait::kNone) << hop.backend->failure();
  hop.echo("hello backend");
  // The server name went out as SNI.
  EXPECT_STREQ(SSL_get_servername(ssl_of(*hop.backend), TLSEXT_NAMETYPE_host_name), "backend.example");
  EXPECT_STREQ(hop.nib->version(), "TLSv1.3");
}

TEST(OpenSslConnectorTest, AWrongNameFailsWithTheReasonAndTheName) {
  auto terminator = backend_terminator();
  auto connector = make(verified("other.example"));
  Hop hop(*connector, *terminator);
  auto [nib, backend] = hop.handshake();
  EXPECT_EQ(nib, TlsWait::kFailed);
  const std::string why = hop.nib->failure();
  EXPECT_NE(why.find("does not verify: hostname mismatch"), std::string::npos) << why;
  EXPECT_NE(why.find("other.example"), std::string::npos) << why;
  EXPECT_NE(backend, TlsWait::kNone);
}

TEST(OpenSslConnectorTest, AnUntrustedCaFails) {
  const TestCertificate other_ca = test::make_self_signed_certificate("other ca");
  TempFile other_ca_file(other_ca.cert_pem, ".pem");
  BackendTlsConfig config = verified();
  config.ca_file = other_ca_file.path();
  auto terminator = backend_terminator();
  auto connector = make(config);
  Hop hop(*connector, *terminator);
  EXPECT_EQ(hop.handshake().first, TlsWait::kFailed);
  const std::string why = hop.nib->failure();
  EXPECT_NE(why.find("the backend's certificate does not verify: unable to get local issuer certificate"),
            std::string::npos)
      << why;
}

TEST(OpenSslConnectorTest, VerifyOffAcceptsAnyCertificate) {
  BackendTlsConfig config;
  config.enabled = true;
  config.verify = false;
  config.server_name = "other.example";  // still sent as SNI, not checked
  auto terminator = backend_terminator();
  auto connector = make(config);
  Hop hop(*connector, *terminator, "10.0.0.1");
  auto [nib, backend] = hop.handshake();
  ASSERT_EQ(nib, TlsWait::kNone) << hop.nib->failure();
  ASSERT_EQ(backend, TlsWait::kNone) << hop.backend->failure();
  hop.echo("unverified");
}

TEST(OpenSslConnectorTest, WithoutAServerNameTheBackendsIpIsVerified) {
  auto terminator = backend_terminator();
  auto connector = make(verified(""));
  {
    Hop hop(*connector, *terminator, "127.0.0.1");
    auto [nib, backend] = hop.handshake();
    ASSERT_EQ(nib, TlsWait::kNone) << hop.nib->failure();
    EXPECT_EQ(SSL_get_servername(ssl_of(*hop.backend), TLSEXT_NAMETYPE_host_name), nullptr);  // no SNI
  }
  Hop hop(*connector, *terminator, "127.0.0.2");
  EXPECT_EQ(hop.handshake().first, TlsWait::kFailed);
  const std::string why = hop.nib->failure();
  EXPECT_NE(why.find("IP address mismatch"), std::string::npos) << why;
  EXPECT_NE(why.find("127.0.0.2"), std::string::npos) << why;
}

TEST(OpenSslConnectorTest, PresentsItsClientCertificateToABackendThatRequiresOne) {
  TlsConfig backend_config;
  backend_config.client_auth = TlsClientAuth::kRequired;
  backend_config.ca_file = pki().ca_file.path();
  auto terminator = backend_terminator(backend_config);
  {
    auto connector = make(verified());  // no client certificate: refused
    Hop hop(*connector, *terminator);
    auto [nib, backend] = hop.handshake();
    EXPECT_EQ(backend, TlsWait::kFailed);
  }
  BackendTlsConfig config = verified();
  config.cert_file = pki().client_files.cert.path();
  config.key_file = pki().client_files.key.path();
  auto connector = make(config);
  Hop hop(*connector, *terminator);
  auto [nib, backend] = hop.handshake();
  ASSERT_EQ(backend, TlsWait::kNone) << hop.backend->failure();
  ASSERT_EQ(nib, TlsWait::kNone) << hop.nib->failure();
  hop.echo("with a client certificate");
  X509* peer = SSL_get0_peer_certificate(ssl_of(*hop.backend));
  ASSERT_NE(peer, nullptr);
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "nib client");
}

class ConnectorResumptionTest : public testing::TestWithParam<int> {};

TEST_P(ConnectorResumptionTest, ASecondConnectToTheSamePeerResumes) {
  auto terminator = backend_terminator();
  auto connector = make(verified());
  const auto& openssl = dynamic_cast<const tls::OpenSslConnector&>(*connector);
  // The backend's protocol, capped before nib's first handshake() call.
  auto cap = [](Hop& hop) { SSL_set_max_proto_version(ssl_of(*hop.nib), GetParam()); };
  {
    Hop first(*connector, *terminator);
    cap(first);
    ASSERT_EQ(first.handshake().first, TlsWait::kNone) << first.nib->failure();
    // TLS 1.2: the session is there once the handshake is; TLS 1.3: its
    // tickets arrive after it, read with the first bytes.
    first.echo("first");
    EXPECT_FALSE(SSL_session_reused(ssl_of(*first.nib)));
    // A connection that ends without close_notify leaves no session to resume.
    first.nib->shutdown();
  }
  EXPECT_EQ(openssl.cached_sessions(), 1u);
  {
    Hop second(*connector, *terminator);
    cap(second);
    ASSERT_EQ(second.handshake().first, TlsWait::kNone) << second.nib->failure();
    EXPECT_TRUE(SSL_session_reused(ssl_of(*second.nib)));
    EXPECT_EQ(SSL_version(ssl_of(*second.nib)), GetParam());
    second.echo("second");
  }
  // The second ended without close_notify: its session is not offered again.
  Hop third(*connector, *terminator);
  cap(third);
  ASSERT_EQ(third.handshake().first, TlsWait::kNone) << third.nib->failure();
  EXPECT_FALSE(SSL_session_reused(ssl_of(*third.nib)));
  // Another peer (the key is the address given) has no session to resume.
  Hop elsewhere(*connector, *terminator, "::1");
  cap(elsewhere);
  ASSERT_EQ(elsewhere.handshake().first, TlsWait::kNone) << elsewhere.nib->failure();
  EXPECT_FALSE(SSL_session_reused(ssl_of(*elsewhere.nib)));
}

INSTANTIATE_TEST_SUITE_P(Versions, ConnectorResumptionTest, testing::Values(TLS1_2_VERSION, TLS1_3_VERSION));

TEST(OpenSslConnectorTest, AlpnIsOfferedAndAgreedEndToEnd) {
  TlsConfig backend_config;
  backend_config.alpn = {"h2", "http/1.1"};
  auto terminator = backend_terminator(backend_config);
  auto connector = make(verified());
  {
    Hop hop(*connector, *terminator, "127.0.0.1", "h2");
    auto [nib, backend] = hop.handshake();
    ASSERT_EQ(nib, TlsWait::kNone) << hop.nib->failure();
    EXPECT_EQ(hop.nib->alpn(), "h2");
    EXPECT_EQ(hop.backend->alpn(), "h2");
  }
  {
    Hop hop(*connector, *terminator, "127.0.0.1", "http/1.1");
    ASSERT_EQ(hop.handshake().first, TlsWait::kNone) << hop.nib->failure();
    EXPECT_EQ(hop.nib->alpn(), "http/1.1");
    EXPECT_EQ(hop.backend->alpn(), "http/1.1");
  }
  Hop hop(*connector, *terminator, "127.0.0.1", "");  // nothing offered: nothing agreed
  ASSERT_EQ(hop.handshake().first, TlsWait::kNone) << hop.nib->failure();
  EXPECT_EQ(hop.nib->alpn(), "");
}

TEST(OpenSslConnectorTest, ABackendAskingToRenegotiateIsRefused) {
  // A plain OpenSSL TLS 1.2 server (the terminator never renegotiates).
  tls::SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  ASSERT_EQ(SSL_CTX_use_certificate_file(ctx.get(), pki().backend_files.cert.path().c_str(), SSL_FILETYPE_PEM), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), pki().backend_files.key.path().c_str(), SSL_FILETYPE_PEM), 1);
  SSL_CTX_set_max_proto_version(ctx.get(), TLS1_2_VERSION);
  auto connector = make(verified());
  TcpPair sockets;
  auto nib = connector->connect(sockets.client.get(), "127.0.0.1", "");
  tls::SslPtr backend(SSL_new(ctx.get()));
  SSL_set_fd(backend.get(), sockets.server.get());
  SSL_set_accept_state(backend.get());
  TlsWait c = TlsWait::kWrite;
  bool backend_done = false;
  for (int round = 0; round < kMaxRounds && (pending(c) || !backend_done); ++round) {
    if (pending(c)) c = nib->handshake();
    if (!backend_done) backend_done = SSL_do_handshake(backend.get()) == 1;
    pollfd fds[2] = {{sockets.client.get(), POLLIN, 0}, {sockets.server.get(), POLLIN, 0}};
    if ((pending(c) || !backend_done) && ::poll(fds, 2, kPollMs) == 0) break;
  }
  ASSERT_EQ(c, TlsWait::kNone) << nib->failure();
  ASSERT_TRUE(backend_done);

  // The backend sends a HelloRequest; nib's session answers no_renegotiation,
  // which fails the backend's attempt.
  ASSERT_EQ(SSL_renegotiate(backend.get()), 1);
  (void)SSL_do_handshake(backend.get());
  ERR_clear_error();
  char buf[64];
  int reason = 0;
  for (int round = 0; round < kMaxRounds && reason == 0; ++round) {
    (void)nib->read(buf, sizeof buf);
    size_t got = 0;
    if (SSL_read_ex(backend.get(), buf, sizeof buf, &got) != 1 &&
        SSL_get_error(backend.get(), 0) == SSL_ERROR_SSL) {
      reason = ERR_GET_REASON(ERR_peek_error());
    }
    ERR_clear_error();
    pollfd fds[2] = {{sockets.client.get(), POLLIN, 0}, {sockets.server.get(), POLLIN, 0}};
    if (reason == 0 && ::poll(fds, 2, kPollMs) == 0) break;
  }
  EXPECT_EQ(reason, SSL_R_NO_RENEGOTIATION);
}

// ---- loading

std::string load_error(const BackendTlsConfig& config) {
  auto made = make_tls_connector(config);
  EXPECT_FALSE(made.ok());
  return made.ok() ? "" : made.status().message();
}

TEST(OpenSslConnectorLoadTest, ErrorsNameTheFile) {
  BackendTlsConfig config = verified();
  config.ca_file = "/nonexistent/ca.pem";
  std::string error = load_error(config);
  EXPECT_NE(error.find("/nonexistent/ca.pem: cannot read the TLS CA file"), std::string::npos) << error;

  TempFile junk("not a certificate\n", ".pem");
  config.ca_file = junk.path();
  error = load_error(config);
  EXPECT_NE(error.find(junk.path() + ": holds no CA certificate"), std::string::npos) << error;

  config = verified();
  config.ca_dir = "/nonexistent/cas";
  error = load_error(config);
  EXPECT_NE(error.find("/nonexistent/cas: cannot read the TLS CA directory"), std::string::npos) << error;

  config = verified();
  config.cert_file = "/nonexistent/client.pem";
  error = load_error(config);
  EXPECT_NE(error.find("/nonexistent/client.pem: cannot read the TLS certificate file"), std::string::npos) << error;

  config.cert_file = pki().client_files.cert.path();
  config.key_file = pki().backend_files.key.path();
  error = load_error(config);
  EXPECT_NE(error.find(pki().backend_files.key.path() + ": the key does not belong to the certificate in " +
                       config.cert_file),
            std::string::npos)
      << error;

  config = verified();
  config.ciphers = "NOT-A-CIPHER";
  error = load_error(config);
  EXPECT_NE(error.find("the cipher list \"NOT-A-CIPHER\""), std::string::npos) << error;
}

TEST(OpenSslConnectorLoadTest, VerifyWithoutCasUsesTheSystemDefaults) {
  BackendTlsConfig config;
  config.enabled = true;
  EXPECT_TRUE(make_tls_connector(config).ok());
}

}  // namespace
}  // namespace nib
