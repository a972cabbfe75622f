#include "dataplane/config/service_config.h"

#include <set>

namespace nib {

const char* to_string(BalanceMode mode) {
  switch (mode) {
    case BalanceMode::kAffinity: return "affinity";
    case BalanceMode::kRoundRobin: return "roundrobin";
    case BalanceMode::kHash: return "hash";
    case BalanceMode::kWeight: return "weight";
    case BalanceMode::kPrio: return "prio";
  }
  return "?";
}

const char* to_string(Protocol protocol) { return protocol == Protocol::kTcp ? "tcp" : "udp"; }

std::optional<BalanceMode> parse_balance_mode(std::string_view text) {
  for (auto m : {BalanceMode::kAffinity, BalanceMode::kRoundRobin, BalanceMode::kHash,
                 BalanceMode::kWeight, BalanceMode::kPrio}) {
    if (text == to_string(m)) return m;
  }
  return std::nullopt;
}

Status validate(const DataplaneConfig& config) {
  if (config.services.empty()) return Status::invalid("no service is configured");
  std::set<std::string> names;
  std::set<std::string> listeners;
  for (const auto& s : config.services) {
    if (s.name.empty()) return Status::invalid("a service has no name");
    if (!names.insert(s.name).second) return Status::invalid("service name '" + s.name + "' is used twice");
    std::string key = std::string(to_string(s.protocol)) + "/" + s.listen.to_string();
    if (!listeners.insert(key).second) {
      return Status::invalid("service '" + s.name + "': listen address " + s.listen.to_string() +
                             " is used by another service");
    }
    std::set<std::string> seen;
    for (const auto& b : s.backends) {
      if (!seen.insert(b.address.to_string()).second) {
        return Status::invalid("service '" + s.name + "': backend " + b.address.to_string() +
                               " is listed twice");
      }
    }
  }
  return {};
}

}  // namespace nib
