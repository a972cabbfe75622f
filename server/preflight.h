#pragma once
// What the real start reads before it serves, checked without binding or
// changing anything, so `nib --check` passes only a configuration that would
// start: the admin token file and TLS files (when the admin plane is on), and
// the state file (it parses, fits the configuration, and its directory takes
// the writes every change will make). The real start uses the same functions.
#include "dataplane/base/status.h"
#include "server/config/app_config.h"

namespace nib {

// The first problem, with the file it is about; kInvalidArgument or kUnavailable.
Status preflight(const AppConfig& config);

// As Pen: the control port (-C; no authentication) is not opened by root
// unless nib drops to -u USER once it is bound, or --allow-root-control says
// so. Pen starts without the port (a debug line); nib refuses to start.
Status check_root_control(const AppConfig& config);

// With --state: what the state file cannot hold. It names backends by
// address, so a server Pen's command line lists twice cannot be saved.
Status check_savable(const DataplaneConfig& config);

}  // namespace nib
