#include "dataplane/dsr/dsr_frame.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace nib::dsr {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherArp = 0x0806;

uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t load32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}
void store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void store32(uint8_t* p, uint32_t v) {
  store16(p, static_cast<uint16_t>(v >> 16));
  store16(p + 2, static_cast<uint16_t>(v));
}
uint16_t ethertype(std::span<const uint8_t> frame) { return load16(frame.data() + 12); }

// RFC 1071's sum, folded, over `n` bytes (an even count here).
uint32_t add_sum(uint32_t sum, const uint8_t* p, size_t n) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += load16(p + i);
  return sum;
}
uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

std::string to_string(const Mac& mac) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return text;
}

std::optional<Arp> parse_arp(std::span<const uint8_t> frame) {
  if (frame.size() < kArpFrame || ethertype(frame) != kEtherArp) return std::nullopt;
  const uint8_t* a = frame.data() + kEthernetHeader;
  // Ethernet hardware, IPv4 protocol, 6- and 4-byte addresses: nothing else.
  if (load16(a) != 1 || load16(a + 2) != kEtherIpv4 || a[4] != 6 || a[5] != 4) return std::nullopt;
  Arp arp;
  arp.operation = load16(a + 6);
  std::memcpy(arp.sender_mac.data(), a + 8, 6);
  std::memcpy(&arp.sender_ip, a + 14, 4);
  std::memcpy(arp.target_mac.data(), a + 18, 6);
  std::memcpy(&arp.target_ip, a + 24, 4);
  return arp;
}

std::optional<Ipv4Flow> parse_ipv4(std::span<const uint8_t> frame) {
  if (frame.size() < kEthernetHeader + 20 || ethertype(frame) != kEtherIpv4) return std::nullopt;
  const uint8_t* ip = frame.data() + kEthernetHeader;
  const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
  if ((ip[0] >> 4) != 4 || ihl < 20) return std::nullopt;
  if ((load16(ip + 6) & 0x1fff) != 0) return std::nullopt;  // a later fragment: no ports
  Ipv4Flow f;
  f.protocol = ip[9];
  f.ip_header = ihl;
  std::memcpy(&f.source, ip + 12, 4);
  std::memcpy(&f.destination, ip + 16, 4);
  const size_t l4 = kEthernetHeader + ihl;
  if (f.protocol == IPPROTO_TCP) {
    if (frame.size() < l4 + 20) return std::nullopt;
    f.tcp_flags = frame[l4 + 13];
    f.sequence = load32(frame.data() + l4 + 4);
  } else if (f.protocol == IPPROTO_UDP) {
    if (frame.size() < l4 + 8) return std::nullopt;
  } else {
    return std::nullopt;
  }
  f.source_port = load16(frame.data() + l4);
  f.destination_port = load16(frame.data() + l4 + 2);
  return f;
}

size_t answer_arp(std::span<uint8_t> frame, const Arp& request, const Mac& mac) {
  uint8_t* a = frame.data() + kEthernetHeader;
  std::memcpy(frame.data(), request.sender_mac.data(), 6);
  std::memcpy(frame.data() + 6, mac.data(), 6);
  store16(a + 6, 2);
  std::memcpy(a + 8, mac.data(), 6);
  std::memcpy(a + 14, &request.target_ip, 4);
  std::memcpy(a + 18, request.sender_mac.data(), 6);
  std::memcpy(a + 24, &request.sender_ip, 4);
  return kArpFrame;
}

size_t arp_request(std::span<uint8_t> out, const Mac& mac, uint32_t own_ip, uint32_t target) {
  uint8_t* f = out.data();
  std::memset(f, 0xff, 6);
  std::memcpy(f + 6, mac.data(), 6);
  store16(f + 12, kEtherArp);
  uint8_t* a = f + kEthernetHeader;
  store16(a, 1);
  store16(a + 2, kEtherIpv4);
  a[4] = 6;
  a[5] = 4;
  store16(a + 6, 1);
  std::memcpy(a + 8, mac.data(), 6);
  std::memcpy(a + 14, &own_ip, 4);
  std::memset(a + 18, 0, 6);
  std::memcpy(a + 24, &target, 4);
  return kArpFrame;
}

void readdress(std::span<uint8_t> frame, const Mac& to, const Mac& from) {
  std::memcpy(frame.data(), to.data(), 6);
  std::memcpy(frame.data() + 6, from.data(), 6);
}

size_t tarpit_syn_ack(std::span<uint8_t> out, std::span<const uint8_t> frame, const Ipv4Flow& syn) {
  uint8_t* f = out.data();
  std::memcpy(f, frame.data() + 6, 6);  // back to the sender's MAC
  std::memcpy(f + 6, frame.data(), 6);  // from the MAC it asked
  store16(f + 12, kEtherIpv4);
  uint8_t* ip = f + kEthernetHeader;
  std::memset(ip, 0, 20);
  ip[0] = 0x45;
  store16(ip + 2, 40);
  store16(ip + 6, 0x4000);  // don't fragment
  ip[8] = 64;
  ip[9] = IPPROTO_TCP;
  std::memcpy(ip + 12, &syn.destination, 4);
  std::memcpy(ip + 16, &syn.source, 4);
  store16(ip + 10, fold(add_sum(0, ip, 20)));
  uint8_t* tcp = ip + 20;
  std::memset(tcp, 0, 20);
  store16(tcp, syn.destination_port);
  store16(tcp + 2, syn.source_port);
  // Any sequence number does: nothing will ever be sent on it.
  store32(tcp + 4, load32(reinterpret_cast<const uint8_t*>(&syn.source)) ^ 0x5eed1e55u);
  store32(tcp + 8, syn.sequence + 1);
  tcp[12] = 5 << 4;
  tcp[13] = 0x12;  // SYN, ACK
  // The pseudo header: addresses, protocol, TCP length.
  uint32_t sum = add_sum(0, ip + 12, 8) + IPPROTO_TCP + 20;
  store16(tcp + 16, fold(add_sum(sum, tcp, 20)));
  return kSynAckFrame;
}

}  // namespace nib::dsr
