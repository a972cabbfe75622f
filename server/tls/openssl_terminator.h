#pragma once
// TLS termination on OpenSSL (issue 13): a service's TlsConfig loaded into
// SSL_CTXs (the default certificate and one per Pen ssl_sni_path name), and
// the TlsTerminator the dataplane asks for a session per client connection.
// The dataplane sees only dataplane/net/tls_session.h; the server makes one
// of these per TLS service and hands it over (ServiceConfig::tls_terminator).
#include <cstdint>
#include <memory>

#include "dataplane/base/status.h"
#include "dataplane/config/service_config.h"
#include "dataplane/net/tls_session.h"

namespace nib {

// Main or admin thread (it reads files; a reload calls it again and keeps the
// old terminator on an error). Every certificate and key is loaded and
// checked now, never at a client's handshake: an error names the file and
// why (unreadable, no PEM certificate, an encrypted key, a key that is not
// the certificate's, expired or not yet valid, an unreadable CA file or
// directory, client_auth without CAs, a cipher list OpenSSL rejects, an SNI
// NAME.crt without NAME.key, an OCSP response file that is unreadable or not
// a successful DER OCSP response). `config.alpn` is answered on every
// certificate's handshake; the OCSP response is stapled to clients that ask
// for one and get cert_file's certificate.
Result<std::shared_ptr<const TlsTerminator>> make_tls_terminator(const TlsConfig& config);

namespace tls {

class OpenSslTerminator final : public TlsTerminator {
 public:
  struct Contexts;  // the SSL_CTXs, shared with the sessions made from them

  explicit OpenSslTerminator(std::shared_ptr<const Contexts> contexts);
  ~OpenSslTerminator() override;

  // Any thread, concurrently: SSL_new on the shared default SSL_CTX; a
  // client's SNI may switch its SSL to a name's SSL_CTX during the handshake.
  // Null when OpenSSL has no memory for the session.
  std::unique_ptr<TlsSession> accept(int fd) const override;
  // Any thread. The soonest notAfter of the default and every SNI certificate.
  int64_t not_after_unix() const override;

 private:
  const std::shared_ptr<const Contexts> contexts_;
};

}  // namespace tls
}  // namespace nib
