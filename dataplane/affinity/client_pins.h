#pragma once
// Operator pins: every client in a prefix goes to one backend, ahead of the
// client table. A set is immutable once built; the registry publishes a new
// one inside its snapshot with each change, so a lookup takes no lock and a
// service without pins pays one null check. A lookup probes one hash map per
// distinct prefix length in use (at most 129), longest first: its cost does not
// grow with the number of pins.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "dataplane/net/ip_prefix.h"

namespace nib {

struct ClientPin {
  IpPrefix prefix;
  uint32_t backend_id = 0;
};

class ClientPins {
 public:
  // Any thread (immutable). The backend of the longest pinned prefix holding
  // `client`. No allocation.
  std::optional<uint32_t> find(const IpKey& client) const;
  // Any thread. The backend `prefix` itself is pinned to.
  std::optional<uint32_t> exact(const IpPrefix& prefix) const;
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  // Any thread. Longest prefixes first, then by address.
  std::vector<ClientPin> list() const;

  // Copies with one change, for the registry's writer. O(pins).
  ClientPins with(const IpPrefix& prefix, uint32_t backend_id) const;
  ClientPins without(const IpPrefix& prefix) const;
  ClientPins without_backend(uint32_t backend_id) const;

 private:
  struct KeyHash {
    size_t operator()(const IpKey& k) const { return static_cast<size_t>(k.hash()); }
  };
  struct Level {
    unsigned key_bits;  // IpPrefix::key_bits() of every prefix here
    std::unordered_map<IpKey, uint32_t, KeyHash> pins;  // masked address -> backend id
  };
  Level* level(unsigned key_bits);
  const Level* level(unsigned key_bits) const;

  std::vector<Level> levels_;  // longest first; none empty
  size_t size_ = 0;
};

}  // namespace nib
