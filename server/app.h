#pragma once
// Wires a parsed command line to the dataplane and runs until a signal says
// stop. Signals are taken synchronously on the main thread (sigwaitinfo), so no
// handler runs in async-signal context.
#include <memory>
#include <optional>
#include <string>

#include "admin/common/admin_plane_stats.h"
#include "dataplane/base/status.h"
#include "server/config/pen_args.h"

namespace nib {

class Dataplane;
namespace admin {
class AdminApi;
class GrpcAdminServer;
class StateWriter;
class PenctlServer;
struct SavedState;
}

class App {
 public:
  explicit App(CommandLine command_line);
  ~App();

  // Returns the process exit status: 0 after a clean stop, 2 when the
  // configuration or the start failed.
  int run();

 private:
  // Runs the dataplane until SIGTERM/SIGINT; logs ready_message once listening.
  int serve(AppConfig config, const std::string& ready_message = "");
  int run_demo();
  void on_reload();
  std::optional<admin::SavedState> saved_runtime_state();
  void on_status_request();
  bool drain_and_stop();
  void write_pid_file();
  // The gRPC admin server (nibctl's endpoint), when config_.admin.enabled and serve_grpc.
  Status start_grpc_admin();
  void stop_grpc_admin();

  CommandLine command_line_;
  AppConfig config_;
  // The admin plane's limit hits and open connections, shared by its three
  // servers and served on /metrics; before them, so it outlives them.
  admin::AdminPlaneStats admin_stats_;
  std::unique_ptr<Dataplane> dataplane_;
  // The admin core every admin front end (gRPC, HTTP, penctl) calls; after
  // dataplane_ and before the front ends, so it outlives them.
  std::unique_ptr<admin::AdminApi> admin_api_;
  // Declared after dataplane_: destroyed first, since it serves from it.
  std::unique_ptr<admin::GrpcAdminServer> grpc_admin_;
  // --state: saves runtime changes; after dataplane_ for the same reason.
  std::unique_ptr<admin::StateWriter> state_writer_;
  // -C: Pen's control port; after dataplane_ for the same reason.
  std::unique_ptr<admin::PenctlServer> penctl_;
};

}  // namespace nib
