#pragma once
// TLS from nib to a service's backends on OpenSSL (issue 13, re-encryption):
// a BackendTlsConfig loaded into a client SSL_CTX (the CAs, a client
// certificate), and the TlsConnector the dataplane asks for a client session
// per backend connection. The server makes one per service with backend_tls
// and hands it over (ServiceConfig::tls_connector).
#include <memory>
#include <string_view>

#include "dataplane/base/status.h"
#include "dataplane/config/service_config.h"
#include "dataplane/net/tls_session.h"

namespace nib {

// Main or admin thread (it reads files; a reload calls it again and keeps the
// old connector on an error). Every file is loaded and checked now, never at
// a backend's handshake: an error names the file and why (an unreadable CA
// file or directory, no CA in it, an unreadable client certificate or key,
// a key that is not the certificate's, an encrypted key, a certificate that
// is expired or not yet valid, a cipher list OpenSSL rejects). With verify on
// and neither ca_file nor ca_dir, the system's default CAs are used.
Result<std::shared_ptr<const TlsConnector>> make_tls_connector(const BackendTlsConfig& config);

namespace tls {

class OpenSslConnector final : public TlsConnector {
 public:
  struct State;  // the SSL_CTX and the session cache, shared with the sessions

  explicit OpenSslConnector(std::shared_ptr<State> state);
  ~OpenSslConnector() override;

  // Any thread, concurrently: SSL_new on the shared SSL_CTX, then this
  // handshake's settings on the SSL: SNI and the name verified (server_name,
  // else `peer_ip`), `alpn` as the only protocol offered, and the last
  // session of `peer_ip` to resume, taken from the cache under its mutex.
  // Null when OpenSSL has no memory for the session.
  std::unique_ptr<TlsSession> connect(int fd, std::string_view peer_ip, std::string_view alpn) const override;
  // Any thread. How many backends have a session kept for resumption.
  size_t cached_sessions() const;

 private:
  const std::shared_ptr<State> state_;
};

}  // namespace tls
}  // namespace nib
