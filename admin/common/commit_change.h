#pragma once
// The one call every admin front end (REST, gRPC, penctl) makes after a
// successful change and before it acknowledges it. With --state it blocks
// until the change is on disk (admin/state/state_writer.h: group-committed,
// fsynced); without, it returns at once. An error is kUnavailable with the
// reason (503 / UNAVAILABLE / "error: ..."): the change is applied in memory
// but a restart would lose it.
#include "dataplane/base/status.h"
#include "dataplane/dataplane.h"

namespace nib::admin {

// Any thread.
inline Status commit_change(Dataplane& dataplane) { return dataplane.events().sync(); }

}  // namespace nib::admin
