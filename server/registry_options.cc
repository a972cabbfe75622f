#include "server/registry_options.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace nib {
namespace {

Result<std::string> read_whole(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::invalid(what + " " + path + ": cannot read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Result<admin::EtcdRegistryOptions> registry_options(const RegistryConfig& config) {
  if (Status st = check_registry(config); !st.ok()) return st;
  admin::EtcdRegistryOptions o;
  o.prefix = config.prefix;
  for (const auto& text : config.endpoints) {
    auto e = parse_etcd_endpoint(text);
    if (!e.ok()) return e.status();
    o.etcd.endpoints.push_back(e->host_port);
    o.etcd.tls = e->tls;
  }
  struct File {
    const std::string& path;
    std::string* out;
    const char* what;
  };
  for (const File& f : {File{config.tls_ca_file, &o.etcd.ca_pem, "registry.tls.ca"},
                        File{config.tls_cert_file, &o.etcd.cert_pem, "registry.tls.cert"},
                        File{config.tls_key_file, &o.etcd.key_pem, "registry.tls.key"},
                        File{config.password_file, &o.etcd.password, "registry.auth.password_file"}}) {
    if (f.path.empty()) continue;
    auto text = read_whole(f.path, f.what);
    if (!text.ok()) return text.status();
    *f.out = std::move(*text);
  }
  // A password file ends with a newline more often than not; etcd's
  // passwords do not.
  while (!o.etcd.password.empty() && (o.etcd.password.back() == '\n' || o.etcd.password.back() == '\r')) {
    o.etcd.password.pop_back();
  }
  o.etcd.user = config.user;
  return o;
}

}  // namespace nib
