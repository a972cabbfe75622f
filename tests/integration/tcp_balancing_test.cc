// Pen's balancing over real loopback sockets: an in-process Dataplane in front
// of real TestBackends; distinct clients are distinct source addresses.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "dataplane/dataplane.h"
#include "tests/support/dataplane_fixture.h"
#include "tests/support/prerequisites.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::BackendMode;
using test::client_ip;
using test::TestBackend;
using test::TestClient;

class TcpBalancingTest : public test::DataplaneFixture<> {
 protected:
  void SetUp() override {
    DataplaneFixture::SetUp();
    service_.policy.connect_timeout_seconds = 2;
  }
  DataplaneConfig config() const override {
    DataplaneConfig c = DataplaneFixture::config();
    c.splice_pipes_per_worker = splice_pipes_;
    return c;
  }
  const BackendStatus& backend_status(int i) {
    status_ = dp_->status();
    return status_[0].backends[i];
  }

  // Sends `size` pseudo-random bytes to an echo backend, half-closes, and
  // checks that every byte came back in order, then the EOF, then the counters
  // (when `check_counters`: the only connection of backend 0).
  void expect_echoed_intact(TestClient& c, size_t size, uint64_t seed, bool check_counters) {
    const std::string data = test::random_bytes(size, seed);
    c.set_timeout(60s);
    auto echoed = c.write_all_and_read_until_eof(data);
    ASSERT_TRUE(echoed.ok()) << echoed.status().message();
    ASSERT_EQ(echoed->size(), size);
    EXPECT_TRUE(*echoed == data) << "bytes lost or reordered";
    if (!check_counters) return;
    ASSERT_TRUE(test::wait_until([&] { return backend_status(0).counters.bytes_out == size + 3; }));
    EXPECT_EQ(backend_status(0).counters.bytes_in, size);
  }
  // A client that sends `size` bytes to a silent backend, then resets: nib
  // must reset the backend too and free the connection.
  void expect_reset_travels(size_t size) {
    add_backends(1, BackendMode::kSilent);
    start();
    TestClient c = connect(1);
    ASSERT_TRUE(c.write_all(std::string(size, 'x')).ok());
    ASSERT_TRUE(test::wait_until([&] { return backend_status(0).counters.bytes_in == size; }));
    linger l{1, 0};
    ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    c.close();
    EXPECT_TRUE(test::wait_until([&] { return dp_->open_connections() == 0; }));
    EXPECT_TRUE(test::wait_until([&] { return backends_[0]->active() == 0; }));
    EXPECT_EQ(backends_[0]->closed_by_peer(), 1u);
  }

  int splice_pipes_ = DataplaneConfig{}.splice_pipes_per_worker;
  std::vector<ServiceStatus> status_;
};

// start() in two steps (how nib starts its workers after -u's drop): open()
// binds, and a client that connects before start_workers() waits in the
// listener's queue, then is served.
TEST_F(TcpBalancingTest, AClientQueuedBeforeTheWorkersStartIsServedOnceTheyDo) {
  add_backends(1);
  dp_ = std::make_unique<Dataplane>(config());
  Status st = dp_->open();
  ASSERT_TRUE(st.ok()) << st.message();
  lb_ = *dp_->bound_address(service_.name);
  TestClient c = connect(1);  // the kernel completes the handshake alone
  c.set_timeout(200ms);
  auto early = c.read_line();
  EXPECT_TRUE(!early.ok() && test::is_timeout(early.status())) << "no worker yet";
  dp_->start_workers();
  c.set_timeout(5s);
  auto greeting = c.read_line();
  ASSERT_TRUE(greeting.ok()) << greeting.status().message();
  EXPECT_EQ(*greeting, "b0");
  EXPECT_EQ(who(2), "b0");
}

TEST_F(TcpBalancingTest, TrackingSendsEachClientBackToItsServer) {
  add_backends(2);
  start();
  EXPECT_EQ(who(1), "b0");
  EXPECT_EQ(who(2), "b1");  // a second client goes to the next server
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(who(1), "b0");
    EXPECT_EQ(who(2), "b1");
  }
  auto clients = dp_->clients("test");
  ASSERT_EQ(clients.size(), 2u);
  EXPECT_EQ(dp_->status()[0].affinity.hits, 10u);
}

TEST_F(TcpBalancingTest, RoundRobinAlternatesForOneClient) {
  service_.policy.mode = BalanceMode::kRoundRobin;
  add_backends(3);
  start();
  std::vector<std::string> seen;
  for (int i = 0; i < 6; ++i) seen.push_back(who(1));
  EXPECT_EQ(seen, (std::vector<std::string>{"b0", "b1", "b2", "b0", "b1", "b2"}));
}

TEST_F(TcpBalancingTest, FailoverHidesADeadServerFromClients) {
  add_backends(3);
  backends_[1]->stop();
  start();
  std::map<std::string, int> served;
  for (int i = 0; i < 30; ++i) ++served[who(i)];
  EXPECT_EQ(served.count("closed"), 0u) << "a client saw a failed connect";
  EXPECT_EQ(served.count("b1"), 0u);
  EXPECT_EQ(served["b0"] + served["b2"], 30);
  const BackendStatus& b1 = backend_status(1);
  EXPECT_TRUE(b1.blacklisted);
  EXPECT_EQ(b1.counters.connect_failures, 1u);  // blacklisted after one failure, then skipped
}

TEST_F(TcpBalancingTest, BlacklistExpiresAndTheServerIsUsedAgain) {
  service_.policy.blacklist_seconds = 0.3;
  service_.policy.mode = BalanceMode::kRoundRobin;
  manual_time_ = true;
  add_backends(2);
  backends_[0]->stop();
  start();
  EXPECT_EQ(who(1), "b1");
  EXPECT_TRUE(backend_status(0).blacklisted);
  EXPECT_NEAR(backend_status(0).blacklist_remaining_seconds, 0.3, 1e-6);  // no time has passed
  ASSERT_TRUE(backends_[0]->start().ok());
  clock_.advance(299ms);
  EXPECT_TRUE(backend_status(0).blacklisted);
  EXPECT_EQ(who(2), "b1");
  clock_.advance(1ms);
  EXPECT_FALSE(backend_status(0).blacklisted);
  std::map<std::string, int> served;
  for (int i = 0; i < 4; ++i) ++served[who(1)];
  EXPECT_EQ(served["b0"], 2);
  EXPECT_EQ(served["b1"], 2);
}

TEST_F(TcpBalancingTest, StubbornClosesTheClientInsteadOfFailingOver) {
  service_.policy.stubborn = true;
  add_backends(2);
  start();
  EXPECT_EQ(who(1), "b0");
  backends_[0]->stop();
  EXPECT_EQ(who(1), "closed");  // its server is down: closed, not moved
  EXPECT_EQ(dp_->status()[0].counters.rejected_stubborn, 1u);
}

TEST_F(TcpBalancingTest, EmergencyServerTakesOverWhenAllAreDown) {
  add_backends(2);
  TestBackend emergency("emergency");
  service_.emergency = backend_config(emergency);
  start();
  EXPECT_EQ(who(1), "b0");
  backends_[0]->stop();
  backends_[1]->stop();
  EXPECT_EQ(who(1), "emergency");
  EXPECT_EQ(who(2), "emergency");
  ASSERT_TRUE(backends_[1]->start().ok());
  // Server 1 is blacklisted for 30 s: still the emergency server.
  EXPECT_EQ(who(3), "emergency");
}

TEST_F(TcpBalancingTest, SoftAndHardLimits) {
  add_backends(2);
  service_.backends[0].soft_limit = 1;
  service_.backends[0].hard_limit = 2;
  start();
  auto [a1, s1] = hold(1);
  EXPECT_EQ(s1, "b0");
  EXPECT_EQ(who(2), "b1");       // b0 is at its soft limit: new clients go elsewhere
  auto [a2, s2] = hold(1);
  EXPECT_EQ(s2, "b0");           // a returning client may use it up to the hard limit
  auto [a3, s3] = hold(1);
  EXPECT_EQ(s3, "b1");           // hard limit reached
}

TEST_F(TcpBalancingTest, WeightDistributesOpenConnections) {
  service_.policy.mode = BalanceMode::kWeight;
  add_backends(2);
  service_.backends[0].weight = 3;
  service_.backends[1].weight = 1;
  start();
  std::vector<TestClient> open;
  std::map<std::string, int> served;
  for (int i = 0; i < 40; ++i) {
    auto [c, name] = hold(i);
    ++served[name];
    open.push_back(std::move(c));
    ASSERT_TRUE(test::wait_until([&] { return dp_->status()[0].active == i + 1; }));
  }
  EXPECT_EQ(served["b0"], 30);
  EXPECT_EQ(served["b1"], 10);
}

TEST_F(TcpBalancingTest, PrioPrefersTheBestTierAndFallsBack) {
  service_.policy.mode = BalanceMode::kPrio;
  add_backends(3);
  service_.backends[0].prio = 3;
  service_.backends[1].prio = 1;
  service_.backends[2].prio = 2;
  start();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(who(i), "b1");
  backends_[1]->stop();
  EXPECT_EQ(who(10), "b2");
  for (int i = 20; i < 25; ++i) EXPECT_EQ(who(i), "b2");
}

TEST_F(TcpBalancingTest, HashIsStableAcrossRestarts) {
  service_.policy.mode = BalanceMode::kHash;
  add_backends(3);
  start();
  std::map<int, std::string> first;
  std::map<std::string, int> spread;
  for (int i = 0; i < 30; ++i) ++spread[first[i] = who(i)];
  EXPECT_EQ(spread.size(), 3u) << "hash should spread loopback clients";
  dp_.reset();
  start();  // a new process would see the same: nothing of the hash is random
  for (int i = 29; i >= 0; --i) EXPECT_EQ(who(i), first[i]) << "client " << i;
}

TEST_F(TcpBalancingTest, HalfCloseStillDeliversTheWholeReply) {
  add_backends(1);
  start();
  TestClient c = connect(1);
  ASSERT_TRUE(c.write_all("hello, world").ok());
  c.shutdown_write();
  auto all = c.read_until_eof();
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(*all, "b0\nhello, world");
}

// A server that closes right after its reply (HTTP "Connection: close"): the
// relay reads on to its FIN before sending and passes reply and FIN on
// together; the client must still get the whole reply, then the EOF, each time.
TEST_F(TcpBalancingTest, AReplyAndTheServersCloseArriveWholeAndInOrder) {
  add_backends(2, BackendMode::kHttp);
  start();
  for (int i = 0; i < 50; ++i) {
    TestClient c = connect(i);
    ASSERT_TRUE(c.write_all("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok());
    auto r = c.read_http_response();
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->body == "b0\n" || r->body == "b1\n") << r->body;
    auto rest = c.read_until_eof();
    ASSERT_TRUE(rest.ok()) << rest.status().message();
    EXPECT_EQ(*rest, "");
  }
  EXPECT_TRUE(test::wait_until([&] { return dp_->open_connections() == 0; }));
  EXPECT_EQ(backends_[0]->http_requests() + backends_[1]->http_requests(), 50u);
}

// Bulk flows are spliced (zero-copy) once a read fills the relay buffer.
TEST_F(TcpBalancingTest, SixtyFourMebibytesArriveIntactBothWays) {
  add_backends(1);
  start();
  TestClient c = connect(1);
  ASSERT_EQ(*c.read_line(), "b0");
  expect_echoed_intact(c, 64u << 20, 42, true);
}

// No pipes: the relay copies through its buffers (splice's fallback).
TEST_F(TcpBalancingTest, SixtyFourMebibytesArriveIntactWhenCopying) {
  splice_pipes_ = 0;
  add_backends(1);
  start();
  TestClient c = connect(1);
  ASSERT_EQ(*c.read_line(), "b0");
  expect_echoed_intact(c, 64u << 20, 43, true);
}

// More bulk flows than pipes: some splice, the rest copy, pipes are reused.
TEST_F(TcpBalancingTest, ConcurrentBulkFlowsShareFewPipes) {
  splice_pipes_ = 1;
  add_backends(1);
  start();
  constexpr int kClients = 6;
  std::vector<std::thread> threads;
  std::vector<std::string> failures(kClients);
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto c = TestClient::connect(lb_, client_ip(i));
      if (!c.ok()) {
        failures[i] = c.status().message();
        return;
      }
      auto hello = c->read_line();
      if (!hello.ok() || *hello != "b0") {
        failures[i] = "no greeting";
        return;
      }
      expect_echoed_intact(*c, 8u << 20, 100 + i, false);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(failures[i], "") << "client " << i;
  EXPECT_TRUE(test::wait_until([&] { return dp_->open_connections() == 0; }));
}

TEST_F(TcpBalancingTest, ResetDuringASplicedTransferResetsTheBackend) { expect_reset_travels(8u << 20); }

TEST_F(TcpBalancingTest, ResetDuringACopiedTransferResetsTheBackend) {
  splice_pipes_ = 0;
  expect_reset_travels(8u << 20);
}

TEST_F(TcpBalancingTest, AThousandConcurrentConnections) {
  add_backends(2);
  start();
  constexpr int kClients = 1000;
  std::vector<TestClient> clients;
  clients.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    auto c = TestClient::connect(lb_, client_ip(i));
    ASSERT_TRUE(c.ok()) << "client " << i << ": " << c.status().message();
    clients.push_back(std::move(*c));
  }
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(clients[i].read_line().ok()) << "client " << i;
    ASSERT_TRUE(clients[i].write_all("ping " + std::to_string(i) + "\n").ok());
  }
  for (int i = 0; i < kClients; ++i) {
    auto line = clients[i].read_line();
    ASSERT_TRUE(line.ok()) << "client " << i;
    EXPECT_EQ(*line, "ping " + std::to_string(i));
  }
  EXPECT_EQ(dp_->open_connections(), kClients);
  EXPECT_EQ(backends_[0]->active() + backends_[1]->active(), static_cast<uint64_t>(kClients));
  clients.clear();
  EXPECT_TRUE(test::wait_until([&] { return dp_->open_connections() == 0; }));
}

// At -x the listeners stop accepting: the excess waits in the listen backlog
// (as with Pen) and is served when a connection closes, on either worker.
TEST_F(TcpBalancingTest, MaxConnectionsMakesTheExcessWait) {
  add_backends(1);
  service_.policy.max_connections = 2;
  start();
  auto [a, sa] = hold(1);
  auto [b, sb] = hold(2);
  EXPECT_EQ(sa, "b0");
  EXPECT_EQ(sb, "b0");
  TestClient c = connect(3);  // the kernel completed it; nib did not accept it
  c.set_timeout(200ms);
  auto early = c.read_line();
  EXPECT_TRUE(!early.ok() && test::is_timeout(early.status()));
  EXPECT_EQ(backends_[0]->accepted(), 2u);
  EXPECT_GE(dp_->status()[0].counters.limit_waits, 1u);  // it waits: counted, not refused
  EXPECT_EQ(dp_->status()[0].counters.rejected_resources, 0u);
  EXPECT_GE(dp_->resources().paused_listeners, 1);
  a.close();
  c.set_timeout(5s);
  EXPECT_EQ(c.read_line().value_or("closed"), "b0");
  EXPECT_EQ(dp_->status()[0].active, 2);
}

// -x changed at runtime (penctl conn_max, SetPolicy): raised, the waiting
// client is taken without waiting for a close; lowered, the next one waits.
TEST_F(TcpBalancingTest, MaxConnectionsChangeAppliesAtRuntime) {
  add_backends(1);
  service_.policy.max_connections = 1;
  start();
  auto [a, sa] = hold(1);
  EXPECT_EQ(sa, "b0");
  TestClient b = connect(2);
  ASSERT_TRUE(test::wait_until([&] { return dp_->status()[0].counters.limit_waits >= 1; }));
  PolicyConfig policy = *dp_->policy(service_.name);
  policy.max_connections = 2;
  ASSERT_TRUE(dp_->set_policy(service_.name, policy).ok());
  b.set_timeout(5s);
  EXPECT_EQ(b.read_line().value_or("closed"), "b0") << "taken while the first stays open";
  const uint64_t waits = dp_->status()[0].counters.limit_waits;
  TestClient c = connect(3);
  ASSERT_TRUE(test::wait_until([&] { return dp_->status()[0].counters.limit_waits > waits; }));
  EXPECT_EQ(dp_->status()[0].max_connections, 2u);
  a.close();
  c.set_timeout(5s);
  EXPECT_EQ(c.read_line().value_or("closed"), "b0");
}

TEST_F(TcpBalancingTest, IdleConnectionsAreClosed) {
  add_backends(1);
  service_.policy.idle_timeout_seconds = 0.2;
  manual_time_ = true;
  start();
  auto [c, name] = hold(1);
  ASSERT_EQ(name, "b0");
  clock_.advance(150ms);
  ASSERT_TRUE(c.write_all("ping\n").ok());  // activity: idle from now on
  EXPECT_EQ(*c.read_line(), "ping");
  clock_.advance(199ms);
  EXPECT_EQ(dp_->open_connections(), 1) << "closed before it was idle for 0.2 s";
  clock_.advance(1ms);
  EXPECT_EQ(dp_->open_connections(), 0);
  auto rest = c.read_until_eof();  // nib closed it
  EXPECT_TRUE(rest.ok()) << rest.status().message();
}

// A runtime change of the idle timeout (penctl idle_timeout, SetPolicy)
// reaches open connections too, counted from each one's last activity:
// lowered, idle ones close at once; from 0 (never), an open one gets a timer.
TEST_F(TcpBalancingTest, IdleTimeoutChangeReachesOpenConnections) {
  add_backends(1);
  service_.policy.idle_timeout_seconds = 100;
  manual_time_ = true;
  start();
  auto [idle, name_idle] = hold(1);
  ASSERT_EQ(name_idle, "b0");
  clock_.advance(5s);
  auto [busy, name_busy] = hold(2);  // active 5 s later
  ASSERT_EQ(name_busy, "b0");
  PolicyConfig policy = *dp_->policy(service_.name);
  policy.idle_timeout_seconds = 3;
  ASSERT_TRUE(dp_->set_policy(service_.name, policy).ok());
  EXPECT_TRUE(idle.read_until_eof().ok()) << "idle for 5 s, over the new 3 s: closed at once";
  EXPECT_TRUE(test::wait_until([&] { return dp_->open_connections() == 1; }));
  clock_.advance(2999ms);
  EXPECT_EQ(dp_->open_connections(), 1) << "closed before it was idle for 3 s";
  clock_.advance(1ms);
  EXPECT_EQ(dp_->open_connections(), 0);

  policy.idle_timeout_seconds = 0;
  ASSERT_TRUE(dp_->set_policy(service_.name, policy).ok());
  auto [kept, name_kept] = hold(3);
  ASSERT_EQ(name_kept, "b0");
  policy.idle_timeout_seconds = 1;
  ASSERT_TRUE(dp_->set_policy(service_.name, policy).ok());
  ASSERT_TRUE(kept.write_all("ping\n").ok());  // activity after the change: the timer runs from here
  EXPECT_EQ(*kept.read_line(), "ping");
  clock_.advance(999ms);
  EXPECT_EQ(dp_->open_connections(), 1);
  clock_.advance(1ms);
  EXPECT_EQ(dp_->open_connections(), 0) << "started without a timeout, it got one";
}

// A listener whose accept queue is full drops SYNs: a connect to it hangs
// until its timeout.
class Blackhole {
 public:
  Blackhole() {
    SocketAddress any = *SocketAddress::parse("127.0.0.1:0");
    EXPECT_EQ(::bind(listener_.get(), any.sockaddr_ptr(), any.length()), 0);
    EXPECT_EQ(::listen(listener_.get(), 0), 0);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&ss), &len);
    address_ = SocketAddress(reinterpret_cast<sockaddr*>(&ss), len);
    for (int i = 0; i < 2; ++i) {
      UniqueFd f(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
      ::connect(f.get(), address_.sockaddr_ptr(), address_.length());
      fillers_.push_back(std::move(f));
    }
  }
  BackendConfig backend() const {
    BackendConfig c;
    c.address = address_;
    return c;
  }

 private:
  UniqueFd listener_{::socket(AF_INET, SOCK_STREAM, 0)};
  SocketAddress address_;
  std::vector<UniqueFd> fillers_;
};

TEST_F(TcpBalancingTest, ConnectTimeoutBlacklistsAndFailsOver) {
  Blackhole hole;
  service_.backends.push_back(hole.backend());
  add_backends(1);
  service_.policy.connect_timeout_seconds = 0.3;
  start();
  EXPECT_EQ(who(1), "b0");  // waited 0.3 s on the dead one, then failed over
  EXPECT_TRUE(backend_status(0).blacklisted);
  EXPECT_EQ(backend_status(0).counters.connect_failures, 1u);
}

// Pen's pending_max: at the limit of clients still connecting to a backend,
// accepting pauses (the excess waits in the backlog, counted, not refused)
// until one connects or gives up, on either worker; raised at runtime, the
// waiting client is taken at once.
TEST_F(TcpBalancingTest, PendingMaxMakesTheExcessWaitForConnects) {
  Blackhole hole;
  service_.backends.push_back(hole.backend());
  service_.policy.connect_timeout_seconds = 60;  // they stay connecting for the whole test
  service_.policy.pending_max = 2;
  start();
  auto counters = [&] { return dp_->status()[0].counters; };
  TestClient a = connect(1);
  TestClient b = connect(2);
  ASSERT_TRUE(test::wait_until([&] { return counters().accepted == 2; }));
  TestClient c = connect(3);  // the kernel completed it; nib does not take it while two connect
  ASSERT_TRUE(test::wait_until([&] { return counters().pending_waits >= 1; }));
  EXPECT_EQ(counters().accepted, 2u);
  EXPECT_EQ(counters().rejected_resources, 0u);
  EXPECT_GE(dp_->resources().paused_listeners, 1);
  linger l{1, 0};  // a waiting client gives up: its slot is the next one's
  ::setsockopt(a.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  a.close();
  EXPECT_TRUE(test::wait_until([&] { return counters().accepted == 3; }));
  const uint64_t waits = counters().pending_waits;
  TestClient d = connect(4);
  ASSERT_TRUE(test::wait_until([&] { return counters().pending_waits > waits; }));
  EXPECT_EQ(counters().accepted, 3u);
  PolicyConfig policy = *dp_->policy(service_.name);
  policy.pending_max = 3;
  ASSERT_TRUE(dp_->set_policy(service_.name, policy).ok());
  EXPECT_TRUE(test::wait_until([&] { return counters().accepted == 4; }));
  EXPECT_EQ(dp_->policy(service_.name)->pending_max, 3u);
}

TEST_F(TcpBalancingTest, EveryEstablishedConnectIsTimedInTheLatencyHistogram) {
  add_backends(2);
  service_.policy.mode = BalanceMode::kRoundRobin;
  start();
  for (int i = 0; i < 6; ++i) who(1);
  for (int b = 0; b < 2; ++b) {
    BackendCounters c = backend_status(b).counters;
    EXPECT_EQ(c.connections, 3u);
    EXPECT_EQ(c.connect_latency.count, c.connections) << "one sample per established connect";
    uint64_t in_buckets = 0;
    for (uint64_t n : c.connect_latency.buckets) in_buckets += n;
    EXPECT_EQ(in_buckets, c.connect_latency.count);
    EXPECT_GE(c.connect_latency.sum_seconds, 0.0);
    EXPECT_EQ(c.connect_latency.buckets.back(), 0u) << "no loopback connect takes over 5 s";
  }
}

TEST_F(TcpBalancingTest, ReloadChangesBackendsWithoutDroppingConnections) {
  add_backends(3);
  service_.backends.pop_back();  // b2 joins later
  start();
  auto [old, name] = hold(1);
  ASSERT_EQ(name, "b0");
  DataplaneConfig next = config();
  next.services[0].backends = {backend_config(*backends_[1]), backend_config(*backends_[2])};
  ASSERT_TRUE(dp_->reload(next).ok());
  // The open connection to the removed server keeps working.
  ASSERT_TRUE(old.write_all("still here\n").ok());
  EXPECT_EQ(*old.read_line(), "still here");
  std::map<std::string, int> served;
  for (int i = 10; i < 20; ++i) ++served[who(i)];
  EXPECT_EQ(served["b1"] + served["b2"], 10);
  EXPECT_NE(who(1), "b0") << "a client of a removed server chooses afresh";
  // b1 kept its identity and counters across the reload.
  EXPECT_GT(backend_status(0).counters.connections, 0u);
}

TEST_F(TcpBalancingTest, ReloadRejectsListenChangesAndKeepsRunning) {
  add_backends(1);
  start();
  DataplaneConfig next = config();
  next.services[0].listen = *SocketAddress::parse("127.0.0.1:1");
  Status st = dp_->reload(next);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("listen address change needs a restart"), std::string::npos);
  EXPECT_EQ(who(1), "b0");
}

// defer_accept: a client that speaks first is relayed as usual (its first
// bytes read with the accept, before the backend is connected)...
TEST_F(TcpBalancingTest, DeferAcceptRelaysClientsThatSpeakFirst) {
  service_.defer_accept = true;
  add_backends(1);
  start();
  for (int i = 0; i < 20; ++i) {
    TestClient c = connect(i);
    ASSERT_TRUE(c.write_all("ping " + std::to_string(i)).ok());
    c.shutdown_write();
    auto all = c.read_until_eof();
    ASSERT_TRUE(all.ok()) << all.status().message();
    EXPECT_EQ(*all, "b0\nping " + std::to_string(i));
  }
  EXPECT_TRUE(test::wait_until([&] { return dp_->open_connections() == 0; }));
}

// ... and one that waits for the server's greeting is accepted once the
// kernel's defer period is over: late (about a second), never refused.
TEST_F(TcpBalancingTest, DeferAcceptStillServesAServerThatSpeaksFirst) {
  service_.defer_accept = true;
  add_backends(1);  // greets with its name before reading anything
  start();
  TestClient c = connect(1);
  c.set_timeout(15s);
  auto greeting = c.read_line();
  ASSERT_TRUE(greeting.ok()) << greeting.status().message();
  EXPECT_EQ(*greeting, "b0");
  ASSERT_TRUE(c.write_all("after the greeting").ok());
  c.shutdown_write();
  auto rest = c.read_until_eof();
  ASSERT_TRUE(rest.ok()) << rest.status().message();
  EXPECT_EQ(*rest, "after the greeting");
}

TEST_F(TcpBalancingTest, ReloadRejectsADeferAcceptChange) {
  add_backends(1);
  start();
  DataplaneConfig next = config();
  next.services[0].defer_accept = true;
  Status st = dp_->reload(next);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("defer_accept change needs a restart"), std::string::npos);
  EXPECT_EQ(who(1), "b0");
}

TEST_F(TcpBalancingTest, ReloadRejectsADsrInterfaceChange) {
  add_backends(1);
  start();
  DataplaneConfig next = config();
  next.services[0].dsr_interface = "eth1";
  Status st = dp_->reload(next);
  EXPECT_EQ(st.message(), "service 'test': dsr_interface change needs a restart");
  EXPECT_EQ(who(1), "b0");
}

TEST_F(TcpBalancingTest, ReloadRejectsABacklogChange) {
  add_backends(1);
  start();
  DataplaneConfig next = config();
  next.services[0].backlog += 1;
  Status st = dp_->reload(next);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("backlog change needs a restart"), std::string::npos);
  EXPECT_EQ(who(1), "b0");
}

TEST_F(TcpBalancingTest, ReloadRejectsAReusePortOrWorkersChange) {
  add_backends(1);
  start();
  DataplaneConfig next = config();
  next.services[0].reuse_port = true;
  Status st = dp_->reload(next);
  EXPECT_EQ(st.message(), "service 'test': reuse_port change needs a restart");
  next = config();
  next.workers = 3;
  st = dp_->reload(next);
  EXPECT_EQ(st.message(), "workers change (2 -> 3) needs a restart");
  EXPECT_EQ(who(1), "b0");
  EXPECT_TRUE(dp_->reload(config()).ok());
}

TEST_F(TcpBalancingTest, ClientThatResetsCostsOneConnection) {
  add_backends(1);
  start();
  for (int i = 0; i < 20; ++i) {
    TestClient c = connect(1);
    linger l{1, 0};
    ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    c.close();  // RST mid-stream
  }
  EXPECT_TRUE(test::wait_until([&] { return dp_->open_connections() == 0; }));
  EXPECT_EQ(who(1), "b0");
}

TEST_F(TcpBalancingTest, IPv6ClientsAndBackends) {
  auto probe = TestClient::connect(*SocketAddress::parse("[::1]:1"), "");
  NIB_REQUIRE(probe.ok() || probe.status().message().find("unreachable") == std::string::npos, "no IPv6 loopback");
  TestBackend b6("v6", BackendMode::kEcho, "::1");
  BackendConfig c;
  c.address = b6.address();
  service_.backends.push_back(c);
  service_.listen = *SocketAddress::parse("[::1]:0");
  start();
  auto name = test::who_serves(lb_, "::1");
  ASSERT_TRUE(name.ok()) << name.status().message();
  EXPECT_EQ(*name, "v6");
}

// Pen's tcp_fastclose down: the client's half-close ends the whole
// connection; what the backend might still say is not waited for.
TEST_F(TcpBalancingTest, FastCloseDownEndsTheConnectionOnTheClientsHalfClose) {
  add_backends(1, BackendMode::kSilent);
  service_.tcp_fastclose = FastClose::kDown;
  start();
  TestClient c = connect(1);
  ASSERT_TRUE(c.write_all("bye").ok());
  c.shutdown_write();
  EXPECT_TRUE(c.read_until_eof().ok()) << "the backend never closes: only nib can have";
  EXPECT_TRUE(test::wait_until([&] { return dp_->open_connections() == 0; }));
  EXPECT_TRUE(test::wait_until([&] { return backends_[0]->closed_by_peer() == 1; }));
}

// Without it (Pen's default) the half-close travels on and the connection
// stays open for the backend's answer.
TEST_F(TcpBalancingTest, WithoutFastCloseAHalfCloseWaitsForTheBackend) {
  add_backends(1, BackendMode::kSilent);
  start();
  TestClient c = connect(1);
  ASSERT_TRUE(c.write_all("bye").ok());
  c.shutdown_write();
  ASSERT_TRUE(test::wait_until([&] { return backends_[0]->closed_by_peer() == 1; })) << "the FIN travels";
  EXPECT_EQ(dp_->open_connections(), 1);
  char byte = 0;
  EXPECT_EQ(::recv(c.fd(), &byte, 1, MSG_DONTWAIT), -1) << "no EOF while the backend may still answer";
}

// tcp_fastclose up: the backend's close ends the connection although the
// client keeps its sending side open; its reply is delivered first.
TEST_F(TcpBalancingTest, FastCloseUpEndsTheConnectionWhenTheBackendCloses) {
  add_backends(1, BackendMode::kHttp);
  service_.tcp_fastclose = FastClose::kUp;
  start();
  TestClient c = connect(1);
  ASSERT_TRUE(c.write_all("GET / HTTP/1.1\r\nHost: nib\r\nConnection: close\r\n\r\n").ok());
  auto reply = c.read_until_eof();
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_NE(reply->find("200 OK"), std::string::npos) << *reply;
  EXPECT_TRUE(test::wait_until([&] { return dp_->open_connections() == 0; })) << "the client never closed";
}

// Pen's keepalive: SO_KEEPALIVE on both of nib's sockets of a connection
// (found among this process's descriptors by their peers).
TEST_F(TcpBalancingTest, KeepaliveSetsSoKeepaliveOnBothSockets) {
  add_backends(1);
  service_.keepalive = true;
  start();
  auto [c, name] = hold(1);
  ASSERT_EQ(name, "b0");
  int to_backend = -1, from_client = -1;
  for (int fd = 0; fd < 4096; ++fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) continue;
    SocketAddress peer(reinterpret_cast<sockaddr*>(&ss), len);
    if (peer == backends_[0]->address()) to_backend = fd;
    if (peer == c.local_address()) from_client = fd;
  }
  ASSERT_NE(to_backend, -1);
  ASSERT_NE(from_client, -1);
  for (int fd : {to_backend, from_client}) {
    int on = 0;
    socklen_t len = sizeof on;
    ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &len), 0);
    EXPECT_EQ(on, 1) << (fd == to_backend ? "backend socket" : "client socket");
  }
}

}  // namespace
}  // namespace nib
