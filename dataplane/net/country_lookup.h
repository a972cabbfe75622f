#pragma once
// A client's country, for Pen's "acl N permit|deny country CC" entries. The
// dataplane only asks; the server supplies the database it was given
// (server/geoip_country_lookup.h: the GeoIP library Pen links), so the
// dataplane stays std + POSIX and tests can pass a table of their own.
#include <string_view>

#include "dataplane/base/status.h"
#include "dataplane/net/socket_address.h"

namespace nib {

class CountryLookup {
 public:
  virtual ~CountryLookup() = default;
  // Admin and main threads, before a list with country entries is put in
  // force: loads what lookups need (a database is opened on first use, so a
  // nib without country entries never holds one). An error names what is
  // missing; lookups before a successful prepare() answer "".
  [[nodiscard]] virtual Status prepare() = 0;
  // Any thread, concurrently; allocation-free (it runs on a worker for each
  // client a country entry is checked for). Two upper-case letters ("SE"),
  // or "" when the address is in no country the database knows.
  virtual std::string_view country(const IpKey& ip) const = 0;
};

}  // namespace nib
