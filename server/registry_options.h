#pragma once
// The shared registry's settings (RegistryConfig) made into what the etcd
// client needs: endpoints as gRPC targets, the TLS files and the password
// read. Used at start and by --check, so a missing file stops both.
#include "admin/registry/etcd_registry.h"
#include "dataplane/base/status.h"
#include "server/config/registry_config.h"

namespace nib {

[[nodiscard]] Result<admin::EtcdRegistryOptions> registry_options(const RegistryConfig& config);

}  // namespace nib
