// GET /metrics, parsed back and checked against traffic actually relayed.
#include "admin/metrics/metrics_collector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "tests/admin/http_admin_fixture.h"

namespace nib::admin::test {
namespace {

using ::testing::HasSubstr;

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Prometheus text format 0.0.4: "name{a="x",b="y"} value" lines, '#' comments.
std::vector<Sample> parse_metrics(const std::string& text) {
  std::vector<Sample> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string line = text.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    pos = eol == std::string::npos ? text.size() : eol + 1;
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t i = line.find_first_of("{ ");
    s.name = line.substr(0, i);
    if (line[i] == '{') {
      ++i;
      while (line[i] != '}') {
        size_t eq = line.find('=', i);
        std::string key = line.substr(i, eq - i);
        std::string value;
        size_t j = eq + 2;  // past ="
        while (line[j] != '"') {
          if (line[j] == '\\') ++j;
          value += line[j++];
        }
        s.labels[key] = value;
        i = j + 1;
        if (line[i] == ',') ++i;
      }
      ++i;
    }
    s.value = std::stod(line.substr(i + 1));
    out.push_back(s);
  }
  return out;
}

double sum(const std::vector<Sample>& samples, const std::string& name,
           const std::map<std::string, std::string>& match = {}) {
  double total = 0;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool ok = true;
    for (const auto& [k, v] : match) ok = ok && s.labels.count(k) && s.labels.at(k) == v;
    if (ok) total += s.value;
  }
  return total;
}

size_t count(const std::vector<Sample>& samples, const std::string& name) {
  size_t n = 0;
  for (const auto& s : samples) n += s.name == name;
  return n;
}

class MetricsTest : public HttpAdminFixture {
 protected:
  void SetUp() override {
    HttpAdminFixture::SetUp();
    add_backends(2);
    start();
  }

  std::vector<Sample> scrape() {
    Reply r = get("/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return parse_metrics(r.body);
  }
};

TEST_F(MetricsTest, CountersMatchTheTrafficSent) {
  std::map<std::string, uint64_t> greeting_bytes;  // what each backend sent before echoing
  for (int i = 0; i < 5; ++i) {
    std::string name = relay_once("127.0.0." + std::to_string(2 + i), "hello");
    greeting_bytes[name] += name.size() + 1;
  }
  uint64_t greetings = 0;
  for (const auto& [name, bytes] : greeting_bytes) greetings += bytes;
  // Bytes are counted as the relay moves them; the last close may still be in flight.
  std::vector<Sample> m;
  ASSERT_TRUE(nib::test::wait_until([&] {
    m = scrape();
    return sum(m, "nib_backend_bytes_out_total") == static_cast<double>(greetings + 25) &&
           sum(m, "nib_service_active_connections") == 0;
  })) << "bytes_out " << sum(m, "nib_backend_bytes_out_total") << " want " << greetings + 25;
  EXPECT_EQ(sum(m, "nib_backend_connections_total"), 5);
  EXPECT_EQ(sum(m, "nib_backend_bytes_in_total"), 25);  // "hello" x 5, client -> backend
  EXPECT_EQ(sum(m, "nib_backend_connect_failures_total"), 0);
  EXPECT_EQ(sum(m, "nib_service_accepted_connections_total", {{"service", "web"}}), 5);
  EXPECT_EQ(sum(m, "nib_affinity_table_size", {{"service", "web"}}), 5);
  EXPECT_EQ(sum(m, "nib_affinity_table_capacity", {{"service", "web"}}), 2048);
  EXPECT_EQ(sum(m, "nib_affinity_misses_total"), 5);
  EXPECT_EQ(sum(m, "nib_affinity_hits_total"), 0);
  // Labelled by service and backend: each backend's own numbers.
  for (size_t i = 0; i < 2; ++i) {
    std::string id = std::to_string(backend_id(i));
    double connections = sum(m, "nib_backend_connections_total", {{"service", "web"}, {"backend", id}});
    EXPECT_EQ(connections, static_cast<double>(backends_[i]->accepted())) << "backend " << id;
    EXPECT_EQ(sum(m, "nib_backend_up", {{"backend", id}, {"address", backends_[i]->address().to_string()}}), 1);
    // The connect latency histogram: one sample per established connect.
    EXPECT_EQ(sum(m, "nib_backend_connect_duration_seconds_count", {{"backend", id}}), connections);
    EXPECT_EQ(sum(m, "nib_backend_connect_duration_seconds_bucket", {{"backend", id}, {"le", "+Inf"}}), connections);
    EXPECT_GE(sum(m, "nib_backend_connect_duration_seconds_bucket", {{"backend", id}, {"le", "5"}}),
              sum(m, "nib_backend_connect_duration_seconds_bucket", {{"backend", id}, {"le", "0.0001"}}));
  }
  EXPECT_EQ(count(m, "nib_backend_datagrams_total"), 0u) << "TCP backends carry no datagram series";
  // A returning client is an affinity hit.
  relay_once("127.0.0.2");
  EXPECT_EQ(sum(scrape(), "nib_affinity_hits_total"), 1);
}

TEST_F(MetricsTest, CountersNeverGoBackwardsAcrossAReload) {
  for (int i = 0; i < 4; ++i) relay_once("127.0.0." + std::to_string(2 + i));
  ASSERT_TRUE(nib::test::wait_until([&] { return sum(scrape(), "nib_backend_bytes_in_total") == 20; }));
  std::vector<Sample> before = scrape();
  DataplaneConfig changed = config();
  changed.services[0].backends[0].weight = 5;  // same backends, new settings
  changed.services[0].policy.blacklist_seconds = 10;
  ASSERT_TRUE(dp_->reload(changed).ok());
  std::vector<Sample> after = scrape();
  for (const char* name : {"nib_backend_connections_total", "nib_backend_bytes_in_total",
                           "nib_backend_bytes_out_total", "nib_service_accepted_connections_total",
                           "nib_affinity_misses_total"}) {
    EXPECT_EQ(sum(after, name), sum(before, name)) << name;
  }
  EXPECT_EQ(sum(after, "nib_backend_weight", {{"backend", std::to_string(backend_id(0))}}), 5);
  relay_once("127.0.0.9");
  EXPECT_EQ(sum(scrape(), "nib_backend_connections_total"), 5);
}

TEST_F(MetricsTest, BackendStateIsOneOfFour) {
  uint32_t id = backend_id(0);
  ASSERT_EQ(patch("/api/v1/services/web/backends/" + std::to_string(id), R"({"enabled": false})").status, 200);
  auto m = scrape();
  std::map<std::string, std::string> labels{{"backend", std::to_string(id)}};
  for (const char* state : {"up", "down", "draining", "disabled"}) {
    labels["state"] = state;
    EXPECT_EQ(sum(m, "nib_backend_state", labels), std::string(state) == "disabled" ? 1 : 0) << state;
  }
  EXPECT_EQ(count(m, "nib_backend_state"), 8u);  // 4 states x 2 backends
  EXPECT_EQ(sum(m, "nib_backend_up", {{"backend", std::to_string(id)}}), 0);
}

// Pen's idlers through the REST policy: the family appears with the wanted
// number and the open ones; a bad value is a 400 that changes nothing.
TEST_F(MetricsTest, IdlersSetThroughTheApiShowOpenAndWanted) {
  EXPECT_EQ(count(scrape(), "nib_service_idlers"), 0u) << "only for services with idlers";
  ASSERT_EQ(put("/api/v1/services/web/policy", R"({"idlers": 2})").status, 200);
  std::vector<Sample> m;
  ASSERT_TRUE(nib::test::wait_until([&] {
    m = scrape();
    return sum(m, "nib_service_idlers", {{"state", "open"}}) == 2;
  }));
  EXPECT_EQ(sum(m, "nib_service_idlers", {{"service", "web"}, {"state", "wanted"}}), 2);
  Reply bad = put("/api/v1/services/web/policy", R"({"idlers": 10001})");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("idlers"), std::string::npos) << bad.body;
  EXPECT_EQ(get("/api/v1/services/web/policy").json.find("idlers")->as_uint64(), 2u) << "nothing changed";
}

TEST_F(MetricsTest, RejectedConnectionsByReason) {
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_EQ(patch("/api/v1/services/web/backends/" + std::to_string(backend_id(i)), R"({"enabled": false})").status,
              200);
  }
  auto c = TestClient::connect(lb_, "127.0.0.2");
  ASSERT_TRUE(c.ok());
  auto rest = c->read_until_eof();  // nib closes: no backend can take it
  EXPECT_TRUE(rest.ok() ? rest->empty() : nib::test::is_closed(rest.status()));
  std::vector<Sample> m;
  ASSERT_TRUE(nib::test::wait_until([&] {
    m = scrape();
    return sum(m, "nib_service_rejected_connections_total", {{"reason", "no_backend"}}) == 1;
  }));
  EXPECT_EQ(sum(m, "nib_service_rejected_connections_total", {{"reason", "max_connections"}}), 0);
  EXPECT_EQ(sum(m, "nib_service_rejected_connections_total", {{"reason", "stubborn"}}), 0);
}

// The process's own resources: one series per resource, budgets and use.
TEST_F(MetricsTest, ResourceFamiliesShowBudgetsUseAndShortages) {
  auto m = scrape();
  EXPECT_EQ(count(m, "nib_resource_exhausted_total"), 4u);
  for (const char* r : {"fd", "memory", "pipe", "port"}) {
    EXPECT_EQ(sum(m, "nib_resource_exhausted_total", {{"resource", r}}), 0) << r;
  }
  EXPECT_GT(sum(m, "nib_resource_limit", {{"resource", "fd"}}), 0);
  EXPECT_GT(sum(m, "nib_resource_limit", {{"resource", "memory"}}), 0);
  auto held = TestClient::connect(lb_, "127.0.0.2");
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(held->read_line().ok());
  EXPECT_EQ(sum(scrape(), "nib_resource_in_use", {{"resource", "fd"}}), 2);  // the client's and the backend's
  EXPECT_EQ(sum(m, "nib_service_rejected_connections_total", {{"reason", "resources"}}), 0);
}

TEST_F(MetricsTest, ClientsDeniedByTheAclAreRejectedWithReasonAcl) {
  AccessList acl;
  acl.add(*parse_access_entry("deny 127.0.0.2"));
  ASSERT_TRUE(dp_->set_client_acl("web", acl).ok());
  auto c = TestClient::connect(lb_, "127.0.0.2");
  ASSERT_TRUE(c.ok());
  auto rest = c->read_until_eof();  // nib closes right after accept
  EXPECT_TRUE(rest.ok() ? rest->empty() : nib::test::is_closed(rest.status()));
  std::vector<Sample> m;
  ASSERT_TRUE(nib::test::wait_until([&] {
    m = scrape();
    return sum(m, "nib_service_rejected_connections_total", {{"reason", "acl"}}) == 1;
  }));
  EXPECT_EQ(sum(m, "nib_service_rejected_connections_total", {{"reason", "no_backend"}}), 0);
  Reply stats = get("/api/v1/services/web");
  ASSERT_EQ(stats.status, 200);
  EXPECT_EQ(stats.json.find("counters")->find("rejected_acl")->as_uint64(), 1u) << stats.body;
}

// Pen's -B: a denied client the abuse server takes is counted there, not as rejected.
TEST_F(MetricsTest, ClientsSentToTheAbuseServerAreCountedAsAbuse) {
  backends_.push_back(std::make_unique<TestBackend>("abuse"));
  service_.abuse = BackendConfig{.host = "127.0.0.1", .address = backends_.back()->address()};
  ASSERT_TRUE(dp_->reload(config()).ok());
  AccessList acl;
  acl.add(*parse_access_entry("deny 127.0.0.2"));
  ASSERT_TRUE(dp_->set_client_acl("web", acl).ok());
  EXPECT_EQ(*nib::test::who_serves(lb_, "127.0.0.2"), "abuse");
  std::vector<Sample> m;
  ASSERT_TRUE(nib::test::wait_until([&] {
    m = scrape();
    return sum(m, "nib_service_abuse_total", {{"service", "web"}}) == 1;
  }));
  EXPECT_EQ(sum(m, "nib_service_rejected_connections_total", {{"reason", "acl"}}), 0);
  Reply service = get("/api/v1/services/web");
  ASSERT_EQ(service.status, 200);
  EXPECT_EQ(service.json.find("counters")->find("abuse")->as_uint64(), 1u) << service.body;
  const auto* abuse = service.json.find("abuse");  // the abuse server itself
  ASSERT_NE(abuse, nullptr) << service.body;
  EXPECT_EQ(abuse->find("port")->as_uint64(), backends_.back()->port()) << service.body;
}

TEST_F(MetricsTest, AdminRequestsByRouteAndCode) {
  get("/api/v1/stats");
  get("/api/v1/stats");
  get("/api/v1/services/web/backends/12345");
  get("/no/such/page");
  auto m = scrape();
  EXPECT_EQ(sum(m, "nib_admin_requests_total", {{"route", "/api/v1/stats"}, {"method", "GET"}, {"code", "200"}}), 2);
  EXPECT_EQ(sum(m, "nib_admin_requests_total",
                {{"route", "/api/v1/services/{service}/backends/{id}"}, {"code", "404"}}),
            1);
  EXPECT_EQ(sum(m, "nib_admin_requests_total", {{"route", "unmatched"}, {"code", "404"}}), 1);
}

TEST_F(MetricsTest, TextFormatHasTypesAndPrefix) {
  Reply r = get("/metrics");
  EXPECT_THAT(r.body, HasSubstr("# TYPE nib_backend_connections_total counter\n"));
  EXPECT_THAT(r.body, HasSubstr("# TYPE nib_backend_active_connections gauge\n"));
  EXPECT_THAT(r.body, HasSubstr("# HELP nib_affinity_evictions_total "));
  for (const auto& s : parse_metrics(r.body)) EXPECT_TRUE(s.name.starts_with("nib_")) << s.name;
  EXPECT_EQ(sum(parse_metrics(r.body), "nib_build_info", {{"version", NIB_VERSION}}), 1);
}

class UdpMetricsTest : public HttpAdminFixture {};

TEST_F(UdpMetricsTest, UdpServicesHaveSessionAndDatagramFamilies) {
  add_backends(1);  // the TCP service "web"
  ServiceConfig dns = make_service("dns");
  dns.protocol = Protocol::kUdp;
  dns.backends.push_back(BackendConfig{.host = "127.0.0.1", .address = *SocketAddress::parse("127.0.0.1:5353")});
  start({}, {dns});
  Reply r = get("/metrics");
  auto m = parse_metrics(r.body);
  EXPECT_EQ(count(m, "nib_udp_sessions"), 1u);  // dns only: web is TCP
  EXPECT_EQ(sum(m, "nib_udp_sessions", {{"service", "dns"}}), 0);
  EXPECT_EQ(count(m, "nib_udp_dropped_datagrams_total"), 6u);
  EXPECT_EQ(count(m, "nib_udp_datagrams_total"), 2u);
  Reply stats = get("/api/v1/services/dns");
  ASSERT_EQ(stats.status, 200);
  EXPECT_EQ(stats.json.find("udp")->find("sessions")->as_uint64(), 0u);
  EXPECT_TRUE(get("/api/v1/services/web").json.find("udp")->is_null());
}

TEST_F(MetricsTest, NoUdpFamiliesWithoutUdpServices) {
  EXPECT_EQ(get("/metrics").body.find("nib_udp_"), std::string::npos);
}

// Health checks: the state, reason and last check in the REST view, and every
// up/down change counted in nib_backend_health_transitions_total.
class HealthMetricsTest : public HttpAdminFixture {
 protected:
  void SetUp() override {
    HttpAdminFixture::SetUp();
    HealthCheckConfig c;
    c.interval_seconds = 0.05;
    c.timeout_seconds = 0.04;
    c.rise = 1;
    c.fall = 1;
    service_.health_check = c;
    add_backends(2);
    start();
  }
  std::string state_of(size_t i) { return backends_json()[i].find("state")->as_string(); }
  std::vector<Sample> scrape_metrics() { return parse_metrics(get("/metrics").body); }
};

TEST_F(HealthMetricsTest, StateReasonAndTransitionsAreVisible) {
  ASSERT_TRUE(nib::test::wait_until([&] { return backends_json()[1].find("health")->find("last_check")->as_string() == "ok"; }));
  backends_[1]->stop();
  ASSERT_TRUE(nib::test::wait_until([&] { return state_of(1) == "down"; }));
  json::Array list = backends_json();
  const json::Value* health = list[1].find("health");
  ASSERT_NE(health, nullptr);
  EXPECT_TRUE(health->find("checked")->as_bool());
  EXPECT_FALSE(health->find("healthy")->as_bool());
  EXPECT_NE(health->find("reason")->as_string().find("check(s) failed"), std::string::npos);
  EXPECT_GT(health->find("changed_unix")->as_double(), 0);
  auto m = scrape_metrics();
  std::string id = std::to_string(backend_id(1));
  EXPECT_EQ(sum(m, "nib_backend_health_transitions_total", {{"backend", id}}), 1);
  EXPECT_EQ(sum(m, "nib_backend_state", {{"backend", id}, {"state", "down"}}), 1);
  EXPECT_EQ(sum(m, "nib_backend_up", {{"backend", id}}), 0);
  ASSERT_TRUE(backends_[1]->start().ok());
  ASSERT_TRUE(nib::test::wait_until([&] { return state_of(1) == "up"; }));
  EXPECT_EQ(sum(scrape_metrics(), "nib_backend_health_transitions_total", {{"backend", id}}), 2);
  EXPECT_EQ(sum(scrape_metrics(), "nib_backend_health_transitions_total", {{"backend", std::to_string(backend_id(0))}}), 0);
}

}  // namespace
}  // namespace nib::admin::test
