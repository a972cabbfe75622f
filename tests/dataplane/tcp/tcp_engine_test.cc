// The TCP engine on its own: a Service relayed by its workers, and a stop()
// that is safe while other threads ask about connections (the admin plane
// does, up to the moment the Dataplane stops).
#include "dataplane/tcp/tcp_engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "dataplane/resource/fd_budget.h"
#include "dataplane/service/service.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib {
namespace {

using namespace std::chrono_literals;

class TcpEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.name = "s";
    config_.listen = *SocketAddress::parse("127.0.0.1:0");
    config_.backends = {BackendConfig{.host = "127.0.0.1", .address = backend_.address()}};
    service_ = std::make_unique<Service>(config_, 2);
  }
  test::TestBackend backend_{"b0"};
  ServiceConfig config_;
  std::unique_ptr<Service> service_;
};

TEST_F(TcpEngineTest, RelaysAServicesClientsAndCountsThem) {
  FdBudget budget(1000);
  TcpEngine engine(2, 4, budget, uint64_t{64} << 20);
  engine.add_service(*service_);
  ASSERT_TRUE(engine.bind().ok());
  const SocketAddress lb = service_->listen_address();
  ASSERT_NE(lb.port(), 0) << "bind() resolves port 0";
  engine.start();
  auto c = test::TestClient::connect(lb);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c->read_line(), "b0");
  EXPECT_EQ(engine.open_connections(), 1);
  auto open = engine.connections(1s);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].service, "s");
  EXPECT_EQ(open[0].backend, backend_.address());
  c->close();
  ASSERT_TRUE(test::wait_until([&] { return engine.open_connections() == 0; }));
  EXPECT_EQ(service_->counters().accepted, 1u);
}

TEST_F(TcpEngineTest, WithoutTcpServicesNoWorkerRuns) {
  FdBudget budget(1000);
  TcpEngine engine(2, 4, budget, uint64_t{64} << 20);
  ASSERT_TRUE(engine.bind().ok());
  engine.start();
  EXPECT_TRUE(engine.empty());
  EXPECT_TRUE(engine.connections(1s).empty());
}

TEST_F(TcpEngineTest, StopIsSafeWhileOthersAsk) {
  FdBudget budget(1000);
  TcpEngine engine(2, 4, budget, uint64_t{64} << 20);
  engine.add_service(*service_);
  ASSERT_TRUE(engine.bind().ok());
  engine.start();
  auto c = test::TestClient::connect(service_->listen_address());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c->read_line(), "b0");
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!done.load()) {
        engine.connections(1s);
        engine.open_connections();
      }
    });
  }
  engine.stop();
  EXPECT_EQ(engine.open_connections(), 0);
  done.store(true);
  for (auto& t : readers) t.join();
}

}  // namespace
}  // namespace nib
