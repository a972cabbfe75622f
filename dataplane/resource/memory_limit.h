#pragma once
// How much memory the process may use, for the relay buffers' share
// (limits::kRelayMemoryDivisor): physical memory, or the cgroup's limit
// (v2 memory.max, v1 memory.limit_in_bytes) when that is smaller.
#include <cstdint>

namespace nib {

// 0 when nothing can be read.
uint64_t memory_limit_bytes();

// What all TCP workers' relay buffers may hold together (limits.h).
uint64_t relay_memory_budget(uint64_t memory_limit);

}  // namespace nib
