#pragma once
// The fixture most integration tests share: an in-process Dataplane running
// one service (service_) in front of real test backends on loopback, with
// every event it publishes collected. A test fills service_ (SetUp names it
// "test" and listens on an ephemeral port), adds backends, then calls start().
// A test that sets manual_time_ first runs the Dataplane on clock_, which
// moves only by clock_.advance().
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/dataplane.h"
#include "tests/support/manual_clock.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib::test {

// NIB_TEST_RELAY=sockmap (the sockmap.* ctest entries): the relay mode the
// tests run nib and the Dataplane in (issue 18: every TCP relay test passes
// in both); unset or "splice": the default.
RelayMode test_relay_mode();
// Distinct clients are distinct source addresses: 127.0.x.y, never 127.0.0.1.
std::string client_ip(int n);

// The admin tests' dataplane: service "web" on an ephemeral loopback port in
// front of `backend` alone, on one worker.
DataplaneConfig one_backend_config(const SocketAddress& backend);

// Events collected under a mutex: listeners run on admin and worker threads.
// Any thread.
class EventLog {
 public:
  void add(const DataplaneEvent& e);
  std::vector<DataplaneEvent> all() const;
  // Those of one kind (and one backend, when given), oldest first.
  std::vector<DataplaneEvent> of(DataplaneEvent::Kind kind, std::optional<uint32_t> backend_id = std::nullopt) const;
  size_t count(DataplaneEvent::Kind kind, std::optional<uint32_t> backend_id = std::nullopt) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<DataplaneEvent> events_;
};

// What the TCP workers' loops wait with in these tests: epoll, or io_uring
// when NIB_TEST_EVENT_LOOP=io_uring (ctest runs the TCP suites both ways).
LoopBackend event_loop_under_test();

// Backend is TestBackend or TestUdpBackend: anything built from a name (and
// optional mode arguments) that has an address().
template <typename Backend = TestBackend>
class DataplaneFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    service_.name = "test";
    service_.listen = *SocketAddress::parse("127.0.0.1:0");
  }
  // The Dataplane stops before the backends: no connection outlives its peer.
  void TearDown() override {
    if (dp_) dp_->events().unsubscribe(token_);
    dp_.reset();
  }

  // What start() runs: service_ on two workers. Override for other settings.
  virtual DataplaneConfig config() const {
    DataplaneConfig c;
    c.workers = 2;
    c.event_loop = event_loop_under_test();
    c.services = {service_};
    return c;
  }
  // Starts config() with events_ listening from the first event on, then finds
  // service_'s address (lb_).
  void start() {
    DataplaneConfig c = config();
    if (test_relay_mode() != RelayMode::kSplice) c.relay = test_relay_mode();
    dp_ = std::make_unique<Dataplane>(c, manual_time_ ? static_cast<Clock&>(clock_) : SystemClock::instance());
    token_ = dp_->events().subscribe([this](const DataplaneEvent& e) { events_.add(e); });
    Status st = dp_->start();
    ASSERT_TRUE(st.ok()) << st.message();
    // io_uring asked for and refused would run the suite on epoll, unseen.
    ASSERT_EQ(dp_->event_loop(), config().event_loop) << "the event loop fell back";
    // Asked for the kernel relay: a missing capability fails the run, never
    // a quiet fallback that would test the default twice.
    if (test_relay_mode() == RelayMode::kSockmap) {
      ASSERT_TRUE(dp_->resources().relay_kernel_active) << "NIB_TEST_RELAY=sockmap but the sockmap could not be loaded";
    }
    lb_ = *dp_->bound_address(service_.name);
  }

  // A running backend named "b<n>", not (yet) known to the balancer; `args`
  // follow the name in Backend's constructor (a mode, ...).
  template <typename... Args>
  Backend& spare(const Args&... args) {
    backends_.push_back(std::make_unique<Backend>("b" + std::to_string(backends_.size()), args...));
    return *backends_.back();
  }
  // n spare backends, each added to service_.
  template <typename... Args>
  void add_backends(int n, const Args&... args) {
    for (int i = 0; i < n; ++i) service_.backends.push_back(backend_config(spare(args...)));
  }
  static BackendConfig backend_config(const Backend& b) {
    BackendConfig c;
    c.address = b.address();
    c.host = "127.0.0.1";
    return c;
  }

  // TCP services: the name of the backend that greets client n, or "closed".
  std::string who(int client) {
    auto name = who_serves(lb_, client_ip(client));
    return name.ok() ? *name : "closed";
  }
  TestClient connect(int client) {
    auto c = TestClient::connect(lb_, client_ip(client));
    EXPECT_TRUE(c.ok()) << c.status().message();
    return std::move(*c);
  }
  // An open connection, with the name of the backend that serves it.
  std::pair<TestClient, std::string> hold(int client) {
    TestClient c = connect(client);
    auto line = c.read_line();
    return {std::move(c), line.ok() ? *line : "closed"};
  }

  ServiceConfig service_;
  bool manual_time_ = false;
  ManualClock clock_;  // declared before dp_, which may run on it
  std::vector<std::unique_ptr<Backend>> backends_;
  std::unique_ptr<Dataplane> dp_;
  SocketAddress lb_;
  EventLog events_;
  uint64_t token_ = 0;
};

}  // namespace nib::test
