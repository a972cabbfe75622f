#include "dataplane/resource/memory_limit.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "dataplane/config/limits.h"

namespace nib {
namespace {

// A cgroup limit file's number; 0 for "max", a missing file or garbage.
uint64_t read_limit(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return 0;
  try {
    return std::stoull(text);
  } catch (...) {  // out of range: as good as unlimited
    return 0;
  }
}

}  // namespace

uint64_t memory_limit_bytes() {
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page = ::sysconf(_SC_PAGESIZE);
  uint64_t limit = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
  for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    uint64_t cgroup = read_limit(path);
    if (cgroup != 0 && (limit == 0 || cgroup < limit)) limit = cgroup;
  }
  return limit;
}

uint64_t relay_memory_budget(uint64_t memory_limit) {
  return std::max(limits::kRelayMemoryMinBytes, memory_limit / limits::kRelayMemoryDivisor);
}

}  // namespace nib
