#pragma once
// Self-signed TLS certificates made in the test (OpenSSL 3, EC P-256), so TLS
// tests need no files in the repository and no openssl command.
#include <string>

#include "tests/support/temp_file.h"

namespace nib::test {

struct TestCertificate {
  std::string cert_pem;
  std::string key_pem;
};

// Valid for a day, for "localhost" and 127.0.0.1 (subjectAltName), usable as
// its own trust anchor (CA:TRUE, like `openssl req -x509`).
TestCertificate make_self_signed_certificate(const std::string& common_name = "localhost");

// The certificate and key written to temporary .pem files.
struct TestCertificateFiles {
  explicit TestCertificateFiles(const TestCertificate& c) : cert(c.cert_pem, ".pem"), key(c.key_pem, ".pem") {}
  TempFile cert;
  TempFile key;
};

}  // namespace nib::test
