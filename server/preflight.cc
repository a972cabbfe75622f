#include "server/preflight.h"

#include <unistd.h>

#include <set>

#include "admin/common/admin_auth.h"
#include "admin/common/admin_tls.h"
#include "admin/state/state_store.h"
#include "dataplane/base/atomic_file.h"
#include "server/geoip_country_lookup.h"
#include "server/registry_options.h"
#include "server/tls/tls_terminators.h"

namespace nib {

Status preflight(const AppConfig& config) {
  const AdminConfig& admin = config.admin;
  if (Status st = check_root_control(config); !st.ok()) return st;
  if (admin.enabled && !admin.token_file.empty()) {
    if (auto auth = admin::AdminAuth::load_file(admin.token_file); !auth.ok()) return auth.status();
  }
  if (admin.enabled && admin::TlsFiles{admin.tls_cert_file, admin.tls_key_file}.enabled()) {
    if (auto tls = admin::load_tls({admin.tls_cert_file, admin.tls_key_file}); !tls.ok()) return tls.status();
  }
  {
    DataplaneConfig tls = config.dataplane;  // as at start: every TLS service's certificate, key and CAs
    if (Status st = load_tls_terminators(tls); !st.ok()) return st;
  }
  for (const auto& s : config.dataplane.services) {
    if (!s.client_acl.has_country_entries()) continue;
    // As at start: the country entries need the GeoIP database.
    if (Status st = GeoIpCountryLookup().prepare(); !st.ok()) {
      return Status(st.code(), "service '" + s.name + "': acl: " + st.message());
    }
  }
  // Not dialled (etcd may be down while the file is checked): its settings
  // and files, as at start.
  if (config.registry.enabled()) {
    if (auto options = registry_options(config.registry); !options.ok()) return options.status();
    if (Status st = check_savable(config.dataplane); !st.ok()) return st;
  }
  if (!admin.state_file.empty()) {
    if (Status st = check_savable(config.dataplane); !st.ok()) return st;
    auto saved = admin::load_state_file(admin.state_file);
    if (!saved.ok()) return saved.status();
    if (*saved) {
      // As at start: the saved backends and policy go into the configuration.
      DataplaneConfig applied = config.dataplane;
      admin::apply_to_config(**saved, &applied);
      if (Status st = validate(applied); !st.ok()) {
        return Status::invalid("state file " + admin.state_file + " with the configuration: " + st.message());
      }
    }
    if (Status st = check_writable(admin.state_file); !st.ok()) {
      return Status(st.code(), "state file " + admin.state_file + ": " + st.message());
    }
  }
  return {};
}

Status check_root_control(const AppConfig& config) {
  if (config.admin.penctl_listen.empty() || !config.user.empty() || config.admin.allow_root_control) return {};
  if (::geteuid() != 0) return {};
  return Status::invalid("will not open the control port (-C " + config.admin.penctl_listen +
                         ") running as root: it has no authentication. Add -u USER to run as that user once "
                         "it is bound (as pen asks), or --allow-root-control");
}

Status check_savable(const DataplaneConfig& config) {
  for (const auto& s : config.services) {
    std::set<std::string> seen;
    for (const auto& b : s.backends) {
      if (!seen.insert(b.address.to_string()).second) {
        return Status::invalid("service '" + s.name + "': server " + b.address.to_string() +
                               " is listed twice; --state saves backends by address and cannot hold both "
                               "(list it once, or run without --state)");
      }
    }
  }
  return {};
}

}  // namespace nib
