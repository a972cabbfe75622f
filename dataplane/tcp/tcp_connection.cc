#include "dataplane/tcp/tcp_connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "dataplane/base/log.h"
#include "dataplane/net/socket_ops.h"
#include "dataplane/tcp/tcp_worker.h"

namespace nib {
namespace {

constexpr uint32_t kSocketEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
constexpr size_t kSpliceChunk = 64 * 1024;  // a default pipe's capacity

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

// Pen's dummy answer, in nib's words: small, keep-alive (HTTP/1.1).
constexpr std::string_view kDummyReply =
    "HTTP/1.1 200 OK\r\nContent-Length: 16\r\nContent-Type: text/plain\r\n\r\nnib dummy reply\n";

void set_linger_reset(int fd) {
  linger l{1, 0};  // close() sends RST: the peer learns the stream was cut short
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

}  // namespace

void TcpConnection::Flow::reset() {
  buf.reset();
  off = len = ready = 0;
  pipe = Pipe{};  // finish() gave it back already
  piped = 0;
  bulk = false;
  src_readable = dst_writable = true;
  src_hup = eof = shut = src_error = false;
  bytes = 0;
}

TcpConnection::TcpConnection(TcpWorker& worker)
    : worker_(worker), timer_([this] { on_timer(); }) {}

void TcpConnection::start(UniqueFd client, const SocketAddress& peer, Service& service,
                          std::shared_ptr<const RegistrySnapshot> snapshot, Start how) {
  client_ = std::move(client);
  id_ = worker_.next_connection_id();
  peer_ = peer;
  local_ = SocketAddress();
  client_ip_ = peer.ip_key();
  tracked_ = !how.anonymous;
  service_ = &service;
  snap_ = std::move(snapshot);
  idle_timeout_ = snap_->idle_timeout;
  up_.reset();
  down_.reset();
  state_ = State::kConnecting;
  started_ = last_activity_ = worker_.loop().now();
  connect_us_ = -1;
  syn_sent_ = syn_header_ = 0;
  failovers_ = 0;
  eof_seen_ = client_eof_first_ = false;
  request_noted_ = false;
  request_len_ = 0;
  http_.reset();
  forward_len_ = 0;
  pending_ = std::move(how.pending);
  dummy_owed_ = dummy_sent_ = 0;
  dummy_line_ = dummy_request_ = false;
  tls_.reset();
  backend_tls_.reset();
  backend_handshaking_ = false;
  denied_ = false;
  kernel_ = Kernel{};
  if (!worker_.loop().add(client_.get(), kSocketEvents, &client_side_).ok()) {
    failed_locally("epoll", ENOMEM, /*connecting=*/false);  // epoll_ctl fails for memory (or its watch limit)
    service.count_rejected_resources(worker_.index());
    finish(false, CloseReason::kShortage);
    return;
  }
  if (service.keepalive()) set_keepalive(client_.get());
  if (how.proxy_header) [[unlikely]] {
    // The header's bytes raise an edge, also when they came with the accept
    // (a new registration reports what is already there). The connect
    // timeout bounds the wait: a trusted peer that says nothing costs a slot
    // for that long only.
    state_ = State::kHeader;
    worker_.loop().arm(timer_, started_ + snap_->connect_timeout);
    return;
  }
  // With TLS the first bytes are the handshake's: the session reads them.
  if (service.defer_accept() && !snap_->tls && !read_first_bytes()) return;
  begin(how.denied);
}

void TcpConnection::begin(bool denied) {
  if (snap_->tls) return start_handshake(denied);
  choose(denied);
}

void TcpConnection::start_handshake(bool denied) {
  tls_.session = snap_->tls->accept(client_.get());
  if (!tls_) [[unlikely]] {
    failed_locally("TLS session", ENOMEM, /*connecting=*/false);
    service_->count_rejected_resources(worker_.index());
    return finish(false, CloseReason::kShortage);
  }
  denied_ = denied;
  state_ = State::kHandshake;
  worker_.loop().arm(timer_, started_ + snap_->tls_handshake_timeout);
  // The ClientHello is usually in already (it may even have come with the
  // accept): try now rather than wait for an edge.
  continue_handshake();
}

void TcpConnection::continue_handshake() {
  const TlsWait wait = tls_->handshake();
  if (wait == TlsWait::kRead || wait == TlsWait::kWrite) return;  // the next client event comes back here
  if (wait != TlsWait::kNone) return fail_handshake(/*timed_out=*/false);
  worker_.loop().cancel(timer_);
  service_->count_tls_handshake(worker_.index(), MonoClock::now() - started_);
  if (trace_on()) [[unlikely]] log_event(LogLevel::kTrace, std::string("TLS handshake done: ") + tls_->version());
  state_ = State::kConnecting;
  choose(denied_);
}

void TcpConnection::fail_handshake(bool timed_out) {
  if (timed_out) {
    service_->count_tls_handshake_timeout(worker_.index());
  } else {
    service_->count_tls_handshake_failure(worker_.index());
  }
  if (debug_on()) [[unlikely]] {
    log_event(LogLevel::kDebug, timed_out ? std::string("closed: no TLS handshake within the timeout")
                                          : "closed: TLS handshake failed: " + tls_->failure());
  }
  finish(false, CloseReason::kTlsHandshake);
}

ssize_t TcpConnection::tls_recv(TlsSide& t, Flow& reading, char* buf, size_t n) {
  const TlsIo io = t->read(buf, n);
  if (io.wait == TlsWait::kWrite) t.read_waits_writable = true;
  if (io.bytes != 0) {
    // Bytes and then the stream's end: the caller reads on (src_hup) and
    // meets the end with its next read.
    if (io.wait == TlsWait::kClosed || io.wait == TlsWait::kFailed) reading.src_hup = true;
    return static_cast<ssize_t>(io.bytes);
  }
  switch (io.wait) {
    case TlsWait::kNone: return 0;  // n == 0
    case TlsWait::kRead:
    case TlsWait::kWrite: errno = EAGAIN; return -1;
    case TlsWait::kClosed: return 0;
    case TlsWait::kFailed: errno = ECONNRESET; return -1;
  }
  return -1;
}

ssize_t TcpConnection::tls_send(TlsSide& t, const char* buf, size_t n) {
  const TlsIo io = t->write(buf, n);
  if (io.wait == TlsWait::kRead) t.write_waits_readable = true;
  if (io.bytes != 0) return static_cast<ssize_t>(io.bytes);
  switch (io.wait) {
    case TlsWait::kNone: return 0;
    case TlsWait::kRead:
    case TlsWait::kWrite: errno = EAGAIN; return -1;
    case TlsWait::kClosed:
    case TlsWait::kFailed: errno = EPIPE; return -1;
  }
  return -1;
}

bool TcpConnection::spliceable() const { return worker_.pipes().limit() != 0 && !tls_ && !backend_tls_; }

void TcpConnection::choose(bool denied) {
  if (service_->dummy()) [[unlikely]] return start_dummy(denied);
  if (denied) [[unlikely]] {
    sel_ = Selector::abuse(*snap_, started_);
  } else {
    sel_ = Selector::choose(*snap_, service_->affinity(), service_->cursor(), client_ip_, started_, tracked_);
    if (sel_.affinity_break) service_->count_affinity_break(worker_.index());
  }
  if (debug_on()) [[unlikely]] log_event(LogLevel::kDebug, "chose " + Selector::describe(*snap_, sel_));
  connect_next();
}

void TcpConnection::start_dummy(bool denied) {
  if (denied) {
    service_->count_rejected_acl(worker_.index());
    return finish(false, CloseReason::kAcl);
  }
  pending_.release();
  state_ = State::kDummy;
  if (up_.len != 0) {  // read with the accept (defer_accept) or behind a PROXY header
    dummy_owed_ = count_request_ends(up_.buf.get() + up_.off, up_.len - up_.off);
    up_.bytes += up_.len - up_.off;
    up_.off = up_.len = 0;
  }
  last_activity_ = worker_.loop().now();
  if (idle_timeout_ > Duration::zero()) worker_.loop().arm(timer_, last_activity_ + idle_timeout_);
  serve_dummy();
}

void TcpConnection::serve_dummy() {
  for (;;) {
    // Replies first: a client that does not read its answers is not read
    // either, so what a connection holds stays bounded by one buffer.
    while (dummy_owed_ != 0) {
      const ssize_t n = send_to(client_.get(), kDummyReply.data() + dummy_sent_, kDummyReply.size() - dummy_sent_, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (would_block(errno)) return;  // EPOLLOUT's edge brings us back
        return finish(true, CloseReason::kClientReset);
      }
      down_.bytes += static_cast<uint64_t>(n);
      dummy_sent_ += static_cast<uint32_t>(n);
      if (dummy_sent_ == kDummyReply.size()) {
        dummy_sent_ = 0;
        --dummy_owed_;
      }
    }
    if (up_.eof) return finish(false, CloseReason::kClientClosed);
    if (!up_.src_readable) return;
    if (!up_.buf) up_.buf = worker_.take_buffer();
    const ssize_t n = recv_from(client_.get(), up_.buf.get(), TcpWorker::kBufferSize);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (would_block(errno)) {
        up_.src_readable = false;
        return;
      }
      return finish(true, CloseReason::kClientReset);
    }
    if (n == 0) {
      up_.eof = true;
      continue;
    }
    if (!request_noted_ && worker_.access_ring()) note_request(up_.buf.get(), static_cast<size_t>(n));
    up_.bytes += static_cast<uint64_t>(n);
    last_activity_ = worker_.loop().now();
    dummy_owed_ += count_request_ends(up_.buf.get(), static_cast<size_t>(n));
  }
}

uint32_t TcpConnection::count_request_ends(const char* data, size_t n) {
  uint32_t ends = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = data[i];
    if (c == '\n') {
      // A blank line ends a request's header block; blank lines before a
      // request line are skipped, as servers do.
      if (!dummy_line_ && dummy_request_) {
        ++ends;
        dummy_request_ = false;
      } else if (dummy_line_) {
        dummy_request_ = true;
      }
      dummy_line_ = false;
    } else if (c != '\r') {
      dummy_line_ = true;
    }
  }
  return ends;
}

void TcpConnection::read_proxy_header() {
  if (!up_.buf) up_.buf = worker_.take_buffer();
  // TLS: the handshake right behind the header is the session's to read, so
  // the header is peeked at, and only its own bytes are taken.
  const bool exact = snap_->tls != nullptr;
  for (;;) {
    if (exact) up_.len = 0;
    const size_t room = TcpWorker::kBufferSize - up_.len;
    ssize_t n = ::recv(client_.get(), up_.buf.get() + up_.len, room, exact ? MSG_PEEK : 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (would_block(errno)) return;  // the rest comes with the next edge
      return reject_proxy_header("the connection failed before its PROXY header ended");
    }
    if (n == 0) return reject_proxy_header("the client closed before its PROXY header ended");
    up_.len += static_cast<uint32_t>(n);
    const ProxyHeader header = parse_proxy_header(up_.buf.get(), up_.len);
    if (header.result == ProxyHeader::Result::kInvalid) return reject_proxy_header(header.error);
    const bool drained = static_cast<size_t>(n) < room;  // a short read: the next bytes raise an edge
    if (header.result == ProxyHeader::Result::kDone) {
      if (exact) {
        // Peeked bytes are there: the header's come out whole.
        if (::recv(client_.get(), up_.buf.get(), header.length, 0) != static_cast<ssize_t>(header.length)) {
          return reject_proxy_header("the connection failed while its PROXY header was read");
        }
        up_.len = static_cast<uint32_t>(header.length);
      }
      up_.src_readable = !drained || up_.src_hup;
      return accept_proxy_header(header);
    }
    if (drained) return;
  }
}

void TcpConnection::accept_proxy_header(const ProxyHeader& header) {
  worker_.loop().cancel(timer_);
  // What followed the header is the client's: it waits for the backend.
  up_.len -= static_cast<uint32_t>(header.length);
  std::memmove(up_.buf.get(), up_.buf.get() + header.length, up_.len);
  if (!header.local) {  // LOCAL / UNKNOWN: the balancer's own connection, as it is
    peer_ = header.client;
    client_ip_ = peer_.ip_key();
    tracked_ = true;  // a real client now, also behind a Unix socket
    local_ = header.destination;
  }
  if (up_.len != 0 && worker_.access_ring()) note_request(up_.buf.get(), up_.len);
  if (trace_on()) [[unlikely]] log_event(LogLevel::kTrace, "PROXY header read");
  state_ = State::kConnecting;
  const auto verdict = service_->screen(*snap_, client_ip_, worker_.index());
  if (verdict != Service::Admission::kAdmit) [[unlikely]] {
    if (debug_on()) [[unlikely]] log_event(LogLevel::kDebug, "denied by the acl");
    if (verdict == Service::Admission::kRefuse) return finish(false, CloseReason::kAcl);
  }
  begin(verdict == Service::Admission::kAbuse);
}

void TcpConnection::reject_proxy_header(const char* why) {
  service_->count_proxy_protocol_error(worker_.index());
  if (debug_on()) [[unlikely]] log_event(LogLevel::kDebug, std::string("closed: ") + why);
  finish(false, CloseReason::kProxyHeader);
}

size_t TcpConnection::make_proxy_header(ProxyProtocol version, char (&header)[kProxyHeaderMax]) {
  if (!local_.valid()) {
    auto local = local_address(client_.get());
    if (local.ok()) local_ = *local;
  }
  return local_.valid() ? write_proxy_header(version, peer_, local_, header)
                        : write_proxy_local_header(version, header);
}

bool TcpConnection::send_proxy_header(ProxyProtocol version, size_t sent) {
  char header[kProxyHeaderMax];
  const size_t n = make_proxy_header(version, header);
  if (sent >= n) return true;
  // The first bytes on a fresh connection, whose send buffer is empty: they
  // go whole or the connection failed. With the client's bytes waiting,
  // MSG_MORE lets both leave in one segment.
  const int more = up_.off < up_.len && !snap_->backend_tls ? MSG_MORE : 0;
  return ::send(backend_.get(), header + sent, n - sent, MSG_NOSIGNAL | more) == static_cast<ssize_t>(n - sent);
}

bool TcpConnection::fast_open_applies(const Backend& backend) const {
  // Only with the client's bytes in hand (defer_accept, or bytes behind an
  // accepted PROXY header): Fast Open's SYN waits for data, and a server that
  // speaks first (SMTP, MySQL) would wait for a SYN that never leaves. Not
  // through backend_tls (the session writes its ClientHello itself) nor http
  // (X-Forwarded-For is written into the bytes on their way).
  return backend.tcp_fast_open() && up_.off < up_.len && !snap_->backend_tls && !service_->http();
}

int TcpConnection::connect_fast_open(const Backend& backend) {
  // The PROXY header must come first: it goes in the SYN ahead of the
  // client's bytes. Nothing leaves up_ here; take_syn_data() does that once
  // the backend has accepted the connection.
  char header[kProxyHeaderMax];
  const ProxyProtocol proxy = backend.proxy_protocol_or(service_->proxy_protocol());
  const size_t header_len = proxy == ProxyProtocol::kOff ? 0 : make_proxy_header(proxy, header);
  iovec iov[2] = {{header, header_len}, {up_.buf.get() + up_.off, up_.len - up_.off}};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(backend.address().sockaddr_ptr());
  msg.msg_namelen = backend.address().length();
  msg.msg_iov = header_len != 0 ? iov : iov + 1;
  msg.msg_iovlen = header_len != 0 ? 2 : 1;
  // With the kernel's cookie for the backend the SYN carries what fits of
  // the bytes (their count comes back, the socket still connecting); without
  // one it is a plain SYN asking for a cookie and -1 EINPROGRESS, the bytes
  // sent after the handshake as usual.
  const ssize_t n = ::sendmsg(backend_.get(), &msg, MSG_FASTOPEN | MSG_NOSIGNAL);
  if (n >= 0) {
    syn_sent_ = static_cast<uint32_t>(n);
    syn_header_ = static_cast<uint32_t>(header_len);
    syn_proxy_ = proxy;
    errno = EINPROGRESS;
    return -1;
  }
  // The kernel's Fast Open client is off (net.ipv4.tcp_fastopen without bit
  // 1): a plain connect.
  if (errno != EOPNOTSUPP) return -1;
  return ::connect(backend_.get(), backend.address().sockaddr_ptr(), backend.address().length());
}

bool TcpConnection::take_syn_data(ProxyProtocol proxy) {
  const uint32_t header = std::min(syn_sent_, syn_header_);
  const uint32_t data = syn_sent_ - header;
  // The version whose header started in the SYN, whatever an update set since.
  if (syn_header_ != 0) proxy = syn_proxy_;
  // A header goes whole ahead of the rest: what the SYN did not carry of it goes now.
  if (proxy != ProxyProtocol::kOff && !send_proxy_header(proxy, header)) return false;
  if (data != 0) {
    up_.off += data;
    end_pump(up_, data);  // counted as relayed, as a send() of them would be
  }
  return true;
}

bool TcpConnection::read_first_bytes() {
  // With TCP_DEFER_ACCEPT the client's first bytes came with the accept: read
  // them now, before connecting, instead of after the connect with a read that
  // may find nothing yet. They wait in the buffer for the backend.
  up_.buf = worker_.take_buffer();
  ssize_t n = ::recv(client_.get(), up_.buf.get(), TcpWorker::kBufferSize, 0);
  if (n > 0) {
    up_.len = static_cast<uint32_t>(n);
    if (worker_.access_ring()) note_request(up_.buf.get(), up_.len);
    // A short read drained it; the epoll registration reports what comes next.
    if (static_cast<size_t>(n) < TcpWorker::kBufferSize) up_.src_readable = false;
    return true;
  }
  if (n == 0) {
    up_.eof = true;  // a FIN alone: passed on to the backend as usual
    return true;
  }
  if (would_block(errno)) {
    up_.src_readable = false;  // accepted silent, after the defer timeout
    return true;
  }
  if (errno == EINTR) return true;
  finish(false, CloseReason::kClientReset);  // the client is gone already: no backend is bothered
  return false;
}

void TcpConnection::connect_next() {
  MonoTime now = worker_.loop().now();
  while (sel_.kind != Selection::Kind::kReject) {
    switch (try_connect(*sel_.backend(*snap_))) {
      case Connect::kDone: on_backend_connected(/*timer_armed=*/false); return;
      case Connect::kPending: worker_.loop().arm(timer_, now + snap_->connect_timeout); return;
      case Connect::kFailed: on_connect_failed(); break;
      case Connect::kShortage:
        // Not the backend's failure: no blacklist, no failover to a server
        // that would fail the same way. This client is closed, counted.
        close_socket(backend_);
        service_->count_rejected_resources(worker_.index());
        finish(false, CloseReason::kShortage);
        return;
    }
  }
  if (sel_.reason == Selection::Reject::kStubborn) {
    service_->count_stubborn(worker_.index());
  } else if (sel_.reason == Selection::Reject::kDenied) {
    service_->count_rejected_acl(worker_.index());  // the abuse server did not take it
  } else {
    service_->count_no_backend(worker_.index());
  }
  if (debug_on()) [[unlikely]] log_event(LogLevel::kDebug, "closed: " + Selector::describe(*snap_, sel_));
  finish(false, sel_.reason == Selection::Reject::kDenied ? CloseReason::kAcl : CloseReason::kNoBackend);
}

TcpConnection::Connect TcpConnection::failed_locally(const char* what, int err, bool connecting) {
  auto shortage = shortage_of(err, connecting);
  if (!shortage) return Connect::kFailed;
  worker_.on_shortage(*shortage, *service_, what, err);
  return Connect::kShortage;
}

TcpConnection::Connect TcpConnection::try_connect(Backend& backend) {
  // socket() by hand rather than make_tcp_socket(): its errno decides whose
  // failure this is.
  backend_.reset(::socket(backend.address().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!backend_) return failed_locally("socket", errno, /*connecting=*/false);
  if (service_->tcp_nodelay()) set_nodelay(backend_.get());
  if (service_->keepalive()) set_keepalive(backend_.get());
  // A source that is gone (an address removed from the host) is nib's
  // setting, not the backend's failure: counted as a local port shortage.
  if (!service_->bind_upstream(backend_.get(), peer_, backend.address())) {
    return failed_locally("bind to source", errno, /*connecting=*/true);
  }
  // A fresh backend socket: forget the last attempt's edges. Its first bytes
  // raise an edge (EPOLLET), so no read is tried before one: a recv that
  // would only say EAGAIN is saved on every connection.
  down_.src_readable = false;
  down_.src_hup = false;
  up_.dst_writable = true;
  // The loop's cached time is when this batch woke up, not when we connect;
  // and this measures real latency, whatever clock the loop decides on.
  connect_started_ = MonoClock::now();
  syn_sent_ = syn_header_ = 0;
  if (trace_on()) [[unlikely]] log_event(LogLevel::kTrace, "connecting to " + backend.address().to_string());
  const int connected = fast_open_applies(backend)
                            ? connect_fast_open(backend)
                            : ::connect(backend_.get(), backend.address().sockaddr_ptr(), backend.address().length());
  if (connected == 0) {
    if (!worker_.loop().add(backend_.get(), kSocketEvents, &backend_side_).ok()) {
      return failed_locally("epoll", ENOMEM, /*connecting=*/false);
    }
    return Connect::kDone;
  }
  if (errno != EINPROGRESS) return failed_locally("connect", errno, /*connecting=*/true);
  if (!worker_.loop().add(backend_.get(), kSocketEvents, &backend_side_).ok()) {
    return failed_locally("epoll", ENOMEM, /*connecting=*/false);
  }
  return Connect::kPending;
}

void TcpConnection::on_connect_failed(Failure failure, std::string_view detail) {
  MonoTime now = worker_.loop().now();
  worker_.loop().cancel(timer_);
  backend_tls_.reset();
  backend_handshaking_ = false;
  close_socket(backend_);
  Backend* b = sel_.backend(*snap_);
  b->add_failure(worker_.index());
  ++failovers_;
  const char* what = failure == Failure::kConnect ? "failed to connect"
                     : failure == Failure::kReset ? "reset a connection before its first byte"
                     : failure == Failure::kTls   ? "failed the TLS handshake"
                                                  : "closed a connection without answering";
  Duration blacklist = seconds_to_duration(snap_->policy.blacklist_seconds);
  if (blacklist > Duration::zero() && !b->blacklisted(now)) {
    b->blacklist_until(now + blacklist);
    const char* who = sel_.kind == Selection::Kind::kAbuse ? ": the abuse server " : ": backend ";
    log_warn("service " + service_->name() + who + b->address().to_string() + " " + what +
             (detail.empty() ? std::string() : " (" + std::string(detail) + ")") + "; blacklisted for " +
             std::to_string(snap_->policy.blacklist_seconds) + " s");
  }
  const char* reason = failure == Failure::kConnect ? "a client's connect failed"
                       : failure == Failure::kReset ? "a client's connection was reset before the first byte"
                       : failure == Failure::kTls   ? "a client's TLS handshake to it failed"
                                                    : "a client's request was closed without an answer";
  if (b->passive_failure(reason)) service_->passive_down(*b, reason);
  const Selection failed = sel_;
  sel_ = Selector::after_failure(*snap_, sel_, client_ip_, now);
  if (debug_on()) [[unlikely]] {
    log_event(LogLevel::kDebug, Selector::describe(*snap_, failed) + " " + what +
                                    (detail.empty() ? std::string() : " (" + std::string(detail) + ")") + "; " +
                                    (sel_.kind == Selection::Kind::kReject ? "giving up"
                                                                           : "failing over to " +
                                                                                 Selector::describe(*snap_, sel_)));
  }
}

void TcpConnection::on_backend_lost(Failure failure) {
  // Leave the relay: this backend no longer serves the client.
  worker_.loop().cancel(timer_);
  if (backend_ref_->connection_closed()) [[unlikely]] service_->drain_finished(*backend_ref_);
  backend_ref_.reset();
  state_ = State::kConnecting;
  const bool forwarded = up_.bytes != 0;
  const bool reset = failure == Failure::kReset;
  on_connect_failed(failure);
  if (forwarded || !reset) {
    // The client's request may have reached it (or it closed after reading
    // it): retrying elsewhere could do it twice.
    sel_.kind = Selection::Kind::kReject;
    finish(reset, reset ? CloseReason::kBackendReset : CloseReason::kBackendClosed);
    return;
  }
  if (down_.buf) worker_.give_buffer(std::move(down_.buf));
  down_.reset();
  up_.shut = false;  // a FIN already passed on goes to the next server too
  // Connect after this batch of events: one of them may still name the old
  // socket, and must not be taken for the new one's.
  worker_.loop().post([this] {
    if (state_ == State::kConnecting && !backend_) connect_next();
  });
}

void TcpConnection::on_backend_connected(bool timer_armed) {
  if (!snap_->backend_tls) [[likely]] return on_connected();
  Backend* b = sel_.backend(*snap_);
  // A PROXY header is TCP's, ahead of the TLS stream (as HAProxy's send-proxy with ssl).
  const ProxyProtocol proxy = b->proxy_protocol_or(service_->proxy_protocol());
  if (proxy != ProxyProtocol::kOff && !send_proxy_header(proxy)) [[unlikely]] {
    on_connect_failed(Failure::kReset);
    return connect_next();
  }
  // The client's agreed protocol goes on, so both hops speak the same one.
  const std::string_view alpn = tls_ ? tls_->alpn() : std::string_view();
  backend_tls_.session = snap_->backend_tls->connect(backend_.get(), b->address().ip_string(), alpn);
  if (!backend_tls_) [[unlikely]] {
    failed_locally("TLS session", ENOMEM, /*connecting=*/false);
    close_socket(backend_);
    service_->count_rejected_resources(worker_.index());
    return finish(false, CloseReason::kShortage);
  }
  backend_handshaking_ = true;
  if (!timer_armed) worker_.loop().arm(timer_, worker_.loop().now() + snap_->connect_timeout);
  continue_backend_handshake();  // the ClientHello goes now
}

void TcpConnection::continue_backend_handshake() {
  const TlsWait wait = backend_tls_->handshake();
  if (wait == TlsWait::kRead || wait == TlsWait::kWrite) return;  // the next backend event comes back here
  backend_handshaking_ = false;
  if (wait != TlsWait::kNone) {
    service_->count_backend_tls_handshake(worker_.index(), /*ok=*/false);
    const std::string why = backend_tls_->failure();
    on_connect_failed(Failure::kTls, why);
    return connect_next();
  }
  service_->count_backend_tls_handshake(worker_.index(), /*ok=*/true);
  if (trace_on()) [[unlikely]] {
    log_event(LogLevel::kTrace, std::string("TLS handshake to the backend done: ") + backend_tls_->version());
  }
  // The backend may have spoken right behind its handshake: read before
  // waiting for an edge that has come already.
  down_.src_readable = true;
  on_connected();
}

void TcpConnection::on_connected() {
  MonoTime now = worker_.loop().now();
  worker_.loop().cancel(timer_);
  pending_.release();
  state_ = State::kRelaying;
  Backend* b = sel_.backend(*snap_);
  switch (sel_.kind) {
    case Selection::Kind::kBackend: backend_ref_ = snap_->backends[sel_.index]; break;
    case Selection::Kind::kEmergency: backend_ref_ = snap_->emergency; break;
    case Selection::Kind::kAbuse:
      backend_ref_ = snap_->abuse;
      service_->count_abuse(worker_.index());
      break;
    case Selection::Kind::kReject: break;  // never connected
  }
  // Never null (a connect follows a choice); said so for the compiler, which
  // otherwise warns about the null case it cannot rule out.
  if (b == nullptr) [[unlikely]] return finish(true, CloseReason::kNoBackend);
  b->connection_opened();
  b->add_connection(worker_.index());
  b->record_connect_latency(worker_.index(), MonoClock::now() - connect_started_);
  connect_us_ = std::chrono::duration_cast<std::chrono::microseconds>(now - started_).count();
  const ProxyProtocol proxy = b->proxy_protocol_or(service_->proxy_protocol());
  // With backend_tls the header went ahead of the handshake.
  if (!backend_tls_ && !take_syn_data(proxy)) [[unlikely]] return on_backend_lost(Failure::kReset);
  if (trace_on()) [[unlikely]] {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(MonoClock::now() - connect_started_).count();
    log_event(LogLevel::kTrace, "connected to " + b->address().to_string() + " in " + std::to_string(us) + " us" +
                                    (syn_sent_ != 0 ? ", " + std::to_string(syn_sent_) + " bytes in the SYN" : ""));
  }
  if (tracked_) Selector::remember(*snap_, service_->affinity(), sel_, client_ip_, now);
  if (service_->http() && forward_len_ == 0) prepare_forward_headers();
  last_activity_ = now;
  if (idle_timeout_ > Duration::zero()) worker_.loop().arm(timer_, now + idle_timeout_);
  relay();
}

void TcpConnection::on_client_only_event(uint32_t events) {
  if (state_ == State::kHandshake) {
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) up_.src_hup = true;
    return continue_handshake();  // a hang-up or an error fails it there
  }
  if (state_ == State::kDummy) {
    if (tls_.read_waits_writable && (events & EPOLLOUT)) {
      tls_.read_waits_writable = false;
      up_.src_readable = true;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) up_.src_readable = true;
    return serve_dummy();
  }
  if (state_ == State::kHeader) {
    // A FIN right behind the header raises no edge of its own later.
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) up_.src_hup = true;
    read_proxy_header();  // a read sees a hang-up or an error too
  }
}

void TcpConnection::on_event(bool client_side, uint32_t events) {
  if (state_ != State::kConnecting && state_ != State::kRelaying) [[unlikely]] {
    if (client_side) on_client_only_event(events);
    return;
  }
  if (!client_side && !backend_) return;  // the old socket's, after on_backend_lost()
  if (kernel_.on) return on_kernel_event(client_side, events);
  // Edges are remembered even while connecting: a request sent with a FIN
  // before the backend answers must still be relayed whole.
  Flow& reading = client_side ? up_ : down_;
  Flow& writing = client_side ? down_ : up_;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) reading.src_readable = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) reading.src_hup = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writing.dst_writable = true;
  if (TlsSide& t = client_side ? tls_ : backend_tls_; t) [[unlikely]] {
    // A session's read that waited for room to write, or its write that
    // waited for bytes to read, on this socket.
    if (t.read_waits_writable && (events & EPOLLOUT)) {
      t.read_waits_writable = false;
      reading.src_readable = true;
    }
    if (t.write_waits_readable && (events & EPOLLIN)) {
      t.write_waits_readable = false;
      writing.dst_writable = true;
    }
  }
  if (state_ == State::kConnecting) {
    if (client_side) {
      // A client that vanishes while we connect costs nothing more.
      if (events & (EPOLLHUP | EPOLLERR)) finish(false, CloseReason::kClientClosed);
      return;
    }
    // The session reads a failed socket's error itself.
    if (backend_handshaking_) return continue_backend_handshake();
    // A failed connect raises EPOLLERR; EPOLLOUT without it means connected,
    // so no getsockopt(SO_ERROR) is needed on the way.
    if (events & (EPOLLERR | EPOLLHUP)) {
      on_connect_failed();
      connect_next();
    } else if (events & EPOLLOUT) {
      on_backend_connected(/*timer_armed=*/true);
    }
    return;
  }
  relay();
}

void TcpConnection::relay() {
  const bool backend_eof_before = down_.eof;
  Pump up = service_->http() ? pump_http(up_) : pump(up_, client_.get(), backend_.get());
  if (up == Pump::kBadRequest) [[unlikely]] return reject_request();
  Pump down = up == Pump::kOk ? pump(down_, backend_.get(), client_.get()) : Pump::kOk;
  // Pen's passive check, extended: a backend that resets before its first
  // byte failed like a refused connect. So does one that closes without a
  // word after the client's bytes while the client still talks (a request
  // answered by nothing); a close with nothing said either way is a server
  // ending an idle connection, and counts for nothing.
  if (down_.bytes == 0 && down_.len == 0) {
    if (up == Pump::kSinkError || down == Pump::kSourceError) return on_backend_lost(Failure::kReset);
    if (down_.eof && !backend_eof_before && up_.bytes != 0 && !up_.eof && down == Pump::kOk) {
      return on_backend_lost(Failure::kClosedSilently);
    }
  }
  if (!eof_seen_ && (up_.eof || down_.eof)) {
    eof_seen_ = true;
    client_eof_first_ = up_.eof;  // both in one batch: the client's counts as first
  }
  if (up != Pump::kOk || down != Pump::kOk) {
    // A failed read or write names its side: up reads the client and writes
    // the backend, down the other way round.
    const bool client_failed = up == Pump::kSourceError || down == Pump::kSinkError;
    finish(true, client_failed ? CloseReason::kClientReset : CloseReason::kBackendReset);
    return;
  }
  if (up_.done() && down_.done()) {
    finish(false, client_eof_first_ ? CloseReason::kClientClosed : CloseReason::kBackendClosed);
    return;
  }
  if (worker_.kernel_relay() && kernel_eligible()) return enter_kernel();
  // Pen's tcp_fastclose: once a side's half-close has been passed on (its
  // bytes delivered first), the other direction is not waited for.
  const FastClose fast = service_->tcp_fastclose();
  if (fast == FastClose::kOff) [[likely]] return;
  if (up_.done() && closes_on(fast, FastClose::kDown)) {
    finish(false, CloseReason::kClientClosed);
  } else if (down_.done() && closes_on(fast, FastClose::kUp)) {
    finish(false, CloseReason::kBackendClosed);
  }
}

// relay: sockmap (issue 18). Once the backend has sent its first byte (so
// Pen's failover can no longer apply) and the user-space relay holds nothing
// (both buffers and pipes empty, both sockets read to EAGAIN, no FIN or error
// seen), both sockets go into the BPF maps and the verdict program sends
// each one's bytes to the other's egress. They stay there until closed:
// removing a socket from a sockmap frees the skbs its psock still queues
// (sk_psock_drop -> sk_psock_zap_ingress), so a way back to user space could
// lose bytes. Nothing needs one:
// - Half-close. A FIN raises RDHUP (tcp_fin -> sk_state_change) possibly
//   before the verdict has run for the bytes of the same segment
//   (tcp_data_ready comes after tcp_fin in tcp_data_queue). So on RDHUP we
//   first take the source's socket lock (a TCP_INFO read on it), which
//   waits for that softirq; after it the source's redirected counter is
//   final (nothing follows a FIN). The redirected bytes then sit either in
//   the destination's psock queue (the backlog worker sends them
//   asynchronously) or in its TCP send queue. The destination's written
//   stream (bytes acked + SIOCOUTQ, read consistently) minus its baseline at
//   pairing counts what the backlog has written; only the backlog writes to
//   it after pairing. When it equals the counter the psock queue is empty,
//   and shutdown(SHUT_WR) queues the FIN behind every byte. Until then the
//   check is retried on the connection's timer (1 ms, doubling to 100 ms).
// - Close. Both directions done (each FIN passed on as above) closes both
//   sockets, when nothing is queued any more. Errors (a reset, or the psock
//   backlog failing to write: it sets sk_err) raise EPOLLERR and reset both,
//   as the user-space relay does; bytes still queued then are lost as they
//   would be with any reset.
// - Idle timeouts and byte counts. Nib sees no reads: the timer (at most
//   every second, and at the idle deadline) reads the per-socket counters
//   the program keeps, counts their growth as activity and adds it to the
//   connection's and the backend's byte counts; info() reads them directly.
bool TcpConnection::kernel_eligible() const {
  // With an access log, not before the client's first bytes passed here: the
  // log's request line is their first line (a backend that greets first
  // would otherwise take the connection into the kernel before it).
  return state_ == State::kRelaying && !kernel_.on && !kernel_.refused && down_.bytes != 0 &&
         (request_noted_ || worker_.access_ring() == nullptr) && !tls_ &&
         !backend_tls_ && !service_->http() && up_.off == up_.len && down_.off == down_.len && up_.piped == 0 &&
         down_.piped == 0 && !up_.src_readable && !down_.src_readable && !up_.src_hup && !down_.src_hup &&
         !up_.eof && !down_.eof && !up_.shut && !down_.shut && !up_.src_error && !down_.src_error;
}

void TcpConnection::enter_kernel() {
  SockmapRelay& k = *worker_.kernel_relay();
  if (!k.add(client_.get(), backend_.get(), &kernel_.pair)) {
    if (kernel_.pair.broken) [[unlikely]] return finish(true, CloseReason::kShortage);
    kernel_.refused = true;  // the maps are full (or the socket failed): user space relays this one
    return;
  }
  kernel_.on = true;
  worker_.count_kernel_relayed();
  release_pipe(up_);
  release_pipe(down_);
  if (up_.buf) worker_.give_buffer(std::move(up_.buf));
  if (down_.buf) worker_.give_buffer(std::move(down_.buf));
  up_.off = up_.len = down_.off = down_.len = 0;
  // Only the end of a stream, an error or a hang-up wakes nib now: data
  // arrivals still raise EPOLLIN (the psock calls the saved data_ready), and
  // edges for room to write mean nothing to user space any more.
  (void)worker_.loop().modify(client_.get(), EPOLLRDHUP | EPOLLET, &client_side_);
  (void)worker_.loop().modify(backend_.get(), EPOLLRDHUP | EPOLLET, &backend_side_);
  if (trace_on()) [[unlikely]] log_event(LogLevel::kTrace, "relayed in the kernel (sockmap)");
  kernel_check();
}

void TcpConnection::on_kernel_event(bool client_side, uint32_t events) {
  if (events & EPOLLERR) {
    sync_kernel_bytes();
    return finish(true, client_side ? CloseReason::kClientReset : CloseReason::kBackendReset);
  }
  if (events & (EPOLLRDHUP | EPOLLHUP)) {
    if (!eof_seen_) {
      eof_seen_ = true;
      client_eof_first_ = client_side;
    }
    kernel_.fin[client_side ? 0 : 1] = true;
    kernel_.poll = Duration::zero();
  }
  kernel_check();
}

bool TcpConnection::sync_kernel_bytes() {
  const SockmapRelay& k = *worker_.kernel_relay();
  const uint64_t up = k.redirected(kernel_.pair, 0), down = k.redirected(kernel_.pair, 1);
  if (up == kernel_.counted[0] && down == kernel_.counted[1]) return false;
  const uint64_t dup = up - kernel_.counted[0], ddown = down - kernel_.counted[1];
  kernel_.counted[0] = up;
  kernel_.counted[1] = down;
  up_.bytes += dup;
  down_.bytes += ddown;
  backend_ref_->add_bytes(worker_.index(), dup, ddown);
  return true;
}

void TcpConnection::kernel_check() {
  const MonoTime now = worker_.loop().now();
  bool draining = false;
  for (int side = 0; side < 2; ++side) {
    Flow& f = side == 0 ? up_ : down_;
    if (!kernel_.fin[side] || f.shut) continue;
    const int src = side == 0 ? client_.get() : backend_.get();
    const int dst = side == 0 ? backend_.get() : client_.get();
    // The source's socket lock: the verdict has run for every byte before its FIN.
    SockmapRelay::wait_receive(src);
    const uint64_t redirected = worker_.kernel_relay()->redirected(kernel_.pair, side);
    uint64_t written = 0;
    const int dst_side = 1 - side;
    if (SockmapRelay::written_to(dst, &written) && written - kernel_.pair.base[dst_side] == redirected) {
      f.eof = true;
      pass_half_close(f, dst);
    } else {
      draining = true;
    }
  }
  // Once, after the drain checks: their socket locks may have let the last
  // bytes before a FIN reach the counters.
  if (sync_kernel_bytes()) last_activity_ = now;
  if (up_.done() && down_.done()) {
    return finish(false, client_eof_first_ ? CloseReason::kClientClosed : CloseReason::kBackendClosed);
  }
  const FastClose fast = service_->tcp_fastclose();
  if (fast != FastClose::kOff) [[unlikely]] {
    if (up_.done() && closes_on(fast, FastClose::kDown)) return finish(false, CloseReason::kClientClosed);
    if (down_.done() && closes_on(fast, FastClose::kUp)) return finish(false, CloseReason::kBackendClosed);
  }
  if (idle_timeout_ > Duration::zero() && now >= last_activity_ + idle_timeout_) {
    return finish(false, CloseReason::kIdle);
  }
  // Next: the counters' sync (a second), the idle deadline, a drain retry.
  MonoTime next = now + std::chrono::seconds(1);
  if (idle_timeout_ > Duration::zero()) next = std::min(next, last_activity_ + idle_timeout_);
  if (draining) {
    kernel_.poll = kernel_.poll == Duration::zero() ? std::chrono::milliseconds(1)
                                                     : std::min<Duration>(kernel_.poll * 2, std::chrono::milliseconds(100));
    next = std::min(next, now + kernel_.poll);
  }
  worker_.loop().arm(timer_, next);
}

TcpConnection::Pump TcpConnection::pump(Flow& f, int src, int dst) {
  uint64_t moved = 0;
  Pump result = Pump::kOk;
  for (;;) {
    if (f.off < f.len) {
      // After the source's end, the FIN (shutdown or close) follows at once:
      // MSG_MORE holds the bytes back so that both leave in one segment.
      const Sent sent = send_buffered(f, dst, f.len, f.eof ? MSG_MORE : 0, &moved);
      if (sent == Sent::kFailed) result = Pump::kSinkError;
      if (sent != Sent::kAll) break;
      f.off = f.len = 0;
      continue;
    }
    if (f.src_error) {
      result = Pump::kSourceError;  // found by the look-ahead read, reported once its bytes are out
      break;
    }
    if (f.piped != 0) {
      const Sent sent = send_piped(f, dst, &moved);
      if (sent == Sent::kFailed) result = Pump::kSinkError;
      if (sent != Sent::kAll) break;
      continue;
    }
    if (f.eof) {
      pass_half_close(f, dst);
      break;
    }
    if (!f.src_readable) break;
    if (f.bulk && !f.pipe) {
      f.pipe = worker_.pipes().take();
      if (!f.pipe) f.bulk = false;  // none to be had: copy, and ask again after the next full read
    }
    if (f.pipe) {
      ssize_t n = ::splice(src, nullptr, f.pipe.write_end.get(), nullptr, kSpliceChunk, kSpliceFlags);
      if (n > 0) {
        // The pipe was empty, so only the source stops a read; but a short
        // one may just have run out of pipe slots: read on until EAGAIN.
        f.piped = static_cast<uint32_t>(n);
        last_activity_ = worker_.loop().now();
        continue;
      }
      if (n == 0) {
        f.eof = true;
        release_pipe(f);
        continue;
      }
      if (errno == EINTR) continue;
      if (would_block(errno)) {
        f.src_readable = false;
        release_pipe(f);  // idle: the pipe serves another flow meanwhile
        break;
      }
      if (errno != EINVAL) {
        result = Pump::kSourceError;
        break;
      }
      f.bulk = false;  // this source cannot be spliced: copy
      release_pipe(f);
    }
    if (!f.buf) f.buf = worker_.take_buffer();
    ssize_t n = recv_from(src, f.buf.get(), TcpWorker::kBufferSize);
    if (n > 0) {
      f.len = static_cast<uint32_t>(n);
      f.off = 0;
      last_activity_ = worker_.loop().now();
      if (!request_noted_ && &f == &up_ && worker_.access_ring()) note_request(f.buf.get(), f.len);
      if (static_cast<size_t>(n) < TcpWorker::kBufferSize) {
        // A short read drained the socket; the next arrival raises a new edge.
        if (!f.src_hup) {
          f.src_readable = false;
        } else {
          // The source's FIN is in (a server closing after its reply): read
          // on before sending, so the reply and the FIN travel together as one
          // segment instead of two. No extra read: this one was due anyway.
          ssize_t m = recv_from(src, f.buf.get() + f.len, TcpWorker::kBufferSize - f.len);
          if (m > 0) {
            f.len += static_cast<uint32_t>(m);
          } else if (m == 0) {
            f.eof = true;
          } else if (would_block(errno)) {
            f.src_readable = false;
          } else if (errno != EINTR) {
            f.src_error = true;
          }
        }
      } else if (!f.bulk) {
        // A full buffer: a bulk transfer, cheaper spliced once this buffer is
        // out (not through TLS: the bytes must pass through the session).
        f.bulk = spliceable();
      }
      continue;
    }
    if (n == 0) {
      f.eof = true;
      continue;
    }
    if (errno == EINTR) continue;
    if (would_block(errno)) {
      f.src_readable = false;
      break;
    }
    result = Pump::kSourceError;
    break;
  }
  end_pump(f, moved);
  return result;
}

TcpConnection::Sent TcpConnection::send_buffered(Flow& f, int dst, uint32_t end, int flags, uint64_t* moved) {
  while (f.dst_writable) {
    ssize_t n = send_to(dst, f.buf.get() + f.off, end - f.off, flags);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (!would_block(errno)) return Sent::kFailed;
      f.dst_writable = false;
      break;
    }
    f.off += static_cast<uint32_t>(n);
    *moved += static_cast<uint64_t>(n);
    if (f.off == end) return Sent::kAll;
    f.dst_writable = false;  // a short write means the socket buffer is full
  }
  return Sent::kBlocked;
}

TcpConnection::Sent TcpConnection::send_piped(Flow& f, int dst, uint64_t* moved) {
  while (f.dst_writable) {
    ssize_t n = ::splice(f.pipe.read_end.get(), nullptr, dst, nullptr, f.piped, kSpliceFlags);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (!would_block(errno)) return Sent::kFailed;
      f.dst_writable = false;
      break;
    }
    f.piped -= static_cast<uint32_t>(n);
    *moved += static_cast<uint64_t>(n);
    if (f.piped == 0) return Sent::kAll;
    f.dst_writable = false;  // a short write means the socket buffer is full
  }
  return Sent::kBlocked;
}

void TcpConnection::pass_half_close(Flow& f, int dst) {
  if (f.shut) return;
  // Half-close travels on, unless the other way is finished too: then
  // finish() closes both, and close() sends the same FIN.
  const Flow& other = &f == &up_ ? down_ : up_;
  if (!other.done()) {
    if (TlsSide* t = tls_of(dst)) (*t)->shutdown();  // close_notify ahead of the FIN
    ::shutdown(dst, SHUT_WR);
  }
  f.shut = true;
  if (trace_on()) [[unlikely]] {
    log_event(LogLevel::kTrace, &f == &up_ ? "the client finished sending" : "the server finished sending");
  }
}

void TcpConnection::end_pump(Flow& f, uint64_t moved) {
  if (f.off == f.len && f.buf) {
    worker_.give_buffer(std::move(f.buf));
    f.off = f.ready = f.len = 0;
  }
  if (moved == 0) return;
  f.bytes += moved;
  if (&f == &up_) {
    backend_ref_->add_bytes(worker_.index(), moved, 0);
  } else {
    backend_ref_->add_bytes(worker_.index(), 0, moved);
  }
}

TcpConnection::Pump TcpConnection::pump_http(Flow& f) {
  // Room kept free after what was read, for the headers one request gets
  // (the forwarder inserts them where its header block ends).
  constexpr uint32_t kReserve = 256;
  static_assert(kForwardMax <= kReserve && HttpForwarder::kMaxLine + 2 < TcpWorker::kBufferSize - kReserve);
  const int src = client_.get(), dst = backend_.get();
  // After CONNECT or an Upgrade the stream is no longer HTTP: relayed as
  // without -H (spliced when bulky), all that is buffered included.
  if (http_.in_tunnel()) {
    f.ready = f.len;
    return pump(f, src, dst);
  }
  uint64_t moved = 0;
  Pump result = Pump::kOk;
  for (;;) {
    if (f.piped != 0) {  // body bytes, after everything buffered
      const Sent sent = send_piped(f, dst, &moved);
      if (sent == Sent::kFailed) result = Pump::kSinkError;
      if (sent != Sent::kAll) break;
      continue;
    }
    if (f.off < f.ready) {
      const Sent sent = send_buffered(f, dst, f.ready, 0, &moved);
      if (sent == Sent::kFailed) result = Pump::kSinkError;
      if (sent != Sent::kAll) break;
      continue;
    }
    if (f.off != 0) {  // all that was ready is out: the rest moves to the front
      std::memmove(f.buf.get(), f.buf.get() + f.off, f.len - f.off);
      f.len -= f.off;
      f.ready = f.off = 0;
    }
    if (f.ready < f.len) {
      const auto step = http_.advance(f.buf.get(), &f.ready, &f.len, TcpWorker::kBufferSize,
                                      std::string_view(forward_, forward_len_));
      if (step == HttpForwarder::Step::kBadRequest) {
        result = Pump::kBadRequest;
        break;
      }
      if (f.ready != 0) continue;
      // Only an incomplete line is left (at most kMaxLine bytes): read on.
    }
    if (f.src_error) {
      result = Pump::kSourceError;
      break;
    }
    if (f.eof) {
      if (f.ready < f.len) {  // a request cut short by the client's end goes as it is
        f.ready = f.len;
        continue;
      }
      pass_half_close(f, dst);
      break;
    }
    if (!f.src_readable) break;
    if (f.len == 0 && http_.body_due() >= kSpliceChunk && spliceable()) {
      // A large body and nothing buffered: spliced, never more than is due,
      // so the next request's headers are read (and parsed) as ever.
      if (!f.pipe) f.pipe = worker_.pipes().take();
      if (f.pipe) {
        const size_t want = static_cast<size_t>(std::min<uint64_t>(http_.body_due(), kSpliceChunk));
        ssize_t n = ::splice(src, nullptr, f.pipe.write_end.get(), nullptr, want, kSpliceFlags);
        if (n > 0) {
          f.piped = static_cast<uint32_t>(n);
          http_.passed(static_cast<uint64_t>(n));
          last_activity_ = worker_.loop().now();
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        const int err = errno;
        release_pipe(f);
        if (n == 0) {
          f.eof = true;
          continue;
        }
        if (would_block(err)) {
          f.src_readable = false;
          break;
        }
        if (err != EINVAL) {
          result = Pump::kSourceError;
          break;
        }
        // EINVAL: this source cannot be spliced; copy.
      }
    }
    if (f.pipe) release_pipe(f);  // empty: it serves another flow meanwhile
    if (!f.buf) f.buf = worker_.take_buffer();
    ssize_t n = recv_from(src, f.buf.get() + f.len, TcpWorker::kBufferSize - kReserve - f.len);
    if (n > 0) {
      if (!request_noted_ && worker_.access_ring()) note_request(f.buf.get() + f.len, static_cast<size_t>(n));
      f.len += static_cast<uint32_t>(n);
      last_activity_ = worker_.loop().now();
      continue;
    }
    if (n == 0) {
      f.eof = true;
      continue;
    }
    if (errno == EINTR) continue;
    if (would_block(errno)) {
      f.src_readable = false;
      break;
    }
    result = Pump::kSourceError;
    break;
  }
  end_pump(f, moved);
  return result;
}

void TcpConnection::prepare_forward_headers() {
  char ip[INET6_ADDRSTRLEN] = "";
  const IpKey key = peer_.ip_key();
  const bool v4 = key.is_v4();  // an IPv4 client on a dual-stack listener is named as IPv4
  ::inet_ntop(v4 ? AF_INET : AF_INET6, key.bytes.data() + (v4 ? 12 : 0), ip, sizeof ip);
  const char* proto = tls_ ? "https" : "http";  // what the client spoke to nib
  int n = std::snprintf(forward_, sizeof forward_, "X-Forwarded-For: %s\r\nX-Forwarded-Proto: %s\r\n", ip, proto);
  if (service_->http_forwarded()) {
    // RFC 7239: an IPv6 node is quoted and bracketed.
    n += std::snprintf(forward_ + n, sizeof forward_ - static_cast<size_t>(n),
                       v4 ? "Forwarded: for=%s;proto=%s\r\n" : "Forwarded: for=\"[%s]\";proto=%s\r\n", ip, proto);
  }
  forward_len_ = static_cast<uint32_t>(n);
}

void TcpConnection::reject_request() {
  service_->count_http_header_error(worker_.index());
  if (debug_on()) [[unlikely]] log_event(LogLevel::kDebug, std::string("closed: ") + http_.error());
  // The first request: nothing of the server's can be on its way, so the
  // client may be told. Later, a 400 could land inside a reply: just close.
  if (http_.requests() == 0 && down_.bytes == 0 && down_.len == 0 && down_.piped == 0) {
    static constexpr std::string_view k400 =
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    (void)!send_to(client_.get(), k400.data(), k400.size(), 0);
  }
  finish(false, CloseReason::kBadRequest);
}

void TcpConnection::release_pipe(Flow& f) {
  if (f.pipe) worker_.pipes().give(std::move(f.pipe), f.piped == 0);
  f.pipe = Pipe{};
  f.piped = 0;
}

void TcpConnection::on_timer() {
  MonoTime now = worker_.loop().now();
  if (state_ == State::kHeader) return reject_proxy_header("no PROXY header within the connect timeout");
  if (state_ == State::kHandshake) return fail_handshake(/*timed_out=*/true);
  if (state_ == State::kConnecting && backend_handshaking_) {
    service_->count_backend_tls_handshake(worker_.index(), /*ok=*/false);
    on_connect_failed(Failure::kTls, "no handshake within the connect timeout");
    connect_next();
    return;
  }
  if (state_ == State::kConnecting) {
    on_connect_failed();  // connect timeout: Pen blacklists it like a refusal
    connect_next();
    return;
  }
  if (kernel_.on) return kernel_check();
  if ((state_ != State::kRelaying && state_ != State::kDummy) || idle_timeout_ <= Duration::zero()) return;
  MonoTime deadline = last_activity_ + idle_timeout_;
  if (now >= deadline) {
    finish(false, CloseReason::kIdle);
  } else {
    worker_.loop().arm(timer_, deadline);  // re-armed lazily: activity costs no timer work
  }
}

void TcpConnection::set_idle_timeout(const Service& service, Duration timeout) {
  if (service_ != &service || !in_use()) return;
  idle_timeout_ = timeout;
  if (state_ != State::kRelaying && state_ != State::kDummy) return;  // connecting: the timer is the connect timeout's
  if (kernel_.on) {  // its timer also drives the counters and the drain checks: due now, it re-arms itself
    worker_.loop().arm(timer_, worker_.loop().now());
    return;
  }
  if (timeout <= Duration::zero()) {
    worker_.loop().cancel(timer_);
  } else {
    worker_.loop().arm(timer_, last_activity_ + timeout);  // already past: fires at once
  }
}

void TcpConnection::close_socket(UniqueFd& fd) {
  if (fd) worker_.loop().forget(fd.get());
  fd.reset();
}

void TcpConnection::finish(bool abort, CloseReason why) {
  if (state_ == State::kFree || state_ == State::kClosed) return;
  worker_.loop().cancel(timer_);
  if (kernel_.on) sync_kernel_bytes();  // the counts logged and kept below are the kernel's too
  if (AccessRing* ring = worker_.access_ring()) log_access(*ring, why);
  if (debug_on() && state_ == State::kRelaying) [[unlikely]] {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(worker_.loop().now() - started_).count();
    log_event(LogLevel::kDebug, std::string(abort ? "reset" : "closed") + " after " + std::to_string(ms) + " ms: " +
                                    std::to_string(up_.bytes) + " bytes to " +
                                    backend_ref_->address().to_string() + ", " + std::to_string(down_.bytes) +
                                    " back");
  }
  if (state_ == State::kRelaying) {
    // Rarely true: this was the last connection of a draining backend.
    if (backend_ref_->connection_closed()) [[unlikely]] service_->drain_finished(*backend_ref_);
    if (tracked_ && sel_.kind == Selection::Kind::kBackend && snap_->policy.mode != BalanceMode::kRoundRobin) {
      service_->affinity().add_bytes(client_ip_, up_.bytes, down_.bytes);
    }
  }
  if (abort) {
    if (client_) set_linger_reset(client_.get());
    if (backend_) set_linger_reset(backend_.get());
  }
  state_ = State::kClosed;
  // A clean close of an established stream says so (close_notify); an
  // abort or a failed handshake does not.
  if (tls_) {
    if (!abort && why != CloseReason::kTlsHandshake) tls_->shutdown();
    tls_.reset();
  }
  if (backend_tls_) {
    if (!abort && !backend_handshaking_) backend_tls_->shutdown();
    backend_tls_.reset();
    backend_handshaking_ = false;
  }
  close_socket(client_);
  close_socket(backend_);
  if (kernel_.on) {
    // Closed: both sockets left the sockmaps with their descriptors.
    worker_.kernel_relay()->forget(kernel_.pair);
    kernel_.on = false;
  }
  if (up_.buf) worker_.give_buffer(std::move(up_.buf));
  if (down_.buf) worker_.give_buffer(std::move(down_.buf));
  release_pipe(up_);
  release_pipe(down_);
  pending_.release();
  service_->release();
  worker_.budget().release(kDescriptors);  // after the service slot: a listener woken for -x sees it free
  worker_.retire(this);
}

void TcpConnection::note_request(const char* data, size_t n) {
  // Only the first line, as Pen logs it: what penlogd matches the web
  // server's "request" field against. One bounded memchr per connection.
  request_noted_ = true;
  size_t len = std::min(n, AccessRecord::kRequestMax);
  if (const void* nl = std::memchr(data, '\n', len)) len = static_cast<size_t>(static_cast<const char*>(nl) - data);
  if (len > 0 && data[len - 1] == '\r') --len;
  std::memcpy(request_, data, len);
  request_len_ = static_cast<uint8_t>(len);
}

void TcpConnection::log_access(AccessRing& ring, CloseReason why) {
  // Filled in place in the worker's ring: no allocation, no formatting here.
  AccessRecord* r = ring.claim();
  if (!r) return;  // the ring is full: counted as dropped, the relay goes on
  r->unix_ns = wall_clock_ns();
  r->duration_us = std::chrono::duration_cast<std::chrono::microseconds>(worker_.loop().now() - started_).count();
  r->connect_us = connect_us_;
  r->bytes_in = up_.bytes;
  r->bytes_out = down_.bytes;
  r->service = &service_->name();
  r->client = peer_;
  const Backend* b = state_ == State::kRelaying ? backend_ref_.get() : nullptr;
  r->backend = b ? b->address() : SocketAddress();
  // One getsockname() per logged connection, only with a log on: the port
  // the kernel chose at connect() is what the backend's own log shows.
  r->backend_source_port = b && backend_ ? local_port(backend_.get()) : 0;
  r->failovers = failovers_;
  r->reason = why;
  r->protocol = Protocol::kTcp;
  r->request_len = request_len_;
  std::memcpy(r->request, request_, request_len_);
  ring.publish();
}

void TcpConnection::log_event(LogLevel level, const std::string& what) const {
  Log::write(level, "service " + service_->name() + ": client " + peer_.to_string() + ": " + what);
}

void TcpConnection::recycle() {
  state_ = State::kFree;
  snap_.reset();
  backend_ref_.reset();
  service_ = nullptr;
  sel_ = Selection{};
}

ConnectionInfo TcpConnection::info(MonoTime now) const {
  ConnectionInfo i;
  i.id = id_;
  i.service = service_ ? service_->name() : "";
  i.worker = worker_.index();
  i.client = peer_;
  if (Backend* b = snap_ ? sel_.backend(*snap_) : nullptr) {
    i.backend = b->address();
    i.backend_id = b->id();
  }
  i.connecting = state_ == State::kConnecting || state_ == State::kHeader || state_ == State::kHandshake;
  i.age_seconds = std::chrono::duration<double>(now - started_).count();
  i.bytes_in = up_.bytes;
  i.bytes_out = down_.bytes;
  if (kernel_.on) {  // what the kernel moved since the last sync, read now: the API's counts are exact
    const SockmapRelay& k = *worker_.kernel_relay();
    i.bytes_in += k.redirected(kernel_.pair, 0) - kernel_.counted[0];
    i.bytes_out += k.redirected(kernel_.pair, 1) - kernel_.counted[1];
  }
  return i;
}

}  // namespace nib
