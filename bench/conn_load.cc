// conn_load: many distinct clients through a TCP balancer (bench/run.sh,
// scenario "clients"), a holder of idle connections (scenario "memory"), and
// fixed-rate (open-loop) HTTP load over a pool of keep-alive connections,
// corrected for coordinated omission (scenarios "latency" and "idle").
// Standalone: POSIX and the C++ standard library only, so it measures any
// balancer the same way. Usage: kUsage below (conn_load --help).
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <deque>
#include <random>

#include "latency_histogram.h"
#include "load_common.h"
#include "rate_schedule.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace {

using load::die;
using load::g_stop;
using load::now_s;
using load::parse_target;

constexpr char kUsage[] = R"(conn_load --target HOST:PORT --clients N [--concurrency C] [--duration SEC]
          [--passes P] [--path /who] [--no-revisit] [--first K]
    Short connections, each bound to one of N distinct source addresses in
    127.0.0.0/8 (bind before connect) and carrying one HTTP request with
    "Connection: close". The reply's body names the backend that served it.
    Order: while new clients remain, a new client alternates with a
    returning one (chosen at random among those served); then P-1 more
    passes over all N in order, so every client is visited at least P
    times when time allows (--no-revisit: new clients only, to fill a
    balancer's table fast; --first K: use addresses K.. so that a second
    run brings other clients). Stops at the time bound (--duration), then
    waits up to 2 s for connections in flight.
    Prints one line: connections=... conn_per_s=... distinct=... revisits=...
    breaks=... errors=... p50_ms=... p99_ms=... elapsed_s=... complete=0|1
    A break is a client served by another backend than on its previous visit.
conn_load --hold N --target HOST:PORT [--duration SEC]
    Opens N connections (from 127.0.0.1), sends one keep-alive request on
    each and reads the start of its reply, prints "held=K failed=F" and
    keeps them open and idle until SIGINT/SIGTERM or the time bound.
conn_load --rate R --target HOST:PORT [--connections N] [--active A] [--duration SEC]
          [--path /] [--close] [--linger SEC]
    HTTP/1.1 GET requests over a pool of N keep-alive connections (default
    50, from 127.0.0.1), opened and each warmed by one request first (not
    measured); at most A requests in flight (default N). Request i is due
    at t0 + i/R and goes out on the connection idle longest (so the whole
    pool is used in turn); a request due while no connection is free (or A
    are in flight) waits, and its latency is measured from when it was due,
    not from when it was sent: the correction for coordinated omission.
    --rate 0: closed loop instead (a request as soon as a connection is
    free, latency from the send), for a maximum rate. --close: a new
    connection per request ("Connection: close", connect included in the
    latency; N is then the most connections open at once). After the time
    bound, requests in flight get 5 s to finish, then count as errors.
    Prints "held=K failed=F" once the pool is open, then one line:
    requests=... rate=... achieved=... p50_us=... p90_us=... p99_us=...
    p999_us=... max_us=... errors=... late=... held=... elapsed_s=...
    (late: requests sent 1 ms or more after they were due.) --linger:
    keep the pool open that long after printing (for an RSS reading).
)";

// Client i's source address: 127.(16+a).b.c with c in 1..254, so that no
// address ends in .0 or .255 and none is 127.0.0.x (where the servers listen).
in_addr source_of(uint32_t i) {
  uint32_t c = i % 254 + 1, b = (i / 254) % 256, a = i / (254 * 256);
  in_addr addr{};
  addr.s_addr = htonl((127u << 24) | ((16 + a) << 16) | (b << 8) | c);
  return addr;
}

struct Options {
  std::string target;
  uint32_t clients = 1000;
  int concurrency = 32;
  double duration = 30;
  int passes = 2;
  std::string path;  // default: "/who", or "/" with --rate
  bool revisit = true;
  uint32_t first = 0;  // client i binds to source_of(first + i)
  int hold = 0;
  double rate = -1;  // >= 0: the fixed-rate mode (0: closed loop)
  int connections = 50;
  int active = 0;    // 0: as many as connections
  bool close_each = false;
  double linger = 0;
};

Options parse(int argc, char** argv) {
  Options o;
  load::OptionTable options("conn_load", kUsage);
  options.add("--target", &o.target);
  options.add("--clients", &o.clients);
  options.add("--concurrency", &o.concurrency);
  options.add("--duration", &o.duration);
  options.add("--passes", &o.passes);
  options.add("--path", &o.path);
  options.add("--first", &o.first);
  options.flag("--no-revisit", [&] { o.revisit = false; });
  options.add("--hold", &o.hold);
  options.add("--rate", &o.rate);
  options.add("--connections", &o.connections);
  options.add("--active", &o.active);
  options.add("--linger", &o.linger);
  options.flag("--close", [&] { o.close_each = true; });
  options.parse(argc, argv);
  // The default path: the small page for the rate mode, the backend's name otherwise.
  if (o.path.empty()) o.path = std::string(o.rate >= 0 ? "/" : "/who");
  if (o.active <= 0 || o.active > o.connections) o.active = o.connections;
  if (o.connections < 1 || o.connections > 100000 || o.linger < 0) die("--connections must be 1-100000");
  if (o.target.empty()) die("expected --target HOST:PORT");
  // 16..239 in the second octet: 224 * 256 * 254 addresses.
  if (o.clients < 1 || o.first > 224u * 256 * 254 - o.clients) die("--first + --clients must be 1-14565376");
  if (o.concurrency < 1 || o.concurrency > 10000 || o.duration <= 0 || o.passes < 1 || o.hold < 0) {
    die("counts and times must be positive (--concurrency at most 10000)");
  }
  return o;
}

// ---- distinct clients ----------------------------------------------------------

// The order of visits (see the header comment). Returns -1 when done.
class Schedule {
 public:
  Schedule(uint32_t clients, int passes, bool revisit)
      : n_(clients), passes_(passes), revisit_(revisit), rng_(12345) {}

  // `served` lists clients answered at least once; `busy(c)` is true while c
  // has a connection in flight (never two at once: both could be "new").
  template <typename Busy>
  int64_t next(const std::vector<uint32_t>& served, Busy busy) {
    if (next_new_ < n_) {
      if (revisit_turn_ && !served.empty()) {
        revisit_turn_ = false;
        for (int tries = 0; tries < 4; ++tries) {
          uint32_t c = served[rng_() % served.size()];
          if (!busy(c)) return c;
        }
      }
      revisit_turn_ = revisit_;
      return next_new_++;
    }
    while (pass_ < passes_) {
      if (cursor_ == n_) {
        cursor_ = 0;
        ++pass_;
        continue;
      }
      uint32_t c = cursor_++;
      if (!busy(c)) return c;
    }
    return -1;
  }
  bool complete() const { return next_new_ == n_ && pass_ >= passes_; }

 private:
  uint32_t n_;
  int passes_;
  bool revisit_;
  std::mt19937_64 rng_;
  uint32_t next_new_ = 0;
  bool revisit_turn_ = false;
  int pass_ = 1;  // the first pass is the mixed one
  uint32_t cursor_ = 0;
};

struct Conn {
  int fd = -1;
  uint32_t client = 0;
  double started = 0;
  bool sent = false;
  size_t got = 0;
  char buf[512];
};

int run_clients(const Options& o) {
  const sockaddr_in to = parse_target(o.target);
  const std::string request =
      "GET " + o.path + " HTTP/1.1\r\nHost: conn-load\r\nUser-Agent: conn_load\r\nConnection: close\r\n\r\n";
  std::vector<uint8_t> last(o.clients, 0);     // backend of the previous visit, 0 = never served
  std::vector<uint8_t> busy(o.clients, 0);
  std::vector<uint32_t> served;
  std::vector<std::string> backends{""};       // id -> name; 0 is "none"
  std::vector<double> latency_ms;
  latency_ms.reserve(1 << 20);
  Schedule schedule(o.clients, o.passes, o.revisit);
  uint64_t connections = 0, revisits = 0, breaks = 0, errors = 0;

  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(o.concurrency);
  std::vector<int> free_slots;
  for (int i = o.concurrency - 1; i >= 0; --i) free_slots.push_back(i);

  auto finish = [&](int slot, bool ok) {
    Conn& c = conns[slot];
    ::close(c.fd);  // the kernel drops it from the epoll set
    c.fd = -1;
    busy[c.client] = 0;
    free_slots.push_back(slot);
    if (!ok) {
      ++errors;
      return;
    }
    std::string_view reply(c.buf, c.got);
    auto body_at = reply.find("\r\n\r\n");
    if (!reply.starts_with("HTTP/1.1 200") || body_at == std::string_view::npos) {
      ++errors;
      return;
    }
    std::string_view body = reply.substr(body_at + 4);
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' ')) body.remove_suffix(1);
    uint8_t id = 0;
    for (size_t b = 1; b < backends.size(); ++b) {
      if (backends[b] == body) id = static_cast<uint8_t>(b);
    }
    if (id == 0) {
      if (backends.size() >= 255) die("more than 254 distinct backend names");
      backends.emplace_back(body);
      id = static_cast<uint8_t>(backends.size() - 1);
    }
    ++connections;
    latency_ms.push_back((now_s() - c.started) * 1000);
    if (last[c.client] == 0) {
      served.push_back(c.client);
    } else {
      ++revisits;
      if (last[c.client] != id) ++breaks;
    }
    last[c.client] = id;
  };

  auto start = [&](uint32_t client) -> bool {
    int slot = free_slots.back();
    Conn& c = conns[slot];
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) die(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    // The port is chosen at connect() from the 4-tuple, not reserved at bind().
    ::setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr = source_of(o.first + client);
    if (::bind(c.fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      die(std::string("bind: ") + std::strerror(errno));
    }
    free_slots.pop_back();
    c.client = client;
    c.started = now_s();
    c.sent = false;
    c.got = 0;
    busy[client] = 1;
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS) {
      finish(slot, false);
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(slot);
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  };

  const double t0 = now_s(), deadline = t0 + o.duration, drain_until = deadline + 2;
  constexpr double kConnTimeout = 5;
  bool out_of_clients = false;
  double last_sweep = t0;
  epoll_event events[256];
  for (;;) {
    double now = now_s();
    bool issuing = now < deadline && !out_of_clients && !g_stop.load(std::memory_order_relaxed);
    while (issuing && !free_slots.empty()) {
      int64_t c = schedule.next(served, [&](uint32_t k) { return busy[k] != 0; });
      if (c < 0) {
        out_of_clients = true;
        break;
      }
      start(static_cast<uint32_t>(c));
    }
    if (free_slots.size() == conns.size() && (!issuing || out_of_clients)) break;
    if (now >= drain_until) break;
    if (now - last_sweep > 0.5) {  // connections that hang count as errors
      for (int s = 0; s < o.concurrency; ++s) {
        if (conns[s].fd >= 0 && now - conns[s].started > kConnTimeout) finish(s, false);
      }
      last_sweep = now;
    }
    int n = ::epoll_wait(ep, events, 256, 50);
    for (int e = 0; e < n; ++e) {
      int slot = static_cast<int>(events[e].data.u32);
      Conn& c = conns[slot];
      if (c.fd < 0) continue;
      if (!c.sent) {
        if ((events[e].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) continue;
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || ::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
          finish(slot, false);
          continue;
        }
        c.sent = true;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = static_cast<uint32_t>(slot);
        ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        continue;
      }
      for (;;) {
        ssize_t r = ::recv(c.fd, c.buf + c.got, sizeof c.buf - c.got, 0);
        if (r > 0) {
          c.got += static_cast<size_t>(r);
          if (c.got == sizeof c.buf) {  // the reply is tiny; this is not it
            finish(slot, false);
            break;
          }
          continue;
        }
        if (r == 0) {
          finish(slot, true);
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
          finish(slot, false);
        }
        break;
      }
    }
  }
  const double elapsed = std::min(now_s(), std::max(deadline, t0)) - t0;
  for (auto& c : conns) {
    if (c.fd >= 0) {
      ::close(c.fd);
      ++errors;  // still in flight after the drain
    }
  }
  ::close(ep);
  std::sort(latency_ms.begin(), latency_ms.end());
  auto q = [&](double p) {
    return latency_ms.empty() ? 0.0 : latency_ms[static_cast<size_t>(p * static_cast<double>(latency_ms.size() - 1))];
  };
  const double span = elapsed > 0 ? elapsed : 1e-9;
  std::printf("connections=%llu conn_per_s=%.0f distinct=%zu revisits=%llu breaks=%llu errors=%llu p50_ms=%.3f "
              "p99_ms=%.3f elapsed_s=%.2f complete=%d backends=%zu clients=%u\n",
              static_cast<unsigned long long>(connections), static_cast<double>(connections) / span, served.size(),
              static_cast<unsigned long long>(revisits), static_cast<unsigned long long>(breaks),
              static_cast<unsigned long long>(errors), q(0.50), q(0.99), elapsed,
              schedule.complete() && !g_stop.load() ? 1 : 0, backends.size() - 1, o.clients);
  return connections > 0 ? 0 : 1;
}

// ---- idle connections ------------------------------------------------------------

int run_hold(const Options& o) {
  const sockaddr_in to = parse_target(o.target);
  const std::string request = "GET / HTTP/1.1\r\nHost: conn-load\r\nUser-Agent: conn_load\r\n\r\n";
  std::vector<int> held;
  held.reserve(o.hold);
  int failed = 0;
  // In batches, so that the listen backlogs on the way never overflow.
  constexpr int kBatch = 200;
  const double deadline = now_s() + o.duration;
  for (int done = 0; done < o.hold && !g_stop.load();) {
    int batch = std::min(kBatch, o.hold - done);
    std::vector<int> fds;
    for (int i = 0; i < batch; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) die(std::string("socket: ") + std::strerror(errno) + " (raise the fd limit?)");
      timeval tv{5, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 ||
          ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
        ::close(fd);
        ++failed;
        continue;
      }
      fds.push_back(fd);
    }
    // The first bytes of each reply: the balancer has both sides open.
    for (int fd : fds) {
      char buf[4096];
      if (::recv(fd, buf, sizeof buf, 0) > 0) {
        held.push_back(fd);
      } else {
        ::close(fd);
        ++failed;
      }
    }
    done += batch;
  }
  std::printf("held=%zu failed=%d\n", held.size(), failed);
  std::fflush(stdout);
  while (!g_stop.load() && now_s() < deadline) ::usleep(50 * 1000);
  for (int fd : held) ::close(fd);
  return held.empty() ? 1 : 0;
}

// ---- fixed-rate load over keep-alive connections ----------------------------------

// One HTTP/1.1 reply: complete once the headers and Content-Length bytes of
// body are in (or, without a length, at EOF). Small replies only (the
// benchmark's ~100-byte page): 4 kB per connection, 40 MB for 10,000.
struct Reply {
  char buf[4096];
  size_t got = 0;
  // 1: complete, 0: more to read, -1: not a reply we can use.
  int complete(bool eof) const {
    std::string_view r(buf, got);
    auto end = r.find("\r\n\r\n");
    if (end == std::string_view::npos) return eof || got == sizeof buf ? -1 : 0;
    if (!r.starts_with("HTTP/1.1 2") && !r.starts_with("HTTP/1.0 2")) return -1;
    size_t length = std::string_view::npos;
    std::string head(r.substr(0, end));
    for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (auto at = head.find("\r\ncontent-length:"); at != std::string::npos) {
      length = std::strtoul(head.c_str() + at + 17, nullptr, 10);
    }
    if (length == std::string_view::npos) return eof ? 1 : 0;
    const size_t want = end + 4 + length;
    if (got > want) return -1;  // nothing was pipelined: a reply we cannot frame
    if (got == want) return 1;
    return eof || got == sizeof buf ? -1 : 0;
  }
};

struct PoolConn {
  enum State { kConnecting, kWarming, kIdle, kBusy, kClosed } state = kClosed;
  int fd = -1;
  uint64_t due_ns = 0;    // when its request was due (fixed rate) or sent (closed loop)
  uint64_t since_ns = 0;  // when its current step began, for the timeout
  bool request_out = false;
  Reply reply;
};

int run_rate(const Options& o) {
  using load::now_ns;
  const sockaddr_in to = parse_target(o.target);
  const std::string keep =
      "GET " + o.path + " HTTP/1.1\r\nHost: conn-load\r\nUser-Agent: conn_load\r\n\r\n";
  const std::string close_req =
      "GET " + o.path + " HTTP/1.1\r\nHost: conn-load\r\nUser-Agent: conn_load\r\nConnection: close\r\n\r\n";
  const std::string& request = o.close_each ? close_req : keep;
  constexpr uint64_t kTimeoutNs = 5'000'000'000;
  constexpr uint64_t kLateNs = 1'000'000;
  // The kernel's default timer slack (50 us) would delay every timed wait.
  ::prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  // The pool may need more descriptors than the soft limit.
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }

  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<PoolConn> pool(static_cast<size_t>(o.connections));
  std::deque<uint32_t> idle;  // oldest first: each request takes the connection idle longest
  uint64_t in_flight = 0, errors = 0, late = 0, completed = 0, failed = 0;
  load::LatencyHistogram histogram;

  auto arm = [&](uint32_t slot, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = slot;
    ::epoll_ctl(ep, op, pool[slot].fd, &ev);
  };
  auto close_conn = [&](uint32_t slot) {
    PoolConn& c = pool[slot];
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.state = PoolConn::kClosed;
  };
  auto open_conn = [&](uint32_t slot) -> bool {
    PoolConn& c = pool[slot];
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return false;
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.state = PoolConn::kConnecting;
    c.request_out = false;
    c.reply.got = 0;
    c.since_ns = now_ns();
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS) {
      close_conn(slot);
      return false;
    }
    arm(slot, EPOLLOUT | EPOLLIN, EPOLL_CTL_ADD);
    return true;
  };
  auto send_request = [&](uint32_t slot) -> bool {
    PoolConn& c = pool[slot];
    c.reply.got = 0;
    if (::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) return false;
    c.request_out = true;
    return true;
  };
  // A measured request ended (ok or not); the connection goes back to the pool
  // (keep-alive) or is closed (--close, or after an error).
  auto done = [&](uint32_t slot, bool ok) {
    PoolConn& c = pool[slot];
    if (c.state == PoolConn::kWarming) {
      if (ok) {
        c.state = PoolConn::kIdle;
        idle.push_back(slot);
        arm(slot, EPOLLIN, EPOLL_CTL_MOD);  // an idle connection's EOF is noticed
      } else {
        ++failed;
        close_conn(slot);
      }
      --in_flight;
      return;
    }
    --in_flight;
    if (ok) {
      ++completed;
      histogram.record(now_ns() - c.due_ns);
    } else {
      ++errors;
    }
    if (ok && !o.close_each) {
      c.state = PoolConn::kIdle;
      idle.push_back(slot);
    } else {
      close_conn(slot);
      if (o.close_each) idle.push_back(slot);  // a free slot, opened again on use
    }
  };

  epoll_event events[512];
  // Waits up to wait_ns (nanosecond timeout: epoll_pwait2) and handles what came.
  auto pump = [&](uint64_t wait_ns) {
    timespec ts{static_cast<time_t>(wait_ns / 1'000'000'000), static_cast<long>(wait_ns % 1'000'000'000)};
    int n = ::epoll_pwait2(ep, events, 512, &ts, nullptr);
    for (int e = 0; e < n; ++e) {
      const uint32_t slot = events[e].data.u32;
      PoolConn& c = pool[slot];
      if (c.fd < 0) continue;
      if (c.state == PoolConn::kIdle) {  // the other side closed a connection at rest
        auto it = std::find(idle.begin(), idle.end(), slot);
        if (it != idle.end()) idle.erase(it);
        close_conn(slot);
        ++errors;
        continue;
      }
      if (!c.request_out) {
        if ((events[e].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) continue;
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || !send_request(slot)) {
          done(slot, false);
          continue;
        }
        arm(slot, EPOLLIN, EPOLL_CTL_MOD);
        continue;
      }
      for (;;) {
        Reply& r = c.reply;
        ssize_t got = ::recv(c.fd, r.buf + r.got, sizeof r.buf - r.got, 0);
        if (got > 0) {
          r.got += static_cast<size_t>(got);
          int state = r.complete(false);
          if (state != 0) {
            done(slot, state > 0);
            break;
          }
          continue;
        }
        if (got == 0) {
          done(slot, r.complete(true) > 0);
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
          done(slot, false);
        }
        break;
      }
    }
  };
  auto sweep = [&](uint64_t now) {  // requests that hang count as errors
    for (uint32_t s = 0; s < pool.size(); ++s) {
      PoolConn& c = pool[s];
      if ((c.state == PoolConn::kBusy || c.state == PoolConn::kWarming || c.state == PoolConn::kConnecting) &&
          now > c.since_ns + kTimeoutNs) {
        if (c.state == PoolConn::kConnecting) c.state = PoolConn::kWarming;  // fails as a warm-up
        done(s, false);
      }
    }
  };

  // Phase 1: open the pool (keep-alive), each connection warmed by one
  // request and its whole reply, so the balancer holds both sides before the
  // clock starts. At most 200 opening at once, so no listen backlog overflows.
  uint64_t held = 0;
  if (!o.close_each) {
    uint32_t next = 0;
    uint64_t last_sweep = now_ns();
    while (!g_stop.load()) {
      while (next < pool.size() && in_flight < 200) {
        if (open_conn(next)) {
          pool[next].state = PoolConn::kWarming;
          ++in_flight;
        } else {
          ++failed;
        }
        ++next;
      }
      if (next == pool.size() && in_flight == 0) break;
      pump(50'000'000);
      if (uint64_t now = now_ns(); now > last_sweep + 500'000'000) {
        sweep(now);
        last_sweep = now;
      }
    }
    held = idle.size();
  } else {
    for (uint32_t s = 0; s < pool.size(); ++s) idle.push_back(s);
  }
  std::printf("held=%llu failed=%llu\n", static_cast<unsigned long long>(held), static_cast<unsigned long long>(failed));
  std::fflush(stdout);

  // Phase 2: the measured run.
  const uint64_t t0 = now_ns() + 1'000'000;
  const uint64_t deadline = t0 + static_cast<uint64_t>(o.duration * 1e9);
  const bool open_loop = o.rate > 0;
  load::FixedRateSchedule schedule(open_loop ? o.rate : 1, t0);
  const uint64_t total = open_loop ? schedule.due_before(deadline) : UINT64_MAX;
  uint64_t issued = 0, last_sweep = t0;
  auto issue = [&](uint32_t slot, uint64_t due) {
    PoolConn& c = pool[slot];
    c.due_ns = due;
    c.since_ns = now_ns();
    ++in_flight;
    ++issued;
    if (c.since_ns - due >= kLateNs && open_loop) ++late;
    if (o.close_each) {
      if (!open_conn(slot)) {
        c.state = PoolConn::kBusy;
        done(slot, false);
        return;
      }
      c.state = PoolConn::kBusy;
      return;
    }
    c.state = PoolConn::kBusy;
    if (!send_request(slot)) done(slot, false);
  };
  for (;;) {
    uint64_t now = now_ns();
    const bool issuing = !g_stop.load() && now < deadline && (!open_loop || issued < total);
    if (open_loop) {
      // Every request due by now goes out while a connection is free; the rest
      // wait, and the wait counts in their latency (measured from due_ns).
      const uint64_t due = std::min(schedule.due_by(now), total);
      while (issued < due && !idle.empty() && in_flight < static_cast<uint64_t>(o.active) && !g_stop.load()) {
        uint32_t slot = idle.front();
        idle.pop_front();
        issue(slot, schedule.due_ns(issued));
      }
    } else {
      while (issuing && !idle.empty() && in_flight < static_cast<uint64_t>(o.active)) {
        uint32_t slot = idle.front();
        idle.pop_front();
        issue(slot, now_ns());
      }
    }
    const bool backlog = open_loop && issued < std::min(schedule.due_by(now), total);
    if (g_stop.load() || ((open_loop ? issued >= total : now >= deadline) && in_flight == 0)) break;
    if (now >= deadline + kTimeoutNs) break;
    if (pool.empty() || (idle.empty() && in_flight == 0 && !o.close_each)) break;  // every connection lost
    uint64_t wait = 50'000'000;
    if (open_loop && !backlog && issued < total) {
      const uint64_t next_due = schedule.due_ns(issued);
      wait = std::min(wait, next_due > now ? next_due - now : 0);
    }
    pump(wait);
    if (uint64_t after = now_ns(); after > last_sweep + 500'000'000) {
      sweep(after);
      last_sweep = after;
    }
  }
  const uint64_t end = now_ns();
  // Requests still in flight or never sent when the run ended: errors (their
  // latency is unknown but at least the time bound).
  errors += in_flight + (open_loop && total > issued ? total - issued : 0);
  const uint64_t stop_ns = std::min(end, deadline);
  const double elapsed = stop_ns > t0 ? static_cast<double>(stop_ns - t0) / 1e9 : 0;
  auto us = [&](double q) { return static_cast<double>(histogram.quantile(q)) / 1000.0; };
  std::printf("requests=%llu rate=%.0f achieved=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
              "errors=%llu late=%llu held=%llu connections=%d active=%d close=%d elapsed_s=%.2f\n",
              static_cast<unsigned long long>(completed), open_loop ? o.rate : 0.0,
              static_cast<double>(completed) / (elapsed > 0 ? elapsed : 1e-9), us(0.50), us(0.90), us(0.99), us(0.999),
              static_cast<double>(histogram.max()) / 1000.0, static_cast<unsigned long long>(errors),
              static_cast<unsigned long long>(late), static_cast<unsigned long long>(o.close_each ? 0 : held),
              o.connections, o.active, o.close_each ? 1 : 0, elapsed);
  std::fflush(stdout);
  const uint64_t linger_until = now_ns() + static_cast<uint64_t>(o.linger * 1e9);
  while (!g_stop.load() && now_ns() < linger_until) ::usleep(50 * 1000);
  for (uint32_t s = 0; s < pool.size(); ++s) close_conn(s);
  ::close(ep);
  return completed > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  load::install_stop_handlers();
  ::signal(SIGPIPE, SIG_IGN);
  if (o.rate >= 0) return run_rate(o);
  return o.hold > 0 ? run_hold(o) : run_clients(o);
}
