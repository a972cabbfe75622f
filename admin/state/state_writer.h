#pragma once
// Saves the dataplane's runtime state (state_store.h) to the --state file and
// makes acknowledgements durable: the admin core (admin/core/admin_api.h)
// calls commit() after each successful change and answers only once it
// returns. OK means the change is in a file that was fsynced and renamed into
// place, with its directory fsynced.
//
// Group commit: the event listener only counts operator changes; one thread
// captures the whole state and writes it. Each commit() waits for a write that
// began after its change was counted, and every change counted while a write
// runs rides on the next one, so a burst of concurrent changes costs about two
// writes, not one each.
//
// A failed write is retried every `retry_interval`, so health() (and /readyz)
// recovers once the disk does, even without a new change. Until a write
// covering a change succeeds, its commit() answers kUnavailable with the reason.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "dataplane/base/atomic_file.h"
#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"

namespace nib {
class Dataplane;
}

namespace nib::admin {

struct StateWriterOptions {
  Duration retry_interval = std::chrono::seconds(1);  // after a failed write
  std::function<void(WriteStep)> after_step;          // tests: runs after each step of each write
};

class StateWriter {
 public:
  StateWriter(Dataplane& dataplane, std::string path, StateWriterOptions options = {});
  ~StateWriter();  // stop()
  StateWriter(const StateWriter&) = delete;
  StateWriter& operator=(const StateWriter&) = delete;

  // Subscribes and starts the thread. Call once.
  void start();
  // Any thread. Blocks until everything changed before the call is on disk;
  // kUnavailable with the reason when the write that should have kept it
  // failed, or when the writer stopped first.
  Status commit();
  // Any thread. OK while saving works; the last failure otherwise.
  Status health() const;
  // Any thread. Writes that reached the disk (a state equal to the file's is
  // not written again).
  uint64_t writes() const { return writes_.load(); }
  // Any thread; idempotent. Writes what is pending and joins. commit() after
  // this answers kUnavailable, as nothing would save the change.
  void stop();

 private:
  struct Journal;  // shared with the bus listener
  void run();
  // Writer thread only. Captures, checks and writes the state.
  Status save();

  Dataplane& dataplane_;
  const std::string path_;
  const StateWriterOptions options_;
  std::shared_ptr<Journal> journal_;
  uint64_t subscription_ = 0;
  std::string on_disk_;  // writer thread only: the text the last successful write left
  std::atomic<uint64_t> writes_{0};
  std::thread thread_;
};

}  // namespace nib::admin
