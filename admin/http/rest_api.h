#pragma once
// The admin plane's HTTP routes, independent of the HTTP library: a request in,
// a response out. A transcoder over the admin core (admin/core/admin_api.h):
// each route reads its JSON strictly (unknown fields, wrong types, content
// type, body size) into the core's request message, and the core validates
// ranges and performs the operation before anything is answered, and every error is {"error": {"code", "message"}}
// with the status from admin/common/status_codes.h. Also serves the pages,
// /metrics, /healthz and /readyz, so auth and request counting live in one
// place. The event stream is only authorised here; HttpAdminServer streams it.
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admin/common/admin_auth.h"
#include "admin/http/json.h"
#include "dataplane/base/status.h"

namespace nib {
class Dataplane;
}

namespace nib::admin {
class AdminApi;
}

namespace nib::admin {

class EventSubscription;
class EventSubscriptions;
class MetricsCollector;

struct AdminRequest {
  std::string method;         // "GET", "POST", ... ("HEAD" is answered as GET)
  std::string target;         // as sent: path and query, still percent-encoded
  std::string content_type;   // "" when absent
  std::string authorization;  // the Authorization header, "" when absent
  std::string body;
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // GET /api/v1/events, authorised and subscribed: the server streams it and
  // releases it when the client goes away.
  std::shared_ptr<EventSubscription> events;
};

struct RestApiOptions {
  size_t max_body_bytes = 64 * 1024;  // larger request bodies get 413
};

class RestApi {
 public:
  // `streams` may be null: /api/v1/events then answers 503.
  RestApi(AdminApi& api, const AdminAuth& auth, MetricsCollector& metrics, EventSubscriptions* streams,
          RestApiOptions options = {});

  // Any thread (the HTTP server's pool threads), concurrently.
  AdminResponse handle(const AdminRequest& request);

  // Any thread. An error the HTTP library produced before routing (413 for an
  // oversized body, 400 for a malformed request): the JSON error body, counted
  // in the request metrics like any other answer.
  AdminResponse transport_error(const AdminRequest& request, int status);
  // Any thread. The same for an answer the HTTP layer gives at one of its
  // limits (408, 431, 503): the JSON error body with this code and message.
  AdminResponse transport_error(const AdminRequest& request, int status, std::string_view code,
                                std::string_view message);

  // Any thread. From now on /readyz answers 503: the process is shutting down.
  void set_shutting_down() { shutting_down_.store(true); }

  size_t max_body_bytes() const { return options_.max_body_bytes; }

  struct RouteInfo {
    std::string method;
    std::string pattern;  // "/api/v1/services/{service}/backends/{id}"
  };
  // Every route, in table order (the OpenAPI test compares against it).
  static std::vector<RouteInfo> routes();

  struct Call;  // a matched request (defined in rest_api.cc)

 private:
  friend class RestApiRoutes;
  AdminResponse dispatch(const AdminRequest& request, std::string* route_label);

  // Pages and probes.
  AdminResponse get_index(const Call& c);
  AdminResponse get_pen_page(const Call& c);
  AdminResponse get_metrics(const Call& c);
  AdminResponse get_healthz(const Call& c);
  AdminResponse get_readyz(const Call& c);
  AdminResponse get_openapi(const Call& c);
  AdminResponse get_events(const Call& c);

  // The JSON API.
  AdminResponse get_stats(const Call& c);
  AdminResponse list_services(const Call& c);
  AdminResponse get_service(const Call& c);
  AdminResponse list_backends(const Call& c);
  AdminResponse add_backend(const Call& c);
  AdminResponse get_backend(const Call& c);
  AdminResponse patch_backend(const Call& c);
  AdminResponse delete_backend(const Call& c);
  AdminResponse drain_backend(const Call& c);
  AdminResponse migrate_backend(const Call& c);
  AdminResponse list_clients(const Call& c);
  AdminResponse forget_client(const Call& c);
  AdminResponse pin_client(const Call& c);
  AdminResponse unpin_client(const Call& c);
  AdminResponse list_pins(const Call& c);
  AdminResponse get_registry(const Call& c);
  AdminResponse get_policy(const Call& c);
  AdminResponse put_policy(const Call& c);
  AdminResponse get_acl(const Call& c);
  AdminResponse put_acl(const Call& c);
  AdminResponse get_tls(const Call& c);
  AdminResponse put_tls(const Call& c);
  AdminResponse reload_tls(const Call& c);

  AdminApi& api_;
  Dataplane& dataplane_;  // the pages' and probes' read views
  const AdminAuth& auth_;
  MetricsCollector& metrics_;
  EventSubscriptions* streams_;
  RestApiOptions options_;
  std::atomic<bool> shutting_down_{false};
};

// {"error": {"code": ..., "message": ...}} with the mapped status.
AdminResponse error_response(const Status& status);
// For the statuses with no nib StatusCode (404 route, 405, 413, 415).
AdminResponse error_response(int http_status, std::string_view code, std::string_view message);
AdminResponse json_response(int http_status, const json::Value& body);

}  // namespace nib::admin
