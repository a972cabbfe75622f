#include "dataplane/affinity/affinity_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <list>
#include <random>
#include <set>
#include <unordered_map>
#include <thread>
#include <vector>

namespace nib {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

MonoTime at(int64_t s) { return MonoTime{} + seconds(s); }

IpKey v4(uint32_t addr) {
  IpKey k;
  k.bytes[10] = 0xff;
  k.bytes[11] = 0xff;
  k.bytes[12] = static_cast<uint8_t>(addr >> 24);
  k.bytes[13] = static_cast<uint8_t>(addr >> 16);
  k.bytes[14] = static_cast<uint8_t>(addr >> 8);
  k.bytes[15] = static_cast<uint8_t>(addr);
  return k;
}

IpKey ip(const char* text) {
  auto r = IpKey::parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : IpKey{};
}

// Clients of list(), in order.
std::vector<IpKey> clients(const std::vector<AffinityEntry>& entries) {
  std::vector<IpKey> out;
  for (const auto& e : entries) out.push_back(e.client);
  return out;
}

TEST(AffinityTableTest, MissThenRecordThenHit) {
  AffinityTable t(100, Duration::zero());
  EXPECT_EQ(t.lookup(v4(1), at(0)), std::nullopt);
  t.record(v4(1), 7, at(1));
  EXPECT_EQ(t.lookup(v4(1), at(2)), 7u);
  EXPECT_EQ(t.lookup(v4(2), at(2)), std::nullopt);
  AffinityStats st = t.stats();
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.misses, 2u);
  EXPECT_EQ(st.size, 1u);
  EXPECT_EQ(st.capacity, 100u);
  EXPECT_EQ(st.evictions, 0u);
  EXPECT_EQ(st.expirations, 0u);
}

TEST(AffinityTableTest, RecordUpdatesEntry) {
  AffinityTable t(100, Duration::zero());
  t.record(v4(1), 1, at(1));
  t.add_bytes(v4(1), 100, 2000);
  t.record(v4(1), 2, at(5) + milliseconds(250));
  EXPECT_EQ(t.lookup(v4(1), at(6)), 2u);
  EXPECT_EQ(t.size(), 1u);
  auto entries = t.list(at(6));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].client, v4(1));
  EXPECT_EQ(entries[0].backend_id, 2u);
  EXPECT_EQ(entries[0].connects, 2u);
  EXPECT_EQ(entries[0].first_seen, at(1));
  EXPECT_EQ(entries[0].last_seen, at(5) + milliseconds(250));
  EXPECT_EQ(entries[0].bytes_in, 100u);
  EXPECT_EQ(entries[0].bytes_out, 2000u);
}

TEST(AffinityTableTest, LruOrderWithOneShard) {
  AffinityTable t(3, Duration::zero(), 1);
  t.record(v4(0xA), 1, at(0));
  t.record(v4(0xB), 2, at(1));
  t.record(v4(0xC), 3, at(2));
  EXPECT_EQ(t.lookup(v4(0xA), at(3)), 1u);  // A becomes MRU, B is LRU
  t.record(v4(0xD), 4, at(4));
  EXPECT_EQ(clients(t.list(at(5))), (std::vector<IpKey>{v4(0xD), v4(0xA), v4(0xC)}));
  EXPECT_EQ(t.lookup(v4(0xB), at(5)), std::nullopt);
  EXPECT_EQ(t.lookup(v4(0xA), at(5)), 1u);
  EXPECT_EQ(t.lookup(v4(0xC), at(5)), 3u);
  EXPECT_EQ(t.lookup(v4(0xD), at(5)), 4u);
  EXPECT_EQ(t.stats().evictions, 1u);
  EXPECT_EQ(t.size(), 3u);
}

TEST(AffinityTableTest, DefaultShardingIsExactLruUpTo4096) {
  AffinityTable t(4096, Duration::zero());
  for (uint32_t i = 0; i < 4096; ++i) t.record(v4(i), i, at(0));
  EXPECT_EQ(t.lookup(v4(0), at(1)), 0u);
  t.record(v4(100000), 1, at(2));
  EXPECT_EQ(t.lookup(v4(1), at(3)), std::nullopt);  // the global LRU
  EXPECT_EQ(t.lookup(v4(0), at(3)), 0u);
  EXPECT_EQ(t.lookup(v4(2), at(3)), 2u);
  EXPECT_EQ(t.stats().evictions, 1u);
}

TEST(AffinityTableTest, EvictionCounts) {
  AffinityTable t(10, Duration::zero());
  for (uint32_t i = 0; i < 25; ++i) t.record(v4(i), i, at(i));
  AffinityStats st = t.stats();
  EXPECT_EQ(st.size, 10u);
  EXPECT_EQ(st.evictions, 15u);
  EXPECT_EQ(st.expirations, 0u);
  for (uint32_t i = 0; i < 15; ++i) EXPECT_EQ(t.lookup(v4(i), at(30)), std::nullopt);
  for (uint32_t i = 15; i < 25; ++i) EXPECT_EQ(t.lookup(v4(i), at(30)), i);
}

TEST(AffinityTableTest, ExpiresAfterTrackingTime) {
  AffinityTable t(10, seconds(10));
  t.record(v4(1), 1, at(100));
  EXPECT_EQ(t.lookup(v4(1), at(110)), 1u);  // age == tracking: still live
  // A lookup does not refresh last_seen; only record does.
  EXPECT_EQ(t.lookup(v4(1), at(110) + milliseconds(1)), std::nullopt);
  AffinityStats st = t.stats();
  EXPECT_EQ(st.expirations, 1u);
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.size, 0u);
  EXPECT_EQ(t.lookup(v4(1), at(111)), std::nullopt);
  EXPECT_EQ(t.stats().expirations, 1u);  // counted once
}

TEST(AffinityTableTest, RecordRefreshesLastSeen) {
  AffinityTable t(10, seconds(10));
  t.record(v4(1), 1, at(0));
  t.record(v4(1), 1, at(8));
  EXPECT_EQ(t.lookup(v4(1), at(17)), 1u);
  EXPECT_EQ(t.lookup(v4(1), at(19)), std::nullopt);
}

TEST(AffinityTableTest, TrackingZeroNeverExpires) {
  AffinityTable t(10, Duration::zero());
  t.record(v4(1), 1, at(0));
  EXPECT_EQ(t.lookup(v4(1), at(100'000'000)), 1u);
  EXPECT_EQ(t.stats().expirations, 0u);
}

TEST(AffinityTableTest, RecordOnExpiredEntryStartsAfresh) {
  AffinityTable t(10, seconds(10));
  t.record(v4(1), 1, at(0));
  t.add_bytes(v4(1), 5, 6);
  t.record(v4(1), 2, at(20));
  AffinityStats st = t.stats();
  EXPECT_EQ(st.expirations, 1u);
  EXPECT_EQ(st.size, 1u);
  auto entries = t.list(at(21));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].backend_id, 2u);
  EXPECT_EQ(entries[0].connects, 1u);
  EXPECT_EQ(entries[0].first_seen, at(20));
  EXPECT_EQ(entries[0].last_seen, at(20));
  EXPECT_EQ(entries[0].bytes_in, 0u);
  EXPECT_EQ(entries[0].bytes_out, 0u);
}

TEST(AffinityTableTest, EvictingAnExpiredLruCountsAsExpiration) {
  AffinityTable t(2, seconds(10));
  t.record(v4(1), 1, at(0));
  t.record(v4(2), 2, at(15));
  t.record(v4(3), 3, at(16));  // LRU v4(1) has expired
  EXPECT_EQ(t.stats().expirations, 1u);
  EXPECT_EQ(t.stats().evictions, 0u);
  t.record(v4(4), 4, at(17));  // LRU v4(2) is live
  EXPECT_EQ(t.stats().expirations, 1u);
  EXPECT_EQ(t.stats().evictions, 1u);
  EXPECT_EQ(t.size(), 2u);
}

TEST(AffinityTableTest, SetTrackingAppliesToExistingEntries) {
  AffinityTable t(10, Duration::zero());
  t.record(v4(1), 1, at(0));
  t.record(v4(2), 2, at(0));
  EXPECT_EQ(t.lookup(v4(1), at(100)), 1u);
  t.set_tracking(seconds(5));
  EXPECT_EQ(t.tracking(), seconds(5));
  EXPECT_EQ(t.lookup(v4(1), at(100)), std::nullopt);
  t.set_tracking(Duration::zero());
  EXPECT_EQ(t.lookup(v4(2), at(100)), 2u);
}

TEST(AffinityTableTest, ForgetOne) {
  AffinityTable t(10, Duration::zero());
  t.record(v4(1), 1, at(0));
  t.record(v4(2), 2, at(0));
  EXPECT_TRUE(t.forget(v4(1)));
  EXPECT_FALSE(t.forget(v4(1)));
  EXPECT_FALSE(t.forget(v4(3)));
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.lookup(v4(1), at(1)), std::nullopt);
  EXPECT_EQ(t.lookup(v4(2), at(1)), 2u);
  t.record(v4(1), 3, at(2));  // the freed slot is reused
  EXPECT_EQ(t.lookup(v4(1), at(3)), 3u);
  EXPECT_EQ(t.size(), 2u);
}

TEST(AffinityTableTest, BackendAdminOperations) {
  AffinityTable t(1000, Duration::zero(), 8);
  for (uint32_t i = 0; i < 300; ++i) t.record(v4(i), i % 3, at(0));
  EXPECT_EQ(t.count_backend(0), 100u);
  EXPECT_EQ(t.count_backend(1), 100u);
  EXPECT_EQ(t.count_backend(7), 0u);
  EXPECT_EQ(t.reassign_backend(1, 2), 100u);
  EXPECT_EQ(t.count_backend(1), 0u);
  EXPECT_EQ(t.count_backend(2), 200u);
  EXPECT_EQ(t.forget_backend(0), 100u);
  EXPECT_EQ(t.forget_backend(0), 0u);
  EXPECT_EQ(t.size(), 200u);
  for (uint32_t i = 0; i < 300; ++i) {
    auto b = t.lookup(v4(i), at(1));
    if (i % 3 == 0) {
      EXPECT_EQ(b, std::nullopt) << i;
    } else {
      EXPECT_EQ(b, 2u) << i;
    }
  }
  // The slots freed by forget_backend are reused.
  for (uint32_t i = 1000; i < 1100; ++i) t.record(v4(i), 9, at(2));
  EXPECT_EQ(t.count_backend(9), 100u);
  EXPECT_EQ(t.size(), 300u);
  EXPECT_EQ(t.stats().evictions, 0u);
}

// One pass counts what count_backend() counts for each backend, with freed
// slots (forgotten, reassigned) and many shards in the way.
TEST(AffinityTableTest, CountByBackendMatchesCountBackend) {
  AffinityTable t(20000, Duration::zero(), 16);
  for (uint32_t i = 0; i < 10000; ++i) t.record(v4(i), 1 + i % 7, at(0));
  t.forget_backend(3);
  t.reassign_backend(5, 6);
  for (uint32_t i = 0; i < 1000; ++i) t.forget(v4(i * 7));
  const auto counts = t.count_by_backend();
  uint64_t total = 0;
  for (uint32_t id = 1; id <= 7; ++id) {
    const uint64_t expected = t.count_backend(id);
    auto it = counts.find(id);
    EXPECT_EQ(it == counts.end() ? 0 : it->second, expected) << id;
    EXPECT_EQ(counts.count(id), expected == 0 ? 0u : 1u) << "only backends with clients are listed: " << id;
    total += expected;
  }
  EXPECT_EQ(total, t.size());
  EXPECT_EQ(counts.size(), 5u);  // 3 forgotten, 5 moved to 6
  EXPECT_TRUE(AffinityTable(10, Duration::zero()).count_by_backend().empty());
}

TEST(AffinityTableTest, AddBytesOnlyToExistingAndKeepsLruOrder) {
  AffinityTable t(2, Duration::zero());
  t.add_bytes(v4(9), 1, 1);  // no entry: nothing created
  EXPECT_EQ(t.size(), 0u);
  t.record(v4(1), 1, at(0));
  t.record(v4(2), 2, at(1));
  t.add_bytes(v4(1), 10, 20);
  t.add_bytes(v4(1), 1, 2);
  auto entries = t.list(at(2));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].client, v4(1));  // still LRU
  EXPECT_EQ(entries[1].bytes_in, 11u);
  EXPECT_EQ(entries[1].bytes_out, 22u);
  t.record(v4(3), 3, at(3));
  EXPECT_EQ(t.lookup(v4(1), at(4)), std::nullopt);
  EXPECT_EQ(t.lookup(v4(2), at(4)), 2u);
}

TEST(AffinityTableTest, ResizeShrinkKeepsMostRecentlyUsed) {
  AffinityTable t(10, Duration::zero());
  for (uint32_t i = 0; i < 10; ++i) t.record(v4(i), i, at(i));
  EXPECT_EQ(t.lookup(v4(0), at(20)), 0u);  // MRU order now 0, 9, 8, ...
  t.resize(3);
  EXPECT_EQ(t.capacity(), 3u);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.stats().evictions, 7u);
  EXPECT_EQ(clients(t.list(at(21))), (std::vector<IpKey>{v4(0), v4(9), v4(8)}));
  t.record(v4(100), 100, at(22));  // evicts v4(8)
  EXPECT_EQ(clients(t.list(at(23))), (std::vector<IpKey>{v4(100), v4(0), v4(9)}));
  EXPECT_EQ(t.size(), 3u);
}

TEST(AffinityTableTest, ResizeGrow) {
  AffinityTable t(3, Duration::zero());
  for (uint32_t i = 0; i < 3; ++i) t.record(v4(i), i, at(i));
  t.resize(100);
  EXPECT_EQ(t.capacity(), 100u);
  for (uint32_t i = 3; i < 100; ++i) t.record(v4(i), i, at(i));
  EXPECT_EQ(t.size(), 100u);
  EXPECT_EQ(t.stats().evictions, 0u);
  for (uint32_t i = 0; i < 100; ++i) EXPECT_EQ(t.lookup(v4(i), at(200)), i);
  t.record(v4(1000), 1, at(300));
  EXPECT_EQ(t.stats().evictions, 1u);
  EXPECT_EQ(t.lookup(v4(0), at(301)), std::nullopt);  // LRU after the lookups
}

TEST(AffinityTableTest, ResizeManyShards) {
  constexpr uint32_t kN = 20000;
  AffinityTable t(kN, Duration::zero(), 16);
  for (uint32_t i = 0; i < kN; ++i) t.record(v4(i), i, at(0));
  t.resize(kN / 2);
  EXPECT_EQ(t.size(), kN / 2);
  EXPECT_EQ(t.stats().evictions, kN / 2);
  // Each shard keeps its most recent half: the most recent tenth all survive.
  for (uint32_t i = kN - kN / 10; i < kN; ++i) ASSERT_EQ(t.lookup(v4(i), at(1)), i);
  // And nearly all of the most recent half (shards differ a little in size).
  uint32_t kept = 0;
  for (uint32_t i = kN / 2; i < kN - kN / 10; ++i) kept += t.lookup(v4(i), at(1)).has_value();
  EXPECT_GE(kept, (kN / 2 - kN / 10) * 9 / 10);
  t.resize(kN * 2);
  for (uint32_t i = kN; i < kN + kN * 3 / 2; ++i) t.record(v4(i), i, at(2));
  EXPECT_EQ(t.size(), kN * 2);
  EXPECT_EQ(t.stats().evictions, kN / 2);
}

TEST(AffinityTableTest, ListPagingAndExpiry) {
  AffinityTable t(100, seconds(10));
  for (uint32_t i = 0; i < 5; ++i) t.record(v4(i), i, at(0));
  for (uint32_t i = 5; i < 12; ++i) t.record(v4(i), i, at(8));
  auto all = t.list(at(15));  // the first five have expired
  ASSERT_EQ(all.size(), 7u);
  EXPECT_EQ(all[0].client, v4(11));  // MRU first
  EXPECT_EQ(all[6].client, v4(5));
  std::vector<IpKey> paged;
  for (uint64_t off = 0; off < 10; off += 3) {
    auto page = t.list(at(15), off, 3);
    EXPECT_LE(page.size(), 3u);
    for (auto& e : page) paged.push_back(e.client);
  }
  EXPECT_EQ(paged, clients(all));
  EXPECT_TRUE(t.list(at(15), 7, 3).empty());
  EXPECT_TRUE(t.list(at(15), 0, 0).empty());
  EXPECT_EQ(t.list(at(1)).size(), 12u);  // nothing expired yet at t=1
  // Listing does not drop anything.
  EXPECT_EQ(t.size(), 12u);
}

TEST(AffinityTableTest, ListPagingManyShards) {
  AffinityTable t(5000, Duration::zero(), 16);
  for (uint32_t i = 0; i < 1000; ++i) t.record(v4(i), i, at(0));
  std::set<uint32_t> seen;
  uint64_t total = 0;
  for (uint64_t off = 0; off < 1100; off += 7) {
    for (auto& e : t.list(at(1), off, 7)) {
      seen.insert(e.backend_id);
      ++total;
    }
  }
  EXPECT_EQ(total, 1000u);
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(AffinityTableTest, Ipv4AndIpv6Keys) {
  AffinityTable t(100, Duration::zero());
  t.record(ip("192.0.2.1"), 1, at(0));
  t.record(ip("2001:db8::1"), 2, at(0));
  t.record(ip("2001:db8::2"), 3, at(0));
  t.record(ip("::1"), 4, at(0));
  EXPECT_EQ(t.lookup(ip("192.0.2.1"), at(1)), 1u);
  EXPECT_EQ(t.lookup(ip("::ffff:192.0.2.1"), at(1)), 1u);  // same client
  EXPECT_EQ(t.lookup(ip("192.0.2.2"), at(1)), std::nullopt);
  EXPECT_EQ(t.lookup(ip("2001:db8::1"), at(1)), 2u);
  EXPECT_EQ(t.lookup(ip("2001:db8::2"), at(1)), 3u);
  EXPECT_EQ(t.lookup(ip("::1"), at(1)), 4u);
  EXPECT_EQ(t.lookup(ip("2001:db8::3"), at(1)), std::nullopt);
  std::set<std::string> names;
  for (auto& e : t.list(at(1))) names.insert(e.client.to_string());
  EXPECT_EQ(names, (std::set<std::string>{"192.0.2.1", "2001:db8::1", "2001:db8::2", "::1"}));
}

TEST(AffinityTableTest, ManyShardsFillExactlyToCapacity) {
  constexpr uint32_t kN = 100'000;
  AffinityTable t(kN, Duration::zero(), 64);
  for (uint32_t i = 0; i < kN; ++i) t.record(v4(0x0a000000 + i), i, at(0));
  AffinityStats st = t.stats();
  EXPECT_EQ(st.evictions, 0u);
  EXPECT_EQ(st.size, kN);
  for (uint32_t i = 0; i < kN; ++i) ASSERT_EQ(t.lookup(v4(0x0a000000 + i), at(1)), i);
  t.record(ip("2001:db8::42"), 1, at(2));
  st = t.stats();
  EXPECT_EQ(st.evictions, 1u);
  EXPECT_EQ(st.size, kN);
  EXPECT_EQ(t.lookup(ip("2001:db8::42"), at(3)), 1u);
  EXPECT_EQ(t.list(at(3)).size(), kN);
}

TEST(AffinityTableTest, TinyCapacityManyShards) {
  // The table is full while most shards are empty: an insert into an empty
  // shard must take the room from another shard.
  AffinityTable t(1, Duration::zero(), 8);
  for (uint32_t i = 0; i < 100; ++i) {
    t.record(v4(i), i, at(i));
    ASSERT_EQ(t.size(), 1u);
  }
  EXPECT_EQ(t.stats().evictions, 99u);
  EXPECT_EQ(t.lookup(v4(99), at(200)), 99u);
  EXPECT_EQ(t.lookup(v4(98), at(200)), std::nullopt);

  AffinityTable t2(5, Duration::zero(), 64);
  for (uint32_t i = 0; i < 1000; ++i) t2.record(v4(i), i, at(i));
  EXPECT_EQ(t2.size(), 5u);
  EXPECT_EQ(t2.stats().evictions, 995u);
  EXPECT_EQ(t2.list(at(2000)).size(), 5u);
}

TEST(AffinityTableTest, AutoShardedMillionEntries) {
  constexpr uint32_t kN = 1'000'000;
  AffinityTable t(kN, Duration::zero());
  for (uint32_t i = 0; i < kN; ++i) t.record(v4(i), i, at(0));
  EXPECT_EQ(t.stats().evictions, 0u);
  EXPECT_EQ(t.size(), kN);
  for (uint32_t i = 0; i < kN; i += 7) ASSERT_EQ(t.lookup(v4(i), at(1)), i);
  for (uint32_t i = kN; i < kN + 1000; ++i) t.record(v4(i), i, at(2));
  EXPECT_EQ(t.stats().evictions, 1000u);
  EXPECT_EQ(t.size(), kN);
}

TEST(AffinityTableTest, SmallTableWithLargeCapacityStaysSmall) {
  // Untouched capacity must not be resident: this would be ~600 MB otherwise.
  AffinityTable t(10'000'000, Duration::zero());
  for (uint32_t i = 0; i < 2000; ++i) t.record(v4(i), i, at(0));
  EXPECT_EQ(t.size(), 2000u);
  for (uint32_t i = 0; i < 2000; ++i) ASSERT_EQ(t.lookup(v4(i), at(1)), i);
}

// A straightforward exact-LRU model of a one-shard table, to compare against
// under long random operation sequences (this also drives the index through
// long probe clusters, saturated distances and backward-shift deletions).
class ModelTable {
 public:
  ModelTable(uint64_t capacity, Duration tracking) : capacity_(capacity), tracking_(tracking) {}

  std::optional<uint32_t> lookup(const IpKey& k, MonoTime now) {
    auto it = map_.find(k.hash());
    if (it == map_.end()) {
      ++st_.misses;
      return std::nullopt;
    }
    if (expired(*it->second, now)) {
      lru_.erase(it->second);
      map_.erase(it);
      ++st_.expirations;
      ++st_.misses;
      return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    ++st_.hits;
    return it->second->backend_id;
  }

  void record(const IpKey& k, uint32_t backend, MonoTime now) {
    auto it = map_.find(k.hash());
    if (it != map_.end()) {
      AffinityEntry& e = *it->second;
      if (expired(e, now)) {
        ++st_.expirations;
        e = fresh(k, backend, now);
      } else {
        e.backend_id = backend;
        ++e.connects;
        e.last_seen = std::max(e.last_seen, now);
      }
      lru_.splice(lru_.begin(), lru_, it->second);
      return;
    }
    if (lru_.size() == capacity_) {
      if (expired(lru_.back(), now)) ++st_.expirations; else ++st_.evictions;
      map_.erase(lru_.back().client.hash());
      lru_.pop_back();
    }
    lru_.push_front(fresh(k, backend, now));
    map_[k.hash()] = lru_.begin();
  }

  void add_bytes(const IpKey& k, uint64_t in, uint64_t out) {
    auto it = map_.find(k.hash());
    if (it == map_.end()) return;
    it->second->bytes_in += in;
    it->second->bytes_out += out;
  }

  bool forget(const IpKey& k) {
    auto it = map_.find(k.hash());
    if (it == map_.end()) return false;
    lru_.erase(it->second);
    map_.erase(it);
    return true;
  }

  uint64_t forget_backend(uint32_t b) {
    uint64_t n = 0;
    for (auto it = lru_.begin(); it != lru_.end();) {
      if (it->backend_id == b) {
        map_.erase(it->client.hash());
        it = lru_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

  void resize(uint64_t capacity) {
    capacity_ = capacity;
    while (lru_.size() > capacity_) {
      map_.erase(lru_.back().client.hash());
      lru_.pop_back();
      ++st_.evictions;
    }
  }

  std::vector<AffinityEntry> list(MonoTime now) const {
    std::vector<AffinityEntry> out;
    for (auto& e : lru_) {
      if (!expired(e, now)) out.push_back(e);
    }
    return out;
  }

  AffinityStats stats() const {
    AffinityStats st = st_;
    st.size = lru_.size();
    st.capacity = capacity_;
    return st;
  }

 private:
  bool expired(const AffinityEntry& e, MonoTime now) const {
    return tracking_ != Duration::zero() && now - e.last_seen > tracking_;
  }
  static AffinityEntry fresh(const IpKey& k, uint32_t backend, MonoTime now) {
    AffinityEntry e;
    e.client = k;
    e.backend_id = backend;
    e.first_seen = now;
    e.last_seen = now;
    e.connects = 1;
    return e;
  }

  uint64_t capacity_;
  Duration tracking_;
  std::list<AffinityEntry> lru_;
  // Keyed by the (unique, in this test) hash: keys are distinct v4 addresses.
  std::unordered_map<uint64_t, std::list<AffinityEntry>::iterator> map_;
  AffinityStats st_;
};

void expect_same(const AffinityStats& a, const AffinityStats& b) {
  EXPECT_EQ(a.size, b.size);
  EXPECT_EQ(a.capacity, b.capacity);
  EXPECT_EQ(a.hits, b.hits);
  EXPECT_EQ(a.misses, b.misses);
  EXPECT_EQ(a.evictions, b.evictions);
  EXPECT_EQ(a.expirations, b.expirations);
}

void expect_same(const std::vector<AffinityEntry>& a, const std::vector<AffinityEntry>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].client, b[i].client) << i;
    EXPECT_EQ(a[i].backend_id, b[i].backend_id) << i;
    EXPECT_EQ(a[i].first_seen, b[i].first_seen) << i;
    EXPECT_EQ(a[i].last_seen, b[i].last_seen) << i;
    EXPECT_EQ(a[i].connects, b[i].connects) << i;
    EXPECT_EQ(a[i].bytes_in, b[i].bytes_in) << i;
    EXPECT_EQ(a[i].bytes_out, b[i].bytes_out) << i;
  }
}

TEST(AffinityTableTest, MatchesExactLruModelOverRandomOperations) {
  // 70000: above the size where the index gets sparser (load factor 0.8).
  for (uint64_t capacity : {1u, 2u, 7u, 1000u, 30000u, 70000u}) {
    SCOPED_TRACE(capacity);
    // Short tracking exercises expiry; long tracking keeps the big table full
    // (index at its full load factor: long clusters, saturated distances).
    const Duration tracking = capacity < 70000 ? milliseconds(400) : seconds(3600);
    AffinityTable t(capacity, tracking, 1);
    ModelTable m(capacity, tracking);
    std::mt19937_64 rng(capacity);
    const uint32_t keys = static_cast<uint32_t>(capacity * 3 / 2 + 2);
    MonoTime now = at(1000);
    for (int i = 0; i < 300'000; ++i) {
      now += milliseconds(rng() % 3);
      // Mostly recent keys, so that hits are common.
      uint32_t k = static_cast<uint32_t>(rng() % (rng() % 4 == 0 ? keys : keys / 3 + 1));
      IpKey key = v4(0x0a000000 + k);
      uint32_t backend = static_cast<uint32_t>(rng() % 5);
      switch (rng() % 16) {
        case 0: case 1: case 2: case 3: case 4: case 5:
          ASSERT_EQ(t.lookup(key, now), m.lookup(key, now)) << i;
          break;
        case 6: case 7: case 8: case 9: case 10: case 11:
          t.record(key, backend, now);
          m.record(key, backend, now);
          break;
        case 12: case 13: {
          uint64_t in = rng() % 10000, out = rng() % 10000;
          t.add_bytes(key, in, out);
          m.add_bytes(key, in, out);
          break;
        }
        case 14:
          ASSERT_EQ(t.forget(key), m.forget(key)) << i;
          break;
        case 15:
          if (rng() % 1000 == 0) {
            ASSERT_EQ(t.forget_backend(backend), m.forget_backend(backend));
          } else if (rng() % 1000 == 0) {
            uint64_t c = std::max<uint64_t>(1, rng() % (capacity * 2 + 1));
            t.resize(c);
            m.resize(c);
          }
          break;
      }
      if (i % 20'000 == 0) {
        expect_same(t.stats(), m.stats());
        expect_same(t.list(now), m.list(now));
      }
    }
    expect_same(t.stats(), m.stats());
    expect_same(t.list(now), m.list(now));
  }
}

struct ConcurrencyCase {
  uint64_t capacity;
  unsigned shards;
  uint32_t keys;
};

class AffinityTableConcurrencyTest : public testing::TestWithParam<ConcurrencyCase> {};

TEST_P(AffinityTableConcurrencyTest, MixedOperationsKeepInvariants) {
  const ConcurrencyCase c = GetParam();
  AffinityTable t(c.capacity, milliseconds(50), c.shards);
  constexpr int kThreads = 4;
  constexpr uint32_t kOps = 100'000;
  constexpr uint32_t kBackends = 8;
  std::atomic<uint64_t> lookups{0};
  std::atomic<bool> stop{false};
  const IpKey hot = ip("2001:db8::1");
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      uint64_t x = 0x9e3779b97f4a7c15ULL * (th + 1);
      uint64_t my_lookups = 0;
      for (uint32_t i = 0; i < kOps; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Overlapping v4 keys, plus one hot v6 key.
        IpKey key = (x >> 40) % 64 == 0 ? hot : v4(static_cast<uint32_t>(x >> 8) % c.keys);
        MonoTime now = MonoTime{} + milliseconds(i);  // threads' clocks skew a bit
        switch ((x >> 32) % 8) {
          case 0:
          case 1:
          case 2:
            t.lookup(key, now);
            ++my_lookups;
            break;
          case 3:
          case 4:
          case 5:
            t.record(key, static_cast<uint32_t>(x >> 48) % kBackends, now);
            break;
          case 6:
            t.add_bytes(key, 100, 1000);
            break;
          case 7:
            t.forget(key);
            break;
        }
      }
      lookups += my_lookups;
    });
  }
  // An admin thread meanwhile: stats, listings, backend operations.
  std::thread admin([&] {
    while (!stop.load()) {
      AffinityStats st = t.stats();
      EXPECT_LE(st.size, st.capacity);
      t.list(MonoTime{} + milliseconds(50'000), 0, 100);
      t.count_backend(1);
      t.reassign_backend(7, 6);
      std::this_thread::yield();
    }
  });
  for (auto& th : threads) th.join();
  stop = true;
  admin.join();

  AffinityStats st = t.stats();
  EXPECT_LE(st.size, c.capacity);
  EXPECT_GT(st.evictions + st.expirations, 0u);
  EXPECT_EQ(st.hits + st.misses, lookups.load());
  EXPECT_EQ(st.size, t.size());
  // Physical contents agree with size: at time zero nothing counts as expired.
  auto entries = t.list(MonoTime{});
  EXPECT_EQ(entries.size(), st.size);
  uint64_t by_backend = 0;
  for (uint32_t b = 0; b < kBackends; ++b) by_backend += t.count_backend(b);
  EXPECT_EQ(by_backend, st.size);
  for (auto& e : entries) EXPECT_TRUE(t.lookup(e.client, MonoTime{}).has_value());

  // Resizing under load must keep the bound too.
  std::vector<std::thread> more;
  for (int th = 0; th < 2; ++th) {
    more.emplace_back([&, th] {
      for (uint32_t i = 0; i < 20'000; ++i) t.record(v4(i * 2 + th), i, MonoTime{});
    });
  }
  t.resize(c.capacity / 2 + 1);
  t.resize(c.capacity);
  for (auto& th : more) th.join();
  EXPECT_LE(t.size(), c.capacity);
  EXPECT_EQ(t.list(MonoTime{}).size(), t.size());
}

INSTANTIATE_TEST_SUITE_P(Shapes, AffinityTableConcurrencyTest,
                         testing::Values(ConcurrencyCase{2000, 0, 5000},   // one shard
                                         ConcurrencyCase{2000, 16, 5000},  // sharded
                                         ConcurrencyCase{8, 16, 64}));     // tiny, stealing

}  // namespace
}  // namespace nib
