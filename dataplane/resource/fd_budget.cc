#include "dataplane/resource/fd_budget.h"

#include <dirent.h>

#include <algorithm>

#include "dataplane/config/limits.h"

namespace nib {

bool FdBudget::try_acquire(uint64_t n, uint64_t keep_free) {
  uint64_t used = used_.load(std::memory_order_relaxed);
  do {
    if (used + n + keep_free > capacity()) return false;
  } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_seq_cst, std::memory_order_relaxed));
  return true;
}

void FdBudget::release(uint64_t n) {
  used_.fetch_sub(n, std::memory_order_seq_cst);
  wake_parked();
}

void FdBudget::wake_parked() {
  if (parked_.load(std::memory_order_seq_cst) > 0) [[unlikely]] {
    for (const auto& wake : wakers_) wake();
  }
}

uint64_t fd_budget_for(uint64_t limit, uint64_t open) {
  const uint64_t headroom =
      std::clamp(limit / limits::kFdHeadroomDivisor, limits::kFdHeadroomMin, limits::kFdHeadroomMax);
  return limit > open + headroom + 2 ? limit - open - headroom : 2;
}

uint64_t count_open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  uint64_t n = 0;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n > 0 ? n - 1 : 0;  // the directory's own descriptor
}

}  // namespace nib
