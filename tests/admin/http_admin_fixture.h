#pragma once
// An in-process Dataplane in front of real TestBackends, the real admin HTTP
// server on an ephemeral port, and a raw HTTP/1.1 client over real sockets
// (so tests control every header, including a missing Content-Type).
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/admin/admin_core_holder.h"
#include "admin/http/http_admin_server.h"
#include "admin/http/json.h"
#include "dataplane/dataplane.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib::admin::test {

using namespace std::chrono_literals;
using nib::test::TestBackend;
using nib::test::TestClient;

struct Reply {
  int status = 0;
  std::string head;
  std::string body;
  json::Value json;  // parsed when the body is JSON, else null

  // A response header's value ("" when absent); the name is case-insensitive.
  std::string header(std::string_view name) const {
    std::string lower_head = lower(head);
    std::string key = "\r\n" + lower(name) + ":";
    size_t at = lower_head.find(key);
    if (at == std::string::npos) return "";
    size_t start = at + key.size();
    size_t end = head.find("\r\n", start);
    std::string value = head.substr(start, end == std::string::npos ? std::string::npos : end - start);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    return value;
  }
  std::string error_code() const { return field("code"); }
  std::string error_message() const { return field("message"); }

 private:
  static std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  }
  std::string field(const char* name) const {
    const json::Value* e = json.find("error");
    const json::Value* v = e ? e->find(name) : nullptr;
    return v && v->is_string() ? v->as_string() : "<no error." + std::string(name) + ">";
  }
};

class HttpAdminFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }  // as the nib binary does

  void SetUp() override { service_ = make_service("web"); }
  void TearDown() override {
    admin_.reset();
    dp_.reset();
  }

  static ServiceConfig make_service(const std::string& name) {
    ServiceConfig s;
    s.name = name;
    s.listen = *SocketAddress::parse("127.0.0.1:0");
    s.policy.connect_timeout_seconds = 2;
    return s;
  }

  void add_backends(int n, ServiceConfig* service = nullptr) {
    if (service == nullptr) service = &service_;
    for (int i = 0; i < n; ++i) {
      backends_.push_back(std::make_unique<TestBackend>("b" + std::to_string(backends_.size())));
      BackendConfig c;
      c.address = backends_.back()->address();
      c.host = "127.0.0.1";
      service->backends.push_back(c);
    }
  }

  DataplaneConfig config(const std::vector<ServiceConfig>& extra = {}) const {
    DataplaneConfig c;
    c.workers = 2;
    c.services = {service_};
    c.services.insert(c.services.end(), extra.begin(), extra.end());
    return c;
  }

  void start(HttpAdminOptions options = {}, const std::vector<ServiceConfig>& extra = {}) {
    dp_ = std::make_unique<Dataplane>(config(extra));
    Status st = dp_->start();
    ASSERT_TRUE(st.ok()) << st.message();
    lb_ = *dp_->bound_address(service_.name);
    options.listen = "127.0.0.1:0";
    options.event_heartbeat = 100ms;
    admin_ = std::make_unique<HttpAdminServer>(core_.get(*dp_), options);
    st = admin_->start();
    ASSERT_TRUE(st.ok()) << st.message();
    admin_address_ = admin_->bound_address();
    ASSERT_NE(admin_address_.port(), 0);
  }

  // One request on its own connection. `content_type` "" sends none.
  Reply call(const std::string& method, const std::string& target, const std::string& body = "",
             const std::string& content_type = "application/json", const std::string& extra_headers = "") {
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
                          extra_headers;
    if (!token_.empty()) request += "Authorization: Bearer " + token_ + "\r\n";
    if (!body.empty() && !content_type.empty()) request += "Content-Type: " + content_type + "\r\n";
    if (!body.empty()) request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    return send_raw(request + "\r\n" + body);
  }

  // Any bytes as the request (chunked bodies, missing headers); one connection.
  Reply send_raw(const std::string& request) {
    Reply reply;
    auto c = TestClient::connect(admin_address_);
    EXPECT_TRUE(c.ok()) << c.status().message();
    if (!c.ok()) return reply;
    Status st = c->write_all(request);
    EXPECT_TRUE(st.ok()) << st.message();
    auto r = c->read_http_response();
    EXPECT_TRUE(r.ok()) << request.substr(0, request.find('\r')) << ": " << r.status().message();
    if (!r.ok()) return reply;
    reply.status = r->status;
    reply.head = r->head;
    reply.body = r->body;
    if (reply.header("Content-Type").starts_with("application/json")) {
      auto parsed = json::parse(reply.body);
      EXPECT_TRUE(parsed.ok()) << parsed.status().message() << "\n" << reply.body;
      if (parsed.ok()) reply.json = *parsed;
    }
    return reply;
  }
  Reply get(const std::string& target) { return call("GET", target); }
  Reply post(const std::string& target, const std::string& body = "") { return call("POST", target, body); }
  Reply put(const std::string& target, const std::string& body) { return call("PUT", target, body); }
  Reply patch(const std::string& target, const std::string& body) { return call("PATCH", target, body); }
  Reply del(const std::string& target) { return call("DELETE", target); }

  // One client connection through the balancer from `source_ip`: reads the
  // greeting, sends `payload`, reads the echo, closes. The serving backend's name.
  // Returns once nib closed its side too, so the test sees a settled state.
  std::string relay_once(const std::string& source_ip, const std::string& payload = "hello") {
    const int64_t open_before = dp_->open_connections();
    auto c = TestClient::connect(lb_, source_ip);
    EXPECT_TRUE(c.ok()) << c.status().message();
    if (!c.ok()) return "";
    auto name = c->read_line();
    EXPECT_TRUE(name.ok()) << name.status().message();
    EXPECT_TRUE(c->write_all(payload).ok());
    auto echo = c->read_exact(payload.size());
    EXPECT_TRUE(echo.ok() && *echo == payload);
    c->close();
    EXPECT_TRUE(nib::test::wait_until([&] { return dp_->open_connections() <= open_before; }));
    return name.ok() ? *name : "";
  }

  // The service's backends as the API lists them.
  json::Array backends_json(const std::string& service = "web") {
    Reply r = get("/api/v1/services/" + service + "/backends");
    EXPECT_EQ(r.status, 200) << r.body;
    const json::Value* list = r.json.find("backends");
    return list ? list->as_array() : json::Array{};
  }
  uint32_t backend_id(size_t index) {
    auto list = backends_json();
    return index < list.size() ? static_cast<uint32_t>(list[index].find("id")->as_uint64()) : 0;
  }

  ServiceConfig service_;
  std::vector<std::unique_ptr<TestBackend>> backends_;
  std::unique_ptr<Dataplane> dp_;
  AdminCoreHolder core_;  // before the server: outlives it
  std::unique_ptr<HttpAdminServer> admin_;
  SocketAddress lb_;
  SocketAddress admin_address_;
  std::string token_;  // sent as a bearer token when set
};

}  // namespace nib::admin::test
