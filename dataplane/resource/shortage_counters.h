#pragma once
// nib's own shortages (issue 17, finding 2): a descriptor, memory, a splice
// pipe or a local port the process could not have. They are never a
// backend's fault: nothing is blacklisted or failed over for them; the
// client that could not be served is closed and accepting pauses instead.
// Each is counted (nib_resource_exhausted_total{resource}) and logged once
// per burst (limits::kShortageQuietMs), never once per retry.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace nib {

enum class Resource : uint8_t { kFd, kMemory, kPipe, kPort };
inline constexpr size_t kResourceKinds = 4;
inline constexpr std::array<Resource, kResourceKinds> kAllResources = {Resource::kFd, Resource::kMemory,
                                                                       Resource::kPipe, Resource::kPort};
// "fd", "memory", "pipe", "port": the metric's label values.
const char* to_string(Resource resource);

// The shortage a failed call's errno stands for, if any: EMFILE, ENFILE ->
// kFd; ENOMEM, ENOBUFS -> kMemory; for connect() also EADDRNOTAVAIL and
// EAGAIN (no local port left) -> kPort. Anything else is not nib's.
std::optional<Resource> shortage_of(int err, bool connecting = false);

// Summed over threads.
struct ShortageCounts {
  std::array<uint64_t, kResourceKinds> exhausted{};
  uint64_t operator[](Resource r) const { return exhausted[static_cast<size_t>(r)]; }
};

// The shortages one thread ran into (a worker, the health checker): one
// writer, any reader, as Backend's counter slots.
class ShortageCounters {
 public:
  // Owner thread only. Counts one shortage; true when it is the first of a
  // burst of this resource anywhere in the process: the caller logs one line.
  // Pipe shortages (relays copy instead) are counted, never logged.
  bool record(Resource resource);
  // Any thread.
  void add_to(ShortageCounts& sum) const;

 private:
  alignas(64) std::array<std::atomic<uint64_t>, kResourceKinds> cells_{};
  // Owner thread only: this thread's last shortage of each resource, so a
  // burst touches the process-wide clock once per quiet period, not per event.
  std::array<int64_t, kResourceKinds> last_seen_ns_{};
  std::array<int64_t, kResourceKinds> published_ns_{};  // when it last told the process
};

}  // namespace nib
