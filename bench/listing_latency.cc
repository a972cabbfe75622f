// What listing the backends (with their remembered-client counts) costs the
// traffic of a service whose client table holds a million entries: the p99
// latency of new connections through a real TcpEngine while a lister thread
// counts remembered clients without pause, three ways:
//   none         no listing (the baseline);
//   per-backend  what gRPC ListBackends did: one scan of the whole table per
//                backend (AffinityTable::count_backend for each id);
//   one-pass     what it does now: AffinityTable::count_by_backend, one pass,
//                one shard lock at a time, held only to copy the shard's ids.
// A connection is timed from connect() to the backend's first byte (nib's
// accept, the table lookup and record under a shard lock, the backend
// connect, the relay), from its own source address in 127.1.0.0/16, so each
// is a new client that the table looks up and records.
//
// The modes take turns, `--rounds` times, so drift in a shared machine's load
// hits them alike; each line sums a mode's rounds. The lister lists without
// pause (the worst case), or once every `--every-ms` (a dashboard polling).
//
//   listing_latency [--entries 1000000] [--backends 8] [--connections 2000] [--rounds 3] [--workers 2]
//                   [--every-ms 0]
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/net/socket_ops.h"
#include "dataplane/resource/fd_budget.h"
#include "dataplane/service/service.h"
#include "dataplane/tcp/tcp_engine.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace {

using Clock = std::chrono::steady_clock;
using nib::UniqueFd;

// A backend that answers every connection with one byte and closes it.
class OneByteBackend {
 public:
  OneByteBackend() {
    auto fd = nib::make_tcp_listener(*nib::SocketAddress::parse("127.0.0.1:0"), 1024, false);
    if (!fd.ok()) {
      std::fprintf(stderr, "backend: %s\n", fd.status().message().c_str());
      std::exit(1);
    }
    address_ = *nib::local_address(fd->get());
    listener_ = std::move(*fd);
    // Blocking accepts: this thread sleeps until a connection comes.
    ::fcntl(listener_.get(), F_SETFL, ::fcntl(listener_.get(), F_GETFL) & ~O_NONBLOCK);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
          if (stopping_.load()) return;
          continue;
        }
        (void)!::write(c, "x", 1);
        ::close(c);
      }
    });
  }
  ~OneByteBackend() {
    stopping_.store(true);
    ::shutdown(listener_.get(), SHUT_RDWR);  // wakes accept()
    thread_.join();
  }
  const nib::SocketAddress& address() const { return address_; }

 private:
  UniqueFd listener_;
  nib::SocketAddress address_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Microseconds from connect() to the first byte, from source address `source`.
double connect_us(const nib::SocketAddress& to, const std::string& source) {
  auto from = nib::SocketAddress::from_ip(source, 0);
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  // The port is chosen at connect() from the 4-tuple: a bind to port 0 would
  // search the port space on every connection.
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  if (!from.ok() || ::bind(fd.get(), from->sockaddr_ptr(), from->length()) != 0) {
    std::fprintf(stderr, "bind %s: %s\n", source.c_str(), std::strerror(errno));
    std::exit(1);
  }
  const auto start = Clock::now();
  if (::connect(fd.get(), to.sockaddr_ptr(), to.length()) != 0) {
    std::fprintf(stderr, "connect: %s\n", std::strerror(errno));
    std::exit(1);
  }
  char c;
  if (::read(fd.get(), &c, 1) != 1) {
    std::fprintf(stderr, "no byte from the backend\n");
    std::exit(1);
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

long arg(int argc, char** argv, const char* name, long fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atol(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const long entries = arg(argc, argv, "--entries", 1'000'000);
  const long backends = arg(argc, argv, "--backends", 8);
  const long connections = arg(argc, argv, "--connections", 2000);
  const long rounds = arg(argc, argv, "--rounds", 3);
  const long every_ms = arg(argc, argv, "--every-ms", 0);
  const long workers = arg(argc, argv, "--workers", 2);
  const uint64_t fd_limit = nib::raise_fd_limit();

  std::vector<std::unique_ptr<OneByteBackend>> servers;
  nib::ServiceConfig config;
  config.name = "bench";
  config.listen = *nib::SocketAddress::parse("127.0.0.1:0");
  config.policy.table_size = static_cast<uint64_t>(entries + 3 * rounds * connections);  // no eviction
  for (long i = 0; i < backends; ++i) {
    servers.push_back(std::make_unique<OneByteBackend>());
    config.backends.push_back(nib::BackendConfig{.host = "127.0.0.1", .address = servers.back()->address()});
  }
  nib::Service service(config, static_cast<unsigned>(workers));
  nib::FdBudget budget(nib::fd_budget_for(fd_limit, nib::count_open_fds()));
  nib::TcpEngine engine(static_cast<unsigned>(workers), 64, budget, uint64_t{1} << 30);
  engine.add_service(service);
  if (nib::Status st = engine.bind(); !st.ok()) {
    std::fprintf(stderr, "bind: %s\n", st.message().c_str());
    return 1;
  }
  engine.start();
  const nib::SocketAddress lb = service.listen_address();

  // A million remembered clients (10.0.0.0/8), spread over the backends.
  std::vector<uint32_t> ids;
  for (const auto& b : service.registry().snapshot()->backends) ids.push_back(b->id());
  const auto fill_start = Clock::now();
  const nib::MonoTime now = nib::MonoClock::now();
  for (long i = 0; i < entries; ++i) {
    nib::IpKey k;  // ::ffff:10.x.y.z
    k.bytes[10] = k.bytes[11] = 0xff;
    k.bytes[12] = 10;
    k.bytes[13] = static_cast<uint8_t>(i >> 16);
    k.bytes[14] = static_cast<uint8_t>(i >> 8);
    k.bytes[15] = static_cast<uint8_t>(i);
    service.affinity().record(k, ids[static_cast<size_t>(i) % ids.size()], now);
  }
  std::printf("table: %llu entries (filled in %.1f s), %ld backends, %ld workers, %ld rounds of %ld connections, "
              "listing %s\n",
              static_cast<unsigned long long>(service.affinity().size()),
              std::chrono::duration<double>(Clock::now() - fill_start).count(), backends, workers, rounds,
              connections, every_ms > 0 ? ("every " + std::to_string(every_ms) + " ms").c_str() : "without pause");

  const char* const modes[] = {"none", "per-backend", "one-pass"};
  struct Totals {
    std::vector<double> us;
    long listings = 0;
    double listing_ms = 0;
  } totals[3];
  long next_client = 0;
  for (long round = 0; round < rounds; ++round) {
    for (int m = 0; m < 3; ++m) {
      const char* mode = modes[m];
      std::atomic<bool> done{false};
      std::atomic<long> listings{0};
      std::atomic<double> listing_ms{0};
      std::thread lister([&] {
        if (std::strcmp(mode, "none") == 0) return;
        while (!done.load()) {
          const auto t0 = Clock::now();
          uint64_t total = 0;
          if (std::strcmp(mode, "per-backend") == 0) {
            for (uint32_t id : ids) total += service.affinity().count_backend(id);
          } else {
            for (const auto& [id, n] : service.affinity().count_by_backend()) total += n;
          }
          if (total == 0) std::abort();  // keeps the work
          listing_ms.store(listing_ms.load() + std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          listings.fetch_add(1);
          // Paced: sleeps out the rest of the period (a bench thread, not nib's).
          if (every_ms > 0) std::this_thread::sleep_until(t0 + std::chrono::milliseconds(every_ms));
        }
      });
      for (long i = 0; i < connections; ++i, ++next_client) {
        totals[m].us.push_back(connect_us(lb, "127." + std::to_string(1 + next_client / 62500 % 250) + "." +
                                                  std::to_string(next_client / 250 % 250) + "." +
                                                  std::to_string(1 + next_client % 250)));
      }
      done.store(true);
      lister.join();
      totals[m].listings += listings.load();
      totals[m].listing_ms += listing_ms.load();
    }
  }
  std::printf("%-12s %9s %9s %9s %9s %10s %12s\n", "listing", "p50 us", "p99 us", "p99.9 us", "max us",
              "listings", "ms/listing");
  for (int m = 0; m < 3; ++m) {
    const Totals& t = totals[m];
    std::printf("%-12s %9.0f %9.0f %9.0f %9.0f %10ld %12.1f\n", modes[m], percentile(t.us, 0.5),
                percentile(t.us, 0.99), percentile(t.us, 0.999), percentile(t.us, 1.0), t.listings,
                t.listings == 0 ? 0.0 : t.listing_ms / static_cast<double>(t.listings));
  }
  engine.stop();
  return 0;
}
