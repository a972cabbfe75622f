#include "admin/common/admin_tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <memory>
#include <sstream>

namespace nib::admin {
namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;

Status tls_error(const std::string& what) {
  std::string detail;
  if (unsigned long e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    detail = " (" + std::string(buf) + ")";
  }
  ERR_clear_error();
  return Status::invalid("admin TLS: " + what + detail);
}

Result<std::string> read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::invalid(std::string("admin TLS: cannot read the ") + what + " file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

BioPtr memory_bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

Result<TlsMaterial> load_tls(const TlsFiles& files) {
  if (files.cert_file.empty() || files.key_file.empty()) {
    return Status::invalid("admin TLS: needs both a certificate file and a key file");
  }
  auto cert_pem = read_file(files.cert_file, "certificate");
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = read_file(files.key_file, "key");
  if (!key_pem.ok()) return key_pem.status();

  X509Ptr cert(PEM_read_bio_X509(memory_bio(*cert_pem).get(), nullptr, nullptr, nullptr));
  if (!cert) return tls_error(files.cert_file + " holds no PEM certificate");
  // No passphrase callback: an encrypted key cannot be used unattended.
  static constexpr auto kNoPassphrase = [](char*, int, int, void*) { return 0; };
  KeyPtr key(PEM_read_bio_PrivateKey(memory_bio(*key_pem).get(), nullptr, kNoPassphrase, nullptr));
  if (!key) return tls_error(files.key_file + " holds no unencrypted PEM private key");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return tls_error("the key in " + files.key_file + " does not belong to the certificate in " + files.cert_file);
  }
  return TlsMaterial{std::move(*cert_pem), std::move(*key_pem)};
}

}  // namespace nib::admin
