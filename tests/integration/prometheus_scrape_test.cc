// A real Prometheus server (Debian's `prometheus`) scrapes a real nib's
// /metrics, and the value read back through Prometheus's query API is the
// traffic the test sent. Skipped where no prometheus binary is installed
// (scripts/install-deps.sh --test installs it; CI always has it).
#include <gtest/gtest.h>
#include <unistd.h>

#include "admin/http/json.h"
#include "tests/support/nib_process.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"
#include "tests/support/prerequisites.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NibProcess;

constexpr const char* kPrometheus = "/usr/bin/prometheus";

std::string http_get(uint16_t port, const std::string& target) {
  auto c = test::TestClient::connect(*SocketAddress::from_ip("127.0.0.1", port));
  if (!c.ok()) return "";
  if (!c->write_all("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()) return "";
  auto r = c->read_http_response();
  return r.ok() && r->status == 200 ? r->body : "";
}

// The single value of an instant-vector query, or nullopt when Prometheus has
// none yet. Query text is URL-safe by construction (no spaces or specials).
std::optional<double> query(uint16_t port, const std::string& promql) {
  auto parsed = json::parse(http_get(port, "/api/v1/query?query=" + promql));
  if (!parsed.ok()) return std::nullopt;
  const json::Value* data = parsed->find("data");
  const json::Value* result = data ? data->find("result") : nullptr;
  if (result == nullptr || result->as_array().size() != 1) return std::nullopt;
  const json::Value* value = result->as_array()[0].find("value");
  if (value == nullptr || value->as_array().size() != 2) return std::nullopt;
  return std::stod(value->as_array()[1].as_string());
}

TEST(PrometheusScrapeTest, PrometheusReadsBackTheTrafficSentThroughNib) {
  NIB_REQUIRE(test::nib_binary_exists(), "nib not built");
  NIB_REQUIRE(::access(kPrometheus, X_OK) == 0, std::string("no ") + kPrometheus + " (scripts/install-deps.sh --test)");
  test::TempDir dir;
  test::TestBackend b0("b0"), b1("b1");
  uint16_t lb_port = test::free_port(), admin_port = test::free_port(), prom_port = test::free_port();
  auto nib = NibProcess::start({"-f", "-p", dir.file("nib.pid"), "--admin-grpc", "127.0.0.1:0", "--admin-http",
                                "127.0.0.1:" + std::to_string(admin_port), "127.0.0.1:" + std::to_string(lb_port),
                                "127.0.0.1:" + std::to_string(b0.port()), "127.0.0.1:" + std::to_string(b1.port())});
  ASSERT_TRUE(nib.ok()) << nib.status().message();
  ASSERT_TRUE(test::wait_until([&] { return test::read_file(dir.file("nib.pid")).ok(); }, 10s)) << (*nib)->output();

  SocketAddress lb = *SocketAddress::from_ip("127.0.0.1", lb_port);
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(test::who_serves(lb, "127.0.0." + std::to_string(2 + i)).ok());

  std::string config = dir.write_file(
      "prometheus.yml", "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                        "  - job_name: nib\n    static_configs:\n      - targets: ['127.0.0.1:" +
                            std::to_string(admin_port) + "']\n");
  auto prom = NibProcess::start_program(
      kPrometheus, {"--config.file=" + config, "--storage.tsdb.path=" + dir.file("tsdb"),
                    "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"});
  ASSERT_TRUE(prom.ok()) << prom.status().message();

  // Scraped every second; allow for Prometheus's start-up on a busy machine.
  std::optional<double> connections;
  bool seen = test::wait_until(
      [&] {
        connections = query(prom_port, "sum(nib_backend_connections_total)");
        return connections == 7.0;
      },
      60s);
  ASSERT_TRUE(seen) << "last value " << connections.value_or(-1) << "\n" << (*prom)->output();
  EXPECT_EQ(query(prom_port, "sum(up)"), 1.0) << "the scrape itself succeeded";
  EXPECT_EQ(query(prom_port, "count(nib_backend_up)"), 2.0) << "one series per backend";
  EXPECT_EQ(query(prom_port, "sum(nib_backend_connect_duration_seconds_count)"), 7.0);
}

}  // namespace
}  // namespace nib
