#include "dataplane/net/ip_prefix.h"

namespace nib {
namespace {

// 1-3 decimal digits, nothing else (no sign, no spaces).
bool parse_length(std::string_view text, unsigned* out) {
  if (text.empty() || text.size() > 3) return false;
  unsigned n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  *out = n;
  return true;
}

}  // namespace

IpKey mask_key(const IpKey& ip, unsigned bits) {
  IpKey out = ip;
  for (unsigned i = 0; i < 16; ++i) {
    unsigned first = i * 8;
    if (bits >= first + 8) continue;
    unsigned keep = bits > first ? bits - first : 0;
    out.bytes[i] &= static_cast<uint8_t>(0xff00u >> keep);
  }
  return out;
}

Result<IpPrefix> IpPrefix::parse(std::string_view text) {
  const std::string quoted = "'" + std::string(text) + "'";
  size_t slash = text.find('/');
  std::string_view ip_text = text.substr(0, slash);
  auto ip = IpKey::parse(ip_text);
  if (ip_text.empty() || !ip.ok()) return Status::invalid("expected an IP address or CIDR prefix, got " + quoted);
  const bool v4_text = ip_text.find(':') == std::string_view::npos;
  const unsigned max_length = v4_text ? 32 : 128;
  unsigned length = max_length;
  if (slash != std::string_view::npos && !parse_length(text.substr(slash + 1), &length)) {
    return Status::invalid("expected a prefix length after '/' in " + quoted);
  }
  if (length > max_length) {
    return Status::invalid("prefix length " + std::to_string(length) + " is out of range 0-" +
                           std::to_string(max_length) + " in " + quoted);
  }
  const unsigned bits = v4_text ? 96 + length : length;
  IpPrefix p;
  p.address = mask_key(*ip, bits);
  if (!(p.address == *ip)) {
    IpPrefix net{p.address, static_cast<uint8_t>(p.address.is_v4() ? bits - 96 : bits)};
    return Status::invalid(quoted + " has host bits set; the network is " + net.to_string());
  }
  // IPv4 clients arrive as v4-mapped keys: "::ffff:10.0.0.0/104" is 10.0.0.0/8.
  p.length = static_cast<uint8_t>(p.address.is_v4() ? bits - 96 : bits);
  return p;
}

bool IpPrefix::valid() const {
  if (length > (is_v4() ? 32 : 128)) return false;
  return mask_key(address, key_bits()) == address;
}

bool IpPrefix::contains(const IpKey& ip) const { return mask_key(ip, key_bits()) == address; }

std::string IpPrefix::to_string() const { return address.to_string() + "/" + std::to_string(length); }

}  // namespace nib
