#include "server/tls/openssl_terminator.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/base/unique_fd.h"
#include "server/tls/openssl_handles.h"
#include "tests/support/tcp_pair.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_certificate.h"

namespace nib {
namespace {

using test::TempDir;
using test::TestCertificate;
using test::TestCertificateFiles;

using tls::BioPtr;
using tls::SslCtxPtr;
using tls::SslPtr;
using tls::X509Ptr;
using SessionPtr = std::unique_ptr<SSL_SESSION, tls::Deleter<SSL_SESSION_free>>;

// Loop bounds: each round either makes progress or waits for a socket event
// (poll with a timeout, never a sleep); a round that times out is a failure.
constexpr int kMaxRounds = 20000;
constexpr int kPollMs = 2000;

using test::TcpPair;

// Waits for either socket: readable, or writable where asked.
int wait_for(int client_fd, short client_events, int server_fd, short server_events, short* server_revents = nullptr) {
  pollfd fds[2] = {{client_fd, client_events, 0}, {server_fd, server_events, 0}};
  int n = ::poll(fds, 2, kPollMs);
  if (server_revents != nullptr) *server_revents = fds[1].revents;
  return n;
}

SslCtxPtr client_context(int max_version = 0, const TestCertificate* cert = nullptr) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (max_version != 0) SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  if (cert != nullptr) {
    BioPtr cert_bio(BIO_new_mem_buf(cert->cert_pem.data(), static_cast<int>(cert->cert_pem.size())));
    BioPtr key_bio(BIO_new_mem_buf(cert->key_pem.data(), static_cast<int>(cert->key_pem.size())));
    X509Ptr x509(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
    EXPECT_EQ(SSL_CTX_use_certificate(ctx.get(), x509.get()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx.get(), key), 1);
    EVP_PKEY_free(key);
  }
  return ctx;
}

// An OpenSSL client on one end, a session of the terminator on the other.
struct Connection {
  TcpPair sockets;
  SslPtr client;
  std::unique_ptr<TlsSession> server;

  Connection(const TlsTerminator& terminator, SSL_CTX* client_ctx, const char* sni = nullptr,
             SSL_SESSION* resume = nullptr)
      : client(SSL_new(client_ctx)), server(terminator.accept(sockets.server.get())) {
    SSL_set_fd(client.get(), sockets.client.get());
    SSL_set_connect_state(client.get());
    if (sni != nullptr) SSL_set_tlsext_host_name(client.get(), sni);
    if (resume != nullptr) SSL_set_session(client.get(), resume);
  }

  // Both sides' handshakes until the server's ends; the server's verdict.
  TlsWait handshake() {
    bool client_done = false;
    TlsWait server_wait = TlsWait::kRead;
    for (int round = 0; round < kMaxRounds; ++round) {
      if (!client_done) {
        int ret = SSL_do_handshake(client.get());
        int error = SSL_get_error(client.get(), ret);
        // A client that fails is done too: the server's result is the test's.
        client_done = ret == 1 || (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE);
        ERR_clear_error();
      }
      if (server_wait == TlsWait::kRead || server_wait == TlsWait::kWrite) server_wait = server->handshake();
      const bool server_done = server_wait != TlsWait::kRead && server_wait != TlsWait::kWrite;
      if (client_done && server_done) return server_wait;
      if (wait_for(sockets.client.get(), POLLIN, sockets.server.get(), POLLIN) == 0) break;
    }
    ADD_FAILURE() << "the handshake did not finish";
    return TlsWait::kFailed;
  }

  // Reads what the client has (non-blocking) into `out`.
  void client_read(std::string& out) {
    char buf[16384];
    size_t got = 0;
    while (SSL_read_ex(client.get(), buf, sizeof buf, &got) == 1) out.append(buf, got);
    ERR_clear_error();
  }

  // Server: read() until it returns something other than kRead, waiting
  // for the socket between calls.
  TlsIo server_read_until_end(std::string& out) {
    char buf[4096];
    for (int round = 0; round < kMaxRounds; ++round) {
      TlsIo io = server->read(buf, sizeof buf);
      out.append(buf, io.bytes);
      if (io.wait != TlsWait::kRead) return io;
      if (wait_for(sockets.client.get(), 0, sockets.server.get(), POLLIN) == 0) break;
    }
    ADD_FAILURE() << "read() never ended";
    return {0, TlsWait::kFailed};
  }

  std::string peer_common_name() {
    X509Ptr peer(SSL_get1_peer_certificate(client.get()));
    if (!peer) return "";
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer.get()), NID_commonName, cn, sizeof cn);
    return cn;
  }
};

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

// The files a terminator reads, kept for the test's length.
struct ServerFiles {
  explicit ServerFiles(const TestCertificate& c) : files(c) {
    config.cert_file = files.cert.path();
    config.key_file = files.key.path();
  }
  TestCertificateFiles files;
  TlsConfig config;
};

std::shared_ptr<const TlsTerminator> make(const TlsConfig& config) {
  auto made = make_tls_terminator(config);
  EXPECT_TRUE(made.ok()) << made.status().message();
  return made.ok() ? *made : nullptr;
}

const TestCertificate& server_certificate() {
  static const TestCertificate c = test::make_self_signed_certificate("default.example");
  return c;
}

// A terminator with the default certificate and a client whose handshake
// with it is done.
class EstablishedTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(c.handshake(), TlsWait::kNone) << c.server->failure(); }

  ServerFiles files{server_certificate()};
  std::shared_ptr<const TlsTerminator> terminator = make(files.config);
  SslCtxPtr client_ctx = client_context();
  Connection c{*terminator, client_ctx.get()};
};

// ---- handshake and data

TEST_F(EstablishedTest, HandshakeAndAMebibyteEachWay) {
  EXPECT_STREQ(c.server->version(), "TLSv1.3");

  // Client to server. The server reads again only after a kNone (its buffer
  // filled) or once poll() says the socket is readable, as an edge-triggered
  // loop does: bytes held back inside the session after kRead would leave
  // the last of them unread and this loop would time out.
  const std::string up = pattern(1 << 20);
  std::string received;
  size_t sent = 0;
  bool may_read = true;
  char buf[65536];
  for (int round = 0; round < kMaxRounds && received.size() < up.size(); ++round) {
    if (sent < up.size()) {
      size_t n = 0;
      if (SSL_write_ex(c.client.get(), up.data() + sent, up.size() - sent, &n) == 1) sent += n;
      ERR_clear_error();
    }
    if (may_read) {
      TlsIo io = c.server->read(buf, sizeof buf);
      received.append(buf, io.bytes);
      ASSERT_TRUE(io.wait == TlsWait::kNone || io.wait == TlsWait::kRead) << c.server->failure();
      if (io.bytes < sizeof buf) {
        ASSERT_NE(io.wait, TlsWait::kNone) << "fewer bytes than asked without a reason";
      }
      may_read = io.wait == TlsWait::kNone;
    }
    if (!may_read && received.size() < up.size()) {
      short server_revents = 0;
      int n = wait_for(c.sockets.client.get(), sent < up.size() ? POLLOUT : 0, c.sockets.server.get(), POLLIN,
                       &server_revents);
      ASSERT_GT(n, 0) << "no edge came after kRead with " << up.size() - received.size() << " bytes missing";
      may_read = (server_revents & POLLIN) != 0;
    }
  }
  ASSERT_EQ(received.size(), up.size());
  EXPECT_TRUE(received == up);

  // Server to client, through partial writes: after kWrite the bytes from
  // where write() stopped are offered again.
  const std::string down = pattern(1 << 20).substr(7) + "tail!!!";
  std::string got;
  size_t taken = 0;
  bool may_write = true;
  for (int round = 0; round < kMaxRounds && got.size() < down.size(); ++round) {
    if (taken < down.size() && may_write) {
      TlsIo io = c.server->write(down.data() + taken, down.size() - taken);
      ASSERT_TRUE(io.wait == TlsWait::kNone || io.wait == TlsWait::kWrite) << c.server->failure();
      if (io.bytes < down.size() - taken) {
        ASSERT_NE(io.wait, TlsWait::kNone);
      }
      taken += io.bytes;
      may_write = io.wait == TlsWait::kNone;
    }
    c.client_read(got);
    if (got.size() < down.size()) {
      short server_revents = 0;
      ASSERT_GT(wait_for(c.sockets.client.get(), POLLIN, c.sockets.server.get(), taken < down.size() ? POLLOUT : 0,
                         &server_revents),
                0);
      may_write = may_write || (server_revents & POLLOUT) != 0;
    }
  }
  EXPECT_EQ(taken, down.size());
  ASSERT_EQ(got.size(), down.size());
  EXPECT_TRUE(got == down);
}

TEST(OpenSslTerminatorTest, ATls12ClientIsServed) {
  ServerFiles files(server_certificate());
  auto terminator = make(files.config);
  SslCtxPtr client_ctx = client_context(TLS1_2_VERSION);
  Connection c(*terminator, client_ctx.get());
  ASSERT_EQ(c.handshake(), TlsWait::kNone) << c.server->failure();
  EXPECT_STREQ(c.server->version(), "TLSv1.2");
  ASSERT_EQ(c.server->write("hello", 5).bytes, 5u);
  std::string got;
  for (int round = 0; round < kMaxRounds && got.size() < 5; ++round) {
    c.client_read(got);
    if (got.size() < 5) {
      ASSERT_GT(wait_for(c.sockets.client.get(), POLLIN, c.sockets.server.get(), 0), 0);
    }
  }
  EXPECT_EQ(got, "hello");
}

// ciphers limits TLS 1.2; prefer_server_ciphers picks by the server's order.
TEST(OpenSslTerminatorTest, CipherListAndServerPreference) {
  ServerFiles files(server_certificate());
  files.config.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305";
  SslCtxPtr client_ctx = client_context(TLS1_2_VERSION);
  ASSERT_EQ(SSL_CTX_set_cipher_list(client_ctx.get(), "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"),
            1);
  for (bool prefer : {false, true}) {
    files.config.prefer_server_ciphers = prefer;
    auto terminator = make(files.config);
    ASSERT_TRUE(terminator);
    Connection c(*terminator, client_ctx.get());
    ASSERT_EQ(c.handshake(), TlsWait::kNone) << c.server->failure();
    EXPECT_STREQ(SSL_CIPHER_get_name(SSL_get_current_cipher(c.client.get())),
                 prefer ? "ECDHE-ECDSA-AES128-GCM-SHA256" : "ECDHE-ECDSA-CHACHA20-POLY1305");
  }
}

TEST(OpenSslTerminatorTest, MinVersion13RefusesATls12Client) {
  ServerFiles files(server_certificate());
  files.config.min_version = "1.3";
  auto terminator = make(files.config);
  SslCtxPtr old_client = client_context(TLS1_2_VERSION);
  Connection refused(*terminator, old_client.get());
  EXPECT_EQ(refused.handshake(), TlsWait::kFailed);
  EXPECT_NE(refused.server->failure(), "");

  SslCtxPtr client_ctx = client_context();
  Connection served(*terminator, client_ctx.get());
  EXPECT_EQ(served.handshake(), TlsWait::kNone) << served.server->failure();
}

TEST(OpenSslTerminatorTest, PlaintextHttpFailsTheHandshakeWithAReason) {
  ServerFiles files(server_certificate());
  auto terminator = make(files.config);
  TcpPair sockets;
  auto session = terminator->accept(sockets.server.get());
  ASSERT_TRUE(session);
  const std::string request = "GET / HTTP/1.1\r\n\r\n";
  ASSERT_EQ(::send(sockets.client.get(), request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  TlsWait wait = TlsWait::kRead;
  for (int round = 0; round < kMaxRounds && wait == TlsWait::kRead; ++round) {
    wait = session->handshake();
    if (wait == TlsWait::kRead) {
      ASSERT_GT(wait_for(sockets.client.get(), 0, sockets.server.get(), POLLIN), 0);
    }
  }
  EXPECT_EQ(wait, TlsWait::kFailed);
  EXPECT_NE(session->failure(), "");
  // The error queue was emptied: the next session on this thread starts clean.
  EXPECT_EQ(ERR_peek_error(), 0u);
}

// ---- how the stream ends

TEST_F(EstablishedTest, CloseNotifyIsClosed) {
  size_t n = 0;
  ASSERT_EQ(SSL_write_ex(c.client.get(), "last", 4, &n), 1);
  SSL_shutdown(c.client.get());
  std::string got;
  TlsIo io = c.server_read_until_end(got);
  EXPECT_EQ(io.wait, TlsWait::kClosed) << c.server->failure();
  EXPECT_EQ(got, "last");
  c.server->shutdown();  // answers with its own close_notify, never waits
}

// A FIN without close_notify is the client ending the stream (kClosed), as a
// plain TCP client's FIN is: nib relays, it does not judge truncation.
TEST_F(EstablishedTest, FinWithoutCloseNotifyIsClosed) {
  size_t n = 0;
  ASSERT_EQ(SSL_write_ex(c.client.get(), "bye", 3, &n), 1);
  ASSERT_EQ(::shutdown(c.sockets.client.get(), SHUT_WR), 0);
  std::string got;
  TlsIo io = c.server_read_until_end(got);
  EXPECT_EQ(io.wait, TlsWait::kClosed) << c.server->failure();
  EXPECT_EQ(got, "bye");
}

TEST_F(EstablishedTest, AResetIsFailedAndRaisesNoSigpipe) {
  linger reset{1, 0};
  ASSERT_EQ(::setsockopt(c.sockets.client.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
  c.sockets.client = UniqueFd();  // RST
  std::string got;
  TlsIo io = c.server_read_until_end(got);
  EXPECT_EQ(io.wait, TlsWait::kFailed);
  EXPECT_NE(c.server->failure(), "");
  // Writing to the reset socket: EPIPE, not SIGPIPE (the test would die).
  const std::string data(100000, 'x');
  TlsIo w{};
  for (int i = 0; i < 10 && w.wait != TlsWait::kFailed; ++i) w = c.server->write(data.data(), data.size());
  EXPECT_EQ(w.wait, TlsWait::kFailed);
  c.server->shutdown();
}

// ---- resumption

class ResumptionTest : public testing::TestWithParam<int> {};

TEST_P(ResumptionTest, ASecondHandshakeResumesTheFirstSession) {
  ServerFiles files(server_certificate());
  auto terminator = make(files.config);
  SslCtxPtr client_ctx = client_context(GetParam());
  SessionPtr session;
  {
    Connection first(*terminator, client_ctx.get());
    ASSERT_EQ(first.handshake(), TlsWait::kNone);
    // TLS 1.3 tickets come after the handshake: the client reads them with
    // the first data.
    ASSERT_EQ(first.server->write("x", 1).bytes, 1u);
    std::string got;
    for (int round = 0; round < kMaxRounds && got.empty(); ++round) {
      first.client_read(got);
      if (got.empty()) {
        ASSERT_GT(wait_for(first.sockets.client.get(), POLLIN, first.sockets.server.get(), 0), 0);
      }
    }
    session.reset(SSL_get1_session(first.client.get()));
    ASSERT_TRUE(session);
    // Closed cleanly: OpenSSL drops the session of an SSL freed without
    // close_notify sent (on either side).
    SSL_shutdown(first.client.get());
    first.server->shutdown();
  }
  ASSERT_EQ(SSL_SESSION_is_resumable(session.get()), 1);
  Connection second(*terminator, client_ctx.get(), nullptr, session.get());
  ASSERT_EQ(second.handshake(), TlsWait::kNone) << second.server->failure();
  EXPECT_EQ(SSL_session_reused(second.client.get()), 1);
}

INSTANTIATE_TEST_SUITE_P(Versions, ResumptionTest, testing::Values(TLS1_2_VERSION, TLS1_3_VERSION),
                         [](const testing::TestParamInfo<int>& info) {
                           return info.param == TLS1_2_VERSION ? std::string("Tls12") : std::string("Tls13");
                         });

// ---- certificates: SNI, chain, key in the certificate file

TEST(OpenSslTerminatorTest, SniPicksTheNamesCertificateAndAnUnknownNameGetsTheDefault) {
  ServerFiles files(server_certificate());
  TempDir sni;
  TestCertificate named = test::make_certificate({.common_name = "a.example", .not_after = 3600});
  sni.write_file("A.Example.crt", named.cert_pem);
  sni.write_file("A.Example.key", named.key_pem);
  sni.write_file("README", "not a certificate");
  files.config.sni_path = sni.path();
  auto terminator = make(files.config);
  ASSERT_TRUE(terminator);
  SslCtxPtr client_ctx = client_context();
  {
    Connection c(*terminator, client_ctx.get(), "a.EXAMPLE");
    ASSERT_EQ(c.handshake(), TlsWait::kNone) << c.server->failure();
    EXPECT_EQ(c.peer_common_name(), "a.example");
  }
  {
    Connection c(*terminator, client_ctx.get(), "b.example");
    ASSERT_EQ(c.handshake(), TlsWait::kNone) << c.server->failure();
    EXPECT_EQ(c.peer_common_name(), "default.example");
  }
  {
    Connection c(*terminator, client_ctx.get());
    ASSERT_EQ(c.handshake(), TlsWait::kNone) << c.server->failure();
    EXPECT_EQ(c.peer_common_name(), "default.example");
  }
  // The soonest expiry: the SNI certificate's hour, not the default's day.
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  EXPECT_NEAR(static_cast<double>(terminator->not_after_unix()), static_cast<double>(now + 3600), 120);
}

TEST(OpenSslTerminatorTest, NotAfterIsTheCertificatesExpiry) {
  ServerFiles files(server_certificate());
  auto terminator = make(files.config);
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  EXPECT_NEAR(static_cast<double>(terminator->not_after_unix()), static_cast<double>(now + 24 * 3600), 120);
}

TEST(OpenSslTerminatorTest, KeyAndChainInTheCertificateFileAreUsed) {
  TestCertificate ca = test::make_self_signed_certificate("Test CA");
  TestCertificate leaf = test::make_ca_signed_certificate(ca, "leaf.example");
  test::TempFile combined(leaf.cert_pem + ca.cert_pem + leaf.key_pem, ".pem");
  TlsConfig config;
  config.cert_file = combined.path();  // key_file empty: Pen's -K in the certificate
  auto terminator = make(config);
  ASSERT_TRUE(terminator);
  SslCtxPtr client_ctx = client_context();
  Connection c(*terminator, client_ctx.get());
  ASSERT_EQ(c.handshake(), TlsWait::kNone) << c.server->failure();
  EXPECT_EQ(c.peer_common_name(), "leaf.example");
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(c.client.get());
  ASSERT_NE(chain, nullptr);
  EXPECT_EQ(sk_X509_num(chain), 2);
}

// ---- client certificates

struct ClientAuthFixture {
  TestCertificate ca = test::make_self_signed_certificate("Client CA");
  test::TempFile ca_file{ca.cert_pem, ".pem"};
  ServerFiles files{server_certificate()};
  explicit ClientAuthFixture(TlsClientAuth auth) {
    files.config.ca_file = ca_file.path();
    files.config.client_auth = auth;
  }
};

// The server's verdict on a client showing `cert` (null: none).
TlsWait handshake_with(const TlsTerminator& terminator, const TestCertificate* cert, const char* sni = nullptr) {
  SslCtxPtr ctx = client_context(0, cert);
  Connection c(terminator, ctx.get(), sni);
  TlsWait wait = c.handshake();
  if (wait == TlsWait::kFailed) {
    EXPECT_NE(c.server->failure(), "");
  }
  return wait;
}

TEST(OpenSslTerminatorTest, RequiredClientAuthRefusesNoCertificateAndAcceptsACaSignedOne) {
  ClientAuthFixture f(TlsClientAuth::kRequired);
  auto terminator = make(f.files.config);
  ASSERT_TRUE(terminator);
  TestCertificate stranger = test::make_self_signed_certificate("stranger");
  TestCertificate client = test::make_ca_signed_certificate(f.ca, "client");
  EXPECT_EQ(handshake_with(*terminator, nullptr), TlsWait::kFailed);
  EXPECT_EQ(handshake_with(*terminator, &stranger), TlsWait::kFailed);
  EXPECT_EQ(handshake_with(*terminator, &client), TlsWait::kNone);
}

TEST(OpenSslTerminatorTest, OptionalClientAuthAcceptsNoCertificate) {
  ClientAuthFixture f(TlsClientAuth::kOptional);
  auto terminator = make(f.files.config);
  ASSERT_TRUE(terminator);
  TestCertificate client = test::make_ca_signed_certificate(f.ca, "client");
  EXPECT_EQ(handshake_with(*terminator, nullptr), TlsWait::kNone);
  EXPECT_EQ(handshake_with(*terminator, &client), TlsWait::kNone);
}

// NAME.ca holds the CAs for that name's clients: a client asking for NAME by
// SNI is verified against them (the SSL takes the name's verify settings and
// store), any other client against ca_file.
TEST(OpenSslTerminatorTest, SniNameVerifiesClientsAgainstItsOwnCas) {
  ClientAuthFixture f(TlsClientAuth::kRequired);
  TestCertificate name_ca = test::make_self_signed_certificate("Name CA");
  TempDir sni;
  TestCertificate named = test::make_self_signed_certificate("a.example");
  sni.write_file("a.example.crt", named.cert_pem);
  sni.write_file("a.example.key", named.key_pem);
  sni.write_file("a.example.ca", name_ca.cert_pem);
  f.files.config.sni_path = sni.path();
  auto terminator = make(f.files.config);
  ASSERT_TRUE(terminator);

  TestCertificate default_client = test::make_ca_signed_certificate(f.ca, "default client");
  TestCertificate name_client = test::make_ca_signed_certificate(name_ca, "name client");
  {
    SslCtxPtr ctx = client_context(0, &name_client);
    Connection c(*terminator, ctx.get(), "a.example");
    EXPECT_EQ(c.handshake(), TlsWait::kNone) << c.server->failure();
    EXPECT_EQ(c.peer_common_name(), "a.example");
  }
  EXPECT_EQ(handshake_with(*terminator, &default_client, "a.example"), TlsWait::kFailed);
  EXPECT_EQ(handshake_with(*terminator, nullptr, "a.example"), TlsWait::kFailed);
  EXPECT_EQ(handshake_with(*terminator, &default_client), TlsWait::kNone);
  EXPECT_EQ(handshake_with(*terminator, &name_client), TlsWait::kFailed);
}

TEST(OpenSslTerminatorTest, AcceptFromManyThreadsAtOnce) {
  ServerFiles files(server_certificate());
  auto terminator = make(files.config);
  TcpPair sockets;
  std::vector<std::thread> threads;
  std::atomic<int> made{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) made += terminator->accept(sockets.server.get()) != nullptr;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(made.load(), 800);
}

// ---- load errors: each names the file and why

std::string load_error(const TlsConfig& config) {
  auto made = make_tls_terminator(config);
  EXPECT_FALSE(made.ok());
  return made.ok() ? "" : made.status().message();
}

TEST(OpenSslTerminatorLoadTest, MissingCertificateFile) {
  TlsConfig config;
  config.cert_file = "/nonexistent/server.pem";
  std::string error = load_error(config);
  EXPECT_NE(error.find("/nonexistent/server.pem"), std::string::npos) << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}

TEST(OpenSslTerminatorLoadTest, NoPemCertificate) {
  test::TempFile junk("not a certificate\n", ".pem");
  TlsConfig config;
  config.cert_file = junk.path();
  std::string error = load_error(config);
  EXPECT_NE(error.find(junk.path() + ": holds no PEM certificate"), std::string::npos) << error;
}

TEST(OpenSslTerminatorLoadTest, KeyOfAnotherCertificate) {
  TestCertificateFiles other(test::make_self_signed_certificate("other"));
  ServerFiles files(server_certificate());
  files.config.key_file = other.key.path();
  std::string error = load_error(files.config);
  EXPECT_NE(error.find(other.key.path()), std::string::npos) << error;
  EXPECT_NE(error.find("does not belong to the certificate in " + files.config.cert_file), std::string::npos) << error;
}

TEST(OpenSslTerminatorLoadTest, ExpiredCertificateNamesTheDate) {
  ServerFiles files(test::make_expired_certificate());
  std::string error = load_error(files.config);
  EXPECT_NE(error.find(files.config.cert_file + ": the certificate expired on "), std::string::npos) << error;
  char year[8];
  const time_t yesterday = std::time(nullptr) - 24 * 3600;
  struct tm tm {};
  gmtime_r(&yesterday, &tm);
  std::strftime(year, sizeof year, "%Y", &tm);
  EXPECT_NE(error.find(year), std::string::npos) << error;
}

TEST(OpenSslTerminatorLoadTest, NotYetValidCertificate) {
  ServerFiles files(test::make_certificate({.not_before = 24 * 3600, .not_after = 48 * 3600}));
  std::string error = load_error(files.config);
  EXPECT_NE(error.find(files.config.cert_file + ": the certificate is not valid before "), std::string::npos) << error;
}

TEST(OpenSslTerminatorLoadTest, EncryptedKeyIsRefused) {
  TestCertificate c = server_certificate();
  c.key_pem = test::encrypt_private_key(c.key_pem, "secret");
  ServerFiles files(c);
  std::string error = load_error(files.config);
  EXPECT_NE(error.find(files.config.key_file + ": "), std::string::npos) << error;
  EXPECT_NE(error.find("an encrypted key cannot be used unattended"), std::string::npos) << error;
}

TEST(OpenSslTerminatorLoadTest, SniCertificateWithoutKey) {
  ServerFiles files(server_certificate());
  TempDir sni;
  std::string crt = sni.write_file("lonely.example.crt", test::make_self_signed_certificate("lonely").cert_pem);
  files.config.sni_path = sni.path();
  std::string error = load_error(files.config);
  EXPECT_NE(error.find(crt + ": "), std::string::npos) << error;
  EXPECT_NE(error.find("lonely.example.key is missing"), std::string::npos) << error;
}

TEST(OpenSslTerminatorLoadTest, ExpiredSniCertificate) {
  ServerFiles files(server_certificate());
  TempDir sni;
  TestCertificate old = test::make_expired_certificate("old.example");
  std::string crt = sni.write_file("old.example.crt", old.cert_pem);
  sni.write_file("old.example.key", old.key_pem);
  files.config.sni_path = sni.path();
  std::string error = load_error(files.config);
  EXPECT_NE(error.find(crt + ": the certificate expired on "), std::string::npos) << error;
}

TEST(OpenSslTerminatorLoadTest, BadCipherList) {
  ServerFiles files(server_certificate());
  files.config.ciphers = "NOT-A-CIPHER";
  std::string error = load_error(files.config);
  EXPECT_NE(error.find("tls: the cipher list \"NOT-A-CIPHER\""), std::string::npos) << error;
}

TEST(OpenSslTerminatorLoadTest, ClientAuthWithoutCas) {
  ServerFiles files(server_certificate());
  files.config.client_auth = TlsClientAuth::kRequired;
  std::string error = load_error(files.config);
  EXPECT_NE(error.find("tls: client_auth"), std::string::npos) << error;
  EXPECT_NE(error.find("ca_file or ca_dir"), std::string::npos) << error;
}

TEST(OpenSslTerminatorLoadTest, UnreadableCaFileAndDirectory) {
  ServerFiles files(server_certificate());
  files.config.client_auth = TlsClientAuth::kOptional;
  files.config.ca_file = "/nonexistent/ca.pem";
  std::string error = load_error(files.config);
  EXPECT_NE(error.find("/nonexistent/ca.pem: "), std::string::npos) << error;
  files.config.ca_file.clear();
  files.config.ca_dir = "/nonexistent/cas";
  error = load_error(files.config);
  EXPECT_NE(error.find("/nonexistent/cas: "), std::string::npos) << error;
}

// ---- ALPN

// The client offers h2 then http/1.1; returns what the server agreed.
std::string alpn_agreed(const std::vector<std::string>& ours, const std::string& client_wire) {
  ServerFiles files(server_certificate());
  files.config.alpn = ours;
  auto terminator = make(files.config);
  SslCtxPtr ctx = client_context();
  Connection c(*terminator, ctx.get());
  EXPECT_EQ(SSL_set_alpn_protos(c.client.get(), reinterpret_cast<const unsigned char*>(client_wire.data()),
                                static_cast<unsigned int>(client_wire.size())),
            0);
  EXPECT_EQ(c.handshake(), TlsWait::kNone) << c.server->failure();
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(c.client.get(), &p, &n);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(p), n), std::string(c.server->alpn()));
  return std::string(c.server->alpn());
}

const std::string kH2ThenHttp11("\x02h2\x08http/1.1", 12);

TEST(OpenSslTerminatorTest, AlpnPicksNibsFirstProtocolTheClientOffers) {
  EXPECT_EQ(alpn_agreed({"h2", "http/1.1"}, kH2ThenHttp11), "h2");
  EXPECT_EQ(alpn_agreed({"http/1.1", "h2"}, kH2ThenHttp11), "http/1.1");
  EXPECT_EQ(alpn_agreed({"http/1.1"}, kH2ThenHttp11), "http/1.1");
}

TEST(OpenSslTerminatorTest, AlpnWithoutOverlapGoesOnWithoutAProtocol) {
  EXPECT_EQ(alpn_agreed({"spdy/3"}, kH2ThenHttp11), "");
}

TEST(OpenSslTerminatorTest, AlpnIsAnsweredForAnSniName) {
  TempDir sni;
  const TestCertificate named = test::make_self_signed_certificate("named.example");
  sni.write_file("named.example.crt", named.cert_pem);
  sni.write_file("named.example.key", named.key_pem);
  ServerFiles files(server_certificate());
  files.config.sni_path = sni.path();
  files.config.alpn = {"h2"};
  auto terminator = make(files.config);
  SslCtxPtr ctx = client_context();
  Connection c(*terminator, ctx.get(), "named.example");
  SSL_set_alpn_protos(c.client.get(), reinterpret_cast<const unsigned char*>(kH2ThenHttp11.data()),
                      static_cast<unsigned int>(kH2ThenHttp11.size()));
  ASSERT_EQ(c.handshake(), TlsWait::kNone) << c.server->failure();
  EXPECT_EQ(c.peer_common_name(), "named.example");
  EXPECT_EQ(c.server->alpn(), "h2");
}

TEST(OpenSslTerminatorTest, NoAlpnConfiguredOrOfferedIsNone) {
  EXPECT_EQ(alpn_agreed({}, kH2ThenHttp11), "");
  ServerFiles files(server_certificate());
  files.config.alpn = {"h2"};
  auto terminator = make(files.config);
  SslCtxPtr ctx = client_context();
  Connection c(*terminator, ctx.get());
  ASSERT_EQ(c.handshake(), TlsWait::kNone) << c.server->failure();
  EXPECT_EQ(c.server->alpn(), "");
}

// ---- OCSP stapling

// What the server stapled for a client that asked (empty: nothing).
std::string stapled(const TlsTerminator& terminator, bool ask) {
  SslCtxPtr ctx = client_context();
  Connection c(terminator, ctx.get());
  if (ask) SSL_set_tlsext_status_type(c.client.get(), TLSEXT_STATUSTYPE_ocsp);
  EXPECT_EQ(c.handshake(), TlsWait::kNone) << c.server->failure();
  const unsigned char* p = nullptr;
  const long n = SSL_get_tlsext_status_ocsp_resp(c.client.get(), &p);
  return n > 0 && p != nullptr ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : "";
}

TEST(OpenSslTerminatorTest, OcspResponseIsStapledToClientsThatAsk) {
  const TestCertificate ca = test::make_self_signed_certificate("ocsp test ca");
  const TestCertificate leaf = test::make_ca_signed_certificate(ca, "default.example");
  const std::string der = test::make_ocsp_response(leaf, ca);
  test::TempFile ocsp(der, ".der");
  ServerFiles files(leaf);
  files.config.ocsp_response_file = ocsp.path();
  auto terminator = make(files.config);
  ASSERT_NE(terminator, nullptr);
  EXPECT_EQ(stapled(*terminator, true), der);
  EXPECT_EQ(stapled(*terminator, true), der);  // each handshake gets its own copy
  EXPECT_EQ(stapled(*terminator, false), "");
}

TEST(OpenSslTerminatorLoadTest, OcspResponseFileErrorsNameTheFile) {
  ServerFiles files(server_certificate());
  files.config.ocsp_response_file = "/nonexistent/ocsp.der";
  std::string error = load_error(files.config);
  EXPECT_NE(error.find("/nonexistent/ocsp.der: cannot read the TLS OCSP response file"), std::string::npos) << error;
  test::TempFile junk("not an OCSP response", ".der");
  files.config.ocsp_response_file = junk.path();
  error = load_error(files.config);
  EXPECT_NE(error.find(junk.path() + ": not a DER OCSP response"), std::string::npos) << error;
}

}  // namespace
}  // namespace nib
