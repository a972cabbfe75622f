#include "admin/http/openapi.h"

#include <cstdlib>

#include "admin/http/json.h"
#include "dataplane/base/log.h"

namespace nib::admin {
namespace {

// The per-service paths are written once; the service-less shorthand copies
// (/api/v1/backends, ...) are derived below by the same rule RestApi uses.
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
      "patch": {"summary": "Change weight, prio, limits, or enable/disable; fields left out stay",
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
               "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false,
                 "properties": {"timeout_seconds": {"type": "number", "minimum": 0, "description": "connections still open this long after the drain started are closed; 0 = wait forever; absent = the service's drain_timeout"}}}}}},
               "responses": {"200": {"description": "the draining backend", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Backend"}}}},
                             "400": {"$ref": "#/components/responses/Error"},
                             "404": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}}
    },
    "/api/v1/services/{service}/backends/{id}/migrate": {
      "parameters": [{"$ref": "#/components/parameters/service"}, {"$ref": "#/components/parameters/id"}],
      "post": {"summary": "Move the backend's remembered clients to another backend, or (no 'to') forget them",
               "requestBody": {"required": false, "content": {"application/json": {"schema": {
                 "type": "object", "additionalProperties": false,
                 "properties": {"to": {"type": "integer", "minimum": 1, "maximum": 4294967295}}}}}},
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
              "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": false, "required": ["backend_id"],
                "properties": {"backend_id": {"type": "integer", "minimum": 1, "maximum": 4294967295}}}}}},
              "responses": {"200": {"description": "the pin", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pin"}}}},
                            "400": {"$ref": "#/components/responses/Error"},
                            "404": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}},
      "delete": {"summary": "Unpin a client IP or prefix",
                 "responses": {"204": {"description": "unpinned"}, "404": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/NotSaved"}}}
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
      "NotSaved": {"description": "UNAVAILABLE: with --state, the change is applied but could not be saved (the message says why), so a restart would lose it; /readyz is not ready until a save succeeds", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "enum": ["INVALID_ARGUMENT", "UNAUTHENTICATED", "PERMISSION_DENIED", "NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "METHOD_NOT_ALLOWED", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "URI_TOO_LONG"]},
        "message": {"type": "string"}}}}},
      "Probe": {"type": "object", "properties": {"status": {"type": "string"}, "reasons": {"type": "array", "items": {"type": "string"}}}},
      "Backend": {"type": "object", "properties": {
        "id": {"type": "integer"}, "address": {"type": "string", "description": "IP address"}, "port": {"type": "integer"},
        "host": {"type": "string", "description": "as configured (name or literal)"},
        "weight": {"type": "integer"}, "prio": {"type": "integer"}, "soft_limit": {"type": "integer"}, "hard_limit": {"type": "integer"},
        "state": {"type": "string", "enum": ["up", "down", "draining", "disabled"]},
        "admin_state": {"type": "string"}, "blacklisted": {"type": "boolean"}, "blacklist_remaining_seconds": {"type": "number"},
        "active_connections": {"type": "integer"}, "total_connections": {"type": "integer"}, "connect_failures": {"type": "integer"},
        "bytes_in": {"type": "integer", "description": "client to backend"}, "bytes_out": {"type": "integer", "description": "backend to client"},
        "datagrams_in": {"type": "integer", "description": "UDP services: client to backend"},
        "datagrams_out": {"type": "integer", "description": "UDP services: backend to client"},
        "connect_latency": {"type": "object", "description": "TCP: connect() to established; counts per bucket (not cumulative), the last one above every bound",
          "properties": {"upper_bounds_seconds": {"type": "array", "items": {"type": "number"}}, "counts": {"type": "array", "items": {"type": "integer"}},
            "count": {"type": "integer"}, "sum_seconds": {"type": "number"}}},
        "remembered_clients": {"type": "integer", "description": "filled by the backend listing and GET .../backends/{id}"},
        "drain_finished": {"type": "boolean"}, "index": {"type": "integer", "description": "Pen's server number; -1 for the emergency server"},
        "health": {"type": "object", "description": "active checks and passive failures", "properties": {
          "checked": {"type": "boolean", "description": "an active check runs for this backend"},
          "healthy": {"type": "boolean", "description": "as last decided; true when not checked"},
          "reason": {"type": "string", "description": "of the last change"},
          "changed_unix": {"type": "number", "description": "time of the last change, Unix seconds; 0 = never"},
          "last_check": {"type": "string"}, "last_check_ok": {"type": "boolean"}, "last_check_ms": {"type": "number"},
          "last_check_unix": {"type": "number", "description": "0 = no check yet"},
          "transitions": {"type": "integer", "description": "up <-> down changes since the backend was added"}}}}},
      "BackendCreate": {"type": "object", "additionalProperties": false, "required": ["address", "port"], "properties": {
        "address": {"type": "string", "description": "IP literal or host name (resolved once)"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "weight": {"type": "integer", "minimum": 0, "maximum": 10000, "default": 1},
        "prio": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0},
        "soft_limit": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0},
        "hard_limit": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0}}},
      "BackendPatch": {"type": "object", "additionalProperties": false, "properties": {
        "weight": {"type": "integer", "minimum": 0, "maximum": 10000},
        "prio": {"type": "integer", "minimum": 0, "maximum": 1000000},
        "soft_limit": {"type": "integer", "minimum": 0, "maximum": 1000000},
        "hard_limit": {"type": "integer", "minimum": 0, "maximum": 1000000},
        "enabled": {"type": "boolean", "description": "false: disabled by the operator; true: back in rotation"}}},
      "Policy": {"type": "object", "properties": {
        "mode": {"type": "string", "enum": ["affinity", "roundrobin", "hash", "weight", "prio"]},
        "stubborn": {"type": "boolean"}, "tracking_seconds": {"type": "number"}, "blacklist_seconds": {"type": "number"},
        "table_size": {"type": "integer"},
        "connect_timeout_seconds": {"type": "number", "description": "-t, penctl timeout"},
        "idle_timeout_seconds": {"type": "number", "description": "penctl idle_timeout; 0 = never"},
        "max_connections": {"type": "integer", "description": "-x, penctl conn_max; 0 = as many as descriptors allow"}}},
      "PolicyUpdate": {"type": "object", "additionalProperties": false, "properties": {
        "mode": {"type": "string", "enum": ["affinity", "roundrobin", "hash", "weight", "prio"]},
        "stubborn": {"type": "boolean"},
        "tracking_seconds": {"type": "number", "minimum": 0, "maximum": 1000000000},
        "blacklist_seconds": {"type": "number", "minimum": 0, "maximum": 1000000000},
        "table_size": {"type": "integer", "minimum": 1, "maximum": 100000000},
        "connect_timeout_seconds": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 3600,
          "description": "for connections accepted after the change"},
        "idle_timeout_seconds": {"type": "number", "minimum": 0, "maximum": 1000000000,
          "description": "0 = never; reaches open connections too, counted from their last activity"},
        "max_connections": {"type": "integer", "minimum": 0, "maximum": 10000000,
          "description": "at the limit accepting pauses and clients wait in the backlog; 0 = as many as descriptors allow"}}},
      "Client": {"type": "object", "properties": {
        "ip": {"type": "string"}, "backend_id": {"type": "integer"}, "connects": {"type": "integer"},
        "bytes_in": {"type": "integer"}, "bytes_out": {"type": "integer"},
        "first_seen_seconds_ago": {"type": "number"}, "last_seen_seconds_ago": {"type": "number"}}},
      "Pin": {"type": "object", "properties": {"prefix": {"type": "string"}, "backend_id": {"type": "integer"}}},
      "Service": {"type": "object", "properties": {
        "name": {"type": "string"}, "protocol": {"type": "string"}, "listen": {"type": "string"},
        "policy": {"$ref": "#/components/schemas/Policy"},
        "connect_timeout_seconds": {"type": "number"}, "idle_timeout_seconds": {"type": "number"},
        "max_connections": {"type": "integer"}, "active_connections": {"type": "integer"},
        "counters": {"type": "object", "properties": {
          "accepted": {"type": "integer"}, "rejected_max_connections": {"type": "integer", "deprecated": true}, "limit_waits": {"type": "integer"}, "rejected_no_backend": {"type": "integer"},
          "rejected_stubborn": {"type": "integer"}, "rejected_acl": {"type": "integer"}, "affinity_breaks": {"type": "integer"}}},
        "affinity": {"type": "object", "properties": {
          "size": {"type": "integer"}, "capacity": {"type": "integer"}, "hits": {"type": "integer"}, "misses": {"type": "integer"},
          "evictions": {"type": "integer"}, "expirations": {"type": "integer"}}},
        "backends": {"type": "array", "items": {"$ref": "#/components/schemas/Backend"}},
        "emergency": {"allOf": [{"$ref": "#/components/schemas/Backend"}], "nullable": true},
        "udp": {"type": "object", "nullable": true, "description": "UDP services only (null for TCP): sessions and datagram counters",
          "properties": {
            "session_timeout_seconds": {"type": "number"}, "max_sessions": {"type": "integer"}, "sessions": {"type": "integer"},
            "sessions_opened": {"type": "integer"}, "sessions_expired": {"type": "integer"}, "sessions_evicted": {"type": "integer"},
            "backend_refused": {"type": "integer"}, "datagrams_in": {"type": "integer"}, "datagrams_out": {"type": "integer"},
            "bytes_in": {"type": "integer"}, "bytes_out": {"type": "integer"},
            "drops": {"type": "object", "properties": {
              "no_backend": {"type": "integer"}, "stubborn": {"type": "integer"}, "no_socket": {"type": "integer"},
              "to_backend": {"type": "integer"}, "to_client": {"type": "integer"}, "acl": {"type": "integer"}}}}}}},
      "Stats": {"type": "object", "properties": {
        "version": {"type": "string"}, "workers": {"type": "integer"}, "open_connections": {"type": "integer"},
        "services": {"type": "array", "items": {"$ref": "#/components/schemas/Service"}}}},
      "Event": {"type": "object", "properties": {
        "sequence": {"type": "integer"}, "time": {"type": "string", "format": "date-time"},
        "kind": {"type": "string", "enum": ["backend_added", "backend_removed", "backend_updated", "health_changed", "drain_started", "drain_finished", "policy_changed", "acl_changed"]},
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

std::string build() {
  auto doc = json::parse(kDocument);
  if (!doc.ok()) {  // a broken literal above; the unit test catches it first
    log_error("openapi document: " + doc.status().message());
    std::abort();
  }
  json::Value* paths_member = nullptr;
  for (auto& [key, value] : doc->as_object()) {
    if (key == "paths") paths_member = &value;
  }
  json::Value& paths = *paths_member;
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
