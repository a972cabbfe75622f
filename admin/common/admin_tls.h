#pragma once
// TLS for the admin plane (HTTP and gRPC share one certificate and key). The
// files are read and checked when the admin plane starts, so a missing file, a
// file that is not PEM, or a key that does not belong to the certificate stops
// nib with a message naming the file, instead of failing each handshake later.
#include <string>

#include "dataplane/base/status.h"

namespace nib::admin {

struct TlsFiles {
  std::string cert_file;  // PEM: the server certificate, then any intermediates
  std::string key_file;   // PEM: its private key (unencrypted)
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

struct TlsMaterial {
  std::string cert_chain_pem;
  std::string private_key_pem;
};

// Errors are kInvalidArgument and start with "admin TLS: ".
Result<TlsMaterial> load_tls(const TlsFiles& files);

}  // namespace nib::admin
