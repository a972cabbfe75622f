#pragma once
// What the terminator and the connector both load from files (internal to
// nib_tls): a certificate with its chain and key, checked; CAs to verify a
// peer against; the protocol floor. Errors are values naming the file and
// why, with OpenSSL's reason when it has one. Main or admin thread (they read
// files), never a loop thread.
#include <openssl/ssl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/base/status.h"
#include "server/tls/openssl_handles.h"

namespace nib::tls {

// `what`, then OpenSSL's reason for it when one is queued (the queue is emptied).
Status tls_error(const std::string& what);

// The whole file; an error names `path` and says which TLS file (`what`:
// "certificate", "key", "CA", ...) could not be read, and why.
Result<std::string> read_file(const std::string& path, const char* what);

// A certificate (chain after it) and its key, checked: the key is the
// certificate's, not encrypted, and the certificate is valid now.
struct Identity {
  X509Ptr cert;
  std::vector<X509Ptr> chain;
  KeyPtr key;
  int64_t not_after = 0;  // Unix seconds
};
// An empty `key_file` means the key is in `cert_file` (Pen's -K).
Result<Identity> load_identity(const std::string& cert_file, const std::string& key_file);

// `id` as `ctx`'s own certificate, chain and key.
Status use_identity(SSL_CTX* ctx, const Identity& id, const std::string& cert_file);

// The CAs `ctx` verifies its peer against: a PEM file and/or a hashed
// directory (either may be empty).
Status load_verify_cas(SSL_CTX* ctx, const std::string& ca_file, const std::string& ca_dir);

// "1.2" or "1.3" as `ctx`'s lowest protocol version.
Status set_min_version(SSL_CTX* ctx, const std::string& min_version);

}  // namespace nib::tls
