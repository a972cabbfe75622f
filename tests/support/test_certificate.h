#pragma once
// TLS certificates made in the test (OpenSSL 3, EC P-256), so TLS tests need
// no files in the repository and no openssl command: self-signed ones, expired
// ones, and a small CA that signs server and client certificates (client-auth
// tests then verify a real chain).
#include <cstdint>
#include <string>

#include "tests/support/temp_file.h"

namespace nib::test {

struct TestCertificate {
  std::string cert_pem;
  std::string key_pem;
};

struct TestCertificateSpec {
  std::string common_name = "localhost";
  // Validity, in seconds from now (negative: in the past).
  int64_t not_before = -3600;
  int64_t not_after = 24 * 3600;
  // Null: self-signed and usable as its own trust anchor (CA:TRUE, like
  // `openssl req -x509`). Otherwise signed by this CA's key, CA:FALSE, for
  // both server and client use.
  const TestCertificate* issuer = nullptr;
};

// subjectAltName: the common name, "localhost" and 127.0.0.1.
TestCertificate make_certificate(const TestCertificateSpec& spec);

// Valid for a day, for "localhost" and 127.0.0.1, its own trust anchor.
TestCertificate make_self_signed_certificate(const std::string& common_name = "localhost");

// Expired yesterday (notAfter a day in the past).
TestCertificate make_expired_certificate(const std::string& common_name = "localhost");

// A leaf certificate signed by `ca` (made by make_self_signed_certificate).
TestCertificate make_ca_signed_certificate(const TestCertificate& ca, const std::string& common_name);

// The same key, PEM-encrypted (AES-256-CBC) under `passphrase`.
std::string encrypt_private_key(const std::string& key_pem, const std::string& passphrase);

// A successful DER OCSP response saying `leaf` is good for the next hour,
// signed by `ca` (which issued it): what `openssl ocsp -respout` writes.
std::string make_ocsp_response(const TestCertificate& leaf, const TestCertificate& ca);

// The certificate and key written to temporary .pem files.
struct TestCertificateFiles {
  explicit TestCertificateFiles(const TestCertificate& c) : cert(c.cert_pem, ".pem"), key(c.key_pem, ".pem") {}
  TempFile cert;
  TempFile key;
};

}  // namespace nib::test
