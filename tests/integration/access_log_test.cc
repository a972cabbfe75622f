// The access log (issue 14) through the real nib binary: Pen's -l lines for
// connections relayed over real sockets, JSON that parses, templates, a full
// ring that drops and counts but never stalls traffic, rotation under
// traffic with no line lost, UDP datagrams, and Debian's real penlogd taking
// nib's lines.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <sstream>
#include <thread>

#include "admin/http/json.h"
#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"
#include "tests/support/test_udp_backend.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::BackendMode;
using test::NibProcess;
using test::TestBackend;
using test::TestClient;

std::string at(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }
SocketAddress lb(uint16_t port) { return *SocketAddress::from_ip("127.0.0.1", port); }

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  auto text = test::read_file(path);
  if (!text.ok()) return out;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// One parsed JSON access-log line; a missing or mistyped field is a failure
// (and a neutral value), never a crash. nib's own strict parser: it also
// rejects what a lenient one would let through.
struct JsonLine {
  const json::Value& line;
  std::string str(std::string_view key) const {
    const json::Value* v = line.find(key);
    if (v != nullptr && v->is_string()) return v->as_string();
    ADD_FAILURE() << "no string field " << key << " in " << json::serialize(line);
    return {};
  }
  double num(std::string_view key) const {
    const json::Value* v = line.find(key);
    if (v != nullptr && v->is_number()) return v->as_double();
    ADD_FAILURE() << "no number field " << key << " in " << json::serialize(line);
    return -1;
  }
};

// One HTTP/1.0 request through nib (the backend closes after its reply).
void http_get(uint16_t port, const std::string& path, const std::string& source_ip = "127.0.0.1") {
  auto c = TestClient::connect(lb(port), source_ip);
  ASSERT_TRUE(c.ok()) << c.status().message();
  auto reply = c->write_all_and_read_until_eof("GET " + path + " HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_NE(reply->find("200 OK"), std::string::npos);
}

// One echo exchange: the backend's greeting and `data` back, then both close.
void echo(uint16_t port, const std::string& data) {
  auto c = TestClient::connect(lb(port));
  ASSERT_TRUE(c.ok()) << c.status().message();
  auto reply = c->write_all_and_read_until_eof(data);
  ASSERT_TRUE(reply.ok()) << reply.status().message();
}

// A counter from nib's /metrics (raw HTTP: no client library needed).
std::optional<double> metric(uint16_t admin_port, const std::string& name) {
  auto c = TestClient::connect(lb(admin_port));
  if (!c.ok()) return std::nullopt;
  auto reply = c->write_all_and_read_until_eof("GET /metrics HTTP/1.0\r\nHost: nib\r\n\r\n");
  if (!reply.ok()) return std::nullopt;
  size_t pos = reply->find("\n" + name + " ");
  if (pos == std::string::npos) return std::nullopt;
  return std::stod(reply->substr(pos + name.size() + 2));
}

class AccessLogTest : public ::testing::Test {
 protected:
  void SetUp() override { NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built"); }

  // nib in the foreground, ready once its pid file is written.
  std::unique_ptr<NibProcess> start(std::vector<std::string> args) {
    std::string pid_file = dir_.file("nib.pid");
    ::unlink(pid_file.c_str());
    return test::start_foreground(std::move(args), pid_file);
  }

  // A YAML nib: one service on `port` to `backend`, the given access_log
  // block, 1 worker, the admin HTTP on admin_port_.
  std::unique_ptr<NibProcess> start_yaml(uint16_t port, const TestBackend& backend, const std::string& access_log) {
    admin_port_ = test::free_port();
    std::string config = dir_.file("nib.yaml");
    EXPECT_TRUE(test::write_file(config, "workers: 1\n"
                                         "access_log:\n" +
                                             access_log +
                                             "services:\n"
                                             "  - name: web\n"
                                             "    listen: " +
                                             at(port) +
                                             "\n"
                                             "    backends:\n"
                                             "      - " +
                                             at(backend.port()) +
                                             "\n"
                                             "admin:\n"
                                             "  http_listen: " +
                                             at(admin_port_) +
                                             "\n"
                                             "  grpc_listen: 127.0.0.1:0\n")
                    .ok());
    return start({"--config", config});
  }

  // SIGTERM, then the exit: every ring is written by then.
  void stop(NibProcess& nib) {
    ASSERT_TRUE(nib.signal(SIGTERM).ok());
    auto code = nib.wait_exit(30s);
    ASSERT_TRUE(code.has_value()) << nib.output();
    EXPECT_EQ(*code, 0) << nib.output();
  }

  test::TempDir dir_;
  uint16_t admin_port_ = 0;
};

TEST_F(AccessLogTest, PenLinesForConnectionsThroughTheBinary) {
  TestBackend web("web", BackendMode::kHttp);
  const uint16_t port = test::free_port();
  const std::string log = dir_.file("pen.log");
  auto nib = start({"-l", log, at(port), at(web.port())});
  ASSERT_TRUE(nib);
  for (int i = 0; i < 3; ++i) http_get(port, "/page" + std::to_string(i));
  stop(*nib);
  auto lines = lines_of(log);
  ASSERT_EQ(lines.size(), 3u) << test::read_file(log).value_or("");
  // Each worker has its own ring: lines of different workers may come in any order.
  std::vector<std::string> requests;
  for (int i = 0; i < 3; ++i) {
    // Pen's file line, what mergelogs reads: client, unix time, server, request.
    std::istringstream in(lines[i]);
    std::string client, server, method, path, version;
    long long when = 0;
    in >> client >> when >> server >> method >> path >> version;
    EXPECT_EQ(client, "127.0.0.1") << lines[i];
    EXPECT_GT(when, 1'600'000'000) << lines[i];
    EXPECT_EQ(server, "127.0.0.1") << lines[i];
    requests.push_back(method + " " + path + " " + version);
  }
  std::sort(requests.begin(), requests.end());
  EXPECT_EQ(requests, (std::vector<std::string>{"GET /page0 HTTP/1.0", "GET /page1 HTTP/1.0", "GET /page2 HTTP/1.0"}));
}

TEST_F(AccessLogTest, JsonLinesParseAndCarryEveryField) {
  TestBackend echo_backend("echo-1");  // greets "echo-1\n", then echoes
  const uint16_t port = test::free_port();
  const std::string log = dir_.file("access.json");
  auto nib = start_yaml(port, echo_backend, "  path: " + log + "\n  format: json\n");
  ASSERT_TRUE(nib);
  for (int i = 0; i < 4; ++i) echo(port, "hello\n");
  stop(*nib);
  auto lines = lines_of(log);
  ASSERT_EQ(lines.size(), 4u) << test::read_file(log).value_or("");
  for (const auto& line : lines) {
    auto parsed = json::parse(line);
    ASSERT_TRUE(parsed.ok()) << parsed.status().message() << ": " << line;
    const JsonLine f{*parsed};
    EXPECT_EQ(f.str("service"), "web");
    EXPECT_EQ(f.str("protocol"), "tcp");
    EXPECT_EQ(f.str("client").rfind("127.0.0.1:", 0), 0u) << line;
    EXPECT_EQ(f.str("backend"), at(echo_backend.port()));
    EXPECT_EQ(f.num("bytes_in"), 6);                           // "hello\n"
    EXPECT_EQ(f.num("bytes_out"), 7 + 6);                      // "echo-1\n" + the echo
    EXPECT_EQ(f.str("reason"), "client_closed") << line;      // its FIN came first
    EXPECT_EQ(f.num("failovers"), 0);
    EXPECT_GT(f.num("backend_source_port"), 0);  // what the backend saw as its peer's port
    EXPECT_EQ(f.str("request"), "hello");
    EXPECT_GE(f.num("connect_ms"), 0);
    EXPECT_GE(f.num("duration_ms"), f.num("connect_ms"));
    EXPECT_EQ(f.str("time").size(), std::string("2026-12-04T05:30:45.123Z").size()) << line;
  }
}

TEST_F(AccessLogTest, TemplateLinesAndAFailedServerCounted) {
  TestBackend echo_backend("echo-1");
  const uint16_t port = test::free_port();
  const uint16_t dead = test::free_port();  // nothing listens: refused, then the next server
  const std::string log = dir_.file("access.log");
  const std::string config = dir_.file("nib.yaml");
  ASSERT_TRUE(test::write_file(config, "workers: 1\n"
                                       "access_log:\n"
                                       "  path: " + log + "\n"
                                       "  format: template\n"
                                       "  template: \"{service} {client_ip} {backend} {bytes_in}/{bytes_out} "
                                       "{reason} {failovers}\"\n"
                                       "services:\n"
                                       "  - name: web\n"
                                       "    listen: " + at(port) + "\n"
                                       "    policy: {mode: roundrobin}\n"
                                       "    backends: [" + at(dead) + ", " + at(echo_backend.port()) + "]\n"
                                       "admin: {enabled: false}\n")
                  .ok());
  auto nib = start({"--config", config});
  ASSERT_TRUE(nib);
  echo(port, "x");
  stop(*nib);
  auto lines = lines_of(log);
  ASSERT_EQ(lines.size(), 1u) << test::read_file(log).value_or("");
  // Round robin starts at the first server, which refuses: one failover.
  EXPECT_EQ(lines[0], "web 127.0.0.1 " + at(echo_backend.port()) + " 1/8 client_closed 1");
}

TEST_F(AccessLogTest, FullRingDropsAndCountsButNeverStallsTraffic) {
  // The destination is a FIFO whose 4 KiB the test does not read: the writer
  // blocks in write() after a few lines, the 1-record ring fills, and every
  // further line is dropped on the worker, which carries on relaying.
  TestBackend echo_backend("echo-1");
  const std::string fifo = dir_.file("stuck.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  UniqueFd reader(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(reader);
  ASSERT_GE(::fcntl(reader.get(), F_SETPIPE_SZ, 4096), 4096);
  const uint16_t port = test::free_port();
  auto nib = start_yaml(port, echo_backend, "  path: " + fifo + "\n  format: json\n  ring_size: 1\n");
  ASSERT_TRUE(nib);
  constexpr int kConnections = 100;
  for (int i = 0; i < kConnections; ++i) {
    echo(port, "ping\n");  // each one completes: the log never holds a client up
    if (HasFatalFailure()) return;
  }
  std::optional<double> dropped;
  ASSERT_TRUE(test::wait_until([&] { return (dropped = metric(admin_port_, "nib_access_log_dropped_total")) && *dropped > 0; }, 10s))
      << nib->output();
  // Now read the FIFO: the writer goes on, and lines + drops add up.
  std::atomic<bool> done{false};
  std::string got;
  std::thread drain([&] {
    char buf[4096];
    while (!done.load()) {
      pollfd p{reader.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;  // wakes every 50 ms to see `done`
      ssize_t n = ::read(reader.get(), buf, sizeof buf);
      if (n > 0) got.append(buf, static_cast<size_t>(n));
    }
  });
  std::optional<double> lines;
  bool added_up = test::wait_until(
      [&] {
        lines = metric(admin_port_, "nib_access_log_lines_total");
        dropped = metric(admin_port_, "nib_access_log_dropped_total");
        return lines && dropped && *lines + *dropped == kConnections;
      },
      10s);
  stop(*nib);
  done = true;
  drain.join();
  ASSERT_TRUE(added_up) << "lines " << lines.value_or(-1) << " dropped " << dropped.value_or(-1);
  EXPECT_GT(*dropped, 0);
  EXPECT_EQ(static_cast<double>(std::count(got.begin(), got.end(), '\n')), *lines);
  EXPECT_EQ(echo_backend.accepted(), static_cast<uint64_t>(kConnections));
}

TEST_F(AccessLogTest, RotationUnderTrafficLosesNoLine) {
  TestBackend web("web", BackendMode::kHttp);
  const uint16_t port = test::free_port();
  const std::string log = dir_.file("pen.log");
  auto nib = start({"-l", log, at(port), at(web.port())});
  ASSERT_TRUE(nib);
  // Traffic runs until told to stop, so every phase has connections however
  // fast the machine: a fixed count once finished before the second reopen.
  constexpr uint64_t kMaxConnections = 100'000;
  std::atomic<uint64_t> made{0};
  std::atomic<bool> enough{false};
  std::thread traffic([&] {
    for (uint64_t i = 0; i < kMaxConnections && !enough.load(); ++i) {
      http_get(port, "/r" + std::to_string(i));
      made.fetch_add(1);
    }
  });
  struct StopTraffic {  // also when an ASSERT returns early
    std::atomic<bool>& enough;
    std::thread& traffic;
    ~StopTraffic() {
      enough.store(true);
      if (traffic.joinable()) traffic.join();
    }
  } stop_traffic{enough, traffic};
  auto more = [&](uint64_t n) {
    const uint64_t target = made.load() + n;
    return test::wait_until([&] { return made.load() >= target; }, 30s);
  };
  auto reopened = [&](size_t times) {
    return test::wait_until([&] {
      const std::string out = nib->output();
      size_t seen = 0;
      for (size_t at = out.find("reopened"); at != std::string::npos; at = out.find("reopened", at + 1)) ++seen;
      return seen >= times;
    }, 10s);
  };
  // logrotate's way: rename, then signal. Once with SIGUSR1, once with SIGHUP.
  EXPECT_TRUE(more(50));
  ASSERT_EQ(::rename(log.c_str(), (log + ".1").c_str()), 0);
  ASSERT_TRUE(nib->signal(SIGUSR1).ok());
  EXPECT_TRUE(reopened(1)) << nib->output();
  EXPECT_TRUE(more(50));
  ASSERT_EQ(::rename(log.c_str(), (log + ".2").c_str()), 0);
  ASSERT_TRUE(nib->signal(SIGHUP).ok());
  EXPECT_TRUE(reopened(2)) << nib->output();
  EXPECT_TRUE(more(50));
  enough.store(true);
  traffic.join();
  stop(*nib);
  const size_t a = lines_of(log + ".1").size(), b = lines_of(log + ".2").size(), c = lines_of(log).size();
  EXPECT_EQ(a + b + c, made.load()) << a << " + " << b << " + " << c;
  EXPECT_GT(a, 0u);
  EXPECT_GT(b, 0u);
  EXPECT_GT(c, 0u);
}

// A UDP socket on loopback standing in for penlogd or a syslog collector.
class UdpSink {
 public:
  UdpSink() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    timeval tv{5, 0};  // a bound on each receive: a missing datagram fails, never hangs
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  uint16_t port() const { return port_; }
  int fd() const { return fd_.get(); }
  std::optional<std::string> receive() {
    char buf[2048];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }

 private:
  UniqueFd fd_;
  uint16_t port_ = 0;
};

TEST_F(AccessLogTest, UdpDestinationGetsOneDatagramPerLineAsPenSends) {
  TestBackend web("web", BackendMode::kHttp);
  UdpSink sink;
  const uint16_t port = test::free_port();
  auto nib = start({"-l", at(sink.port()), at(port), at(web.port())});
  ASSERT_TRUE(nib);
  http_get(port, "/a");
  http_get(port, "/b");
  // penlogd's "+" entries: client, server, request (two workers: in any order).
  std::vector<std::string> got = {sink.receive().value_or("none"), sink.receive().value_or("none")};
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"+ 127.0.0.1 127.0.0.1 GET /a HTTP/1.0\n",
                                           "+ 127.0.0.1 127.0.0.1 GET /b HTTP/1.0\n"}));
  stop(*nib);
}

TEST_F(AccessLogTest, AnExpiredUdpSessionIsOneLine) {
  test::TestUdpBackend backend("udp-1");  // answers every datagram
  const uint16_t port = test::free_port();
  const std::string log = dir_.file("udp.json");
  const std::string config = dir_.file("nib.yaml");
  ASSERT_TRUE(test::write_file(config, "workers: 1\n"
                                       "access_log: {path: " + log + ", format: json}\n"
                                       "services:\n"
                                       "  - name: dns\n"
                                       "    protocol: udp\n"
                                       "    listen: " + at(port) + "\n"
                                       "    session_timeout: 0.2\n"
                                       "    backends: [" + at(backend.port()) + "]\n"
                                       "admin: {enabled: false}\n")
                  .ok());
  auto nib = start({"--config", config});
  ASSERT_TRUE(nib);
  UdpSink client;  // one client address:port: one session
  SocketAddress to = lb(port);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(::sendto(client.fd(), "ping", 4, 0, to.sockaddr_ptr(), to.length()), 4);
    ASSERT_TRUE(client.receive().has_value()) << "no reply " << i;
  }
  // Silent past session_timeout: the session ends, and its line is written.
  ASSERT_TRUE(test::wait_until([&] { return !lines_of(log).empty(); }, 10s)) << nib->output();
  stop(*nib);
  auto lines = lines_of(log);
  ASSERT_EQ(lines.size(), 1u);
  auto parsed = json::parse(lines[0]);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message() << ": " << lines[0];
  const JsonLine f{*parsed};
  EXPECT_EQ(f.str("protocol"), "udp");
  EXPECT_EQ(f.str("service"), "dns");
  EXPECT_EQ(f.str("client"), at(client.port()));
  EXPECT_EQ(f.str("backend"), at(backend.port()));
  EXPECT_EQ(f.num("bytes_in"), 12);
  EXPECT_GT(f.num("bytes_out"), 0);
  EXPECT_EQ(f.str("reason"), "idle") << lines[0];
  EXPECT_GT(f.num("backend_source_port"), 0);  // the session socket's own port
  ASSERT_NE(f.line.find("connect_ms"), nullptr);
  EXPECT_TRUE(f.line.find("connect_ms")->is_null());
}

TEST_F(AccessLogTest, DebiansPenctlTurnsTheLogOnAndOff) {
  NIB_REQUIRE(::access("/usr/bin/penctl", X_OK) == 0, "Debian's penctl (package pen) not installed");
  TestBackend web("web", BackendMode::kHttp);
  const uint16_t port = test::free_port();
  const uint16_t control = test::free_port();
  const std::string log = dir_.file("from-penctl.log");
  auto nib = start({"--allow-root-control", "-C", at(control), at(port), at(web.port())});
  ASSERT_TRUE(nib);
  auto penctl = [&](std::vector<std::string> words) {
    words.insert(words.begin(), at(control));
    auto p = NibProcess::start_program("/usr/bin/penctl", words);
    EXPECT_TRUE(p.ok());
    if (!p.ok()) return std::string("(not run)");
    EXPECT_EQ((*p)->wait_exit(10s), 0) << (*p)->output();
    (*p)->wait_output_closed(10s);
    return (*p)->stdout_output();
  };
  EXPECT_EQ(penctl({"log"}), "");  // off: nothing to name
  http_get(port, "/before");        // not logged
  EXPECT_EQ(penctl({"log", log}), "");
  EXPECT_EQ(penctl({"log"}), log + "\n");
  http_get(port, "/during");
  EXPECT_EQ(penctl({"no", "log"}), "");
  http_get(port, "/after");  // not logged: the workers left the log when penctl got its answer
  stop(*nib);
  auto lines = lines_of(log);
  ASSERT_EQ(lines.size(), 1u) << test::read_file(log).value_or("(no file)");
  EXPECT_NE(lines[0].find(" GET /during HTTP/1.0"), std::string::npos) << lines[0];
}

TEST_F(AccessLogTest, DebiansPenlogdPutsTheClientBackIntoTheWebServersLine) {
  NIB_REQUIRE(::access("/usr/bin/penlogd", X_OK) == 0, "Debian's penlogd (package pen) not installed");
  TestBackend web("web", BackendMode::kHttp);
  const uint16_t penlogd_port = test::free_port();
  const std::string merged = dir_.file("merged.log");
  // -b: unbuffered, so the merged line is in the file as soon as it is merged.
  auto penlogd = NibProcess::start_program("/usr/bin/penlogd", {"-f", "-b", "-l", merged, std::to_string(penlogd_port)});
  ASSERT_TRUE(penlogd.ok()) << penlogd.status().message();
  const uint16_t port = test::free_port();
  auto nib = start({"-l", at(penlogd_port), at(port), at(web.port())});
  ASSERT_TRUE(nib);
  http_get(port, "/merged.html", "127.0.0.2");  // the real client: 127.0.0.2
  // The web server's own log line, sent as penlog sends it (from the
  // backend's address, 127.0.0.1): it saw nib, not the client. penlogd swaps
  // in the client nib logged for the same server and request. Sent until
  // merged: nib's datagram may still be on its way.
  UniqueFd web_log(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  SocketAddress to = lb(penlogd_port);
  const std::string line = "127.0.0.1 - - [04/Dec/2026:05:00:00 +0000] \"GET /merged.html HTTP/1.0\" 200 4\n";
  bool merged_ok = test::wait_until(
      [&] {
        ::sendto(web_log.get(), line.data(), line.size(), 0, to.sockaddr_ptr(), to.length());
        return test::read_file(merged).value_or("").find("127.0.0.2 - - [04/Dec/2026") != std::string::npos;
      },
      10s);
  EXPECT_TRUE(merged_ok) << test::read_file(merged).value_or("(no file)") << (*penlogd)->output();
  stop(*nib);
  EXPECT_TRUE((*penlogd)->signal(SIGTERM).ok());
  (*penlogd)->wait_exit(10s);
}

}  // namespace
}  // namespace nib
