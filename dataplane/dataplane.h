#pragma once
// The facade the server and the admin plane use: owns the services and the
// worker threads. Nothing outside dataplane/ sees workers, connections or the
// registry's internals; reads go through the status views below.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/config/service_config.h"
#include "dataplane/stats/dataplane_stats.h"

namespace nib {

class Service;
class TcpWorker;

class Dataplane {
 public:
  explicit Dataplane(DataplaneConfig config);
  ~Dataplane();
  Dataplane(const Dataplane&) = delete;
  Dataplane& operator=(const Dataplane&) = delete;

  // Binds every listener (errors come back here, before any thread starts) and
  // starts the workers. Call once.
  Status start();

  // Any thread. Graceful stop: close the listeners; open connections go on.
  void stop_accepting();
  // Any thread. True once no connection is open, false after `timeout`.
  bool wait_idle(Duration timeout);
  // Any thread. Closes everything and joins the workers.
  void stop();

  // Any thread. Applies changed backends and policy to the running services
  // without touching established connections. The set of services, their
  // listen addresses and protocols must not change (that needs a restart);
  // otherwise nothing is applied and the error says why.
  Status reload(const DataplaneConfig& config);

  // Any thread. Read views.
  std::vector<ServiceStatus> status() const;
  std::vector<AffinityEntry> clients(const std::string& service, uint64_t limit = UINT64_MAX) const;
  std::vector<ConnectionInfo> connections() const;
  std::optional<SocketAddress> bound_address(const std::string& service) const;
  int64_t open_connections() const;
  unsigned workers() const { return workers_count_; }
  uint64_t fd_limit() const { return fd_limit_; }

 private:
  Status check_reload(const DataplaneConfig& config) const;
  ServiceStatus service_status(const Service& s) const;

  DataplaneConfig config_;
  unsigned workers_count_;
  uint64_t fd_limit_ = 0;
  std::vector<std::unique_ptr<Service>> services_;
  std::vector<std::unique_ptr<TcpWorker>> workers_;
  bool started_ = false;
};

}  // namespace nib
