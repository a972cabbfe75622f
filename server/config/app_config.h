#pragma once
// Everything the nib binary is told: the dataplane's services plus the
// process-level settings. Built from Pen's command line or from a YAML file.
#include <string>

#include "dataplane/config/service_config.h"

namespace nib {

struct AppConfig {
  DataplaneConfig dataplane;
  std::string config_path;   // the YAML file, when there is one (SIGHUP reloads it)
  std::string pid_file;      // -p, written once the listeners are bound
  std::string status_file;   // -w, Pen's HTML status page, written on SIGUSR1
  double shutdown_grace_seconds = 30;  // SIGTERM: how long open connections may finish
  int verbosity = 0;         // -d (repeatable)
};

}  // namespace nib
