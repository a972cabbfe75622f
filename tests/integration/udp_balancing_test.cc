// Pen's -U over real loopback sockets: an in-process Dataplane in front of real
// UDP backends; distinct clients are distinct source addresses (and ports).
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include "dataplane/base/unique_fd.h"
#include "dataplane/dataplane.h"
#include "tests/support/manual_clock.h"
#include "tests/support/nib_process.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_client.h"
#include "tests/support/test_udp_backend.h"
#include "tests/support/test_udp_client.h"
#include "tests/support/prerequisites.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::TestUdpBackend;

std::string client_ip(int n) { return "127.0." + std::to_string(n / 250) + "." + std::to_string(2 + n % 250); }

using UdpClient = test::TestUdpClient;

struct Who {
  std::string name;      // "none" when no answer came
  std::string upstream;  // nib's upstream socket that the backend saw
};

Who parse_who(const std::optional<std::string>& reply) {
  if (!reply) return {"none", ""};
  auto a = reply->find(' ');
  auto b = reply->find(' ', a + 1);
  if (a == std::string::npos || b == std::string::npos) return {"garbled", ""};
  return {reply->substr(0, a), reply->substr(a + 1, b - a - 1)};
}

class UdpBalancingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_.name = "udp";
    service_.protocol = Protocol::kUdp;
    service_.listen = *SocketAddress::parse("127.0.0.1:0");
  }
  void TearDown() override { dp_.reset(); }

  void add_backends(int n, TestUdpBackend::Mode mode = TestUdpBackend::Mode::kWho) {
    for (int i = 0; i < n; ++i) {
      backends_.push_back(std::make_unique<TestUdpBackend>("b" + std::to_string(backends_.size()), mode));
      service_.backends.push_back(backend_config(*backends_.back()));
    }
  }
  static BackendConfig backend_config(const TestUdpBackend& b) {
    BackendConfig c;
    c.address = b.address();
    c.host = "127.0.0.1";
    return c;
  }
  DataplaneConfig config(int workers) const {
    DataplaneConfig c;
    c.workers = workers;
    c.services = {service_};
    return c;
  }
  void start(int workers = 2) {
    dp_ = std::make_unique<Dataplane>(config(workers), manual_time_ ? static_cast<Clock&>(clock_) : SystemClock::instance());
    Status st = dp_->start();
    ASSERT_TRUE(st.ok()) << st.message();
    lb_ = *dp_->bound_address("udp");
  }
  std::unique_ptr<UdpClient> client(int n) { return std::make_unique<UdpClient>(lb_, client_ip(n)); }
  // One question from `c`; a fresh payload each time so stale answers never match.
  Who who(UdpClient& c) {
    std::string payload = "q" + std::to_string(++questions_);
    auto reply = c.ask(payload);
    if (reply && !reply->ends_with(" " + payload)) return {"garbled", ""};
    return parse_who(reply);
  }
  // A new client socket (a new session) from client_ip(n).
  std::string who(int n) { return who(*client(n)).name; }

  UdpServiceStatus udp() {
    auto s = dp_->status();
    EXPECT_TRUE(s[0].udp.has_value());
    return s[0].udp.value_or(UdpServiceStatus{});
  }
  BackendStatus backend_status(int i) { return dp_->status()[0].backends[i]; }
  // A worker counts a datagram just after sending it, so a reply can reach its
  // client a moment before the counters move.
  UdpCounters counters_when(const std::function<bool(const UdpCounters&)>& settled) {
    UdpCounters c;
    EXPECT_TRUE(test::wait_until([&] { return settled(c = udp().counters); }));
    return c;
  }
  std::set<std::string> session_clients() {
    std::set<std::string> out;
    for (const auto& c : dp_->connections()) out.insert(c.client.to_string());
    return out;
  }

  ServiceConfig service_;
  bool manual_time_ = false;  // set before start(): the Dataplane runs on clock_
  test::ManualClock clock_;
  std::vector<std::unique_ptr<TestUdpBackend>> backends_;
  std::unique_ptr<Dataplane> dp_;
  SocketAddress lb_;
  uint64_t questions_ = 0;
};

// ---- Pen's policies ----------------------------------------------------------

TEST_F(UdpBalancingTest, TrackingSendsEachClientIpBackToItsServer) {
  add_backends(2);
  start();
  EXPECT_EQ(who(1), "b0");
  EXPECT_EQ(who(2), "b1");  // a second client IP goes to the next server
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(who(1), "b0");  // a new port (a new session) from the same IP: the same server
    EXPECT_EQ(who(2), "b1");
  }
  EXPECT_EQ(dp_->clients("udp").size(), 2u);
  EXPECT_EQ(dp_->status()[0].affinity.hits, 10u);
}

TEST_F(UdpBalancingTest, ASessionKeepsItsUpstreamSocket) {
  add_backends(2);
  start();
  auto c = client(1);
  Who first = who(*c);
  ASSERT_EQ(first.name, "b0");
  for (int i = 0; i < 10; ++i) {
    Who w = who(*c);
    EXPECT_EQ(w.name, "b0");
    EXPECT_EQ(w.upstream, first.upstream) << "one client address:port, one upstream socket";
  }
  UdpCounters s = counters_when([](const UdpCounters& c) { return c.datagrams_out == 11; });
  EXPECT_EQ(s.sessions, 1u);
  EXPECT_EQ(s.sessions_opened, 1u);
  EXPECT_EQ(s.datagrams_in, 11u);
  EXPECT_EQ(dp_->status()[0].active, 1);
  BackendStatus b0 = backend_status(0);
  EXPECT_EQ(b0.active, 1);
  EXPECT_EQ(b0.counters.connections, 1u);
  EXPECT_EQ(b0.counters.bytes_in, s.bytes_in);
  EXPECT_EQ(b0.counters.bytes_out, s.bytes_out);
  EXPECT_EQ(b0.counters.datagrams_in, 11u);
  EXPECT_EQ(b0.counters.datagrams_out, 11u);
  EXPECT_EQ(backend_status(1).counters.datagrams_in, 0u);
  auto sessions = dp_->connections();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].protocol, Protocol::kUdp);
  EXPECT_EQ(sessions[0].client, c->local());
  EXPECT_EQ(sessions[0].backend, backends_[0]->address());
  EXPECT_EQ(sessions[0].datagrams_in, 11u);
  EXPECT_EQ(sessions[0].datagrams_out, 11u);
  EXPECT_EQ(dp_->open_connections(), 0) << "sessions are not connections";
}

TEST_F(UdpBalancingTest, RoundRobinRotatesPerSession) {
  service_.policy.mode = BalanceMode::kRoundRobin;
  add_backends(3);
  start();
  std::vector<std::string> seen;
  for (int i = 0; i < 6; ++i) seen.push_back(who(1));
  EXPECT_EQ(seen, (std::vector<std::string>{"b0", "b1", "b2", "b0", "b1", "b2"}));
  auto c = client(1);  // within one session every datagram goes to the same server
  std::string first = who(*c).name;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(who(*c).name, first);
}

TEST_F(UdpBalancingTest, SoftLimitCountsSessions) {
  add_backends(2);
  service_.backends[0].soft_limit = 1;
  start();
  auto c1 = client(1);
  EXPECT_EQ(who(*c1).name, "b0");
  EXPECT_EQ(who(3), "b1");  // b0 holds its one session: a new client goes elsewhere
}

TEST_F(UdpBalancingTest, EmergencyServerTakesOverWhenAllAreDown) {
  add_backends(2);
  TestUdpBackend emergency("emergency", TestUdpBackend::Mode::kWho);
  service_.emergency = backend_config(emergency);
  start();
  backends_[0]->stop();
  backends_[1]->stop();
  auto c = client(1);
  EXPECT_EQ(parse_who(c->ask_until_answered("hello")).name, "emergency");
  EXPECT_TRUE(backend_status(0).blacklisted);
  EXPECT_TRUE(backend_status(1).blacklisted);
}

// ---- failure detection -------------------------------------------------------

TEST_F(UdpBalancingTest, FailoverHidesADeadServer) {
  add_backends(3);
  backends_[1]->stop();
  start();
  std::map<std::string, int> served;
  for (int i = 0; i < 30; ++i) {
    auto c = client(i);
    ++served[parse_who(c->ask_until_answered("hi " + std::to_string(i))).name];
  }
  EXPECT_EQ(served.count("none"), 0u) << "a client never got an answer";
  EXPECT_EQ(served.count("b1"), 0u);
  EXPECT_EQ(served["b0"] + served["b2"], 30);
  BackendStatus b1 = backend_status(1);
  EXPECT_TRUE(b1.blacklisted);
  EXPECT_EQ(b1.counters.connect_failures, 1u);  // blacklisted after one refusal, then skipped
  EXPECT_EQ(b1.active, 0);
  EXPECT_EQ(udp().counters.backend_refused, 1u);
}

TEST_F(UdpBalancingTest, ABackendThatClosesItsSocketMovesTheClientToTheNextServer) {
  add_backends(3);
  start();
  auto c = client(1);
  ASSERT_EQ(who(*c).name, "b0");
  backends_[0]->stop();
  // The next datagram draws the ICMP error (and is lost); the one after goes to b1.
  EXPECT_EQ(parse_who(c->ask_until_answered("after")).name, "b1");
  EXPECT_TRUE(backend_status(0).blacklisted);
  EXPECT_EQ(backend_status(0).active, 0);
  EXPECT_EQ(backend_status(1).active, 1);
  // Tracking now sends this client IP to b1, also from a new port.
  EXPECT_EQ(who(1), "b1");
}

TEST_F(UdpBalancingTest, StubbornDropsInsteadOfFailingOver) {
  service_.policy.stubborn = true;
  add_backends(2);
  start();
  auto c = client(1);
  ASSERT_EQ(who(*c).name, "b0");
  backends_[0]->stop();
  EXPECT_FALSE(c->ask_until_answered("again", 5).has_value());
  EXPECT_GE(udp().counters.drops_stubborn, 1u);
  EXPECT_EQ(backends_[1]->received(), 0u);
}

TEST_F(UdpBalancingTest, TheClientAclDropsDeniedDatagramsAndRelaysPermittedOnes) {
  add_backends(1);
  service_.client_acl.add(*parse_access_entry("deny 127.0.0.2"));
  service_.client_acl.add(*parse_access_entry("permit 127.0.0.0/8"));
  start();
  auto denied = client(0);  // 127.0.0.2
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(denied->send("x" + std::to_string(i)));
  EXPECT_EQ(who(1), "b0");  // 127.0.0.3
  UdpCounters c = counters_when([](const UdpCounters& c) { return c.drops_acl == 3; });
  EXPECT_EQ(c.sessions, 1u);
  EXPECT_FALSE(denied->receive(100ms).has_value());
  EXPECT_EQ(backends_[0]->received(), 1u);
  // A reload that lifts the ACL: the same client is served from now on.
  service_.client_acl = AccessList{};
  ASSERT_TRUE(dp_->reload(config(2)).ok());
  EXPECT_EQ(who(*denied).name, "b0");
  EXPECT_EQ(udp().counters.drops_acl, 3u);
}

// Pen's -B: a denied client's session goes to the abuse server; a permitted
// client's to a regular one.
TEST_F(UdpBalancingTest, ADeniedClientsSessionGoesToTheAbuseServer) {
  add_backends(1);
  backends_.push_back(std::make_unique<TestUdpBackend>("abuse", TestUdpBackend::Mode::kWho));
  service_.abuse = backend_config(*backends_.back());
  service_.client_acl.add(*parse_access_entry("deny 127.0.0.2"));
  start();
  auto denied = client(0);  // 127.0.0.2
  EXPECT_EQ(who(*denied).name, "abuse");
  EXPECT_EQ(who(*denied).name, "abuse");
  EXPECT_EQ(who(1), "b0");  // 127.0.0.3
  EXPECT_EQ(backends_[0]->received(), 1u);
  UdpCounters c = counters_when([](const UdpCounters& c) { return c.datagrams_in == 3; });
  EXPECT_EQ(c.drops_acl, 0u);
  ServiceStatus st = dp_->status()[0];
  EXPECT_EQ(st.counters.abuse, 1u) << "one session";
  EXPECT_EQ(st.backends[0].counters.connections, 1u) << "the regular backend's one session only";
  auto clients = dp_->clients("udp");
  ASSERT_EQ(clients.size(), 1u) << "a client sent to the abuse server is not remembered";
  EXPECT_EQ(clients[0].client, *IpKey::parse("127.0.0.3"));
}

TEST_F(UdpBalancingTest, AnAbuseServerThatIsDownDropsTheDeniedClientWithNoFailover) {
  add_backends(2);
  auto abuse = std::make_unique<TestUdpBackend>("abuse", TestUdpBackend::Mode::kWho);
  service_.abuse = backend_config(*abuse);
  abuse->stop();  // its port answers with ICMP port unreachable
  service_.client_acl.add(*parse_access_entry("deny 127.0.0.2"));
  start();
  auto denied = client(0);
  EXPECT_FALSE(denied->ask_until_answered("x", 5).has_value());
  EXPECT_EQ(backends_[0]->received() + backends_[1]->received(), 0u) << "no failover to a real backend";
  UdpCounters c = counters_when([](const UdpCounters& c) { return c.drops_acl >= 1; });
  EXPECT_EQ(c.drops_no_backend, 0u);
  EXPECT_EQ(who(1), "b0");
  EXPECT_EQ(dp_->clients("udp").size(), 1u);
}

TEST_F(UdpBalancingTest, BlacklistExpiresAndTheServerIsUsedAgain) {
  service_.policy.blacklist_seconds = 0.3;
  service_.policy.mode = BalanceMode::kRoundRobin;
  manual_time_ = true;
  add_backends(2);
  backends_[0]->stop();
  start();
  EXPECT_EQ(parse_who(client(1)->ask_until_answered("x")).name, "b1");
  EXPECT_TRUE(backend_status(0).blacklisted);
  ASSERT_TRUE(backends_[0]->start().ok());
  clock_.advance(299ms);
  EXPECT_TRUE(backend_status(0).blacklisted);
  clock_.advance(1ms);
  EXPECT_FALSE(backend_status(0).blacklisted);
  std::map<std::string, int> served;
  for (int i = 0; i < 4; ++i) ++served[who(1)];
  EXPECT_EQ(served["b0"], 2);
  EXPECT_EQ(served["b1"], 2);
}

// ---- sessions ----------------------------------------------------------------

TEST_F(UdpBalancingTest, SilentSessionsExpire) {
  service_.udp_session_timeout_seconds = 0.2;
  manual_time_ = true;
  add_backends(1);
  start();
  auto c = client(1);
  ASSERT_EQ(who(*c).name, "b0");
  EXPECT_EQ(udp().counters.sessions, 1u);
  clock_.advance(199ms);
  EXPECT_EQ(udp().counters.sessions, 1u) << "expired before its timeout";
  clock_.advance(1ms);
  EXPECT_EQ(udp().counters.sessions, 0u);
  EXPECT_EQ(udp().counters.sessions_expired, 1u);
  EXPECT_EQ(backend_status(0).active, 0);
  EXPECT_EQ(who(*c).name, "b0");  // a new session, the same server (tracking)
  EXPECT_EQ(udp().counters.sessions_opened, 2u);
}

TEST_F(UdpBalancingTest, TrafficKeepsASessionAlive) {
  service_.udp_session_timeout_seconds = 1;
  manual_time_ = true;
  add_backends(1);
  start();
  auto c = client(1);
  for (int i = 0; i < 25; ++i) {  // 2.5 timeouts' worth of traffic, a datagram per 0.1 s
    ASSERT_EQ(who(*c).name, "b0");
    clock_.advance(100ms);
  }
  EXPECT_EQ(udp().counters.sessions_expired, 0u);
  EXPECT_EQ(udp().counters.sessions_opened, 1u);
  // Then silence: it ends exactly one timeout after the last datagram.
  clock_.advance(900ms - 1ns);
  EXPECT_EQ(udp().counters.sessions, 1u);
  clock_.advance(1ns);
  EXPECT_EQ(udp().counters.sessions_expired, 1u);
}

TEST_F(UdpBalancingTest, SessionLimitEvictsTheLeastRecentlyUsed) {
  service_.udp_max_sessions = 3;
  add_backends(2);
  start(/*workers=*/1);  // one worker holds the whole limit: exact LRU
  auto c1 = client(1), c2 = client(2), c3 = client(3), c4 = client(4);
  for (auto* c : {c1.get(), c2.get(), c3.get()}) ASSERT_NE(who(*c).name, "none");
  ASSERT_NE(who(*c1).name, "none");  // c1 is now the most recently used; c2 the least
  ASSERT_NE(who(*c4).name, "none");
  UdpServiceStatus s = udp();
  EXPECT_EQ(s.counters.sessions, 3u);
  EXPECT_EQ(s.counters.sessions_evicted, 1u);
  EXPECT_EQ(s.max_sessions, 3u);
  EXPECT_EQ(session_clients(), (std::set<std::string>{c1->local().to_string(), c3->local().to_string(),
                                                      c4->local().to_string()}));
  // The evicted client is served again: a new session that evicts c3, now the oldest.
  ASSERT_NE(who(*c2).name, "none");
  EXPECT_EQ(udp().counters.sessions_evicted, 2u);
  EXPECT_EQ(session_clients(), (std::set<std::string>{c1->local().to_string(), c2->local().to_string(),
                                                      c4->local().to_string()}));
  EXPECT_EQ(backend_status(0).active + backend_status(1).active, 3);
}

TEST_F(UdpBalancingTest, ReloadAppliesTheSessionLimitAndTimeout) {
  service_.udp_max_sessions = 10;
  manual_time_ = true;
  add_backends(1);
  start(/*workers=*/1);
  std::vector<std::unique_ptr<UdpClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(client(i));
    ASSERT_EQ(who(*clients.back()).name, "b0");
  }
  ServiceConfig changed = service_;
  changed.udp_max_sessions = 2;
  changed.udp_session_timeout_seconds = 0.2;
  ASSERT_TRUE(dp_->reload(config(1)).ok());  // unchanged: nothing happens
  EXPECT_EQ(udp().counters.sessions, 4u);
  DataplaneConfig c = config(1);
  c.services = {changed};
  ASSERT_TRUE(dp_->reload(c).ok());
  ASSERT_TRUE(test::wait_until([&] { return udp().counters.sessions_evicted == 2; }));
  EXPECT_EQ(udp().max_sessions, 2u);
  EXPECT_EQ(udp().session_timeout_seconds, 0.2);
  clock_.advance(200ms);  // the new timeout
  EXPECT_EQ(udp().counters.sessions, 0u);
}

// ---- datagrams ---------------------------------------------------------------

TEST_F(UdpBalancingTest, TheLargestDatagramArrivesIntact) {
  add_backends(1, TestUdpBackend::Mode::kEcho);
  start();
  constexpr size_t kMax = 65507;  // the largest UDP payload over IPv4
  std::string data(kMax, '\0');
  std::mt19937 rng(7);
  for (auto& ch : data) ch = static_cast<char>(rng());
  auto c = client(1);
  auto reply = c->ask(data, 5s);
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(reply->size(), kMax);
  EXPECT_TRUE(*reply == data);
  counters_when([](const UdpCounters& c) { return c.datagrams_out == 1; });
  BackendStatus b = backend_status(0);
  EXPECT_EQ(b.counters.bytes_in, kMax);
  EXPECT_EQ(b.counters.bytes_out, kMax);
}

TEST_F(UdpBalancingTest, EmptyAndMalformedDatagramsAreRelayedWithoutHarm) {
  add_backends(1, TestUdpBackend::Mode::kEcho);
  start();
  auto c = client(1);
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes += static_cast<char>(i);
  constexpr char kHttpish[] = "\r\n\r\n\0GET / HTTP/1.1";
  const std::vector<std::string> odd = {
      "",                                  // empty
      std::string(1, '\0'),                // one NUL
      std::string("\x12\x34\x01", 3),      // a truncated DNS header
      std::string(12, '\xff'),             // a DNS header with every flag and count set
      all_bytes,
      std::string(kHttpish, sizeof kHttpish - 1),  // a NUL inside, no terminator
  };
  for (const auto& d : odd) {
    auto reply = c->ask(d);
    ASSERT_TRUE(reply.has_value()) << "size " << d.size();
    EXPECT_TRUE(*reply == d) << "size " << d.size();
  }
  EXPECT_EQ(*c->ask("still fine"), "still fine");
  UdpCounters s = counters_when([&](const UdpCounters& c) { return c.datagrams_out == odd.size() + 1; });
  EXPECT_EQ(s.datagrams_in, odd.size() + 1);
  EXPECT_EQ(s.drops_to_backend + s.drops_to_client + s.drops_no_backend + s.drops_no_socket, 0u);
}

TEST_F(UdpBalancingTest, HundredThousandDatagramsNoLossNoReordering) {
  add_backends(2, TestUdpBackend::Mode::kEcho);
  start();
  // Four sessions, each with at most kWindow datagrams in flight: far below
  // what the loopback socket buffers hold, so any loss is nib's.
  constexpr int kClients = 4;
  constexpr uint64_t kPerClient = 25'000;
  constexpr uint64_t kWindow = 16;
  std::vector<std::unique_ptr<UdpClient>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(client(i));
  auto payload = [](int c, uint64_t seq) {
    std::string p(40, '.');
    std::memcpy(&p[0], &c, sizeof c);
    std::memcpy(&p[8], &seq, sizeof seq);
    return p;
  };
  uint64_t sent[kClients] = {}, answered[kClients] = {};
  pollfd fds[kClients];
  for (int i = 0; i < kClients; ++i) fds[i] = {clients[i]->fd(), POLLIN, 0};
  MonoTime deadline = MonoClock::now() + 90s;
  std::string buf(128, '\0');
  auto done = [&] {
    for (int i = 0; i < kClients; ++i) {
      if (answered[i] < kPerClient) return false;
    }
    return true;
  };
  while (!done()) {
    for (int i = 0; i < kClients; ++i) {
      while (sent[i] < kPerClient && sent[i] - answered[i] < kWindow) {
        ASSERT_TRUE(clients[i]->send(payload(i, sent[i])));
        ++sent[i];
      }
    }
    int n = ::poll(fds, kClients, 3000);
    ASSERT_GT(n, 0) << "no answer for 3 s: a datagram was lost; answered " << answered[0] << " " << answered[1]
                    << " " << answered[2] << " " << answered[3];
    for (int i = 0; i < kClients; ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      for (;;) {
        ssize_t got = ::recv(fds[i].fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (got < 0) break;
        ASSERT_EQ(std::string(buf.data(), static_cast<size_t>(got)), payload(i, answered[i]))
            << "client " << i << ": lost, reordered or corrupted at " << answered[i];
        ++answered[i];
      }
    }
    ASSERT_LT(MonoClock::now(), deadline) << "too slow";
  }
  UdpCounters s = counters_when([](const UdpCounters& c) { return c.datagrams_out == kClients * kPerClient; });
  EXPECT_EQ(s.datagrams_in, kClients * kPerClient);
  EXPECT_EQ(s.drops_to_backend + s.drops_to_client, 0u);
  EXPECT_EQ(s.sessions, static_cast<uint64_t>(kClients));
}

TEST_F(UdpBalancingTest, RepliesReachTheRightClientAmongMany) {
  add_backends(3, TestUdpBackend::Mode::kEcho);
  start();
  constexpr int kThreads = 4, kPerThread = 16, kRounds = 25;
  std::atomic<int> wrong{0}, missing{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::unique_ptr<UdpClient>> mine;
      // Pairs of clients share an address (distinct ports), so sessions are told apart by port too.
      for (int i = 0; i < kPerThread; ++i) mine.push_back(client((t * kPerThread + i) / 2));
      for (int r = 0; r < kRounds; ++r) {
        for (int i = 0; i < kPerThread; ++i) mine[i]->send("t" + std::to_string(t) + "c" + std::to_string(i) + "r" + std::to_string(r));
        for (int i = 0; i < kPerThread; ++i) {
          auto reply = mine[i]->receive(3s);
          if (!reply) {
            ++missing;
          } else if (*reply != "t" + std::to_string(t) + "c" + std::to_string(i) + "r" + std::to_string(r)) {
            ++wrong;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(missing.load(), 0);
  UdpCounters s = counters_when([](const UdpCounters& c) { return c.datagrams_out == kThreads * kPerThread * kRounds; });
  EXPECT_EQ(s.datagrams_in, uint64_t{kThreads * kPerThread * kRounds});
  EXPECT_EQ(s.sessions, uint64_t{kThreads * kPerThread});
}

// ---- addresses ---------------------------------------------------------------

TEST_F(UdpBalancingTest, AWildcardListenerAnswersFromTheAddressTheClientUsed) {
  service_.listen = *SocketAddress::parse("0.0.0.0:0");
  add_backends(1);
  start();
  // The client is connected to 127.0.0.9: an answer from any other source
  // address (127.0.0.1, say) would never reach it.
  SocketAddress to = *SocketAddress::from_ip("127.0.0.9", lb_.port());
  UdpClient c(to, "127.0.0.7");
  EXPECT_EQ(parse_who(c.ask("via a wildcard")).name, "b0");
}

TEST_F(UdpBalancingTest, Ipv6) {
  std::unique_ptr<TestUdpBackend> b;
  try {
    b = std::make_unique<TestUdpBackend>("v6", TestUdpBackend::Mode::kWho, "::1");
  } catch (const std::runtime_error& e) {
    NIB_REQUIRE(false, std::string("no IPv6 loopback: ") + e.what());
  }
  service_.listen = *SocketAddress::parse("[::1]:0");
  service_.backends = {backend_config(*b)};
  start();
  UdpClient c(lb_, "::1");
  EXPECT_EQ(parse_who(c.ask("six")).name, "v6");
}

// ---- lifecycle ---------------------------------------------------------------

TEST_F(UdpBalancingTest, StopAcceptingEndsUdpWithoutWaiting) {
  add_backends(1);
  start();
  auto c = client(1);
  ASSERT_EQ(who(*c).name, "b0");
  EXPECT_EQ(dp_->open_connections(), 0);
  dp_->stop_accepting();
  EXPECT_TRUE(dp_->wait_idle(1s));  // nothing to wait for
  ASSERT_TRUE(test::wait_until([&] { return udp().counters.sessions == 0; }));
  EXPECT_FALSE(c->ask("gone", 300ms).has_value());
  dp_->stop();
}

TEST_F(UdpBalancingTest, TcpAndUdpServicesSideBySide) {
  add_backends(1);
  ServiceConfig tcp;
  tcp.name = "tcp";
  tcp.listen = *SocketAddress::parse("127.0.0.1:0");
  tcp.backends = service_.backends;  // nothing listens on TCP there: connects are refused
  DataplaneConfig c = config(2);
  c.services.push_back(tcp);
  dp_ = std::make_unique<Dataplane>(c);
  ASSERT_TRUE(dp_->start().ok());
  lb_ = *dp_->bound_address("udp");
  EXPECT_EQ(who(1), "b0");
  auto status = dp_->status();
  ASSERT_EQ(status.size(), 2u);
  EXPECT_TRUE(status[0].udp.has_value());
  EXPECT_FALSE(status[1].udp.has_value());
  EXPECT_EQ(status[1].protocol, Protocol::kTcp);
}

// ---- the binary ----------------------------------------------------------------

TEST(UdpBinaryTest, PenCommandLineWithU) {
  NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built");
  TestUdpBackend b0("b0", TestUdpBackend::Mode::kWho), b1("b1", TestUdpBackend::Mode::kWho);
  uint16_t port = test::free_port();
  test::TempDir dir;
  std::string pid_file = dir.file("nib.pid");
  // -f: in the foreground, a child of the test (Pen's command line forks otherwise).
  auto nib = test::NibProcess::start({"-f", "-p", pid_file, "-U", "--workers", "2",
                                      "127.0.0.1:" + std::to_string(port),
                                      "127.0.0.1:" + std::to_string(b0.port()),
                                      "127.0.0.1:" + std::to_string(b1.port())});
  ASSERT_TRUE(nib.ok()) << nib.status().message();
  ASSERT_TRUE(test::wait_until([&] { return test::read_file(pid_file).ok() || !(*nib)->running(); }, 10s));
  ASSERT_TRUE((*nib)->running()) << (*nib)->output();
  SocketAddress lb = *SocketAddress::from_ip("127.0.0.1", port);
  UdpClient c2(lb, "127.0.0.2"), c3(lb, "127.0.0.3");
  EXPECT_EQ(parse_who(c2.ask("a")).name, "b0");
  EXPECT_EQ(parse_who(c3.ask("b")).name, "b1");
  EXPECT_EQ(parse_who(c2.ask("c")).name, "b0");
  EXPECT_NE((*nib)->output().find("(udp"), std::string::npos) << (*nib)->output();
  ASSERT_TRUE((*nib)->signal(SIGTERM).ok());
  EXPECT_EQ((*nib)->wait_exit(10s), 0);
}

}  // namespace
}  // namespace nib
