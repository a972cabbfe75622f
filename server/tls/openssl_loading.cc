#include "server/tls/openssl_loading.h"

#include <dirent.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <memory>
#include <system_error>

namespace nib::tls {
namespace {

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

BioPtr memory_bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
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

}  // namespace

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

Status use_identity(SSL_CTX* ctx, const Identity& id, const std::string& cert_file) {
  if (SSL_CTX_use_certificate(ctx, id.cert.get()) != 1) return tls_error(cert_file + ": the certificate is refused");
  for (const X509Ptr& extra : id.chain) {
    if (SSL_CTX_add1_chain_cert(ctx, extra.get()) != 1) return tls_error(cert_file + ": a chain certificate is refused");
  }
  if (SSL_CTX_use_PrivateKey(ctx, id.key.get()) != 1) return tls_error(cert_file + ": the key is refused");
  return Status::ok_status();
}

Status load_verify_cas(SSL_CTX* ctx, const std::string& ca_file, const std::string& ca_dir) {
  if (!ca_file.empty()) {
    auto pem = read_file(ca_file, "CA");  // says why a file cannot be read
    if (!pem.ok()) return pem.status();
    if (SSL_CTX_load_verify_file(ctx, ca_file.c_str()) != 1) {
      return tls_error(ca_file + ": holds no CA certificate");
    }
  }
  if (!ca_dir.empty()) {
    std::unique_ptr<DIR, Deleter<closedir>> dir(::opendir(ca_dir.c_str()));
    if (!dir) return Status::invalid(ca_dir + ": cannot read the TLS CA directory: " + errno_text(errno));
    if (SSL_CTX_load_verify_dir(ctx, ca_dir.c_str()) != 1) return tls_error(ca_dir + ": not a usable CA directory");
  }
  return Status::ok_status();
}

Status set_min_version(SSL_CTX* ctx, const std::string& min_version) {
  int version = 0;
  if (min_version == "1.2") {
    version = TLS1_2_VERSION;
  } else if (min_version == "1.3") {
    version = TLS1_3_VERSION;
  } else {
    return Status::invalid("tls: min_version must be 1.2 or 1.3, got \"" + min_version + "\"");
  }
  if (SSL_CTX_set_min_proto_version(ctx, version) != 1) return tls_error("tls: cannot set min_version");
  return Status::ok_status();
}

}  // namespace nib::tls
