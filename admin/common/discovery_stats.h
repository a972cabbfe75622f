#pragma once
// Backends from DNS (server/discovery), for /metrics: how each service's
// lookups went (nib_discovery_lookups_total{service,result}) and how many
// backends its last good lookup gave (nib_discovery_backends{service}). One
// instance per process, owned by the server: a reload replaces the discovery
// but not these counters, so they never go backwards. Any thread.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace nib::admin {

class DiscoveryStats {
 public:
  // One lookup of `service`'s name: `result` is "ok", "nxdomain", "timeout", ...
  void count_lookup(const std::string& service, const std::string& result) {
    std::lock_guard lock(mu_);
    ++lookups_[{service, result}];
  }
  void set_backends(const std::string& service, uint32_t backends) {
    std::lock_guard lock(mu_);
    backends_[service] = backends;
  }

  struct Snapshot {
    std::map<std::pair<std::string, std::string>, uint64_t> lookups;  // (service, result) -> count
    std::map<std::string, uint32_t> backends;
  };
  Snapshot snapshot() const {
    std::lock_guard lock(mu_);
    return Snapshot{lookups_, backends_};
  }

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> lookups_;
  std::map<std::string, uint32_t> backends_;
};

}  // namespace nib::admin
