#include "admin/http/rest_api.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <limits>
#include <map>
#include <optional>
#include <variant>

#include "admin/common/status_codes.h"
#include "admin/core/admin_api.h"
#include "admin/http/event_stream.h"
#include "admin/http/openapi.h"
#include "admin/core/admin_views.h"
#include "admin/http/v1_json.h"
#include "admin/http/v1_schema.h"
#include "admin/metrics/metrics_collector.h"
#include "admin/pages/pen_status_page.h"
#include "admin/pages/status_page.h"
#include "dataplane/config/limits.h"
#include "dataplane/config/stored_text.h"
#include "dataplane/dataplane.h"
#include "nib/admin/v1/admin.pb.h"

namespace nib::admin {
namespace {

constexpr size_t kRequestMaxDepth = 16;  // no request body needs more

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string join(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : std::string(sep)) + i;
  return out;
}

// ---- routes ----

enum class Access { kPublic, kRead, kWrite };
enum class Body { kNone, kOptional, kRequired };

using Handler = AdminResponse (RestApi::*)(const RestApi::Call&);

// One row of the table below.
struct RouteSpec {
  std::string method;
  std::string pattern;
  Access access;
  Body body;
  std::vector<std::string> query;  // accepted query parameters
  Handler handler;
};

struct Route : RouteSpec {
  bool per_service = false;  // addresses a service: {service} or the shorthand's only one
  std::vector<std::string> segments;
};

std::vector<std::string> split_pattern(std::string_view pattern) {
  std::vector<std::string> segments;
  size_t i = 1;  // after the leading '/'
  while (i <= pattern.size()) {
    size_t slash = pattern.find('/', i);
    if (slash == std::string_view::npos) slash = pattern.size();
    segments.emplace_back(pattern.substr(i, slash - i));
    i = slash + 1;
  }
  return segments;
}

constexpr std::string_view kServicePrefix = "/api/v1/services/{service}/";

}  // namespace

// A friend of RestApi, so the table can name its private handlers.
class RestApiRoutes {
 public:
  static std::vector<Route> build();
};

std::vector<Route> RestApiRoutes::build() {
  using R = RestApi;
  const std::vector<RouteSpec> base = {
      {"GET", "/", Access::kPublic, Body::kNone, {}, &R::get_index},
      {"GET", "/stats.html", Access::kRead, Body::kNone, {}, &R::get_pen_page},
      {"GET", "/metrics", Access::kRead, Body::kNone, {}, &R::get_metrics},
      {"GET", "/healthz", Access::kPublic, Body::kNone, {}, &R::get_healthz},
      {"GET", "/readyz", Access::kPublic, Body::kNone, {}, &R::get_readyz},
      {"GET", "/api/v1/openapi.json", Access::kRead, Body::kNone, {}, &R::get_openapi},
      {"GET", "/api/v1/events", Access::kRead, Body::kNone, {}, &R::get_events},
      {"GET", "/api/v1/stats", Access::kRead, Body::kNone, {}, &R::get_stats},
      {"GET", "/api/v1/registry", Access::kRead, Body::kNone, {}, &R::get_registry},
      {"GET", "/api/v1/services", Access::kRead, Body::kNone, {}, &R::list_services},
      {"GET", "/api/v1/services/{service}", Access::kRead, Body::kNone, {}, &R::get_service},
      {"GET", "/api/v1/services/{service}/backends", Access::kRead, Body::kNone, {}, &R::list_backends},
      {"POST", "/api/v1/services/{service}/backends", Access::kWrite, Body::kRequired, {}, &R::add_backend},
      {"GET", "/api/v1/services/{service}/backends/{id}", Access::kRead, Body::kNone, {}, &R::get_backend},
      {"PATCH", "/api/v1/services/{service}/backends/{id}", Access::kWrite, Body::kRequired, {}, &R::patch_backend},
      {"DELETE", "/api/v1/services/{service}/backends/{id}", Access::kWrite, Body::kNone, {}, &R::delete_backend},
      {"POST", "/api/v1/services/{service}/backends/{id}/drain", Access::kWrite, Body::kOptional, {},
       &R::drain_backend},
      {"POST", "/api/v1/services/{service}/backends/{id}/migrate", Access::kWrite, Body::kOptional, {},
       &R::migrate_backend},
      {"GET", "/api/v1/services/{service}/clients", Access::kRead, Body::kNone, {"limit", "offset", "backend"},
       &R::list_clients},
      {"DELETE", "/api/v1/services/{service}/clients/{ip}", Access::kWrite, Body::kNone, {}, &R::forget_client},
      {"PUT", "/api/v1/services/{service}/clients/{ip}/pin", Access::kWrite, Body::kRequired, {}, &R::pin_client},
      {"DELETE", "/api/v1/services/{service}/clients/{ip}/pin", Access::kWrite, Body::kNone, {}, &R::unpin_client},
      {"GET", "/api/v1/services/{service}/pins", Access::kRead, Body::kNone, {}, &R::list_pins},
      {"GET", "/api/v1/services/{service}/policy", Access::kRead, Body::kNone, {}, &R::get_policy},
      {"PUT", "/api/v1/services/{service}/policy", Access::kWrite, Body::kRequired, {}, &R::put_policy},
      {"GET", "/api/v1/services/{service}/acl", Access::kRead, Body::kNone, {}, &R::get_acl},
      {"PUT", "/api/v1/services/{service}/acl", Access::kWrite, Body::kRequired, {}, &R::put_acl},
      {"GET", "/api/v1/services/{service}/tls", Access::kRead, Body::kNone, {}, &R::get_tls},
      {"PUT", "/api/v1/services/{service}/tls", Access::kWrite, Body::kRequired, {}, &R::put_tls},
      {"POST", "/api/v1/services/{service}/tls/reload", Access::kWrite, Body::kNone, {}, &R::reload_tls},
  };
  std::vector<Route> all;
  for (const auto& spec : base) {
    Route r{spec, false, {}};
    r.per_service = r.pattern.find("{service}") != std::string::npos;
    all.push_back(r);
  }
  // The service-less shorthand: /api/v1/backends/... addresses the only service.
  for (const auto& spec : base) {
    if (!spec.pattern.starts_with(kServicePrefix)) continue;
    Route r{spec, false, {}};
    r.pattern = "/api/v1/" + spec.pattern.substr(kServicePrefix.size());
    r.per_service = true;
    all.push_back(r);
  }
  for (auto& r : all) r.segments = split_pattern(r.pattern);
  return all;
}

namespace {

const std::vector<Route>& route_table() {
  static const std::vector<Route> table = RestApiRoutes::build();
  return table;
}

// ---- request parsing ----

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
      int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return Status::invalid("malformed percent-encoding in " + quoted(s));
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

struct Target {
  std::string path;                   // decoded, for messages
  std::vector<std::string> segments;  // decoded one by one: "%2F" stays inside its segment
  std::vector<std::pair<std::string, std::string>> query;
};

Result<Target> parse_target(std::string_view target) {
  Target t;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (path.empty() || path[0] != '/') return Status::invalid("the request target must start with '/'");
  auto decoded = percent_decode(path, false);
  if (!decoded.ok()) return decoded.status();
  t.path = *decoded;
  for (const auto& raw : split_pattern(path)) {
    auto seg = percent_decode(raw, false);
    if (!seg.ok()) return seg.status();
    t.segments.push_back(*seg);
  }
  if (q == std::string_view::npos) return t;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    auto key = percent_decode(item.substr(0, eq), true);
    auto value = percent_decode(eq == std::string_view::npos ? "" : item.substr(eq + 1), true);
    if (!key.ok()) return key.status();
    if (!value.ok()) return value.status();
    for (const auto& [k, v] : t.query) {
      if (k == *key) return Status::invalid("query parameter " + quoted(*key) + " is given twice");
    }
    t.query.emplace_back(*key, *value);
  }
  return t;
}

bool matches(const Route& r, const std::vector<std::string>& segments, std::map<std::string, std::string>* params) {
  if (r.segments.size() != segments.size()) return false;
  std::map<std::string, std::string> found;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& p = r.segments[i];
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
      if (segments[i].empty()) return false;
      found[p.substr(1, p.size() - 2)] = segments[i];
    } else if (p != segments[i]) {
      return false;
    }
  }
  *params = std::move(found);
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// "application/json", optionally with "; charset=utf-8" (JSON is UTF-8 only).
bool is_json_content_type(std::string_view content_type) {
  size_t semi = content_type.find(';');
  if (lower(trim(content_type.substr(0, semi))) != "application/json") return false;
  while (semi != std::string_view::npos) {
    content_type.remove_prefix(semi + 1);
    semi = content_type.find(';');
    std::string param = lower(trim(content_type.substr(0, semi)));
    if (param.empty()) continue;
    if (param != "charset=utf-8" && param != "charset=\"utf-8\"") return false;
  }
  return true;
}

// ---- body fields ----

std::string describe(const json::Value& v) {
  if (v.is_null()) return "null";
  if (v.is_bool()) return v.as_bool() ? "true" : "false";
  if (v.is_number()) return json::serialize(v);
  return to_string(v.type());
}


// Reads typed fields of a request object, keeping the first error: handlers
// read everything, then check status() once, before anything changes.
class Fields {
 public:
  Fields(const json::Value& body, std::vector<std::string> allowed) : body_(body) {
    if (!body.is_object()) {
      fail("the request body must be a JSON object, got " + describe(body));
      return;
    }
    for (const auto& [key, value] : body.as_object()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        fail("unknown field " + json::quote(key) + (allowed.empty() ? "; this request takes no fields"
                                                                    : "; expected one of: " + join(allowed)));
        return;
      }
    }
  }

  void require(std::initializer_list<std::string_view> keys) {
    for (auto k : keys) {
      if (body_.find(k) == nullptr) fail("missing required field " + json::quote(k));
    }
  }

  // An unsigned integer that fits T; its range is the core's to check
  // (admin_api.h), but a value T cannot hold is refused here in the core's
  // words. `rule` names the request field when the JSON key differs.
  template <typename T>
  std::optional<T> uint(std::string_view key, std::string_view rule = {}) {
    const json::Value* v = present(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_integer() || !v->fits_uint64() || v->as_uint64() > std::numeric_limits<T>::max()) {
      const FieldRule* r = field_rule(rule.empty() ? key : rule);
      fail(field_error(key, r && r->integer ? describe(*r->integer) : "an unsigned integer", describe(*v)));
      return std::nullopt;
    }
    return static_cast<T>(v->as_uint64());
  }

  std::optional<double> seconds(std::string_view key) {
    const json::Value* v = present(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) {
      fail(field_error(key, nib::describe(limits::kSeconds), describe(*v)));
      return std::nullopt;
    }
    return v->as_double();
  }

  std::optional<bool> boolean(std::string_view key) {
    const json::Value* v = present(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_bool()) {
      fail("field " + json::quote(key) + ": expected true or false, got " + describe(*v));
      return std::nullopt;
    }
    return v->as_bool();
  }

  std::optional<std::string> string(std::string_view key) {
    const json::Value* v = present(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string() || v->as_string().empty()) {
      fail("field " + json::quote(key) + ": expected a non-empty string, got " +
           (v->is_string() ? "an empty string" : describe(*v)));
      return std::nullopt;
    }
    return v->as_string();
  }

  // An array of non-empty strings (a repeated string field).
  std::optional<std::vector<std::string>> strings(std::string_view key) {
    const json::Value* v = present(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_array()) {
      fail("field " + json::quote(key) + ": expected an array of strings, got " + describe(*v));
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (const json::Value& item : v->as_array()) {
      if (!item.is_string() || item.as_string().empty()) {
        fail("field " + json::quote(std::string(key) + "[" + std::to_string(out.size()) + "]") +
             ": expected a non-empty string, got " + (item.is_string() ? "an empty string" : describe(item)));
        return std::nullopt;
      }
      out.push_back(item.as_string());
    }
    return out;
  }

  const Status& status() const { return status_; }

 private:
  const json::Value* present(std::string_view key) {
    if (!status_.ok()) return nullptr;
    return body_.find(key);
  }
  void fail(std::string message) { fail(Status::invalid(std::move(message))); }
  void fail(Status st) {
    if (status_.ok()) status_ = std::move(st);
  }

  const json::Value& body_;
  Status status_;
};

// A request body read into the core's request message by the message's own
// field names (v1_schema.h: the keys each body takes), strictly: unknown and
// missing fields, wrong JSON types and values the field cannot hold are
// refused here; ranges are the core's. So a new route needs no reading code,
// and the OpenAPI document describes exactly what is read.
Status read_body_into(const json::Value& body, std::string_view name, google::protobuf::Message* out) {
  using google::protobuf::FieldDescriptor;
  const BodyFields& spec = request_body(name).fields;
  Fields f(body, spec.allowed);
  for (auto key : spec.required) f.require({key});
  if (!f.status().ok()) return f.status();
  const google::protobuf::Reflection* reflection = out->GetReflection();
  for (const std::string& key : spec.allowed) {
    const std::string name = spec.field_of(key);
    const FieldDescriptor* field = out->GetDescriptor()->FindFieldByName(name);
    if (field == nullptr) return Status::internal("REST: no request field " + name);
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_UINT32:
        if (auto v = f.uint<uint32_t>(key, name)) reflection->SetUInt32(out, field, *v);
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        if (auto v = f.uint<uint64_t>(key, name)) reflection->SetUInt64(out, field, *v);
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        if (auto v = f.seconds(key)) reflection->SetDouble(out, field, *v);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        if (auto v = f.boolean(key)) reflection->SetBool(out, field, *v);
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        if (field->is_repeated()) {
          if (auto v = f.strings(key)) {
            for (auto& item : *v) reflection->AddString(out, field, std::move(item));
          }
        } else if (auto v = f.string(key)) {
          reflection->SetString(out, field, *v);
        }
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        auto v = f.string(key);
        if (!v) break;
        std::vector<std::string> words;
        const google::protobuf::EnumValueDescriptor* found = nullptr;
        for (int i = 0; i < field->enum_type()->value_count(); ++i) {
          const auto* value = field->enum_type()->value(i);
          if (value->number() == 0) continue;  // UNSPECIFIED
          words.push_back(enum_word(*value));
          if (words.back() == *v) found = value;
        }
        if (found == nullptr) {
          return Status::invalid("field " + json::quote(key) + ": expected one of " + join(words) + "; got " +
                                 json::quote(*v));
        }
        reflection->SetEnum(out, field, found);
        break;
      }
      default: return Status::internal("REST: field " + name + " has a type the REST reader does not map");
    }
    if (!f.status().ok()) return f.status();
  }
  return f.status();
}

Result<uint64_t> query_uint(const std::vector<std::pair<std::string, std::string>>& query, std::string_view key,
                            IntRange range, uint64_t fallback) {
  for (const auto& [k, v] : query) {
    if (k != key) continue;
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size() || !range.contains_unsigned(n)) {
      return Status::invalid("query parameter " + quoted(key) + ": expected " + describe(range) + ", got " +
                             quoted(v));
    }
    return n;
  }
  return fallback;
}

Result<uint32_t> parse_backend_id(std::string_view text) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !limits::kBackendId.contains_unsigned(n)) {
    return Status::invalid("backend id: expected " + describe(limits::kBackendId) + ", got " + quoted(text));
  }
  return static_cast<uint32_t>(n);
}

std::string wall_clock_text() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

AdminResponse no_content() {
  AdminResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

AdminResponse text_response(int status, std::string content_type, std::string body) {
  AdminResponse r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

}  // namespace

// ---- responses ----

AdminResponse error_response(int http_status, std::string_view code, std::string_view message) {
  json::Value error = json::Value::object();
  error.set("code", code).set("message", message);
  json::Value body = json::Value::object();
  body.set("error", std::move(error));
  return json_response(http_status, body);
}

AdminResponse error_response(const Status& status) {
  return error_response(http_status(status.code()), error_code_name(status.code()), status.message());
}

AdminResponse json_response(int http_status, const json::Value& body) {
  AdminResponse r;
  r.status = http_status;
  r.body = json::serialize(body) + "\n";
  return r;
}

// ---- dispatch ----

struct RestApi::Call {
  const AdminRequest& request;
  std::map<std::string, std::string> params;
  std::vector<std::pair<std::string, std::string>> query;
  json::Value body;     // null when the request had none
  std::string service;  // per-service routes: resolved and known to exist

  const std::string& param(const std::string& name) const { return params.at(name); }
};

RestApi::RestApi(AdminApi& api, const AdminAuth& auth, MetricsCollector& metrics, EventSubscriptions* streams,
                 RestApiOptions options)
    : api_(api), dataplane_(api.dataplane()), auth_(auth), metrics_(metrics), streams_(streams), options_(options) {}

std::vector<RestApi::RouteInfo> RestApi::routes() {
  std::vector<RouteInfo> out;
  for (const auto& r : route_table()) out.push_back({r.method, r.pattern});
  return out;
}

AdminResponse RestApi::handle(const AdminRequest& request) {
  std::string route = "unmatched";
  AdminResponse response = dispatch(request, &route);
  metrics_.count_request(route, request.method, response.status);
  return response;
}

AdminResponse RestApi::transport_error(const AdminRequest& request, int status) {
  switch (status) {
    case 413:
      return transport_error(request, 413, "PAYLOAD_TOO_LARGE",
                             "the request body is larger than " + std::to_string(options_.max_body_bytes) + " bytes");
    case 404: return transport_error(request, 404, "NOT_FOUND", "no route for " + request.method + " " + request.target);
    case 414: return transport_error(request, 414, "URI_TOO_LONG", "the request target is too long");
    default:
      return transport_error(request, status, status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT",
                             status >= 500 ? "internal error" : "malformed HTTP request");
  }
}

AdminResponse RestApi::transport_error(const AdminRequest& request, int status, std::string_view code,
                                       std::string_view message) {
  std::string route = "unmatched";
  if (auto target = parse_target(request.target); target.ok()) {
    std::map<std::string, std::string> params;
    for (const auto& r : route_table()) {
      if (matches(r, target->segments, &params)) {
        route = r.pattern;
        break;
      }
    }
  }
  AdminResponse response = error_response(status, code, message);
  metrics_.count_request(route, request.method, response.status);
  return response;
}

namespace {

// The stages of dispatch: each lets the request pass or answers with an error.

struct Match {
  const Route* route = nullptr;
  std::map<std::string, std::string> params;
};

// The route for the path and method, or a 404/405. `label` is the route the
// request is counted on (also for a 405: the path's route).
std::variant<Match, AdminResponse> match_route(const AdminRequest& request, const Target& target,
                                               std::string* label) {
  const std::string method = request.method == "HEAD" ? "GET" : request.method;
  Match match;
  std::vector<std::string> allowed;
  for (const auto& r : route_table()) {
    std::map<std::string, std::string> params;
    if (!matches(r, target.segments, &params)) continue;
    if (allowed.empty()) *label = r.pattern;
    allowed.push_back(r.method);
    if (r.method == method && match.route == nullptr) {
      match.route = &r;
      match.params = std::move(params);
      *label = r.pattern;
    }
  }
  if (allowed.empty()) {
    return error_response(404, "NOT_FOUND",
                          "no route for " + request.method + " " + target.path + "; see /api/v1/openapi.json");
  }
  if (match.route == nullptr) {
    AdminResponse r = error_response(405, "METHOD_NOT_ALLOWED",
                                     request.method + " is not allowed on " + target.path + "; allowed: " +
                                         join(allowed));
    r.headers.emplace_back("Allow", join(allowed));
    return r;
  }
  return match;
}

std::optional<AdminResponse> check_access(const Route& route, const AdminAuth& auth, const AdminRequest& request) {
  if (route.access == Access::kPublic || !auth.enabled()) return std::nullopt;
  Role role = auth.authorize(request.authorization);
  if (role == Role::kNone) {
    AdminResponse r = error_response(Status(StatusCode::kUnauthenticated,
                                            request.authorization.empty()
                                                ? "this route needs a bearer token (Authorization: Bearer ...)"
                                                : "the bearer token is not valid"));
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"nib admin\"");
    return r;
  }
  if (route.access == Access::kWrite && role != Role::kAdmin) {
    return error_response(
        Status(StatusCode::kPermissionDenied, "a read-only token cannot change anything; use an admin token"));
  }
  return std::nullopt;
}

std::optional<AdminResponse> check_query(const Route& route,
                                         const std::vector<std::pair<std::string, std::string>>& query) {
  for (const auto& [key, value] : query) {
    if (std::find(route.query.begin(), route.query.end(), key) != route.query.end()) continue;
    return error_response(Status::invalid(
        "unknown query parameter " + quoted(key) +
        (route.query.empty() ? "; this route takes none" : "; expected one of: " + join(route.query))));
  }
  return std::nullopt;
}

// The body as JSON into *out (null when there is none).
std::optional<AdminResponse> read_body(const Route& route, const AdminRequest& request, size_t max_bytes,
                                       json::Value* out) {
  const std::string what = route.method + " " + route.pattern;
  if (request.body.empty()) {
    if (route.body == Body::kRequired) return error_response(Status::invalid(what + " needs a JSON request body"));
    return std::nullopt;
  }
  if (route.body == Body::kNone) return error_response(Status::invalid(what + " takes no request body"));
  if (!is_json_content_type(request.content_type)) {
    return error_response(415, "UNSUPPORTED_MEDIA_TYPE",
                          "the request body must be JSON with Content-Type: application/json, got " +
                              (request.content_type.empty() ? "no Content-Type" : quoted(request.content_type)));
  }
  if (request.body.size() > max_bytes) {
    return error_response(413, "PAYLOAD_TOO_LARGE",
                          "the request body is larger than " + std::to_string(max_bytes) + " bytes");
  }
  auto parsed = json::parse(request.body, {.max_bytes = max_bytes, .max_depth = kRequestMaxDepth});
  if (!parsed.ok()) return error_response(parsed.status());
  *out = std::move(*parsed);
  return std::nullopt;
}

// {service} from the path, or the only service for the shorthand routes.
std::optional<AdminResponse> resolve_service(const Route& route, const AdminApi& api, RestApi::Call* call);

}  // namespace

AdminResponse RestApi::dispatch(const AdminRequest& request, std::string* route_label) {
  auto target = parse_target(request.target);
  if (!target.ok()) return error_response(target.status());
  auto matched = match_route(request, *target, route_label);
  if (auto* error = std::get_if<AdminResponse>(&matched)) return std::move(*error);
  Match& match = std::get<Match>(matched);
  const Route& route = *match.route;
  Call call{request, std::move(match.params), target->query, json::Value(), ""};
  if (auto error = check_access(route, auth_, request)) return std::move(*error);
  if (auto error = check_query(route, call.query)) return std::move(*error);
  if (auto error = read_body(route, request, options_.max_body_bytes, &call.body)) return std::move(*error);
  if (route.per_service) {
    if (auto error = resolve_service(route, api_, &call)) return std::move(*error);
  }
  return (this->*(route.handler))(call);
}

namespace {

std::optional<AdminResponse> resolve_service(const Route& route, const AdminApi& api, RestApi::Call* call) {
  auto it = call->params.find("service");
  auto resolved = api.resolve_service(it == call->params.end() ? std::string() : it->second);
  if (resolved.ok()) {
    call->service = *resolved;
    return std::nullopt;
  }
  if (it != call->params.end()) return error_response(resolved.status());
  return error_response(Status(resolved.status().code(), "the service-less route " + route.pattern + ": " +
                                                             resolved.status().message() +
                                                             "; use /api/v1/services/{service}/..."));
}

}  // namespace

// ---- pages and probes ----

AdminResponse RestApi::get_index(const Call&) {
  return text_response(200, "text/html; charset=utf-8", status_page_html());
}

AdminResponse RestApi::get_pen_page(const Call&) {
  // The same inputs as the -w file (App::on_status_request).
  PenStatusInput in;
  in.services = dataplane_.status();
  for (const auto& s : in.services) in.clients.push_back(dataplane_.clients(s.name));
  in.connections = dataplane_.connections();
  in.now = MonoClock::now();
  in.generated_at = wall_clock_text();
  return text_response(200, "text/html; charset=utf-8", render_pen_status_page(in));
}

AdminResponse RestApi::get_metrics(const Call&) {
  return text_response(200, "text/plain; version=0.0.4; charset=utf-8", metrics_.scrape());
}

AdminResponse RestApi::get_healthz(const Call&) {
  json::Value body = json::Value::object();
  body.set("status", "ok");
  return json_response(200, body);
}

AdminResponse RestApi::get_readyz(const Call&) {
  json::Value reasons = json::Value::array();
  if (shutting_down_.load()) reasons.push_back("shutting down");
  if (Status kept = api_.state_health(); !kept.ok()) reasons.push_back(kept.message());
  for (const auto& s : dataplane_.status()) {
    auto bound = dataplane_.bound_address(s.name);
    const bool unbound = s.listen_path.empty() && (!bound || bound->port() == 0);  // a path is bound or nib stopped
    if (unbound) reasons.push_back("service " + s.name + ": listener not bound");
    bool usable = s.emergency.has_value();
    for (const auto& b : s.backends) usable = usable || b.usable();
    if (!usable) reasons.push_back("service " + s.name + ": no usable backend and no emergency backend");
  }
  // Serving goes on without the shared registry (the last state read):
  // degraded, not unready, so replicas are not all pulled at once.
  json::Value degraded = json::Value::array();
  if (Status shared = api_.registry_health(); !shared.ok()) degraded.push_back(shared.message());
  json::Value body = json::Value::object();
  bool ready = reasons.as_array().empty();
  const char* status = !ready ? "not ready" : degraded.as_array().empty() ? "ready" : "degraded";
  const bool is_degraded = !degraded.as_array().empty();
  body.set("status", status).set("reasons", std::move(reasons));
  if (is_degraded) body.set("degraded", std::move(degraded));
  return json_response(ready ? 200 : 503, body);
}

AdminResponse RestApi::get_openapi(const Call&) {
  return text_response(200, "application/json", openapi_document());
}

AdminResponse RestApi::get_events(const Call&) {
  if (streams_ == nullptr) return error_response(Status::unavailable("event streams are not served here"));
  auto opened = streams_->open();
  // 503 either way: the client may try again later.
  if (!opened.ok()) return error_response(Status::unavailable(opened.status().message()));
  AdminResponse r;
  r.events = std::move(*opened);
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

// ---- the JSON API ----
// Each handler reads its request (path, query, body) into the core's request
// message, calls the core once, and renders the answer.

AdminResponse RestApi::get_stats(const Call&) {
  json::Value services = json::Value::array();
  for (const auto& s : api_.list_services({})) services.push_back(v1_json(to_message<v1::Service>(s)));
  json::Value body = json::Value::object();
  body.set("version", NIB_VERSION)
      .set("workers", dataplane_.workers())
      .set("open_connections", dataplane_.open_connections())
      .set("services", std::move(services));
  return json_response(200, body);
}

AdminResponse RestApi::list_services(const Call&) {
  json::Value names = json::Value::array();
  for (const auto& s : api_.list_services({})) names.push_back(s.name);
  json::Value body = json::Value::object();
  body.set("services", std::move(names));
  return json_response(200, body);
}

namespace {

template <typename Request>
Request for_service(const std::string& service) {
  Request r;
  r.set_service(service);
  return r;
}

// A request naming the service and the backend {id} of the path.
template <typename Request>
Result<Request> for_backend(const RestApi::Call& c) {
  auto id = parse_backend_id(c.param("id"));
  if (!id.ok()) return id.status();
  Request r = for_service<Request>(c.service);
  r.set_id(*id);
  return r;
}

// The message each view is rendered as.
template <typename View>
struct MessageOf;
template <>
struct MessageOf<BackendStatus> {
  using type = v1::Backend;
};
template <>
struct MessageOf<ServiceStatus> {
  using type = v1::Service;
};
template <>
struct MessageOf<PolicyConfig> {
  using type = v1::Policy;
};
template <>
struct MessageOf<ClientPin> {
  using type = v1::Pin;
};
template <>
struct MessageOf<AccessList> {
  using type = v1::ClientAcl;
};
template <>
struct MessageOf<TlsStatus> {
  using type = v1::TlsSettings;
};

template <typename T>
AdminResponse answer(const Result<T>& result, int status = 200) {
  if (!result.ok()) return error_response(result.status());
  return json_response(status, v1_json(to_message<typename MessageOf<T>::type>(*result)));
}

AdminResponse answer(const Status& st) { return st.ok() ? no_content() : error_response(st); }

}  // namespace

AdminResponse RestApi::get_service(const Call& c) {
  return answer(api_.get_stats(for_service<v1::GetStatsRequest>(c.service)));
}

AdminResponse RestApi::list_backends(const Call& c) {
  auto s = api_.list_backends(for_service<v1::ListBackendsRequest>(c.service));
  if (!s.ok()) return error_response(s.status());
  json::Value backends = json::Value::array();
  for (const auto& b : s->backends) backends.push_back(v1_json(to_message<v1::Backend>(b)));
  json::Value body = json::Value::object();
  body.set("service", c.service)
      .set("backends", std::move(backends))
      .set("emergency", s->emergency ? v1_json(to_message<v1::Backend>(*s->emergency)) : json::Value());
  return json_response(200, body);
}

AdminResponse RestApi::add_backend(const Call& c) {
  auto r = for_service<v1::AddBackendRequest>(c.service);
  if (Status st = read_body_into(c.body, "BackendCreate", &r); !st.ok()) return error_response(st);
  auto added = api_.add_backend(r);
  AdminResponse response = answer(added, 201);
  if (added.ok()) {
    response.headers.emplace_back("Location",
                                  "/api/v1/services/" + c.service + "/backends/" + std::to_string(added->id));
  }
  return response;
}

AdminResponse RestApi::get_backend(const Call& c) {
  auto r = for_backend<v1::GetBackendRequest>(c);
  if (!r.ok()) return error_response(r.status());
  return answer(api_.get_backend(*r));
}

AdminResponse RestApi::patch_backend(const Call& c) {
  auto r = for_backend<v1::UpdateBackendRequest>(c);
  if (!r.ok()) return error_response(r.status());
  if (Status st = read_body_into(c.body, "BackendPatch", &*r); !st.ok()) return error_response(st);
  return answer(api_.update_backend(*r));
}

AdminResponse RestApi::delete_backend(const Call& c) {
  auto r = for_backend<v1::RemoveBackendRequest>(c);
  if (!r.ok()) return error_response(r.status());
  return answer(api_.remove_backend(*r));
}

AdminResponse RestApi::drain_backend(const Call& c) {
  auto r = for_backend<v1::DrainBackendRequest>(c);
  if (!r.ok()) return error_response(r.status());
  if (!c.body.is_null()) {
    if (Status st = read_body_into(c.body, "DrainRequest", &*r); !st.ok()) return error_response(st);
  }
  return answer(api_.drain_backend(*r));
}

AdminResponse RestApi::migrate_backend(const Call& c) {
  auto id = parse_backend_id(c.param("id"));
  if (!id.ok()) return error_response(id.status());
  auto r = for_service<v1::MigrateClientsRequest>(c.service);
  r.set_from_backend_id(*id);
  if (!c.body.is_null()) {
    if (Status st = read_body_into(c.body, "MigrateRequest", &r); !st.ok()) return error_response(st);
  }
  auto moved = api_.migrate_clients(r);
  if (!moved.ok()) return error_response(moved.status());
  json::Value body = json::Value::object();
  body.set("from", moved->from).set("to", moved->to ? json::Value(*moved->to) : json::Value()).set("moved", moved->moved);
  return json_response(200, body);
}

AdminResponse RestApi::list_clients(const Call& c) {
  auto limit = query_uint(c.query, "limit", limits::kPageSize, limits::kDefaultPageSize);
  if (!limit.ok()) return error_response(limit.status());
  auto offset = query_uint(c.query, "offset", {0, INT64_MAX}, 0);
  if (!offset.ok()) return error_response(offset.status());
  auto backend = query_uint(c.query, "backend", limits::kBackendId, 0);
  if (!backend.ok()) return error_response(backend.status());
  auto r = for_service<v1::ListClientsRequest>(c.service);
  r.set_page_size(static_cast<uint32_t>(*limit));
  r.set_page_token(std::to_string(*offset));
  if (*backend != 0) r.set_backend_id(static_cast<uint32_t>(*backend));
  auto page = api_.list_clients(r);
  if (!page.ok()) return error_response(page.status());
  json::Value list = json::Value::array();
  for (const auto& e : page->clients) {
    v1::Client client;
    fill(e, page->now, page->pins, &client);
    list.push_back(v1_json(client));
  }
  json::Value body = json::Value::object();
  body.set("service", c.service)
      .set("offset", page->offset)
      .set("limit", page->limit)
      .set("backend", page->backend_id ? json::Value(*page->backend_id) : json::Value())
      .set("count", page->clients.size())
      .set("clients", std::move(list));
  return json_response(200, body);
}

AdminResponse RestApi::forget_client(const Call& c) {
  auto r = for_service<v1::ForgetClientRequest>(c.service);
  r.set_address(c.param("ip"));
  return answer(api_.forget_client(r));
}

AdminResponse RestApi::pin_client(const Call& c) {
  auto r = for_service<v1::PinClientRequest>(c.service);
  r.set_prefix(c.param("ip"));
  if (Status st = read_body_into(c.body, "PinRequest", &r); !st.ok()) return error_response(st);
  return answer(api_.pin_client(r));
}

AdminResponse RestApi::unpin_client(const Call& c) {
  auto r = for_service<v1::UnpinClientRequest>(c.service);
  r.set_prefix(c.param("ip"));
  return answer(api_.unpin_client(r));
}

AdminResponse RestApi::list_pins(const Call& c) {
  auto pins = api_.list_pins(for_service<v1::ListPinsRequest>(c.service));
  if (!pins.ok()) return error_response(pins.status());
  json::Value list = json::Value::array();
  for (const auto& p : *pins) list.push_back(v1_json(to_message<v1::Pin>(p)));
  json::Value body = json::Value::object();
  body.set("service", c.service).set("pins", std::move(list));
  return json_response(200, body);
}

AdminResponse RestApi::get_registry(const Call&) {
  return json_response(200, v1_json(to_message<v1::Registry>(api_.get_registry({}))));
}

AdminResponse RestApi::get_policy(const Call& c) {
  return answer(api_.get_policy(for_service<v1::GetPolicyRequest>(c.service)));
}

// Fields left out keep their current value, so a client can change one
// setting without knowing the others.
AdminResponse RestApi::put_policy(const Call& c) {
  auto r = for_service<v1::SetPolicyRequest>(c.service);
  if (Status st = read_body_into(c.body, "PolicyUpdate", &r); !st.ok()) return error_response(st);
  return answer(api_.set_policy(r));
}

AdminResponse RestApi::get_acl(const Call& c) {
  return answer(api_.get_client_acl(for_service<v1::GetClientAclRequest>(c.service)));
}

// The whole list: what the body says replaces what was there.
AdminResponse RestApi::put_acl(const Call& c) {
  auto r = for_service<v1::SetClientAclRequest>(c.service);
  if (Status st = read_body_into(c.body, "ClientAclUpdate", &r); !st.ok()) return error_response(st);
  return answer(api_.set_client_acl(r));
}

AdminResponse RestApi::get_tls(const Call& c) {
  return answer(api_.get_tls(for_service<v1::GetTlsRequest>(c.service)));
}

// Fields left out keep their value, as for the policy.
AdminResponse RestApi::put_tls(const Call& c) {
  auto r = for_service<v1::SetTlsRequest>(c.service);
  if (Status st = read_body_into(c.body, "TlsUpdate", &r); !st.ok()) return error_response(st);
  return answer(api_.set_tls(r));
}

AdminResponse RestApi::reload_tls(const Call& c) {
  return answer(api_.reload_tls(for_service<v1::ReloadTlsRequest>(c.service)));
}

}  // namespace nib::admin
