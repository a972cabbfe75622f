#pragma once
// Server-Sent Events for GET /api/v1/events: what a batch of one
// EventSubscription (admin/core/event_subscription.h, the buffer WatchEvents
// uses too) looks like on the wire.
#include <string>

#include "admin/core/event_subscription.h"

namespace nib::admin {

// "id: ...\nevent: ...\ndata: {json}\n\n" per event, and an "event: lost"
// record ({"dropped": N}) where the subscriber fell behind. "" for no items.
std::string sse_chunk(const EventSubscription::Batch& batch);

}  // namespace nib::admin
