#pragma once
// Runtime changes that survive a restart (--state FILE, admin.state_file):
// the backends, drains, pins and policy an operator set through the admin
// APIs are saved to a small text file and put back when nib starts, after the
// configuration is loaded. The file is the runtime view of each service it
// names: for those services it wins over the configuration's backend list
// (delete the file to start from the configuration alone).
//
// Writes are atomic (temp file, fsync, rename, fsync of the directory), so a
// crash at any point leaves either the old file or the new one.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/config/service_config.h"
#include "dataplane/net/ip_prefix.h"
#include "dataplane/registry/backend.h"

namespace nib {
class Dataplane;
}

namespace nib::admin {

struct SavedBackend {
  std::string host;
  SocketAddress address;
  uint32_t weight = 1, prio = 0, soft_limit = 0, hard_limit = 0;
  AdminState admin_state = AdminState::kEnabled;
};

struct SavedPin {
  IpPrefix prefix;
  SocketAddress backend;  // by address: backend ids are not stable across restarts
};

struct SavedService {
  std::string name;
  PolicyConfig policy;
  std::vector<SavedBackend> backends;
  std::vector<SavedPin> pins;
};

struct SavedState {
  std::vector<SavedService> services;
};

// The file's text; parse_state(serialize_state(s)) gives s back.
std::string serialize_state(const SavedState& state);
// Errors (kInvalidArgument) name source_name and the line. A file cut short
// (no final "end" line) is an error, never half a state.
Result<SavedState> parse_state(std::string_view text, const std::string& source_name);
// Missing file: nullopt (first start). Unreadable or corrupt: an error.
Result<std::optional<SavedState>> load_state_file(const std::string& path);

// What the dataplane runs now (the emergency server is config-only: not saved).
SavedState capture_state(const Dataplane& dataplane);
// Before the dataplane starts: each saved service's backend list and policy go
// into its configuration, so no client ever reaches a backend the API removed.
// Backends kept from the configuration keep its settings (health check, host)
// under the saved weight, prio and limits. Drains and pins need the running
// dataplane: restore_state() applies them after start.
void apply_to_config(const SavedState& state, DataplaneConfig* config);
// Makes each saved service's backends, drains, pins and policy what was saved.
// Services the configuration no longer has are skipped (named in `skipped`).
Status restore_state(Dataplane& dataplane, const SavedState& state, std::vector<std::string>* skipped = nullptr);

// The steps of an atomic write, for tests that stop a writer between them.
enum class WriteStep { kTempWritten, kTempSynced, kRenamed };
// Writes `content` to path via path + ".tmp". `after_step` (tests only) runs
// after each step.
Status write_file_atomically(const std::string& path, std::string_view content,
                             const std::function<void(WriteStep)>& after_step = {});

// Saves the dataplane's state whenever it changes. The event listener only
// marks the state dirty; a background thread captures and writes it.
class StateWriter {
 public:
  StateWriter(Dataplane& dataplane, std::string path);
  ~StateWriter();  // stop()
  StateWriter(const StateWriter&) = delete;
  StateWriter& operator=(const StateWriter&) = delete;

  // Subscribes and starts the thread. Call once.
  void start();
  // Any thread. Writes now if a change is pending; the last write's status.
  Status flush();
  // Any thread; idempotent. Unsubscribes, writes what is pending, joins.
  void stop();

 private:
  void run();
  Status write_now();

  Dataplane& dataplane_;
  const std::string path_;
  uint64_t subscription_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;
  bool stopping_ = false;
  std::mutex write_mu_;  // one capture-and-write at a time (thread and flush())
  Status last_;
  std::thread thread_;
};

}  // namespace nib::admin
