// Direct Server Return's frame parsers (dataplane/dsr/dsr_frame), which read
// every frame on the interface, anyone's: any input is parsed or refused,
// never a crash or a read past the frame. An ARP request it accepts turns
// into a reply that reads back as the answer to it; a TCP SYN into a
// tarpit SYN-ACK that reads back with the ports swapped and checksums that
// hold.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/dsr/dsr_frame.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "dsr_frame: %s\n", what);
  std::abort();
}

uint16_t ones_sum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nib::dsr;
  // An exact-size copy, so that ASan sees a read past the frame.
  std::unique_ptr<uint8_t[]> bytes(new uint8_t[size]);
  if (size != 0) std::memcpy(bytes.get(), data, size);
  const std::span<const uint8_t> frame(bytes.get(), size);
  const Mac mac = {0x02, 0, 0, 0, 0, 0x01};
  if (auto arp = parse_arp(frame)) {
    if (size < kArpFrame) fail("an ARP packet shorter than one");
    if (arp->operation == 1) {
      std::vector<uint8_t> reply(bytes.get(), bytes.get() + size);
      const size_t n = answer_arp(reply, *arp, mac);
      auto back = parse_arp(std::span(reply.data(), n));
      if (!back || back->operation != 2 || back->sender_ip != arp->target_ip || back->target_ip != arp->sender_ip ||
          back->sender_mac != mac || back->target_mac != arp->sender_mac) {
        fail("a reply that does not answer its request");
      }
    }
  }
  auto flow = parse_ipv4(frame);
  if (!flow) return 0;
  if (size < kEthernetHeader + flow->ip_header + 8) fail("ports read past the frame");
  if (!flow->syn() || flow->protocol != 6) return 0;
  uint8_t out[kSynAckFrame];
  const size_t n = tarpit_syn_ack(out, frame, *flow);
  auto back = parse_ipv4(std::span<const uint8_t>(out, n));
  if (!back || back->source != flow->destination || back->destination != flow->source ||
      back->source_port != flow->destination_port || back->destination_port != flow->source_port ||
      back->tcp_flags != 0x12) {
    fail("a SYN-ACK that does not answer its SYN");
  }
  if (ones_sum(out + kEthernetHeader, 20) != 0xffff) fail("a bad IPv4 header checksum");
  const uint32_t pseudo = ones_sum(out + kEthernetHeader + 12, 8) + 6 + 20;
  if (ones_sum(out + kEthernetHeader + 20, 20, pseudo) != 0xffff) fail("a bad TCP checksum");
  return 0;
}
