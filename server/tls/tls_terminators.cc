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

// One side's files (tls: the terminator; backend_tls: the connector) made
// into its handle, or on a failed reload the running service's settings and
// handle kept, with the reason in `kept`. At start (no running one) the
// failure is the call's.
template <typename Settings, typename Handle, typename Made>
Status load_side(ServiceConfig& s, Settings ServiceConfig::*settings,
                 std::shared_ptr<const Handle> ServiceConfig::*handle, Made made, const char* side,
                 const char* keeping, const DataplaneConfig* running, std::vector<std::string>* kept) {
  if (made.ok()) {
    s.*handle = std::move(*made);
    return {};
  }
  const std::string why = "service '" + s.name + "': " + side + ": " + made.status().message();
  const ServiceConfig* now = find_service(running, s.name);
  if (now == nullptr || !(now->*handle)) return Status(made.status().code(), why);
  s.*settings = now->*settings;
  s.*handle = now->*handle;
  if (kept != nullptr) kept->push_back(why + "; " + keeping);
  return {};
}

}  // namespace

Status load_tls_terminators(DataplaneConfig& config, const DataplaneConfig* running, std::vector<std::string>* kept) {
  for (auto& s : config.services) {
    s.tls_terminator.reset();
    s.tls_connector.reset();
    if (s.tls.enabled()) {
      Status st = load_side(s, &ServiceConfig::tls, &ServiceConfig::tls_terminator, make_tls_terminator(s.tls), "tls",
                            "keeping the certificates in use", running, kept);
      if (!st.ok()) return st;
    }
    if (s.backend_tls.enabled) {
      Status st = load_side(s, &ServiceConfig::backend_tls, &ServiceConfig::tls_connector,
                            make_tls_connector(s.backend_tls), "backend_tls", "keeping the backend TLS settings in use",
                            running, kept);
      if (!st.ok()) return st;
    }
  }
  return {};
}

}  // namespace nib
