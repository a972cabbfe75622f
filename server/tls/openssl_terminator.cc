#include "server/tls/openssl_terminator.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "server/tls/openssl_handles.h"
#include "server/tls/openssl_session.h"

namespace nib {
namespace tls {

struct OpenSslTerminator::Contexts {
  SslCtxPtr default_ctx;
  // Lower-case SNI name -> its SSL_CTX (Pen's ssl_sni_path NAME.crt).
  std::unordered_map<std::string, SslCtxPtr> by_name;
  int64_t not_after = 0;
};

namespace {

using Contexts = OpenSslTerminator::Contexts;

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

// `what`, then OpenSSL's reason for it when one is queued.
Status tls_error(const std::string& what) {
  std::string reason = take_openssl_error();
  return Status::invalid(reason.empty() ? what : what + " (" + reason + ")");
}

Result<std::string> read_file(const std::string& path, const char* what) {
  std::unique_ptr<FILE, Deleter<fclose>> in(std::fopen(path.c_str(), "rb"));
  if (!in) return Status::invalid(path + ": cannot read the TLS " + what + " file: " + errno_text(errno));
  std::string text;
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, in.get())) > 0) text.append(buf, n);
  if (std::ferror(in.get())) {
    return Status::invalid(path + ": cannot read the TLS " + what + " file: " + errno_text(errno));
  }
  return text;
}

BioPtr memory_bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string utc_text(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

Result<int64_t> unix_time(const ASN1_TIME* t, const std::string& path) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return tls_error(path + ": the certificate's validity is unreadable");
  return static_cast<int64_t>(timegm(&tm));
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// A certificate (chain after it) and its key, checked.
struct Identity {
  X509Ptr cert;
  std::vector<X509Ptr> chain;
  KeyPtr key;
  int64_t not_after = 0;
};

Result<Identity> load_identity(const std::string& cert_file, const std::string& key_file) {
  auto cert_pem = read_file(cert_file, "certificate");
  if (!cert_pem.ok()) return cert_pem.status();
  Identity id;
  // No passphrase callback anywhere: nib runs unattended, nobody can type one.
  static constexpr auto kNoPassphrase = [](char*, int, int, void*) { return 0; };
  BioPtr bio = memory_bio(*cert_pem);
  if (!bio) return tls_error("tls: no memory to read " + cert_file);
  id.cert.reset(PEM_read_bio_X509(bio.get(), nullptr, kNoPassphrase, nullptr));
  if (!id.cert) return tls_error(cert_file + ": holds no PEM certificate");
  // The rest of the file is the chain, sent after the certificate (as
  // SSL_CTX_use_certificate_chain_file does); PEM blocks of other kinds, such
  // as the key, are skipped.
  while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, kNoPassphrase, nullptr)) id.chain.emplace_back(extra);
  if (unsigned long e = ERR_peek_last_error(); e != 0 && ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
    return tls_error(cert_file + ": a chain certificate after the first is not valid PEM");
  }
  ERR_clear_error();

  // Pen's -K: the key "may be contained in" the certificate file.
  const std::string& key_path = key_file.empty() ? cert_file : key_file;
  Result<std::string> key_pem = key_file.empty() ? Result<std::string>(*cert_pem) : read_file(key_file, "key");
  if (!key_pem.ok()) return key_pem.status();
  if (key_pem->find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string::npos ||
      key_pem->find("Proc-Type: 4,ENCRYPTED") != std::string::npos) {
    return Status::invalid(key_path + ": the private key is encrypted; an encrypted key cannot be used unattended "
                                      "(decrypt it: openssl pkey -in KEY -out KEY.plain)");
  }
  id.key.reset(PEM_read_bio_PrivateKey(memory_bio(*key_pem).get(), nullptr, kNoPassphrase, nullptr));
  if (!id.key) return tls_error(key_path + ": holds no PEM private key");
  if (X509_check_private_key(id.cert.get(), id.key.get()) != 1) {
    return tls_error(key_path + ": the key does not belong to the certificate in " + cert_file);
  }

  auto not_before = unix_time(X509_get0_notBefore(id.cert.get()), cert_file);
  if (!not_before.ok()) return not_before.status();
  auto not_after = unix_time(X509_get0_notAfter(id.cert.get()), cert_file);
  if (!not_after.ok()) return not_after.status();
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (*not_after < now) {
    return Status::invalid(cert_file + ": the certificate expired on " + utc_text(*not_after));
  }
  if (*not_before > now) {
    return Status::invalid(cert_file + ": the certificate is not valid before " + utc_text(*not_before));
  }
  id.not_after = *not_after;
  return id;
}

Status load_client_cas(SSL_CTX* ctx, const std::string& ca_file, const std::string& ca_dir) {
  if (!ca_file.empty()) {
    auto pem = read_file(ca_file, "CA");  // says why a file cannot be read
    if (!pem.ok()) return pem.status();
    if (SSL_CTX_load_verify_file(ctx, ca_file.c_str()) != 1) {
      return tls_error(ca_file + ": holds no CA certificate");
    }
    // The CAs' names go in the CertificateRequest, so a client with several
    // certificates can pick the right one.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca_file.c_str())) SSL_CTX_set_client_CA_list(ctx, names);
    ERR_clear_error();
  }
  if (!ca_dir.empty()) {
    std::unique_ptr<DIR, Deleter<closedir>> dir(::opendir(ca_dir.c_str()));
    if (!dir) return Status::invalid(ca_dir + ": cannot read the TLS CA directory: " + errno_text(errno));
    if (SSL_CTX_load_verify_dir(ctx, ca_dir.c_str()) != 1) return tls_error(ca_dir + ": not a usable CA directory");
  }
  return Status::ok_status();
}

// One SSL_CTX with the service's settings and `id`. `sid_name` tells the
// session id contexts apart: a session resumed under another name's context
// (other CAs) would skip that name's client verification.
Result<SslCtxPtr> make_context(const TlsConfig& config, const Identity& id, const std::string& cert_file,
                               const std::string& ca_file, const std::string& ca_dir, const std::string& sid_name) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return tls_error("tls: cannot make an SSL context");
  SSL_CTX* c = ctx.get();

  int min_version = 0;
  if (config.min_version == "1.2") {
    min_version = TLS1_2_VERSION;
  } else if (config.min_version == "1.3") {
    min_version = TLS1_3_VERSION;
  } else {
    return Status::invalid("tls: min_version must be 1.2 or 1.3, got \"" + config.min_version + "\"");
  }
  if (SSL_CTX_set_min_proto_version(c, min_version) != 1) return tls_error("tls: cannot set min_version");

  // Client-initiated renegotiation costs the server a handshake for free.
  uint64_t options = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
  if (config.prefer_server_ciphers) options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  SSL_CTX_set_options(c, options);
  // Partial writes: the relay offers what it has and keeps the rest.
  // Moving buffer: a retried write may come from another address (the relay
  // buffer compacts). Release buffers: an idle connection holds no 2 x 16 KiB
  // of read and write buffers.
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);

  // DHE suites in a configured TLS 1.2 cipher list get parameters sized to
  // the certificate's key.
  SSL_CTX_set_dh_auto(c, 1);
  if (!config.ciphers.empty() && SSL_CTX_set_cipher_list(c, config.ciphers.c_str()) != 1) {
    return tls_error("tls: the cipher list \"" + config.ciphers + "\" names no cipher OpenSSL knows");
  }

  if (SSL_CTX_use_certificate(c, id.cert.get()) != 1) return tls_error(cert_file + ": the certificate is refused");
  for (const X509Ptr& extra : id.chain) {
    if (SSL_CTX_add1_chain_cert(c, extra.get()) != 1) return tls_error(cert_file + ": a chain certificate is refused");
  }
  if (SSL_CTX_use_PrivateKey(c, id.key.get()) != 1) return tls_error(cert_file + ": the key is refused");

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
  return std::shared_ptr<const TlsTerminator>(std::make_shared<tls::OpenSslTerminator>(std::move(contexts)));
}

}  // namespace nib
