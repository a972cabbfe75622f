// conn_load: many distinct clients through a TCP balancer (bench/run.sh,
// scenario "clients"), and a holder of idle connections (scenario "memory").
// Standalone: POSIX and the C++ standard library only, so it measures any
// balancer the same way. Usage: kUsage below (conn_load --help).
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "load_common.h"

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
  std::string path = "/who";
  bool revisit = true;
  uint32_t first = 0;  // client i binds to source_of(first + i)
  int hold = 0;
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
  options.parse(argc, argv);
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

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  load::install_stop_handlers();
  ::signal(SIGPIPE, SIG_IGN);
  return o.hold > 0 ? run_hold(o) : run_clients(o);
}
