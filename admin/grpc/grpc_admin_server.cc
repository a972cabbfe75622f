#include "admin/grpc/grpc_admin_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "admin/grpc/grpc_admin_service.h"
#include "dataplane/net/socket_address.h"

namespace nib::admin {
namespace {

constexpr const char* kAdminServiceName = "nib.admin.v1.Admin";
// A client whose pings break the keepalive policy is sent GOAWAY after this
// many (gRPC's default).
constexpr int kMaxPingStrikes = 2;

int milliseconds(double seconds) { return static_cast<int>(seconds * 1000); }

// The limits that gRPC enforces itself. Unary calls each hold a thread of the
// synchronous server while they run (WatchEvents streams hold none); past
// max_threads calls get RESOURCE_EXHAUSTED, so a flood of calls cannot take
// the process's threads.
void apply_limits(const GrpcLimits& limits, grpc::ServerBuilder& builder, grpc::ResourceQuota& quota) {
  quota.SetMaxThreads(static_cast<int>(limits.max_threads));
  quota.Resize(limits.max_memory_bytes);
  builder.SetResourceQuota(quota);
  builder.SetMaxReceiveMessageSize(static_cast<int>(limits.max_receive_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(limits.max_concurrent_streams_per_connection));
  // Keepalive enforcement: pings more often than this, or with no call in
  // flight, are strikes.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             milliseconds(limits.min_ping_interval_seconds));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, kMaxPingStrikes);
  // gRPC 1.51 has no cap on connections: idle ones are closed, and a
  // connection that does not finish its handshake is dropped.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, milliseconds(limits.idle_timeout_seconds));
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, milliseconds(limits.handshake_timeout_seconds));
}

}  // namespace

GrpcAdminServer::GrpcAdminServer(AdminApi& api, GrpcAdminServerOptions options)
    : api_(api), options_(std::move(options)) {}

GrpcAdminServer::~GrpcAdminServer() { stop(Duration::zero()); }

Status GrpcAdminServer::start() {
  auto listen = SocketAddress::parse(options_.listen);
  if (!listen.ok()) {
    return Status::invalid("admin gRPC listen address '" + options_.listen + "': " + listen.status().message());
  }
  GrpcAdminServiceOptions service_options;
  service_options.max_watch_streams = options_.limits.max_watch_streams;
  service_options.stats = options_.stats;
  if (!options_.token_file.empty()) {
    auto auth = AdminAuth::load_file(options_.token_file);
    if (!auth.ok()) return auth.status();
    service_options.auth = std::move(*auth);
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (options_.tls.enabled()) {
    auto material = load_tls(options_.tls);
    if (!material.ok()) return material.status();
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({material->private_key_pem, material->cert_chain_pem});
    credentials = grpc::SslServerCredentials(ssl);
  }
  // Both are process-wide switches read when a server is built.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  auth_enabled_ = service_options.auth.enabled();
  service_ = std::make_unique<GrpcAdminService>(api_, std::move(service_options));
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(listen->to_string(), credentials, &bound_port);
  // gRPC sets SO_REUSEPORT by default: a second nib would then share the port
  // silently instead of failing to start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  grpc::ResourceQuota quota("nib-admin-grpc");
  apply_limits(options_.limits, builder, quota);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || bound_port == 0) {
    server_.reset();
    service_.reset();
    return Status::unavailable("admin gRPC: cannot listen on " + listen->to_string() +
                               " (address in use, or not permitted)");
  }
  host_ = listen->family() == AF_INET6 ? "[" + listen->ip_string() + "]" : listen->ip_string();
  port_ = static_cast<uint16_t>(bound_port);
  server_->GetHealthCheckService()->SetServingStatus(kAdminServiceName, true);
  return {};
}

std::string GrpcAdminServer::address() const { return host_ + ":" + std::to_string(port_); }

void GrpcAdminServer::stop(Duration grace) {
  std::lock_guard lock(stop_mutex_);
  if (!server_) return;
  server_->GetHealthCheckService()->SetServingStatus(false);
  service_->shutdown();  // WatchEvents streams would otherwise outlast any grace
  auto deadline = std::chrono::system_clock::now() +
                  std::chrono::duration_cast<std::chrono::system_clock::duration>(grace);
  server_->Shutdown(deadline);
  server_->Wait();
  server_.reset();
  service_.reset();
}

}  // namespace nib::admin
