// The one file of nib that includes Boost.Beast and asio (heavy to compile).
// Design and limits: http_admin_server.h.
#include "admin/http/http_admin_server.h"

// Beast's string_view is std::string_view, as everywhere else in nib.
#define BOOST_BEAST_USE_STD_STRING_VIEW
#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <algorithm>
#include <charconv>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "admin/common/admin_auth.h"
#include "admin/common/admin_plane_stats.h"
#include "admin/common/bounded_worker_pool.h"
#include "admin/http/event_stream.h"
#include "admin/http/rest_api.h"
#include "admin/metrics/metrics_collector.h"
#include "dataplane/base/log.h"
#include "admin/core/admin_api.h"
#include "dataplane/dataplane.h"

namespace nib::admin {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

constexpr auto kStreamsEndTimeout = std::chrono::milliseconds(500);
constexpr auto kStopTimeout = std::chrono::seconds(2);
// After the last response of a connection: how long (and how much) its
// client's unread bytes are drained, so closing does not reset the
// connection before the client read that response (HTTP's "lingering close").
constexpr auto kLingerTimeout = std::chrono::seconds(1);
constexpr size_t kLingerBytes = 1024 * 1024;
// An accept() that fails (out of descriptors) is retried after this, not in a
// hot loop.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr const char* kRetryAfterSeconds = "1";
// The reserve's deadlines are this fraction of the normal ones: a reserve
// slot held by a slow client frees up soon.
constexpr int kReserveDeadlineDivisor = 5;

Duration seconds(double s) { return seconds_to_duration(s); }

bool is_probe(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  return path == "/healthz" || path == "/readyz";
}

std::string describe_bytes(size_t n) { return std::to_string(n) + " bytes"; }

// Which slot a connection holds, decided at accept.
enum class Admission { kFull, kReserve };

// Connection slots: the total, per client address, and the probe reserve.
// Any thread (sessions may end on a worker thread while the server stops).
class ConnectionBudget {
 public:
  ConnectionBudget(const HttpLimits& limits, AdminPlaneStats& stats) : limits_(limits), stats_(stats) {}

  // nullopt: not even the reserve has room; the caller closes the connection.
  std::optional<Admission> admit(const net::ip::address& client) {
    std::lock_guard lock(mu_);
    size_t& mine = per_client_[client];
    if (full_ < limits_.max_connections && mine < limits_.max_connections_per_client) {
      ++full_;
      ++mine;
      return Admission::kFull;
    }
    if (mine == 0) per_client_.erase(client);
    stats_.hit(full_ >= limits_.max_connections ? AdminLimitId::kHttpMaxConnections
                                                : AdminLimitId::kHttpMaxConnectionsPerClient);
    if (reserve_ < limits_.probe_reserve) {
      ++reserve_;
      return Admission::kReserve;
    }
    stats_.hit(AdminLimitId::kHttpProbeReserve);
    return std::nullopt;
  }

  void release(const net::ip::address& client, Admission admission) {
    std::lock_guard lock(mu_);
    if (admission == Admission::kReserve) {
      --reserve_;
      return;
    }
    --full_;
    auto it = per_client_.find(client);
    if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
  }

 private:
  const HttpLimits& limits_;
  AdminPlaneStats& stats_;
  std::mutex mu_;
  size_t full_ = 0;
  size_t reserve_ = 0;
  std::map<net::ip::address, size_t> per_client_;
};

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // I/O thread. Closes the socket: every pending operation ends.
  virtual void abort() = 0;
};

// The live sessions, so stop() can cut them all. Any thread.
class SessionRegistry {
 public:
  void add(SessionBase* s) {
    std::lock_guard lock(mu_);
    live_.insert(s);
  }
  void remove(SessionBase* s) {
    std::lock_guard lock(mu_);
    live_.erase(s);
  }
  void abort_all() {
    std::lock_guard lock(mu_);
    for (SessionBase* s : live_) s->abort();
  }

 private:
  std::mutex mu_;
  std::set<SessionBase*> live_;
};

AdminResponse with_retry_after(AdminResponse r) {
  r.headers.emplace_back("Retry-After", kRetryAfterSeconds);
  return r;
}

}  // namespace

Result<SocketAddress> parse_admin_listen(std::string_view text) {
  auto fail = [&] {
    return Status::invalid("expected host:port with a port 0-65535 (IPv6 as [::1]:9901), got '" + std::string(text) +
                           "'");
  };
  HostPort hp;
  if (!split_host_port(text, &hp) || hp.host.empty()) return fail();
  uint32_t port = 0;
  auto [end, ec] = std::from_chars(hp.port.data(), hp.port.data() + hp.port.size(), port);
  if (ec != std::errc() || end != hp.port.data() + hp.port.size() || port > 65535) return fail();
  auto address = SocketAddress::resolve(hp.host, static_cast<uint16_t>(port));
  if (!address.ok()) return Status::invalid(address.status().message());
  return *address;
}

bool is_loopback(const SocketAddress& address) {
  IpKey k = address.ip_key();
  if (k.is_v4()) return k.bytes[12] == 127;
  IpKey one{};
  one.bytes[15] = 1;
  return k == one;
}

struct HttpAdminServer::Impl {
  Impl(AdminApi& core, HttpAdminOptions opts)
      : core(core),
        dataplane(core.dataplane()),
        options(std::move(opts)),
        stats(options.stats ? *options.stats : own_stats),
        metrics(dataplane, &stats, options.discovery, &core),
        streams(dataplane.events(),
                EventSubscriptionLimits{.max_open = options.limits.max_event_streams,
                                        .queue_capacity = options.event_queue,
                                        .limit = AdminLimitId::kHttpMaxEventStreams,
                                        .gauge = AdminGauge::kHttpEventStreams,
                                        .what = "event streams"},
                &stats),
        budget(options.limits, stats) {}

  Status load_auth();
  Status create_tls();
  Status bind();
  void accept();
  void on_accept(const error_code& ec, tcp::socket socket);

  AdminApi& core;
  Dataplane& dataplane;
  const HttpAdminOptions options;
  AdminPlaneStats own_stats;
  AdminPlaneStats& stats;
  AdminAuth auth;
  MetricsCollector metrics;
  EventSubscriptions streams;
  std::unique_ptr<RestApi> api;
  SocketAddress bound;
  ConnectionBudget budget;
  SessionRegistry sessions;
  std::optional<ssl::context> tls;
  std::unique_ptr<BoundedWorkerPool> pool;
  // Destroyed before everything above: the handlers it still holds keep
  // sessions, which use the members above as they go.
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  net::steady_timer accept_pause{ioc};
  bool accept_failing = false;  // I/O thread: one log line per burst of accept errors
  std::thread io_thread;
  bool started = false;
};

namespace {

using Impl = HttpAdminServer::Impl;
using SslStream = beast::ssl_stream<tcp::socket>;
using IoHandler = std::function<void(const error_code&, size_t)>;

// A connection's bytes, plain or TLS, behind one interface: the session
// logic is then compiled once, not once per stream type (asio's templates
// are most of this file's compile time). I/O thread only.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual bool tls() const = 0;
  virtual void handshake(std::function<void(const error_code&)> done) = 0;  // TLS only
  virtual void read_some(net::mutable_buffer into, IoHandler done) = 0;
  virtual void write(net::const_buffer all, IoHandler done) = 0;  // all of it, or an error
  virtual void shutdown(std::function<void()> done) = 0;  // TLS: close_notify; plain: FIN at once
  virtual void cancel() = 0;  // pending operations end with operation_aborted
  virtual void close() = 0;
};

template <class Stream>
class StreamTransport final : public Transport {
 public:
  explicit StreamTransport(Stream stream) : stream_(std::move(stream)) {}
  bool tls() const override { return !std::is_same_v<Stream, tcp::socket>; }
  void handshake(std::function<void(const error_code&)> done) override {
    if constexpr (std::is_same_v<Stream, SslStream>) stream_.async_handshake(ssl::stream_base::server, std::move(done));
  }
  void read_some(net::mutable_buffer into, IoHandler done) override { stream_.async_read_some(into, std::move(done)); }
  void write(net::const_buffer all, IoHandler done) override { net::async_write(stream_, all, std::move(done)); }
  void shutdown(std::function<void()> done) override {
    if constexpr (std::is_same_v<Stream, SslStream>) {
      stream_.async_shutdown([done = std::move(done)](const error_code&) { done(); });
    } else {
      error_code ignored;
      stream_.shutdown(tcp::socket::shutdown_send, ignored);
      done();
    }
  }
  void cancel() override {
    error_code ignored;
    beast::get_lowest_layer(stream_).cancel(ignored);
  }
  void close() override {
    error_code ignored;
    beast::get_lowest_layer(stream_).close(ignored);
  }

 private:
  Stream stream_;
};

// One connection, plain or TLS: requests in, responses out, or one event
// stream. Runs on the I/O thread except the handler, which a worker runs.
class Session final : public SessionBase, public std::enable_shared_from_this<Session> {
 public:
  Session(Impl& server, std::unique_ptr<Transport> transport, net::ip::address client, Admission admission)
      : server_(server),
        stream_(std::move(transport)),
        client_(std::move(client)),
        admission_(admission),
        deadline_(server.ioc),
        heartbeat_(server.ioc),
        buffer_(server.options.limits.max_header_bytes + kReadChunk),
        connection_(server.stats, AdminGauge::kHttpConnections) {
    server_.sessions.add(this);
  }

  ~Session() override {
    server_.sessions.remove(this);
    if (events_) {
      server_.streams.release(events_);
    }
    server_.budget.release(client_, admission_);
  }

  void start() {
    if (stream_->tls()) {
      phase_ = Phase::kHandshake;
      arm(request_timeout());
      stream_->handshake([self = shared_from_this()](const error_code& ec) {
        if (ec || self->timed_out_) return self->abort();
        self->read_request();
      });
    } else {
      read_request();
    }
  }

  void abort() override {
    if (aborted_) return;
    aborted_ = true;
    deadline_.cancel();
    heartbeat_.cancel();
    stream_->close();
  }

 private:
  // How much one read asks for; the buffer holds at most a header and this.
  static constexpr size_t kReadChunk = 16 * 1024;

  enum class Phase { kHandshake, kIdle, kReading, kHandling, kWriting, kStreaming, kClosing };

  const HttpLimits& limits() const { return server_.options.limits; }
  Duration request_timeout() const {
    Duration d = seconds(limits().request_timeout_seconds);
    return admission_ == Admission::kReserve ? d / kReserveDeadlineDivisor : d;
  }
  Duration idle_timeout() const {
    Duration d = seconds(limits().idle_timeout_seconds);
    return admission_ == Admission::kReserve ? request_timeout() : d;
  }

  // One deadline at a time; what its expiry does depends on the phase.
  void arm(Duration after) {
    timed_out_ = false;
    uint64_t generation = ++deadline_generation_;
    deadline_.expires_after(after);
    deadline_.async_wait([self = shared_from_this(), generation](const error_code& ec) {
      if (ec || generation != self->deadline_generation_ || self->aborted_) return;
      self->on_deadline();
    });
  }
  void disarm() {
    ++deadline_generation_;
    deadline_.cancel();
  }

  void on_deadline() {
    timed_out_ = true;
    switch (phase_) {
      case Phase::kIdle:
        server_.stats.hit(AdminLimitId::kHttpIdleTimeout);
        return abort();
      case Phase::kReading:
        // Cancel the read; its handler answers 408.
        server_.stats.hit(AdminLimitId::kHttpRequestTimeout);
        stream_->cancel();
        return;
      case Phase::kHandshake:
        server_.stats.hit(AdminLimitId::kHttpRequestTimeout);
        return abort();
      case Phase::kHandling:  // the worker's time is not the client's fault: no deadline
      case Phase::kStreaming:
        return;
      case Phase::kWriting:  // the client does not read its answer
      case Phase::kClosing:
        return abort();
    }
  }

  // ---- requests ----

  void read_request() {
    if (aborted_) return;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(limits().max_header_bytes));
    parser_->body_limit(limits().max_body_bytes);
    header_checked_ = false;
    // Pipelined bytes already here start the next request's clock.
    phase_ = buffer_.size() > 0 ? Phase::kReading : Phase::kIdle;
    arm(phase_ == Phase::kReading ? request_timeout() : idle_timeout());
    parse();
  }

  // Raw bytes, so the first byte of a request is seen (Beast's own read of a
  // message returns only once a whole header is in) and starts its deadline.
  void read_some() {
    size_t room = buffer_.max_size() - buffer_.size();
    if (room == 0) return on_parse_error(http::error::buffer_overflow);
    stream_->read_some(buffer_.prepare(std::min(room, kReadChunk)),
                       [self = shared_from_this()](const error_code& ec, size_t n) { self->on_read(ec, n); });
  }

  void on_read(const error_code& ec, size_t n) {
    if (aborted_) return;
    if (timed_out_ && phase_ == Phase::kReading) {
      return fail(408, "REQUEST_TIMEOUT",
                  "the request did not arrive in full within " +
                      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(request_timeout()).count()) +
                      " s");
    }
    if (ec) return abort();  // the client left (between requests, or mid-request), or the socket failed
    buffer_.commit(n);
    if (phase_ == Phase::kIdle && n > 0) {
      phase_ = Phase::kReading;  // the first byte: the whole request has request_timeout from here
      arm(request_timeout());
    }
    parse();
  }

  // Feeds the parser what is buffered; reads more, checks the header once it
  // is in, or dispatches the request once it is whole.
  void parse() {
    while (buffer_.size() > 0 && !parser_->is_done()) {
      error_code ec;
      size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) return on_parse_error(ec);
      if (parser_->is_header_done() && !header_checked_) {
        header_checked_ = true;
        if (!check_header()) return;
        if (wants_continue()) return;  // parsing resumes once "100 Continue" is out
      }
      if (used == 0) break;
    }
    if (!parser_->is_done()) return read_some();
    disarm();
    dispatch();
  }

  void on_parse_error(const error_code& ec) {
    if (ec == http::error::header_limit || (ec == http::error::buffer_overflow && !parser_->is_header_done())) {
      server_.stats.hit(AdminLimitId::kHttpMaxHeaderBytes);
      return fail(431, "REQUEST_HEADER_FIELDS_TOO_LARGE",
                  "the request line and headers are larger than " + describe_bytes(limits().max_header_bytes));
    }
    if (ec == http::error::body_limit || ec == http::error::buffer_overflow) {
      server_.stats.hit(AdminLimitId::kHttpMaxBodyBytes);
      return fail(413, "PAYLOAD_TOO_LARGE", "the request body is larger than " + describe_bytes(limits().max_body_bytes));
    }
    fail(400, "INVALID_ARGUMENT", "malformed HTTP request: " + ec.message());
  }

  // The header is in: its line count, and the reserve's rule. False when
  // already answered.
  bool check_header() {
    const auto& req = parser_->get();
    size_t lines = static_cast<size_t>(std::distance(req.begin(), req.end()));
    if (lines > limits().max_header_count) {
      server_.stats.hit(AdminLimitId::kHttpMaxHeaderCount);
      fail(431, "REQUEST_HEADER_FIELDS_TOO_LARGE",
           "the request has " + std::to_string(lines) + " header lines; at most " +
               std::to_string(limits().max_header_count) + " are allowed");
      return false;
    }
    if (admission_ == Admission::kReserve && !is_probe(req.target())) {
      keep_alive_ = false;
      respond(with_retry_after(server_.api->transport_error(
          partial_request(), 503, "UNAVAILABLE",
          "the admin server has too many connections (or too many from this address); retry later")));
      return false;
    }
    return true;
  }

  // curl sends "Expect: 100-continue" before a body over 1 KiB and waits a
  // second for this go-ahead.
  bool wants_continue() {
    const auto& req = parser_->get();
    auto expect = req[http::field::expect];
    if (parser_->is_done() || !beast::iequals(expect, "100-continue")) return false;
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    stream_->write(net::buffer(kContinue), [self = shared_from_this()](const error_code& ec, size_t) {
      if (ec || self->aborted_) return self->abort();
      self->parse();
    });
    return true;
  }

  // What is known of a request that will not be read to its end.
  AdminRequest partial_request() const {
    AdminRequest r;
    if (parser_ && parser_->is_header_done()) {
      const auto& req = parser_->get();
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
    }
    return r;
  }

  void dispatch() {
    http::request<http::string_body> req = parser_->release();
    parser_.reset();
    AdminRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.content_type = std::string(req[http::field::content_type]);
    r.authorization = std::string(req[http::field::authorization]);
    r.body = std::move(req.body());
    head_ = r.method == "HEAD";
    version_ = req.version();
    keep_alive_ = req.keep_alive() && admission_ == Admission::kFull;
    if (is_probe(r.target)) return respond(handle(server_, r));  // here, never behind the workers
    phase_ = Phase::kHandling;
    AdminRequest refused{.method = r.method, .target = r.target};
    bool queued = server_.pool->try_submit([self = shared_from_this(), r = std::move(r)]() mutable {
      AdminResponse response = handle(self->server_, r);
      net::io_context& ioc = self->server_.ioc;
      // The session travels to the I/O thread: no worker keeps a reference.
      net::post(ioc, [self = std::move(self), response = std::move(response)]() mutable {
        self->respond(std::move(response));
      });
    });
    if (!queued) {
      server_.stats.hit(AdminLimitId::kHttpMaxQueuedRequests);
      keep_alive_ = false;
      respond(with_retry_after(server_.api->transport_error(
          refused, 503, "UNAVAILABLE", "the admin server is busy (too many requests waiting); retry later")));
    }
  }

  static AdminResponse handle(Impl& server, const AdminRequest& r) {
    try {
      return server.api->handle(r);
    } catch (const std::exception& e) {
      log_error("admin HTTP " + r.method + " " + r.target + ": " + e.what());
    } catch (...) {
      log_error("admin HTTP " + r.method + " " + r.target + ": unknown exception");
    }
    return server.api->transport_error(r, 500);
  }

  // An error the HTTP layer answers itself; the connection closes after it
  // (the rest of the request is still unread).
  void fail(int status, std::string_view code, const std::string& message) {
    keep_alive_ = false;
    respond(server_.api->transport_error(partial_request(), status, code, message));
  }

  // ---- responses ----

  void respond(AdminResponse r) {
    if (aborted_) return;
    if (r.events) return start_events(std::move(r));
    // Written out here rather than by Beast's serializer: a response is a few
    // lines, and the serializer's templates, instantiated for both stream
    // types, were a large share of this file's compile time.
    const bool has_body = r.status >= 200 && r.status != 204 && r.status != 304;
    out_ = status_line(r.status);
    for (const auto& [name, value] : r.headers) out_ += name + ": " + value + "\r\n";
    if (!r.content_type.empty()) out_ += "Content-Type: " + r.content_type + "\r\n";
    // HEAD: the length a GET would send, and no body.
    if (has_body) out_ += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    if (!keep_alive_) {
      out_ += "Connection: close\r\n";
    } else if (version_ == 10) {
      out_ += "Connection: keep-alive\r\n";
    }
    out_ += "\r\n";
    if (has_body && !head_) out_ += r.body;
    phase_ = Phase::kWriting;
    arm(request_timeout());
    stream_->write(net::buffer(out_), [self = shared_from_this()](const error_code& ec, size_t) {
      if (ec || self->aborted_ || self->timed_out_) return self->abort();
      if (self->keep_alive_) return self->read_request();
      self->close();
    });
  }

  std::string status_line(int status) const {
    return std::string(version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ") + std::to_string(status) + " " +
           std::string(http::obsolete_reason(static_cast<http::status>(status))) + "\r\n";
  }

  // Ends the connection after its last response without resetting it.
  void close() {
    phase_ = Phase::kClosing;
    arm(kLingerTimeout);
    if (stream_->tls()) {
      stream_->shutdown([self = shared_from_this()] { self->abort(); });
    } else {
      stream_->shutdown([] {});
      linger();
    }
  }

  void linger() {
    stream_->read_some(net::buffer(discard_), [self = shared_from_this()](const error_code& ec, size_t n) {
      self->lingered_ += n;
      if (ec || self->aborted_ || self->lingered_ > kLingerBytes) return self->abort();
      self->linger();
    });
  }

  // ---- Server-Sent Events: chunks written as events arrive ----

  void start_events(AdminResponse r) {
    events_ = std::move(r.events);
    phase_ = Phase::kStreaming;
    disarm();
    std::string head = status_line(200) + "Content-Type: " + r.content_type + "\r\n";
    for (const auto& [name, value] : r.headers) head += name + ": " + value + "\r\n";
    head += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    // At once, so the client knows it is subscribed before any event.
    pending_ = head + chunk("retry: 3000\n: nib events\n\n");
    // The publisher's thread only posts, at most one wake-up at a time.
    auto wake_pending = std::make_shared<std::atomic<bool>>(false);
    std::weak_ptr<Session> weak = shared_from_this();
    events_->set_waker([wake_pending, weak, executor = server_.ioc.get_executor()] {
      if (wake_pending->exchange(true)) return;
      net::post(executor, [wake_pending, weak] {
        wake_pending->store(false);
        if (auto self = weak.lock()) self->pump_events();
      });
    });
    watch_for_eof();
    beat();
    write_pending();
  }

  // After the last chunk. The read watching for the client's end goes on
  // draining what it sends until it closes too, or the linger time is up.
  void finish_stream() {
    heartbeat_.cancel();
    // The stream is over (stop() waits for that); the connection may linger.
    server_.streams.release(events_);
    events_.reset();
    if (stream_->tls()) {
      abort();  // a TLS shutdown cannot run beside the pending read
    } else {
      stream_->shutdown([] {});
      arm(kLingerTimeout);
    }
  }

  static std::string chunk(std::string_view data) {
    char size[20];
    auto [end, ec] = std::to_chars(size, size + sizeof size, data.size(), 16);
    return std::string(size, end) + "\r\n" + std::string(data) + "\r\n";
  }

  // Anything the client sends on an event stream is ignored; its end ends the stream.
  void watch_for_eof() {
    stream_->read_some(net::buffer(discard_), [self = shared_from_this()](const error_code& ec, size_t) {
      if (ec || self->aborted_) return self->abort();
      self->watch_for_eof();
    });
  }

  void beat() {
    heartbeat_.expires_after(server_.options.event_heartbeat);
    heartbeat_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec || self->aborted_) return;
      if (self->writing_) {
        // A client that stopped reading: its write has waited too long.
        if (MonoClock::now() - self->write_started_ > self->request_timeout()) return self->abort();
      } else if (self->phase_ == Phase::kStreaming) {
        self->pending_ = chunk(": keepalive\n\n");
        self->write_pending();
      }
      self->beat();
    });
  }

  void pump_events() {
    if (aborted_ || writing_ || phase_ != Phase::kStreaming) return;
    EventSubscription::Batch batch = events_->take(Duration::zero());
    std::string text = sse_chunk(batch);
    if (batch.closed) {  // the server is stopping: end the response properly
      phase_ = Phase::kClosing;
      pending_ = text.empty() ? "0\r\n\r\n" : chunk(text) + "0\r\n\r\n";
      return write_pending();
    }
    if (text.empty()) return;
    pending_ = chunk(text);
    write_pending();
  }

  void write_pending() {
    writing_ = true;
    write_started_ = MonoClock::now();
    out_ = std::move(pending_);
    pending_.clear();
    stream_->write(net::buffer(out_), [self = shared_from_this()](const error_code& ec, size_t) {
      self->writing_ = false;
      if (ec || self->aborted_) return self->abort();
      if (self->phase_ == Phase::kClosing) return self->finish_stream();
      self->pump_events();
    });
  }

  Impl& server_;
  std::unique_ptr<Transport> stream_;
  const net::ip::address client_;
  const Admission admission_;
  net::steady_timer deadline_;
  uint64_t deadline_generation_ = 0;
  bool timed_out_ = false;
  net::steady_timer heartbeat_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Phase phase_ = Phase::kIdle;
  bool header_checked_ = false;
  bool head_ = false;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool aborted_ = false;
  size_t lingered_ = 0;
  std::array<char, 4096> discard_;
  // Event stream state.
  std::shared_ptr<EventSubscription> events_;
  std::string pending_;  // the next event-stream write
  std::string out_;      // the write in flight
  bool writing_ = false;
  MonoTime write_started_{};
  AdminGaugeHold connection_;
};

}  // namespace

Status HttpAdminServer::Impl::load_auth() {
  if (options.token_file.empty()) {
    if (!is_loopback(bound)) {
      log_warn("WARNING: the admin HTTP plane on " + bound.to_string() +
               " is reachable from other hosts and has NO authentication: anyone who can connect can add, "
               "drain and remove backends. Give it tokens with --admin-token-file FILE (admin.token_file in "
               "YAML) or bind it to 127.0.0.1.");
    }
    return {};
  }
  auto loaded = AdminAuth::load_file(options.token_file);
  if (!loaded.ok()) return loaded.status();
  auth = std::move(*loaded);
  return {};
}

Status HttpAdminServer::Impl::create_tls() {
  if (!options.tls.enabled()) return {};
  // Checked here so a bad file is reported by name.
  auto material = load_tls(options.tls);
  if (!material.ok()) return material.status();
  tls.emplace(ssl::context::tls_server);
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  error_code ec;
  tls->use_certificate_chain(net::buffer(material->cert_chain_pem), ec);
  if (!ec) tls->use_private_key(net::buffer(material->private_key_pem), ssl::context::pem, ec);
  if (ec) return Status::invalid("admin TLS: the HTTP server could not use " + options.tls.cert_file + ": " + ec.message());
  return {};
}

Status HttpAdminServer::Impl::bind() {
  error_code ec;
  tcp::endpoint endpoint(net::ip::make_address(bound.ip_string(), ec), bound.port());
  if (!ec) acceptor.open(endpoint.protocol(), ec);
  // No SO_REUSEPORT: a second nib must fail to start, not share the port.
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    error_code ignored;
    acceptor.close(ignored);
    return Status::unavailable("admin HTTP: cannot listen on " + bound.to_string() + ": " + ec.message());
  }
  tcp::endpoint local = acceptor.local_endpoint(ec);
  if (ec) {
    error_code ignored;
    acceptor.close(ignored);
    return Status::unavailable("admin HTTP: cannot read the bound address of " + bound.to_string() + ": " +
                               ec.message());
  }
  bound.set_port(local.port());
  return {};
}

void HttpAdminServer::Impl::accept() {
  acceptor.async_accept([this](const error_code& ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
}

void HttpAdminServer::Impl::on_accept(const error_code& ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
  if (ec) {
    if (!accept_failing) log_warn("admin HTTP: accept failed: " + ec.message() + "; retrying");
    accept_failing = true;
    accept_pause.expires_after(kAcceptPause);
    accept_pause.async_wait([this](const error_code& e) {
      if (!e) accept();
    });
    return;
  }
  accept_failing = false;
  error_code peer_ec;
  net::ip::address client = socket.remote_endpoint(peer_ec).address();
  std::optional<Admission> admission;
  if (!peer_ec) admission = budget.admit(client);
  if (admission) {
    socket.set_option(tcp::no_delay(true), peer_ec);
    if (tls) {
      auto transport = std::make_unique<StreamTransport<SslStream>>(SslStream(std::move(socket), *tls));
      std::make_shared<Session>(*this, std::move(transport), client, *admission)->start();
    } else {
      auto transport = std::make_unique<StreamTransport<tcp::socket>>(std::move(socket));
      std::make_shared<Session>(*this, std::move(transport), client, *admission)->start();
    }
  }
  // Without admission the socket closes here: not even the probe reserve has room.
  accept();
}

HttpAdminServer::HttpAdminServer(AdminApi& api, HttpAdminOptions options)
    : impl_(std::make_unique<Impl>(api, std::move(options))) {}

HttpAdminServer::~HttpAdminServer() { stop(); }

Status HttpAdminServer::start() {
  Impl& m = *impl_;
  auto listen = parse_admin_listen(m.options.listen);
  if (!listen.ok()) return Status::invalid("admin HTTP listen address: " + listen.status().message());
  m.bound = *listen;
  if (Status st = m.load_auth(); !st.ok()) return st;
  if (Status st = m.create_tls(); !st.ok()) return st;
  m.api = std::make_unique<RestApi>(m.core, m.auth, m.metrics, &m.streams,
                                    RestApiOptions{.max_body_bytes = m.options.limits.max_body_bytes});
  if (Status st = m.bind(); !st.ok()) return st;
  m.pool = std::make_unique<BoundedWorkerPool>(m.options.limits.workers, m.options.limits.max_queued_requests,
                                               &m.stats);
  m.accept();
  m.io_thread = std::thread([&m] {
    try {
      m.ioc.run();
    } catch (const std::exception& e) {
      log_error(std::string("admin HTTP: the I/O thread stopped: ") + e.what());
    }
  });
  m.started = true;
  log_info("admin HTTP on " + std::string(m.options.tls.enabled() ? "https://" : "http://") + m.bound.to_string() + "/ (" +
           (m.auth.enabled() ? std::to_string(m.auth.token_count()) + " token(s) from " + m.options.token_file
                             : std::string("no authentication")) +
           ")");
  return {};
}

void HttpAdminServer::stop() {
  Impl& m = *impl_;
  if (!m.started) return;
  m.started = false;
  // Event streams first, so each ends its response with the last chunk.
  m.streams.close_all();
  m.streams.wait_released(kStreamsEndTimeout);
  // No new connections, and every open one cut, whatever its client does.
  auto cut = std::make_shared<std::promise<void>>();
  net::post(m.ioc, [&m, cut] {
    error_code ignored;
    m.acceptor.close(ignored);
    m.accept_pause.cancel();
    m.sessions.abort_all();
    cut->set_value();
  });
  cut->get_future().wait_for(kStopTimeout);
  m.pool->stop();  // handlers running finish; their answers go nowhere
  m.ioc.stop();
  if (m.io_thread.joinable()) m.io_thread.join();
}

SocketAddress HttpAdminServer::bound_address() const { return impl_->bound; }

void HttpAdminServer::set_shutting_down() {
  if (impl_->api) impl_->api->set_shutting_down();
}

MetricsCollector& HttpAdminServer::metrics() { return impl_->metrics; }

}  // namespace nib::admin
