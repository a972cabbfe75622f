#pragma once
// Wires a parsed command line to the dataplane and runs until a signal says
// stop. Signals are taken synchronously on the main thread (sigwaitinfo), so no
// handler runs in async-signal context.
//
// Lifetimes: what serve() starts is one App::Running, a struct whose members
// are the components in start order (dataplane first, then what reads it).
// They are started top to bottom and, being members, destroyed bottom to top;
// each component's destructor stops it. So every admin front end stops before
// the dataplane it reads, and a start that fails half way stops exactly what
// had started, without rollback code.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "dataplane/base/status.h"
#include "server/config/pen_args.h"

namespace nib {

namespace admin {
struct SavedState;
}
class Dataplane;
class DnsDiscovery;
class PrivilegeDrop;

class App {
 public:
  explicit App(CommandLine command_line);
  ~App();

  // Returns the process exit status: 0 after a clean stop, 2 when the
  // configuration or the start failed. With Pen's abort_on_error (set at
  // start or since by penctl) a non-zero status aborts instead, for a core.
  int run();

 private:
  struct Running;  // the started components, in start order (app.cc)

  // Runs the dataplane until SIGTERM/SIGINT; logs ready_message once listening.
  int serve(AppConfig config, const std::string& ready_message = "");
  int run_action();  // help, version, check, demo or run
  int run_demo();
  // Starts the components of `running` in declaration order; the first error
  // (with its operator hint) comes back, and what started stays in `running`
  // for its destructor to stop.
  Status start(Running& running);
  // backends_from (config_): a discovery counting its lookups in running's stats.
  // `drained`: what the discovery a reload stopped had drained (DnsDiscovery::Drained).
  std::unique_ptr<DnsDiscovery> start_discovery(Running& running,
                                                const std::map<std::string, std::set<std::string>>& drained = {});
  // Main thread, once everything is bound and open: -u/-j (when asked), then
  // the dataplane's workers, which inherit what the drop kept.
  Status start_workers_after_drop(PrivilegeDrop& privileges, Dataplane& dataplane);
  // Main thread: -u/-j, then a check that the state file can still be written.
  Status drop_privileges(PrivilegeDrop& privileges);
  // Main thread only, like the three below: they run between signals.
  void on_reload(Running& running);
  std::optional<admin::SavedState> saved_runtime_state(Running& running);
  void on_status_request(Running& running);
  // Stops accepting and waits for open connections, up to the grace period or
  // a second signal. True when every connection finished.
  bool drain(Running& running);

  CommandLine command_line_;
  AppConfig config_;
};

}  // namespace nib
