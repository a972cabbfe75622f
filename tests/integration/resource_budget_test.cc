// The dataplane's own budgets (issue 17, finding 2), made small so tests reach
// them: descriptors (DataplaneConfig::fd_budget) and relay memory
// (relay_memory_bytes). At a limit clients wait, relays copy, new UDP clients
// are dropped; none of it is ever a backend's failure.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <thread>

#include "dataplane/dataplane.h"
#include "dataplane/tcp/tcp_worker.h"
#include "tests/support/dataplane_fixture.h"
#include "tests/support/test_udp_backend.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::client_ip;
using test::TestClient;

class ResourceBudgetTest : public test::DataplaneFixture<> {
 protected:
  DataplaneConfig config() const override {
    DataplaneConfig c = DataplaneFixture::config();
    c.workers = workers_;
    c.fd_budget = fd_budget_;
    c.relay_memory_bytes = relay_memory_;
    c.splice_pipes_per_worker = pipes_;
    return c;
  }
  // A connected client that nib has not accepted: no greeting comes.
  static void expect_waiting(TestClient& c) {
    c.set_timeout(200ms);
    auto line = c.read_line();
    EXPECT_TRUE(!line.ok() && test::is_timeout(line.status())) << "served: " << line.value_or("?");
  }
  void expect_no_backend_blamed() {
    const std::vector<ServiceStatus> status = dp_->status();
    for (const auto& b : status[0].backends) {
      EXPECT_EQ(b.counters.connect_failures, 0u) << b.address.to_string();
      EXPECT_FALSE(b.blacklisted) << b.address.to_string();
      EXPECT_EQ(b.state, BackendState::kUp) << b.address.to_string();
    }
  }
  // `size` pseudo-random bytes through an echo backend, all back in order.
  static void expect_echoed(TestClient& c, size_t size, uint64_t seed) {
    const std::string data = test::random_bytes(size, seed);
    c.set_timeout(60s);
    auto echoed = c.write_all_and_read_until_eof(data);
    ASSERT_TRUE(echoed.ok()) << echoed.status().message();
    EXPECT_TRUE(*echoed == data) << "bytes lost or reordered (" << echoed->size() << " of " << size << ")";
  }

  int workers_ = 2;
  uint64_t fd_budget_ = 0;
  uint64_t relay_memory_ = 0;
  int pipes_ = 0;
};

TEST_F(ResourceBudgetTest, AtTheDescriptorBudgetClientsWaitAndNoBackendIsBlamed) {
  fd_budget_ = 6;  // three relayed connections
  add_backends(2);
  start();
  std::vector<TestClient> held;
  for (int i = 0; i < 3; ++i) held.push_back(hold(i).first);
  TestClient waiting = connect(10);
  expect_waiting(waiting);
  ResourceStatus r = dp_->resources();
  EXPECT_EQ(r.fd_budget, 6u);
  EXPECT_EQ(r.fd_in_use, 6u);
  EXPECT_GE(r.exhausted[Resource::kFd], 1u);
  EXPECT_GE(r.paused_listeners, 1);
  EXPECT_EQ(backends_[0]->accepted() + backends_[1]->accepted(), 3u);

  held[1].close();  // a descriptor pair is free: the waiting client is served, on whichever worker it waits
  waiting.set_timeout(5s);
  auto name = waiting.read_line();
  EXPECT_TRUE(name.ok()) << name.status().message();
  expect_no_backend_blamed();
  held.clear();
  waiting.close();
  EXPECT_TRUE(test::wait_until([&] { return dp_->resources().fd_in_use == 0; }));
  EXPECT_TRUE(test::wait_until([&] { return dp_->resources().paused_listeners == 0; }));
}

TEST_F(ResourceBudgetTest, RelayMemoryAdmitsOnlyConnectionsWithRoomForTheirBuffers) {
  workers_ = 1;
  relay_memory_ = 4 * TcpWorker::kBufferSize;  // two connections
  add_backends(1);
  start();
  auto [a, name_a] = hold(1);
  auto [b, name_b] = hold(2);
  ASSERT_EQ(name_b, "b0");
  TestClient c = connect(3);
  expect_waiting(c);
  ResourceStatus r = dp_->resources();
  EXPECT_EQ(r.relay_memory_limit, 4 * TcpWorker::kBufferSize);
  EXPECT_GE(r.exhausted[Resource::kMemory], 1u);

  // Bulk both ways through the two admitted ones: intact, within the limit.
  std::thread other([&] { expect_echoed(a, 2 << 20, 1); });
  expect_echoed(b, 2 << 20, 2);
  other.join();
  EXPECT_LE(dp_->resources().relay_memory_in_use, 4 * TcpWorker::kBufferSize);
  // Both closed now: the waiting client is in.
  c.set_timeout(5s);
  EXPECT_EQ(c.read_line().value_or("closed"), "b0");
  expect_no_backend_blamed();
}

// Pipes need a quarter of the budget free: when clients take it, bulk
// transfers copy instead of splicing, and nothing is lost.
TEST_F(ResourceBudgetTest, SplicePipesGiveWayToClients) {
  workers_ = 1;
  fd_budget_ = 8;  // a pipe needs 2 + 8 / 4 free
  pipes_ = 64;
  add_backends(1);
  start();
  std::vector<TestClient> held;
  for (int i = 0; i < 2; ++i) held.push_back(hold(i).first);  // 4 used, 4 free: no pipe
  TestClient bulk = connect(5);                               // 6 used, 2 free
  ASSERT_EQ(bulk.read_line().value_or("closed"), "b0");
  expect_echoed(bulk, 4 << 20, 3);
  EXPECT_GE(dp_->resources().exhausted[Resource::kPipe], 1u);
  expect_no_backend_blamed();
}

class UdpResourceBudgetTest : public test::DataplaneFixture<test::TestUdpBackend> {
 protected:
  void SetUp() override {
    DataplaneFixture::SetUp();
    service_.protocol = Protocol::kUdp;
    service_.udp_session_timeout_seconds = 0.3;
    service_.udp_max_sessions = 100;  // not the limit here: an evicted session would make room
  }
  DataplaneConfig config() const override {
    DataplaneConfig c = DataplaneFixture::config();
    c.workers = 1;
    c.fd_budget = 2;  // two sessions
    return c;
  }
  std::optional<std::string> ask(int client, const std::string& payload) {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto from = SocketAddress::from_ip(client_ip(client), 0);
    if (::bind(fd.get(), from->sockaddr_ptr(), from->length()) != 0 ||
        ::connect(fd.get(), lb_.sockaddr_ptr(), lb_.length()) != 0 ||
        ::send(fd.get(), payload.data(), payload.size(), 0) < 0) {
      return std::nullopt;
    }
    timeval tv{0, 300'000};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[2048];
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    return n < 0 ? std::nullopt : std::optional<std::string>(std::string(buf, static_cast<size_t>(n)));
  }
};

TEST_F(UdpResourceBudgetTest, ANewClientIsDroppedWhileTheBudgetIsShortAndServedOnceASessionEnds) {
  add_backends(1);
  start();
  EXPECT_EQ(ask(1, "one").value_or("none"), "b0 one");
  EXPECT_EQ(ask(2, "two").value_or("none"), "b0 two");
  EXPECT_EQ(ask(3, "three"), std::nullopt);  // no descriptor for a third session
  ServiceStatus s = dp_->status()[0];
  ASSERT_TRUE(s.udp);
  EXPECT_GE(s.udp->counters.drops_no_socket, 1u);
  EXPECT_EQ(s.udp->counters.backend_refused, 0u);
  EXPECT_FALSE(s.backends[0].blacklisted);
  EXPECT_GE(dp_->resources().exhausted[Resource::kFd], 1u);
  // The silent sessions end after 0.3 s and give their descriptors back.
  ASSERT_TRUE(test::wait_until([&] { return dp_->resources().fd_in_use == 0; }, 5s));
  EXPECT_EQ(ask(3, "three").value_or("none"), "b0 three");
}

}  // namespace
}  // namespace nib
