#include "dataplane/config/pen_ssl_words.h"

#include <gtest/gtest.h>

namespace nib {
namespace {

TEST(PenSslWordsTest, EachWordSetsItsField) {
  TlsConfig tls;
  ASSERT_TRUE(apply_pen_ssl_word({"ssl_ciphers", "ECDHE-RSA-AES128-GCM-SHA256"}, tls)->status.ok());
  ASSERT_TRUE(apply_pen_ssl_word({"ssl_sni_path", "/etc/nib/sni"}, tls)->status.ok());
  ASSERT_TRUE(apply_pen_ssl_word({"ssl_ocsp_response", "/etc/nib/ocsp.der"}, tls)->status.ok());
  ASSERT_TRUE(apply_pen_ssl_word({"ssl_option", "cipher_server_preference"}, tls)->status.ok());
  ASSERT_TRUE(apply_pen_ssl_word({"ssl_option", "no_tlsv1.2"}, tls)->status.ok());
  EXPECT_EQ(tls.ciphers, "ECDHE-RSA-AES128-GCM-SHA256");
  EXPECT_EQ(tls.sni_path, "/etc/nib/sni");
  EXPECT_EQ(tls.ocsp_response_file, "/etc/nib/ocsp.der");
  EXPECT_TRUE(tls.prefer_server_ciphers);
  EXPECT_EQ(tls.min_version, "1.3");
  EXPECT_EQ(*pen_ssl_value("ssl_ciphers", tls), "ECDHE-RSA-AES128-GCM-SHA256");
  EXPECT_EQ(*pen_ssl_value("ssl_option", tls), "no_sslv2 no_sslv3 no_tlsv1 no_tlsv1.1 no_tlsv1.2 cipher_server_preference");
  EXPECT_EQ(*pen_ssl_value("ssl_client_renegotiation_interval", tls), "0");
}

TEST(PenSslWordsTest, OldProtocolsAreAlwaysOffAndRenegotiationIsANote) {
  TlsConfig tls;
  for (const char* o : {"no_sslv2", "no_sslv3", "no_tlsv1", "no_tlsv1.1"}) {
    auto done = apply_pen_ssl_word({"ssl_option", o}, tls);
    ASSERT_TRUE(done && done->status.ok()) << o;
  }
  EXPECT_EQ(tls, TlsConfig{});
  auto reneg = apply_pen_ssl_word({"ssl_client_renegotiation_interval", "60"}, tls);
  ASSERT_TRUE(reneg && reneg->status.ok());
  EXPECT_NE(reneg->note.find("refuses client renegotiation"), std::string::npos);
}

TEST(PenSslWordsTest, ErrorsSayWhatWasExpectedAndChangeNothing) {
  TlsConfig tls;
  auto bad = apply_pen_ssl_word({"ssl_option", "no_tlsv1.3"}, tls);
  ASSERT_TRUE(bad);
  EXPECT_NE(bad->status.message().find("expected one of"), std::string::npos);
  auto missing = apply_pen_ssl_word({"ssl_ciphers"}, tls);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status.message(), "expected 'ssl_ciphers CIPHERS' (an OpenSSL cipher list)");
  EXPECT_EQ(tls, TlsConfig{});
  EXPECT_FALSE(apply_pen_ssl_word({"ssl_nonsense", "x"}, tls));
  EXPECT_FALSE(pen_ssl_value("timeout", tls));
}

}  // namespace
}  // namespace nib
