// A service's counters: each worker counts in its own cells, readers see the
// sum.
#include "dataplane/service/service.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace nib {
namespace {

TEST(ServiceCountersTest, WorkersCountInTheirOwnCellsAndReadersSeeTheSum) {
  ServiceConfig c;
  c.name = "s";
  c.listen = *SocketAddress::parse("127.0.0.1:1");
  constexpr unsigned kWorkers = 4;
  constexpr int kEach = 10000;
  Service s(c, kWorkers);
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&s, w] {
      for (int i = 0; i < kEach; ++i) {
        s.count_accepted(w);
        if (i % 10 == 0) s.count_limit_wait(w);
        if (i % 100 == 0) s.count_affinity_break(w);
      }
    });
  }
  // A reader while they count: never more than what was counted.
  for (int i = 0; i < 100; ++i) EXPECT_LE(s.counters().accepted, uint64_t{kWorkers} * kEach);
  for (auto& t : workers) t.join();
  ServiceCounters sum = s.counters();
  EXPECT_EQ(sum.accepted, uint64_t{kWorkers} * kEach);
  EXPECT_EQ(sum.limit_waits, uint64_t{kWorkers} * kEach / 10);
  EXPECT_EQ(sum.affinity_breaks, uint64_t{kWorkers} * kEach / 100);
  EXPECT_EQ(sum.rejected_no_backend, 0u);
}

}  // namespace
}  // namespace nib
