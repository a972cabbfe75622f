#pragma once
// A service's `backends_from: {dns: NAME, port: N, interval: 5s, resolver:
// IP:PORT, type: a|aaaa|srv}` (YAML), as the loader fills it and
// server/discovery/dns_discovery.h runs it. Plain data.
#include <cstdint>
#include <optional>
#include <string>

#include "dataplane/net/socket_address.h"

namespace nib {

enum class DnsRecordType : uint8_t {
  kA,     // IPv4 addresses; every backend on `port`
  kAaaa,  // IPv6 addresses; every backend on `port`
  kSrv,   // targets with their own ports; SRV weight -> weight, priority -> prio
};
inline const char* to_string(DnsRecordType type) {
  switch (type) {
    case DnsRecordType::kA: return "a";
    case DnsRecordType::kAaaa: return "aaaa";
    case DnsRecordType::kSrv: return "srv";
  }
  return "?";
}

struct DnsDiscoveryConfig {
  std::string service;  // the service whose backends these are
  std::string name;     // the DNS name asked for (a Kubernetes headless Service's)
  uint16_t port = 0;    // A/AAAA: the backends' port (required); SRV: unused
  double interval_seconds = 5;
  // Where queries go (an IPv4 address and port); unset: /etc/resolv.conf's servers.
  std::optional<SocketAddress> resolver;
  DnsRecordType type = DnsRecordType::kA;

  bool operator==(const DnsDiscoveryConfig&) const = default;
};

}  // namespace nib
