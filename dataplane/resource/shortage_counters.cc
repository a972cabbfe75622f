#include "dataplane/resource/shortage_counters.h"

#include <cerrno>

#include "dataplane/base/clock.h"
#include "dataplane/config/limits.h"

namespace nib {
namespace {

// When each resource last ran short, anywhere in the process (steady ns).
std::array<std::atomic<int64_t>, kResourceKinds> g_last_shortage{};

}  // namespace

const char* to_string(Resource resource) {
  switch (resource) {
    case Resource::kFd: return "fd";
    case Resource::kMemory: return "memory";
    case Resource::kPipe: return "pipe";
    case Resource::kPort: return "port";
  }
  return "?";
}

std::optional<Resource> shortage_of(int err, bool connecting) {
  switch (err) {
    case EMFILE:
    case ENFILE: return Resource::kFd;
    case ENOMEM:
    case ENOBUFS: return Resource::kMemory;
    case EADDRNOTAVAIL:
    case EAGAIN:
      if (connecting) return Resource::kPort;
      return std::nullopt;
    default: return std::nullopt;
  }
}

bool ShortageCounters::record(Resource resource) {
  const auto i = static_cast<size_t>(resource);
  cells_[i].store(cells_[i].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // single writer
  if (resource == Resource::kPipe) return false;
  constexpr int64_t kQuietNs = limits::kShortageQuietMs * 1'000'000;
  const int64_t now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(MonoClock::now().time_since_epoch()).count();
  // A burst this thread is in already: nothing to log, nothing shared touched.
  const bool ongoing = last_seen_ns_[i] != 0 && now - last_seen_ns_[i] < kQuietNs;
  last_seen_ns_[i] = now;
  if (ongoing) {
    // Now and then, so other threads see the burst go on and stay quiet too.
    if (now - published_ns_[i] >= kQuietNs / 2) {
      g_last_shortage[i].store(now, std::memory_order_relaxed);
      published_ns_[i] = now;
    }
    return false;
  }
  published_ns_[i] = now;
  // The exchange elects one thread per burst: whoever finds the process's
  // last shortage older than the quiet time starts a new one.
  const int64_t last = g_last_shortage[i].exchange(now, std::memory_order_relaxed);
  return last == 0 || now - last >= kQuietNs;
}

void ShortageCounters::add_to(ShortageCounts& sum) const {
  for (size_t i = 0; i < kResourceKinds; ++i) sum.exhausted[i] += cells_[i].load(std::memory_order_relaxed);
}

}  // namespace nib
