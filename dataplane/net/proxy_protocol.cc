#include "dataplane/net/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace nib {
namespace {

constexpr char kV2Signature[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
constexpr std::string_view kV1Prefix = "PROXY ";
constexpr size_t kV1LineMax = 107;  // the specification's longest line, CRLF included
constexpr size_t kV2Fixed = 16;
constexpr uint8_t kV2Local = 0x20, kV2Proxy = 0x21;
constexpr uint8_t kV2Tcp4 = 0x11, kV2Tcp6 = 0x21, kV2Udp4 = 0x12, kV2Udp6 = 0x22, kV2Unspec = 0x00;

// Both ends as IPv4 when both are (v4-mapped counts as IPv4); otherwise as
// IPv6, an IPv4 end in its v4-mapped form.
bool both_v4(const SocketAddress& a, const SocketAddress& b) { return a.ip_key().is_v4() && b.ip_key().is_v4(); }

size_t write_v1(const SocketAddress& client, const SocketAddress& local, bool v4, char (&out)[kProxyHeaderMax]) {
  char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
  const IpKey c = client.ip_key(), l = local.ip_key();
  const int family = v4 ? AF_INET : AF_INET6;
  const size_t skip = v4 ? 12 : 0;  // an IPv4 address is the key's last 4 bytes
  // Cannot fail: a valid family and a buffer of the longest text.
  ::inet_ntop(family, c.bytes.data() + skip, src, sizeof src);
  ::inet_ntop(family, l.bytes.data() + skip, dst, sizeof dst);
  int n = std::snprintf(out, sizeof out, "PROXY %s %s %s %u %u\r\n", v4 ? "TCP4" : "TCP6", src, dst,
                        static_cast<unsigned>(client.port()), static_cast<unsigned>(local.port()));
  return n > 0 && static_cast<size_t>(n) < sizeof out ? static_cast<size_t>(n) : 0;
}

void put16(char* at, uint16_t v) {
  at[0] = static_cast<char>(v >> 8);
  at[1] = static_cast<char>(v & 0xff);
}

uint16_t get16(const char* at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(at[0]) << 8) | static_cast<uint8_t>(at[1]));
}

size_t write_v2(const SocketAddress& client, const SocketAddress& local, bool v4, bool datagram,
                char (&out)[kProxyHeaderMax]) {
  std::memcpy(out, kV2Signature, sizeof kV2Signature);
  out[12] = static_cast<char>(kV2Proxy);
  out[13] = static_cast<char>(datagram ? (v4 ? kV2Udp4 : kV2Udp6) : (v4 ? kV2Tcp4 : kV2Tcp6));
  const size_t addr_len = v4 ? 4 : 16, skip = v4 ? 12 : 0;
  char* p = out + kV2Fixed;
  std::memcpy(p, client.ip_key().bytes.data() + skip, addr_len);
  std::memcpy(p + addr_len, local.ip_key().bytes.data() + skip, addr_len);
  put16(p + 2 * addr_len, client.port());
  put16(p + 2 * addr_len + 2, local.port());
  const size_t body = 2 * addr_len + 4;
  put16(out + 14, static_cast<uint16_t>(body));
  return kV2Fixed + body;
}

SocketAddress address_of(const char* bytes, bool v4, uint16_t port) {
  sockaddr_storage ss{};
  if (v4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_addr, bytes, 4);
    sin->sin_port = htons(port);
    return SocketAddress(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in));
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  std::memcpy(&sin6->sin6_addr, bytes, 16);
  sin6->sin6_port = htons(port);
  return SocketAddress(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in6));
}

ProxyHeader invalid(const char* why) {
  ProxyHeader h;
  h.result = ProxyHeader::Result::kInvalid;
  h.error = why;
  return h;
}

// The next space-separated field of a v1 line; false when there is none.
bool next_field(std::string_view* rest, std::string_view* field) {
  if (rest->empty()) return false;
  size_t sp = rest->find(' ');
  *field = rest->substr(0, sp);
  *rest = sp == std::string_view::npos ? std::string_view() : rest->substr(sp + 1);
  return !field->empty();
}

bool parse_v1_port(std::string_view text, uint16_t* out) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return false;
  unsigned v = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + static_cast<unsigned>(ch - '0');
  }
  if (v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

bool parse_v1_ip(std::string_view text, bool v4, char (&bytes)[16]) {
  char copy[INET6_ADDRSTRLEN];
  if (text.size() >= sizeof copy) return false;
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  return ::inet_pton(v4 ? AF_INET : AF_INET6, copy, bytes) == 1;
}

// Where the CR of a v1 line's CRLF is; npos while the line goes on. The
// line is printable ASCII: a control byte or a CR without its LF is an error
// (*bad), found as early as the bytes allow.
size_t find_v1_crlf(std::string_view text, bool* bad) {
  for (size_t i = kV1Prefix.size(); i < text.size(); ++i) {
    const auto ch = static_cast<unsigned char>(text[i]);
    if (ch == '\r') {
      if (i + 1 == text.size()) return std::string_view::npos;  // its LF may follow
      if (text[i + 1] == '\n') return i;
      *bad = true;
      return std::string_view::npos;
    }
    if (ch < 0x20 || ch > 0x7e) {
      *bad = true;
      return std::string_view::npos;
    }
  }
  return std::string_view::npos;
}

ProxyHeader parse_v1(const char* data, size_t n) {
  const std::string_view text(data, std::min(n, kV1LineMax));
  bool bad = false;
  const size_t crlf = find_v1_crlf(text, &bad);
  if (bad) return invalid("PROXY v1 line with a control byte or a CR without LF");
  if (crlf == std::string_view::npos) {
    if (n >= kV1LineMax) return invalid("PROXY v1 line longer than 107 bytes");
    return {};
  }
  ProxyHeader h;
  h.result = ProxyHeader::Result::kDone;
  h.length = crlf + 2;
  std::string_view rest = text.substr(kV1Prefix.size(), crlf - kV1Prefix.size()), proto;
  if (!next_field(&rest, &proto)) return invalid("PROXY v1 line without a protocol");
  if (proto == "UNKNOWN") {
    h.local = true;  // the rest of the line is to be ignored
    return h;
  }
  if (proto != "TCP4" && proto != "TCP6") return invalid("PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN");
  const bool v4 = proto == "TCP4";
  std::string_view src, dst, sport, dport;
  if (!next_field(&rest, &src) || !next_field(&rest, &dst) || !next_field(&rest, &sport) ||
      !next_field(&rest, &dport) || !rest.empty()) {
    return invalid("PROXY v1 line is not 'PROXY TCPn SRC DST SPORT DPORT'");
  }
  char src_bytes[16], dst_bytes[16];
  uint16_t src_port = 0, dst_port = 0;
  if (!parse_v1_ip(src, v4, src_bytes) || !parse_v1_ip(dst, v4, dst_bytes)) {
    return invalid("PROXY v1 address does not match its protocol");
  }
  if (!parse_v1_port(sport, &src_port) || !parse_v1_port(dport, &dst_port)) return invalid("PROXY v1 port is not 0-65535");
  h.client = address_of(src_bytes, v4, src_port);
  h.destination = address_of(dst_bytes, v4, dst_port);
  return h;
}

ProxyHeader parse_v2(const char* data, size_t n) {
  if (n < kV2Fixed) return {};
  const auto ver_cmd = static_cast<uint8_t>(data[12]), family = static_cast<uint8_t>(data[13]);
  if (ver_cmd != kV2Local && ver_cmd != kV2Proxy) return invalid("PROXY v2 version or command unknown");
  const size_t total = kV2Fixed + get16(data + 14);
  if (total > kProxyHeaderReadMax) return invalid("PROXY v2 header longer than 1024 bytes");
  if (n < total) return {};
  ProxyHeader h;
  h.result = ProxyHeader::Result::kDone;
  h.length = total;
  // LOCAL: the balancer's own connection (its health check); UNSPEC or a
  // UNIX socket: no IP client to name. Either way the real peer stands.
  const uint8_t af = family >> 4;
  if (ver_cmd == kV2Local || family == kV2Unspec || af == 3) {
    h.local = true;
    return h;
  }
  if (af != 1 && af != 2) return invalid("PROXY v2 address family unknown");
  const bool v4 = af == 1;
  const size_t addr_len = v4 ? 4 : 16;
  if (total - kV2Fixed < 2 * addr_len + 4) return invalid("PROXY v2 address block too short for its family");
  const char* p = data + kV2Fixed;
  h.client = address_of(p, v4, get16(p + 2 * addr_len));
  h.destination = address_of(p + addr_len, v4, get16(p + 2 * addr_len + 2));
  return h;
}

bool starts_like(const char* data, size_t n, std::string_view prefix) {
  return std::memcmp(data, prefix.data(), std::min(n, prefix.size())) == 0;
}

}  // namespace

const char* to_string(ProxyProtocol version) {
  switch (version) {
    case ProxyProtocol::kOff: return "off";
    case ProxyProtocol::kV1: return "v1";
    case ProxyProtocol::kV2: return "v2";
  }
  return "off";
}

std::optional<ProxyProtocol> parse_proxy_protocol(std::string_view word) {
  if (word == "off") return ProxyProtocol::kOff;
  if (word == "v1") return ProxyProtocol::kV1;
  if (word == "v2") return ProxyProtocol::kV2;
  return std::nullopt;
}

size_t write_proxy_header(ProxyProtocol version, const SocketAddress& client, const SocketAddress& local,
                          char (&out)[kProxyHeaderMax]) {
  if (version == ProxyProtocol::kOff) return 0;
  const bool v4 = both_v4(client, local);
  return version == ProxyProtocol::kV1 ? write_v1(client, local, v4, out)
                                        : write_v2(client, local, v4, /*datagram=*/false, out);
}

size_t write_proxy_datagram_header(const SocketAddress& client, const SocketAddress& local,
                                   char (&out)[kProxyHeaderMax]) {
  return write_v2(client, local, both_v4(client, local), /*datagram=*/true, out);
}

size_t write_proxy_local_header(ProxyProtocol version, char (&out)[kProxyHeaderMax]) {
  if (version == ProxyProtocol::kOff) return 0;
  if (version == ProxyProtocol::kV1) {
    constexpr std::string_view kUnknown = "PROXY UNKNOWN\r\n";
    std::memcpy(out, kUnknown.data(), kUnknown.size());
    return kUnknown.size();
  }
  std::memcpy(out, kV2Signature, sizeof kV2Signature);
  out[12] = static_cast<char>(kV2Local);
  out[13] = static_cast<char>(kV2Unspec);
  put16(out + 14, 0);
  return kV2Fixed;
}

ProxyHeader parse_proxy_header(const char* data, size_t n) {
  if (n == 0) return {};
  if (starts_like(data, n, std::string_view(kV2Signature, sizeof kV2Signature))) {
    return n < sizeof kV2Signature ? ProxyHeader{} : parse_v2(data, n);
  }
  if (starts_like(data, n, kV1Prefix)) return n < kV1Prefix.size() ? ProxyHeader{} : parse_v1(data, n);
  return invalid("no PROXY header where one was required");
}

}  // namespace nib
