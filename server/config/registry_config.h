#pragma once
// `registry:` (YAML) and --registry-etcd: the state several nib replicas
// share on etcd (admin/registry/etcd_registry.h). Read once at start.
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/base/status.h"

namespace nib {

struct RegistryConfig {
  // etcd members as given: http://host:port, https://host:port or host:port
  // (http). Empty: no shared registry.
  std::vector<std::string> endpoints;
  std::string prefix = "/nib/";
  // https endpoints: the CA to verify etcd with (empty: the system's), and a
  // client certificate and key for mutual TLS (both or neither).
  std::string tls_ca_file, tls_cert_file, tls_key_file;
  // An etcd user; its password is read from password_file at start.
  std::string user, password_file;

  bool enabled() const { return !endpoints.empty(); }
  bool tls() const;  // the endpoints are https
};

struct EtcdEndpoint {
  bool tls = false;
  std::string host_port;  // what gRPC dials
};
// "http://10.0.0.1:2379", "https://etcd-0.etcd:2379", "etcd:2379".
Result<EtcdEndpoint> parse_etcd_endpoint(std::string_view text);
// The endpoints parse and share one scheme; the prefix starts and ends with
// '/'; TLS files with https only (cert and key together); a password file
// with a user. Each error names the setting as YAML spells it.
Status check_registry(const RegistryConfig& registry);

}  // namespace nib
