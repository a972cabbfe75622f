// What active health checks cost: N loopback backends (listening sockets in
// this process, served by one thread of their own), checked every second by
// one HealthChecker, first with tcp checks and then with http checks. Reports
// the checker thread's CPU time as a percentage of one core (its own
// /proc/self/task/TID/schedstat, so the backends' thread is not counted).
//
//   health_checks_bench [--backends 1000] [--seconds 10] [--interval 1] [--type tcp|http|both]
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <set>
#include <string>
#include <thread>
#include <vector>
#include <dirent.h>

#include "dataplane/health/health_checker.h"
#include "dataplane/net/socket_ops.h"

namespace {

using namespace std::chrono_literals;
using nib::UniqueFd;

// N listeners on ephemeral loopback ports; accepted connections are closed
// at once (tcp) or answered "200 OK" and closed (http).
class Backends {
 public:
  Backends(int n, bool http) : http_(http) {
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    add(wake_.get(), kWake);
    for (int i = 0; i < n; ++i) {
      auto fd = nib::make_tcp_listener(*nib::SocketAddress::parse("127.0.0.1:0"), 1024, false);
      if (!fd.ok()) {
        std::fprintf(stderr, "listener %d: %s\n", i, fd.status().message().c_str());
        std::exit(1);
      }
      addresses_.push_back(*nib::local_address(fd->get()));
      add(fd->get(), kListener);
      listeners_.push_back(std::move(*fd));
    }
    thread_ = std::thread([this] { run(); });
  }
  ~Backends() {
    uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
    thread_.join();
    for (int fd : open_) ::close(fd);
  }
  const std::vector<nib::SocketAddress>& addresses() const { return addresses_; }
  uint64_t accepted() const { return accepted_.load(); }

 private:
  static constexpr uint32_t kWake = 0, kListener = 1, kConn = 2;
  void add(int fd, uint32_t kind) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = (static_cast<uint64_t>(kind) << 32) | static_cast<uint32_t>(fd);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  }
  void close_conn(int fd) {
    ::close(fd);
    open_.erase(fd);
  }
  void run() {
    epoll_event events[256];
    char buf[4096];
    for (;;) {
      int n = ::epoll_wait(epoll_.get(), events, 256, -1);
      for (int i = 0; i < n; ++i) {
        auto kind = static_cast<uint32_t>(events[i].data.u64 >> 32);
        int fd = static_cast<int>(events[i].data.u64 & 0xffffffff);
        if (kind == kWake) return;
        if (kind == kListener) {
          for (;;) {
            int c = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c < 0) break;
            accepted_.fetch_add(1, std::memory_order_relaxed);
            if (!http_) {
              ::close(c);
              continue;
            }
            open_.insert(c);
            add(c, kConn);
          }
          continue;
        }
        // http: the request fits in one read on loopback; answer and close.
        ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r > 0) {
          static const char kReply[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
          (void)!::send(fd, kReply, sizeof kReply - 1, MSG_NOSIGNAL);
        }
        if (r >= 0 || errno != EAGAIN) close_conn(fd);
      }
    }
  }

  const bool http_;
  UniqueFd epoll_, wake_;
  std::vector<UniqueFd> listeners_;
  std::vector<nib::SocketAddress> addresses_;
  std::set<int> open_;
  std::atomic<uint64_t> accepted_{0};
  std::thread thread_;
};

std::set<int> task_ids() {
  std::set<int> out;
  DIR* d = ::opendir("/proc/self/task");
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    if (e->d_name[0] != '.') out.insert(std::atoi(e->d_name));
  }
  if (d) ::closedir(d);
  return out;
}

// CPU time of one thread of this process, in seconds (schedstat: ns on CPU).
double thread_cpu_seconds(int tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/schedstat");
  double ns = 0;
  in >> ns;
  return ns / 1e9;
}

// User and system CPU time of one thread, in seconds (stat: clock ticks).
std::pair<double, double> thread_user_sys(int tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = text.rfind(')');  // the command name may hold spaces
  std::istringstream rest(pos == std::string::npos ? "" : text.substr(pos + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 14 and 15
    if (i == 14) utime = std::atof(field.c_str());
    if (i == 15) stime = std::atof(field.c_str());
  }
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return {utime / tick, stime / tick};
}

void run(const char* type, int backends, double seconds, double interval) {
  const bool http = std::strcmp(type, "http") == 0;
  Backends servers(backends, http);
  std::vector<std::shared_ptr<nib::Backend>> list;
  std::vector<nib::HealthChecker::Target> targets;
  nib::HealthCheckConfig c;
  c.type = http ? nib::HealthCheckType::kHttp : nib::HealthCheckType::kTcp;
  c.interval_seconds = interval;
  c.timeout_seconds = interval / 2;
  c.jitter = 0.1;
  for (size_t i = 0; i < servers.addresses().size(); ++i) {
    nib::BackendConfig bc;
    bc.address = servers.addresses()[i];
    list.push_back(std::make_shared<nib::Backend>(static_cast<uint32_t>(i + 1), bc, 1));
    targets.push_back({"bench", list.back(), c});
  }
  std::atomic<uint64_t> changes{0};
  nib::HealthChecker checker([&](const std::string&, const nib::Backend&, bool, const std::string&) { ++changes; });
  std::set<int> before = task_ids();
  if (!checker.start().ok()) std::exit(1);
  std::this_thread::sleep_for(50ms);
  int tid = 0;
  for (int t : task_ids()) {
    if (!before.contains(t)) tid = t;
  }
  checker.set_targets(std::move(targets));
  // Warm-up: the first checks spread over one interval.
  std::this_thread::sleep_for(std::chrono::duration<double>(interval * 1.5));
  const double cpu0 = thread_cpu_seconds(tid);
  const auto [user0, sys0] = thread_user_sys(tid);
  const uint64_t accepted0 = servers.accepted();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = thread_cpu_seconds(tid) - cpu0;
  const auto [user1, sys1] = thread_user_sys(tid);
  const uint64_t checks = servers.accepted() - accepted0;
  int up = 0, ok = 0;
  for (const auto& b : list) {
    nib::HealthInfo h = b->health();
    up += h.up;
    ok += h.last_check_ok;
  }
  checker.stop();
  std::printf("type=%s backends=%d interval_s=%.2f measured_s=%.1f checks=%llu checks_per_s=%.0f "
              "checker_cpu_pct_of_one_core=%.2f (user %.2f, sys %.2f) us_per_check=%.1f up=%d last_check_ok=%d "
              "state_changes=%llu\n",
              type, backends, interval, wall, static_cast<unsigned long long>(checks), checks / wall,
              100 * cpu / wall, 100 * (user1 - user0) / wall, 100 * (sys1 - sys0) / wall, checks ? 1e6 * cpu / checks : 0.0, up, ok,
              static_cast<unsigned long long>(changes.load()));
}

}  // namespace

int main(int argc, char** argv) {
  int backends = 1000;
  double seconds = 10, interval = 1;
  std::string type = "both";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--backends") backends = std::atoi(argv[i + 1]);
    else if (k == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (k == "--interval") interval = std::atof(argv[i + 1]);
    else if (k == "--type") type = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: %s [--backends N] [--seconds S] [--interval S] [--type tcp|http|both]\n", argv[0]);
      return 2;
    }
  }
  nib::raise_fd_limit();  // listeners + accepted + probe sockets: about 3 per backend
  if (type == "tcp" || type == "both") run("tcp", backends, seconds, interval);
  if (type == "http" || type == "both") run("http", backends, seconds, interval);
  return 0;
}
