#pragma once
// nib.admin.v1.Admin: a transcoder over the admin core (admin/core/admin_api.h),
// which validates and performs every operation; here each call is
// authorised, handed to the core, and its views mapped to messages. gRPC
// status codes appear only here, at the boundary (one mapping: admin/common).
//
// Synchronous gRPC API for the unary calls: each runs on one of gRPC's
// threads, and every method may run on several threads at once (the Dataplane
// is thread-safe). WatchEvents uses the callback API instead
// (watch_events_reactor.h): an open stream holds no thread.
#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <cstdint>
#include <set>
#include <string>

#include "admin/common/admin_auth.h"
#include "admin/common/admin_plane_stats.h"
#include "admin/common/bounded_worker_pool.h"
#include "admin/core/admin_api.h"
#include "admin/core/event_subscription.h"
#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"
#include "nib/admin/v1/admin.grpc.pb.h"

namespace nib::admin {

struct GrpcAdminServiceOptions {
  // Events one WatchEvents stream may have waiting before it drops some.
  size_t watch_queue_capacity = 1024;
  // Open WatchEvents streams; more get RESOURCE_EXHAUSTED (admin_limits.h).
  size_t max_watch_streams = GrpcLimits{}.max_watch_streams;
  // Counts the streams and the refusals; may be null. Must outlive the service.
  AdminPlaneStats* stats = nullptr;
  // Tokens from --admin-token-file, checked on every nib.admin.v1 call
  // ("authorization: Bearer <token>" metadata). Default: no file, all let in.
  // Health and reflection are other services and stay open.
  AdminAuth auth;
};

class GrpcAdminService final : public v1::Admin::WithCallbackMethod_WatchEvents<v1::Admin::Service> {
 public:
  explicit GrpcAdminService(AdminApi& api, GrpcAdminServiceOptions options = {});
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
  grpc::Status GetClientAcl(grpc::ServerContext*, const v1::GetClientAclRequest*, v1::ClientAcl*) override;
  grpc::Status SetClientAcl(grpc::ServerContext*, const v1::SetClientAclRequest*, v1::ClientAcl*) override;
  grpc::Status GetTls(grpc::ServerContext*, const v1::GetTlsRequest*, v1::TlsSettings*) override;
  grpc::Status GetRegistry(grpc::ServerContext*, const v1::GetRegistryRequest*, v1::Registry*) override;
  grpc::Status SetTls(grpc::ServerContext*, const v1::SetTlsRequest*, v1::TlsSettings*) override;
  grpc::Status ReloadTls(grpc::ServerContext*, const v1::ReloadTlsRequest*, v1::TlsSettings*) override;
  grpc::ServerWriteReactor<v1::Event>* WatchEvents(grpc::CallbackServerContext*,
                                                   const v1::WatchEventsRequest*) override;

 private:
  // OK when the call's bearer token grants what it needs: any valid token for
  // reads, an admin token for changes. UNAUTHENTICATED without a valid token,
  // PERMISSION_DENIED for a read-only token on a change.
  grpc::Status authorize(const grpc::ServerContextBase* context, bool changes) const;

  AdminApi& api_;
  const GrpcAdminServiceOptions options_;
  // The open WatchEvents streams: UNAVAILABLE once shutdown() ran,
  // RESOURCE_EXHAUSTED at max_watch_streams.
  EventSubscriptions watches_;
  // The one thread that writes to every WatchEvents stream. Last: it stops
  // (and drops what it had queued) before the streams' state goes.
  BoundedWorkerPool stream_writer_{1, SIZE_MAX};
};

}  // namespace nib::admin
