// A TLS service's client handshake (server/tls over OpenSSL, through nib's
// own socket BIO): whatever a client sends before and during its handshake
// ends it as done, waiting for more, closed or failed, never a crash, a
// read past what was sent or a hang; and no OpenSSL error is left queued on
// the thread, where it would be blamed on the next connection of the same
// worker. The input is what the client sends, then it closes its side.
// OpenSSL is not instrumented (Debian's), so coverage guides only through
// nib's side; the seeds are real ClientHellos (openssl s_client's: TLS 1.3,
// 1.2, SNI + ALPN), so mutations reach into the handshake itself.
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "server/tls/openssl_terminator.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "tls_handshake: %s\n", what);
  std::abort();
}

// A self-signed P-256 certificate and key, written to files once.
std::shared_ptr<const nib::TlsTerminator> make_terminator() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("fuzz"), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509_sign(cert, key, EVP_sha256());
  char dir[] = "/tmp/nib-tls-fuzz.XXXXXX";
  if (::mkdtemp(dir) == nullptr) fail("mkdtemp");
  const std::string cert_file = std::string(dir) + "/cert.pem", key_file = std::string(dir) + "/key.pem";
  FILE* c = std::fopen(cert_file.c_str(), "w");
  FILE* k = std::fopen(key_file.c_str(), "w");
  if (c == nullptr || k == nullptr) fail("cannot write the certificate");
  PEM_write_X509(c, cert);
  PEM_write_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(c);
  std::fclose(k);
  X509_free(cert);
  EVP_PKEY_free(key);
  nib::TlsConfig config;
  config.cert_file = cert_file;
  config.key_file = key_file;
  auto made = nib::make_tls_terminator(config);
  ::unlink(cert_file.c_str());
  ::unlink(key_file.c_str());
  ::rmdir(dir);
  if (!made.ok()) fail(made.status().message().c_str());
  return *made;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto terminator = make_terminator();
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) fail("socketpair");
  // The whole input fits the socket buffer (inputs are at most 4 KiB).
  if (size != 0 && ::send(fds[1], data, size, MSG_NOSIGNAL) != static_cast<ssize_t>(size)) fail("send");
  ::shutdown(fds[1], SHUT_WR);
  {
    auto session = terminator->accept(fds[0]);
    if (!session) fail("no session");
    // Every byte is there and then the end: each round consumes input or
    // ends; far more rounds than records fit in 4 KiB means a loop.
    nib::TlsWait wait = nib::TlsWait::kRead;
    int rounds = 0;
    while (wait == nib::TlsWait::kRead || wait == nib::TlsWait::kWrite) {
      if (++rounds > 2000) fail("the handshake neither ends nor waits for input");
      wait = session->handshake();
      if (wait == nib::TlsWait::kWrite) break;  // our reply filled the socket: a real client reads it
    }
    if (wait == nib::TlsWait::kNone) {
      char buf[4096];
      for (int i = 0; i < 64 && session->read(buf, sizeof buf).wait == nib::TlsWait::kNone; ++i) {
      }
    }
    if (wait == nib::TlsWait::kFailed && session->failure().empty()) {
      fail("a failed handshake without a reason");
    }
    if (ERR_peek_error() != 0) fail("an OpenSSL error left queued on the thread");
  }
  ::close(fds[0]);
  ::close(fds[1]);
  return 0;
}
