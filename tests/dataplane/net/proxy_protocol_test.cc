// The PROXY protocol header: what nib writes reads back, v1 and v2 as the
// specification (haproxy.org/download/2.9/doc/proxy-protocol.txt) lays them
// out, and every malformed or partial header is told apart.
#include "dataplane/net/proxy_protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace nib {
namespace {

SocketAddress addr(const std::string& text) { return *SocketAddress::parse(text); }

std::string header(ProxyProtocol v, const std::string& client, const std::string& local) {
  char out[kProxyHeaderMax];
  size_t n = write_proxy_header(v, addr(client), addr(local), out);
  return std::string(out, n);
}

ProxyHeader parse(const std::string& bytes) { return parse_proxy_header(bytes.data(), bytes.size()); }

TEST(ProxyProtocolTest, V1IsTheSpecificationsLine) {
  EXPECT_EQ(header(ProxyProtocol::kV1, "10.1.2.3:5555", "192.168.0.1:80"),
            "PROXY TCP4 10.1.2.3 192.168.0.1 5555 80\r\n");
  EXPECT_EQ(header(ProxyProtocol::kV1, "[2001:db8::1]:40000", "[::1]:443"), "PROXY TCP6 2001:db8::1 ::1 40000 443\r\n");
  // A v4-mapped client on a dual-stack listener is an IPv4 client.
  EXPECT_EQ(header(ProxyProtocol::kV1, "[::ffff:10.0.0.9]:1", "[::ffff:10.0.0.1]:2"),
            "PROXY TCP4 10.0.0.9 10.0.0.1 1 2\r\n");
  EXPECT_EQ(header(ProxyProtocol::kOff, "10.1.2.3:5555", "192.168.0.1:80"), "");
}

TEST(ProxyProtocolTest, V2IsTheSpecificationsBinaryBlock) {
  const std::string h = header(ProxyProtocol::kV2, "10.1.2.3:5555", "192.168.0.1:80");
  const std::string expected("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c"
                             "\x0a\x01\x02\x03\xc0\xa8\x00\x01\x15\xb3\x00\x50",
                             28);
  EXPECT_EQ(h, expected);
  EXPECT_EQ(header(ProxyProtocol::kV2, "[2001:db8::1]:1", "[::1]:2").size(), 16u + 36u);
}

TEST(ProxyProtocolTest, ADatagramsHeaderIsV2OverUdp) {
  char out[kProxyHeaderMax];
  size_t n = write_proxy_datagram_header(addr("10.1.2.3:5555"), addr("192.168.0.1:53"), out);
  const std::string expected("\r\n\r\n\0\r\nQUIT\n\x21\x12\x00\x0c"
                             "\x0a\x01\x02\x03\xc0\xa8\x00\x01\x15\xb3\x00\x35",
                             28);
  EXPECT_EQ(std::string(out, n), expected);
  n = write_proxy_datagram_header(addr("[2001:db8::1]:1"), addr("[::1]:2"), out);
  ASSERT_EQ(n, 16u + 36u);
  EXPECT_EQ(static_cast<uint8_t>(out[13]), 0x22) << "UDP over IPv6";
  ProxyHeader h = parse_proxy_header(out, n);
  ASSERT_EQ(h.result, ProxyHeader::Result::kDone);
  EXPECT_EQ(h.client, addr("[2001:db8::1]:1"));
}

TEST(ProxyProtocolTest, WhatIsWrittenReadsBack) {
  for (ProxyProtocol v : {ProxyProtocol::kV1, ProxyProtocol::kV2}) {
    for (auto [client, local] : {std::pair{"10.1.2.3:5555", "192.168.0.1:80"},
                                 std::pair{"[2001:db8::7]:65535", "[2001:db8::1]:0"}}) {
      const std::string h = header(v, client, local) + "GET / HTTP/1.1\r\n";
      ProxyHeader p = parse(h);
      ASSERT_EQ(p.result, ProxyHeader::Result::kDone) << to_string(v) << " " << p.error;
      EXPECT_FALSE(p.local);
      EXPECT_EQ(p.client, addr(client));
      EXPECT_EQ(p.destination, addr(local));
      EXPECT_EQ(h.substr(p.length), "GET / HTTP/1.1\r\n");
    }
  }
}

TEST(ProxyProtocolTest, AFamilyMixIsTcp6AndHealthChecksSendTheLocalForm) {
  EXPECT_EQ(header(ProxyProtocol::kV1, "10.0.0.1:1", "[2001:db8::1]:2"), "PROXY TCP6 ::ffff:10.0.0.1 2001:db8::1 1 2\r\n");
  char out[kProxyHeaderMax];
  for (ProxyProtocol v : {ProxyProtocol::kV1, ProxyProtocol::kV2}) {
    size_t n = write_proxy_local_header(v, out);
    ProxyHeader p = parse_proxy_header(out, n);
    ASSERT_EQ(p.result, ProxyHeader::Result::kDone) << to_string(v);
    EXPECT_TRUE(p.local);
    EXPECT_EQ(p.length, n);
  }
}

TEST(ProxyProtocolTest, EveryPrefixOfAHeaderIsIncomplete) {
  for (ProxyProtocol v : {ProxyProtocol::kV1, ProxyProtocol::kV2}) {
    const std::string h = header(v, "[2001:db8::7]:1234", "[2001:db8::1]:80");
    for (size_t n = 0; n < h.size(); ++n) {
      EXPECT_EQ(parse_proxy_header(h.data(), n).result, ProxyHeader::Result::kIncomplete) << to_string(v) << " " << n;
    }
  }
}

TEST(ProxyProtocolTest, MalformedHeadersAreInvalid) {
  const std::string v2_sig("\r\n\r\n\0\r\nQUIT\n", 12);
  for (const std::string& bad : {
           std::string("GET / HTTP/1.1\r\n"),                      // no header at all
           std::string("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"),      // unknown protocol
           std::string("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"),        // a field missing
           std::string("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"),    // one too many
           std::string("PROXY TCP4 ::1 5.6.7.8 1 2\r\n"),          // IPv6 under TCP4
           std::string("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"),          // IPv4 under TCP6
           std::string("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"),  // port out of range
           std::string("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"),     // leading zero
           std::string("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),        // LF without CR
           std::string("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 33),  // a NUL after an address
           std::string("PROXY TCP4 1.2.3.4\r 5.6"),
           "PROXY UNKNOWN " + std::string(120, 'x'),               // no CRLF within 107 bytes
           v2_sig + std::string("\x31\x11\x00\x0c", 4) + std::string(12, '\0'),  // version 3
           v2_sig + std::string("\x22\x11\x00\x0c", 4) + std::string(12, '\0'),  // command 2
           v2_sig + std::string("\x21\x11\x00\x08", 4) + std::string(8, '\0'),   // IPv4 block too short
           v2_sig + std::string("\x21\x41\x00\x0c", 4) + std::string(12, '\0'),  // family 4
           v2_sig + std::string("\x21\x11\x04\x00", 4),                          // 1,024 bytes of TLVs
       }) {
    ProxyHeader p = parse(bad);
    EXPECT_EQ(p.result, ProxyHeader::Result::kInvalid) << bad;
    EXPECT_STRNE(p.error, "") << bad;
  }
}

TEST(ProxyProtocolTest, V2TlvsAreSkippedAndLocalAndUnspecKeepThePeer) {
  const std::string v2_sig("\r\n\r\n\0\r\nQUIT\n", 12);
  // PROXY TCP4 with 4 bytes of TLV after the addresses.
  std::string with_tlv = v2_sig + std::string("\x21\x11\x00\x10", 4) +
                         std::string("\x7f\x00\x00\x02\x7f\x00\x00\x01\x00\x01\x00\x02", 12) +
                         std::string("\x04\x00\x01\x00", 4) + "rest";
  ProxyHeader p = parse(with_tlv);
  ASSERT_EQ(p.result, ProxyHeader::Result::kDone) << p.error;
  EXPECT_EQ(p.client, addr("127.0.0.2:1"));
  EXPECT_EQ(with_tlv.substr(p.length), "rest");
  ProxyHeader unspec = parse(v2_sig + std::string("\x21\x00\x00\x00", 4));
  ASSERT_EQ(unspec.result, ProxyHeader::Result::kDone);
  EXPECT_TRUE(unspec.local);
  ProxyHeader v1_unknown = parse("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nx");
  ASSERT_EQ(v1_unknown.result, ProxyHeader::Result::kDone);
  EXPECT_TRUE(v1_unknown.local);
  EXPECT_EQ(v1_unknown.length, 35u);
}

TEST(ProxyProtocolTest, VersionWords) {
  for (ProxyProtocol v : {ProxyProtocol::kOff, ProxyProtocol::kV1, ProxyProtocol::kV2}) {
    EXPECT_EQ(parse_proxy_protocol(to_string(v)), v);
  }
  EXPECT_EQ(parse_proxy_protocol("v3"), std::nullopt);
}

}  // namespace
}  // namespace nib
