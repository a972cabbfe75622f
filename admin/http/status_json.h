#pragma once
// The dataplane's read views as JSON, one function per view, shared by the
// REST routes, the event stream and the status page's data. Field names are
// the API's contract (documented in openapi.cc): add fields, never rename.
#include <string>

#include "admin/http/json.h"
#include "dataplane/base/clock.h"
#include "dataplane/events/event_bus.h"
#include "dataplane/stats/dataplane_stats.h"

namespace nib::admin {

json::Value to_json(const BackendStatus& b);
json::Value to_json(const PolicyConfig& p);
json::Value to_json(const ServiceStatus& s);
json::Value to_json(const AffinityEntry& e, MonoTime now);
json::Value to_json(const ClientPin& p);
json::Value to_json(const DataplaneEvent& e);

// RFC 3339 UTC with milliseconds: "2026-11-25T17:40:01.123Z".
std::string rfc3339(std::chrono::system_clock::time_point t);

}  // namespace nib::admin
