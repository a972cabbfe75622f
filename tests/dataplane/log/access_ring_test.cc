#include "dataplane/log/access_ring.h"

#include <gtest/gtest.h>

#include <thread>

namespace nib {
namespace {

// Fills a claimed slot with a marker and publishes it.
bool push(AccessRing& ring, uint64_t marker) {
  AccessRecord* r = ring.claim();
  if (!r) return false;
  r->bytes_in = marker;
  ring.publish();
  return true;
}

TEST(AccessRingTest, CapacityRoundsUpToAPowerOfTwo) {
  EXPECT_EQ(AccessRing(0).capacity(), 1u);
  EXPECT_EQ(AccessRing(1).capacity(), 1u);
  EXPECT_EQ(AccessRing(3).capacity(), 4u);
  EXPECT_EQ(AccessRing(1024).capacity(), 1024u);
}

TEST(AccessRingTest, FullRingDropsAndCountsThenTakesAgainOnceDrained) {
  AccessRing ring(2);
  EXPECT_TRUE(push(ring, 1));
  EXPECT_TRUE(push(ring, 2));
  EXPECT_FALSE(push(ring, 3));  // full: dropped, the producer moves on
  EXPECT_EQ(ring.dropped(), 1u);
  std::vector<uint64_t> seen;
  EXPECT_EQ(ring.drain([&](const AccessRecord& r) { seen.push_back(r.bytes_in); }), 2u);
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(push(ring, 4));
  seen.clear();
  ring.drain([&](const AccessRecord& r) { seen.push_back(r.bytes_in); });
  EXPECT_EQ(seen, (std::vector<uint64_t>{4}));
  EXPECT_EQ(ring.dropped(), 1u);
}

TEST(AccessRingTest, OneProducerOneConsumerLoseNothingButTheDropsTheyCount) {
  // Real threads (TSan runs this): every record is taken once, in order, or
  // counted as dropped.
  AccessRing ring(8);
  constexpr uint64_t kRecords = 200'000;
  std::atomic<bool> done{false};
  uint64_t taken = 0, last = 0;
  bool in_order = true;
  std::thread consumer([&] {
    auto take = [&](const AccessRecord& r) {
      in_order = in_order && r.bytes_in > last;
      last = r.bytes_in;
      ++taken;
    };
    while (!done.load(std::memory_order_acquire)) ring.drain(take);
    ring.drain(take);
  });
  for (uint64_t i = 1; i <= kRecords; ++i) push(ring, i);
  done.store(true, std::memory_order_release);
  consumer.join();
  EXPECT_TRUE(in_order);
  EXPECT_EQ(taken + ring.dropped(), kRecords);
}

}  // namespace
}  // namespace nib
