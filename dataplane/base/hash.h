#pragma once
// The one 64-bit mixer the dataplane's hash tables share (the client table,
// UDP sessions, IpKey::hash): every input bit reaches every output bit, so
// neighbouring addresses (127.0.0.2, .3, ...) spread over the whole range,
// unlike Pen's address-modulo-count. Not a defence by itself: each table
// mixes in its own random seed.
#include <cstdint>

namespace nib {

// The splitmix64 finaliser.
constexpr uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace nib
