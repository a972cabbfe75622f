#include "admin/http/openapi.h"

#include <cstdlib>

#include "admin/http/json.h"
#include "admin/http/v1_schema.h"
#include "dataplane/base/log.h"
#include "nib/admin/v1/admin.pb.h"

namespace nib::admin {
namespace {

// The routes, written once per service; the service-less shorthand copies
// (/api/v1/backends, ...) are derived below by the same rule RestApi uses.
// The schemas of the admin data model (Service, Backend, Policy, Client, Pin)
// and of the request bodies are not written here: add_generated_schemas()
// derives them from admin.proto and the core's ranges.
constexpr const char* kDocument = R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "nib admin API",
    "version": "1",
    "description": "Runtime management of nib, a TCP load balancer with Pen's semantics. Every per-service path also exists without the /services/{service} part (for example /api/v1/backends); it then addresses the only service and answers 400 when nib runs several. Errors are {\"error\": {\"code\", \"message\"}}. Request bodies are JSON objects (Content-Type: application/json, at most 64 KiB by default); unknown fields, wrong types and out-of-range values are rejected and change nothing. With --admin-token-file every route but /, /healthz and /readyz needs 'Authorization: Bearer <token>'; changes need an admin token."
  },
  "servers": [{"url": "http://127.0.0.1:9901"}],
  "security": [{"bearer": []}],
  "paths": {
    "/": {
      "get": {"summary": "Status page (HTML; reads this API from the browser)", "security": [],
              "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}}}
    },
    "/stats.html": {
      "get": {"summary": "Pen's status page: servers, active clients and active connections tables",
              "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}},
                            "401": {"$ref": "#/components/responses/Error"}}}
    },
    "/metrics": {
      "get": {"summary": "Prometheus metrics (text exposition format 0.0.4), names prefixed nib_",
              "responses": {"200": {"description": "metrics", "content": {"text/plain": {}}},
                            "401": {"$ref": "#/components/responses/Error"}}}
    },
    "/healthz": {
      "get": {"summary": "Liveness: the process answers", "security": [],
              "responses": {"200": {"description": "alive", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Probe"}}}}}}
    },
    "/readyz": {
      "get": {"summary": "Readiness: listeners bound, every service has a usable or an emergency backend, not shutting down",
              "security": [],
              "responses": {"200": {"description": "ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Probe"}}}},
                            "503": {"description": "not ready; reasons says why", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Probe"}}}}}}
    },
    "/api/v1/openapi.json": {
      "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {}}}}}
    },
    "/api/v1/events": {
      "get": {"summary": "Server-Sent Events: backend added/removed/updated, health changes, drains, policy changes",
              "description": "Each record is 'id: <sequence>', 'event: <kind>', 'data: <Event JSON>'. A slow reader loses events rather than slowing nib: an 'event: lost' record with data {\"dropped\": n} says how many. Comment lines (': keepalive') are sent while nothing happens.",
              "responses": {"200": {"description": "event stream", "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/Event"}}}},
                            "503": {"$ref": "#/components/responses/Error"}}}
    },
    "/api/v1/stats": {
      "get": {"summary": "Everything at a glance: every service with its backends, counters, policy and affinity table",
              "responses": {"200": {"description": "stats", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stats"}}}}}}
    },
    "/api/v1/services": {
      "get": {"summary": "Service names",
              "responses": {"200": {"description": "names", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"services": {"type": "array", "items": {"type": "string"}}}}}}}}}
    },
    "/api/v1/services/{service}": {
      "parameters": [{"$ref": "#/components/parameters/service"}],
      "get": {"summary": "One service",
              "responses": {"200": {"description": "service", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Service"}}}},
                            "404": {"$ref": "#/components/responses/Error"}}}
    },
    "/api/v1/services/{service}/backends": {
      "parameters": [{"$ref": "#/components/parameters/service"}],
      "get": {"summary": "The service's backends",
              "responses": {"200": {"description": "backends", "content": {"application/json": {"schema": {
                "type": "object", "properties": {
                  "service": {"type": "string"},
                  "backends": {"type": "array", "items": {"$ref": "#/components/schemas/Backend"}},
                  "emergency": {"allOf": [{"$ref": "#/components/schemas/Backend"}], "nullable": true}}}}}},
                            "404": {"$ref": "#/components/responses/Error"}}},
      "post": {"summary": "Add a backend (appended after the existing ones, with a fresh id)",
               "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BackendCreate"}}}},
               "responses": {"201": {"description": "the new backend", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Backend"}}}},
                             "400": {"$ref": "#/components/responses/Error"},
                             "403": {"$ref": "#/components/responses/Error"},
                             "404": {"$ref": "#/components/responses/Error"},
                             "409": {"description": "a backend with that address exists", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                             "413": {"$ref": "#/components/responses/Error"},
                             "415": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}}
    },
    "/api/v1/services/{service}/backends/{id}": {
      "parameters": [{"$ref": "#/components/parameters/service"}, {"$ref": "#/components/parameters/id"}],
      "get": {"summary": "One backend, with remembered_clients counted",
              "responses": {"200": {"description": "backend", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Backend"}}}},
                            "404": {"$ref": "#/components/responses/Error"}}},
      "patch": {"summary": "Change weight, prio, limits, address or port, or enable/disable; fields left out stay",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BackendPatch"}}}},
                "responses": {"200": {"description": "the updated backend", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Backend"}}}},
                              "400": {"$ref": "#/components/responses/Error"},
                              "404": {"$ref": "#/components/responses/Error"},
                              "415": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}},
      "delete": {"summary": "Remove a backend: open connections finish, its remembered clients choose afresh",
                 "responses": {"204": {"description": "removed"}, "404": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}}
    },
    "/api/v1/services/{service}/backends/{id}/drain": {
      "parameters": [{"$ref": "#/components/parameters/service"}, {"$ref": "#/components/parameters/id"}],
      "post": {"summary": "Drain: no new clients, open connections finish, remembered clients move on their next connect",
               "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DrainRequest"}}}},
               "responses": {"200": {"description": "the draining backend", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Backend"}}}},
                             "400": {"$ref": "#/components/responses/Error"},
                             "404": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}}
    },
    "/api/v1/services/{service}/backends/{id}/migrate": {
      "parameters": [{"$ref": "#/components/parameters/service"}, {"$ref": "#/components/parameters/id"}],
      "post": {"summary": "Move the backend's remembered clients to another backend, or (no 'to') forget them",
               "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MigrateRequest"}}}},
               "responses": {"200": {"description": "how many moved", "content": {"application/json": {"schema": {
                 "type": "object", "properties": {"from": {"type": "integer"}, "to": {"type": "integer", "nullable": true}, "moved": {"type": "integer"}}}}}},
                             "400": {"$ref": "#/components/responses/Error"},
                             "404": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}}
    },
    "/api/v1/services/{service}/clients": {
      "parameters": [{"$ref": "#/components/parameters/service"}],
      "get": {"summary": "The affinity (client) table, paged",
              "parameters": [
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
                {"name": "backend", "in": "query", "description": "only the clients of this backend id", "schema": {"type": "integer", "minimum": 1}}],
              "responses": {"200": {"description": "clients", "content": {"application/json": {"schema": {
                "type": "object", "properties": {
                  "service": {"type": "string"}, "offset": {"type": "integer"}, "limit": {"type": "integer"},
                  "backend": {"type": "integer", "nullable": true}, "count": {"type": "integer"},
                  "clients": {"type": "array", "items": {"$ref": "#/components/schemas/Client"}}}}}}},
                            "400": {"$ref": "#/components/responses/Error"},
                            "404": {"$ref": "#/components/responses/Error"}}}
    },
    "/api/v1/services/{service}/clients/{ip}": {
      "parameters": [{"$ref": "#/components/parameters/service"}, {"$ref": "#/components/parameters/ip"}],
      "delete": {"summary": "Forget one client: it chooses afresh on its next connect",
                 "responses": {"204": {"description": "forgotten"}, "400": {"$ref": "#/components/responses/Error"},
                               "404": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}}
    },
    "/api/v1/services/{service}/clients/{ip}/pin": {
      "parameters": [{"$ref": "#/components/parameters/service"}, {"$ref": "#/components/parameters/ip"}],
      "put": {"summary": "Pin a client IP or CIDR prefix (10.1.0.0%2F16) to a backend until unpinned",
              "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PinRequest"}}}},
              "responses": {"200": {"description": "the pin", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pin"}}}},
                            "400": {"$ref": "#/components/responses/Error"},
                            "404": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}},
      "delete": {"summary": "Unpin a client IP or prefix",
                 "responses": {"204": {"description": "unpinned"}, "404": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}}
    },
    "/api/v1/registry": {
      "get": {"summary": "Where the runtime state is kept (etcd, state_file, none) and, with etcd, the link: connected, revision applied, lag",
              "responses": {"200": {"description": "the registry", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Registry"}}}}}}
    },
    "/api/v1/services/{service}/pins": {
      "parameters": [{"$ref": "#/components/parameters/service"}],
      "get": {"summary": "The pinned client prefixes",
              "responses": {"200": {"description": "pins", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"service": {"type": "string"}, "pins": {"type": "array", "items": {"$ref": "#/components/schemas/Pin"}}}}}}},
                            "404": {"$ref": "#/components/responses/Error"}}}
    },
    "/api/v1/services/{service}/policy": {
      "parameters": [{"$ref": "#/components/parameters/service"}],
      "get": {"summary": "The balancing policy",
              "responses": {"200": {"description": "policy", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Policy"}}}},
                            "404": {"$ref": "#/components/responses/Error"}}},
      "put": {"summary": "Change the policy; fields left out keep their current value",
              "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PolicyUpdate"}}}},
              "responses": {"200": {"description": "the policy now in force", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Policy"}}}},
                            "400": {"$ref": "#/components/responses/Error"},
                            "404": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}}
    },
    "/api/v1/services/{service}/acl": {
      "parameters": [{"$ref": "#/components/parameters/service"}],
      "get": {"summary": "The client ACL: which clients new connections serve",
              "responses": {"200": {"description": "the list in force", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientAcl"}}}},
                            "404": {"$ref": "#/components/responses/Error"}}},
      "put": {"summary": "Replace the client ACL (open connections are left alone); [] serves everyone",
              "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientAclUpdate"}}}},
              "responses": {"200": {"description": "the list now in force", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientAcl"}}}},
                            "400": {"$ref": "#/components/responses/Error"},
                            "404": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}}
    },
    "/api/v1/services/{service}/tls": {
      "parameters": [{"$ref": "#/components/parameters/service"}],
      "get": {"summary": "A TLS service's settings and when its certificate expires (409 for a service without TLS)",
              "responses": {"200": {"description": "the settings in force", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TlsSettings"}}}},
                            "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}},
      "put": {"summary": "Change the fields given; the files are read and checked first (a bad one: 400 naming it, nothing changes); new clients get the result",
              "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TlsUpdate"}}}},
              "responses": {"200": {"description": "the settings now in force", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TlsSettings"}}}},
                            "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
                            "409": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}}
    },
    "/api/v1/services/{service}/tls/reload": {
      "parameters": [{"$ref": "#/components/parameters/service"}],
      "post": {"summary": "Read the certificate files in force again (as SIGHUP); a file that does not load: 400, the certificates in use stay",
               "responses": {"200": {"description": "the settings in force", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TlsSettings"}}}},
                             "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
                             "409": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}}
    }
  },
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "a token from --admin-token-file; read-only tokens may GET"}},
    "parameters": {
      "service": {"name": "service", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}},
      "id": {"name": "id", "in": "path", "required": true, "description": "stable backend id", "schema": {"type": "integer", "minimum": 1}},
      "ip": {"name": "ip", "in": "path", "required": true, "description": "client IPv4 or IPv6 address (pin: also a CIDR prefix, '/' as %2F)", "schema": {"type": "string"}}
    },
    "responses": {
      "Error": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotSaved": {"description": "UNAVAILABLE: with --state, the change is applied but could not be saved (the message says why), so a restart would lose it; /readyz is not ready until a save succeeds. With a shared registry (etcd): etcd could not be reached and nothing changed, or the change is written but this replica has not applied it yet (the message says which)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "enum": ["INVALID_ARGUMENT", "UNAUTHENTICATED", "PERMISSION_DENIED", "NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "METHOD_NOT_ALLOWED", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "URI_TOO_LONG"]},
        "message": {"type": "string"}}}}},
      "Probe": {"type": "object", "properties": {"status": {"type": "string"}, "reasons": {"type": "array", "items": {"type": "string"}}}},
      "Stats": {"type": "object", "properties": {
        "version": {"type": "string"}, "workers": {"type": "integer"}, "open_connections": {"type": "integer"},
        "services": {"type": "array", "items": {"$ref": "#/components/schemas/Service"}}}},
      "Event": {"type": "object", "properties": {
        "sequence": {"type": "integer"}, "time": {"type": "string", "format": "date-time"},
        "kind": {"type": "string", "enum": ["backend_added", "backend_removed", "backend_updated", "health_changed", "drain_started", "drain_finished", "policy_changed", "acl_changed", "tls_changed"]},
        "service": {"type": "string"}, "backend_id": {"type": "integer", "description": "0 when not about one backend"},
        "detail": {"type": "string"}}}
    }
  }
}
)json";

constexpr std::string_view kServicePrefix = "/api/v1/services/{service}/";

// A copy of a per-service path item without the {service} parameter.
json::Value without_service_parameter(json::Value item) {
  if (item.find("parameters") == nullptr) return item;
  json::Value params = json::Value::array();
  for (const auto& p : item.find("parameters")->as_array()) {
    const json::Value* ref = p.find("$ref");
    if (ref && ref->is_string() && ref->as_string() == "#/components/parameters/service") continue;
    params.push_back(p);
  }
  item.set("parameters", std::move(params));
  return item;
}

json::Value& member(json::Value& object, std::string_view key) {
  for (auto& [k, value] : object.as_object()) {
    if (k == key) return value;
  }
  log_error("openapi document: no member " + std::string(key));  // a broken literal above
  std::abort();
}

// The schemas of what REST reads and prints, from admin.proto (v1_schema.h).
void add_generated_schemas(json::Value& schemas) {
  for (const auto* type : {v1::Service::descriptor(), v1::Client::descriptor(), v1::Pin::descriptor(),
                           v1::ClientAcl::descriptor(), v1::TlsSettings::descriptor(), v1::Registry::descriptor()}) {
    add_response_schemas(*type, &schemas);
  }
  for (const RequestBody& body : request_bodies()) schemas.set(std::string(body.name), request_schema(body));
}

std::string build() {
  auto doc = json::parse(kDocument);
  if (!doc.ok()) {  // a broken literal above; the unit test catches it first
    log_error("openapi document: " + doc.status().message());
    std::abort();
  }
  add_generated_schemas(member(member(*doc, "components"), "schemas"));
  json::Value& paths = member(*doc, "paths");
  json::Object shorthand;
  for (const auto& [path, item] : paths.as_object()) {
    if (!path.starts_with(kServicePrefix)) continue;
    shorthand.emplace_back("/api/v1/" + path.substr(kServicePrefix.size()), without_service_parameter(item));
  }
  for (auto& m : shorthand) paths.as_object().push_back(std::move(m));
  return json::serialize_pretty(*doc) + "\n";
}

}  // namespace

const std::string& openapi_document() {
  static const std::string document = build();
  return document;
}

}  // namespace nib::admin
