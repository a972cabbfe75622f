#include "dataplane/health/health_checker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

#include "dataplane/base/linear_regex.h"
#include "dataplane/base/log.h"
#include "dataplane/config/limits.h"
#include "dataplane/net/socket_ops.h"

namespace nib {
namespace {

// A check reads at most this much: a status line, a body substring or the
// expected reply are expected near the start, and a check must not buffer a
// download.
constexpr size_t kMaxResponse = limits::kMaxCheckReplyBytes;

double ms_between(MonoTime from, MonoTime to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

std::string errno_text(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

}  // namespace

// One backend's checks. Loop thread only.
class HealthChecker::Probe final : public EventHandler {
 public:
  Probe(HealthChecker& owner, HealthChecker::Target target)
      : owner_(owner),
        target_(std::move(target)),
        interval_timer_([this] { begin(); }),
        timeout_timer_([this] { finish(false, "timeout after " + format_ms(target_.config.timeout_seconds * 1000)); }) {
    HealthInfo h = target_.backend->health();
    // First sight of this backend: one failure takes it down (see the header).
    if (!h.checked && h.up) {
      fails_ = target_.config.fall - 1;
      first_sight_ = true;
    }
    // Compiled once (config validation already proved it compiles).
    if ((target_.config.type == HealthCheckType::kSendExpect || target_.config.type == HealthCheckType::kUdp) &&
        target_.config.expect_regex) {
      if (auto re = compile_expect_regex(target_.config.expect); re.ok()) {
        expect_re_ = std::make_unique<LinearRegex>(std::move(*re));
        expect_search_ = std::make_unique<LinearRegex::Search>(*expect_re_);
      }
    }
    target_.backend->set_checked(true);
  }
  ~Probe() override { close(); }

  const Target& target() const { return target_; }

  // Spreads the first checks over one interval so a large config does not
  // probe every backend at once.
  void schedule_first(MonoTime now, double fraction) {
    owner_.loop_.arm(interval_timer_, now + seconds_to_duration(target_.config.interval_seconds * fraction));
  }

  void on_event(uint32_t events) override {
    if (target_.config.type == HealthCheckType::kUdp) return read_datagram();
    if (phase_ == Phase::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return finish(false, errno_text("connect", err));
      if (events & (EPOLLERR | EPOLLHUP)) return finish(false, "connect: connection reset");
      return connected();
    }
    if (phase_ == Phase::kSending) return send_some();
    if (phase_ == Phase::kReading) return read_some();
  }

 private:
  enum class Phase { kIdle, kConnecting, kSending, kReading };

  static std::string format_ms(double ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f ms", ms);
    return buf;
  }

  void begin() {
    EventLoop& loop = owner_.loop_;
    started_ = loop.now();
    // Next start: interval after this one, jittered.
    double factor = 1;
    if (target_.config.jitter > 0) {
      std::uniform_real_distribution<double> d(-target_.config.jitter, target_.config.jitter);
      factor += d(owner_.rng_);
    }
    loop.arm(interval_timer_, started_ + seconds_to_duration(target_.config.interval_seconds * factor));
    if (phase_ != Phase::kIdle) finish(false, "previous check still running");  // cannot happen: timeout < interval
    loop.arm(timeout_timer_, started_ + seconds_to_duration(target_.config.timeout_seconds));

    if (target_.config.type == HealthCheckType::kUdp) return begin_udp();
    const SocketAddress& to = target_.backend->address();
    fd_.reset(::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_) return failed_locally("socket", errno);
    set_nodelay(fd_.get());
    if (target_.config.source) {
      int one = 1;
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(fd_.get(), target_.config.source->sockaddr_ptr(), target_.config.source->length()) != 0) {
        return failed_locally("bind to source address", errno);
      }
    }
    if (Status st = loop.add(fd_.get(), EPOLLOUT, this); !st.ok()) return failed_locally("epoll", ENOMEM);
    registered_ = true;
    phase_ = Phase::kConnecting;
    if (::connect(fd_.get(), to.sockaddr_ptr(), to.length()) == 0) return connected();
    if (errno != EINPROGRESS) return failed_locally("connect", errno, /*connecting=*/true);
  }

  // A call failed before the backend had a say. nib's own shortage (no
  // descriptor, memory or local port) is no verdict on the backend: the check
  // is skipped, neither pass nor failure, and counted. Anything else is the
  // check failing as before.
  void failed_locally(const char* what, int err, bool connecting = false) {
    auto shortage = shortage_of(err, connecting);
    if (!shortage) return finish(false, errno_text(what, err));
    close();
    if (owner_.shortages_.record(*shortage)) {
      log_warn(std::string("health checks: ") + what + ": " + std::strerror(err) + "; checks are skipped (no "
               "verdict on any backend) while " + to_string(*shortage) + " is short; counted in "
               "nib_resource_exhausted_total, logged once per burst");
    }
  }

  // udp: one datagram from a connected socket, so the kernel hands us the
  // backend's ICMP port unreachable as ECONNREFUSED and only its replies.
  void begin_udp() {
    const SocketAddress& to = target_.backend->address();
    fd_.reset(::socket(to.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_) return failed_locally("socket", errno);
    if (target_.config.source &&
        ::bind(fd_.get(), target_.config.source->sockaddr_ptr(), target_.config.source->length()) != 0) {
      return failed_locally("bind to source address", errno);
    }
    if (::connect(fd_.get(), to.sockaddr_ptr(), to.length()) != 0) {
      return failed_locally("connect", errno, /*connecting=*/true);
    }
    if (Status st = owner_.loop_.add(fd_.get(), EPOLLIN, this); !st.ok()) return failed_locally("epoll", ENOMEM);
    registered_ = true;
    phase_ = Phase::kReading;
    // A backend that wants PROXY v2 on every datagram gets the LOCAL form.
    char header[kProxyHeaderMax];
    request_.assign(header, write_proxy_local_header(target_.backend->proxy_protocol_or(target_.proxy_protocol), header));
    request_ += target_.config.send;
    if (::send(fd_.get(), request_.data(), request_.size(), 0) < 0) {
      // ECONNREFUSED: an ICMP error from an earlier probe of this backend.
      return errno == ECONNREFUSED ? finish(false, "port unreachable (connection refused)")
                                   : failed_locally("send", errno);
    }
  }

  void read_datagram() {
    if (phase_ != Phase::kReading) return;
    // One datagram decides, judged on its first kMaxResponse bytes (all of
    // any UDP payload); MSG_TRUNC returns its real length.
    char* buf = owner_.datagram_.get();
    ssize_t n = ::recv(fd_.get(), buf, kMaxResponse, MSG_TRUNC);
    if (n < 0 && errno == EAGAIN) return;  // the timeout decides
    if (n < 0 && errno == ECONNREFUSED) return finish(false, "port unreachable (connection refused)");
    if (n < 0) return finish(false, errno_text("recv", errno));
    const HealthCheckConfig& c = target_.config;
    if (c.expect.empty()) return finish(true, "reply received");
    const bool whole = static_cast<size_t>(n) <= kMaxResponse;
    std::string_view reply(buf, std::min(static_cast<size_t>(n), kMaxResponse));
    bool matched = false;
    if (expect_search_) {
      expect_search_->reset();
      matched = expect_search_->feed(reply) || (whole && expect_search_->finish());
    } else {
      matched = reply.find(c.expect) != std::string_view::npos;
    }
    finish(matched, matched ? "reply matched" : "reply did not match");
  }

  void connected() {
    if (target_.config.type == HealthCheckType::kTcp) return finish(true, "ok");
    const HealthCheckConfig& c = target_.config;
    response_.clear();
    sent_ = 0;
    searched_ = 0;
    if (expect_search_) expect_search_->reset();
    char header[kProxyHeaderMax];
    request_.assign(header, write_proxy_local_header(target_.backend->proxy_protocol_or(target_.proxy_protocol), header));
    if (c.type == HealthCheckType::kSendExpect) {
      request_ += c.send;
      phase_ = Phase::kSending;
      return send_some();  // nothing to send: straight to reading
    }
    std::string host = c.host_header.empty() ? target_.backend->host() : c.host_header;
    request_ += c.method + " " + c.path + " HTTP/1.1\r\nHost: " + host +
                "\r\nUser-Agent: nib-health-check\r\nConnection: close\r\n\r\n";
    sent_ = 0;
    response_.clear();
    phase_ = Phase::kSending;
    send_some();
  }

  void send_some() {
    while (sent_ < request_.size()) {
      ssize_t n = ::send(fd_.get(), request_.data() + sent_, request_.size() - sent_, MSG_NOSIGNAL);
      if (n < 0 && errno == EAGAIN) return;  // EPOLLOUT brings us back
      if (n < 0) return finish(false, errno_text("send", errno));
      sent_ += static_cast<size_t>(n);
    }
    phase_ = Phase::kReading;
    if (Status st = owner_.loop_.modify(fd_.get(), EPOLLIN | EPOLLRDHUP, this); !st.ok()) finish(false, st.message());
  }

  void read_some() {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n < 0 && errno == EAGAIN) return judge(/*eof=*/false);
      if (n < 0) return finish(false, errno_text("recv", errno));
      if (n == 0) return judge(/*eof=*/true);
      response_.append(buf, static_cast<size_t>(std::min<size_t>(n, kMaxResponse - response_.size())));
      if (response_.size() >= kMaxResponse) return judge(/*eof=*/true, /*cut=*/true);
    }
  }

  // Decides as soon as the response allows it; waits for more otherwise.
  // `cut`: the reply reached kMaxResponse and is judged on that much (its
  // end unknown: a pattern's $ does not match there).
  void judge(bool eof, bool cut = false) {
    const HealthCheckConfig& c = target_.config;
    if (c.type == HealthCheckType::kSendExpect) {
      if (expect_matched(eof && !cut)) return finish(true, "reply matched");
      if (eof) finish(false, response_.empty() ? "connection closed without a reply" : "reply did not match");
      return;
    }
    size_t line_end = response_.find("\r\n");
    if (line_end == std::string::npos) {
      if (eof) finish(false, response_.empty() ? "connection closed without a response" : "malformed status line");
      return;
    }
    // "HTTP/1.1 200 OK"
    int status = 0;
    if (response_.compare(0, 5, "HTTP/") != 0 || std::sscanf(response_.c_str(), "HTTP/%*s %d", &status) != 1) {
      return finish(false, "malformed status line");
    }
    if (status < c.status_min || status > c.status_max) return finish(false, "status " + std::to_string(status));
    if (c.body_contains.empty()) return finish(true, "status " + std::to_string(status));
    size_t body = response_.find("\r\n\r\n");
    if (body != std::string::npos && response_.find(c.body_contains, body + 4) != std::string::npos) {
      return finish(true, "status " + std::to_string(status) + ", body matched");
    }
    if (eof) finish(false, "body lacks '" + c.body_contains + "'");
  }

  // Looks at the bytes that came since the last call only: a reply read in
  // many pieces is searched once, not once per piece.
  bool expect_matched(bool ended) {
    std::string_view fresh = std::string_view(response_).substr(searched_);
    const std::string& expect = target_.config.expect;
    if (expect_search_) {
      searched_ = response_.size();
      return expect_search_->feed(fresh) || (ended && expect_search_->finish());
    }
    // Bytes: the new ones, with enough before them for a match across the seam.
    size_t from = searched_ >= expect.size() ? searched_ - expect.size() + 1 : 0;
    searched_ = response_.size();
    return response_.find(expect, from) != std::string::npos;
  }

  void close() {
    if (registered_) owner_.loop_.remove(fd_.get());
    registered_ = false;
    if (fd_ && target_.config.type != HealthCheckType::kUdp) {
      // Closed with a reset (as HAProxy's checks do): a normal close would
      // leave a TIME_WAIT socket here for every check, about 60,000 for 1,000
      // backends checked every second, and cost a FIN exchange each.
      linger l{1, 0};
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    fd_.reset();
    owner_.loop_.cancel(timeout_timer_);
    phase_ = Phase::kIdle;
  }

  // One check's outcome: rise/fall, then the backend's state.
  void finish(bool ok, const std::string& detail) {
    close();
    // Only the very first outcome may use the head start given at first sight.
    const bool first_sight = std::exchange(first_sight_, false);
    Backend& b = *target_.backend;
    const double ms = ms_between(started_, owner_.loop_.clock().now());
    const bool up = b.health_up();
    if (ok) {
      fails_ = 0;
      if (!up && ++passes_ >= target_.config.rise) {
        passes_ = 0;
        std::string why = std::to_string(target_.config.rise) + " check(s) passed: " + detail;
        // The check decides the comeback, not Pen's blacklist timer.
        b.clear_blacklist();
        if (b.set_health(true, why)) owner_.announce(*this, true, why);
      }
    } else {
      passes_ = 0;
      if (up && ++fails_ >= target_.config.fall) {
        fails_ = 0;
        std::string why = first_sight ? "first check failed: " + detail
                                       : std::to_string(target_.config.fall) + " check(s) failed: " + detail;
        if (b.set_health(false, why)) owner_.announce(*this, false, why);
      }
    }
    // Recorded after the decision: whoever sees this check sees its effect.
    b.record_check(ok, detail, ms);
  }

  HealthChecker& owner_;
  Target target_;
  Timer interval_timer_;
  Timer timeout_timer_;
  UniqueFd fd_;
  bool registered_ = false;
  Phase phase_ = Phase::kIdle;
  MonoTime started_{};
  uint32_t fails_ = 0;   // consecutive, while up
  uint32_t passes_ = 0;  // consecutive, while down
  bool first_sight_ = false;  // no check has finished yet, and fails_ got a head start
  std::string request_;
  size_t sent_ = 0;
  std::string response_;
  size_t searched_ = 0;  // bytes of response_ already searched for expect
  // send-expect and udp with expect_regex; the search is reused by every check.
  std::unique_ptr<LinearRegex> expect_re_;
  std::unique_ptr<LinearRegex::Search> expect_search_;
};

HealthChecker::HealthChecker(Listener on_change, Clock& clock) : on_change_(std::move(on_change)), loop_(clock) {}

HealthChecker::~HealthChecker() { stop(); }

Status HealthChecker::start() {
  if (Status st = loop_.init(); !st.ok()) return st;
  datagram_ = std::make_unique<char[]>(kMaxResponse);
  thread_ = std::thread([this] {
    loop_.run();
    probes_.clear();  // closes sockets and cancels timers on the loop thread
  });
  started_ = true;
  return {};
}

void HealthChecker::stop() {
  if (!started_) return;
  started_ = false;
  loop_.stop();
  if (thread_.joinable()) thread_.join();
}

void HealthChecker::set_targets(std::vector<Target> targets) {
  loop_.post([this, targets = std::move(targets)]() mutable { apply_targets(std::move(targets)); });
}

void HealthChecker::apply_targets(std::vector<Target> targets) {
  std::vector<std::unique_ptr<Probe>> next;
  std::uniform_real_distribution<double> spread(0, 1);
  for (auto& t : targets) {
    auto same = std::find_if(probes_.begin(), probes_.end(), [&](const std::unique_ptr<Probe>& p) {
      return p && p->target().backend == t.backend && p->target().config == t.config &&
             p->target().service == t.service;
    });
    if (same != probes_.end()) {
      next.push_back(std::move(*same));
      continue;
    }
    // A changed config replaces the probe; the backend keeps its state.
    auto old = std::find_if(probes_.begin(), probes_.end(), [&](const std::unique_ptr<Probe>& p) {
      return p && p->target().backend == t.backend;
    });
    if (old != probes_.end()) old->reset();
    next.push_back(std::make_unique<Probe>(*this, std::move(t)));
    next.back()->schedule_first(loop_.now(), spread(rng_));
  }
  for (auto& p : probes_) {
    if (!p) continue;
    // No longer checked: healthy as far as health goes (unless it is still
    // checked under another entry, which cannot happen: one target per backend).
    std::shared_ptr<Backend> b = p->target().backend;
    std::string service = p->target().service;
    p.reset();
    if (b->set_checked(false) && on_change_) on_change_(service, *b, true, "health check removed");
  }
  probes_ = std::move(next);
}

void HealthChecker::announce(const Probe& probe, bool up, const std::string& reason) {
  if (on_change_) on_change_(probe.target().service, *probe.target().backend, up, reason);
}

}  // namespace nib
