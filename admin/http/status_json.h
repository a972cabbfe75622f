#pragma once
// The dataplane's read views as JSON, one function per view, shared by the
// REST routes, the event stream and the status page's data. Field names are
// the API's contract (documented in openapi.cc): add fields, never rename.
#include <string>

#include "admin/http/json.h"
#include "dataplane/base/clock.h"
#include "dataplane/notify/event_bus.h"
#include "dataplane/status_views.h"

namespace nib::admin {

// "up", "down" (blacklisted after failures), "draining" or "disabled": one
// word for what an operator asks first. Also the metrics' state label.
const char* backend_state(const BackendStatus& b);
// True when the backend takes new clients now (the readiness rule).
bool backend_usable(const BackendStatus& b);

json::Value to_json(const BackendStatus& b);
json::Value to_json(const PolicyConfig& p);
json::Value to_json(const ServiceStatus& s);
json::Value to_json(const AffinityEntry& e, MonoTime now);
json::Value to_json(const ClientPin& p);
json::Value to_json(const DataplaneEvent& e);

// RFC 3339 UTC with milliseconds: "2026-11-25T17:40:01.123Z".
std::string rfc3339(std::chrono::system_clock::time_point t);

}  // namespace nib::admin
