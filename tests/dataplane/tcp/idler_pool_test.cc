// Pen's idlers: idle connections a TCP service keeps open to its backends,
// made again when they close, moved off a backend that stops taking new
// clients, and inside the descriptor budget.
#include "dataplane/tcp/idler_pool.h"

#include <gtest/gtest.h>

#include "dataplane/resource/fd_budget.h"
#include "dataplane/service/service.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib {
namespace {

using namespace std::chrono_literals;

class IdlerPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.name = "s";
    config_.listen = *SocketAddress::parse("127.0.0.1:0");
    for (auto* b : {&b0_, &b1_}) config_.backends.push_back(BackendConfig{.host = "127.0.0.1", .address = b->address()});
    service_ = std::make_unique<Service>(config_, 1);
  }
  uint32_t id_of(size_t index) const { return service_->registry().snapshot()->backends[index]->id(); }
  bool open_are(uint64_t on_b0, uint64_t on_b1) const {
    return b0_.active() == on_b0 && b1_.active() == on_b1 && service_->idlers_open() == on_b0 + on_b1;
  }

  test::TestBackend b0_{"b0"};
  test::TestBackend b1_{"b1"};
  ServiceConfig config_;
  std::unique_ptr<Service> service_;
  FdBudget budget_{1000};
};

TEST_F(IdlerPoolTest, KeepsTheWantedNumberOpenRoundRobinOverTheBackends) {
  IdlerPool pool(&budget_);
  ASSERT_TRUE(pool.start().ok());
  pool.set_targets({{service_.get(), 3}});
  ASSERT_TRUE(test::wait_until([&] { return b0_.active() + b1_.active() == 3 && service_->idlers_open() == 3; }));
  EXPECT_GE(b0_.active(), 1u);
  EXPECT_GE(b1_.active(), 1u);
  EXPECT_EQ(budget_.in_use(), 3u) << "one descriptor each";
  EXPECT_EQ(b0_.accepted() + b1_.accepted(), 3u) << "nothing churns while they stay open";
}

TEST_F(IdlerPoolTest, FewerWantedClosesTheExtraAndNoTargetClosesAll) {
  IdlerPool pool(&budget_);
  ASSERT_TRUE(pool.start().ok());
  pool.set_targets({{service_.get(), 4}});
  ASSERT_TRUE(test::wait_until([&] { return service_->idlers_open() == 4; }));
  pool.set_targets({{service_.get(), 1}});
  ASSERT_TRUE(test::wait_until([&] { return b0_.active() + b1_.active() == 1 && service_->idlers_open() == 1; }));
  pool.set_targets({});
  ASSERT_TRUE(test::wait_until([&] { return b0_.active() + b1_.active() == 0 && service_->idlers_open() == 0; }));
  EXPECT_EQ(budget_.in_use(), 0u);
}

TEST_F(IdlerPoolTest, AnIdlerItsBackendClosedIsMadeAgain) {
  IdlerPool pool(&budget_);
  ASSERT_TRUE(pool.start().ok());
  ASSERT_TRUE(service_->registry().set_admin_state(id_of(1), AdminState::kDisabled).ok());
  pool.set_targets({{service_.get(), 2}});
  ASSERT_TRUE(test::wait_until([&] { return open_are(2, 0); }));
  b0_.stop();  // closes both; connects are refused until it listens again
  ASSERT_TRUE(test::wait_until([&] { return service_->idlers_open() == 0; }));
  ASSERT_TRUE(b0_.start().ok());
  ASSERT_TRUE(test::wait_until([&] { return open_are(2, 0); }, 15s)) << "retried with a bounded backoff";
  EXPECT_EQ(budget_.in_use(), 2u) << "failed attempts gave their descriptors back";
}

TEST_F(IdlerPoolTest, IdlersLeaveABackendThatStopsTakingNewClients) {
  IdlerPool pool(&budget_);
  ASSERT_TRUE(pool.start().ok());
  pool.set_targets({{service_.get(), 2}});
  ASSERT_TRUE(test::wait_until([&] { return open_are(1, 1); }));
  ASSERT_TRUE(service_->registry().set_admin_state(id_of(0), AdminState::kDraining).ok());
  pool.set_targets({{service_.get(), 2}});  // what the Dataplane does after a change
  ASSERT_TRUE(test::wait_until([&] { return open_are(0, 2); }));
  // Down by health: moved within a maintenance tick, without a poke.
  ASSERT_TRUE(service_->registry().set_admin_state(id_of(0), AdminState::kEnabled).ok());
  service_->registry().snapshot()->backends[1]->blacklist_until(MonoClock::now() + 1h);
  ASSERT_TRUE(test::wait_until([&] { return open_are(2, 0); }));
}

TEST_F(IdlerPoolTest, WithoutAServerThatTakesThemNoneOpensUntilOneDoes) {
  IdlerPool pool(&budget_);
  ASSERT_TRUE(pool.start().ok());
  for (size_t i : {0u, 1u}) ASSERT_TRUE(service_->registry().set_admin_state(id_of(i), AdminState::kDisabled).ok());
  pool.set_targets({{service_.get(), 2}});
  ASSERT_TRUE(test::wait_until([&] { return budget_.in_use() == 0; }));
  EXPECT_EQ(service_->idlers_open(), 0u);
  ASSERT_TRUE(service_->registry().set_admin_state(id_of(1), AdminState::kEnabled).ok());
  ASSERT_TRUE(test::wait_until([&] { return open_are(0, 2); }));
}

TEST_F(IdlerPoolTest, TheDescriptorBudgetBoundsThemAndAShortageIsCounted) {
  FdBudget small(1);
  IdlerPool pool(&small);
  ASSERT_TRUE(pool.start().ok());
  pool.set_targets({{service_.get(), 3}});
  ASSERT_TRUE(test::wait_until([&] {
    ShortageCounts c;
    pool.add_shortages(c);
    return service_->idlers_open() == 1 && c[Resource::kFd] > 0;
  }));
  EXPECT_TRUE(test::wait_until([&] { return b0_.active() + b1_.active() == 1; }));
}

}  // namespace
}  // namespace nib
