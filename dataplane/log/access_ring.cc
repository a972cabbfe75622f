#include "dataplane/log/access_ring.h"

#include <bit>

namespace nib {

AccessRing::AccessRing(uint32_t capacity)
    : mask_(std::bit_ceil(static_cast<uint64_t>(capacity == 0 ? 1 : capacity)) - 1),
      slots_(new AccessRecord[mask_ + 1]) {}

}  // namespace nib
