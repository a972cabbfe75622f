#pragma once
// Pen's ssl_* words, which arrive both with -o at start (server/config) and
// on the control port at runtime (admin/penctl): one reading of them, so the
// two places accept the same words with the same errors.
//
//   ssl_ciphers LIST        TLS 1.2 cipher list
//   ssl_sni_path DIRECTORY  a certificate per server name (NAME.crt, NAME.key, NAME.ca)
//   ssl_option OPTION       no_sslv2 | no_sslv3 | no_tlsv1 | no_tlsv1.1 (always
//                           off in nib) | no_tlsv1.2 (floor 1.3) | cipher_server_preference
//   ssl_ocsp_response FILE  a DER OCSP response to staple
//   ssl_client_renegotiation_interval S   accepted; nib always refuses renegotiation
#include <optional>
#include <string>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/config/service_config.h"

namespace nib {

struct PenSslWord {
  Status status;     // an error says what was expected (without the word's position)
  std::string note;  // set when the word is accepted but means nothing to nib
};

// `words` (the word and its argument) applied to `tls`; nullopt when words[0]
// is not an ssl_ word nib knows. On an error `tls` is unchanged.
std::optional<PenSslWord> apply_pen_ssl_word(const std::vector<std::string>& words, TlsConfig& tls);

// Pen's reply to the word alone: the value in force ("ssl_ciphers" gives the
// cipher list, "ssl_option" the options that are on); nullopt for other words.
std::optional<std::string> pen_ssl_value(const std::string& word, const TlsConfig& tls);

}  // namespace nib
