#include "admin/grpc/grpc_admin_service.h"

#include <algorithm>
#include <cmath>
#include <charconv>
#include <string_view>

#include "admin/common/status_codes.h"
#include "admin/core/admin_views.h"
#include "admin/grpc/watch_events_reactor.h"
#include "dataplane/dataplane.h"

namespace nib::admin {
namespace {

grpc::Status to_grpc(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return {static_cast<grpc::StatusCode>(grpc_code(status.code())), status.message()};
}

grpc::Status reply(const Status& status) { return to_grpc(status); }

// The answer of an operation: OK with `out` filled, or the error.
template <typename T, typename Out>
grpc::Status reply(const Result<T>& result, Out* out) {
  if (!result.ok()) return to_grpc(result.status());
  fill(*result, out);
  return grpc::Status::OK;
}


}  // namespace

GrpcAdminService::GrpcAdminService(AdminApi& api, GrpcAdminServiceOptions options)
    : api_(api),
      options_(options),
      watches_(api.dataplane().events(),
               EventSubscriptionLimits{.max_open = options_.max_watch_streams,
                                       .queue_capacity = options_.watch_queue_capacity,
                                       .limit = AdminLimitId::kGrpcMaxWatchStreams,
                                       .gauge = AdminGauge::kGrpcWatchStreams,
                                       .what = "WatchEvents streams"},
               options_.stats) {}

GrpcAdminService::~GrpcAdminService() { shutdown(); }

void GrpcAdminService::shutdown() { watches_.close_all(); }

grpc::Status GrpcAdminService::authorize(const grpc::ServerContextBase* context, bool changes) const {
  const AdminAuth& auth = options_.auth;
  if (!auth.enabled()) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  std::string_view header =
      it == metadata.end() ? std::string_view() : std::string_view(it->second.data(), it->second.size());
  Role role = auth.authorize(header);
  if (role == Role::kNone) {
    // Same words as the REST API; the token itself is never echoed.
    return to_grpc(Status(StatusCode::kUnauthenticated,
                          header.empty() ? "this call needs a bearer token (metadata authorization: Bearer ...)"
                                         : "the bearer token is not valid"));
  }
  if (changes && role != Role::kAdmin) {
    return to_grpc(
        Status(StatusCode::kPermissionDenied, "a read-only token cannot change anything; use an admin token"));
  }
  return grpc::Status::OK;
}

// Each call: authorised (reads need a valid token, changes an admin one),
// then one line to the core. Validation, the DNS policy, the change and its
// durable commit all happen in AdminApi.
#define NIB_READ(context) \
  if (grpc::Status denied = authorize(context, false); !denied.ok()) return denied
#define NIB_CHANGE(context) \
  if (grpc::Status denied = authorize(context, true); !denied.ok()) return denied

grpc::Status GrpcAdminService::ListServices(grpc::ServerContext* c, const v1::ListServicesRequest* r,
                                            v1::ListServicesResponse* out) {
  NIB_READ(c);
  fill(api_.list_services(*r), out);
  return grpc::Status::OK;
}

grpc::Status GrpcAdminService::ListBackends(grpc::ServerContext* c, const v1::ListBackendsRequest* r,
                                            v1::ListBackendsResponse* out) {
  NIB_READ(c);
  return reply(api_.list_backends(*r), out);
}

grpc::Status GrpcAdminService::GetBackend(grpc::ServerContext* c, const v1::GetBackendRequest* r, v1::Backend* out) {
  NIB_READ(c);
  return reply(api_.get_backend(*r), out);
}

grpc::Status GrpcAdminService::AddBackend(grpc::ServerContext* c, const v1::AddBackendRequest* r, v1::Backend* out) {
  NIB_CHANGE(c);
  return reply(api_.add_backend(*r), out);
}

grpc::Status GrpcAdminService::UpdateBackend(grpc::ServerContext* c, const v1::UpdateBackendRequest* r,
                                             v1::Backend* out) {
  NIB_CHANGE(c);
  return reply(api_.update_backend(*r), out);
}

grpc::Status GrpcAdminService::RemoveBackend(grpc::ServerContext* c, const v1::RemoveBackendRequest* r,
                                             v1::RemoveBackendResponse*) {
  NIB_CHANGE(c);
  return reply(api_.remove_backend(*r));
}

grpc::Status GrpcAdminService::DrainBackend(grpc::ServerContext* c, const v1::DrainBackendRequest* r,
                                            v1::Backend* out) {
  NIB_CHANGE(c);
  return reply(api_.drain_backend(*r), out);
}

grpc::Status GrpcAdminService::ListClients(grpc::ServerContext* c, const v1::ListClientsRequest* r,
                                           v1::ListClientsResponse* out) {
  NIB_READ(c);
  return reply(api_.list_clients(*r), out);
}

grpc::Status GrpcAdminService::ForgetClient(grpc::ServerContext* c, const v1::ForgetClientRequest* r,
                                            v1::ForgetClientResponse*) {
  NIB_CHANGE(c);
  return reply(api_.forget_client(*r));
}

grpc::Status GrpcAdminService::PinClient(grpc::ServerContext* c, const v1::PinClientRequest* r,
                                         v1::PinClientResponse* out) {
  NIB_CHANGE(c);
  return reply(api_.pin_client(*r), out);
}

grpc::Status GrpcAdminService::UnpinClient(grpc::ServerContext* c, const v1::UnpinClientRequest* r,
                                           v1::UnpinClientResponse*) {
  NIB_CHANGE(c);
  return reply(api_.unpin_client(*r));
}

grpc::Status GrpcAdminService::ListPins(grpc::ServerContext* c, const v1::ListPinsRequest* r,
                                        v1::ListPinsResponse* out) {
  NIB_READ(c);
  return reply(api_.list_pins(*r), out);
}

grpc::Status GrpcAdminService::MigrateClients(grpc::ServerContext* c, const v1::MigrateClientsRequest* r,
                                              v1::MigrateClientsResponse* out) {
  NIB_CHANGE(c);
  return reply(api_.migrate_clients(*r), out);
}

grpc::Status GrpcAdminService::GetStats(grpc::ServerContext* c, const v1::GetStatsRequest* r, v1::Stats* out) {
  NIB_READ(c);
  return reply(api_.get_stats(*r), out);
}

grpc::Status GrpcAdminService::GetPolicy(grpc::ServerContext* c, const v1::GetPolicyRequest* r, v1::Policy* out) {
  NIB_READ(c);
  return reply(api_.get_policy(*r), out);
}

grpc::Status GrpcAdminService::SetPolicy(grpc::ServerContext* c, const v1::SetPolicyRequest* r, v1::Policy* out) {
  NIB_CHANGE(c);
  return reply(api_.set_policy(*r), out);
}

grpc::Status GrpcAdminService::GetClientAcl(grpc::ServerContext* c, const v1::GetClientAclRequest* r,
                                            v1::ClientAcl* out) {
  NIB_READ(c);
  return reply(api_.get_client_acl(*r), out);
}

grpc::Status GrpcAdminService::SetClientAcl(grpc::ServerContext* c, const v1::SetClientAclRequest* r,
                                            v1::ClientAcl* out) {
  NIB_CHANGE(c);
  return reply(api_.set_client_acl(*r), out);
}

grpc::Status GrpcAdminService::GetTls(grpc::ServerContext* c, const v1::GetTlsRequest* r, v1::TlsSettings* out) {
  NIB_READ(c);
  return reply(api_.get_tls(*r), out);
}

grpc::Status GrpcAdminService::SetTls(grpc::ServerContext* c, const v1::SetTlsRequest* r, v1::TlsSettings* out) {
  NIB_CHANGE(c);
  return reply(api_.set_tls(*r), out);
}

grpc::Status GrpcAdminService::ReloadTls(grpc::ServerContext* c, const v1::ReloadTlsRequest* r,
                                         v1::TlsSettings* out) {
  NIB_CHANGE(c);
  return reply(api_.reload_tls(*r), out);
}

grpc::Status GrpcAdminService::GetRegistry(grpc::ServerContext* c, const v1::GetRegistryRequest* r,
                                           v1::Registry* out) {
  NIB_READ(c);
  fill(api_.get_registry(*r), out);
  return grpc::Status::OK;
}

#undef NIB_READ
#undef NIB_CHANGE

grpc::ServerWriteReactor<v1::Event>* GrpcAdminService::WatchEvents(grpc::CallbackServerContext* context,
                                                                   const v1::WatchEventsRequest* r) {
  WatchEventsReactor::Setup setup{.writer = &stream_writer_,
                                  .on_done = [this](const std::shared_ptr<EventSubscription>& s) {
                                    watches_.release(s);
                                  }};
  grpc::Status refusal = authorize(context, false);
  std::string service;
  if (refusal.ok() && !r->service().empty()) {
    auto resolved = api_.resolve_service(r->service());
    if (resolved.ok()) {
      service = *resolved;
    } else {
      refusal = to_grpc(resolved.status());
    }
  }
  if (refusal.ok()) {
    auto opened = watches_.open(service);
    if (opened.ok()) {
      setup.events = std::move(*opened);
    } else {
      refusal = to_grpc(opened.status());
    }
  }
  return new WatchEventsReactor(std::move(setup), refusal);
}

}  // namespace nib::admin
