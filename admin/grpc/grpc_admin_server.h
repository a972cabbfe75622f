#pragma once
// The admin plane's gRPC endpoint: nib.admin.v1.Admin, the standard
// grpc.health.v1.Health service and server reflection (so grpcurl-style tools
// can discover the API), on one listening address.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "admin/common/admin_limits.h"
#include "admin/common/admin_tls.h"
#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"

namespace grpc {
class Server;
}

namespace nib {
class Dataplane;
}

namespace nib::admin {

class AdminPlaneStats;
class AdminApi;
class GrpcAdminService;

struct GrpcAdminServerOptions {
  // "host:port" with an IP literal ("[::1]:9902" for IPv6). Port 0 picks a free
  // port; port() tells which.
  std::string listen = "127.0.0.1:9902";
  // The --admin-token-file the HTTP plane reads too (admin/common/admin_auth.h);
  // empty: no authentication.
  std::string token_file;
  TlsFiles tls;  // unset: plaintext
  // Streams, threads, memory, message size, keepalive enforcement and idle
  // connections (admin/common/admin_limits.h), set as gRPC channel arguments.
  GrpcLimits limits;
  // The process's admin counters (served on /metrics); may be null. Must
  // outlive the server.
  AdminPlaneStats* stats = nullptr;
};

class GrpcAdminServer {
 public:
  GrpcAdminServer(AdminApi& api, GrpcAdminServerOptions options = {});
  ~GrpcAdminServer();  // stop() with no grace
  GrpcAdminServer(const GrpcAdminServer&) = delete;
  GrpcAdminServer& operator=(const GrpcAdminServer&) = delete;

  // Binds and starts serving. Errors: kInvalidArgument for a malformed listen
  // address or a bad token file, kUnavailable when the port cannot be bound (in use, no permission).
  // Call once, from one thread.
  Status start();
  // The bound port, once started (the chosen one when listen asked for 0).
  uint16_t port() const { return port_; }
  // "127.0.0.1:PORT" with the bound port, once started.
  std::string address() const;
  // Whether calls need a token (a token file was given), once started.
  bool auth_enabled() const { return auth_enabled_; }
  bool tls_enabled() const { return options_.tls.enabled(); }

  // Any thread; idempotent. Health turns NOT_SERVING, WatchEvents streams end,
  // calls in flight get up to `grace` to finish, then are cancelled.
  void stop(Duration grace = std::chrono::seconds(1));

 private:
  AdminApi& api_;
  const GrpcAdminServerOptions options_;
  std::unique_ptr<GrpcAdminService> service_;
  std::mutex stop_mutex_;  // stop() from a signal path and the destructor
  std::unique_ptr<grpc::Server> server_;
  std::string host_;
  uint16_t port_ = 0;
  bool auth_enabled_ = false;
};

}  // namespace nib::admin
