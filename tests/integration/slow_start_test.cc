// Slow start through the whole Dataplane: a backend re-enabled by the operator
// takes a growing share of new clients. The Dataplane runs on a manual clock,
// so the shares are counted at chosen points of the window (a quarter, three
// quarters, after it) instead of in wall-time buckets; the bounds stay
// generous, as each client's draw is random.
#include <gtest/gtest.h>

#include "dataplane/dataplane.h"
#include "tests/support/manual_clock.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::TestBackend;

TEST(SlowStartIntegrationTest, AReEnabledBackendRampsUp) {
  TestBackend b0("b0"), b1("b1");
  ServiceConfig s;
  s.name = "test";
  s.listen = *SocketAddress::parse("127.0.0.1:0");
  s.policy.mode = BalanceMode::kRoundRobin;
  s.slow_start_seconds = 2;
  s.backends = {BackendConfig{.host = "127.0.0.1", .address = b0.address()},
                BackendConfig{.host = "127.0.0.1", .address = b1.address()}};
  DataplaneConfig c;
  c.workers = 2;
  c.services = {s};
  test::ManualClock clock;
  Dataplane dp(c, clock);
  ASSERT_TRUE(dp.start().ok());
  SocketAddress lb = *dp.bound_address("test");
  const uint32_t id1 = dp.status()[0].backends[1].id;
  ASSERT_TRUE(dp.update_backend("test", id1, BackendPatch{.enabled = false}).ok());
  ASSERT_TRUE(dp.update_backend("test", id1, BackendPatch{.enabled = true}).ok());

  // At 0.5 s, 1.5 s and 2.5 s of the 2 s window.
  constexpr int kClients = 120;
  double share[3];
  for (int bucket = 0; bucket < 3; ++bucket) {
    clock.advance(bucket == 0 ? 500ms : 1s);
    int on_b1 = 0;
    for (int i = 0; i < kClients; ++i) {
      auto name = test::who_serves(lb);
      ASSERT_TRUE(name.ok()) << name.status().message();
      on_b1 += *name == "b1";
    }
    share[bucket] = static_cast<double>(on_b1) / kClients;
  }
  // Expected 0.2, about 0.43 and 0.5: round-robin offers it every other
  // client and it takes a growing fraction p of those, p / (1 + p) in all.
  EXPECT_LT(share[0], 0.35) << share[0] << " " << share[1] << " " << share[2];
  EXPECT_LT(share[0], share[1]) << share[0] << " " << share[1] << " " << share[2];
  EXPECT_GT(share[2], 0.35) << share[0] << " " << share[1] << " " << share[2];
  dp.stop();
}

}  // namespace
}  // namespace nib
