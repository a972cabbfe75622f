#pragma once
// The PROXY protocol (HAProxy's, versions 1 and 2): a header at the start of
// a TCP stream that says which client a proxied connection is for. nib sends
// one to backends that want the real client (a service's or a backend's
// `proxy_protocol`; over UDP, v2 in front of every datagram)
// and reads one from a fronting balancer it trusts (`accept_proxy_protocol`).
// Pure functions over bytes, no allocation on the paths a connection takes.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "dataplane/net/socket_address.h"

namespace nib {

enum class ProxyProtocol : uint8_t { kOff, kV1, kV2 };
// "off", "v1", "v2"; parse_proxy_protocol: nullopt for other words.
const char* to_string(ProxyProtocol version);
std::optional<ProxyProtocol> parse_proxy_protocol(std::string_view word);

// The longest header nib writes: v1 with two full IPv6 addresses (v2's
// longest, IPv6, is 52 bytes).
inline constexpr size_t kProxyHeaderMax = 108;
// The longest header nib reads: v2's address block and TLVs (certificate
// details, cloud endpoint ids) stay well below this; more is refused.
inline constexpr size_t kProxyHeaderReadMax = 1024;

// The header for a connection from `client` that reached this host at `local`
// (each IPv4, v4-mapped IPv6 or IPv6): TCP4 when both are IPv4 (v4-mapped
// counts), else TCP6 with an IPv4 end in its v4-mapped form. Returns its length.
size_t write_proxy_header(ProxyProtocol version, const SocketAddress& client, const SocketAddress& local,
                          char (&out)[kProxyHeaderMax]);
// The v2 header (v1 has no UDP form) of a UDP datagram from `client` that
// reached `local`: DGRAM over IPv4 or IPv6, as write_proxy_header chooses.
// It goes in front of every datagram, since each may reach the backend alone.
size_t write_proxy_datagram_header(const SocketAddress& client, const SocketAddress& local,
                                   char (&out)[kProxyHeaderMax]);
// The header of a connection nib makes on its own behalf (a health check):
// v1 "PROXY UNKNOWN", v2 LOCAL. The backend then uses the real peer.
size_t write_proxy_local_header(ProxyProtocol version, char (&out)[kProxyHeaderMax]);

struct ProxyHeader {
  enum class Result : uint8_t { kIncomplete, kInvalid, kDone };
  Result result = Result::kIncomplete;
  size_t length = 0;          // kDone: the header's bytes, to be consumed
  bool local = false;         // kDone: v1 UNKNOWN / v2 LOCAL or UNSPEC: no client named
  SocketAddress client;       // kDone and !local: the real client
  SocketAddress destination;  // kDone and !local: the address the client reached
  const char* error = "";     // kInvalid: why, for the log
};
// Reads a header (v1 or v2, told apart by their first bytes) from the start of
// `data`. kIncomplete: a valid beginning, more bytes needed; kInvalid: not a
// header, or one longer than kProxyHeaderReadMax.
ProxyHeader parse_proxy_header(const char* data, size_t n);

}  // namespace nib
