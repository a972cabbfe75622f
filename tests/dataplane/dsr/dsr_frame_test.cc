#include "dataplane/dsr/dsr_frame.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace nib::dsr {
namespace {

const Mac kNib = {0x02, 0, 0, 0, 0, 0x01};
const Mac kClient = {0x02, 0, 0, 0, 0, 0x10};

uint32_t ip(const char* text) {
  in_addr a{};
  EXPECT_EQ(::inet_pton(AF_INET, text, &a), 1);
  return a.s_addr;
}

// An Ethernet + IPv4 + TCP frame from 10.0.0.10:40000 to 10.0.0.100:80.
std::vector<uint8_t> tcp_frame(uint8_t flags, uint32_t seq = 1000, uint16_t fragment = 0) {
  std::vector<uint8_t> f(14 + 20 + 20, 0);
  std::copy(kNib.begin(), kNib.end(), f.begin());
  std::copy(kClient.begin(), kClient.end(), f.begin() + 6);
  f[12] = 0x08;
  f[14] = 0x45;
  f[14 + 3] = 40;
  f[14 + 6] = static_cast<uint8_t>(fragment >> 8);
  f[14 + 7] = static_cast<uint8_t>(fragment);
  f[14 + 8] = 64;
  f[14 + 9] = IPPROTO_TCP;
  const uint32_t src = ip("10.0.0.10"), dst = ip("10.0.0.100");
  std::memcpy(&f[14 + 12], &src, 4);
  std::memcpy(&f[14 + 16], &dst, 4);
  uint8_t* t = &f[34];
  t[0] = 40000 >> 8, t[1] = 40000 & 0xff, t[2] = 0, t[3] = 80;
  t[4] = static_cast<uint8_t>(seq >> 24), t[5] = static_cast<uint8_t>(seq >> 16);
  t[6] = static_cast<uint8_t>(seq >> 8), t[7] = static_cast<uint8_t>(seq);
  t[12] = 5 << 4;
  t[13] = flags;
  return f;
}

// RFC 1071: a header with its checksum in place sums to 0xffff.
uint16_t ones_sum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

TEST(DsrFrameTest, AnArpRequestIsAnsweredWithOurMacForTheAskedAddress) {
  std::vector<uint8_t> frame(60, 0);  // padded to Ethernet's minimum, as on the wire
  ASSERT_EQ(arp_request(frame, kClient, ip("10.0.0.10"), ip("10.0.0.100")), kArpFrame);
  auto request = parse_arp(frame);
  ASSERT_TRUE(request);
  EXPECT_EQ(request->operation, 1);
  EXPECT_EQ(request->sender_mac, kClient);
  EXPECT_EQ(request->sender_ip, ip("10.0.0.10"));
  EXPECT_EQ(request->target_ip, ip("10.0.0.100"));
  EXPECT_EQ(frame[0], 0xff) << "broadcast";

  ASSERT_EQ(answer_arp(frame, *request, kNib), kArpFrame);
  auto reply = parse_arp(frame);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->operation, 2);
  EXPECT_EQ(reply->sender_mac, kNib);
  EXPECT_EQ(reply->sender_ip, ip("10.0.0.100"));
  EXPECT_EQ(reply->target_mac, kClient);
  EXPECT_EQ(reply->target_ip, ip("10.0.0.10"));
  EXPECT_TRUE(std::equal(kClient.begin(), kClient.end(), frame.begin())) << "sent to the asker";
  EXPECT_TRUE(std::equal(kNib.begin(), kNib.end(), frame.begin() + 6));
}

TEST(DsrFrameTest, OnlyEthernetIpv4ArpOfFullLengthIsParsed) {
  std::vector<uint8_t> frame(60, 0);
  arp_request(frame, kClient, 0, ip("10.0.0.100"));
  for (size_t n = 0; n < kArpFrame; ++n) EXPECT_FALSE(parse_arp(std::span(frame.data(), n))) << n;
  auto other_hardware = frame;
  other_hardware[15] = 6;  // IEEE 802
  EXPECT_FALSE(parse_arp(other_hardware));
  auto ipv6 = frame;
  ipv6[12] = 0x86, ipv6[13] = 0xdd;
  EXPECT_FALSE(parse_arp(ipv6));
  EXPECT_FALSE(parse_ipv4(frame));
}

TEST(DsrFrameTest, ATcpFramesAddressesPortsAndFlagsAreRead) {
  auto f = parse_ipv4(tcp_frame(0x02, 12345));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->source, ip("10.0.0.10"));
  EXPECT_EQ(f->destination, ip("10.0.0.100"));
  EXPECT_EQ(f->protocol, IPPROTO_TCP);
  EXPECT_EQ(f->source_port, 40000);
  EXPECT_EQ(f->destination_port, 80);
  EXPECT_EQ(f->sequence, 12345u);
  EXPECT_TRUE(f->syn());
  EXPECT_FALSE(parse_ipv4(tcp_frame(0x12))->syn()) << "a SYN-ACK is no new connection";
  EXPECT_TRUE(parse_ipv4(tcp_frame(0x04))->rst());
  EXPECT_TRUE(parse_ipv4(tcp_frame(0x11))->fin());
}

TEST(DsrFrameTest, TruncatedOddAndFragmentedFramesAreNotParsed) {
  const auto whole = tcp_frame(0x02);
  for (size_t n = 0; n < whole.size(); ++n) EXPECT_FALSE(parse_ipv4(std::span(whole.data(), n))) << n;
  EXPECT_FALSE(parse_ipv4(tcp_frame(0x02, 1, 0x0010))) << "a later fragment has no ports";
  EXPECT_TRUE(parse_ipv4(tcp_frame(0x02, 1, 0x4000))) << "don't-fragment is no fragment";
  auto short_header = whole;
  short_header[14] = 0x44;  // IHL 16 bytes
  EXPECT_FALSE(parse_ipv4(short_header));
  auto long_header = whole;
  long_header[14] = 0x4f;  // IHL 60 bytes: the TCP header would be past the end
  EXPECT_FALSE(parse_ipv4(long_header));
  auto icmp = whole;
  icmp[14 + 9] = IPPROTO_ICMP;
  EXPECT_FALSE(parse_ipv4(icmp));
  auto ipv6_version = whole;
  ipv6_version[14] = 0x65;
  EXPECT_FALSE(parse_ipv4(ipv6_version));
}

TEST(DsrFrameTest, ReaddressingChangesOnlyTheMacAddresses) {
  auto frame = tcp_frame(0x10);
  const auto before = frame;
  const Mac backend = {0x02, 0, 0, 0, 0, 0x03};
  readdress(frame, backend, kNib);
  EXPECT_TRUE(std::equal(backend.begin(), backend.end(), frame.begin()));
  EXPECT_TRUE(std::equal(kNib.begin(), kNib.end(), frame.begin() + 6));
  EXPECT_TRUE(std::equal(before.begin() + 12, before.end(), frame.begin() + 12));
}

TEST(DsrFrameTest, TheTarpitsSynAckAnswersTheSynWithValidChecksums) {
  const auto syn = tcp_frame(0x02, 777);
  auto parsed = parse_ipv4(syn);
  ASSERT_TRUE(parsed);
  std::vector<uint8_t> out(kSynAckFrame);
  ASSERT_EQ(tarpit_syn_ack(out, syn, *parsed), kSynAckFrame);
  auto reply = parse_ipv4(out);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->source, ip("10.0.0.100"));
  EXPECT_EQ(reply->destination, ip("10.0.0.10"));
  EXPECT_EQ(reply->source_port, 80);
  EXPECT_EQ(reply->destination_port, 40000);
  EXPECT_EQ(reply->tcp_flags, 0x12);
  const uint8_t* t = out.data() + 34;
  EXPECT_EQ(uint32_t{t[8]} << 24 | uint32_t{t[9]} << 16 | uint32_t{t[10]} << 8 | t[11], 778u) << "acknowledges the SYN";
  EXPECT_TRUE(std::equal(kClient.begin(), kClient.end(), out.begin())) << "back to the scanner";
  EXPECT_EQ(ones_sum(out.data() + 14, 20), 0xffff) << "IPv4 header checksum";
  uint32_t pseudo = ones_sum(out.data() + 14 + 12, 8) + IPPROTO_TCP + 20;
  EXPECT_EQ(ones_sum(t, 20, pseudo), 0xffff) << "TCP checksum";
}

}  // namespace
}  // namespace nib::dsr
