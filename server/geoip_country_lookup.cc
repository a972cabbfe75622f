#include "server/geoip_country_lookup.h"

#include <GeoIP.h>
#include <netinet/in.h>

#include <cstring>

namespace nib {
namespace {

struct CloseGeoIp {
  void operator()(GeoIP* gi) const { GeoIP_delete(gi); }
};
using GeoIpHandle = std::unique_ptr<GeoIP, CloseGeoIp>;

GeoIpHandle open_database(const std::string& path) {
  // MEMORY_CACHE: the file is read once, lookups touch no file; SILENCE: the
  // library's own complaints stay off stderr (the caller says what failed).
  return GeoIpHandle(GeoIP_open(path.c_str(), GEOIP_MEMORY_CACHE | GEOIP_SILENCE));
}

}  // namespace

struct GeoIpCountryLookup::Databases {
  GeoIpHandle v4;
  GeoIpHandle v6;  // may be null
};

GeoIpCountryLookup::GeoIpCountryLookup(std::string ipv4_database, std::string ipv6_database)
    : ipv4_path_(std::move(ipv4_database)), ipv6_path_(std::move(ipv6_database)) {}

GeoIpCountryLookup::~GeoIpCountryLookup() = default;

Status GeoIpCountryLookup::prepare() {
  std::lock_guard lock(open_mu_);
  if (owned_) return {};
  auto dbs = std::make_unique<Databases>();
  dbs->v4 = open_database(ipv4_path_);
  if (!dbs->v4) {
    return Status::unavailable("GeoIP country database " + ipv4_path_ +
                               " cannot be opened (Debian's geoip-database package installs it)");
  }
  dbs->v6 = open_database(ipv6_path_);
  owned_ = std::move(dbs);
  databases_.store(owned_.get(), std::memory_order_release);
  return {};
}

std::string_view GeoIpCountryLookup::country(const IpKey& ip) const {
  const Databases* dbs = databases_.load(std::memory_order_acquire);
  if (dbs == nullptr) return {};
  // The _gl calls keep the lookup's scratch state on our stack: the plain
  // ones write it into the shared handle, a race between workers.
  GeoIPLookup gl{};
  const char* code = nullptr;
  if (ip.is_v4()) {
    const unsigned long ipnum = (static_cast<unsigned long>(ip.bytes[12]) << 24) | (ip.bytes[13] << 16) |
                                (ip.bytes[14] << 8) | ip.bytes[15];
    code = GeoIP_country_code_by_ipnum_gl(dbs->v4.get(), ipnum, &gl);
  } else if (dbs->v6) {
    geoipv6_t v6;
    std::memcpy(&v6, ip.bytes.data(), sizeof v6);
    code = GeoIP_country_code_by_ipnum_v6_gl(dbs->v6.get(), v6, &gl);
  }
  // Codes are static two-letter strings; "--" and null mean unknown.
  if (code == nullptr || std::strlen(code) != 2 || code[0] == '-') return {};
  return std::string_view(code, 2);
}

}  // namespace nib
