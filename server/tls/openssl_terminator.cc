#include "server/tls/openssl_terminator.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "server/tls/openssl_handles.h"
#include "server/tls/openssl_loading.h"
#include "server/tls/openssl_session.h"

namespace nib {
namespace tls {

struct OpenSslTerminator::Contexts {
  SslCtxPtr default_ctx;
  // Lower-case SNI name -> its SSL_CTX (Pen's ssl_sni_path NAME.crt).
  std::unordered_map<std::string, SslCtxPtr> by_name;
  int64_t not_after = 0;
  // TlsConfig::alpn in the wire format; empty: ALPN is not answered.
  std::string alpn_wire;
  // The DER OCSP response stapled for cert_file; empty: none.
  std::string ocsp_response;
};

namespace {

using Contexts = OpenSslTerminator::Contexts;

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// The client CAs: verified against, and their names sent in the
// CertificateRequest, so a client with several certificates can pick the
// right one.
Status load_client_cas(SSL_CTX* ctx, const std::string& ca_file, const std::string& ca_dir) {
  if (Status s = load_verify_cas(ctx, ca_file, ca_dir); !s.ok()) return s;
  if (!ca_file.empty()) {
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca_file.c_str())) SSL_CTX_set_client_CA_list(ctx, names);
    ERR_clear_error();
  }
  return Status::ok_status();
}

// ALPN (RFC 7301), as HAProxy answers it: nib's protocols in its order of
// preference, the first the client offers too. No overlap: the handshake
// goes on without ALPN (NOACK) rather than failing, so a client offering
// only protocols nib does not list still gets the stream. A client that
// offers none never reaches this callback.
int select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  const auto* contexts = static_cast<const Contexts*>(arg);
  const std::string& ours = contexts->alpn_wire;
  unsigned char* chosen = nullptr;
  unsigned char chosen_len = 0;
  // SSL_select_next_proto walks its first list (ours) in order and takes the
  // first entry found in the second (the client's).
  if (SSL_select_next_proto(&chosen, &chosen_len, reinterpret_cast<const unsigned char*>(ours.data()),
                            static_cast<unsigned int>(ours.size()), in, inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = chosen;  // points into ours, which lives as long as the session
  *outlen = chosen_len;
  return SSL_TLSEXT_ERR_OK;
}

// OCSP stapling (Pen's ssl_ocsp_response): a client that sent status_request
// gets the response read at make time. Set on the default SSL_CTX only: the
// response is for cert_file, so a client switched to an SNI name's
// certificate gets none rather than one for another certificate.
int staple_ocsp(SSL* ssl, void* arg) {
  const auto* contexts = static_cast<const Contexts*>(arg);
  const std::string& der = contexts->ocsp_response;
  // OpenSSL frees what it is handed, so each handshake gets its own copy.
  auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(der.size()));
  if (copy == nullptr) return SSL_TLSEXT_ERR_NOACK;  // no memory: no staple, the handshake goes on
  std::memcpy(copy, der.data(), der.size());
  if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der.size())) != 1) {
    OPENSSL_free(copy);
    return SSL_TLSEXT_ERR_NOACK;
  }
  return SSL_TLSEXT_ERR_OK;
}

// Reads and checks an OCSP response file (DER, as `openssl ocsp -respout`
// writes it) now, so a bad one fails the load rather than every handshake.
Result<std::string> load_ocsp_response(const std::string& path) {
  auto der = read_file(path, "OCSP response");
  if (!der.ok()) return der.status();
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  std::unique_ptr<OCSP_RESPONSE, Deleter<OCSP_RESPONSE_free>> response(
      d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der->size())));
  if (!response || p != reinterpret_cast<const unsigned char*>(der->data()) + der->size()) {
    return tls_error(path + ": not a DER OCSP response");
  }
  if (const int status = OCSP_response_status(response.get()); status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    return Status::invalid(path + ": the OCSP response is not successful (" + OCSP_response_status_str(status) + ")");
  }
  ERR_clear_error();
  return der;
}

// ALPN names in the wire format (each prefixed by its length; check_tls
// keeps each 1 to 255 bytes).
std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) {
    wire.push_back(static_cast<char>(p.size()));
    wire += p;
  }
  return wire;
}

// One SSL_CTX with the service's settings and `id`. `sid_name` tells the
// session id contexts apart: a session resumed under another name's context
// (other CAs) would skip that name's client verification.
Result<SslCtxPtr> make_context(const TlsConfig& config, const Identity& id, const std::string& cert_file,
                               const std::string& ca_file, const std::string& ca_dir, const std::string& sid_name) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return tls_error("tls: cannot make an SSL context");
  SSL_CTX* c = ctx.get();

  if (Status s = set_min_version(c, config.min_version); !s.ok()) return s;

  // Client-initiated renegotiation costs the server a handshake for free.
  uint64_t options = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
  if (config.prefer_server_ciphers) options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  SSL_CTX_set_options(c, options);
  // Partial writes: the relay offers what it has and keeps the rest.
  // Moving buffer: a retried write may come from another address (the relay
  // buffer compacts). Release buffers: an idle connection holds no 2 x 16 KiB
  // of read and write buffers.
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  // Read-ahead: one recv takes what the socket holds, not a record's 5-byte
  // header and then its body (half the reads per request). The session's
  // read() still returns kRead only once a recv said EAGAIN, so bytes held
  // in OpenSSL's buffer never wait for an edge that will not come.
  SSL_CTX_set_read_ahead(c, 1);

  // DHE suites in a configured TLS 1.2 cipher list get parameters sized to
  // the certificate's key.
  SSL_CTX_set_dh_auto(c, 1);
  if (!config.ciphers.empty() && SSL_CTX_set_cipher_list(c, config.ciphers.c_str()) != 1) {
    return tls_error("tls: the cipher list \"" + config.ciphers + "\" names no cipher OpenSSL knows");
  }

  if (Status s = use_identity(c, id, cert_file); !s.ok()) return s;

  if (Status s = load_client_cas(c, ca_file, ca_dir); !s.ok()) return s;
  switch (config.client_auth) {
    case TlsClientAuth::kOff:
      SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
      break;
    case TlsClientAuth::kOptional:
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
      break;
    case TlsClientAuth::kRequired:
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      break;
  }

  // Resumption: the server session cache (TLS 1.2 session ids) and tickets
  // (OpenSSL's default, keys made per SSL_CTX). A session id context is
  // required once client certificates are verified.
  unsigned char sid[SSL_MAX_SID_CTX_LENGTH];
  unsigned int sid_len = 0;
  const std::string sid_text = "nib " + sid_name;
  if (EVP_Digest(sid_text.data(), sid_text.size(), sid, &sid_len, EVP_sha256(), nullptr) != 1 ||
      SSL_CTX_set_session_id_context(c, sid, std::min<unsigned int>(sid_len, sizeof sid)) != 1) {
    return tls_error("tls: cannot set the session id context");
  }
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
  ERR_clear_error();
  return ctx;
}

// The servername callback: a client asking for a name of the SNI directory
// gets its SSL_CTX; any other (or none) keeps the default certificate.
int select_certificate(SSL* ssl, int* /*alert*/, void* arg) {
  const auto* contexts = static_cast<const Contexts*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_NOACK;
  std::string key = lower(name);
  if (!key.empty() && key.back() == '.') key.pop_back();  // "example.com." is example.com
  auto it = contexts->by_name.find(key);
  if (it == contexts->by_name.end()) return SSL_TLSEXT_ERR_NOACK;
  SSL_CTX* ctx = it->second.get();
  if (SSL_set_SSL_CTX(ssl, ctx) == nullptr) return SSL_TLSEXT_ERR_ALERT_FATAL;
  // SSL_set_SSL_CTX takes the certificate and the session id context, not
  // the verify settings the SSL copied from the default context at SSL_new.
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
  SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
  return SSL_TLSEXT_ERR_OK;
}

// Pen's ssl_sni_path: NAME.crt + NAME.key (+ NAME.ca, that name's client CAs).
Status load_sni_directory(const TlsConfig& config, Contexts& contexts) {
  const std::string& path = config.sni_path;
  std::vector<std::string> bases;
  {
    std::unique_ptr<DIR, Deleter<closedir>> dir(::opendir(path.c_str()));
    if (!dir) return Status::invalid(path + ": cannot read the TLS SNI directory: " + errno_text(errno));
    while (const dirent* entry = ::readdir(dir.get())) {
      std::string_view file = entry->d_name;
      if (file.size() > 4 && file.substr(file.size() - 4) == ".crt") bases.emplace_back(file.substr(0, file.size() - 4));
    }
  }
  std::sort(bases.begin(), bases.end());  // the same error first every time
  for (const std::string& base : bases) {
    const std::string crt = path + "/" + base + ".crt";
    const std::string key = path + "/" + base + ".key";
    const std::string ca = path + "/" + base + ".ca";
    if (!file_exists(key)) return Status::invalid(crt + ": has no key beside it (" + key + " is missing)");
    auto id = load_identity(crt, key);
    if (!id.ok()) return id.status();
    const bool own_cas = file_exists(ca);
    auto ctx = make_context(config, *id, crt, own_cas ? ca : config.ca_file, own_cas ? "" : config.ca_dir,
                            "sni " + lower(base));
    if (!ctx.ok()) return ctx.status();
    if (!contexts.by_name.emplace(lower(base), std::move(*ctx)).second) {
      return Status::invalid(crt + ": another certificate in " + path + " has the same name (names ignore case)");
    }
    contexts.not_after = std::min(contexts.not_after, id->not_after);
  }
  return Status::ok_status();
}

}  // namespace

OpenSslTerminator::OpenSslTerminator(std::shared_ptr<const Contexts> contexts) : contexts_(std::move(contexts)) {}

OpenSslTerminator::~OpenSslTerminator() = default;

std::unique_ptr<TlsSession> OpenSslTerminator::accept(int fd) const {
  return OpenSslSession::start(contexts_->default_ctx.get(), fd, contexts_);
}

int64_t OpenSslTerminator::not_after_unix() const { return contexts_->not_after; }

}  // namespace tls

Result<std::shared_ptr<const TlsTerminator>> make_tls_terminator(const TlsConfig& config) {
  using tls::Contexts;
  ERR_clear_error();
  if (config.cert_file.empty()) return Status::invalid("tls: no certificate file (cert_file)");
  if (config.client_auth != TlsClientAuth::kOff && config.ca_file.empty() && config.ca_dir.empty()) {
    return Status::invalid(std::string("tls: client_auth ") + to_string(config.client_auth) +
                           " needs the CAs client certificates must chain to (ca_file or ca_dir)");
  }
  auto contexts = std::make_shared<Contexts>();
  auto id = tls::load_identity(config.cert_file, config.key_file);
  if (!id.ok()) return id.status();
  auto ctx = tls::make_context(config, *id, config.cert_file, config.ca_file, config.ca_dir, "default");
  if (!ctx.ok()) return ctx.status();
  contexts->default_ctx = std::move(*ctx);
  contexts->not_after = id->not_after;
  if (!config.sni_path.empty()) {
    if (Status s = tls::load_sni_directory(config, *contexts); !s.ok()) return s;
    // The callback's argument lives as long as any session: each holds the
    // Contexts (accept() hands it over).
    SSL_CTX_set_tlsext_servername_callback(contexts->default_ctx.get(), tls::select_certificate);
    SSL_CTX_set_tlsext_servername_arg(contexts->default_ctx.get(), contexts.get());
  }
  if (!config.ocsp_response_file.empty()) {
    auto der = tls::load_ocsp_response(config.ocsp_response_file);
    if (!der.ok()) return der.status();
    contexts->ocsp_response = std::move(*der);
    SSL_CTX_set_tlsext_status_cb(contexts->default_ctx.get(), tls::staple_ocsp);
    SSL_CTX_set_tlsext_status_arg(contexts->default_ctx.get(), contexts.get());
  }
  if (!config.alpn.empty()) {
    contexts->alpn_wire = tls::alpn_wire(config.alpn);
    // On every SSL_CTX: OpenSSL asks the one the SSL holds when it reads the
    // ALPN extension, which is a name's after the servername callback.
    SSL_CTX_set_alpn_select_cb(contexts->default_ctx.get(), tls::select_alpn, contexts.get());
    for (auto& [name, ctx] : contexts->by_name) SSL_CTX_set_alpn_select_cb(ctx.get(), tls::select_alpn, contexts.get());
  }
  return std::shared_ptr<const TlsTerminator>(std::make_shared<tls::OpenSslTerminator>(std::move(contexts)));
}

}  // namespace nib
