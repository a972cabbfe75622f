#include "server/app.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>

#include "admin/common/admin_plane_stats.h"
#include "admin/common/discovery_stats.h"
#include "admin/core/admin_api.h"
#include "admin/grpc/grpc_admin_server.h"
#include "admin/http/http_admin_server.h"
#include "admin/pages/pen_status_page.h"
#include "admin/penctl/penctl_server.h"
#include "admin/state/state_store.h"
#include "admin/state/state_writer.h"
#include "admin/registry/etcd_registry.h"
#include "server/registry_options.h"
#include "dataplane/base/atomic_file.h"
#include "dataplane/base/log.h"
#include "dataplane/base/unique_fd.h"
#include "dataplane/dataplane.h"
#include "server/config/yaml_loader.h"
#include "server/daemon.h"
#include "server/demo_backend.h"
#include "server/discovery/dns_discovery.h"
#include "server/geoip_country_lookup.h"
#include "server/pid_file.h"
#include "server/preflight.h"
#include "server/tls/certificate_watcher.h"
#include "server/tls/openssl_terminator.h"
#include "server/tls/tls_terminators.h"
#include "server/privilege_drop.h"

namespace nib {
namespace {

constexpr int kExitConfig = 2;

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&set, s);
  return set;
}

// At shutdown, calls in flight get a second to finish (the destructor alone
// would cancel them at once).
struct StopGrpcWithGrace {
  void operator()(admin::GrpcAdminServer* server) const {
    server->stop(std::chrono::seconds(1));
    delete server;
  }
};

// Whether `dir` takes new files now, through a name of its own: check_writable()
// would use the state writer's temporary file, which the writer thread may be
// writing at this very moment.
Status check_directory_writable(const std::string& dir) {
  std::string probe = dir + "/.nib-write-check-XXXXXX";
  UniqueFd fd(::mkstemp(probe.data()));
  if (!fd) {
    const int e = errno;
    const char* name = ::strerrorname_np(e);
    return Status::unavailable("cannot create a file in " + dir + ": " + std::strerror(e) + " (" +
                               (name != nullptr ? name : std::to_string(e)) + ")");
  }
  ::unlink(probe.c_str());
  return {};
}

Result<PrivilegeDrop> prepare_privilege_drop(const AppConfig& config) {
  PrivilegeOptions options{.user = config.user, .jail = config.jail};
  // Transparent sockets are made by the workers for every upstream connection
  // and UDP session, long after the drop: they keep CAP_NET_ADMIN (see
  // start_workers_after_drop). DSR's packet socket is open before the drop.
  const auto& services = config.dataplane.services;
  if (!config.user.empty() &&
      std::any_of(services.begin(), services.end(), [](const ServiceConfig& s) { return s.transparent; })) {
    options.keep.push_back(Capability::kNetAdmin);
  }
  return PrivilegeDrop::prepare(std::move(options));
}

[[noreturn]] void abort_with_core(const std::string& why) {
  log_error(why);
  rlimit core{};  // as Pen: the core may be as large as the hard limit allows
  if (::getrlimit(RLIMIT_CORE, &core) == 0 && core.rlim_cur < core.rlim_max) {
    core.rlim_cur = core.rlim_max;
    (void)::setrlimit(RLIMIT_CORE, &core);
  }
  std::abort();
}

// A reload makes the file's backend list the truth: the discovered backends
// of the services that keep a backends_from join that list, so the reload
// keeps them (ids, counters, connections, a drain) and the next discovery
// takes them over instead of adding them again. A service whose
// backends_from went away loses them (their connections finish).
void keep_discovered_backends(const Dataplane& dataplane, const std::vector<DnsDiscoveryConfig>& from,
                              DataplaneConfig* next) {
  for (auto& s : next->services) {
    if (std::none_of(from.begin(), from.end(), [&](const DnsDiscoveryConfig& c) { return c.service == s.name; })) {
      continue;
    }
    auto status = dataplane.service(s.name);
    if (!status.ok()) continue;
    for (const auto& b : status->backends) {
      if (b.source != kDnsSource) continue;
      if (std::any_of(s.backends.begin(), s.backends.end(),
                      [&](const BackendConfig& c) { return c.address == b.address; })) {
        continue;
      }
      s.backends.push_back(BackendConfig{.host = b.host,
                                         .address = b.address,
                                         .soft_limit = b.soft_limit,
                                         .hard_limit = b.hard_limit,
                                         .weight = b.weight,
                                         .prio = b.prio,
                                         .proxy_protocol = b.proxy_protocol,
                                         .source = b.source});
    }
  }
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
  Log::set_abort_on_fatal(command_line_.config.abort_on_error);  // penctl may change it while nib runs
  const int code = run_action();
  // Pen's abort_on_error: a failure leaves a core file instead of a status.
  if (code != 0 && Log::abort_on_fatal()) {
    abort_with_core("abort_on_error: exiting with status " + std::to_string(code) + " by abort()");
  }
  return code;
}

int App::run_action() {
  switch (command_line_.action) {
    case CommandLine::Action::kHelp:
      std::cout << PenArgs::usage();
      return 0;
    case CommandLine::Action::kVersion:
      std::cout << "nib " << NIB_VERSION << "\n";
      return 0;
    case CommandLine::Action::kCheck:
      // -u and -j as at start: the user must exist; relative paths are in the jail.
      if (auto drop = prepare_privilege_drop(command_line_.config); !drop.ok()) {
        std::cerr << "nib: " << drop.status().message() << "\n";
        return kExitConfig;
      }
      if (Status st = preflight(command_line_.config); !st.ok()) {
        std::cerr << "nib: " << st.message() << "\n";
        return kExitConfig;
      }
      // -F: the words only; the arguments are checked against the services at start.
      if (const std::string& f = command_line_.config.admin.penctl_file; !f.empty()) {
        if (Status st = admin::PenctlServer::check_file_words(f); !st.ok()) {
          std::cerr << "nib: " << st.message() << "\n";
          return kExitConfig;
        }
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

// The components of a running nib, in start order: App::start() starts them
// top to bottom, and the members' destruction stops them bottom to top (each
// destructor stops its component). Put a new component below everything it
// uses; nothing else is needed for a failed start or the shutdown.
struct App::Running {
  // The admin plane's limit hits and open connections, shared by its three
  // servers and served on /metrics: first, so it outlives them.
  admin::AdminPlaneStats admin_stats;
  // backends_from's lookups, on /metrics; outlives every discovery (reloads).
  admin::DiscoveryStats discovery_stats;
  // -w: where SIGUSR1 writes Pen's status page; penctl web_stats changes it.
  admin::StatusFileSetting status_file;
  // First component: outlives every reader (its destructor stops the workers).
  std::unique_ptr<Dataplane> dataplane;
  // tls.watch_interval: reads rotated certificates into the dataplane.
  std::unique_ptr<CertificateWatcher> certificate_watcher;
  // --state: the front ends commit changes through it, so it stops after them,
  // and writes what is pending while the dataplane can still be read.
  std::unique_ptr<admin::StateWriter> state_writer;
  // registry: (replicas on etcd), in place of state_writer: read before the
  // dataplane starts, its watcher applies other replicas' changes to it.
  std::unique_ptr<admin::EtcdRegistry> registry;
  // The admin core every front end below calls; it commits changes to
  // state_writer, so it comes after it and before the front ends.
  std::unique_ptr<admin::AdminApi> admin_api;
  // backends_from: adds and drains backends through the dataplane (not
  // saved); restarted by a reload.
  std::unique_ptr<DnsDiscovery> dns_discovery;
  // gRPC (nibctl's endpoint): calls in flight get a second to finish.
  std::unique_ptr<admin::GrpcAdminServer, StopGrpcWithGrace> grpc_admin;
  // -C: Pen's control port.
  std::unique_ptr<admin::PenctlServer> penctl;
  // REST, events, /metrics, probes and pages: last, so /readyz answers for as
  // long as anything else runs.
  std::unique_ptr<admin::HttpAdminServer> http_admin;
};

int App::serve(AppConfig config, const std::string& ready_message) {
  config_ = std::move(config);
  Log::set_level(log_level_for_verbosity(config_.verbosity));
  Log::set_format(config_.log_format);
  // Before -j hides /dev/log; the background mode switches to syslog anyway.
  if (config_.syslog) Log::use_syslog();
  // -u and -j: the user is looked up and the jail entered before anything is
  // opened, so a typo stops nib with nothing served (and on the terminal,
  // before the fork to the background).
  if (Status st = check_root_control(config_); !st.ok()) {
    log_error("cannot start: " + st.message());
    return kExitConfig;
  }
  auto privileges = prepare_privilege_drop(config_);
  if (!privileges.ok()) {
    log_error("cannot start: " + privileges.status().message());
    return kExitConfig;
  }
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

  bool clean = true;
  {
    PidFile pid_file(config_.pid_file);  // before `running`: removed after it stopped
    Running running;
    if (Status st = start(running); !st.ok()) {
      log_error("cannot start: " + st.message());
      return kExitConfig;  // `running` stops what started, newest first
    }
    pid_file.write();
    // Every port is bound and every file nib keeps is open: drop to -u's user
    // inside -j's jail before anything is served to an operator, then start
    // the workers (clients connecting since the pid file wait in the queues).
    if (Status st = start_workers_after_drop(*privileges, *running.dataplane); !st.ok()) {
      log_error("cannot drop privileges: " + st.message());
      return kExitConfig;
    }
    if (!ready_message.empty()) log_info(ready_message);
    if (daemon) {
      log_info("running in the background as process " + std::to_string(::getpid()) +
               "; logging to syslog from now on (-f keeps nib in the foreground)");
      daemon->ready();
    }

    for (;;) {
      siginfo_t info{};
      int sig = sigwaitinfo(&set, &info);
      // Both reopen the access log, as Pen's SIGHUP does and as logrotate
      // scripts written for either signal expect (rename, then signal).
      if (sig == SIGHUP || sig == SIGUSR1) running.dataplane->reopen_access_log();
      if (sig == SIGHUP) on_reload(running);
      if (sig == SIGUSR1) on_status_request(running);
      if (sig == SIGTERM || sig == SIGINT) break;
    }
    if (running.http_admin) running.http_admin->set_shutting_down();  // /readyz fails from now on
    // Every admin front end stays up through the grace period: operators
    // watch the drain with them.
    clean = drain(running);
  }  // `running` stops every component, newest first; then the pid file goes
  log_info(clean ? "stopped" : "stopped after the grace period; remaining connections were closed");
  return 0;
}

Status App::start(Running& running) {
  running.status_file.set(config_.status_file);
  // ---- Saved runtime state (--state): read before anything binds, so a
  // corrupt file stops nib with nothing touched.
  std::optional<admin::SavedState> saved_state;
  if (!config_.admin.state_file.empty()) {
    if (Status st = check_savable(config_.dataplane); !st.ok()) return st;
    auto loaded = admin::load_state_file(config_.admin.state_file);
    if (!loaded.ok()) {
      return Status(loaded.status().code(), loaded.status().message() + "; fix or remove the file");
    }
    saved_state = std::move(*loaded);
    // Every change will be saved here: a path that cannot be written must stop
    // the start, not fail each change later.
    if (Status st = check_writable(config_.admin.state_file); !st.ok()) {
      return Status(st.code(), "state file " + config_.admin.state_file + ": " + st.message());
    }
  }
  // ---- Shared registry: read before anything binds too, so no client
  // reaches a backend another replica removed. etcd unreachable: the
  // configuration serves until it answers (the watcher then applies it).
  if (config_.registry.enabled()) {
    auto options = registry_options(config_.registry);
    if (!options.ok()) return options.status();
    running.registry = std::make_unique<admin::EtcdRegistry>(std::move(*options));
    auto shared = running.registry->load();
    if (!shared.ok()) {
      log_warn("shared registry: " + shared.status().message() +
               "; serving the configuration until etcd answers, changes refused until then");
    } else if (*shared) {
      saved_state = std::move(**shared);
    } else {
      log_info("shared registry: nothing under " + config_.registry.prefix + " yet; this replica writes what it runs");
    }
  }
  const std::string state_source =
      config_.registry.enabled() ? "shared registry " + config_.registry.prefix : "state file " + config_.admin.state_file;
  DataplaneConfig dataplane_config = config_.dataplane;
  if (saved_state) admin::apply_to_config(*saved_state, &dataplane_config);
  // TLS services' certificates (the saved settings' when the API changed
  // them): read and checked before anything binds.
  if (Status st = load_tls_terminators(dataplane_config); !st.ok()) return st;
  // Opens its databases only when an ACL gets a country entry.
  dataplane_config.countries = std::make_shared<GeoIpCountryLookup>();
  // ---- end of the saved state block
  running.dataplane = std::make_unique<Dataplane>(dataplane_config);
  Dataplane& dataplane = *running.dataplane;
  // The workers start after the drop (start_workers_after_drop).
  if (Status st = dataplane.open(); !st.ok()) return st;
  running.certificate_watcher = std::make_unique<CertificateWatcher>(dataplane);
  running.certificate_watcher->watch(dataplane_config.services);
  // ---- Saved runtime state: restored over the configuration, then saved on
  // every change from here on.
  if (saved_state) {
    std::vector<std::string> skipped;
    if (Status st = admin::restore_state(dataplane, *saved_state, &skipped); !st.ok()) {
      return Status(st.code(), st.message() + " (" + state_source + ")");
    }
    for (const auto& name : skipped) {
      log_warn(state_source + ": service '" + name + "' is not in the configuration; " +
               (running.registry ? "other replicas keep it" : "its saved state is dropped"));
    }
    log_info("restored runtime state from " + (running.registry ? state_source : config_.admin.state_file));
  }
  if (running.registry) running.registry->start(dataplane);
  if (!config_.admin.state_file.empty()) {  // a missing file is no saved state yet; changes create it
    running.state_writer = std::make_unique<admin::StateWriter>(dataplane, config_.admin.state_file);
    running.state_writer->start();
  }
  // ---- end of the saved state block
  // ---- The admin core: every front end below acts through it; it keeps
  // each change in the state file (when there is one) before answering.
  running.admin_api = std::make_unique<admin::AdminApi>(dataplane, running.state_writer.get());
  admin::AdminApi& api = *running.admin_api;
  api.set_tls_loader([](const TlsConfig& tls) { return make_tls_terminator(tls); });
  api.set_shared_registry(running.registry.get());
  // ---- end of the admin core block
  if (!config_.backends_from.empty()) {
    running.dns_discovery = start_discovery(running);
  }
  for (const auto& s : dataplane.status()) {
    // A direct-server-return service has one frame thread, not the workers.
    const std::string how = s.dsr_interface.empty() ? std::to_string(dataplane.workers()) + " worker(s)"
                                                    : "direct server return on " + s.dsr_interface;
    log_info("service " + s.name + ": " + (s.dsr_interface.empty() ? "listening on " : "serving ") +
             s.listen_text() + " (" + to_string(s.protocol) + ", mode " + to_string(s.policy.mode) + ", " +
             std::to_string(s.backends.size()) + " backend(s), " + how + ", max " +
             std::to_string(s.policy.max_connections) + " connections)");
    if (debug_on()) {  // Pen's -d start-up listing
      for (const auto& b : s.backends) {
        log_debug("service " + s.name + " server " + std::to_string(b.index) + " " + b.address.to_string() + " max " +
                  std::to_string(b.soft_limit) + " hard " + std::to_string(b.hard_limit) + " weight " +
                  std::to_string(b.weight) + " prio " + std::to_string(b.prio));
      }
    }
  }
  // Every admin front end is up before the pid file, which tells scripts and
  // tests that nib is ready.
  const bool admin_on = config_.admin.enabled;
  const admin::TlsFiles tls{config_.admin.tls_cert_file, config_.admin.tls_key_file};
  // ---- Admin plane: gRPC (nib.admin.v1, health, reflection).
  if (admin_on && config_.admin.serve_grpc) {
    running.grpc_admin.reset(new admin::GrpcAdminServer(
        api, admin::GrpcAdminServerOptions{.listen = config_.admin.grpc_listen,
                                                 .token_file = config_.admin.token_file,
                                                 .tls = tls,
                                                 .limits = config_.admin.limits.grpc,
                                                 .stats = &running.admin_stats}));
    admin::GrpcAdminServer& grpc = *running.grpc_admin;
    if (Status st = grpc.start(); !st.ok()) {
      // A bad token or TLS file names its own fix; the hint is about the address.
      if (st.message().rfind("admin token file", 0) == 0 || st.message().rfind("admin TLS", 0) == 0) return st;
      return Status(st.code(), st.message() + "; choose another address with --admin-grpc IP:PORT (YAML: "
                                              "admin.grpc_listen) or turn the admin plane off with --no-admin");
    }
    log_info("admin gRPC API on " + grpc.address() + " (nibctl --addr " + grpc.address() +
             (grpc.tls_enabled() ? " --tls, " : ", ") +
             (grpc.auth_enabled() ? "tokens from " + config_.admin.token_file : std::string("no authentication")) +
             ")");
  }
  // ---- end of the gRPC admin block
  // ---- Pen's control port (-C) and its command file (-F). The file applies
  // before the control port listens and before nib reports ready (pid file,
  // the background parent); the service's listener is bound already, so a
  // bad file stops nib within moments of the bind.
  if (!config_.admin.penctl_listen.empty() || !config_.admin.penctl_file.empty() ||
      !config_.admin.penctl_commands.empty()) {
    running.penctl = std::make_unique<admin::PenctlServer>(
        api, admin::PenctlServerOptions{.listen = config_.admin.penctl_listen,
                                              // -X: the main thread takes it as any SIGTERM.
                                              .exit = config_.admin.penctl_exit
                                                          ? std::function<void()>([] { ::kill(::getpid(), SIGTERM); })
                                                          : nullptr,
                                              .config_file = config_.admin.penctl_file,
                                              .status_file = &running.status_file,
                                              .limits = config_.admin.limits.penctl,
                                              .stats = &running.admin_stats});
    if (!config_.admin.penctl_commands.empty()) {
      if (Status st = running.penctl->run_commands(config_.admin.penctl_commands); !st.ok()) return st;
    }
    if (!config_.admin.penctl_file.empty()) {
      if (Status st = running.penctl->run_file(config_.admin.penctl_file); !st.ok()) return st;
      log_info("applied the penctl commands of " + config_.admin.penctl_file + " (-F)");
    }
  }
  if (!config_.admin.penctl_listen.empty()) {
    if (Status st = running.penctl->start(); !st.ok()) return st;
    log_info("control port (penctl) on " + config_.admin.penctl_listen + "; it has no authentication");
  }
  // ---- end of the control port block
  // ---- Admin plane: HTTP (REST API, events, /metrics, probes, pages). A busy
  // port or a bad token file stops nib here.
  if (admin_on && config_.admin.serve_http) {
    admin::HttpAdminOptions options;
    options.listen = config_.admin.http_listen;
    options.token_file = config_.admin.token_file;
    options.tls = tls;
    options.limits = config_.admin.limits.http;
    options.stats = &running.admin_stats;
    options.discovery = &running.discovery_stats;
    running.http_admin = std::make_unique<admin::HttpAdminServer>(api, options);
    if (Status st = running.http_admin->start(); !st.ok()) {
      if (st.code() != StatusCode::kUnavailable) return st;  // the token or TLS file, not the port
      return Status(st.code(), st.message() +
                                   "; choose another address with --admin-http IP:PORT (YAML: admin.http_listen) or "
                                   "turn the admin plane off with --no-admin");
    }
  }
  // ---- end of the HTTP admin block
  return {};
}

std::unique_ptr<DnsDiscovery> App::start_discovery(Running& running, const DnsDiscovery::Drained& drained) {
  admin::DiscoveryStats& stats = running.discovery_stats;
  return std::make_unique<DnsDiscovery>(
      *running.dataplane, config_.backends_from,
      [&stats](const std::string& service, DnsOutcome outcome, uint32_t n) {
        stats.count_lookup(service, to_string(outcome));
        if (outcome == DnsOutcome::kOk) stats.set_backends(service, n);
      },
      drained);
}

// The TCP and UDP workers start after the drop, as the user: a thread is
// created with its creator's credentials, so they hold exactly what the drop
// kept (CAP_NET_ADMIN for transparent mode). Workers started before it would
// hold nothing: glibc's setuid empties the capabilities of every thread
// running then, and no thread can take back one its permitted set lost.
// Clients that came meanwhile waited in the listeners' queues.
Status App::start_workers_after_drop(PrivilegeDrop& privileges, Dataplane& dataplane) {
  if (privileges.enabled()) {
    if (Status st = drop_privileges(privileges); !st.ok()) return st;
  }
  dataplane.start_workers();
  // The main thread needs no capability itself, and the threads it starts
  // from now on (a health checker after a reload) get none.
  return privileges.release_kept();
}

Status App::drop_privileges(PrivilegeDrop& privileges) {
  if (Status st = privileges.apply(); !st.ok()) return st;
  log_info("running as " + privileges.describe() +
           (privileges.keeps_capabilities() ? " for transparent mode (the workers' upstream sockets)" : ""));
  // Every change is saved from now on as the new user: a directory it cannot
  // write stops nib now rather than failing each change later.
  if (!config_.admin.state_file.empty()) {
    if (Status st = check_directory_writable(directory_of(config_.admin.state_file)); !st.ok()) {
      return Status(st.code(), "state file " + config_.admin.state_file + ": " + st.message() +
                                   "; its directory must be writable by " +
                                   (config_.user.empty() ? std::string("nib") : config_.user));
    }
  }
  return {};
}

bool App::drain(Running& running) {
  Dataplane& dataplane = *running.dataplane;
  int64_t open = dataplane.open_connections();
  log_info("shutting down: no new connections; waiting up to " +
           std::to_string(static_cast<int>(config_.shutdown_grace_seconds)) + " s for " + std::to_string(open) +
           " open connection(s)");
  dataplane.stop_accepting();
  // A second SIGTERM/SIGINT during the grace period stops at once.
  sigset_t set = handled_signals();
  MonoTime deadline = MonoClock::now() + seconds_to_duration(config_.shutdown_grace_seconds);
  while (dataplane.open_connections() > 0) {
    if (MonoClock::now() >= deadline) return false;
    timespec wait{0, 50 * 1000 * 1000};
    int sig = sigtimedwait(&set, nullptr, &wait);
    if (sig == SIGTERM || sig == SIGINT) return false;
    if (sig == SIGHUP || sig == SIGUSR1) dataplane.reopen_access_log();  // logrotate may run during a drain
    if (sig == SIGUSR1) on_status_request(running);
  }
  return true;
}

void App::on_reload(Running& running) {
  // Pen's -F: the file is checked whole before any line applies, so a bad
  // edit leaves the running settings as they were.
  if (const std::string& f = config_.admin.penctl_file; !f.empty() && running.penctl) {
    if (Status st = running.penctl->run_file(f); !st.ok()) {
      // A line the check passed but the apply refused: the lines before it are in (the message says so).
      log_error("SIGHUP: " + st.message() +
                (st.code() == StatusCode::kInvalidArgument ? "; keeping the running settings" : ""));
    } else {
      log_info("SIGHUP: applied the penctl commands of " + f + " (-F)");
    }
    return;
  }
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
  // Certificates are read again (rotated ones take effect for new clients;
  // open connections keep their sessions). A bad file keeps the running one.
  std::string kept;
  if (std::optional<admin::SavedState> runtime = saved_runtime_state(running)) {
    admin::apply_to_config(*runtime, &next);
    for (const auto& s : runtime->services) kept += (kept.empty() ? "" : ", ") + s.name;
  }
  std::vector<std::string> tls_kept;
  for (auto& s : config_.dataplane.services) {  // the watcher or the API may have changed them since
    if (auto settings = running.dataplane->tls_settings(s.name); settings.ok()) s.tls = *settings;
    s.tls_terminator = running.dataplane->tls_terminator(s.name);
    s.tls_connector = running.dataplane->tls_connector(s.name);
  }
  if (Status st = load_tls_terminators(next, &config_.dataplane, &tls_kept); !st.ok()) {
    log_error("reload failed, keeping the running configuration: " + st.message());
    return;
  }
  for (const auto& why : tls_kept) log_error("reload: " + why);
  // Discovery stops for the reload (it would change the backends under it)
  // and starts again with the file's backends_from, the old one's if the reload fails.
  DnsDiscovery::Drained drained;
  if (running.dns_discovery) drained = running.dns_discovery->stop();
  running.dns_discovery.reset();
  keep_discovered_backends(*running.dataplane, loaded->backends_from, &next);
  if (Status st = running.dataplane->reload(next); !st.ok()) {
    log_error("reload failed, keeping the running configuration: " + st.message());
    if (!config_.backends_from.empty()) {
      running.dns_discovery = start_discovery(running, drained);
    }
    return;
  }
  config_.backends_from = loaded->backends_from;
  if (!config_.backends_from.empty()) {
    running.dns_discovery = start_discovery(running, drained);
  }
  // The access log is opened once, at start (a -l on the command line
  // outranks the file's): a reload only reopens it.
  const AccessLogConfig now = config_.dataplane.access_log;
  const AccessLogConfig& asked = loaded->dataplane.access_log;
  if (asked.enabled() && (now.path != asked.path || now.udp != asked.udp || now.format != asked.format ||
      now.template_text != asked.template_text || now.ring_size != asked.ring_size)) {
    log_warn("reload: access_log changes need a restart; the access log goes on as it was (reopened)");
  }
  config_.dataplane = loaded->dataplane;
  config_.dataplane.access_log = now;
  // What runs now, for the next reload's fallback; the watcher follows it.
  for (size_t i = 0; i < next.services.size() && i < config_.dataplane.services.size(); ++i) {
    config_.dataplane.services[i].tls = next.services[i].tls;
    config_.dataplane.services[i].tls_terminator = next.services[i].tls_terminator;
  }
  if (running.certificate_watcher) running.certificate_watcher->watch(config_.dataplane.services);
  config_.shutdown_grace_seconds = loaded->shutdown_grace_seconds;
  log_info("reloaded " + config_.config_path +
           (kept.empty() ? std::string()
                         : running.registry
                               ? "; kept the shared backends, policy and ACLs of " + kept + " (registry " +
                                     config_.registry.prefix + ")"
                               : "; kept the runtime backends, policy and TLS settings of " + kept + " (--state " +
                                     config_.admin.state_file + "; delete it and restart to take the file's)"));
}

// What --state holds now (nothing before the first change through the API, so
// until then the file's backend lists apply on reload).
std::optional<admin::SavedState> App::saved_runtime_state(Running& running) {
  // The shared registry's services are what every replica runs.
  if (running.registry) return running.registry->state();
  if (!running.state_writer) return std::nullopt;
  if (Status st = running.state_writer->commit(); !st.ok()) {
    log_warn("reload: cannot save the runtime state: " + st.message() + "; keeping what nib runs");
    return admin::capture_state(*running.dataplane);
  }
  auto saved = admin::load_state_file(config_.admin.state_file);
  if (!saved.ok()) {
    log_warn("reload: " + saved.status().message() + "; keeping what nib runs");
    return admin::capture_state(*running.dataplane);
  }
  return *saved;
}

void App::on_status_request(Running& running) {
  const Dataplane& dataplane = *running.dataplane;
  PenStatusInput in;
  in.services = dataplane.status();
  for (const auto& s : in.services) in.clients.push_back(dataplane.clients(s.name));
  in.connections = dataplane.connections();
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
  const std::string path = running.status_file.get();
  if (path.empty()) return;
  if (Status st = write_file_atomically(path, render_pen_status_page(in), 0644); !st.ok()) {
    log_error("cannot write status page " + path + ": " + st.message());
  }
}

}  // namespace nib
