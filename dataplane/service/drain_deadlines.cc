#include "dataplane/service/drain_deadlines.h"

namespace nib {

DrainDeadlines::DrainDeadlines(EventLoop& loop, CloseFn close) : loop_(loop), close_(std::move(close)) {}

void DrainDeadlines::add(std::shared_ptr<Backend> backend, uint64_t generation, MonoTime deadline) {
  loop_.post([this, backend = std::move(backend), generation, deadline]() mutable {
    auto e = std::make_unique<Entry>(*this, std::move(backend), generation);
    loop_.arm(e->timer, deadline);
    entries_.push_back(std::move(e));
  });
}

void DrainDeadlines::fire(Entry* e) {
  const Backend& b = *e->backend;
  // Each close may end the drain: the last one announces it, once.
  if (b.admin_state() == AdminState::kDraining && b.drain_generation() == e->generation) close_(b);
  // Freed after this callback has returned (the timer is running it).
  loop_.post([this, e] {
    std::erase_if(entries_, [e](const std::unique_ptr<Entry>& p) { return p.get() == e; });
  });
}

}  // namespace nib
