#pragma once
// Prometheus metrics, pulled at scrape time: Collect() reads Dataplane::status()
// (the dataplane's own per-worker atomic counters, summed) and turns it into
// metric families. Nothing is copied between scrapes, so a counter is exactly
// the dataplane's counter: it never goes backwards across a config reload,
// because the dataplane keeps a backend's counters while its address stays.
// The admin plane's own request counters live here.
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace nib {
class Dataplane;
}

namespace nib::admin {

class AdminApi;
class AdminPlaneStats;
class DiscoveryStats;

class MetricsCollector : public prometheus::Collectable {
 public:
  // `admin_stats` (may be null; must outlive the collector): the admin plane's
  // limit hits and open connections and streams.
  // `discovery` (may be null; must outlive the collector): backends_from's lookups.
  // `core` (may be null; must outlive the collector): the shared registry's link.
  explicit MetricsCollector(const Dataplane& dataplane, const AdminPlaneStats* admin_stats = nullptr,
                            const DiscoveryStats* discovery = nullptr, const AdminApi* core = nullptr);

  // Any thread.
  std::vector<prometheus::MetricFamily> Collect() const override;

  // Any thread. One admin request answered. `route` is the route template
  // ("/api/v1/services/{service}/backends"), never the raw path, so the label
  // set stays small whatever clients send.
  void count_request(const std::string& route, const std::string& method, int code);

  // Any thread. Collect() in Prometheus' text exposition format.
  std::string scrape() const;

 private:
  void collect_requests(std::vector<prometheus::MetricFamily>* out) const;
  void collect_admin_limits(std::vector<prometheus::MetricFamily>* out) const;
  void collect_discovery(std::vector<prometheus::MetricFamily>* out) const;
  void collect_registry(std::vector<prometheus::MetricFamily>* out) const;

  const Dataplane& dataplane_;
  const AdminPlaneStats* admin_stats_;
  const DiscoveryStats* discovery_;
  const AdminApi* core_;
  mutable std::mutex requests_mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
};

}  // namespace nib::admin
