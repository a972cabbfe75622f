#include "admin/http/rest_api.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <map>
#include <optional>
#include <variant>

#include "admin/common/commit_change.h"
#include "admin/common/status_codes.h"
#include "admin/http/event_stream.h"
#include "admin/http/openapi.h"
#include "admin/http/status_json.h"
#include "admin/metrics/metrics_collector.h"
#include "admin/pages/pen_status_page.h"
#include "admin/pages/status_page.h"
#include "dataplane/config/limits.h"
#include "dataplane/config/stored_text.h"
#include "dataplane/dataplane.h"

namespace nib::admin {
namespace {

// Ranges of the settings: dataplane/config/limits.h, shared with the config
// loaders. These two are the API's own.
constexpr IntRange kBackendId{1, UINT32_MAX};
constexpr IntRange kPageLimit{1, 10'000};
constexpr uint64_t kDefaultPageLimit = 100;

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

  template <typename T>
  std::optional<T> uint(std::string_view key, IntRange range) {
    const json::Value* v = present(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_integer() || !v->fits_uint64() || !range.contains_unsigned(v->as_uint64())) {
      fail("field " + json::quote(key) + ": expected " + describe(range) + ", got " + describe(*v));
      return std::nullopt;
    }
    return static_cast<T>(v->as_uint64());
  }

  std::optional<double> seconds(std::string_view key) {
    const json::Value* v = present(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number() || !limits::kSeconds.contains(v->as_double())) {
      fail("field " + json::quote(key) + ": expected " + nib::describe(limits::kSeconds) + ", got " + describe(*v));
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

  const Status& status() const { return status_; }

 private:
  const json::Value* present(std::string_view key) {
    if (!status_.ok()) return nullptr;
    return body_.find(key);
  }
  void fail(std::string message) {
    if (status_.ok()) status_ = Status::invalid(std::move(message));
  }

  const json::Value& body_;
  Status status_;
};

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
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !kBackendId.contains_unsigned(n)) {
    return Status::invalid("backend id: expected " + describe(kBackendId) + ", got " + quoted(text));
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

RestApi::RestApi(Dataplane& dataplane, const AdminAuth& auth, MetricsCollector& metrics, EventStreams* streams,
                 RestApiOptions options)
    : dataplane_(dataplane), auth_(auth), metrics_(metrics), streams_(streams), options_(options) {}

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
std::optional<AdminResponse> resolve_service(const Route& route, const std::vector<std::string>& names,
                                             RestApi::Call* call);

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
    if (auto error = resolve_service(route, dataplane_.service_names(), &call)) return std::move(*error);
  }
  AdminResponse response = (this->*(route.handler))(call);
  // A change is acknowledged only once it is kept (with --state: on disk).
  if (route.access == Access::kWrite && response.status < 300) {
    if (Status st = commit_change(dataplane_); !st.ok()) return error_response(st);
  }
  return response;
}

namespace {

std::optional<AdminResponse> resolve_service(const Route& route, const std::vector<std::string>& names,
                                             RestApi::Call* call) {
  auto it = call->params.find("service");
  if (it == call->params.end()) {
    if (names.size() != 1) {
      return error_response(Status::invalid("the service-less route " + route.pattern +
                                            " needs exactly one service, but nib runs " +
                                            std::to_string(names.size()) + " (" + join(names) +
                                            "); use /api/v1/services/{service}/..."));
    }
    call->service = names[0];
    return std::nullopt;
  }
  if (std::find(names.begin(), names.end(), it->second) == names.end()) {
    return error_response(Status::not_found("no service " + quoted(it->second) + "; services: " + join(names)));
  }
  call->service = it->second;
  return std::nullopt;
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
  if (Status kept = dataplane_.events().keeper_health(); !kept.ok()) reasons.push_back(kept.message());
  for (const auto& s : dataplane_.status()) {
    auto bound = dataplane_.bound_address(s.name);
    if (!bound || bound->port() == 0) reasons.push_back("service " + s.name + ": listener not bound");
    bool usable = s.emergency.has_value();
    for (const auto& b : s.backends) usable = usable || backend_usable(b);
    if (!usable) reasons.push_back("service " + s.name + ": no usable backend and no emergency backend");
  }
  json::Value body = json::Value::object();
  bool ready = reasons.as_array().empty();
  body.set("status", ready ? "ready" : "not ready").set("reasons", std::move(reasons));
  return json_response(ready ? 200 : 503, body);
}

AdminResponse RestApi::get_openapi(const Call&) {
  return text_response(200, "application/json", openapi_document());
}

AdminResponse RestApi::get_events(const Call&) {
  auto stream = streams_ ? streams_->open() : nullptr;
  if (!stream) {
    return error_response(Status(StatusCode::kUnavailable,
                                 "too many event streams are open (or the server is stopping); try again later"));
  }
  AdminResponse r;
  r.events = std::move(stream);
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

// ---- the JSON API ----

AdminResponse RestApi::get_stats(const Call&) {
  json::Value services = json::Value::array();
  for (const auto& s : dataplane_.status()) services.push_back(to_json(s));
  json::Value body = json::Value::object();
  body.set("version", NIB_VERSION)
      .set("workers", dataplane_.workers())
      .set("open_connections", dataplane_.open_connections())
      .set("services", std::move(services));
  return json_response(200, body);
}

AdminResponse RestApi::list_services(const Call&) {
  json::Value names = json::Value::array();
  for (const auto& n : dataplane_.service_names()) names.push_back(n);
  json::Value body = json::Value::object();
  body.set("services", std::move(names));
  return json_response(200, body);
}

AdminResponse RestApi::get_service(const Call& c) {
  auto s = dataplane_.service(c.service);
  if (!s.ok()) return error_response(s.status());
  return json_response(200, to_json(*s));
}

AdminResponse RestApi::list_backends(const Call& c) {
  auto s = dataplane_.service_with_clients(c.service);
  if (!s.ok()) return error_response(s.status());
  json::Value backends = json::Value::array();
  for (const auto& b : s->backends) backends.push_back(to_json(b));
  json::Value body = json::Value::object();
  body.set("service", c.service)
      .set("backends", std::move(backends))
      .set("emergency", s->emergency ? to_json(*s->emergency) : json::Value());
  return json_response(200, body);
}

AdminResponse RestApi::add_backend(const Call& c) {
  Fields f(c.body, {"address", "port", "weight", "prio", "soft_limit", "hard_limit"});
  f.require({"address", "port"});
  auto address = f.string("address");
  auto port = f.uint<uint16_t>("port", limits::kPort);
  BackendConfig config;
  config.weight = f.uint<uint32_t>("weight", limits::kWeight).value_or(config.weight);
  config.prio = f.uint<uint32_t>("prio", limits::kPrio).value_or(config.prio);
  config.soft_limit = f.uint<uint32_t>("soft_limit", limits::kConnectionLimit).value_or(config.soft_limit);
  config.hard_limit = f.uint<uint32_t>("hard_limit", limits::kConnectionLimit).value_or(config.hard_limit);
  if (!f.status().ok()) return error_response(f.status());
  std::string host = *address;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (Status st = check_host("field \"address\"", host); !st.ok()) return error_response(st);  // before any DNS
  auto resolved = SocketAddress::resolve(host, *port);
  if (!resolved.ok()) {
    return error_response(Status::invalid("field \"address\": " + resolved.status().message()));
  }
  config.host = host;
  config.address = *resolved;
  auto added = dataplane_.add_backend(c.service, config);
  if (!added.ok()) return error_response(added.status());
  AdminResponse r = json_response(201, to_json(*added));
  r.headers.emplace_back("Location", "/api/v1/services/" + c.service + "/backends/" + std::to_string(added->id));
  return r;
}

AdminResponse RestApi::get_backend(const Call& c) {
  auto id = parse_backend_id(c.param("id"));
  if (!id.ok()) return error_response(id.status());
  auto b = dataplane_.backend(c.service, *id);
  if (!b.ok()) return error_response(b.status());
  return json_response(200, to_json(*b));
}

AdminResponse RestApi::patch_backend(const Call& c) {
  auto id = parse_backend_id(c.param("id"));
  if (!id.ok()) return error_response(id.status());
  Fields f(c.body, {"weight", "prio", "soft_limit", "hard_limit", "enabled"});
  BackendPatch patch;
  patch.weight = f.uint<uint32_t>("weight", limits::kWeight);
  patch.prio = f.uint<uint32_t>("prio", limits::kPrio);
  patch.soft_limit = f.uint<uint32_t>("soft_limit", limits::kConnectionLimit);
  patch.hard_limit = f.uint<uint32_t>("hard_limit", limits::kConnectionLimit);
  patch.enabled = f.boolean("enabled");
  if (!f.status().ok()) return error_response(f.status());
  auto b = dataplane_.update_backend(c.service, *id, patch);
  if (!b.ok()) return error_response(b.status());
  return json_response(200, to_json(*b));
}

AdminResponse RestApi::delete_backend(const Call& c) {
  auto id = parse_backend_id(c.param("id"));
  if (!id.ok()) return error_response(id.status());
  if (Status st = dataplane_.remove_backend(c.service, *id); !st.ok()) return error_response(st);
  return no_content();
}

AdminResponse RestApi::drain_backend(const Call& c) {
  auto id = parse_backend_id(c.param("id"));
  if (!id.ok()) return error_response(id.status());
  std::optional<double> timeout;
  if (!c.body.is_null()) {
    Fields f(c.body, {"timeout_seconds"});
    timeout = f.seconds("timeout_seconds");
    if (!f.status().ok()) return error_response(f.status());
  }
  auto b = dataplane_.drain_backend(c.service, *id, timeout);
  if (!b.ok()) return error_response(b.status());
  return json_response(200, to_json(*b));
}

AdminResponse RestApi::migrate_backend(const Call& c) {
  auto id = parse_backend_id(c.param("id"));
  if (!id.ok()) return error_response(id.status());
  std::optional<uint32_t> to;
  if (!c.body.is_null()) {
    Fields f(c.body, {"to"});
    to = f.uint<uint32_t>("to", kBackendId);
    if (!f.status().ok()) return error_response(f.status());
  }
  if (to && *to == *id) {
    return error_response(Status::invalid("field \"to\": cannot migrate a backend's clients to itself"));
  }
  auto moved = dataplane_.migrate_clients(c.service, *id, to);
  if (!moved.ok()) return error_response(moved.status());
  json::Value body = json::Value::object();
  body.set("from", *id).set("to", to ? json::Value(*to) : json::Value()).set("moved", *moved);
  return json_response(200, body);
}

AdminResponse RestApi::list_clients(const Call& c) {
  auto limit = query_uint(c.query, "limit", kPageLimit, kDefaultPageLimit);
  if (!limit.ok()) return error_response(limit.status());
  auto offset = query_uint(c.query, "offset", {0, INT64_MAX}, 0);
  if (!offset.ok()) return error_response(offset.status());
  auto backend = query_uint(c.query, "backend", kBackendId, 0);
  if (!backend.ok()) return error_response(backend.status());
  std::optional<uint32_t> backend_id;
  if (*backend != 0) backend_id = static_cast<uint32_t>(*backend);
  auto clients = dataplane_.list_clients(c.service, *offset, *limit, backend_id);
  if (!clients.ok()) return error_response(clients.status());
  MonoTime now = MonoClock::now();
  json::Value list = json::Value::array();
  for (const auto& e : *clients) list.push_back(to_json(e, now));
  json::Value body = json::Value::object();
  body.set("service", c.service)
      .set("offset", *offset)
      .set("limit", *limit)
      .set("backend", backend_id ? json::Value(*backend_id) : json::Value())
      .set("count", clients->size())
      .set("clients", std::move(list));
  return json_response(200, body);
}

AdminResponse RestApi::forget_client(const Call& c) {
  auto ip = IpKey::parse(c.param("ip"));
  if (!ip.ok()) return error_response(Status::invalid("expected a client IP address, got " + quoted(c.param("ip"))));
  if (Status st = dataplane_.forget_client(c.service, *ip); !st.ok()) return error_response(st);
  return no_content();
}

AdminResponse RestApi::pin_client(const Call& c) {
  auto prefix = IpPrefix::parse(c.param("ip"));
  if (!prefix.ok()) {
    return error_response(Status::invalid(
        "expected a client IP address or CIDR prefix (10.1.0.0%2F16 in a path), got " + quoted(c.param("ip"))));
  }
  Fields f(c.body, {"backend_id"});
  f.require({"backend_id"});
  auto backend_id = f.uint<uint32_t>("backend_id", kBackendId);
  if (!f.status().ok()) return error_response(f.status());
  if (Status st = dataplane_.pin_clients(c.service, *prefix, *backend_id); !st.ok()) return error_response(st);
  return json_response(200, to_json(ClientPin{*prefix, *backend_id}));
}

AdminResponse RestApi::unpin_client(const Call& c) {
  auto prefix = IpPrefix::parse(c.param("ip"));
  if (!prefix.ok()) {
    return error_response(Status::invalid("expected a client IP address or CIDR prefix, got " + quoted(c.param("ip"))));
  }
  if (Status st = dataplane_.unpin_clients(c.service, *prefix); !st.ok()) return error_response(st);
  return no_content();
}

AdminResponse RestApi::list_pins(const Call& c) {
  auto pins = dataplane_.pins(c.service);
  if (!pins.ok()) return error_response(pins.status());
  json::Value list = json::Value::array();
  for (const auto& p : *pins) list.push_back(to_json(p));
  json::Value body = json::Value::object();
  body.set("service", c.service).set("pins", std::move(list));
  return json_response(200, body);
}

AdminResponse RestApi::get_policy(const Call& c) {
  auto p = dataplane_.policy(c.service);
  if (!p.ok()) return error_response(p.status());
  return json_response(200, to_json(*p));
}

// Fields left out keep their current value, so a client can change one
// setting without knowing the others.
AdminResponse RestApi::put_policy(const Call& c) {
  Fields f(c.body, {"mode", "stubborn", "tracking_seconds", "blacklist_seconds", "table_size"});
  auto mode_text = f.string("mode");
  auto stubborn = f.boolean("stubborn");
  auto tracking = f.seconds("tracking_seconds");
  auto blacklist = f.seconds("blacklist_seconds");
  auto table_size = f.uint<uint64_t>("table_size", limits::kTableSize);
  if (!f.status().ok()) return error_response(f.status());
  std::optional<BalanceMode> mode;
  if (mode_text) {
    mode = parse_balance_mode(*mode_text);
    if (!mode) {
      return error_response(Status::invalid(
          "field \"mode\": expected one of affinity, roundrobin, hash, weight, prio; got " + json::quote(*mode_text)));
    }
  }
  auto current = dataplane_.policy(c.service);
  if (!current.ok()) return error_response(current.status());
  PolicyConfig p = *current;
  if (mode) p.mode = *mode;
  if (stubborn) p.stubborn = *stubborn;
  if (tracking) p.tracking_seconds = *tracking;
  if (blacklist) p.blacklist_seconds = *blacklist;
  if (table_size) p.table_size = *table_size;
  if (Status st = dataplane_.set_policy(c.service, p); !st.ok()) return error_response(st);
  auto applied = dataplane_.policy(c.service);
  return json_response(200, to_json(applied.ok() ? *applied : p));
}

}  // namespace nib::admin
