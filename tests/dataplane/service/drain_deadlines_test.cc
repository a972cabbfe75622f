// A worker's drain deadlines on a manual clock: the close comes exactly at the
// deadline, and only for the drain that set it.
#include "dataplane/service/drain_deadlines.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

#include "tests/support/manual_clock.h"

namespace nib {
namespace {

using namespace std::chrono_literals;

class DrainDeadlinesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(loop_.init().ok());
    thread_ = std::thread([this] { loop_.run(); });
    BackendConfig c;
    c.address = *SocketAddress::parse("127.0.1.1:80");
    backend_ = std::make_shared<Backend>(7, c, 1, clock_);
    backend_->connection_opened();  // a straggler keeps the drain going
  }
  void TearDown() override {
    loop_.stop();
    thread_.join();
  }
  // Starts a drain and returns its number.
  uint64_t drain() {
    backend_->set_admin_state(AdminState::kDraining);
    backend_->arm_drain();
    return backend_->drain_generation();
  }
  std::vector<uint32_t> closed() {
    std::lock_guard lock(mu_);
    return closed_;
  }

  test::ManualClock clock_;
  EventLoop loop_{clock_};
  std::mutex mu_;
  std::vector<uint32_t> closed_;
  DrainDeadlines deadlines_{loop_, [this](const Backend& b) {
                              std::lock_guard lock(mu_);
                              closed_.push_back(b.id());
                            }};
  std::thread thread_;
  std::shared_ptr<Backend> backend_;
};

TEST_F(DrainDeadlinesTest, ClosesAtTheDeadlineNotBefore) {
  const uint64_t generation = drain();
  deadlines_.add(backend_, generation, clock_.now() + 300ms);
  clock_.advance(299ms);
  EXPECT_TRUE(closed().empty());
  clock_.advance(1ms);
  EXPECT_EQ(closed(), std::vector<uint32_t>{7});
  clock_.advance(1h);
  EXPECT_EQ(closed().size(), 1u);  // once
}

TEST_F(DrainDeadlinesTest, ADeadlineOfAnEndedOrRestartedDrainDoesNothing) {
  const uint64_t first = drain();
  deadlines_.add(backend_, first, clock_.now() + 100ms);
  backend_->set_admin_state(AdminState::kEnabled);  // the operator ended it
  clock_.advance(100ms);
  EXPECT_TRUE(closed().empty());

  const uint64_t second = drain();
  const uint64_t third = drain();  // drained again: a new drain, a new number
  ASSERT_NE(second, third);
  deadlines_.add(backend_, second, clock_.now() + 100ms);
  deadlines_.add(backend_, third, clock_.now() + 200ms);
  clock_.advance(100ms);
  EXPECT_TRUE(closed().empty());
  clock_.advance(100ms);
  EXPECT_EQ(closed(), std::vector<uint32_t>{7});
}

}  // namespace
}  // namespace nib
