#include "dataplane/net/socket_address.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <charconv>
#include <cstring>

#include "dataplane/base/hash.h"

namespace nib {
namespace {

Result<uint16_t> parse_port(std::string_view text) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v > 65535) {
    return Status::invalid("expected a port number 0-65535, got '" + std::string(text) + "'");
  }
  return static_cast<uint16_t>(v);
}

}  // namespace

bool IpKey::is_v4() const {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes.data(), kPrefix, 12) == 0;
}

std::string IpKey::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  }
  return buf;
}

uint64_t IpKey::hash() const {
  uint64_t a, b;
  std::memcpy(&a, bytes.data(), 8);
  std::memcpy(&b, bytes.data() + 8, 8);
  return mix64(a ^ mix64(b ^ 0x9e3779b97f4a7c15ULL));
}

Result<IpKey> IpKey::parse(std::string_view text) {
  auto addr = SocketAddress::from_ip(text, 1);
  if (!addr.ok()) return addr.status();
  return addr->ip_key();
}

SocketAddress::SocketAddress(const sockaddr* sa, socklen_t len) {
  if (len > sizeof storage_) len = sizeof storage_;
  std::memcpy(&storage_, sa, len);
}

Result<SocketAddress> SocketAddress::from_ip(std::string_view ip, uint16_t port) {
  // inet_pton and getaddrinfo stop at a NUL: "10.0.0.1\0junk" must not pass as 10.0.0.1.
  if (ip.find('\0') != std::string_view::npos) return Status::invalid("an IP address holds no NUL byte");
  std::string s(ip);
  SocketAddress a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
  if (inet_pton(AF_INET, s.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return a;
  }
  a.storage_ = {};
  if (inet_pton(AF_INET6, s.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return a;
  }
  return Status::invalid("'" + s + "' is not an IPv4 or IPv6 address");
}

Result<SocketAddress> SocketAddress::resolve(std::string_view host, uint16_t port) {
  auto literal = from_ip(host, port);
  if (literal.ok()) return literal;
  if (host.find('\0') != std::string_view::npos) return Status::invalid("a host name holds no NUL byte");
  std::string h(host);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(h.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    return Status::invalid("cannot resolve host '" + h + "': " + gai_strerror(rc));
  }
  SocketAddress a(res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  a.set_port(port);
  return a;
}

Result<SocketAddress> SocketAddress::parse(std::string_view host_port) {
  HostPort hp;
  if (!split_host_port(host_port, &hp) || hp.host.empty()) {
    return Status::invalid("expected ip:port or [ipv6]:port, got '" + std::string(host_port) + "'");
  }
  auto port = parse_port(hp.port);
  if (!port.ok()) return port.status();
  return from_ip(hp.host, *port);
}

SocketAddress SocketAddress::any(uint16_t port, bool ipv6) {
  return *from_ip(ipv6 ? "::" : "0.0.0.0", port);
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

void SocketAddress::set_port(uint16_t port) {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
}

IpKey SocketAddress::ip_key() const {
  IpKey k;
  if (family() == AF_INET) {
    k.bytes[10] = k.bytes[11] = 0xff;
    std::memcpy(k.bytes.data() + 12, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, 4);
  } else if (family() == AF_INET6) {
    std::memcpy(k.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, 16);
  }
  return k;
}

std::string SocketAddress::ip_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

std::string SocketAddress::to_string() const {
  if (family() == AF_INET6) return "[" + ip_string() + "]:" + std::to_string(port());
  return ip_string() + ":" + std::to_string(port());
}

socklen_t SocketAddress::length() const {
  return family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

bool SocketAddress::operator==(const SocketAddress& o) const {
  return family() == o.family() && port() == o.port() && ip_key() == o.ip_key();
}

bool split_host_port(std::string_view text, HostPort* out) {
  if (text.empty()) return false;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return false;
    out->host = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return false;
    out->port = std::string(rest.substr(1));
    return !out->host.empty() && !out->port.empty();
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    out->host.clear();
    out->port = std::string(text);
    return true;
  }
  if (text.find(':') != colon) return false;  // unbracketed IPv6
  out->host = std::string(text.substr(0, colon));
  out->port = std::string(text.substr(colon + 1));
  return !out->port.empty();
}

}  // namespace nib
