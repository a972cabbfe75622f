#pragma once
// TLS on a client's connection (issue 13), as the dataplane sees it: one
// session per connection that reads and writes plaintext over the client's
// non-blocking socket, made by the terminator that holds a service's
// certificates. A service that re-encrypts toward its backends has a
// connector too, which makes the same kind of session on the backend
// socket, in the client's role. The dataplane stays std + POSIX: the OpenSSL side is tls/
// (nib_tls), which the server hands each TLS service
// (ServiceConfig::tls_terminator), as it hands a CountryLookup.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace nib {

// What a session call needs before it can go on, or how the stream ended.
enum class TlsWait : uint8_t {
  kNone,    // done (all that was asked, or the handshake)
  kRead,    // call again once the socket is readable
  kWrite,   // call again once the socket is writable
  kClosed,  // the client ended the stream (close_notify or its TCP FIN)
  kFailed,  // a protocol error or a reset: the connection is over
};

struct TlsIo {
  size_t bytes = 0;              // plaintext moved
  TlsWait wait = TlsWait::kNone;  // why not more (kNone: all of it)
};

class TlsSession {
 public:
  virtual ~TlsSession() = default;
  // Every method: the connection's loop thread only; never blocks.

  // Drives the handshake (the server's for a terminator's session, the
  // client's for a connector's): kNone once it is done; kRead / kWrite: call
  // again when the socket is ready; kFailed / kClosed: failure() says why
  // (for a connector's session, a backend certificate that does not verify
  // is kFailed, its reason in failure()).
  virtual TlsWait handshake() = 0;
  // Reads up to `n` plaintext bytes, as many records as there are: fewer than
  // `n` come back only with a reason (kRead: the socket is drained, the next
  // bytes raise an edge; kClosed / kFailed: after these bytes the stream is
  // over). No bytes are held back in the session once kRead is returned.
  virtual TlsIo read(char* buf, size_t n) = 0;
  // Writes up to `n` bytes. After kWrite (or kRead) the same bytes, from
  // where this call stopped, are offered again; `bytes` counts what the
  // session took (it may hold one partly sent record).
  virtual TlsIo write(const char* buf, size_t n) = 0;
  // Sends close_notify if it fits the socket now (best effort, never waits).
  virtual void shutdown() = 0;
  // Why the handshake or the stream failed, for the debug log.
  virtual std::string failure() const = 0;
  // After the handshake: "TLSv1.3" and so on.
  virtual const char* version() const = 0;
  // After the handshake: the protocol agreed by ALPN ("h2", "http/1.1"), or
  // empty when none was.
  virtual std::string_view alpn() const = 0;
};

// One service's certificates and settings, fixed once made (a reload makes a
// new one; sessions keep the one they started with).
class TlsTerminator {
 public:
  virtual ~TlsTerminator() = default;
  // Any thread, concurrently. A session for a connected non-blocking client
  // socket (not owned: the connection closes it), or null when there is no
  // memory for one (nib's shortage, not the client's failure).
  virtual std::unique_ptr<TlsSession> accept(int fd) const = 0;
  // Any thread. When the soonest of its certificates expires (Unix seconds),
  // for the expiry gauge and the alert.
  virtual int64_t not_after_unix() const = 0;
};

// TLS from nib to one service's backends (re-encryption): its CAs, the name
// to verify, a client certificate; fixed once made, like a terminator.
class TlsConnector {
 public:
  virtual ~TlsConnector() = default;
  // Any thread, concurrently. A client session on a connected non-blocking
  // socket to a backend (not owned). `peer_ip` is the backend's address as
  // text: the name verified when the connector has no server name. `alpn`,
  // when not empty, is the protocol the client agreed with nib, offered to
  // the backend alone, so both hops speak the same one. Null when there is
  // no memory for a session.
  virtual std::unique_ptr<TlsSession> connect(int fd, std::string_view peer_ip, std::string_view alpn) const = 0;
};

}  // namespace nib
