// The admin HTTP server as a whole: start/stop, probes, pages, the event
// stream (through cpp-httplib's own client), the OpenAPI document against the
// routes that answer, and bearer-token auth.
#include "admin/http/http_admin_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "admin/http/openapi.h"
#include "admin/http/rest_api.h"
#include "tests/admin/http_admin_fixture.h"
#include "tests/support/temp_file.h"

namespace nib::admin::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

HttpAdminOptions options_with(const std::string& listen, const std::string& token_file = "") {
  HttpAdminOptions o;
  o.listen = listen;
  o.token_file = token_file;
  return o;
}

// GET /api/v1/events on a thread, collecting what arrives.
class EventReader {
 public:
  EventReader(const SocketAddress& server, std::string token = "") {
    thread_ = std::thread([this, server, token] {
      httplib::Client client(server.ip_string(), server.port());
      client.set_read_timeout(10, 0);
      httplib::Headers headers;
      if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
      auto result = client.Get("/api/v1/events", headers, [this](const char* data, size_t n) {
        std::lock_guard lock(mu_);
        text_.append(data, n);
        cv_.notify_all();
        return !stop_;
      });
      std::lock_guard lock(mu_);
      status_ = result ? result->status : -1;
      ended_ = true;
      cv_.notify_all();
    });
  }
  ~EventReader() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    thread_.join();
  }

  bool wait_for(std::string_view needle, Duration timeout = 5s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return text_.find(needle) != std::string::npos; });
  }
  bool wait_ended(Duration timeout = 5s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ended_; });
  }
  std::string text() {
    std::lock_guard lock(mu_);
    return text_;
  }
  int status() {
    std::lock_guard lock(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string text_;
  bool stop_ = false;
  bool ended_ = false;
  int status_ = 0;
  std::thread thread_;
};

class HttpAdminServerTest : public HttpAdminFixture {
 protected:
  void start_default() {
    add_backends(2);
    start();
  }
};

// ---- lifecycle ----

TEST_F(HttpAdminServerTest, EphemeralPortIsReadable) {
  start_default();
  EXPECT_TRUE(admin_address_.ip_string() == "127.0.0.1");
  EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(HttpAdminServerTest, PortInUseIsAStartError) {
  start_default();
  HttpAdminServer second(core_.get(*dp_), options_with(admin_address_.to_string()));
  Status st = second.start();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_EQ(st.message(), "admin HTTP: cannot listen on " + admin_address_.to_string() + ": Address already in use");
  EXPECT_EQ(get("/healthz").status, 200);  // the first one is unharmed
}

TEST_F(HttpAdminServerTest, BadListenAddressIsAStartError) {
  start_default();
  for (const char* bad : {"9901", "127.0.0.1", "127.0.0.1:99999", "::1:80", "127.0.0.1:http"}) {
    HttpAdminServer s(core_.get(*dp_), options_with(bad));
    Status st = s.start();
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_THAT(st.message(), StartsWith("admin HTTP listen address: expected host:port")) << bad;
  }
}

TEST_F(HttpAdminServerTest, StopIsPromptAndIdempotent) {
  start_default();
  auto begin = MonoClock::now();
  admin_->stop();
  admin_->stop();
  EXPECT_LT(MonoClock::now() - begin, 3s);
  EXPECT_FALSE(TestClient::connect(admin_address_).ok());  // refused: nothing listens
}

TEST(HttpAdminListenTest, ParsesAndClassifies) {
  EXPECT_EQ(parse_admin_listen("127.0.0.1:9901")->to_string(), "127.0.0.1:9901");
  EXPECT_EQ(parse_admin_listen("[::1]:0")->to_string(), "[::1]:0");
  EXPECT_TRUE(parse_admin_listen("localhost:9901").ok());
  EXPECT_TRUE(is_loopback(*parse_admin_listen("127.0.0.1:1")));
  EXPECT_TRUE(is_loopback(*parse_admin_listen("127.9.8.7:1")));
  EXPECT_TRUE(is_loopback(*parse_admin_listen("[::1]:1")));
  EXPECT_FALSE(is_loopback(*parse_admin_listen("0.0.0.0:1")));
  EXPECT_FALSE(is_loopback(*parse_admin_listen("[::]:1")));
  EXPECT_FALSE(is_loopback(*parse_admin_listen("10.1.2.3:1")));
}

TEST_F(HttpAdminServerTest, NonLoopbackWithoutTokensWarnsLoudly) {
  add_backends(1);
  dp_ = std::make_unique<Dataplane>(config());
  ASSERT_TRUE(dp_->start().ok());
  testing::internal::CaptureStderr();
  HttpAdminServer open(core_.get(*dp_), options_with("0.0.0.0:0"));
  Status st = open.start();
  open.stop();
  std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_THAT(log, HasSubstr("WARNING: the admin HTTP plane on 0.0.0.0:0 is reachable from other hosts and has NO "
                             "authentication"));
}

// ---- probes ----

TEST_F(HttpAdminServerTest, HealthzAndReadyz) {
  start_default();
  Reply health = get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(json::serialize(health.json), R"({"status":"ok"})");
  Reply ready = get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(json::serialize(ready.json), R"({"status":"ready","reasons":[]})");

  // One usable backend is enough; none is not.
  ASSERT_EQ(patch("/api/v1/backends/" + std::to_string(backend_id(0)), R"({"enabled": false})").status, 200);
  EXPECT_EQ(get("/readyz").status, 200);
  ASSERT_EQ(post("/api/v1/backends/" + std::to_string(backend_id(1)) + "/drain").status, 200);
  Reply not_ready = get("/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_EQ(json::serialize(not_ready.json),
            R"({"status":"not ready","reasons":["service web: no usable backend and no emergency backend"]})");
  EXPECT_EQ(get("/healthz").status, 200);  // alive all the same
}

TEST_F(HttpAdminServerTest, ReadyWithOnlyAnEmergencyBackend) {
  add_backends(1);
  TestBackend emergency("sorry");
  service_.emergency = BackendConfig{.host = "127.0.0.1", .address = emergency.address()};
  start();
  ASSERT_EQ(patch("/api/v1/backends/" + std::to_string(backend_id(0)), R"({"enabled": false})").status, 200);
  EXPECT_EQ(get("/readyz").status, 200);
}

TEST_F(HttpAdminServerTest, NotReadyWhileShuttingDown) {
  start_default();
  admin_->set_shutting_down();
  Reply r = get("/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(json::serialize(r.json), HasSubstr("shutting down"));
}

// ---- pages ----

// The rows (<tr>) of the table with class `cls`, header row included.
int table_rows(const std::string& page, const std::string& cls) {
  size_t start = page.find("<table class=\"" + cls + "\">");
  if (start == std::string::npos) return -1;
  size_t end = page.find("</table>", start);
  int rows = 0;
  for (size_t at = start; (at = page.find("<tr>", at)) < end; ++at) ++rows;
  return rows;
}

TEST_F(HttpAdminServerTest, PenStatusPageHasTheThreeTables) {
  start_default();
  relay_once("127.0.0.2");
  relay_once("127.0.0.3");
  auto open = TestClient::connect(lb_, "127.0.0.4");  // stays open: one active connection
  ASSERT_TRUE(open.ok());
  ASSERT_TRUE(open->read_line().ok());
  Reply r = get("/stats.html");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(table_rows(r.body, "servers"), 1 + 2);
  EXPECT_EQ(table_rows(r.body, "clients"), 1 + 3);
  EXPECT_EQ(table_rows(r.body, "connections"), 1 + 1);
  EXPECT_THAT(r.body, HasSubstr("<td>127.0.0.4:"));  // the open connection's client
  EXPECT_THAT(r.body, HasSubstr("<td>127.0.0.3</td>"));
}

TEST_F(HttpAdminServerTest, StatusPageIsSelfContained) {
  start_default();
  Reply r = get("/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_THAT(r.body, HasSubstr("<script>"));
  EXPECT_THAT(r.body, HasSubstr("/api/v1/stats"));
  EXPECT_THAT(r.body, HasSubstr("/api/v1/events"));
  EXPECT_THAT(r.body, Not(HasSubstr("http://")));  // no external assets
  EXPECT_THAT(r.body, Not(HasSubstr("https://")));
  EXPECT_THAT(r.body, Not(HasSubstr(" src=")));
  EXPECT_THAT(r.body, Not(HasSubstr("innerHTML")));  // API text goes in as text
}

// ---- events ----

TEST_F(HttpAdminServerTest, EventStreamCarriesDataplaneEvents) {
  start_default();
  EventReader reader(admin_address_);
  ASSERT_TRUE(reader.wait_for(": nib events\n\n"));  // subscribed
  TestBackend extra("extra");
  Reply added = post("/api/v1/backends", R"({"address": "127.0.0.1", "port": )" + std::to_string(extra.port()) + "}");
  ASSERT_EQ(added.status, 201);
  std::string id = std::to_string(added.json.find("id")->as_uint64());
  ASSERT_TRUE(reader.wait_for("event: backend_added\n")) << reader.text();
  EXPECT_THAT(reader.text(), HasSubstr(R"("kind":"backend_added","service":"web","backend_id":)" + id));
  ASSERT_EQ(post("/api/v1/backends/" + id + "/drain").status, 200);
  EXPECT_TRUE(reader.wait_for("event: drain_started\n")) << reader.text();
  ASSERT_EQ(put("/api/v1/policy", R"({"mode": "weight"})").status, 200);
  EXPECT_TRUE(reader.wait_for("event: policy_changed\n")) << reader.text();
  EXPECT_TRUE(reader.wait_for(": keepalive\n\n"));  // heartbeats while idle
}

TEST_F(HttpAdminServerTest, EventStreamEndsWhenTheServerStops) {
  start_default();
  EventReader reader(admin_address_);
  ASSERT_TRUE(reader.wait_for(": nib events\n\n"));
  auto begin = MonoClock::now();
  admin_->stop();
  EXPECT_LT(MonoClock::now() - begin, 3s);
  EXPECT_TRUE(reader.wait_ended());
  EXPECT_EQ(reader.status(), 200);
}

TEST_F(HttpAdminServerTest, TooManyEventStreamsAreRefused) {
  add_backends(1);
  HttpAdminOptions options;
  options.limits.max_event_streams = 1;
  start(options);
  EventReader first(admin_address_);
  ASSERT_TRUE(first.wait_for(": nib events\n\n"));
  Reply second = get("/api/v1/events");
  EXPECT_EQ(second.status, 503);
  EXPECT_EQ(second.error_code(), "UNAVAILABLE");
  EXPECT_THAT(second.error_message(), HasSubstr("too many event streams"));
}

// ---- OpenAPI ----

std::string fill_path(std::string path, const std::map<std::string, std::string>& values) {
  for (const auto& [name, value] : values) {
    for (size_t at; (at = path.find("{" + name + "}")) != std::string::npos;) path.replace(at, name.size() + 2, value);
  }
  return path;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

TEST_F(HttpAdminServerTest, OpenApiDocumentIsValidJsonWithPaths) {
  start_default();
  Reply r = get("/api/v1/openapi.json");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json.find("openapi")->as_string(), "3.0.3");
  EXPECT_GT(r.json.find("paths")->as_object().size(), 20u);
}

TEST_F(HttpAdminServerTest, OpenApiListsExactlyTheRoutes) {
  auto doc = json::parse(openapi_document());
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [path, item] : doc->find("paths")->as_object()) {
    for (const auto& [key, op] : item.as_object()) {
      if (key != "parameters") documented.insert({upper(key), path});
    }
  }
  std::set<std::pair<std::string, std::string>> served;
  for (const auto& r : RestApi::routes()) served.insert({r.method, r.pattern});
  EXPECT_EQ(documented, served);
}

TEST_F(HttpAdminServerTest, EveryDocumentedRouteAnswers) {
  start_default();
  relay_once("127.0.0.2");
  auto doc = json::parse(openapi_document());
  ASSERT_TRUE(doc.ok());
  std::map<std::string, std::string> values{
      {"service", "web"}, {"id", std::to_string(backend_id(0))}, {"ip", "127.0.0.2"}};
  int checked = 0;
  for (const auto& [path, item] : doc->find("paths")->as_object()) {
    for (const auto& [key, op] : item.as_object()) {
      if (key == "parameters") continue;
      std::string method = upper(key);
      std::string target = fill_path(path, values);
      if (target == "/api/v1/events") {  // a stream: only the head
        auto c = TestClient::connect(admin_address_);
        ASSERT_TRUE(c.ok());
        ASSERT_TRUE(c->write_all("GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n").ok());
        auto status_line = c->read_line();
        ASSERT_TRUE(status_line.ok());
        EXPECT_EQ(*status_line, "HTTP/1.1 200 OK");
        ++checked;
        continue;
      }
      bool has_body = method == "POST" || method == "PUT" || method == "PATCH";
      Reply r = call(method, target, has_body ? "{}" : "");
      EXPECT_NE(r.status, 405) << method << " " << target;
      EXPECT_FALSE(r.status == 404 && r.error_message().starts_with("no route")) << method << " " << target;
      EXPECT_NE(r.status, 0) << method << " " << target;
      EXPECT_LT(r.status, 500) << method << " " << target << ": " << r.body;
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(RestApi::routes().size()));
}

// Checks `value` against `schema` (resolving $ref and allOf in `doc`):
// objects have exactly the schema's properties, nulls only where nullable,
// enum strings among the words, numbers typed. Failures name the JSON path.
void expect_matches(const json::Value& doc, const json::Value& schema, const json::Value& value,
                    const std::string& path) {
  const json::Value* s = &schema;
  bool nullable = s->find("nullable") && s->find("nullable")->as_bool();
  if (const json::Value* all = s->find("allOf")) s = &all->as_array()[0];
  if (const json::Value* ref = s->find("$ref")) {
    std::string name = ref->as_string().substr(std::string("#/components/schemas/").size());
    s = doc.find("components")->find("schemas")->find(name);
    ASSERT_NE(s, nullptr) << path << ": no schema " << name;
  }
  if (value.is_null()) {
    EXPECT_TRUE(nullable) << path << " is null but not nullable";
    return;
  }
  const std::string type = s->find("type") ? s->find("type")->as_string() : "";
  if (type == "object" && s->find("properties")) {
    ASSERT_TRUE(value.is_object()) << path;
    std::set<std::string> documented, served;
    for (const auto& [k, v] : s->find("properties")->as_object()) documented.insert(k);
    for (const auto& [k, v] : value.as_object()) {
      served.insert(k);
      if (const json::Value* p = s->find("properties")->find(k)) expect_matches(doc, *p, v, path + "." + k);
    }
    EXPECT_EQ(served, documented) << path;
  } else if (type == "array") {
    ASSERT_TRUE(value.is_array()) << path;
    for (const auto& item : value.as_array()) expect_matches(doc, *s->find("items"), item, path + "[]");
  } else if (type == "string") {
    ASSERT_TRUE(value.is_string()) << path;
    if (const json::Value* words = s->find("enum")) {
      EXPECT_NE(std::find(words->as_array().begin(), words->as_array().end(), value), words->as_array().end())
          << path << ": " << value.as_string();
    }
  } else if (type == "integer") {
    EXPECT_TRUE(value.is_integer()) << path;
  } else if (type == "number") {
    EXPECT_TRUE(value.is_number()) << path;
  } else if (type == "boolean") {
    EXPECT_TRUE(value.is_bool()) << path;
  }
}

// The schemas are derived from admin.proto, so they describe exactly what
// the routes print, with the .proto's comments and the core's ranges.
TEST_F(HttpAdminServerTest, OpenApiSchemasDescribeWhatTheRoutesServe) {
  start_default();
  relay_once("127.0.0.2");
  auto doc = json::parse(openapi_document());
  ASSERT_TRUE(doc.ok());
  const std::string id = std::to_string(backend_id(0));
  ASSERT_EQ(put("/api/v1/services/web/clients/127.0.0.9/pin", "{\"backend_id\": " + id + "}").status, 200);
  const json::Value& schemas = *doc->find("components")->find("schemas");
  auto ref = [](const std::string& name) { return *json::parse("{\"$ref\": \"#/components/schemas/" + name + "\"}"); };
  expect_matches(*doc, ref("Service"), get("/api/v1/services/web").json, "service");
  expect_matches(*doc, ref("Backend"), get("/api/v1/services/web/backends/" + id).json, "backend");
  expect_matches(*doc, ref("Policy"), get("/api/v1/services/web/policy").json, "policy");
  expect_matches(*doc, ref("Stats"), get("/api/v1/stats").json, "stats");
  const json::Value clients = get("/api/v1/services/web/clients").json;
  ASSERT_FALSE(clients.find("clients")->as_array().empty());
  expect_matches(*doc, ref("Client"), clients.find("clients")->as_array()[0], "client");
  expect_matches(*doc, ref("Pin"), get("/api/v1/services/web/pins").json.find("pins")->as_array()[0], "pin");

  // Descriptions are admin.proto's comments; ranges are limits.h's.
  EXPECT_EQ(schemas.find("Backend")->find("properties")->find("prio")->find("description")->as_string(),
            "lower is preferred");
  const json::Value& weight = *schemas.find("BackendCreate")->find("properties")->find("weight");
  EXPECT_EQ(weight.find("minimum")->as_int64(), limits::kWeight.min);
  EXPECT_EQ(weight.find("maximum")->as_int64(), limits::kWeight.max);
  EXPECT_EQ(weight.find("description")->as_string(), "default 1");
  const json::Value& stubborn = *schemas.find("PolicyUpdate")->find("properties")->find("stubborn");
  EXPECT_EQ(stubborn.find("description")->as_string(), "-s: never fail over from the initial choice");
  EXPECT_THAT(schemas.find("Backend")->find("properties")->find("state")->find("description")->as_string(),
              testing::HasSubstr("up: in rotation"));
}

// ---- auth ----

constexpr const char* kAdminToken = "admin-token-0123456789abcdef";
constexpr const char* kReadToken = "read-token-0123456789abcdef";

class HttpAdminAuthTest : public HttpAdminFixture {
 protected:
  void SetUp() override {
    HttpAdminFixture::SetUp();
    add_backends(1);
    tokens_ = std::make_unique<nib::test::TempFile>(std::string("# test tokens\nadmin ") + kAdminToken +
                                                    "\nreadonly " + kReadToken + "\n");
    testing::internal::CaptureStderr();
    start(options_with("", tokens_->path()));
    start_log_ = testing::internal::GetCapturedStderr();
  }
  std::unique_ptr<nib::test::TempFile> tokens_;
  std::string start_log_;
};

TEST_F(HttpAdminAuthTest, NoTokenIsUnauthenticated) {
  Reply r = get("/api/v1/stats");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.error_code(), "UNAUTHENTICATED");
  EXPECT_EQ(r.error_message(), "this route needs a bearer token (Authorization: Bearer ...)");
  EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer realm=\"nib admin\"");
  EXPECT_EQ(get("/metrics").status, 401);
  EXPECT_EQ(get("/stats.html").status, 401);
  EXPECT_EQ(get("/api/v1/events").status, 401);
  EXPECT_EQ(post("/api/v1/backends", R"({"address": "127.0.0.1", "port": 1})").status, 401);
}

TEST_F(HttpAdminAuthTest, UnknownTokenIsUnauthenticated) {
  token_ = "not-a-token-0123456789";
  Reply r = get("/api/v1/stats");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.error_message(), "the bearer token is not valid");
  Reply basic = call("GET", "/api/v1/stats", "", "", std::string("Authorization: Basic ") + kAdminToken + "\r\n");
  EXPECT_EQ(basic.status, 401);
}

TEST_F(HttpAdminAuthTest, ProbesAndTheStatusPageNeedNoToken) {
  EXPECT_EQ(get("/healthz").status, 200);
  EXPECT_EQ(get("/readyz").status, 200);
  EXPECT_EQ(get("/").status, 200);
}

TEST_F(HttpAdminAuthTest, ReadOnlyTokenReadsButCannotChange) {
  token_ = kReadToken;
  EXPECT_EQ(get("/api/v1/stats").status, 200);
  EXPECT_EQ(get("/metrics").status, 200);
  EXPECT_EQ(get("/api/v1/backends").status, 200);
  std::string before = get("/api/v1/services/web").body;
  TestBackend extra("extra");
  Reply r = post("/api/v1/backends", R"({"address": "127.0.0.1", "port": )" + std::to_string(extra.port()) + "}");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.error_code(), "PERMISSION_DENIED");
  EXPECT_EQ(r.error_message(), "a read-only token cannot change anything; use an admin token");
  EXPECT_EQ(patch("/api/v1/backends/" + std::to_string(backend_id(0)), R"({"weight": 9})").status, 403);
  EXPECT_EQ(put("/api/v1/policy", R"({"mode": "hash"})").status, 403);
  EXPECT_EQ(get("/api/v1/services/web").body, before);
}

TEST_F(HttpAdminAuthTest, AdminTokenChanges) {
  token_ = kAdminToken;
  TestBackend extra("extra");
  Reply r = post("/api/v1/backends", R"({"address": "127.0.0.1", "port": )" + std::to_string(extra.port()) + "}");
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(get("/api/v1/stats").status, 200);
}

TEST_F(HttpAdminAuthTest, EventStreamWithAToken) {
  EventReader reader(admin_address_, kReadToken);
  EXPECT_TRUE(reader.wait_for(": nib events\n\n"));
}

TEST_F(HttpAdminAuthTest, TokensNeverReachTheLog) {
  EXPECT_THAT(start_log_, HasSubstr("2 token(s) from " + tokens_->path()));
  EXPECT_THAT(start_log_, Not(HasSubstr(kAdminToken)));
  EXPECT_THAT(start_log_, Not(HasSubstr(kReadToken)));
  EXPECT_THAT(start_log_, Not(HasSubstr("WARNING")));
}

TEST_F(HttpAdminFixture, BadTokenFileIsAStartError) {
  add_backends(1);
  dp_ = std::make_unique<Dataplane>(config());
  ASSERT_TRUE(dp_->start().ok());
  nib::test::TempFile bad(std::string("admin ") + kAdminToken + "\nsuperuser " + kReadToken + "\n");
  HttpAdminServer s(core_.get(*dp_), options_with("127.0.0.1:0", bad.path()));
  Status st = s.start();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "admin token file " + bad.path() +
                              ":2: expected a line 'admin <token>' or 'readonly <token>'");
  HttpAdminServer missing(core_.get(*dp_), options_with("127.0.0.1:0", "/nonexistent/tokens"));
  EXPECT_THAT(missing.start().message(), HasSubstr("/nonexistent/tokens: cannot read"));
}

}  // namespace
}  // namespace nib::admin::test
