#include "server/tls/tls_terminators.h"

#include "server/tls/openssl_connector.h"
#include "server/tls/openssl_terminator.h"

namespace nib {
namespace {

const ServiceConfig* find_service(const DataplaneConfig* config, const std::string& name) {
  if (config == nullptr) return nullptr;
  for (const auto& s : config->services) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace

Status load_tls_terminators(DataplaneConfig& config, const DataplaneConfig* running, std::vector<std::string>* kept) {
  for (auto& s : config.services) {
    s.tls_terminator.reset();
    s.tls_connector.reset();
    if (s.tls.enabled()) {
      auto made = make_tls_terminator(s.tls);
      if (made.ok()) {
        s.tls_terminator = std::move(*made);
      } else {
        const std::string why = "service '" + s.name + "': tls: " + made.status().message();
        const ServiceConfig* now = find_service(running, s.name);
        if (now == nullptr || !now->tls_terminator) return Status(made.status().code(), why);
        s.tls = now->tls;
        s.tls_terminator = now->tls_terminator;
        if (kept != nullptr) kept->push_back(why + "; keeping the certificates in use");
      }
    }
    if (s.backend_tls.enabled) {
      auto made = make_tls_connector(s.backend_tls);
      if (made.ok()) {
        s.tls_connector = std::move(*made);
      } else {
        const std::string why = "service '" + s.name + "': backend_tls: " + made.status().message();
        const ServiceConfig* now = find_service(running, s.name);
        if (now == nullptr || !now->tls_connector) return Status(made.status().code(), why);
        s.backend_tls = now->backend_tls;
        s.tls_connector = now->tls_connector;
        if (kept != nullptr) kept->push_back(why + "; keeping the backend TLS settings in use");
      }
    }
  }
  return {};
}

}  // namespace nib
