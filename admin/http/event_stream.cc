#include "admin/http/event_stream.h"

#include "admin/http/json.h"
#include "admin/http/status_json.h"

namespace nib::admin {

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
