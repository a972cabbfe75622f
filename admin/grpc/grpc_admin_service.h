#pragma once
// nib.admin.v1.Admin over the Dataplane's runtime-management interface: checks
// each request, calls the Dataplane, maps its views to messages. gRPC status
// codes appear only here, at the boundary (one mapping: admin/common).
//
// Synchronous gRPC API: each call runs on one of gRPC's threads, and every
// method may run on several threads at once (the Dataplane is thread-safe).
#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "admin/common/admin_auth.h"
#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"
#include "nib/admin/v1/admin.grpc.pb.h"

namespace nib {
class Dataplane;
}

namespace nib::admin {

class EventQueue;

struct GrpcAdminServiceOptions {
  // Events one WatchEvents stream may have waiting before it drops some.
  size_t watch_queue_capacity = 1024;
  // How often a waiting WatchEvents stream checks whether its client left
  // (the synchronous API has no cancellation callback).
  Duration watch_poll_interval = std::chrono::milliseconds(100);
  // Tokens from --admin-token-file, checked on every nib.admin.v1 call
  // ("authorization: Bearer <token>" metadata). Default: no file, all let in.
  // Health and reflection are other services and stay open.
  AdminAuth auth;
};

class GrpcAdminService final : public v1::Admin::Service {
 public:
  explicit GrpcAdminService(Dataplane& dataplane, GrpcAdminServiceOptions options = {});
  ~GrpcAdminService() override;
  GrpcAdminService(const GrpcAdminService&) = delete;
  GrpcAdminService& operator=(const GrpcAdminService&) = delete;

  // Any thread. Ends every WatchEvents stream (UNAVAILABLE) and refuses new
  // ones, so grpc::Server::Shutdown does not wait for streams that never end.
  void shutdown();

  grpc::Status ListServices(grpc::ServerContext*, const v1::ListServicesRequest*,
                            v1::ListServicesResponse*) override;
  grpc::Status ListBackends(grpc::ServerContext*, const v1::ListBackendsRequest*,
                            v1::ListBackendsResponse*) override;
  grpc::Status GetBackend(grpc::ServerContext*, const v1::GetBackendRequest*, v1::Backend*) override;
  grpc::Status AddBackend(grpc::ServerContext*, const v1::AddBackendRequest*, v1::Backend*) override;
  grpc::Status UpdateBackend(grpc::ServerContext*, const v1::UpdateBackendRequest*, v1::Backend*) override;
  grpc::Status RemoveBackend(grpc::ServerContext*, const v1::RemoveBackendRequest*,
                             v1::RemoveBackendResponse*) override;
  grpc::Status DrainBackend(grpc::ServerContext*, const v1::DrainBackendRequest*, v1::Backend*) override;
  grpc::Status ListClients(grpc::ServerContext*, const v1::ListClientsRequest*, v1::ListClientsResponse*) override;
  grpc::Status ForgetClient(grpc::ServerContext*, const v1::ForgetClientRequest*,
                            v1::ForgetClientResponse*) override;
  grpc::Status PinClient(grpc::ServerContext*, const v1::PinClientRequest*, v1::PinClientResponse*) override;
  grpc::Status UnpinClient(grpc::ServerContext*, const v1::UnpinClientRequest*, v1::UnpinClientResponse*) override;
  grpc::Status ListPins(grpc::ServerContext*, const v1::ListPinsRequest*, v1::ListPinsResponse*) override;
  grpc::Status MigrateClients(grpc::ServerContext*, const v1::MigrateClientsRequest*,
                              v1::MigrateClientsResponse*) override;
  grpc::Status GetStats(grpc::ServerContext*, const v1::GetStatsRequest*, v1::Stats*) override;
  grpc::Status GetPolicy(grpc::ServerContext*, const v1::GetPolicyRequest*, v1::Policy*) override;
  grpc::Status SetPolicy(grpc::ServerContext*, const v1::SetPolicyRequest*, v1::Policy*) override;
  grpc::Status WatchEvents(grpc::ServerContext*, const v1::WatchEventsRequest*,
                           grpc::ServerWriter<v1::Event>*) override;

 private:
  // OK when the call's bearer token grants what it needs: any valid token for
  // reads, an admin token for changes. UNAUTHENTICATED without a valid token,
  // PERMISSION_DENIED for a read-only token on a change.
  grpc::Status authorize(const grpc::ServerContext* context, bool changes) const;
  // The service a request means: its name, or the only one when it is empty.
  Result<std::string> resolve_service(const std::string& requested) const;
  // Fills out with backend `id`, remembered clients counted.
  Status fill_backend(const std::string& service, uint32_t id, v1::Backend* out) const;
  Status check_backend_exists(const std::string& service, uint32_t id) const;
  // Registers a stream's queue; false once shutdown() ran.
  bool add_stream(const std::shared_ptr<EventQueue>& queue);
  void remove_stream(const std::shared_ptr<EventQueue>& queue);
  // Sends what the queue hands out until the stream should end; returns why.
  grpc::Status pump_events(grpc::ServerContext* context, EventQueue& queue, grpc::ServerWriter<v1::Event>* writer);

  Dataplane& dataplane_;
  const GrpcAdminServiceOptions options_;
  // SetPolicy reads, patches and writes the whole policy: two at once would
  // otherwise lose one's fields.
  std::mutex policy_mutex_;
  std::mutex streams_mutex_;
  std::set<std::shared_ptr<EventQueue>> streams_;
  bool shut_down_ = false;
};

}  // namespace nib::admin
