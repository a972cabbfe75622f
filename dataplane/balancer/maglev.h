#pragma once
// Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software
// Network Load Balancer", NSDI 2016): a lookup table of a prime number M of
// slots, each naming a backend, filled so that every backend owns a share of
// slots proportional to its weight and a backend joining or leaving moves
// about its own share of clients only. A client's slot is a fixed hash of its
// IP modulo M, so every replica given the same backends picks the same one
// for the same client without talking to the others.
//
// What makes two replicas agree: the table depends only on the members' set,
// never on their order or ids. Each member's permutation (offset, skip) comes
// from a fixed hash of its address (IP and port, big-endian bytes, FNV-1a then
// splitmix64: the same on every platform); members are filled in a canonical
// order (by address) rather than the order they were listed in; the table
// size comes from a fixed list. The client hash is written here too (not
// IpKey::hash(), which reads the bytes in host order).
//
// Which backends are members is the registry's rule (backend_registry.h):
// enabled or draining, weight above 0. Health, the blacklist and limits do not
// change the table (a flapping backend would otherwise reshuffle everyone's
// clients twice per flap); pick() steps over such a backend at lookup time.
//
// Failover, deterministic across replicas that agree on which backends are
// usable: from the client's slot, the next slots in table order (so the
// clients of an unusable backend spread over the others by weight, as they
// would if it left), up to kProbeSlots of them; when none of those is usable,
// the members after the client's one in canonical order, once around.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/net/socket_address.h"

namespace nib {

struct MaglevMember {
  SocketAddress address;  // the identity: the permutation depends on this alone
  uint32_t weight = 1;    // 0: not in the table
  int index = -1;         // the caller's (the snapshot's backend index); lookup() returns it
  bool operator==(const MaglevMember& o) const {
    return address == o.address && weight == o.weight && index == o.index;
  }
};

class MaglevTable {
 public:
  // Slots walked from a client's own before the canonical-order scan.
  static constexpr size_t kProbeSlots = 64;
  // The table sizes, smallest first: the smallest prime >= 2^16, 2^17, ...
  // 2^24. A table has the first that is >= 100 x its members (Maglev's rule
  // of thumb, which keeps every member's share within about 1% of its weight).
  static constexpr uint64_t kSizes[] = {65537,   131101,  262147,  524309,  1048583,
                                        2097169, 4194319, 8388617, 16777259};
  static constexpr size_t kMaxMembers = 16777259 / 100;

  // Any thread (pure). The table for `members` (those of weight 0 are left
  // out); the same set in any order gives the same table. kInvalidArgument for
  // more than kMaxMembers members or an address that is not IPv4/IPv6.
  // O(M) time and memory, M = size(): build it off the hot path (the registry
  // does, when it publishes a snapshot).
  static Result<std::shared_ptr<const MaglevTable>> build(const std::vector<MaglevMember>& members);

  // Any thread. The table size M for `members` members (weight above 0).
  static uint64_t size_for(size_t members);

  // Any thread. The fixed, platform-independent hash of a client's IP that
  // lookup() and pick() take.
  static uint64_t client_hash(const IpKey& client);

  // Any thread. The member index owning the client's slot, -1 when the table
  // is empty (no member of weight above 0).
  int lookup(uint64_t hash) const {
    if (slots_.empty()) return -1;
    return members_[slots_[hash % slots_.size()]].index;
  }

  // Any thread. The first member `usable(index)` accepts, by the failover
  // rule of the header comment; -1 when none is. `usable` is called at most
  // kProbeSlots + members times.
  template <typename Usable>
  int pick(uint64_t hash, const Usable& usable) const {
    if (slots_.empty()) return -1;
    const size_t m = slots_.size();
    const size_t home = hash % m;
    uint32_t last = kNone;
    for (size_t step = 0; step < kProbeSlots; ++step) {
      const uint32_t pos = slots_[(home + step) % m];
      if (pos == last) continue;  // runs of one member: asked once
      last = pos;
      if (usable(members_[pos].index)) return members_[pos].index;
    }
    const size_t n = members_.size();
    for (size_t step = 1; step < n; ++step) {
      const size_t pos = (slots_[home] + step) % n;
      if (usable(members_[pos].index)) return members_[pos].index;
    }
    return -1;
  }

  // Any thread. Slots (M of them), each a position in members().
  const std::vector<uint32_t>& slots() const { return slots_; }
  // Any thread. The members of weight above 0, in canonical (address) order.
  const std::vector<MaglevMember>& members() const { return members_; }
  uint64_t size() const { return slots_.size(); }
  // Any thread. Whether this table was built from exactly `members` (the
  // registry reuses it then instead of building an equal one).
  bool built_from(const std::vector<MaglevMember>& members) const { return input_ == members; }

 private:
  static constexpr uint32_t kNone = 0xffffffffu;
  std::vector<MaglevMember> input_;    // as given, for built_from()
  std::vector<MaglevMember> members_;  // weight > 0, canonical order
  std::vector<uint32_t> slots_;
};

}  // namespace nib
