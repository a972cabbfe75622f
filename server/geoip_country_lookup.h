#pragma once
// Pen's "acl N permit|deny country CC" answered from the GeoIP country
// databases, through the legacy GeoIP library Pen itself links (Debian's
// libgeoip1 and geoip-database). The databases are opened by the first
// prepare(), so a nib without country entries holds none of their ~10 MiB.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "dataplane/net/country_lookup.h"

namespace nib {

class GeoIpCountryLookup final : public CountryLookup {
 public:
  static constexpr const char* kDefaultIpv4Database = "/usr/share/GeoIP/GeoIP.dat";
  static constexpr const char* kDefaultIpv6Database = "/usr/share/GeoIP/GeoIPv6.dat";

  // The IPv4 database is required by prepare(); the IPv6 one is used when it
  // opens (without it, IPv6 clients are in no country).
  explicit GeoIpCountryLookup(std::string ipv4_database = kDefaultIpv4Database,
                              std::string ipv6_database = kDefaultIpv6Database);
  ~GeoIpCountryLookup() override;
  GeoIpCountryLookup(const GeoIpCountryLookup&) = delete;
  GeoIpCountryLookup& operator=(const GeoIpCountryLookup&) = delete;

  // Admin and main threads; the first successful call opens the databases
  // into memory (GEOIP_MEMORY_CACHE: lookups then touch no file and are safe
  // from any thread). An error names the file and the package.
  Status prepare() override;
  // Any thread.
  std::string_view country(const IpKey& ip) const override;

 private:
  struct Databases;
  const std::string ipv4_path_;
  const std::string ipv6_path_;
  std::mutex open_mu_;
  std::unique_ptr<Databases> owned_;           // under open_mu_
  std::atomic<const Databases*> databases_{};  // published once opened
};

}  // namespace nib
