#include "server/tls/openssl_session.h"

#include <openssl/bio.h>
#include <sys/socket.h>

#include <cerrno>
#include <new>
#include <system_error>

namespace nib::tls {
namespace {

using Socket = OpenSslSession::Socket;

Socket& socket_of(BIO* bio) { return *static_cast<Socket*>(BIO_get_data(bio)); }

int socket_read(BIO* bio, char* buf, int len) {
  Socket& s = socket_of(bio);
  BIO_clear_retry_flags(bio);
  for (;;) {
    ssize_t n = ::recv(s.fd, buf, static_cast<size_t>(len), 0);
    if (n > 0) return static_cast<int>(n);
    if (n == 0) {
      // BIO_eof() must say so: OpenSSL tells a FIN (unexpected EOF) from a
      // socket error by it.
      s.eof = true;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_read(bio);
      return -1;
    }
    s.error = errno;
    return -1;
  }
}

int socket_write(BIO* bio, const char* buf, int len) {
  Socket& s = socket_of(bio);
  BIO_clear_retry_flags(bio);
  for (;;) {
    // MSG_NOSIGNAL: a client that reset must cost an EPIPE, not the process.
    ssize_t n = ::send(s.fd, buf, static_cast<size_t>(len), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_write(bio);
      return -1;
    }
    s.error = errno;
    return -1;
  }
}

long socket_ctrl(BIO* bio, int cmd, long /*num*/, void* /*ptr*/) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // nothing is buffered: every write went to send()
    case BIO_CTRL_EOF:
      return socket_of(bio).eof ? 1 : 0;
    default:
      return 0;
  }
}

int socket_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int socket_destroy(BIO*) { return 1; }  // the socket belongs to the connection

struct MethodFree {
  void operator()(BIO_METHOD* m) const { BIO_meth_free(m); }
};

// Made once (a function-local static is initialised thread-safely), shared
// by every session of every terminator; null if OpenSSL had no memory.
const BIO_METHOD* socket_method() {
  static const std::unique_ptr<BIO_METHOD, MethodFree> method = [] {
    std::unique_ptr<BIO_METHOD, MethodFree> m(
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "nib client socket"));
    if (m && (BIO_meth_set_read(m.get(), socket_read) != 1 || BIO_meth_set_write(m.get(), socket_write) != 1 ||
              BIO_meth_set_ctrl(m.get(), socket_ctrl) != 1 || BIO_meth_set_create(m.get(), socket_create) != 1 ||
              BIO_meth_set_destroy(m.get(), socket_destroy) != 1)) {
      m.reset();
    }
    ERR_clear_error();
    return m;
  }();
  return method.get();
}

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

}  // namespace

OpenSslSession::OpenSslSession(int fd, std::shared_ptr<const void> keep_alive, Role role)
    : keep_alive_(std::move(keep_alive)), role_(role) {
  socket_.fd = fd;
}

std::unique_ptr<OpenSslSession> OpenSslSession::start(SSL_CTX* ctx, int fd, std::shared_ptr<const void> keep_alive,
                                                      Role role) {
  ERR_clear_error();
  const BIO_METHOD* method = socket_method();
  std::unique_ptr<OpenSslSession> session(new (std::nothrow) OpenSslSession(fd, std::move(keep_alive), role));
  if (method == nullptr || session == nullptr) return nullptr;
  session->ssl_.reset(SSL_new(ctx));
  BIO* bio = session->ssl_ ? BIO_new(method) : nullptr;
  if (bio == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  BIO_set_data(bio, &session->socket_);
  SSL_set_bio(session->ssl_.get(), bio, bio);  // the SSL owns the BIO now
  if (role == Role::kServer) {
    SSL_set_accept_state(session->ssl_.get());
  } else {
    SSL_set_connect_state(session->ssl_.get());
  }
  return session;
}

void OpenSslSession::begin_call() {
  ERR_clear_error();
  socket_.error = 0;
  failure_.clear();
}

TlsWait OpenSslSession::settle(int ret) {
  const int code = SSL_get_error(ssl_.get(), ret);
  const char* const peer = role_ == Role::kServer ? "client" : "backend";
  TlsWait wait = TlsWait::kFailed;
  switch (code) {
    case SSL_ERROR_WANT_READ:
      wait = TlsWait::kRead;
      break;
    case SSL_ERROR_WANT_WRITE:
      wait = TlsWait::kWrite;
      break;
    case SSL_ERROR_ZERO_RETURN:
      failure_ = std::string("tls: the ") + peer + " sent close_notify";
      wait = TlsWait::kClosed;
      break;
    case SSL_ERROR_SYSCALL:
      // No queued error and no errno: the BIO saw EOF where OpenSSL did not
      // expect it (a FIN without close_notify).
      if (ERR_peek_error() == 0 && socket_.error == 0) {
        failure_ = std::string("tls: the ") + peer + " closed the connection without close_notify";
        wait = TlsWait::kClosed;
      } else if (socket_.error != 0) {
        failure_ = "tls: " + errno_text(socket_.error);
      } else {
        failure_ = take_openssl_error();
      }
      break;
    case SSL_ERROR_SSL:
      // A FIN without close_notify: the contract counts it as the client
      // ending the stream, as a plain TCP client's FIN is (Pen's semantics).
      if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        failure_ = std::string("tls: the ") + peer + " closed the connection without close_notify";
        wait = TlsWait::kClosed;
      } else if (const long verify = SSL_get_verify_result(ssl_.get());
                 role_ == Role::kClient && verify != X509_V_OK) {
        // OpenSSL's queued error says only "certificate verify failed"; the
        // verify result says why, and the name is what the operator set.
        failure_ = std::string("tls: the backend's certificate does not verify: ") +
                   X509_verify_cert_error_string(verify);
        if (!expected_name_.empty()) failure_ += " (expected " + expected_name_ + ")";
      } else {
        failure_ = take_openssl_error();
        if (failure_.empty()) failure_ = "tls: protocol error";
      }
      break;
    default:
      failure_ = "tls: unexpected SSL_get_error " + std::to_string(code);
      break;
  }
  ERR_clear_error();
  return wait;
}

TlsWait OpenSslSession::handshake() {
  begin_call();
  const int ret = SSL_do_handshake(ssl_.get());
  if (ret == 1) {
    ERR_clear_error();
    return TlsWait::kNone;
  }
  return settle(ret);
}

template <typename Call>
TlsIo OpenSslSession::transfer(size_t n, Call call) {
  begin_call();
  TlsIo io;
  while (io.bytes < n) {
    size_t moved = 0;
    const int ret = call(io.bytes, &moved);
    if (ret != 1) {
      io.wait = settle(ret);
      break;
    }
    io.bytes += moved;
  }
  ERR_clear_error();
  return io;
}

TlsIo OpenSslSession::read(char* buf, size_t n) {
  // A WANT_READ means the BIO's recv said EAGAIN: SSL_read hands out the
  // decrypted bytes it holds before it reads the socket, so none are left
  // behind when kRead is returned.
  return transfer(n, [&](size_t done, size_t* got) { return SSL_read_ex(ssl_.get(), buf + done, n - done, got); });
}

TlsIo OpenSslSession::write(const char* buf, size_t n) {
  return transfer(n, [&](size_t done, size_t* put) { return SSL_write_ex(ssl_.get(), buf + done, n - done, put); });
}

void OpenSslSession::shutdown() {
  ERR_clear_error();
  // One try: close_notify goes out if the socket takes it now. OpenSSL
  // refuses during the handshake, which is fine: there is nothing to close.
  if (SSL_is_init_finished(ssl_.get())) (void)SSL_shutdown(ssl_.get());
  ERR_clear_error();
}

const char* OpenSslSession::version() const { return SSL_get_version(ssl_.get()); }

std::string_view OpenSslSession::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl_.get(), &p, &n);
  return {reinterpret_cast<const char*>(p), n};
}

}  // namespace nib::tls
