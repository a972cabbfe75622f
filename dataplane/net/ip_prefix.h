#pragma once
// An IPv4 or IPv6 network, as operators name groups of clients (pins).
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/base/status.h"
#include "dataplane/net/socket_address.h"

namespace nib {

// An IPv4 or IPv6 address with a prefix length: "10.1.0.0/16", "::1/128", or
// a bare address (a full-length prefix).
struct IpPrefix {
  IpKey address;       // masked to `length` bits (IPv4 as v4-mapped: length counts from bit 96)
  uint8_t length = 128;

  // "10.1.0.0/16", "2001:db8::/32", "::1/128", "10.0.0.7" (= /32). Host bits
  // set ("10.1.2.3/16") are an error, not masked away: that typo would pin a
  // whole network when one host was meant. "::ffff:a.b.c.d/n" (n >= 96) is the
  // IPv4 prefix a.b.c.d/(n-96). Errors are kInvalidArgument.
  static Result<IpPrefix> parse(std::string_view text);

  // An IPv4 prefix holds IPv4 clients only; an IPv6 prefix shorter than 96
  // bits ("::/0") also holds the v4-mapped keys of IPv4 clients.
  bool contains(const IpKey& ip) const;
  // Canonical, always with the length: "10.1.0.0/16", "::1/128".
  std::string to_string() const;
  bool is_v4() const { return address.is_v4(); }
  // How many leading bits of the 16-byte key the prefix fixes (IPv4: 96 + length).
  unsigned key_bits() const { return is_v4() ? 96u + length : length; }
  // The length is in range and no host bit is set (what parse() guarantees;
  // callers that build an IpPrefix by hand check it).
  bool valid() const;

  bool operator==(const IpPrefix&) const = default;
};

// `ip` with every bit after the first `bits` (of 128) cleared.
IpKey mask_key(const IpKey& ip, unsigned bits);

}  // namespace nib
