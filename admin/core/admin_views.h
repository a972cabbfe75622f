#pragma once
// The dataplane's read views as the admin data model (nib.admin.v1 messages):
// one rendering, which gRPC returns as is and REST prints through protobuf's
// JSON mapping (admin/http/v1_json.h). A field added to a message here shows
// up in both.
#include <vector>

#include "admin/core/admin_api.h"
#include "dataplane/base/clock.h"
#include "dataplane/dataplane.h"
#include "nib/admin/v1/admin.pb.h"

namespace nib::admin {

void fill(const BackendStatus& b, v1::Backend* out);
void fill(const BackendStatus& b, v1::BackendStats* out);
void fill(const LatencyHistogram& h, v1::LatencyHistogram* out);
void fill(const UdpServiceStatus& u, v1::UdpStats* out);
void fill(const PolicyConfig& p, v1::Policy* out);
void fill(const ServiceStatus& s, v1::Service* out);
void fill(const AffinityStats& a, v1::AffinityStats* out);
void fill(const ServiceStatus& s, v1::Stats* out);
// `pins` marks the clients a pin covers; ages are relative to `now`.
void fill(const AffinityEntry& e, MonoTime now, const std::vector<ClientPin>& pins, v1::Client* out);
void fill(const ClientPin& p, v1::Pin* out);
void fill(const AccessList& acl, v1::ClientAcl* out);
void fill(const TlsConfig& tls, v1::TlsSettings* out);
void fill(const TlsStatus& tls, v1::TlsSettings* out);
void fill(const RegistryStatus& r, v1::Registry* out);

// The answers of whole operations.
void fill(const std::vector<ServiceStatus>& services, v1::ListServicesResponse* out);
void fill(const ServiceStatus& s, v1::ListBackendsResponse* out);
void fill(const ClientPage& page, v1::ListClientsResponse* out);
void fill(const std::vector<ClientPin>& pins, v1::ListPinsResponse* out);
void fill(const MigrateResult& m, v1::MigrateClientsResponse* out);
void fill(const ClientPin& p, v1::PinClientResponse* out);

// The message for a view: to_message<v1::Backend>(status).
template <typename Message, typename View>
Message to_message(const View& view) {
  Message m;
  fill(view, &m);
  return m;
}

}  // namespace nib::admin
