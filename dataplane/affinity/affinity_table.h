#pragma once
// Pen's client table: which backend each client IP used last, with LRU eviction
// at capacity and optional expiry after a tracking time. Shared by all workers:
// sharded by a hash of the client IP, one small lock per shard, nothing global
// on the hot path. Every operation is O(1) whatever the size (10M entries work).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "dataplane/base/clock.h"
#include "dataplane/net/socket_address.h"

namespace nib {

struct AffinityEntry {
  IpKey client;
  uint32_t backend_id = 0;
  MonoTime first_seen;
  MonoTime last_seen;
  uint32_t connects = 0;
  uint64_t bytes_in = 0;   // client -> backend
  uint64_t bytes_out = 0;  // backend -> client
};

struct AffinityStats {
  uint64_t size = 0;
  uint64_t capacity = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;    // pushed out by LRU at capacity
  uint64_t expirations = 0;  // dropped after the tracking time
};

class AffinityTable {
 public:
  // capacity: Pen's -c (>= 1). tracking: Pen's -T, zero = never expire.
  // shards: 0 picks one shard for small tables (exact LRU, as Pen) and more for
  // large ones; tests may force a count.
  AffinityTable(uint64_t capacity, Duration tracking, unsigned shards = 0);
  ~AffinityTable();
  AffinityTable(const AffinityTable&) = delete;
  AffinityTable& operator=(const AffinityTable&) = delete;

  // Any thread. The backend the client used last, if remembered and not expired.
  // A hit makes the entry most recently used; an expired entry is dropped.
  std::optional<uint32_t> lookup(const IpKey& client, MonoTime now);

  // Any thread. Remembers that `client` is served by `backend_id`: updates the
  // entry or inserts one, evicting the least recently used entry when the table
  // is full. Counts one connect and makes the entry most recently used.
  void record(const IpKey& client, uint32_t backend_id, MonoTime now);

  // Any thread. Adds traffic to the client's entry, if it is still there.
  void add_bytes(const IpKey& client, uint64_t bytes_in, uint64_t bytes_out);

  // Any thread. Drops one client; false when it was not there.
  bool forget(const IpKey& client);

  // Any thread. Drops every entry that points at backend_id; returns how many.
  // O(size): an admin operation, never on the connection path.
  uint64_t forget_backend(uint32_t backend_id);

  // Any thread. Points every entry of backend `from` at `to`; returns how many.
  // O(size): an admin operation.
  uint64_t reassign_backend(uint32_t from, uint32_t to);

  // Any thread. How many entries point at backend_id. O(size).
  uint64_t count_backend(uint32_t backend_id) const;

  // Any thread. How many entries point at each backend, in one pass: one
  // shard lock at a time, held only to copy that shard's backend ids (the
  // counting happens outside it). O(size): for listings of every backend.
  std::unordered_map<uint32_t, uint64_t> count_by_backend() const;

  // Any thread. Applies a new tracking time to every entry from now on.
  void set_tracking(Duration tracking);

  // Any thread. Changes the capacity, keeping the most recently used entries
  // (those beyond the new capacity are evicted). O(size).
  void resize(uint64_t capacity);

  // Any thread. Up to `limit` live entries starting at `offset` (a stable order
  // only while the table does not change), most recently used first within a
  // shard. Expired entries are not listed.
  std::vector<AffinityEntry> list(MonoTime now, uint64_t offset = 0,
                                  uint64_t limit = UINT64_MAX) const;

  AffinityStats stats() const;  // any thread
  uint64_t size() const;        // any thread
  uint64_t capacity() const;    // any thread
  Duration tracking() const;    // any thread

 private:
  struct Shard;

  uint64_t hash_of(const IpKey& key) const;
  size_t shard_index(uint64_t hash) const;
  Shard& shard_for(uint64_t hash) const;
  uint64_t tracking_ms() const;
  // Takes one unit of the global size for a new entry; false when full.
  bool try_reserve();
  // Evicts the LRU entry of some shard other than `except`, keeping its unit
  // of global size for the caller. False when every other shard is empty.
  bool steal_one(size_t except, uint64_t now_ms, uint64_t tracking_ms);
  // Evicts LRU entries, spread over the shards in proportion to their sizes,
  // until the table holds at most `capacity` entries.
  void trim_to(uint64_t capacity);

  std::vector<std::unique_ptr<Shard>> shards_;
  uint64_t seed_ = 0;  // per-table hash seed: client IPs cannot aim at buckets
  std::atomic<uint64_t> capacity_{0};
  std::atomic<int64_t> tracking_ns_{0};
  std::mutex resize_mu_;  // serialises resize() (admin only)
  // Live entries plus reserved-but-not-yet-inserted ones; never > capacity_.
  // Own cache line: inserts and removals write it, everything else reads.
  alignas(64) std::atomic<uint64_t> size_{0};
};

}  // namespace nib
