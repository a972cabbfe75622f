#pragma once
// An IPv4 or IPv6 socket address, and the client-IP key the affinity table and
// the hash policy use.
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/base/status.h"

namespace nib {

// A client's IP address as 16 bytes (IPv4 as v4-mapped IPv6), the port dropped:
// Pen tracks clients by address only.
struct IpKey {
  std::array<uint8_t, 16> bytes{};
  bool operator==(const IpKey&) const = default;
  bool is_v4() const;
  std::string to_string() const;
  // A well-mixed 64-bit hash (stable across runs and builds).
  uint64_t hash() const;
  static Result<IpKey> parse(std::string_view text);
};

class SocketAddress {
 public:
  SocketAddress() = default;
  SocketAddress(const sockaddr* sa, socklen_t len);

  // "1.2.3.4:80", "[::1]:80" (port 0 allowed: "any port"). No name resolution.
  static Result<SocketAddress> parse(std::string_view host_port);
  // A literal IP (v4 or v6, without brackets) and a port. No name resolution.
  static Result<SocketAddress> from_ip(std::string_view ip, uint16_t port);
  // A literal IP or a host name (resolved with getaddrinfo, first result), and a port.
  static Result<SocketAddress> resolve(std::string_view host, uint16_t port);
  // 0.0.0.0 (or :: when ipv6) on port.
  static SocketAddress any(uint16_t port, bool ipv6 = false);

  int family() const { return storage_.ss_family; }
  bool valid() const { return family() == AF_INET || family() == AF_INET6; }
  uint16_t port() const;
  void set_port(uint16_t port);
  IpKey ip_key() const;
  // "1.2.3.4" or "::1".
  std::string ip_string() const;
  // "1.2.3.4:80" or "[::1]:80".
  std::string to_string() const;

  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* sockaddr_ptr() { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t length() const;

  bool operator==(const SocketAddress& o) const;

 private:
  sockaddr_storage storage_{};
};

// Splits "[host]:port", "host:port" or "port" (host empty). IPv6 literals must be
// bracketed when a port follows. Returns false when the text has no valid shape.
struct HostPort {
  std::string host;
  std::string port;
};
bool split_host_port(std::string_view text, HostPort* out);

}  // namespace nib
