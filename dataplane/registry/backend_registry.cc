#include "dataplane/registry/backend_registry.h"

namespace nib {

int RegistrySnapshot::index_of(uint32_t id) const {
  auto it = index_by_id.find(id);
  return it == index_by_id.end() ? -1 : it->second;
}

std::shared_ptr<Backend> BackendRegistry::reuse_or_create(const BackendConfig& config,
                                                          const RegistrySnapshot* old) {
  if (old != nullptr) {
    for (const auto& b : old->backends) {
      if (b->address() == config.address) {
        b->apply(config);
        return b;
      }
    }
    if (old->emergency && old->emergency->address() == config.address) {
      old->emergency->apply(config);
      return old->emergency;
    }
  }
  return std::make_shared<Backend>(next_id_++, config, workers_);
}

void BackendRegistry::apply(const ServiceConfig& config) {
  std::lock_guard lock(mutex_);
  auto next = std::make_shared<RegistrySnapshot>();
  const RegistrySnapshot* old = current_.get();
  for (const auto& bc : config.backends) {
    next->backends.push_back(reuse_or_create(bc, old));
  }
  for (size_t i = 0; i < next->backends.size(); ++i) {
    next->index_by_id[next->backends[i]->id()] = static_cast<int>(i);
  }
  if (config.emergency) next->emergency = reuse_or_create(*config.emergency, old);
  next->policy = config.policy;
  next->connect_timeout = seconds_to_duration(config.connect_timeout_seconds);
  next->idle_timeout = seconds_to_duration(config.idle_timeout_seconds);
  next->max_connections = config.max_connections;
  next->generation = generation_.load(std::memory_order_relaxed) + 1;
  current_ = std::move(next);
  generation_.store(current_->generation, std::memory_order_release);
}

std::shared_ptr<const RegistrySnapshot> BackendRegistry::snapshot() const {
  std::lock_guard lock(mutex_);
  return current_;
}

}  // namespace nib
