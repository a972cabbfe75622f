#include "dataplane/config/pen_ssl_words.h"

namespace nib {
namespace {

PenSslWord expected(const std::string& what) { return {Status::invalid("expected " + what), {}}; }

}  // namespace

std::optional<PenSslWord> apply_pen_ssl_word(const std::vector<std::string>& words, TlsConfig& tls) {
  if (words.empty()) return std::nullopt;
  const std::string& word = words[0];
  const bool one_argument = words.size() == 2;
  if (word == "ssl_ciphers") {
    if (!one_argument) return expected("'ssl_ciphers CIPHERS' (an OpenSSL cipher list)");
    tls.ciphers = words[1];
  } else if (word == "ssl_sni_path") {
    if (!one_argument) return expected("'ssl_sni_path DIRECTORY'");
    tls.sni_path = words[1];
  } else if (word == "ssl_option") {
    if (!one_argument) return expected("'ssl_option OPTION'");
    const std::string& o = words[1];
    if (o == "cipher_server_preference") {
      tls.prefer_server_ciphers = true;
    } else if (o == "no_tlsv1.2") {
      tls.min_version = "1.3";
    } else if (o != "no_sslv2" && o != "no_sslv3" && o != "no_tlsv1" && o != "no_tlsv1.1") {
      return expected("one of: no_sslv2, no_sslv3, no_tlsv1, no_tlsv1.1, no_tlsv1.2, cipher_server_preference");
    }  // the protocols before TLS 1.2 are always off
  } else if (word == "ssl_ocsp_response") {
    if (!one_argument) return expected("'ssl_ocsp_response FILE' (a DER OCSP response)");
    tls.ocsp_response_file = words[1];
  } else if (word == "ssl_client_renegotiation_interval") {
    if (!one_argument) return expected("'ssl_client_renegotiation_interval S'");
    return PenSslWord{{}, "nib always refuses client renegotiation; ignored"};
  } else {
    return std::nullopt;
  }
  return PenSslWord{};
}

std::optional<std::string> pen_ssl_value(const std::string& word, const TlsConfig& tls) {
  if (word == "ssl_ciphers") return tls.ciphers;
  if (word == "ssl_sni_path") return tls.sni_path;
  if (word == "ssl_ocsp_response") return tls.ocsp_response_file;
  if (word == "ssl_client_renegotiation_interval") return std::string("0");  // never allowed
  if (word == "ssl_option") {
    std::string on = "no_sslv2 no_sslv3 no_tlsv1 no_tlsv1.1";
    if (tls.min_version == "1.3") on += " no_tlsv1.2";
    if (tls.prefer_server_ciphers) on += " cipher_server_preference";
    return on;
  }
  return std::nullopt;
}

}  // namespace nib
