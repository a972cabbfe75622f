#include "dataplane/service/service.h"

#include <cerrno>

#include "dataplane/net/socket_ops.h"

namespace nib {

Service::Service(const ServiceConfig& config, unsigned workers, const Clock& clock, const CountryLookup* countries)
    : name_(config.name),
      protocol_(config.protocol),
      countries_(countries),
      backlog_(config.backlog),
      defer_accept_(config.defer_accept),
      tcp_nodelay_(config.tcp_nodelay),
      tcp_fastclose_(config.tcp_fastclose),
      keepalive_(config.keepalive),
      source_(config.source),
      transparent_(config.transparent),
      http_(config.http),
      http_forwarded_(config.http_forwarded),
      dummy_(config.dummy),
      proxy_protocol_(config.proxy_protocol),
      accept_proxy_from_(config.accept_proxy_from),
      listen_path_(config.listen_path),
      listen_(config.listen),
      registry_(workers, clock, countries),
      affinity_(config.policy.table_size, seconds_to_duration(config.policy.tracking_seconds)),
      // Start "after" the last server so the first client goes to server 0, as in Pen.
      cursor_(config.backends.empty() ? 0 : static_cast<uint32_t>(config.backends.size() - 1)),
      cells_(workers) {
  registry_.apply(config);
}

bool Service::expects_proxy_header(const IpKey& ip) const {
  for (const IpPrefix& p : accept_proxy_from_) {
    if (p.contains(ip)) return true;
  }
  return false;
}

SocketAddress Service::listen_address() const {
  std::lock_guard lock(address_mutex_);
  return listen_;
}

void Service::set_bound_address(const SocketAddress& a) {
  std::lock_guard lock(address_mutex_);
  listen_ = a;
}

RegistryDiff Service::apply(const ServiceConfig& config) {
  RegistryDiff diff = registry_.apply(config);
  for (const auto& b : diff.removed) affinity_.forget_backend(b->id());
  affinity_.set_tracking(seconds_to_duration(config.policy.tracking_seconds));
  if (affinity_.capacity() != config.policy.table_size) affinity_.resize(config.policy.table_size);
  return diff;
}

bool Service::try_admit(uint32_t max_connections) {
  int64_t now_active = active_.fetch_add(1) + 1;
  if (max_connections != 0 && now_active > static_cast<int64_t>(max_connections)) {
    active_.fetch_sub(1);
    return false;
  }
  return true;
}

bool Service::try_begin_pending(uint32_t pending_max) {
  if (pending_.fetch_add(1) + 1 > static_cast<int64_t>(pending_max)) {
    pending_.fetch_sub(1);
    return false;
  }
  return true;
}

bool Service::bind_upstream(int fd, const SocketAddress& client, const SocketAddress& to) const {
  if (transparent_) {
    if (bind_transparent(fd, client, to.family())) return true;
    if (errno != EAFNOSUPPORT) return false;
  }
  const SocketAddress* source = source_for(to);
  return source == nullptr || bind_source(fd, *source);
}

ServiceCounters Service::counters() const {
  ServiceCounters c;
  auto get = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  for (unsigned i = 0; i < cells_.size(); ++i) {
    const Cells& w = cells_[i];
    c.accepted += get(w.accepted);
    c.limit_waits += get(w.limit_waits);
    c.pending_waits += get(w.pending_waits);
    c.rejected_no_backend += get(w.no_backend);
    c.rejected_stubborn += get(w.stubborn);
    c.rejected_acl += get(w.rejected_acl);
    c.abuse += get(w.abuse);
    c.affinity_breaks += get(w.breaks);
    c.rejected_resources += get(w.rejected_resources);
    c.proxy_protocol_errors += get(w.proxy_protocol_errors);
    c.http_header_errors += get(w.http_header_errors);
    c.tls_handshakes += get(w.tls_handshakes);
    c.tls_handshake_failures += get(w.tls_failures);
    c.tls_handshake_timeouts += get(w.tls_timeouts);
    c.backend_tls_handshakes += get(w.backend_tls_handshakes);
    c.backend_tls_handshake_failures += get(w.backend_tls_failures);
    w.tls_latency.add_to(c.tls_handshake_latency);
  }
  return c;
}

}  // namespace nib
