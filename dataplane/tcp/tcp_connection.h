#pragma once
// One client connection relayed to one backend: Pen's connect-and-fail-over
// sequence, then a two-way relay with bounded buffers, back-pressure and
// half-close. Owned and reused by its TcpWorker; every method runs on that
// worker's loop thread.
#include <sys/socket.h>

#include <memory>
#include <string>
#include <string_view>

#include "dataplane/balancer/selector.h"
#include "dataplane/base/log.h"
#include "dataplane/base/unique_fd.h"
#include "dataplane/event/event_loop.h"
#include "dataplane/kernel/sockmap_relay.h"
#include "dataplane/log/access_ring.h"
#include "dataplane/net/http_forwarder.h"
#include "dataplane/net/proxy_protocol.h"
#include "dataplane/net/tls_session.h"
#include "dataplane/service/service.h"
#include "dataplane/status_views.h"
#include "dataplane/tcp/pending_slot.h"
#include "dataplane/tcp/pipe_pool.h"

namespace nib {

class TcpWorker;

class TcpConnection {
 public:
  // Descriptors one connection holds at most (the client's and the
  // backend's), reserved from the budget before accept(), given back at finish.
  static constexpr uint64_t kDescriptors = 2;

  explicit TcpConnection(TcpWorker& worker);
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  struct Start {
    // The client ACL said no: the snapshot's abuse server only, or close.
    bool denied = false;
    // A trusted balancer's connection, whose PROXY header names the client;
    // it is read first, and the client ACL applies to that client.
    bool proxy_header = false;
    // Counted in the service's pending (pending_max): given back once
    // connected to a backend, or closed before.
    PendingSlot pending;
    // A client without an address (from a Unix socket listener; `peer` is
    // 0.0.0.0 port 0): not looked up in nor remembered in the client table.
    bool anonymous = false;
  };
  // Takes an accepted client (already admitted against the service's limits)
  // and starts choosing and connecting a backend.
  void start(UniqueFd client, const SocketAddress& peer, Service& service,
             std::shared_ptr<const RegistrySnapshot> snapshot, Start how);

  // Closes both sides now (shutdown, a drain deadline); `why` goes to the access log.
  void close(CloseReason why) { finish(false, why); }
  bool in_use() const {
    return state_ == State::kHeader || state_ == State::kHandshake || state_ == State::kConnecting ||
           state_ == State::kRelaying || state_ == State::kDummy;
  }
  // The backend this connection relays to (counted in its active()), or null.
  const Backend* relay_backend() const { return state_ == State::kRelaying ? backend_ref_.get() : nullptr; }
  // Called by the worker once no event of this batch can still name us.
  void recycle();

  ConnectionInfo info(MonoTime now) const;
  uint64_t id() const { return id_; }
  // Loop thread. The service's idle timeout changed (policy, reload): an open
  // connection of `service` idles out by the new one, counted from its last
  // activity (zero: never).
  void set_idle_timeout(const Service& service, Duration timeout);

 private:
  // kHeader: reading a trusted balancer's PROXY header, before any choice.
  // kHandshake: a TLS service's client handshake, before any choice.
  // kDummy: Pen's dummy, nib answers the client itself (no backend).
  enum class State { kFree, kHeader, kHandshake, kConnecting, kRelaying, kDummy, kClosed };

  // One direction of the relay: bytes read from `src` wait in `buf` (copy) or
  // in `pipe` (splice, zero-copy) for `dst`. A flow starts copying, which is
  // cheapest for small messages, and splices once one read has filled the
  // buffer (`bulk`); it holds a pipe only while bytes are moving.
  struct Flow {
    std::unique_ptr<char[]> buf;
    uint32_t off = 0, len = 0;
    uint32_t ready = 0;  // HTTP (-H) only: [off, ready) may be sent, [ready, len) is still to parse
    Pipe pipe;
    uint32_t piped = 0;  // bytes in `pipe`
    bool bulk = false;
    bool src_readable = true;
    bool dst_writable = true;
    bool src_hup = false;  // the source's FIN was seen: read on to the end
    bool eof = false;      // read returned 0
    bool src_error = false;  // a read failed while bytes still wait for dst
    bool shut = false;     // dst's write side shut down after eof
    uint64_t bytes = 0;
    bool done() const { return shut && off == len && piped == 0; }
    void reset();
  };

  class Side final : public EventHandler {
   public:
    Side(TcpConnection* c, bool client) : c_(c), client_(client) {}
    void on_event(uint32_t events) override { c_->on_event(client_, events); }

   private:
    TcpConnection* c_;
    bool client_;
  };

  // Which end of a flow failed: its source (read) or its destination (write),
  // or (HTTP, -H) what the client sent is not a valid request.
  enum class Pump { kOk, kSourceError, kSinkError, kBadRequest };

  void on_event(bool client_side, uint32_t events);
  // The states with a client and no backend (kHeader, kDummy); others ignore it.
  void on_client_only_event(uint32_t events);
  // The client is admitted (its PROXY header read, if one was due): a TLS
  // service's client shakes hands first, then chooses.
  void begin(bool denied);
  // Chooses a server for the client (Pen's rules) and starts connecting.
  void choose(bool denied);
  // kHandshake: drives the TLS handshake on every client event until it is
  // done (then chooses), fails or times out (closed, counted).
  void start_handshake(bool denied);
  void continue_handshake();
  void fail_handshake(bool timed_out);
  // A TLS session on one socket of the relay, and the other direction's
  // edge it waits for: a session's read may wait for the socket to be
  // writable (and a write for readable), since TLS records go both ways
  // under either; that edge then retries it.
  struct TlsSide {
    std::unique_ptr<TlsSession> session;
    bool read_waits_writable = false;
    bool write_waits_readable = false;
    explicit operator bool() const { return session != nullptr; }
    TlsSession* operator->() const { return session.get(); }
    void reset() {
      session.reset();
      read_waits_writable = write_waits_readable = false;
    }
  };
  // A socket through its TLS session, as recv() and send() would answer:
  // their results and errno (EAGAIN when the session waits for the socket,
  // ECONNRESET / EPIPE when it failed). `reading` is the flow whose source
  // the socket is (its src_hup is set when the stream ends behind the bytes).
  ssize_t tls_recv(TlsSide& t, Flow& reading, char* buf, size_t n);
  ssize_t tls_send(TlsSide& t, const char* buf, size_t n);
  // recv / send on either socket, through its TLS session when it has one
  // (the client's socket is up_'s source, the backend's down_'s).
  ssize_t recv_from(int fd, char* buf, size_t n) {
    if (TlsSide* t = tls_of(fd)) [[unlikely]] return tls_recv(*t, t == &tls_ ? up_ : down_, buf, n);
    return ::recv(fd, buf, n, 0);
  }
  // MSG_MORE means nothing to a TLS record: the session sends whole ones.
  ssize_t send_to(int fd, const char* buf, size_t n, int flags) {
    if (TlsSide* t = tls_of(fd)) [[unlikely]] return tls_send(*t, buf, n);
    return ::send(fd, buf, n, MSG_NOSIGNAL | flags);
  }
  // TLS on the socket of `fd` (either side's), or null.
  TlsSide* tls_of(int fd) {
    if (tls_ && fd == client_.get()) return &tls_;
    if (backend_tls_ && fd == backend_.get()) return &backend_tls_;
    return nullptr;
  }
  // Whether a bulk flow may splice: the worker has pipes, and no TLS session
  // on either side (the bytes must pass through it).
  bool spliceable() const;
  // Pen's dummy: instead of choosing, answers each request of the client
  // (bytes already read count) with a fixed page; `denied` clients are closed.
  void start_dummy(bool denied);
  // Sends the replies owed, then reads on, until the socket would block.
  void serve_dummy();
  // Requests whose header block ends in data[0, n) (a blank line), carried
  // across reads.
  uint32_t count_request_ends(const char* data, size_t n);
  // kHeader: reads what the client sent until its PROXY header is whole,
  // then takes the client it names and chooses; a bad header closes it.
  void read_proxy_header();
  void accept_proxy_header(const ProxyHeader& header);
  void reject_proxy_header(const char* why);
  // A PROXY header of `version` (the backend's, else the service's) to the
  // just-connected backend, less its first `sent` bytes (gone in the SYN);
  // false when the backend's socket failed.
  bool send_proxy_header(ProxyProtocol version, size_t sent = 0);
  size_t make_proxy_header(ProxyProtocol version, char (&header)[kProxyHeaderMax]);
  // tcp_fast_open: whether this connect may carry the client's bytes in its
  // SYN (bytes in hand, nothing that rewrites or wraps them).
  bool fast_open_applies(const Backend& backend) const;
  // connect() by TCP Fast Open: as ::connect() (-1 with EINPROGRESS once the
  // SYN is out), noting in syn_* what the SYN carried.
  int connect_fast_open(const Backend& backend);
  // After a Fast Open connect succeeded: what its SYN carried counts as
  // sent. False when the PROXY header's rest could not be sent.
  bool take_syn_data(ProxyProtocol proxy);
  void on_timer();
  void connect_next();
  // kFailed: the backend's failure; kShortage: nib's own (no descriptor,
  // memory or local port), reported already: the client is closed.
  enum class Connect { kDone, kPending, kFailed, kShortage };
  Connect try_connect(Backend& backend);
  // A call for this client failed with `err`: kShortage when that is nib's
  // shortage (counted and reported to the worker), kFailed otherwise.
  Connect failed_locally(const char* what, int err, bool connecting);
  // How a backend failed a client: its connect, or after it (before its first byte).
  // kTls: its TLS handshake (backend_tls) failed or its certificate did not verify.
  enum class Failure { kConnect, kReset, kClosedSilently, kTls };
  // Counts the failure against the backend (Pen's blacklist, the passive
  // check), closes its socket and chooses the next server.
  void on_connect_failed(Failure failure = Failure::kConnect, std::string_view detail = {});
  // After accept with defer_accept: reads what the client sent; false when it
  // closed the connection (the client is gone).
  bool read_first_bytes();
  // The backend reset (or closed without a word after the client's bytes)
  // before its first byte: a failure like a refused connect. With nothing of
  // the client's forwarded yet, the client fails over; otherwise it is closed.
  void on_backend_lost(Failure failure);
  // The backend's TCP connect is done. With backend_tls its handshake comes
  // first, still kConnecting and under the connect timeout (armed already
  // when `timer_armed`); then on_connected().
  void on_backend_connected(bool timer_armed);
  void continue_backend_handshake();
  void on_connected();
  void relay();
  // relay: sockmap (issue 18). See the comment above enter_kernel() in the
  // .cc for why leaving the kernel is never needed and how half-close and
  // close stay exact.
  bool kernel_eligible() const;
  void enter_kernel();
  void on_kernel_event(bool client_side, uint32_t events);
  // Reads the pair's counters (activity, byte counts), passes on a FIN once
  // its direction is drained, closes when both are done, re-arms the timer.
  void kernel_check();
  // Adds what the kernel redirected since the last call to the flows'
  // and the backend's counts; true when anything moved.
  bool sync_kernel_bytes();
  Pump pump(Flow& f, int src, int dst);
  // Sends f.buf[f.off, end) (with `flags`, MSG_NOSIGNAL added): kAll when all
  // went, kBlocked when the socket buffer filled (dst_writable cleared).
  enum class Sent { kAll, kBlocked, kFailed };
  Sent send_buffered(Flow& f, int dst, uint32_t end, int flags, uint64_t* moved);
  // The source's end seen and its bytes out: the FIN goes on to `dst`, once.
  void pass_half_close(Flow& f, int dst);
  // Sends what f.pipe holds (f.piped bytes), as send_buffered.
  Sent send_piped(Flow& f, int dst, uint64_t* moved);
  // After a pass: an empty buffer goes back to the worker, `moved` is counted.
  void end_pump(Flow& f, uint64_t moved);
  // Pen's -H: the client's bytes through http_, which adds forward_ to
  // every request; header blocks are copied, large bodies and tunnels spliced.
  Pump pump_http(Flow& f);
  // The header lines each request of this client gets (-H).
  void prepare_forward_headers();
  // A malformed request (-H): counted, answered 400 when nothing else was, closed.
  void reject_request();
  void release_pipe(Flow& f);
  // Closes one of our sockets. The loop is told first: epoll forgets a closed
  // descriptor by itself, io_uring's poll would hold the socket open.
  void close_socket(UniqueFd& fd);
  // Closes both sides (`abort`: with a reset) and logs the connection.
  void finish(bool abort, CloseReason why);
  // Access log (only with one): keeps the first line of the client's first
  // bytes, and writes the record into the worker's ring.
  void note_request(const char* data, size_t n);
  void log_access(AccessRing& ring, CloseReason why);
  // -d / -d -d lines, built only behind debug_on() / trace_on() (cold).
  void log_event(LogLevel level, const std::string& what) const;

  TcpWorker& worker_;
  Side client_side_{this, true};
  Side backend_side_{this, false};
  Timer timer_;
  State state_ = State::kFree;
  uint64_t id_ = 0;  // ConnectionInfo::id, from the worker at start
  UniqueFd client_;
  UniqueFd backend_;
  // TLS services: the client's session; backend_tls: the backend's (null:
  // plain TCP on that side).
  TlsSide tls_;
  TlsSide backend_tls_;
  bool backend_handshaking_ = false;  // kConnecting: backend_tls_'s handshake is under way
  bool denied_ = false;  // kHandshake: the client goes to the abuse server after it
  Service* service_ = nullptr;
  std::shared_ptr<const RegistrySnapshot> snap_;
  std::shared_ptr<Backend> backend_ref_;  // keeps a removed backend alive while in use
  Selection sel_;
  SocketAddress peer_;
  SocketAddress local_;  // where the client connected (a PROXY header's destination); unset until needed
  IpKey client_ip_;
  bool tracked_ = true;  // client_ip_ is the client's own: the client table applies
  Flow up_;    // client -> backend
  Flow down_;  // backend -> client
  MonoTime started_{};
  MonoTime connect_started_{};  // of the current attempt, for the latency histogram
  // The current attempt's SYN data (tcp_fast_open): bytes the kernel took,
  // and how many of the bytes offered were the PROXY header. Taken from up_
  // only once the backend accepted the connection, so a refusal leaves them
  // for the next server.
  uint32_t syn_sent_ = 0;
  uint32_t syn_header_ = 0;
  ProxyProtocol syn_proxy_ = ProxyProtocol::kOff;  // the header's version, when syn_header_
  MonoTime last_activity_{};
  Duration idle_timeout_{};  // the snapshot's at start, then set_idle_timeout()'s
  // relay: sockmap. `on`: both sockets are in the kernel's maps until they
  // close; `fin`: that direction's source sent its FIN (seen as RDHUP/HUP),
  // the FIN goes on once the kernel has written all its bytes. `counted`:
  // redirected bytes already in the flows' and the backend's counts.
  struct Kernel {
    bool on = false;
    bool refused = false;  // the maps refused this connection once: user space to the end
    SockmapRelay::Pair pair;
    uint64_t counted[2] = {0, 0};
    bool fin[2] = {false, false};
    Duration poll{};  // the drain check's retry interval, doubling while it waits
  };
  Kernel kernel_;
  // For the access log.
  int64_t connect_us_ = -1;      // accept to connected; -1 until then
  uint16_t failovers_ = 0;       // servers that failed this client
  bool eof_seen_ = false;        // a FIN came in from either side
  bool client_eof_first_ = false;
  bool request_noted_ = false;
  PendingSlot pending_;  // held from accept until connected or closed
  // kDummy: replies owed, bytes of the first one sent, and where the parse
  // is (the current line has more than CR; a request line was seen).
  uint32_t dummy_owed_ = 0;
  uint32_t dummy_sent_ = 0;
  bool dummy_line_ = false;
  bool dummy_request_ = false;
  uint8_t request_len_ = 0;
  char request_[AccessRecord::kRequestMax];
  // Pen's -H.
  static constexpr uint32_t kForwardMax = 192;
  HttpForwarder http_;
  uint32_t forward_len_ = 0;
  char forward_[kForwardMax];
};

}  // namespace nib
