#pragma once
// Everything the nib binary is told: the dataplane's services plus the
// process-level settings. Built from Pen's command line or from a YAML file.
#include <string>
#include <vector>

#include "admin/common/admin_limits.h"
#include "dataplane/base/log.h"
#include "dataplane/config/service_config.h"
#include "server/config/registry_config.h"
#include "server/discovery/dns_discovery_config.h"

namespace nib {

// The admin plane's listeners (loopback by default: the admin API changes the
// dataplane, so it is not exposed unless asked for). Read once at start; a
// SIGHUP reload does not move them.
struct AdminConfig {
  bool enabled = true;                          // --no-admin, admin.enabled
  // Which listeners run when enabled: both for YAML and --demo; with Pen's
  // command line only those asked for (--admin-http, --admin-grpc, --admin).
  bool serve_http = true;
  bool serve_grpc = true;
  std::string http_listen = "127.0.0.1:9901";   // --admin-http, admin.http_listen
  std::string grpc_listen = "127.0.0.1:9902";   // --admin-grpc, admin.grpc_listen
  // Bearer tokens ("admin <token>" / "readonly <token>" lines); empty = no
  // auth. Only the path is kept here: the tokens are read when the admin
  // plane starts and never logged.
  std::string token_file;                       // --admin-token-file, admin.token_file
  // TLS for both admin APIs: a PEM certificate (chain) and its key; both or
  // neither. Read and checked when the admin plane starts.
  std::string tls_cert_file;                    // --admin-tls-cert, admin.tls_cert_file
  std::string tls_key_file;                     // --admin-tls-key, admin.tls_key_file
  // Runtime changes made through the admin APIs, saved here and restored at
  // start (admin/state/state_store.h); empty = not saved.
  std::string state_file;                       // --state, admin.state_file
  // Pen's control port (penctl protocol, no authentication); empty = none.
  // "host:port"; Pen's bare "port" means 127.0.0.1:port here.
  std::string penctl_listen;                    // -C, admin.penctl_listen
  // Pen's -X: the control port's `exit` command stops nib as SIGTERM does.
  bool penctl_exit = false;                     // -X
  // Pen's -F: a file of penctl commands applied at start (after the command
  // line) and re-read on SIGHUP; `write` without a FILE writes it. Pen's
  // command line only.
  std::string penctl_file;                      // -F
  // Pen's -o/-O ACL commands ("acl N ...", "no acl N", "client_acl N",
  // "control_acl N"), applied through the control port's interpreter at
  // start, before -F. Pen's command line only.
  std::vector<std::string> penctl_commands;     // -o "acl ..."
  // As Pen, nib will not open the control port as root without -u (it has no
  // authentication); this allows it.
  bool allow_root_control = false;              // --allow-root-control (command line only)
  // Connections, deadlines, sizes and streams of all three (admin.limits;
  // docs/operations.md, "Admin plane limits").
  admin::AdminLimits limits;                    // admin.limits
};

struct AppConfig {
  DataplaneConfig dataplane;
  std::string config_path;   // the YAML file, when there is one (SIGHUP reloads it)
  std::string pid_file;      // -p, written once the listeners are bound
  std::string status_file;   // -w, Pen's HTML status page, written on SIGUSR1
  double shutdown_grace_seconds = 30;  // SIGTERM: how long open connections may finish
  int verbosity = 0;         // -d (repeatable): 1 debug, 2 trace
  // Pen's background mode (its command line without -f): fork once the
  // listeners are bound, log to syslog. YAML and --demo stay in the foreground.
  bool daemonize = false;
  // Pen's abort_on_error (-o abort_on_error): exit with a failure by abort(),
  // for a core file. penctl turns it on and off at runtime.
  bool abort_on_error = false;
  // The event log: to syslog in the foreground too (--syslog), and its stderr
  // lines as text or JSON objects (--log-format). dataplane/base/log.h.
  bool syslog = false;
  LogFormat log_format = LogFormat::kText;
  // Least privilege (server/privilege_drop.h): once every port is bound and
  // every file open, chroot to `jail` and run as `user`. Read once at start.
  std::string user;          // -u, --user, YAML user
  std::string jail;          // -j, --chroot, YAML chroot
  AdminConfig admin;
  // The registry replicas share (registry:, --registry-etcd); read once at
  // start. With one, it keeps the runtime state instead of --state.
  RegistryConfig registry;
  // Services' backends_from (YAML only): backends found in DNS records,
  // server/discovery/dns_discovery.h. Changed by a reload.
  std::vector<DnsDiscoveryConfig> backends_from;
};

}  // namespace nib
