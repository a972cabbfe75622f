#pragma once
// The admin core over a test's Dataplane, made on first use (and made again
// when the test started a new Dataplane). Declare it before the servers that
// use it, so it outlives them.
#include <memory>

#include "admin/core/admin_api.h"

namespace nib::admin {

class AdminCoreHolder {
 public:
  AdminApi& get(Dataplane& dp) {
    if (!api_ || &api_->dataplane() != &dp) api_ = std::make_unique<AdminApi>(dp);
    return *api_;
  }
  AdminApi& operator*() { return *api_; }
  AdminApi* operator->() { return api_.get(); }

 private:
  std::unique_ptr<AdminApi> api_;
};

}  // namespace nib::admin
