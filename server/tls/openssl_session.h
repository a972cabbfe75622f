#pragma once
// One TLS session on OpenSSL (issue 13): an SSL over a connection's
// non-blocking socket, read and written through a BIO of nib's own (recv,
// and send with MSG_NOSIGNAL, so a peer that resets never raises SIGPIPE).
// The server side for a terminator's client, the client side for a
// connector's backend.
#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/net/tls_session.h"
#include "server/tls/openssl_handles.h"

namespace nib::tls {

class OpenSslSession final : public TlsSession {
 public:
  enum class Role : uint8_t {
    kServer,  // a terminator's: nib accepts a client's handshake
    kClient,  // a connector's: nib shakes hands with a backend
  };
  // Any thread (SSL_new on a shared SSL_CTX is thread-safe). A session on
  // `fd` (not owned) in `role`. `keep_alive` holds what `ctx` and its
  // callbacks point into for as long as the session lives. Null when OpenSSL
  // has no memory for the SSL or its BIO.
  static std::unique_ptr<OpenSslSession> start(SSL_CTX* ctx, int fd, std::shared_ptr<const void> keep_alive,
                                               Role role = Role::kServer);
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

  // The session's thread. The SSL: the connector sets what this handshake
  // sends and verifies on it (SNI, the expected name, a session to resume,
  // ALPN) before the first handshake(); tests read it afterwards.
  SSL* ssl() { return ssl_.get(); }
  // The same thread, before the first handshake(): the name the peer's
  // certificate must carry, for failure() when it does not verify.
  void set_expected_name(std::string name) { expected_name_ = std::move(name); }
  // The same thread, before the first handshake(): which backend this is
  // (its IP as text), for the connector's session cache.
  void set_peer(std::string peer) { peer_ = std::move(peer); }
  // The thread that owns the session (OpenSSL's callbacks during its calls).
  const std::string& peer() const { return peer_; }

  // What the BIO callbacks know of the socket (public for them only).
  struct Socket {
    int fd = -1;
    int error = 0;     // errno of the last failed recv/send, 0: none
    bool eof = false;  // recv returned 0: the client's FIN
  };

 private:
  OpenSslSession(int fd, std::shared_ptr<const void> keep_alive, Role role);
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
  Role role_;
  std::string expected_name_;
  std::string peer_;
  std::string failure_;
};

}  // namespace nib::tls
