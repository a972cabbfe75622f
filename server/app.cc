#include "server/app.h"

#include <signal.h>
#include <unistd.h>

#include <ctime>
#include <iostream>

#include "admin/core/admin_api.h"
#include "admin/grpc/grpc_admin_server.h"
#include "admin/http/http_admin_server.h"
#include "admin/pages/pen_status_page.h"
#include "admin/penctl/penctl_server.h"
#include "admin/state/state_store.h"
#include "admin/state/state_writer.h"
#include "dataplane/base/atomic_file.h"
#include "dataplane/base/log.h"
#include "dataplane/dataplane.h"
#include "server/config/yaml_loader.h"
#include "server/daemon.h"
#include "server/demo_backend.h"
#include "server/preflight.h"

namespace nib {
namespace {

constexpr int kExitConfig = 2;

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&set, s);
  return set;
}

std::string wall_clock_text() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace

App::App(CommandLine command_line) : command_line_(std::move(command_line)) {}
App::~App() = default;

int App::run() {
  switch (command_line_.action) {
    case CommandLine::Action::kHelp:
      std::cout << PenArgs::usage();
      return 0;
    case CommandLine::Action::kVersion:
      std::cout << "nib " << NIB_VERSION << "\n";
      return 0;
    case CommandLine::Action::kCheck:
      if (Status st = preflight(command_line_.config); !st.ok()) {
        std::cerr << "nib: " << st.message() << "\n";
        return kExitConfig;
      }
      std::cout << "configuration OK: " << command_line_.config.dataplane.services.size() << " service(s)\n";
      return 0;
    case CommandLine::Action::kDemo:
      return run_demo();
    case CommandLine::Action::kRun:
      break;
  }
  return serve(command_line_.config);
}

int App::run_demo() {
  // The demo backends start threads before serve() does: block the signals
  // first, or a SIGINT could land on a backend thread and kill the process
  // instead of stopping it cleanly.
  sigset_t set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  DemoBackend one("1"), two("2");
  for (DemoBackend* b : {&one, &two}) {
    if (Status st = b->start(); !st.ok()) {
      log_error("demo backend: " + st.message());
      return 1;
    }
  }
  AppConfig config = command_line_.config;
  ServiceConfig demo;
  demo.name = "demo";
  demo.listen = *SocketAddress::parse("127.0.0.1:8080");
  for (DemoBackend* b : {&one, &two}) {
    BackendConfig bc;
    bc.address = *SocketAddress::from_ip("127.0.0.1", b->port());
    bc.host = "127.0.0.1";
    demo.backends.push_back(bc);
  }
  config.dataplane.services = {demo};
  log_info("demo: two backends on 127.0.0.1:" + std::to_string(one.port()) + " and 127.0.0.1:" +
           std::to_string(two.port()) + ", nib in front of them on 127.0.0.1:8080");
  return serve(config,
               "demo: try  curl http://127.0.0.1:8080/  (the same client always gets the same backend; "
               "curl --interface 127.0.0.2 http://127.0.0.1:8080/ is a second client). Ctrl-C stops.");
}

int App::serve(AppConfig config, const std::string& ready_message) {
  config_ = std::move(config);
  Log::set_level(config_.verbosity >= 2 ? LogLevel::kTrace
                 : config_.verbosity == 1 ? LogLevel::kDebug
                                          : LogLevel::kInfo);
  // Pen's background mode: fork before any thread starts; the parent waits
  // until this process is ready or has failed, so a startup error still ends
  // the command with status 2 (server/daemon.h).
  std::optional<Daemon> daemon;
  if (config_.daemonize) {
    auto detached = Daemon::detach();
    if (!detached.ok()) {
      log_error("cannot start in the background: " + detached.status().message() + "; -f stays in the foreground");
      return kExitConfig;
    }
    daemon.emplace(std::move(*detached));
  }
  // Block before any thread starts: every thread inherits the mask, and the
  // main thread takes the signals with sigwaitinfo.
  sigset_t set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // ---- Saved runtime state (--state): read before anything binds, so a
  // corrupt file stops nib with nothing touched.
  std::optional<admin::SavedState> saved_state;
  if (!config_.admin.state_file.empty()) {
    if (Status st = check_savable(config_.dataplane); !st.ok()) {
      log_error("cannot start: " + st.message());
      return kExitConfig;
    }
    auto loaded = admin::load_state_file(config_.admin.state_file);
    if (!loaded.ok()) {
      log_error("cannot start: " + loaded.status().message() + "; fix or remove the file");
      return kExitConfig;
    }
    saved_state = std::move(*loaded);
    // Every change will be saved here: a path that cannot be written must stop
    // the start, not fail each change later.
    if (Status st = check_writable(config_.admin.state_file); !st.ok()) {
      log_error("cannot start: state file " + config_.admin.state_file + ": " + st.message());
      return kExitConfig;
    }
  }
  DataplaneConfig dataplane_config = config_.dataplane;
  if (saved_state) admin::apply_to_config(*saved_state, &dataplane_config);
  // ---- end of the saved state block
  dataplane_ = std::make_unique<Dataplane>(dataplane_config);
  if (Status st = dataplane_->start(); !st.ok()) {
    log_error("cannot start: " + st.message());
    dataplane_.reset();
    return kExitConfig;
  }
  // ---- Saved runtime state: restored over the configuration, then saved on
  // every change from here on.
  if (saved_state) {
    std::vector<std::string> skipped;
    if (Status st = admin::restore_state(*dataplane_, *saved_state, &skipped); !st.ok()) {
      log_error("cannot start: " + st.message() + " (" + config_.admin.state_file + ")");
      dataplane_->stop();
      dataplane_.reset();
      return kExitConfig;
    }
    for (const auto& name : skipped) {
      log_warn("state file " + config_.admin.state_file + ": service '" + name +
               "' is not in the configuration; its saved state is dropped");
    }
    log_info("restored runtime state from " + config_.admin.state_file);
  }
  if (!config_.admin.state_file.empty()) {
    state_writer_ = std::make_unique<admin::StateWriter>(*dataplane_, config_.admin.state_file);
    state_writer_->start();
  }
  // ---- end of the saved state block
  // ---- The admin core: every front end below acts through it; it keeps
  // each change in the state file (when there is one) before answering.
  admin_api_ = std::make_unique<admin::AdminApi>(*dataplane_, state_writer_.get());
  // ---- end of the admin core block
  for (const auto& s : dataplane_->status()) {
    log_info("service " + s.name + ": listening on " + s.listen.to_string() + " (" + to_string(s.protocol) +
             ", mode " + to_string(s.policy.mode) + ", " + std::to_string(s.backends.size()) + " backend(s), " +
             std::to_string(dataplane_->workers()) + " worker(s), max " + std::to_string(s.max_connections) +
             " connections)");
    if (debug_on()) {  // Pen's -d start-up listing
      for (const auto& b : s.backends) {
        log_debug("service " + s.name + " server " + std::to_string(b.index) + " " + b.address.to_string() + " max " +
                  std::to_string(b.soft_limit) + " hard " + std::to_string(b.hard_limit) + " weight " +
                  std::to_string(b.weight) + " prio " + std::to_string(b.prio));
      }
    }
  }
  // ---- Admin plane: gRPC (nib.admin.v1, health, reflection). Up before the
  // pid file, which tells scripts and tests that nib is ready.
  if (Status st = start_grpc_admin(); !st.ok()) {
    log_error("cannot start: " + st.message());
    dataplane_->stop();
    dataplane_.reset();
    return kExitConfig;
  }
  // ---- end of the gRPC admin block
  // ---- Pen's control port (-C), also before the pid file.
  if (!config_.admin.penctl_listen.empty()) {
    penctl_ = std::make_unique<admin::PenctlServer>(
        *admin_api_, admin::PenctlServerOptions{.listen = config_.admin.penctl_listen,
                                                .limits = config_.admin.limits.penctl,
                                                .stats = &admin_stats_});
    if (Status st = penctl_->start(); !st.ok()) {
      log_error("cannot start: " + st.message());
      penctl_.reset();
      stop_grpc_admin();
      dataplane_->stop();
      dataplane_.reset();
      return kExitConfig;
    }
    log_info("control port (penctl) on " + config_.admin.penctl_listen + "; it has no authentication");
  }
  // ---- end of the control port block
  // ---- Admin plane: HTTP (REST API, events, /metrics, probes, pages), also
  // before the pid file. A busy port or a bad token file stops nib here.
  std::unique_ptr<admin::HttpAdminServer> http_admin;
  if (config_.admin.enabled && config_.admin.serve_http) {
    admin::HttpAdminOptions options;
    options.listen = config_.admin.http_listen;
    options.token_file = config_.admin.token_file;
    options.tls = {config_.admin.tls_cert_file, config_.admin.tls_key_file};
    options.limits = config_.admin.limits.http;
    options.stats = &admin_stats_;
    http_admin = std::make_unique<admin::HttpAdminServer>(*admin_api_, options);
    if (Status st = http_admin->start(); !st.ok()) {
      bool busy = st.code() == StatusCode::kUnavailable;  // the port, not the token file
      log_error("cannot start: " + st.message() +
                (busy ? "; choose another address with --admin-http IP:PORT (YAML: admin.http_listen) or turn "
                        "the admin plane off with --no-admin"
                      : ""));
      http_admin.reset();
      stop_grpc_admin();
      dataplane_->stop();
      dataplane_.reset();
      return kExitConfig;
    }
  }
  // ---- end of the HTTP admin block
  write_pid_file();
  if (!ready_message.empty()) log_info(ready_message);
  if (daemon) {
    log_info("running in the background as process " + std::to_string(::getpid()) +
             "; logging to syslog from now on (-f keeps nib in the foreground)");
    daemon->ready();
  }

  for (;;) {
    siginfo_t info{};
    int sig = sigwaitinfo(&set, &info);
    if (sig == SIGHUP) on_reload();
    if (sig == SIGUSR1) on_status_request();
    if (sig == SIGTERM || sig == SIGINT) break;
  }
  if (http_admin) http_admin->set_shutting_down();  // HTTP admin: /readyz fails from now on
  bool clean = drain_and_stop();
  if (http_admin) http_admin->stop();  // HTTP admin: kept through the drain, like gRPC
  if (!config_.pid_file.empty()) ::unlink(config_.pid_file.c_str());
  log_info(clean ? "stopped" : "stopped after the grace period; remaining connections were closed");
  return 0;
}

bool App::drain_and_stop() {
  int64_t open = dataplane_->open_connections();
  log_info("shutting down: no new connections; waiting up to " +
           std::to_string(static_cast<int>(config_.shutdown_grace_seconds)) + " s for " + std::to_string(open) +
           " open connection(s)");
  dataplane_->stop_accepting();
  // A second SIGTERM/SIGINT during the grace period stops at once.
  sigset_t set = handled_signals();
  MonoTime deadline = MonoClock::now() + seconds_to_duration(config_.shutdown_grace_seconds);
  bool clean = true;
  while (dataplane_->open_connections() > 0) {
    if (MonoClock::now() >= deadline) {
      clean = false;
      break;
    }
    timespec wait{0, 50 * 1000 * 1000};
    int sig = sigtimedwait(&set, nullptr, &wait);
    if (sig == SIGTERM || sig == SIGINT) {
      clean = false;
      break;
    }
    if (sig == SIGUSR1) on_status_request();
  }
  stop_grpc_admin();  // kept through the grace period: operators watch the drain with it
  penctl_.reset();
  if (admin_api_) admin_api_->set_state_writer(nullptr);
  state_writer_.reset();  // writes what is pending while the dataplane can still be read
  dataplane_->stop();
  return clean;
}

Status App::start_grpc_admin() {
  if (!config_.admin.enabled || !config_.admin.serve_grpc) return {};
  grpc_admin_ = std::make_unique<admin::GrpcAdminServer>(
      *admin_api_, admin::GrpcAdminServerOptions{.listen = config_.admin.grpc_listen,
                                                 .token_file = config_.admin.token_file,
                                                 .tls = {config_.admin.tls_cert_file, config_.admin.tls_key_file},
                                                 .limits = config_.admin.limits.grpc,
                                                 .stats = &admin_stats_});
  if (Status st = grpc_admin_->start(); !st.ok()) {
    grpc_admin_.reset();
    // A bad token file names its own fix; the hint is about the address.
    if (st.message().rfind("admin token file", 0) == 0 || st.message().rfind("admin TLS", 0) == 0) return st;
    return Status(st.code(), st.message() + "; choose another address with --admin-grpc IP:PORT (YAML: "
                                            "admin.grpc_listen) or turn the admin plane off with --no-admin");
  }
  log_info("admin gRPC API on " + grpc_admin_->address() + " (nibctl --addr " + grpc_admin_->address() +
           (grpc_admin_->tls_enabled() ? " --tls, " : ", ") +
           (grpc_admin_->auth_enabled() ? "tokens from " + config_.admin.token_file
                                        : std::string("no authentication")) +
           ")");
  return {};
}

void App::stop_grpc_admin() {
  if (!grpc_admin_) return;
  grpc_admin_->stop(std::chrono::seconds(1));
  grpc_admin_.reset();
}

void App::write_pid_file() {
  if (config_.pid_file.empty()) return;
  if (Status st = write_file_atomically(config_.pid_file, std::to_string(::getpid()) + "\n", 0644); !st.ok()) {
    log_error("cannot write pid file " + config_.pid_file + ": " + st.message());
  }
}

void App::on_reload() {
  if (config_.config_path.empty()) {
    log_warn("SIGHUP: nib was started from the command line; there is no config file to reload");
    return;
  }
  auto loaded = YamlLoader::load_file(config_.config_path);
  if (!loaded.ok()) {
    log_error("reload failed, keeping the running configuration: " + loaded.status().message());
    return;
  }
  // With --state the runtime view (backends, policy) is what a restart would
  // restore, so a reload keeps it too, as at start; the rest of the file applies.
  DataplaneConfig next = loaded->dataplane;
  std::string kept;
  if (std::optional<admin::SavedState> runtime = saved_runtime_state()) {
    admin::apply_to_config(*runtime, &next);
    for (const auto& s : runtime->services) kept += (kept.empty() ? "" : ", ") + s.name;
  }
  if (Status st = dataplane_->reload(next); !st.ok()) {
    log_error("reload failed, keeping the running configuration: " + st.message());
    return;
  }
  config_.dataplane = loaded->dataplane;
  config_.shutdown_grace_seconds = loaded->shutdown_grace_seconds;
  log_info("reloaded " + config_.config_path +
           (kept.empty() ? std::string()
                         : "; kept the runtime backends and policy of " + kept + " (--state " +
                               config_.admin.state_file + "; delete it and restart to take the file's)"));
}

// What --state holds now (nothing before the first change through the API, so
// until then the file's backend lists apply on reload).
std::optional<admin::SavedState> App::saved_runtime_state() {
  if (!state_writer_) return std::nullopt;
  if (Status st = state_writer_->commit(); !st.ok()) {
    log_warn("reload: cannot save the runtime state: " + st.message() + "; keeping what nib runs");
    return admin::capture_state(*dataplane_);
  }
  auto saved = admin::load_state_file(config_.admin.state_file);
  if (!saved.ok()) {
    log_warn("reload: " + saved.status().message() + "; keeping what nib runs");
    return admin::capture_state(*dataplane_);
  }
  return *saved;
}

void App::on_status_request() {
  PenStatusInput in;
  in.services = dataplane_->status();
  for (const auto& s : in.services) in.clients.push_back(dataplane_->clients(s.name));
  in.connections = dataplane_->connections();
  in.now = MonoClock::now();
  in.generated_at = wall_clock_text();
  for (const auto& s : in.services) {
    for (const auto& b : s.backends) {
      log_info("service " + s.name + " server " + std::to_string(b.index) + " " + b.address.to_string() +
               ": " + std::to_string(b.active) + " open, " + std::to_string(b.counters.connections) + " total, " +
               std::to_string(b.counters.connect_failures) + " failed, " + std::to_string(b.counters.bytes_in) +
               " bytes sent, " + std::to_string(b.counters.bytes_out) + " received" +
               (b.blacklisted ? ", blacklisted" : ""));
    }
  }
  if (config_.status_file.empty()) return;
  if (Status st = write_file_atomically(config_.status_file, render_pen_status_page(in), 0644); !st.ok()) {
    log_error("cannot write status page " + config_.status_file + ": " + st.message());
  }
}

}  // namespace nib
