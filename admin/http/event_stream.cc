#include "admin/http/event_stream.h"

#include <ctime>

#include "admin/http/json.h"

namespace nib::admin {
namespace {

// RFC 3339 UTC with milliseconds: "2026-11-25T17:40:01.123Z".
std::string rfc3339(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

// The SSE record's data (v1's event shape, older than the proto's Event).
json::Value to_json(const DataplaneEvent& e) {
  json::Value o = json::Value::object();
  o.set("sequence", e.sequence)
      .set("time", rfc3339(e.time))
      .set("kind", to_string(e.kind))
      .set("service", e.service)
      .set("backend_id", e.backend_id)
      .set("detail", e.detail);
  return o;
}

}  // namespace

std::string sse_chunk(const EventSubscription::Batch& batch) {
  std::string out;
  for (const auto& item : batch.items) {
    if (item.event) {
      const DataplaneEvent& e = *item.event;
      out += "id: " + std::to_string(e.sequence) + "\nevent: " + to_string(e.kind) + "\ndata: " +
             json::serialize(to_json(e)) + "\n\n";
    } else {
      json::Value lost = json::Value::object();
      lost.set("dropped", item.lost);
      out += "event: lost\ndata: " + json::serialize(lost) + "\n\n";
    }
  }
  return out;
}

}  // namespace nib::admin
