#pragma once
// The running Dataplane (and the admin core over it) the admin-plane fuzz targets (REST, penctl) drive:
// service "web" on an ephemeral loopback port with two backends that are
// never contacted (no health check), one worker. Starting a Dataplane per
// input would cost more than the input; reset() instead puts back what the
// configuration and the first capture said, so each input starts from about
// the same state (the blacklist and the client table are not reset; no input
// fills the client table: nothing connects).
#include <optional>

#include "admin/core/admin_api.h"
#include "admin/state/state_store.h"
#include "dataplane/dataplane.h"

namespace nib::fuzz {

class FuzzDataplane {
 public:
  // Starts it on first use; aborts if it cannot (the target is useless then).
  static FuzzDataplane& instance();

  Dataplane& dataplane() { return dataplane_; }
  // The admin core over it (no state file), what every front end calls.
  admin::AdminApi& api() { return api_; }
  // After each input. Aborts when the reset fails: an input the admin plane
  // accepted left a state it cannot restore, which is a finding.
  void reset();

 private:
  FuzzDataplane();
  static DataplaneConfig make_config();

  DataplaneConfig config_;
  Dataplane dataplane_;
  admin::AdminApi api_{dataplane_};
  admin::SavedState baseline_;
  // Where "web" listens after the last reset: penctl's `listen` may move it,
  // and a reload refuses a listen change, so reset() moves it back first.
  std::optional<SocketAddress> bound_;
};

}  // namespace nib::fuzz
