// The REST API over real HTTP: every route's happy path, and for each way a
// request can be wrong the status, the error code, the message, and that
// nothing changed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <map>
#include <set>
#include <thread>

#include "admin/http/rest_api.h"
#include "admin/state/state_writer.h"
#include "tests/admin/http_admin_fixture.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_client.h"

namespace nib::admin::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class RestApiTest : public HttpAdminFixture {
 protected:
  void SetUp() override {
    HttpAdminFixture::SetUp();
    add_backends(2);
    start();
  }

  // Everything an operation could change, as one comparable string.
  std::string state() {
    Reply service = get("/api/v1/services/web");
    Reply pins = get("/api/v1/services/web/pins");
    Reply clients = get("/api/v1/services/web/clients?limit=10000");
    EXPECT_EQ(service.status, 200);
    json::Value s = service.json;
    // Drop what time alone changes.
    json::Value clients_list = json::Value::array();
    if (const json::Value* list = clients.json.find("clients")) {
      for (const auto& c : list->as_array()) {
        clients_list.push_back(json::Value(c).set("last_seen_seconds_ago", 0).set("first_seen_seconds_ago", 0));
      }
    }
    return json::serialize(s) + json::serialize(pins.json) + json::serialize(clients_list) +
           get("/api/v1/services/web/acl").body;
  }

  // The request must fail with `status`/`code`, a message containing
  // `message`, and no change.
  void expect_rejected(const std::string& method, const std::string& target, const std::string& body, int status,
                       const std::string& code, const std::string& message,
                       const std::string& content_type = "application/json") {
    std::string before = state();
    Reply r = call(method, target, body, content_type);
    EXPECT_EQ(r.status, status) << method << " " << target << " " << body << "\n" << r.body;
    EXPECT_EQ(r.error_code(), code) << r.body;
    EXPECT_THAT(r.error_message(), HasSubstr(message)) << method << " " << target << " " << body;
    EXPECT_THAT(r.header("Content-Type"), StartsWith("application/json"));
    EXPECT_EQ(state(), before) << method << " " << target << " " << body << " changed something";
  }

  std::string backend_path(uint32_t id) { return "/api/v1/services/web/backends/" + std::to_string(id); }
};

// ---- backends ----

TEST_F(RestApiTest, ListBackends) {
  Reply r = get("/api/v1/services/web/backends");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.find("service")->as_string(), "web");
  const auto& list = r.json.find("backends")->as_array();
  ASSERT_EQ(list.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const json::Value& b = list[i];
    for (const char* field : {"id", "address", "port", "weight", "prio", "soft_limit", "hard_limit", "state",
                              "active_connections", "total_connections", "bytes_in", "bytes_out"}) {
      EXPECT_NE(b.find(field), nullptr) << field;
    }
    EXPECT_EQ(b.find("address")->as_string(), "127.0.0.1");
    EXPECT_EQ(b.find("port")->as_uint64(), backends_[i]->port());
    EXPECT_EQ(b.find("state")->as_string(), "up");
    EXPECT_EQ(b.find("weight")->as_uint64(), 1u);
  }
  EXPECT_TRUE(r.json.find("emergency")->is_null());
}

TEST_F(RestApiTest, ListBackendsCountsRememberedClients) {
  std::map<std::string, uint64_t> served;
  for (int i = 2; i <= 4; ++i) ++served[relay_once("127.0.0." + std::to_string(i))];
  Reply r = get("/api/v1/services/web/backends");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& list = r.json.find("backends")->as_array();
  ASSERT_EQ(list.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(list[i].find("remembered_clients")->as_uint64(), served[backends_[i]->name()]) << i;
  }
  EXPECT_EQ(served.size(), 2u) << "both backends took clients";
}

TEST_F(RestApiTest, AddBackendNeedsOnlyAddressAndPort) {
  TestBackend extra("extra");
  Reply r = post("/api/v1/services/web/backends", R"({"address": "127.0.0.1", "port": )" +
                                                      std::to_string(extra.port()) + "}");
  ASSERT_EQ(r.status, 201) << r.body;
  uint32_t id = static_cast<uint32_t>(r.json.find("id")->as_uint64());
  EXPECT_EQ(r.header("Location"), backend_path(id));
  EXPECT_EQ(r.json.find("port")->as_uint64(), extra.port());
  EXPECT_EQ(r.json.find("weight")->as_uint64(), 1u);
  EXPECT_EQ(r.json.find("state")->as_string(), "up");
  ASSERT_EQ(backends_json().size(), 3u);
  EXPECT_EQ(backends_json()[2].find("id")->as_uint64(), id);  // appended
}

TEST_F(RestApiTest, AddBackendWithEverything) {
  TestBackend extra("extra");
  Reply r = post("/api/v1/services/web/backends",
                 R"({"address": "localhost", "port": )" + std::to_string(extra.port()) +
                     R"(, "weight": 5, "prio": 2, "soft_limit": 10, "hard_limit": 20})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json.find("host")->as_string(), "localhost");  // names resolve once
  EXPECT_EQ(r.json.find("weight")->as_uint64(), 5u);
  EXPECT_EQ(r.json.find("prio")->as_uint64(), 2u);
  EXPECT_EQ(r.json.find("soft_limit")->as_uint64(), 10u);
  EXPECT_EQ(r.json.find("hard_limit")->as_uint64(), 20u);
}

TEST_F(RestApiTest, AddBackendRejectsBadRequests) {
  const std::string path = "/api/v1/services/web/backends";
  expect_rejected("POST", path, R"({"address": "127.0.0.1", "port": 1)", 400, "INVALID_ARGUMENT",
                  "invalid JSON at line 1, column 35 (offset 34): expected ',' or '}' in an object, got the end");
  expect_rejected("POST", path, R"({"address": "127.0.0.1", "port": "80"})", 400, "INVALID_ARGUMENT",
                  "field \"port\": expected an integer 1-65535, got a string");
  expect_rejected("POST", path, R"({"address": "127.0.0.1", "port": 0})", 400, "INVALID_ARGUMENT",
                  "field \"port\": expected an integer 1-65535, got 0");
  expect_rejected("POST", path, R"({"address": "127.0.0.1", "port": 80.5})", 400, "INVALID_ARGUMENT",
                  "expected an integer 1-65535, got 80.5");
  expect_rejected("POST", path, R"({"address": "127.0.0.1", "port": 81, "wieght": 2})", 400, "INVALID_ARGUMENT",
                  "unknown field \"wieght\"; expected one of: address, port, weight, prio, soft_limit, hard_limit");
  expect_rejected("POST", path, R"({"port": 81})", 400, "INVALID_ARGUMENT", "missing required field \"address\"");
  expect_rejected("POST", path, R"({"address": 7, "port": 81})", 400, "INVALID_ARGUMENT",
                  "field \"address\": expected a non-empty string, got 7");
  expect_rejected("POST", path, R"({"address": "127.0.0.1", "port": 81, "weight": -1})", 400, "INVALID_ARGUMENT",
                  "field \"weight\": expected an integer 0-10000, got -1");
  expect_rejected("POST", path, R"({"address": "127.0.0.1", "port": 81, "weight": null})", 400,
                  "INVALID_ARGUMENT", "got null");
  expect_rejected("POST", path, R"([{"address": "127.0.0.1", "port": 81}])", 400, "INVALID_ARGUMENT",
                  "the request body must be a JSON object, got an array");
  expect_rejected("POST", path, R"({"address": "no.such.host.invalid", "port": 81})", 400, "INVALID_ARGUMENT",
                  "field \"address\": cannot resolve host 'no.such.host.invalid'");
  expect_rejected("POST", path, "", 400, "INVALID_ARGUMENT", "needs a JSON request body");
}

// Finding 5 of the hardening issue: this exact address was accepted (201) and
// written raw into the state file, and the next start failed.
TEST_F(RestApiTest, AddBackendRefusesControlBytesAndOverLongAddresses) {
  const std::string path = "/api/v1/services/web/backends";
  expect_rejected("POST", path, R"({"address": "127.0.0.1\u0000 evil\nservice x", "port": 81})", 400,
                  "INVALID_ARGUMENT",
                  "field \"address\": expected a host name or IP address, got "
                  "'127.0.0.1\\x00 evil\\x0aservice x' (control byte 0x00 at offset 9)");
  expect_rejected("POST", path, R"({"address": "localhost\r", "port": 81})", 400, "INVALID_ARGUMENT",
                  "(control byte 0x0d at offset 9)");
  expect_rejected("POST", path, R"({"address": "local host", "port": 81})", 400, "INVALID_ARGUMENT",
                  "(a space at offset 5)");
  expect_rejected("POST", path, R"({"address": ")" + std::string(254, 'a') + R"(", "port": 81})", 400,
                  "INVALID_ARGUMENT", "field \"address\": at most 253 bytes, got 254");
}

// With a state writer, 2xx means on disk; a failed save answers 503 with the
// reason and turns /readyz not ready until a save succeeds again.
TEST_F(RestApiTest, ChangesAreAcknowledgedOnlyOnceSaved) {
  nib::test::TempDir dir;
  const std::string path = dir.file("nib.state");
  StateWriter writer(*dp_, path, StateWriterOptions{.retry_interval = std::chrono::hours(1)});
  writer.start();
  core_->set_state_writer(&writer);  // the core keeps each change before answering
  TestBackend extra("extra");
  Reply added = post("/api/v1/services/web/backends",
                     R"({"address": "127.0.0.1", "port": )" + std::to_string(extra.port()) + "}");
  ASSERT_EQ(added.status, 201) << added.body;
  auto text = nib::test::read_file(path);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find(":" + std::to_string(extra.port()) + "\""), std::string::npos) << *text;
  EXPECT_EQ(get("/readyz").status, 200);

  ASSERT_EQ(::mkdir((path + ".tmp").c_str(), 0700), 0);  // writes fail from now on
  Reply patched = patch(backend_path(backend_id(0)), R"({"weight": 7})");
  EXPECT_EQ(patched.status, 503) << patched.body;
  EXPECT_EQ(patched.error_code(), "UNAVAILABLE");
  EXPECT_THAT(patched.error_message(), HasSubstr("the change is applied but not saved, so a restart would lose it: "
                                                 "state file " + path + ": cannot create " + path + ".tmp: "
                                                 "Is a directory (EISDIR)"));
  Reply ready = get("/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_THAT(ready.body, HasSubstr("state file " + path + ": cannot create")) << ready.body;
  EXPECT_EQ(del(backend_path(backend_id(2))).status, 503) << "still failing";

  ASSERT_EQ(::rmdir((path + ".tmp").c_str()), 0);
  EXPECT_EQ(patch(backend_path(backend_id(0)), R"({"weight": 8})").status, 200);
  EXPECT_EQ(get("/readyz").status, 200);
  text = nib::test::read_file(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->find(":" + std::to_string(extra.port()) + "\""), std::string::npos) << "the delete is saved too";
  EXPECT_NE(text->find("\"weight\": 8,"), std::string::npos) << *text;
  core_->set_state_writer(nullptr);
  writer.stop();
}

TEST_F(RestApiTest, AddBackendRejectsTheWrongContentType) {
  const std::string path = "/api/v1/services/web/backends";
  const std::string body = R"({"address": "127.0.0.1", "port": 81})";
  expect_rejected("POST", path, body, 415, "UNSUPPORTED_MEDIA_TYPE",
                  "the request body must be JSON with Content-Type: application/json, got 'text/plain'",
                  "text/plain");
  expect_rejected("POST", path, body, 415, "UNSUPPORTED_MEDIA_TYPE", "got no Content-Type", "");
  expect_rejected("POST", path, body, 415, "UNSUPPORTED_MEDIA_TYPE", "latin", "application/json; charset=latin1");
  // Parameters JSON allows are fine.
  TestBackend extra("extra");
  Reply ok = call("POST", path, R"({"address": "127.0.0.1", "port": )" + std::to_string(extra.port()) + "}",
                  "Application/JSON; charset=UTF-8");
  EXPECT_EQ(ok.status, 201) << ok.body;
}

TEST_F(RestApiTest, OversizedBodiesAreRejected) {
  // Under the limit but padded: still parsed.
  std::string padded = R"({"address": "127.0.0.1", "port": 81,)" + std::string(1000, ' ') + R"("weight": 1})";
  EXPECT_NE(post("/api/v1/services/web/backends", padded).status, 413);
  std::string huge = R"({"address": ")" + std::string(70 * 1024, 'a') + R"(", "port": 81})";
  expect_rejected("POST", "/api/v1/services/web/backends", huge, 413, "PAYLOAD_TOO_LARGE",
                  "the request body is larger than 65536 bytes");
}

TEST_F(RestApiTest, ChunkedBodies) {
  TestBackend extra("extra");
  std::string body = R"({"address": "127.0.0.1", "port": )" + std::to_string(extra.port()) + "}";
  auto chunked = [](const std::string& b) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx", b.size());
    return std::string(size) + "\r\n" + b + "\r\n0\r\n\r\n";
  };
  const std::string head = "POST /api/v1/backends HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                           "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  Reply ok = send_raw(head + chunked(body));
  EXPECT_EQ(ok.status, 201) << ok.body;
  // No Content-Length to check up front: the limit applies while reading.
  std::string before = get("/api/v1/backends").body;
  Reply big = send_raw(head + chunked(std::string(70 * 1024, ' ') + body));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.error_code(), "PAYLOAD_TOO_LARGE");
  EXPECT_EQ(get("/api/v1/backends").body, before);
}

TEST_F(RestApiTest, PostWithoutContentLengthHasAnEmptyBody) {
  // What `curl -X POST URL` sends: HTTP says no length means no body, and the
  // answer must not wait for the client to close.
  uint32_t id = backend_id(0);
  auto begin = MonoClock::now();
  Reply r = send_raw("POST /api/v1/backends/" + std::to_string(id) + "/drain HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_LT(MonoClock::now() - begin, 2s);
  Reply needs_body = send_raw("POST /api/v1/backends HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(needs_body.status, 400);
  EXPECT_EQ(needs_body.error_message(), "POST /api/v1/backends needs a JSON request body");
}

TEST_F(RestApiTest, DuplicateBackendIsAConflict) {
  std::string body = R"({"address": "127.0.0.1", "port": )" + std::to_string(backends_[0]->port()) + "}";
  expect_rejected("POST", "/api/v1/services/web/backends", body, 409, "ALREADY_EXISTS", "");
}

TEST_F(RestApiTest, UnknownServiceIsNotFound) {
  expect_rejected("GET", "/api/v1/services/nope/backends", "", 404, "NOT_FOUND", "no service 'nope'; services: web");
  expect_rejected("POST", "/api/v1/services/nope/backends", R"({"address": "127.0.0.1", "port": 81})", 404,
                  "NOT_FOUND", "no service 'nope'");
  expect_rejected("GET", "/api/v1/services/nope", "", 404, "NOT_FOUND", "no service 'nope'");
}

TEST_F(RestApiTest, GetBackend) {
  uint32_t id = backend_id(1);
  Reply r = get(backend_path(id));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.find("id")->as_uint64(), id);
  EXPECT_EQ(r.json.find("port")->as_uint64(), backends_[1]->port());
  EXPECT_EQ(r.json.find("remembered_clients")->as_uint64(), 0u);
  // Not checked: healthy, never changed, no check yet.
  const json::Value* health = r.json.find("health");
  ASSERT_NE(health, nullptr);
  for (const char* key : {"checked", "healthy", "reason", "changed_unix", "last_check", "last_check_ok",
                          "last_check_ms", "last_check_unix", "transitions"}) {
    EXPECT_NE(health->find(key), nullptr) << key;
  }
  EXPECT_FALSE(health->find("checked")->as_bool());
  EXPECT_TRUE(health->find("healthy")->as_bool());
  EXPECT_EQ(health->find("transitions")->as_uint64(), 0u);
  expect_rejected("GET", backend_path(999), "", 404, "NOT_FOUND", "no backend with id 999");
  expect_rejected("GET", "/api/v1/services/web/backends/abc", "", 400, "INVALID_ARGUMENT",
                  "backend id: expected an integer 1-4294967295, got 'abc'");
  expect_rejected("GET", "/api/v1/services/web/backends/0", "", 400, "INVALID_ARGUMENT", "got '0'");
  expect_rejected("GET", "/api/v1/services/web/backends/99999999999", "", 400, "INVALID_ARGUMENT", "");
}

TEST_F(RestApiTest, PatchBackend) {
  uint32_t id = backend_id(0);
  Reply r = patch(backend_path(id), R"({"weight": 7, "prio": 3, "soft_limit": 4, "hard_limit": 5})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.find("weight")->as_uint64(), 7u);
  EXPECT_EQ(r.json.find("prio")->as_uint64(), 3u);
  EXPECT_EQ(r.json.find("soft_limit")->as_uint64(), 4u);
  EXPECT_EQ(r.json.find("hard_limit")->as_uint64(), 5u);
  r = patch(backend_path(id), R"({"enabled": false})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.find("state")->as_string(), "disabled");
  EXPECT_EQ(r.json.find("weight")->as_uint64(), 7u);  // left alone
  r = patch(backend_path(id), R"({"enabled": true})");
  EXPECT_EQ(r.json.find("state")->as_string(), "up");
}

// Pen's `server N address A port P` through REST: the backend keeps its id,
// number and settings; new connections reach the new address.
TEST_F(RestApiTest, PatchBackendAddressMovesIt) {
  uint32_t id = backend_id(0);
  TestBackend moved("moved");
  ASSERT_EQ(patch(backend_path(id), R"({"weight": 7})").status, 200);
  Reply r = patch(backend_path(id), R"({"address": "[127.0.0.1]", "port": )" + std::to_string(moved.port()) + "}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.find("id")->as_uint64(), id);
  EXPECT_EQ(r.json.find("index")->as_uint64(), 0u);
  EXPECT_EQ(r.json.find("port")->as_uint64(), moved.port());
  EXPECT_EQ(r.json.find("weight")->as_uint64(), 7u);
  ASSERT_EQ(patch(backend_path(backend_id(1)), R"({"enabled": false})").status, 200);
  EXPECT_EQ(nib::test::who_serves(dp_->bound_address("web").value()).value_or("none"), "moved");
  // A port alone keeps the address.
  TestBackend again("again");
  r = patch(backend_path(id), R"({"port": )" + std::to_string(again.port()) + "}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.find("address")->as_string(), "127.0.0.1");
  EXPECT_EQ(nib::test::who_serves(dp_->bound_address("web").value()).value_or("none"), "again");
}

TEST_F(RestApiTest, PutAclReplacesTheClientAcl) {
  Reply r = get("/api/v1/services/web/acl");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{\"entries\":[]}\n");
  r = put("/api/v1/services/web/acl", R"({"entries": ["deny 127.0.0.1", "deny country SE"]})");
  EXPECT_EQ(r.status, 400) << "no country database in this test";
  r = put("/api/v1/acl", R"({"entries": ["deny 127.0.0.1", "permit ::/0"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{\"entries\":[\"deny 127.0.0.1/32\",\"permit ::/0\"]}\n");
  EXPECT_EQ(nib::test::who_serves(dp_->bound_address("web").value()).status().ok(), false)
      << "127.0.0.1 is denied";
  EXPECT_EQ(get("/api/v1/services/web/acl").body, r.body);
  r = put("/api/v1/acl", R"({"entries": []})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(nib::test::who_serves(dp_->bound_address("web").value()).ok());
}

// TLS settings belong to a service that terminates TLS (TLS itself is the
// configuration's to turn on): 409 for this plain one; a bad body is 400 first.
TEST_F(RestApiTest, TlsCallsOnAPlainServiceAreAConflict) {
  const std::string path = "/api/v1/services/web/tls";
  expect_rejected("GET", path, "", 409, "FAILED_PRECONDITION", "does not speak TLS");
  expect_rejected("POST", path + "/reload", "", 409, "FAILED_PRECONDITION", "");
  expect_rejected("PUT", path, R"({"min_version": "1.2", "extra": 1})", 400, "INVALID_ARGUMENT", "unknown field");
  expect_rejected("PUT", path, R"({"prefer_server_ciphers": "yes"})", 400, "INVALID_ARGUMENT",
                  "prefer_server_ciphers");
}

TEST_F(RestApiTest, TheRegistryWithoutEtcdIsTheLocalStore) {
  auto r = get("/api/v1/registry");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"store\":\"none\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"connected\":true"), std::string::npos) << r.body;
}

TEST_F(RestApiTest, PutAclRejectsBadRequests) {
  ASSERT_EQ(put("/api/v1/acl", R"({"entries": ["deny 10.0.0.0/8"]})").status, 200);
  const std::string path = "/api/v1/services/web/acl";
  expect_rejected("PUT", path, R"({"entries": ["deny 10.0.0.1", "allow 10.0.0.2"]})", 400, "INVALID_ARGUMENT",
                  "field \"entries[1]\": expected 'permit CIDR'");
  expect_rejected("PUT", path, R"({"entries": ["deny 10.0.0.1/33"]})", 400, "INVALID_ARGUMENT", "entries[0]");
  expect_rejected("PUT", path, R"({"entries": ["deny 10.0.0.1\u0000x"]})", 400, "INVALID_ARGUMENT", "entries[0]");
  expect_rejected("PUT", path, R"({"entries": "deny 10.0.0.1"})", 400, "INVALID_ARGUMENT", "entries");
  expect_rejected("PUT", path, R"({})", 400, "INVALID_ARGUMENT", "entries");
  expect_rejected("PUT", path, R"({"entries": [], "extra": 1})", 400, "INVALID_ARGUMENT", "unknown field");
  std::string many = R"({"entries": [)";
  for (int i = 0; i < 1001; ++i) many += std::string(i ? "," : "") + "\"deny 10.0.0.1\"";
  expect_rejected("PUT", path, many + "]}", 400, "INVALID_ARGUMENT", "at most 1000 entries");
  expect_rejected("PUT", "/api/v1/services/nope/acl", R"({"entries": []})", 404, "NOT_FOUND", "no service");
}

TEST_F(RestApiTest, TcpFastOpenIsABackendSettingChangedByPatch) {
  uint32_t id = backend_id(0);
  EXPECT_FALSE(get(backend_path(id)).json.find("tcp_fast_open")->as_bool()) << "off by default";
  Reply r = call("PATCH", backend_path(id), R"({"tcp_fast_open": true})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.json.find("tcp_fast_open")->as_bool());
  EXPECT_TRUE(get(backend_path(id)).json.find("tcp_fast_open")->as_bool());
  expect_rejected("PATCH", backend_path(id), R"({"tcp_fast_open": "yes"})", 400, "INVALID_ARGUMENT",
                  "field \"tcp_fast_open\": expected true or false, got a string");
  expect_rejected("PATCH", backend_path(id), R"({"tcp_fast_open": 1})", 400, "INVALID_ARGUMENT",
                  "field \"tcp_fast_open\": expected true or false");
  r = call("PATCH", backend_path(id), R"({"tcp_fast_open": false})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.json.find("tcp_fast_open")->as_bool());
  r = call("POST", "/api/v1/services/web/backends",
           R"({"address": "127.0.0.1", "port": 81, "tcp_fast_open": true})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_TRUE(r.json.find("tcp_fast_open")->as_bool());
}

TEST_F(RestApiTest, PatchBackendRejectsBadRequests) {
  uint32_t id = backend_id(0);
  expect_rejected("PATCH", backend_path(id), R"({"weight": 10001})", 400, "INVALID_ARGUMENT",
                  "field \"weight\": expected an integer 0-10000, got 10001");
  expect_rejected("PATCH", backend_path(id), R"({"enabled": "no"})", 400, "INVALID_ARGUMENT",
                  "field \"enabled\": expected true or false, got a string");
  expect_rejected("PATCH", backend_path(id), R"({"weight": 2, "colour": 9})", 400, "INVALID_ARGUMENT",
                  "unknown field \"colour\"; expected one of: weight, prio, soft_limit, hard_limit, enabled, "
                  "address, port");
  expect_rejected("PATCH", backend_path(id), R"({"weight": 2, "port": 0})", 400, "INVALID_ARGUMENT", "port");
  expect_rejected("PATCH", backend_path(id), R"({"weight": 2, "address": ""})", 400, "INVALID_ARGUMENT",
                  "field \"address\": expected a non-empty string");
  expect_rejected("PATCH", backend_path(id), R"({"address": "a b"})", 400, "INVALID_ARGUMENT", "a space");
  expect_rejected("PATCH", backend_path(id), R"({"address": "no-such-host.invalid"})", 400, "INVALID_ARGUMENT",
                  "field \"address\"");
  // Another backend's address.
  expect_rejected("PATCH", backend_path(id), R"({"weight": 2, "port": )" + std::to_string(backends_[1]->port()) + "}",
                  409, "ALREADY_EXISTS", "already exists");
  // A valid field before an invalid one is not applied either.
  expect_rejected("PATCH", backend_path(id), R"({"weight": 2, "prio": -1})", 400, "INVALID_ARGUMENT",
                  "field \"prio\"");
  expect_rejected("PATCH", backend_path(999), R"({"weight": 2})", 404, "NOT_FOUND", "no backend with id 999");
  expect_rejected("PATCH", backend_path(id), R"({"weight": 2)", 400, "INVALID_ARGUMENT", "invalid JSON");
  expect_rejected("PATCH", backend_path(id), R"({"weight": 2})", 415, "UNSUPPORTED_MEDIA_TYPE", "",
                  "application/x-www-form-urlencoded");
}

TEST_F(RestApiTest, DeleteBackend) {
  uint32_t id = backend_id(1);
  Reply r = del(backend_path(id));
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(backends_json().size(), 1u);
  EXPECT_EQ(get(backend_path(id)).status, 404);
  expect_rejected("DELETE", backend_path(id), "", 404, "NOT_FOUND", "no backend with id");
  expect_rejected("DELETE", backend_path(backend_id(0)), "{}", 400, "INVALID_ARGUMENT", "takes no request body");
}

TEST_F(RestApiTest, DrainBackend) {
  uint32_t id = backend_id(0);
  expect_rejected("POST", backend_path(id) + "/drain", R"({"now": true})", 400, "INVALID_ARGUMENT",
                  "unknown field \"now\"; expected one of: timeout_seconds");
  expect_rejected("POST", backend_path(id) + "/drain", R"({"timeout_seconds": -1})", 400, "INVALID_ARGUMENT",
                  "field \"timeout_seconds\": expected seconds >= 0, got -1");
  expect_rejected("POST", backend_path(id) + "/drain", R"({"timeout_seconds": "5"})", 400, "INVALID_ARGUMENT",
                  "field \"timeout_seconds\"");
  EXPECT_EQ(get(backend_path(id)).json.find("state")->as_string(), "up");  // rejected: nothing changed
  Reply r = post(backend_path(id) + "/drain", R"({"timeout_seconds": 30})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.find("state")->as_string(), "draining");
  EXPECT_EQ(post(backend_path(backend_id(1)) + "/drain", "{}").status, 200);  // an empty object is fine
  expect_rejected("POST", backend_path(999) + "/drain", "", 404, "NOT_FOUND", "no backend with id 999");
}

// ---- clients ----

TEST_F(RestApiTest, ListClientsPagesAndFilters) {
  std::map<std::string, int> served;
  for (int i = 2; i <= 5; ++i) served[relay_once("127.0.0." + std::to_string(i))]++;
  Reply all = get("/api/v1/services/web/clients");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.json.find("count")->as_uint64(), 4u);
  EXPECT_EQ(all.json.find("limit")->as_uint64(), 100u);
  const auto& clients = all.json.find("clients")->as_array();
  ASSERT_EQ(clients.size(), 4u);
  std::set<std::string> ips;
  for (const auto& c : clients) {
    ips.insert(c.find("ip")->as_string());
    EXPECT_EQ(c.find("connects")->as_uint64(), 1u);
  }
  EXPECT_EQ(ips, (std::set<std::string>{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}));

  Reply page = get("/api/v1/services/web/clients?limit=3&offset=2");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.json.find("clients")->as_array().size(), 2u);
  EXPECT_EQ(page.json.find("offset")->as_uint64(), 2u);

  uint32_t b0 = backend_id(0);
  Reply only = get("/api/v1/services/web/clients?backend=" + std::to_string(b0));
  ASSERT_EQ(only.status, 200) << only.body;
  EXPECT_EQ(only.json.find("count")->as_uint64(), static_cast<uint64_t>(served["b0"]));
  for (const auto& c : only.json.find("clients")->as_array()) EXPECT_EQ(c.find("backend_id")->as_uint64(), b0);
}

TEST_F(RestApiTest, ListClientsRejectsBadRanges) {
  relay_once("127.0.0.2");
  const std::string path = "/api/v1/services/web/clients";
  expect_rejected("GET", path + "?limit=0", "", 400, "INVALID_ARGUMENT",
                  "query parameter 'limit': expected an integer 1-10000, got '0'");
  expect_rejected("GET", path + "?limit=10001", "", 400, "INVALID_ARGUMENT", "got '10001'");
  expect_rejected("GET", path + "?limit=ten", "", 400, "INVALID_ARGUMENT", "got 'ten'");
  expect_rejected("GET", path + "?limit=-1", "", 400, "INVALID_ARGUMENT", "got '-1'");
  expect_rejected("GET", path + "?offset=", "", 400, "INVALID_ARGUMENT", "query parameter 'offset'");
  expect_rejected("GET", path + "?backend=x", "", 400, "INVALID_ARGUMENT", "query parameter 'backend'");
  expect_rejected("GET", path + "?backend=999", "", 404, "NOT_FOUND", "no backend with id 999");
  expect_rejected("GET", path + "?limit=1&limit=2", "", 400, "INVALID_ARGUMENT",
                  "query parameter 'limit' is given twice");
  expect_rejected("GET", path + "?page=2", "", 400, "INVALID_ARGUMENT",
                  "unknown query parameter 'page'; expected one of: limit, offset, backend");
  expect_rejected("GET", "/api/v1/services/web/backends?limit=1", "", 400, "INVALID_ARGUMENT",
                  "unknown query parameter 'limit'; this route takes none");
}

TEST_F(RestApiTest, ForgetClient) {
  relay_once("127.0.0.2");
  relay_once("127.0.0.3");
  Reply r = del("/api/v1/services/web/clients/127.0.0.2");
  EXPECT_EQ(r.status, 204) << r.body;
  Reply left = get("/api/v1/services/web/clients");
  ASSERT_EQ(left.json.find("count")->as_uint64(), 1u);
  EXPECT_EQ(left.json.find("clients")->as_array()[0].find("ip")->as_string(), "127.0.0.3");
  expect_rejected("DELETE", "/api/v1/services/web/clients/127.0.0.2", "", 404, "NOT_FOUND", "not remembered");
  expect_rejected("DELETE", "/api/v1/services/web/clients/banana", "", 400, "INVALID_ARGUMENT",
                  "expected a client IP address, got 'banana'");
}

TEST_F(RestApiTest, PinAndUnpinClients) {
  uint32_t b1 = backend_id(1);
  Reply r = put("/api/v1/services/web/clients/127.0.0.7/pin", R"({"backend_id": )" + std::to_string(b1) + "}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.find("backend_id")->as_uint64(), b1);
  // Pinned clients go to their backend whatever the balancing says.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(relay_once("127.0.0.7"), "b1");

  Reply cidr = put("/api/v1/services/web/clients/10.1.0.0%2F16/pin", R"({"backend_id": )" + std::to_string(b1) + "}");
  ASSERT_EQ(cidr.status, 200) << cidr.body;
  EXPECT_EQ(cidr.json.find("prefix")->as_string(), "10.1.0.0/16");

  Reply pins = get("/api/v1/services/web/pins");
  ASSERT_EQ(pins.status, 200);
  EXPECT_EQ(pins.json.find("pins")->as_array().size(), 2u);

  EXPECT_EQ(del("/api/v1/services/web/clients/10.1.0.0%2F16/pin").status, 204);
  EXPECT_EQ(get("/api/v1/services/web/pins").json.find("pins")->as_array().size(), 1u);
}

TEST_F(RestApiTest, PinRejectsBadRequests) {
  const std::string path = "/api/v1/services/web/clients/127.0.0.7/pin";
  expect_rejected("PUT", path, R"({"backend_id": 999})", 404, "NOT_FOUND", "999");
  expect_rejected("PUT", path, R"({})", 400, "INVALID_ARGUMENT", "missing required field \"backend_id\"");
  expect_rejected("PUT", path, R"({"backend_id": "1"})", 400, "INVALID_ARGUMENT",
                  "field \"backend_id\": expected an integer 1-4294967295, got a string");
  expect_rejected("PUT", "/api/v1/services/web/clients/10.0.0.0%2F99/pin", R"({"backend_id": 1})", 400,
                  "INVALID_ARGUMENT", "expected a client IP address or CIDR prefix");
  expect_rejected("PUT", "/api/v1/services/web/clients/10.0.0.%zz/pin", R"({"backend_id": 1})", 400,
                  "INVALID_ARGUMENT", "malformed percent-encoding");
}

TEST_F(RestApiTest, MigrateClients) {
  uint32_t b0 = backend_id(0), b1 = backend_id(1);
  // Pin the first clients to b0 by disabling b1 meanwhile.
  ASSERT_EQ(patch(backend_path(b1), R"({"enabled": false})").status, 200);
  for (int i = 2; i <= 4; ++i) EXPECT_EQ(relay_once("127.0.0." + std::to_string(i)), "b0");
  ASSERT_EQ(patch(backend_path(b1), R"({"enabled": true})").status, 200);

  expect_rejected("POST", backend_path(b0) + "/migrate", R"({"to": )" + std::to_string(b0) + "}", 400,
                  "INVALID_ARGUMENT", "to itself");
  expect_rejected("POST", backend_path(b0) + "/migrate", R"({"to": 999})", 404, "NOT_FOUND", "999");
  expect_rejected("POST", backend_path(b0) + "/migrate", R"({"too": 1})", 400, "INVALID_ARGUMENT",
                  "unknown field \"too\"; expected one of: to");

  Reply r = post(backend_path(b0) + "/migrate", R"({"to": )" + std::to_string(b1) + "}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.find("moved")->as_uint64(), 3u);
  EXPECT_EQ(r.json.find("to")->as_uint64(), b1);
  EXPECT_EQ(relay_once("127.0.0.2"), "b1");  // remembered on its new backend

  Reply forget = post(backend_path(b1) + "/migrate");
  ASSERT_EQ(forget.status, 200) << forget.body;
  EXPECT_EQ(forget.json.find("moved")->as_uint64(), 3u);
  EXPECT_TRUE(forget.json.find("to")->is_null());
  EXPECT_EQ(get("/api/v1/services/web/clients").json.find("count")->as_uint64(), 0u);
}

// ---- policy ----

TEST_F(RestApiTest, GetAndPutPolicy) {
  Reply r = get("/api/v1/services/web/policy");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.find("mode")->as_string(), "affinity");
  EXPECT_EQ(r.json.find("table_size")->as_uint64(), 2048u);

  Reply put_r = put("/api/v1/services/web/policy", R"({"mode": "hash", "tracking_seconds": 60.5})");
  ASSERT_EQ(put_r.status, 200) << put_r.body;
  EXPECT_EQ(put_r.json.find("mode")->as_string(), "hash");
  EXPECT_DOUBLE_EQ(put_r.json.find("tracking_seconds")->as_double(), 60.5);
  EXPECT_EQ(put_r.json.find("table_size")->as_uint64(), 2048u);  // left out, kept
  EXPECT_EQ(get("/api/v1/services/web/policy").json, put_r.json);
}

// Three clients each change one field of the policy at once; every field a
// client was told it changed must still hold afterwards (each PUT reads and
// writes the whole policy, so without the service's lock one could revert
// another's field: issue 16 saw it in 22 of 200 rounds).
TEST_F(RestApiTest, ConcurrentPartialPolicyUpdatesKeepEveryAcknowledgedField) {
  for (int round = 1; round <= 200; ++round) {
    const bool stubborn = round % 2 == 0;
    const std::string bodies[] = {std::string(R"({"stubborn": )") + (stubborn ? "true" : "false") + "}",
                                  R"({"tracking_seconds": )" + std::to_string(round) + "}",
                                  R"({"table_size": )" + std::to_string(1000 + round) + "}"};
    int statuses[3] = {0, 0, 0};
    std::vector<std::thread> clients;
    for (int i = 0; i < 3; ++i) {
      clients.emplace_back([&, i] { statuses[i] = put("/api/v1/policy", bodies[i]).status; });
    }
    for (auto& t : clients) t.join();
    for (int s : statuses) ASSERT_EQ(s, 200) << "round " << round;
    Reply policy = get("/api/v1/policy");
    ASSERT_EQ(policy.json.find("stubborn")->as_bool(), stubborn) << "round " << round << ": " << policy.body;
    ASSERT_EQ(policy.json.find("tracking_seconds")->as_double(), round) << "round " << round << ": " << policy.body;
    ASSERT_EQ(policy.json.find("table_size")->as_uint64(), 1000u + round) << "round " << round << ": " << policy.body;
  }
}

// The TCP connection settings are policy fields: set, answered, and shown in
// the service's view too.
TEST_F(RestApiTest, PutPolicySetsConnectionSettings) {
  Reply r = put("/api/v1/services/web/policy",
                R"({"connect_timeout_seconds": 7, "idle_timeout_seconds": 30.5, "max_connections": 12})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_DOUBLE_EQ(r.json.find("connect_timeout_seconds")->as_double(), 7);
  EXPECT_DOUBLE_EQ(r.json.find("idle_timeout_seconds")->as_double(), 30.5);
  EXPECT_EQ(r.json.find("max_connections")->as_uint64(), 12u);
  EXPECT_EQ(r.json.find("mode")->as_string(), "affinity");  // left out, kept
  Reply service = get("/api/v1/services/web");
  ASSERT_EQ(service.status, 200) << service.body;
  EXPECT_DOUBLE_EQ(service.json.find("connect_timeout_seconds")->as_double(), 7);
  EXPECT_EQ(service.json.find("max_connections")->as_uint64(), 12u);
  EXPECT_EQ(dp_->policy("web")->idle_timeout_seconds, 30.5);
}

TEST_F(RestApiTest, PutPolicyMaglevAndConsistent) {
  Reply r = put("/api/v1/services/web/policy", R"({"mode": "maglev"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.find("mode")->as_string(), "maglev");
  EXPECT_EQ(dp_->policy("web")->mode, BalanceMode::kMaglev);
  r = put("/api/v1/services/web/policy", R"({"mode": "affinity", "consistent": true})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.find("mode")->as_string(), "affinity");
  EXPECT_TRUE(r.json.find("consistent")->as_bool());
  EXPECT_TRUE(dp_->policy("web")->consistent);
  EXPECT_EQ(get("/api/v1/services/web/policy").json, r.json);
  expect_rejected("PUT", "/api/v1/services/web/policy", R"({"consistent": "yes"})", 400, "INVALID_ARGUMENT",
                  "field \"consistent\": expected true or false, got a string");
}

TEST_F(RestApiTest, PutPolicyRejectsBadRequests) {
  const std::string path = "/api/v1/services/web/policy";
  expect_rejected("PUT", path, R"({"mode": "random"})", 400, "INVALID_ARGUMENT",
                  "field \"mode\": expected one of affinity, roundrobin, hash, weight, prio, maglev; got \"random\"");
  expect_rejected("PUT", path, R"({"table_size": 0})", 400, "INVALID_ARGUMENT",
                  "field \"table_size\": expected an integer 1-100000000, got 0");
  expect_rejected("PUT", path, R"({"blacklist_seconds": -1})", 400, "INVALID_ARGUMENT",
                  "field \"blacklist_seconds\": expected seconds >= 0, got -1");
  expect_rejected("PUT", path, R"({"connect_timeout_seconds": 0})", 400, "INVALID_ARGUMENT",
                  "field \"connect_timeout_seconds\": expected seconds > 0 and <= 3600, got 0");
  expect_rejected("PUT", path, R"({"idle_timeout_seconds": -1})", 400, "INVALID_ARGUMENT",
                  "field \"idle_timeout_seconds\": expected seconds >= 0, got -1");
  expect_rejected("PUT", path, R"({"max_connections": 10000001})", 400, "INVALID_ARGUMENT",
                  "field \"max_connections\": expected an integer 0-10000000, got 10000001");
  expect_rejected("PUT", path, R"({"max_connections": -1})", 400, "INVALID_ARGUMENT",
                  "field \"max_connections\": expected an integer 0-10000000, got -1");
  expect_rejected("PUT", path, R"({"stubborn": 1})", 400, "INVALID_ARGUMENT",
                  "field \"stubborn\": expected true or false, got 1");
  expect_rejected("PUT", path, R"({"mode": "hash", "tracking": 5})", 400, "INVALID_ARGUMENT",
                  "unknown field \"tracking\"");
  expect_rejected("PUT", path, R"({"mode": "hash", "mode": "weight"})", 400, "INVALID_ARGUMENT",
                  "duplicate object key \"mode\"");
}

// ---- whole-plane views ----

TEST_F(RestApiTest, Stats) {
  relay_once("127.0.0.2");
  Reply r = get("/api/v1/stats");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.find("workers")->as_uint64(), 2u);
  const auto& services = r.json.find("services")->as_array();
  ASSERT_EQ(services.size(), 1u);
  const json::Value& s = services[0];
  EXPECT_EQ(s.find("name")->as_string(), "web");
  EXPECT_EQ(s.find("listen")->as_string(), lb_.to_string());
  EXPECT_EQ(s.find("backends")->as_array().size(), 2u);
  EXPECT_EQ(s.find("affinity")->find("size")->as_uint64(), 1u);
  EXPECT_EQ(s.find("counters")->find("accepted")->as_uint64(), 1u);
  EXPECT_EQ(s.find("policy")->find("mode")->as_string(), "affinity");
}

TEST_F(RestApiTest, ListServices) {
  Reply r = get("/api/v1/services");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::serialize(r.json), R"({"services":["web"]})");
}

// ---- routing ----

TEST_F(RestApiTest, UnknownRouteIsNotFound) {
  Reply r = get("/api/v1/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.error_code(), "NOT_FOUND");
  EXPECT_EQ(r.error_message(), "no route for GET /api/v1/nothing; see /api/v1/openapi.json");
  EXPECT_EQ(get("/api/v1/services/web/backends/").status, 404);  // no empty segments
}

TEST_F(RestApiTest, WrongMethodIsNotAllowed) {
  Reply r = call("PUT", "/api/v1/services/web/backends", "{}");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.error_code(), "METHOD_NOT_ALLOWED");
  EXPECT_EQ(r.error_message(), "PUT is not allowed on /api/v1/services/web/backends; allowed: GET, POST");
  EXPECT_EQ(r.header("Allow"), "GET, POST");
  EXPECT_EQ(call("DELETE", "/metrics").status, 405);
}

// ---- the service-less shorthand ----

TEST_F(RestApiTest, ShorthandAddressesTheOnlyService) {
  EXPECT_EQ(get("/api/v1/backends").json.find("service")->as_string(), "web");
  TestBackend extra("extra");
  Reply added = post("/api/v1/backends", R"({"address": "127.0.0.1", "port": )" + std::to_string(extra.port()) + "}");
  ASSERT_EQ(added.status, 201) << added.body;
  uint32_t id = static_cast<uint32_t>(added.json.find("id")->as_uint64());
  EXPECT_EQ(get("/api/v1/backends/" + std::to_string(id)).status, 200);
  EXPECT_EQ(patch("/api/v1/backends/" + std::to_string(id), R"({"weight": 3})").json.find("weight")->as_uint64(), 3u);
  EXPECT_EQ(post("/api/v1/backends/" + std::to_string(id) + "/drain").status, 200);
  EXPECT_EQ(post("/api/v1/backends/" + std::to_string(id) + "/migrate").status, 200);
  EXPECT_EQ(del("/api/v1/backends/" + std::to_string(id)).status, 204);
  EXPECT_EQ(get("/api/v1/clients?limit=5").status, 200);
  EXPECT_EQ(put("/api/v1/clients/127.0.0.9/pin", R"({"backend_id": )" + std::to_string(backend_id(0)) + "}").status,
            200);
  EXPECT_EQ(get("/api/v1/pins").json.find("pins")->as_array().size(), 1u);
  EXPECT_EQ(del("/api/v1/clients/127.0.0.9/pin").status, 204);
  EXPECT_EQ(put("/api/v1/policy", R"({"stubborn": true})").json.find("stubborn")->as_bool(), true);
  EXPECT_EQ(get("/api/v1/policy").json.find("stubborn")->as_bool(), true);
  EXPECT_EQ(del("/api/v1/clients/127.0.0.99").status, 404);  // routed, just not remembered
}

class RestApiTwoServicesTest : public HttpAdminFixture {};

TEST_F(RestApiTwoServicesTest, ShorthandNeedsExactlyOneService) {
  add_backends(1);
  ServiceConfig api = make_service("api");
  add_backends(1, &api);
  start({}, {api});
  Reply r = get("/api/v1/backends");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code(), "INVALID_ARGUMENT");
  EXPECT_EQ(r.error_message(),
            "the service-less route /api/v1/backends: the request names no service, but nib runs 2 (web, api); "
            "name one; use /api/v1/services/{service}/...");
  EXPECT_EQ(get("/api/v1/services/api/backends").status, 200);
  EXPECT_EQ(get("/api/v1/stats").json.find("services")->as_array().size(), 2u);
}

// ---- the route table itself ----

TEST(RestApiRoutesTest, EveryPerServiceRouteHasAShorthand) {
  std::set<std::pair<std::string, std::string>> routes;
  for (const auto& r : RestApi::routes()) routes.insert({r.method, r.pattern});
  const std::string prefix = "/api/v1/services/{service}/";
  for (const auto& [method, pattern] : routes) {
    if (!pattern.starts_with(prefix)) continue;
    EXPECT_TRUE(routes.contains({method, "/api/v1/" + pattern.substr(prefix.size())})) << method << " " << pattern;
  }
}

}  // namespace
}  // namespace nib::admin::test
