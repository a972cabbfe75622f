#include "admin/state/state_writer.h"

#include <condition_variable>
#include <mutex>

#include "admin/state/state_store.h"
#include "dataplane/base/log.h"
#include "dataplane/dataplane.h"

namespace nib::admin {

// Counts are of operator changes heard; each write records the count it began
// at, which is the set of changes it covers.
struct StateWriter::Journal {
  explicit Journal(std::string path) : path(std::move(path)) {}

  Status sync() {
    std::unique_lock lock(mu);
    // Once closed, changes are no longer counted: none can be vouched for.
    if (closed) return stopped();
    const uint64_t target = changes;
    written.wait(lock, [&] { return finished >= target || closed; });
    if (saved >= target) return {};
    if (finished >= target) {
      return Status::unavailable("the change is applied but not saved, so a restart would lose it: " +
                                 last.message());
    }
    return stopped();
  }

  Status stopped() const {
    return Status::unavailable("nib is stopping: the change is applied but not saved to " + path);
  }

  Status health() const {
    std::lock_guard lock(mu);
    return last;
  }

  const std::string path;
  mutable std::mutex mu;
  std::condition_variable wake;     // the writer thread: a change, or stop
  std::condition_variable written;  // committers: a write finished, or the thread ended
  uint64_t changes = 0;
  uint64_t begun = 0;     // `changes` when the latest write began
  uint64_t finished = 0;  // ... when the latest finished write began
  uint64_t saved = 0;     // ... when the latest successful write began
  Status last;            // the latest finished write's result
  bool stopping = false;
  bool closed = false;    // the thread made its last write
};

StateWriter::StateWriter(Dataplane& dataplane, std::string path, StateWriterOptions options)
    : dataplane_(dataplane),
      path_(std::move(path)),
      options_(std::move(options)),
      journal_(std::make_shared<Journal>(path_)) {}

StateWriter::~StateWriter() { stop(); }

void StateWriter::start() {
  subscription_ = dataplane_.events().subscribe([journal = journal_](const DataplaneEvent& e) {
    // Health changes and finished drains are not operator changes: nothing
    // to save. The listener runs on the publisher's thread: only count.
    if (e.kind == DataplaneEvent::Kind::kHealthChanged || e.kind == DataplaneEvent::Kind::kDrainFinished) return;
    {
      std::lock_guard lock(journal->mu);
      ++journal->changes;
    }
    journal->wake.notify_one();
  });
  thread_ = std::thread([this] { run(); });
}

void StateWriter::run() {
  Journal& j = *journal_;
  std::unique_lock lock(j.mu);
  for (;;) {
    auto ready = [&] { return j.stopping || j.changes != j.begun; };
    if (j.last.ok()) {
      j.wake.wait(lock, ready);
    } else {
      j.wake.wait_for(lock, options_.retry_interval, ready);  // failing: retry even without a change
    }
    const bool last_round = j.stopping;
    if (j.changes != j.begun || !j.last.ok()) {
      const uint64_t covering = j.begun = j.changes;
      lock.unlock();
      Status st = save();
      lock.lock();
      if (!st.ok() && j.last.ok()) {  // one line per failure, not per retry
        auto retry_ms = std::chrono::duration_cast<std::chrono::milliseconds>(options_.retry_interval).count();
        log_error(st.message() + "; changes are applied but not saved; retrying every " + std::to_string(retry_ms) +
                  " ms");
      } else if (st.ok() && !j.last.ok()) {
        log_info("state file " + path_ + " saved again");
      }
      j.finished = covering;
      if (st.ok()) j.saved = covering;
      j.last = std::move(st);
      j.written.notify_all();
    }
    if (last_round) {
      j.closed = true;
      j.written.notify_all();
      return;
    }
  }
}

Status StateWriter::save() {
  SavedState state = capture_state(dataplane_);
  // The gate at every way in should make this impossible; if it ever fails,
  // the old file (which the reader accepts) is kept.
  if (Status st = check_state(state); !st.ok()) {
    return Status::internal("state file " + path_ + ": not saved, its reader would refuse it: " + st.message());
  }
  std::string text = serialize_state(state);
  if (text == on_disk_) return {};  // the disk holds exactly this already
  on_disk_.clear();  // a failure part way leaves the file's content unknown
  if (Status st = write_file_atomically(path_, text, 0600, options_.after_step); !st.ok()) {
    return Status(st.code(), "state file " + path_ + ": " + st.message());
  }
  on_disk_ = std::move(text);
  writes_.fetch_add(1);
  return {};
}

Status StateWriter::commit() { return journal_->sync(); }

Status StateWriter::health() const { return journal_->health(); }

void StateWriter::stop() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(journal_->mu);
      journal_->stopping = true;
    }
    journal_->wake.notify_one();
    thread_.join();
  }
  if (subscription_ != 0) {
    dataplane_.events().unsubscribe(subscription_);
    subscription_ = 0;
  }
}

}  // namespace nib::admin
