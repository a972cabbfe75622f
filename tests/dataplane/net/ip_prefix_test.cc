// IP prefixes as operators write them for pins.
#include "dataplane/net/ip_prefix.h"

#include <gtest/gtest.h>

namespace nib {
namespace {

IpKey ip(const char* text) { return *IpKey::parse(text); }

IpPrefix prefix(const char* text) {
  auto p = IpPrefix::parse(text);
  EXPECT_TRUE(p.ok()) << text << ": " << p.status().message();
  return p.ok() ? *p : IpPrefix{};
}

TEST(IpPrefixTest, ParsesIpv4Networks) {
  IpPrefix p = prefix("10.1.0.0/16");
  EXPECT_TRUE(p.is_v4());
  EXPECT_EQ(p.length, 16);
  EXPECT_EQ(p.key_bits(), 112u);
  EXPECT_EQ(p.to_string(), "10.1.0.0/16");
  EXPECT_TRUE(p.contains(ip("10.1.0.0")));
  EXPECT_TRUE(p.contains(ip("10.1.255.7")));
  EXPECT_FALSE(p.contains(ip("10.2.0.1")));
  EXPECT_FALSE(p.contains(ip("::a01:1")));  // the same low bits, but IPv6
}

TEST(IpPrefixTest, ABareAddressIsAFullLengthPrefix) {
  IpPrefix v4 = prefix("10.0.0.7");
  EXPECT_EQ(v4.length, 32);
  EXPECT_EQ(v4.to_string(), "10.0.0.7/32");
  EXPECT_TRUE(v4.contains(ip("10.0.0.7")));
  EXPECT_FALSE(v4.contains(ip("10.0.0.8")));
  IpPrefix v6 = prefix("::1");
  EXPECT_EQ(v6.length, 128);
  EXPECT_EQ(v6.to_string(), "::1/128");
  EXPECT_TRUE(v6.contains(ip("::1")));
  EXPECT_FALSE(v6.contains(ip("::2")));
  EXPECT_EQ(prefix("::1/128"), v6);
}

TEST(IpPrefixTest, ParsesIpv6Networks) {
  IpPrefix p = prefix("2001:db8::/32");
  EXPECT_FALSE(p.is_v4());
  EXPECT_EQ(p.to_string(), "2001:db8::/32");
  EXPECT_TRUE(p.contains(ip("2001:db8:ffff::1")));
  EXPECT_FALSE(p.contains(ip("2001:db9::1")));
  EXPECT_TRUE(prefix("2001:db8::/33").contains(ip("2001:db8:7fff::1")));
  EXPECT_FALSE(prefix("2001:db8::/33").contains(ip("2001:db8:8000::1")));
}

TEST(IpPrefixTest, ZeroLengthPrefixes) {
  IpPrefix any4 = prefix("0.0.0.0/0");
  EXPECT_TRUE(any4.contains(ip("1.2.3.4")));
  EXPECT_TRUE(any4.contains(ip("255.255.255.255")));
  EXPECT_FALSE(any4.contains(ip("2001:db8::1")));  // IPv4 prefixes hold IPv4 clients only
  IpPrefix any6 = prefix("::/0");
  EXPECT_TRUE(any6.contains(ip("2001:db8::1")));
  EXPECT_TRUE(any6.contains(ip("1.2.3.4")));  // every key, v4-mapped ones too
}

TEST(IpPrefixTest, NonOctetLengths) {
  IpPrefix p = prefix("192.168.4.0/22");
  EXPECT_TRUE(p.contains(ip("192.168.7.255")));
  EXPECT_FALSE(p.contains(ip("192.168.8.0")));
  EXPECT_FALSE(p.contains(ip("192.168.3.255")));
  EXPECT_TRUE(prefix("128.0.0.0/1").contains(ip("200.1.1.1")));
  EXPECT_FALSE(prefix("128.0.0.0/1").contains(ip("127.1.1.1")));
}

TEST(IpPrefixTest, V4MappedIpv6IsTheIpv4Prefix) {
  IpPrefix p = prefix("::ffff:10.0.0.0/104");
  EXPECT_TRUE(p.is_v4());
  EXPECT_EQ(p.length, 8);
  EXPECT_EQ(p, prefix("10.0.0.0/8"));
  EXPECT_EQ(p.to_string(), "10.0.0.0/8");
}

TEST(IpPrefixTest, RejectsHostBitsAndNamesTheNetwork) {
  auto p = IpPrefix::parse("10.1.2.3/16");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("10.1.0.0/16"), std::string::npos) << p.status().message();
  EXPECT_FALSE(IpPrefix::parse("2001:db8::1/32").ok());
  EXPECT_FALSE(IpPrefix::parse("0.0.0.1/0").ok());
}

TEST(IpPrefixTest, RejectsLengthsOutOfRange) {
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/128", "::/129", "::/999", "::/1000"}) {
    auto p = IpPrefix::parse(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(IpPrefix::parse("10.0.0.0/32").ok());
  EXPECT_TRUE(IpPrefix::parse("::/128").ok());
}

TEST(IpPrefixTest, RejectsGarbage) {
  for (const char* bad : {"", "/", "/8", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8/8",
                          "10.0.0.0/ 8", " 10.0.0.0/8", "10.0.0/8", "10.0.0.256", "example.com",
                          "example.com/8", "[::1]/128", "::1%lo/128", "10.0.0.0/8x", "1.2.3.4:80"}) {
    auto p = IpPrefix::parse(bad);
    EXPECT_FALSE(p.ok()) << "'" << bad << "' was accepted";
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST(IpPrefixTest, ValidChecksHandBuiltPrefixes) {
  EXPECT_TRUE(prefix("10.0.0.0/8").valid());
  EXPECT_TRUE(prefix("::/0").valid());
  IpPrefix too_long = prefix("10.0.0.0/8");
  too_long.length = 33;
  EXPECT_FALSE(too_long.valid());
  IpPrefix host_bits{ip("10.0.0.1"), 8};
  EXPECT_FALSE(host_bits.valid());
  IpPrefix v6_default;  // ::/128
  EXPECT_TRUE(v6_default.valid());
}

TEST(IpPrefixTest, MaskKeyClearsTrailingBits) {
  EXPECT_EQ(mask_key(ip("10.255.255.255"), 96 + 9), ip("10.128.0.0"));
  EXPECT_EQ(mask_key(ip("::ffff:ffff"), 128), ip("::ffff:ffff"));
  EXPECT_EQ(mask_key(ip("ffff::1"), 0), ip("::"));
}

}  // namespace
}  // namespace nib
