#pragma once
// The server's one place that turns each TLS service's files into its
// terminator and its connector: at start, for --check, and at a reload.
#include <string>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/config/service_config.h"

namespace nib {

// Main thread. Makes the terminator of every service of `config` whose tls is
// enabled, and the connector (TLS toward its backends) of every service whose
// backend_tls is enabled; each is cleared for a service without it. An error
// names the service, the side ("tls" or "backend_tls") and the file; nothing
// else is kept from a failed call.
//
// A reload passes `running` (what nib runs now): a service whose files fail
// keeps the terminator (or connector) and the settings it runs with, and the
// reason goes to `kept` (one line per service and side) instead of failing the
// reload: a certificate rotated badly must not take the service down. A
// service that had no terminator (connector) before has nothing to keep: its
// error fails the call.
[[nodiscard]] Status load_tls_terminators(DataplaneConfig& config, const DataplaneConfig* running = nullptr,
                                          std::vector<std::string>* kept = nullptr);

}  // namespace nib
