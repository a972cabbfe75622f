// Slow start through the whole Dataplane: a backend re-enabled by the operator
// takes a growing share of new clients. Shares are counted in coarse time
// buckets with generous bounds: what is asserted is the ramp, not its timing.
#include <gtest/gtest.h>

#include "dataplane/dataplane.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib {
namespace {

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
  Dataplane dp(c);
  ASSERT_TRUE(dp.start().ok());
  SocketAddress lb = *dp.bound_address("test");
  const uint32_t id1 = dp.status()[0].backends[1].id;
  ASSERT_TRUE(dp.update_backend("test", id1, BackendPatch{.enabled = false}).ok());
  ASSERT_TRUE(dp.update_backend("test", id1, BackendPatch{.enabled = true}).ok());
  const MonoTime began = MonoClock::now();

  // Buckets: the first and second half of the window, and after it.
  int total[3] = {0, 0, 0}, on_b1[3] = {0, 0, 0};
  for (;;) {
    double t = std::chrono::duration<double>(MonoClock::now() - began).count();
    if (t > 2.8) break;
    int bucket = t < 1 ? 0 : t < 2 ? 1 : 2;
    auto name = test::who_serves(lb);
    ASSERT_TRUE(name.ok()) << name.status().message();
    ++total[bucket];
    on_b1[bucket] += *name == "b1";
  }
  double share[3];
  for (int i = 0; i < 3; ++i) {
    ASSERT_GE(total[i], 20) << "bucket " << i << " got too few clients to count";
    share[i] = static_cast<double>(on_b1[i]) / total[i];
  }
  // Expected about 0.2, 0.4 and 0.5 (round-robin offers it every other client).
  EXPECT_LT(share[0], 0.35) << share[0] << " " << share[1] << " " << share[2];
  EXPECT_LT(share[0], share[1]) << share[0] << " " << share[1] << " " << share[2];
  EXPECT_GT(share[2], 0.35) << share[0] << " " << share[1] << " " << share[2];
  dp.stop();
}

}  // namespace
}  // namespace nib
