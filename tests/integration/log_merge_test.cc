// nib-logd merge (issue 14) over real logs: clients from distinct loopback
// addresses reach two real nginx servers through the real nib binary, then
// nib-logd puts each client back into nginx's own access log lines — by port
// for the server that logs $remote_port (every request of a keep-alive
// connection), by request line for the one that logs plain Combined format.
// nib-logd serve, Pen's penlogd, live: nib sends its log over UDP (-l), the
// real penlog sends nginx's lines from the backend's address, and the output
// file has the clients back as lines arrive.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <sstream>

#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_client.h"
#include "tests/support/test_nginx.h"

#ifndef NIB_LOGD_BINARY
#define NIB_LOGD_BINARY "nib-logd"
#endif

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NibProcess;
using test::TestClient;

constexpr const char* kNginx = test::kNginxBinary;
constexpr const char* kPenlog = "/usr/bin/penlog";

std::string at(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }
SocketAddress lb(uint16_t port) { return *SocketAddress::from_ip("127.0.0.1", port); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class LogMergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built");
    NIB_REQUIRE(::access(kNginx, X_OK) == 0, "nginx not installed (scripts/install-deps.sh --test)");
    NIB_REQUIRE(::access(NIB_LOGD_BINARY, X_OK) == 0, "nib-logd not built");
  }

  // One nginx, in the foreground, its files in dir_: server A on port_a_ logs
  // "$remote_addr:$remote_port" first, server B on port_b_ plain Combined.
  std::unique_ptr<NibProcess> start_nginx() {
    port_a_ = test::free_port();
    port_b_ = test::free_port();
    const std::string d = dir_.path();
    auto nginx = test::start_nginx(d,
                                   "  log_format withport '$remote_addr:$remote_port - $remote_user [$time_local] "
                                   "\"$request\" $status $body_bytes_sent';\n"
                                   "  server { listen " + at(port_a_) + "; access_log " + d + "/a.log withport;\n"
                                   "    location / { return 200 \"a\\n\"; } }\n"
                                   "  server { listen " + at(port_b_) + "; access_log " + d + "/b.log combined;\n"
                                   "    location / { return 200 \"b\\n\"; } }\n",
                                   {port_a_, port_b_});
    EXPECT_TRUE(nginx.ok()) << nginx.status().message();
    return nginx.ok() ? std::move(*nginx) : nullptr;
  }

  // nib-logd serve on a port of its choosing, appending to `output`; null
  // (with a failure) when it does not say where it listens.
  std::unique_ptr<NibProcess> start_logd(const std::string& output, uint16_t* port) {
    auto logd = NibProcess::start_program(NIB_LOGD_BINARY,
                                          {"serve", "--listen", "127.0.0.1:0", "--window", "1", "-o", output});
    EXPECT_TRUE(logd.ok()) << logd.status().message();
    if (!logd.ok()) return nullptr;
    const std::string said = "listening on udp 127.0.0.1:";
    std::string text;
    bool up = test::wait_until(
        [&] {
          text = (*logd)->output();
          size_t at = text.find(said);
          return at != std::string::npos && text.find('\n', at) != std::string::npos;
        },
        10s);
    EXPECT_TRUE(up) << text;
    if (!up) return nullptr;
    *port = static_cast<uint16_t>(std::stoi(text.substr(text.find(said) + said.size())));
    return std::move(*logd);
  }

  // What an Apache "CustomLog |penlog" does: the lines of `log` from number
  // `from` on, each a datagram to nib-logd from 127.0.0.1, the address nib
  // connects to. Waits until nginx wrote `until` lines (after the reply it
  // may still be logging). Returns how many it sent.
  size_t penlog(const std::string& log, size_t from, size_t until, uint16_t logd_port) {
    std::vector<std::string> lines;
    EXPECT_TRUE(test::wait_until([&] { return (lines = lines_of(test::read_file(log).value_or(""))).size() >= until; },
                                 10s))
        << log;
    std::string batch;
    for (size_t i = from; i < lines.size(); ++i) batch += lines[i] + "\n";
    const std::string input = dir_.write_file("penlog-" + std::to_string(++penlog_runs_), batch);
    auto sender = NibProcess::start_program(
        "/bin/sh", {"-c", std::string("exec ") + kPenlog + " 127.0.0.1 " + std::to_string(logd_port) + " 127.0.0.1 < " +
                              input});
    EXPECT_TRUE(sender.ok()) << sender.status().message();
    if (sender.ok()) {
      EXPECT_EQ((*sender)->wait_exit(10s), 0) << (*sender)->output();
    }
    return lines.size() - from;
  }

  test::TempDir dir_;
  uint16_t port_a_ = 0, port_b_ = 0;
  int penlog_runs_ = 0;
};

TEST_F(LogMergeTest, NibLogdPutsEveryClientBackIntoNginxsLines) {
  auto nginx = start_nginx();
  ASSERT_TRUE(nginx);
  const uint16_t port = test::free_port();
  const std::string nib_log = dir_.file("nib.json");
  const std::string config = dir_.file("nib.yaml");
  ASSERT_TRUE(test::write_file(config, "workers: 1\naccess_log: {path: " + nib_log +
                                           ", format: json}\nservices:\n  - name: web\n    listen: " + at(port) +
                                           "\n    policy: {mode: roundrobin}\n    backends: [" + at(port_a_) + ", " +
                                           at(port_b_) + "]\nadmin: {http_listen: 127.0.0.1:0, grpc_listen: 127.0.0.1:0}\n")
                  .ok());
  auto nib = test::start_foreground({"--config", config}, dir_.file("nib.pid"));
  ASSERT_TRUE(nib);
  // Clients 127.0.0.2-5, one keep-alive connection each with two pipelined
  // requests; round-robin gives A, B, A, B.
  for (int c = 2; c <= 5; ++c) {
    auto client = TestClient::connect(lb(port), "127.0.0." + std::to_string(c));
    ASSERT_TRUE(client.ok()) << client.status().message();
    const std::string tag = "/c" + std::to_string(c);
    auto reply = client->write_all_and_read_until_eof("GET " + tag + "-1 HTTP/1.1\r\nHost: x\r\n\r\nGET " + tag +
                                                      "-2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(reply.ok()) << reply.status().message();
  }
  ASSERT_TRUE(nib->signal(SIGTERM).ok());  // every ring is written once it exits
  ASSERT_EQ(nib->wait_exit(30s), 0) << nib->output();
  ASSERT_TRUE(nginx->signal(SIGQUIT).ok());  // nginx's graceful stop: its logs are complete
  nginx->wait_exit(30s);

  const std::string merged = dir_.file("merged.log");
  auto logd = NibProcess::start_program(
      NIB_LOGD_BINARY, {"merge", "--nib-log", nib_log, "--server", at(port_a_) + "=" + dir_.file("a.log"), "--server",
                        at(port_b_) + "=" + dir_.file("b.log"), "--output", merged});
  ASSERT_TRUE(logd.ok()) << logd.status().message();
  ASSERT_EQ((*logd)->wait_exit(30s), 0) << (*logd)->output();
  ASSERT_TRUE((*logd)->wait_output_closed(10s));
  EXPECT_NE((*logd)->output().find("8 lines: 4 matched by port, 2 by request, 2 unmatched"), std::string::npos)
      << (*logd)->output() << test::read_file(nib_log).value_or("") << test::read_file(merged).value_or("");

  const std::regex request_line(R"re(^(\S+) - - \[[^\]]+\] "GET /c(\d)-(\d) HTTP/1.1".*)re");
  int seen = 0;
  for (const std::string& line : lines_of(test::read_file(merged).value_or(""))) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, request_line)) << line;
    ++seen;
    const std::string client_ip = "127.0.0." + m[2].str();
    const bool via_a = m[2] == "2" || m[2] == "4";
    if (via_a) {
      // By port: both requests of the connection, with the client's own port.
      EXPECT_EQ(m[1].str().rfind(client_ip + ":", 0), 0u) << line;
    } else if (m[3] == "1") {
      EXPECT_EQ(m[1].str(), client_ip) << line;  // by request: nib logged the first request line
    } else {
      EXPECT_EQ(m[1].str(), "127.0.0.1") << line;  // a later request: nothing to match it by
    }
  }
  EXPECT_EQ(seen, 8);
}

// One request on a fresh connection from `client`; the reply read to its end.
void one_request(uint16_t port, int client) {
  auto c = TestClient::connect(lb(port), "127.0.0." + std::to_string(client));
  ASSERT_TRUE(c.ok()) << c.status().message();
  auto reply = c->write_all_and_read_until_eof("GET /c" + std::to_string(client) +
                                               " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(reply.ok()) << reply.status().message();
}

TEST_F(LogMergeTest, NibLogdServePutsClientsBackLiveFromNibAndPenlog) {
  NIB_REQUIRE(::access(kPenlog, X_OK) == 0, "penlog not installed (Debian's pen: scripts/install-deps.sh --test)");
  auto nginx = start_nginx();
  ASSERT_TRUE(nginx);
  const std::string out = dir_.file("live.log");
  uint16_t logd_port = 0;
  auto logd = start_logd(out, &logd_port);
  ASSERT_TRUE(logd);
  // Pen's command line: -l host:port sends "+ CLIENT BACKEND REQUEST" per connection.
  const uint16_t port = test::free_port();
  auto nib = test::start_foreground({"-r", "-l", at(logd_port), at(port), at(port_a_)}, dir_.file("nib.pid"));
  ASSERT_TRUE(nib);
  const std::string a_log = dir_.file("a.log");

  // Client 2 keeps its connection open: nginx's line reaches nib-logd before
  // nib logs the connection (at its close), and waits for it.
  auto early = TestClient::connect(lb(port), "127.0.0.2");
  ASSERT_TRUE(early.ok()) << early.status().message();
  ASSERT_TRUE(early->write_all("GET /c2 HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  ASSERT_TRUE(early->read_http_response().ok());
  size_t sent = penlog(a_log, 0, 1, logd_port);
  early->close();
  // Clients 3-5: the usual order, nib's line first.
  for (int c = 3; c <= 5; ++c) one_request(port, c);
  sent += penlog(a_log, sent, 4, logd_port);
  ASSERT_EQ(sent, 4u);

  const std::regex line_re(R"re(^(\S+) - - \[[^\]]+\] "GET /c(\d) HTTP/1.1".*)re");
  auto clients_in = [&](const std::string& path) {
    std::map<std::string, std::string> by_request;  // "2" -> the first field
    for (const std::string& line : lines_of(test::read_file(path).value_or(""))) {
      std::smatch m;
      if (std::regex_match(line, m, line_re)) by_request[m[2].str()] = m[1].str();
    }
    return by_request;
  };
  ASSERT_TRUE(test::wait_until([&] { return clients_in(out).size() == 4; }, 10s))
      << test::read_file(out).value_or("") << (*logd).output();
  for (const auto& [request, first_field] : clients_in(out)) {
    EXPECT_EQ(first_field, "127.0.0." + request) << test::read_file(out).value_or("");  // Pen's format: no port
  }

  // logrotate: rename, SIGHUP, and the next line lands in a new file.
  ASSERT_EQ(::rename(out.c_str(), (out + ".1").c_str()), 0);
  ASSERT_TRUE(logd->signal(SIGHUP).ok());
  ASSERT_TRUE(logd->wait_for_output("reopened " + out, 10s)) << logd->output();
  one_request(port, 6);
  sent += penlog(a_log, sent, 5, logd_port);
  ASSERT_TRUE(test::wait_until([&] { return clients_in(out).count("6") == 1; }, 10s))
      << test::read_file(out).value_or("") << logd->output();
  EXPECT_EQ(clients_in(out)["6"], "127.0.0.6");
  EXPECT_EQ(clients_in(out).size(), 1u);
  EXPECT_EQ(clients_in(out + ".1").size(), 4u);

  ASSERT_TRUE(logd->signal(SIGTERM).ok());
  EXPECT_EQ(logd->wait_exit(10s), 0) << logd->output();
  ASSERT_TRUE(logd->wait_output_closed(10s));
  // Client 2's line waited for nib's; the others may have too (nib's log
  // writer wakes every 20 ms, penlog may be quicker).
  std::smatch counts;
  const std::string said = logd->output();
  ASSERT_TRUE(std::regex_search(said, counts,
                                std::regex(R"(5 server lines: 0 matched by port, 5 by request \((\d) after waiting\), 0 unmatched)")))
      << said;
  EXPECT_GE(std::stoi(counts[1].str()), 1) << said;
}

}  // namespace
}  // namespace nib
