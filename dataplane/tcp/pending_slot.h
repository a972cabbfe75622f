#pragma once
// One client counted in its service's pending (pending_max): taken by the
// worker's reserve() before accept(), handed to the connection with the
// client, and given back once that connection reaches a backend or closes.
// Giving it back also wakes the listeners parked at the cap, on any worker;
// that pairing lives here only. Move-only; an empty slot gives nothing back.
#include <utility>

#include "dataplane/resource/fd_budget.h"
#include "dataplane/service/service.h"

namespace nib {

class PendingSlot {
 public:
  PendingSlot() = default;
  // The caller has counted it (Service::try_begin_pending).
  PendingSlot(Service& service, FdBudget& budget) : service_(&service), budget_(&budget) {}
  PendingSlot(PendingSlot&& o) noexcept
      : service_(std::exchange(o.service_, nullptr)), budget_(std::exchange(o.budget_, nullptr)) {}
  PendingSlot& operator=(PendingSlot&& o) noexcept {
    if (this != &o) {
      release();
      service_ = std::exchange(o.service_, nullptr);
      budget_ = std::exchange(o.budget_, nullptr);
    }
    return *this;
  }
  ~PendingSlot() { release(); }

  // The thread that holds it. Idempotent.
  void release() {
    if (service_ == nullptr) [[likely]] return;
    std::exchange(service_, nullptr)->end_pending();
    budget_->wake_parked();  // a listener paused at pending_max takes the next client
  }

 private:
  Service* service_ = nullptr;
  FdBudget* budget_ = nullptr;
};

}  // namespace nib
