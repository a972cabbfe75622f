#pragma once
// A UDP worker's sessions by client address and port: an intrusive chained hash
// table (inserting allocates nothing; the bucket array grows by doubling)
// threaded on one LRU list. Every datagram either way makes its session the
// most recently used, so the LRU order is also the idle-expiry order: the
// oldest entry is both the eviction victim and the next to expire. One table
// per worker and service; not thread-safe (its worker's loop thread only).
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dataplane/base/clock.h"

namespace nib {

// A client's address and port (IPv4 as v4-mapped IPv6, the family kept apart).
struct UdpClientKey {
  std::array<uint8_t, 16> ip{};
  uint16_t port = 0;  // network byte order: only compared and hashed
  uint8_t family = 0;
  bool operator==(const UdpClientKey&) const = default;

  // From a sockaddr_in or sockaddr_in6; false for any other family.
  static bool from_sockaddr(const sockaddr* sa, socklen_t len, UdpClientKey* out);
};

class UdpSessionTable {
 public:
  // Embedded in whatever the table indexes (a UdpSession). Fields are the
  // table's; callers set `key` before insert() and read `last_active`.
  struct Entry {
    UdpClientKey key;
    MonoTime last_active{};

   private:
    friend class UdpSessionTable;
    uint64_t hash_ = 0;
    Entry* bucket_next_ = nullptr;
    Entry* newer_ = nullptr;  // toward the most recently used
    Entry* older_ = nullptr;  // toward the least recently used
    bool linked_ = false;
  };

  // seed: a per-table random value so clients cannot aim at one bucket;
  // tests pass a fixed one.
  explicit UdpSessionTable(uint64_t seed);
  UdpSessionTable();  // a random seed
  UdpSessionTable(const UdpSessionTable&) = delete;
  UdpSessionTable& operator=(const UdpSessionTable&) = delete;

  Entry* find(const UdpClientKey& key) const;
  // Adds `e` (its key not present yet) as the most recently used, active now.
  void insert(Entry* e, MonoTime now);
  // Removes `e` if it is in the table.
  void erase(Entry* e);
  // Makes `e` the most recently used, active at `now`.
  void touch(Entry* e, MonoTime now);

  Entry* oldest() const { return oldest_; }
  Entry* newest() const { return newest_; }
  // The next entry toward the oldest, for walks from newest(); null at the end.
  static Entry* older(const Entry* e) { return e->older_; }
  static bool contains(const Entry* e) { return e->linked_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t buckets() const { return buckets_.size(); }

 private:
  uint64_t hash(const UdpClientKey& key) const;
  void grow();
  void unlink_lru(Entry* e);
  void push_newest(Entry* e);

  uint64_t seed_;
  std::vector<Entry*> buckets_;  // power-of-two size
  size_t size_ = 0;
  Entry* newest_ = nullptr;
  Entry* oldest_ = nullptr;
};

}  // namespace nib
