#include "tests/support/test_certificate.h"

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <random>
#include <stdexcept>

namespace nib::test {
namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("make_certificate: ") + what);
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>> ext(
      X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  check(ext && X509_add_ext(cert, ext.get(), -1) == 1, "extension");
}

template <typename Write>
std::string to_pem(Write write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && write(bio.get()) == 1, "PEM");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

BioPtr memory_bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

TestCertificate make_certificate(const TestCertificateSpec& spec) {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(key != nullptr, "key");
  X509Ptr cert(X509_new());
  check(cert != nullptr, "X509_new");
  // Distinct serials: a verifier may cache by issuer and serial.
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(std::random_device{}() & 0x7fffffff));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), static_cast<long>(spec.not_before));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(spec.not_after));
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1, -1, 0);
  X509_set_pubkey(cert.get(), key.get());

  X509Ptr issuer_cert;
  KeyPtr issuer_key;
  if (spec.issuer != nullptr) {
    issuer_cert.reset(PEM_read_bio_X509(memory_bio(spec.issuer->cert_pem).get(), nullptr, nullptr, nullptr));
    issuer_key.reset(PEM_read_bio_PrivateKey(memory_bio(spec.issuer->key_pem).get(), nullptr, nullptr, nullptr));
    check(issuer_cert && issuer_key, "issuer");
    X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert.get()));
  } else {
    X509_set_issuer_name(cert.get(), name);
  }
  X509* signer = spec.issuer != nullptr ? issuer_cert.get() : cert.get();
  add_extension(cert.get(), signer, NID_basic_constraints, spec.issuer ? "critical,CA:FALSE" : "critical,CA:TRUE");
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (spec.issuer != nullptr) {
    add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid");
    add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  add_extension(cert.get(), signer, NID_subject_alt_name, "DNS:" + spec.common_name + ",DNS:localhost,IP:127.0.0.1");
  EVP_PKEY* signing_key = spec.issuer != nullptr ? issuer_key.get() : key.get();
  check(X509_sign(cert.get(), signing_key, EVP_sha256()) > 0, "sign");
  TestCertificate out;
  out.cert_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); });
  out.key_pem = to_pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  return out;
}

TestCertificate make_self_signed_certificate(const std::string& common_name) {
  return make_certificate({.common_name = common_name});
}

TestCertificate make_expired_certificate(const std::string& common_name) {
  return make_certificate({.common_name = common_name, .not_before = -2 * 24 * 3600, .not_after = -24 * 3600});
}

TestCertificate make_ca_signed_certificate(const TestCertificate& ca, const std::string& common_name) {
  return make_certificate({.common_name = common_name, .issuer = &ca});
}

std::string encrypt_private_key(const std::string& key_pem, const std::string& passphrase) {
  KeyPtr key(PEM_read_bio_PrivateKey(memory_bio(key_pem).get(), nullptr, nullptr, nullptr));
  check(key != nullptr, "key to encrypt");
  return to_pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), EVP_aes_256_cbc(),
                                    reinterpret_cast<const unsigned char*>(passphrase.data()),
                                    static_cast<int>(passphrase.size()), nullptr, nullptr);
  });
}

std::string make_ocsp_response(const TestCertificate& leaf, const TestCertificate& ca) {
  X509Ptr leaf_cert(PEM_read_bio_X509(memory_bio(leaf.cert_pem).get(), nullptr, nullptr, nullptr));
  X509Ptr ca_cert(PEM_read_bio_X509(memory_bio(ca.cert_pem).get(), nullptr, nullptr, nullptr));
  KeyPtr ca_key(PEM_read_bio_PrivateKey(memory_bio(ca.key_pem).get(), nullptr, nullptr, nullptr));
  check(leaf_cert && ca_cert && ca_key, "OCSP certificates");
  std::unique_ptr<OCSP_BASICRESP, Deleter<OCSP_BASICRESP_free>> basic(OCSP_BASICRESP_new());
  std::unique_ptr<OCSP_CERTID, Deleter<OCSP_CERTID_free>> id(OCSP_cert_to_id(nullptr, leaf_cert.get(), ca_cert.get()));
  std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME_free>> now(X509_gmtime_adj(nullptr, 0));
  std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME_free>> next(X509_gmtime_adj(nullptr, 3600));
  check(basic && id && now && next, "OCSP objects");
  check(OCSP_basic_add1_status(basic.get(), id.get(), V_OCSP_CERTSTATUS_GOOD, 0, nullptr, now.get(), next.get()) !=
            nullptr,
        "OCSP status");
  check(OCSP_basic_sign(basic.get(), ca_cert.get(), ca_key.get(), EVP_sha256(), nullptr, 0) == 1, "OCSP sign");
  std::unique_ptr<OCSP_RESPONSE, Deleter<OCSP_RESPONSE_free>> response(
      OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic.get()));
  unsigned char* der = nullptr;
  const int n = response ? i2d_OCSP_RESPONSE(response.get(), &der) : 0;
  check(n > 0, "OCSP DER");
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

}  // namespace nib::test
