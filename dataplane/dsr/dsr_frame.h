#pragma once
// Ethernet frames as Direct Server Return sees them (Pen's dsr_if): ARP to
// answer for the service address and to learn the backends' MAC addresses
// from, IPv4 TCP/UDP to forward by rewriting the MAC addresses only (the
// backends hold the service address themselves and answer the client
// directly), and the SYN-ACK that tarpits a scanner. Pure functions over a
// frame's bytes: every frame is a stranger's input, so each parse checks its
// lengths, and the tests need no raw socket.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace nib::dsr {

using Mac = std::array<uint8_t, 6>;
std::string to_string(const Mac& mac);  // "02:00:0a:00:00:01"

constexpr size_t kEthernetHeader = 14;
constexpr size_t kArpFrame = kEthernetHeader + 28;
constexpr size_t kSynAckFrame = kEthernetHeader + 20 + 20;

// IPv4 addresses stay in network byte order, as they sit in the frame.
struct Arp {
  uint16_t operation = 0;  // 1 request, 2 reply
  Mac sender_mac{};
  uint32_t sender_ip = 0;
  Mac target_mac{};
  uint32_t target_ip = 0;
};

struct Ipv4Flow {
  uint32_t source = 0;       // network order
  uint32_t destination = 0;  // network order
  uint8_t protocol = 0;      // IPPROTO_TCP or IPPROTO_UDP; others are not parsed
  uint16_t source_port = 0;       // host order
  uint16_t destination_port = 0;  // host order
  uint8_t tcp_flags = 0;          // TCP only
  uint32_t sequence = 0;          // TCP only, host order
  size_t ip_header = 0;           // its length in bytes

  bool syn() const { return (tcp_flags & 0x12) == 0x02; }  // SYN without ACK: a new connection
  bool rst() const { return (tcp_flags & 0x04) != 0; }
  bool fin() const { return (tcp_flags & 0x01) != 0; }
};

// The frame's ARP packet (IPv4 over Ethernet), if it is one.
std::optional<Arp> parse_arp(std::span<const uint8_t> frame);
// The frame's IPv4 TCP or UDP header fields, if it carries one whose ports
// are in this frame (a later fragment has none: nullopt).
std::optional<Ipv4Flow> parse_ipv4(std::span<const uint8_t> frame);

// Rewrites the ARP request in `frame` (parsed as `request`) into the reply
// "request.target_ip is at `mac`", sent back to the asker. Returns its length.
size_t answer_arp(std::span<uint8_t> frame, const Arp& request, const Mac& mac);
// Writes a broadcast "who has `target`" from (`mac`, `own_ip`) into `out`
// (kArpFrame bytes at least). Returns its length.
size_t arp_request(std::span<uint8_t> out, const Mac& mac, uint32_t own_ip, uint32_t target);
// The frame goes to `to` from `from`: all DSR changes in a forwarded frame.
void readdress(std::span<uint8_t> frame, const Mac& to, const Mac& from);
// Writes into `out` (kSynAckFrame bytes at least) the SYN-ACK that answers
// `syn` (parsed from `frame`) as if its destination listened: the tarpit.
// A zero window holds the scanner without taking data. Returns its length.
size_t tarpit_syn_ack(std::span<uint8_t> out, std::span<const uint8_t> frame, const Ipv4Flow& syn);

}  // namespace nib::dsr
