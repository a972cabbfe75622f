// udp_load: a small UDP request/reply load generator and echo server for
// benchmarking UDP proxies on loopback (bench/run.sh, scenario udp). Standalone:
// POSIX and the C++ standard library only. Usage: kUsage below (udp_load --help).
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "load_common.h"

namespace {

using load::die;
using load::g_stop;
using load::now_ns;
using load::parse_target;

constexpr char kUsage[] = R"(udp_load --echo PORT [--bind IP] [--threads N]
    Echo server: N threads, each with its own SO_REUSEPORT socket, answering
    every datagram with itself (recvmmsg/sendmmsg). Runs until SIGINT/SIGTERM.
udp_load --target HOST:PORT [--clients C] [--outstanding N] [--size BYTES]
         [--duration SEC] [--warmup SEC] [--source-ips K] [--timeout MS]
    C client sockets (one session each), spread over K source addresses
    127.0.0.2.. (K=0: 127.0.0.1 only), each keeping N requests in flight.
    Prints one line: datagrams_per_s=... p50_us=... p99_us=... lost=...
udp_load --probe HOST:PORT [--timeout MS]
    Exit 0 when one datagram comes back within the timeout (readiness checks).
)";

struct Options {
  std::string mode;  // echo, target, probe
  std::string address;
  std::string bind_ip = "127.0.0.1";
  int threads = 1;
  int clients = 32;
  int outstanding = 8;
  int size = 64;
  double duration = 5;
  double warmup = 1;
  int source_ips = 8;
  int timeout_ms = 500;
};

Options parse(int argc, char** argv) {
  Options o;
  load::OptionTable options("udp_load", kUsage);
  for (const char* mode : {"echo", "target", "probe"}) {
    options.with_value(std::string("--") + mode, [&o, mode](const std::string& address) {
      o.mode = mode;
      o.address = address;
    });
  }
  options.add("--bind", &o.bind_ip);
  options.add("--threads", &o.threads);
  options.add("--clients", &o.clients);
  options.add("--outstanding", &o.outstanding);
  options.add("--size", &o.size);
  options.add("--duration", &o.duration);
  options.add("--warmup", &o.warmup);
  options.add("--source-ips", &o.source_ips);
  options.add("--timeout", &o.timeout_ms);
  options.parse(argc, argv);
  if (o.mode.empty()) die("expected --echo PORT, --target HOST:PORT or --probe HOST:PORT");
  if (o.threads < 1 || o.clients < 1 || o.outstanding < 1 || o.duration <= 0 || o.warmup < 0 || o.source_ips < 0 ||
      o.timeout_ms < 1) {
    die("counts and times must be positive");
  }
  if (o.size < 24 || o.size > 65507) die("--size must be 24-65507 (a request carries a 24-byte header)");
  return o;
}

// ---- echo ------------------------------------------------------------------

void echo_thread(const sockaddr_in& at) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int one = 1, size = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&at), sizeof at) != 0) die(std::string("bind: ") + std::strerror(errno));
  timeval tv{0, 200 * 1000};  // wakes to notice a stop request
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  constexpr int kBatch = 64;
  constexpr size_t kMax = 65536;
  std::vector<char> buf(kBatch * kMax);
  std::vector<iovec> iov(kBatch);
  std::vector<sockaddr_in> from(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  while (!g_stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {buf.data() + i * kMax, kMax};
      msgs[i].msg_hdr = msghdr{};
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    // Blocks for the first datagram only, then takes what is queued.
    int n = ::recvmmsg(fd, msgs.data(), kBatch, MSG_WAITFORONE, nullptr);
    if (n <= 0) continue;
    for (int i = 0; i < n; ++i) iov[i].iov_len = msgs[i].msg_len;
    for (int done = 0; done < n;) {
      int s = ::sendmmsg(fd, msgs.data() + done, n - done, 0);
      if (s <= 0) {
        ++done;  // a lost reply is the client's problem, as in UDP
      } else {
        done += s;
      }
    }
  }
  ::close(fd);
}

int run_echo(const Options& o) {
  sockaddr_in at = parse_target(o.bind_ip + ":" + o.address);
  load::install_stop_handlers();
  std::vector<std::thread> threads;
  for (int i = 0; i < o.threads; ++i) threads.emplace_back(echo_thread, at);
  std::fprintf(stderr, "udp_load: echoing on %s:%s with %d thread(s)\n", o.bind_ip.c_str(), o.address.c_str(),
               o.threads);
  for (auto& t : threads) t.join();
  return 0;
}

// ---- probe -------------------------------------------------------------------

int run_probe(const Options& o) {
  sockaddr_in to = parse_target(o.address);
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) return 1;
  const char ping[] = "udp_load probe";
  if (::send(fd, ping, sizeof ping, 0) < 0) return 1;
  pollfd p{fd, POLLIN, 0};
  char buf[64];
  bool ok = ::poll(&p, 1, o.timeout_ms) == 1 && ::recv(fd, buf, sizeof buf, 0) >= 0;
  ::close(fd);
  return ok ? 0 : 1;
}

// ---- load --------------------------------------------------------------------

// Latency histogram: 1 us buckets below 100 ms, one overflow bucket.
class Histogram {
 public:
  static constexpr size_t kBuckets = 100'000;
  Histogram() : counts_(kBuckets + 1, 0) {}
  void add(uint64_t ns) { ++counts_[std::min<uint64_t>(ns / 1000, kBuckets)]; ++total_; }
  void merge(const Histogram& o) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
  }
  uint64_t total() const { return total_; }
  // Microseconds at quantile q (the bucket's middle).
  double quantile(double q) const {
    if (total_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total_ - 1)) + 1, seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return static_cast<double>(i) + 0.5;
    }
    return static_cast<double>(kBuckets);
  }

 private:
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
};

struct Header {  // the start of every request; echoed back unchanged
  uint32_t client;
  uint32_t slot;
  uint64_t seq;
  uint64_t sent_ns;
};

struct Client {
  int fd = -1;
  uint32_t id = 0;
  std::vector<uint64_t> slot_seq;   // the request in flight in each slot
  std::vector<uint64_t> slot_sent;  // its send time (ns)
  uint64_t next_seq = 0;
};

struct LoadResult {
  Histogram latency;
  uint64_t received = 0;  // replies inside the measured window
  uint64_t sent = 0;
  uint64_t lost = 0;      // not answered within the timeout (any time)
  uint64_t errors = 0;    // send errors
};

void load_thread(const Options& o, const sockaddr_in& to, int first, int count, uint64_t measure_from,
                 uint64_t measure_until, LoadResult* result) {
  const uint64_t timeout_ns = static_cast<uint64_t>(o.timeout_ms) * 1'000'000;
  std::vector<Client> clients(count);
  std::vector<char> out(o.size, 'x'), in(65536);
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < count; ++i) {
    Client& c = clients[i];
    c.id = static_cast<uint32_t>(first + i);
    c.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    std::string ip = o.source_ips == 0 ? "127.0.0.1" : "127.0.0." + std::to_string(2 + (first + i) % o.source_ips);
    ::inet_pton(AF_INET, ip.c_str(), &from.sin_addr);
    if (::bind(c.fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(c.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
      die("client socket from " + ip + ": " + std::strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    c.slot_seq.assign(o.outstanding, 0);
    c.slot_sent.assign(o.outstanding, 0);
  }
  auto send_in_slot = [&](Client& c, uint32_t slot) {
    Header h{c.id, slot, ++c.next_seq, now_ns()};
    std::memcpy(out.data(), &h, sizeof h);
    c.slot_seq[slot] = h.seq;
    c.slot_sent[slot] = h.sent_ns;
    if (::send(c.fd, out.data(), out.size(), 0) < 0) ++result->errors;
    ++result->sent;
  };
  for (auto& c : clients) {
    for (int s = 0; s < o.outstanding; ++s) send_in_slot(c, static_cast<uint32_t>(s));
  }
  uint64_t next_sweep = now_ns() + timeout_ns / 4;
  epoll_event events[256];
  for (;;) {
    uint64_t now = now_ns();
    if (now >= measure_until) break;
    if (now >= next_sweep) {  // requests (or replies) lost: count them and keep the window full
      for (auto& c : clients) {
        for (int s = 0; s < o.outstanding; ++s) {
          if (now - c.slot_sent[s] > timeout_ns) {
            ++result->lost;
            send_in_slot(c, static_cast<uint32_t>(s));
          }
        }
      }
      next_sweep = now + timeout_ns / 4;
    }
    int n = ::epoll_wait(ep, events, 256, 10);
    for (int e = 0; e < n; ++e) {
      Client& c = clients[events[e].data.u32];
      for (;;) {
        ssize_t got = ::recv(c.fd, in.data(), in.size(), 0);
        if (got < 0) break;  // EAGAIN (or a refused port: the sweep counts the loss)
        if (got < static_cast<ssize_t>(sizeof(Header))) continue;
        Header h;
        std::memcpy(&h, in.data(), sizeof h);
        if (h.client != c.id || h.slot >= c.slot_seq.size() || c.slot_seq[h.slot] != h.seq) continue;  // stale
        uint64_t t = now_ns();
        if (t >= measure_from && t < measure_until) {
          ++result->received;
          result->latency.add(t - h.sent_ns);
        }
        send_in_slot(c, h.slot);
      }
    }
  }
  for (auto& c : clients) ::close(c.fd);
  ::close(ep);
}

int run_load(const Options& o) {
  sockaddr_in to = parse_target(o.address);
  const uint64_t start = now_ns();
  const uint64_t from = start + static_cast<uint64_t>(o.warmup * 1e9);
  const uint64_t until = from + static_cast<uint64_t>(o.duration * 1e9);
  const int threads = std::min(o.threads, o.clients);
  std::vector<LoadResult> results(threads);
  std::vector<std::thread> workers;
  for (int t = 0, first = 0; t < threads; ++t) {
    int count = o.clients / threads + (t < o.clients % threads ? 1 : 0);
    workers.emplace_back(load_thread, std::cref(o), std::cref(to), first, count, from, until, &results[t]);
    first += count;
  }
  for (auto& w : workers) w.join();
  LoadResult total;
  for (auto& r : results) {
    total.latency.merge(r.latency);
    total.received += r.received;
    total.sent += r.sent;
    total.lost += r.lost;
    total.errors += r.errors;
  }
  std::printf("datagrams_per_s=%.0f p50_us=%.1f p99_us=%.1f lost=%llu send_errors=%llu sent=%llu "
              "clients=%d outstanding=%d size=%d duration_s=%.1f\n",
              static_cast<double>(total.received) / o.duration, total.latency.quantile(0.50),
              total.latency.quantile(0.99), static_cast<unsigned long long>(total.lost),
              static_cast<unsigned long long>(total.errors), static_cast<unsigned long long>(total.sent), o.clients,
              o.outstanding, o.size, o.duration);
  return total.received > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  if (o.mode == "echo") return run_echo(o);
  if (o.mode == "probe") return run_probe(o);
  return run_load(o);
}
