#pragma once
// The sole owner of a service's backends and policy. Readers take an immutable
// snapshot; every change publishes a new one and bumps the generation, so a
// worker checks one atomic per new connection and refreshes only on change.
#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "dataplane/balancer/policy.h"
#include "dataplane/config/service_config.h"
#include "dataplane/registry/backend.h"

namespace nib {

struct RegistrySnapshot {
  uint64_t generation = 0;
  BackendList backends;              // in configured order (Pen's server numbers)
  std::shared_ptr<Backend> emergency;  // may be null
  PolicyConfig policy;
  Duration connect_timeout{};
  Duration idle_timeout{};           // zero = never
  uint32_t max_connections = 0;      // zero = unlimited

  // Index of backend `id` in `backends`, -1 when it is not there.
  int index_of(uint32_t id) const;

  std::unordered_map<uint32_t, int> index_by_id;
};

class BackendRegistry {
 public:
  explicit BackendRegistry(unsigned workers) : workers_(workers) {}

  // Any thread. Makes the registry match `config`: backends with the same
  // address keep their id and counters, new ones get fresh ids, missing ones
  // leave (their open connections finish).
  void apply(const ServiceConfig& config);

  // Any thread.
  std::shared_ptr<const RegistrySnapshot> snapshot() const;
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  std::shared_ptr<Backend> reuse_or_create(const BackendConfig& config, const RegistrySnapshot* old);

  const unsigned workers_;
  mutable std::mutex mutex_;
  std::shared_ptr<const RegistrySnapshot> current_ = std::make_shared<RegistrySnapshot>();
  std::atomic<uint64_t> generation_{0};
  uint32_t next_id_ = 1;
};

}  // namespace nib
