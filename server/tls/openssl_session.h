#pragma once
// One client's TLS session on OpenSSL (issue 13): the server side of an SSL
// over the connection's non-blocking socket, read and written through a BIO
// of nib's own (recv, and send with MSG_NOSIGNAL, so a client that resets
// never raises SIGPIPE).
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "dataplane/net/tls_session.h"
#include "server/tls/openssl_handles.h"

namespace nib::tls {

class OpenSslSession final : public TlsSession {
 public:
  // Any thread (SSL_new on a shared SSL_CTX is thread-safe). A server-side
  // session on `fd` (not owned). `keep_alive` holds what `ctx` and its
  // servername callback point into for as long as the session lives. Null
  // when OpenSSL has no memory for the SSL or its BIO.
  static std::unique_ptr<OpenSslSession> start(SSL_CTX* ctx, int fd, std::shared_ptr<const void> keep_alive);
  ~OpenSslSession() override = default;
  OpenSslSession(const OpenSslSession&) = delete;
  OpenSslSession& operator=(const OpenSslSession&) = delete;

  // Every method below: the connection's loop thread only; never blocks.
  // Each clears this thread's OpenSSL error queue before and after its SSL
  // calls, so one connection's errors never show up in another's failure().
  TlsWait handshake() override;
  // Loops SSL_read until `n` bytes or a reason: kRead only after the socket
  // said EAGAIN with no decrypted byte left in the SSL (edge-triggered safe).
  TlsIo read(char* buf, size_t n) override;
  // Loops SSL_write (partial writes on). `bytes` counts the records fully
  // handed to the socket; a record the socket took only part of is counted
  // once it is all sent, so its bytes must be offered again (OpenSSL's retry
  // rule, which "from where this call stopped" keeps).
  TlsIo write(const char* buf, size_t n) override;
  void shutdown() override;
  // Set by the last handshake(), read() or write() that ended the stream.
  std::string failure() const override { return failure_; }
  const char* version() const override;
  std::string_view alpn() const override;

  // What the BIO callbacks know of the socket (public for them only).
  struct Socket {
    int fd = -1;
    int error = 0;     // errno of the last failed recv/send, 0: none
    bool eof = false;  // recv returned 0: the client's FIN
  };

 private:
  OpenSslSession(int fd, std::shared_ptr<const void> keep_alive);
  void begin_call();
  // SSL_get_error of a failed call, as a TlsWait; kClosed / kFailed set failure_.
  TlsWait settle(int ret);
  // Calls `call(done, &moved)` (SSL_read_ex or SSL_write_ex from `done` on)
  // until `n` bytes have moved or a call fails, and says why it stopped.
  template <typename Call>
  TlsIo transfer(size_t n, Call call);

  // Destroyed in reverse: the SSL (and its BIO, which points at socket_)
  // first, then the contexts it was made from.
  std::shared_ptr<const void> keep_alive_;
  Socket socket_;
  SslPtr ssl_;
  std::string failure_;
};

}  // namespace nib::tls
