#pragma once
// The access log (issue 14): one line per finished connection or UDP
// session, written without ever making a worker wait.
//
// Each producer (a TCP or UDP worker) owns one AccessRing and fills a record in it
// when a connection or session ends; one writer thread drains every ring, formats the
// records (AccessLineFormat) into one buffer and writes it with one write()
// per batch to a file (O_APPEND), or sends one datagram per line to
// host:port (Pen's -l host:port, for penlogd or a syslog collector). A full
// ring drops the record on the worker and counts it; a failed write counts
// its lines as dropped too. Workers never notify the writer (that would be a
// system call per connection): it polls every kPollInterval while idle and
// loops at once while there is work.
//
// Rotation: reopen() (SIGHUP, SIGUSR1; logrotate renames then signals) asks
// the writer to open the path again between two batches, so every line is in
// the old file or the new one, never lost. If the new file cannot be opened
// the old one is kept and the error logged.
//
// Lifetime: the Dataplane makes it before its engines (or at penctl's `log
// FILE`) and stops it after them, so the last connections (closed at
// shutdown) are written too. Workers may still hold a ring after `no log`
// detached it: the log is never destroyed while they run.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"
#include "dataplane/config/service_config.h"
#include "dataplane/log/access_line_format.h"
#include "dataplane/log/access_ring.h"

namespace nib {

class AccessLog {
 public:
  static constexpr std::chrono::milliseconds kPollInterval{20};
  // A batch is written once this much text is formatted (and at the end of a pass).
  static constexpr size_t kBatchBytes = 64 * 1024;

  // Checks the configuration (format, template, UDP address), opens the
  // destination and makes `producers` rings. Nothing runs yet.
  static Result<std::unique_ptr<AccessLog>> open(const AccessLogConfig& config, unsigned producers);
  ~AccessLog();  // stop()
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Starts the writer thread. Call once.
  void start();
  // Any thread. Writes what the rings hold, then joins the writer. Call after
  // every producer stopped, or their last records may stay unwritten.
  void stop();

  // Producer `index` only: its ring.
  AccessRing& ring(unsigned index) { return *rings_[index]; }

  // Any thread. Asks the writer to reopen the file (after logrotate's rename);
  // for a UDP destination there is nothing to reopen.
  void reopen();
  // Any thread. Lines go to `path` from the next batch on (penctl's `log
  // FILE`); opened now, so a bad path is an error and changes nothing. Only
  // for a file log: a UDP log's lines have another shape.
  Status retarget(const std::string& path);

  // Any thread.
  uint64_t lines_written() const { return lines_.load(std::memory_order_relaxed); }
  uint64_t lines_dropped() const;
  std::string destination() const;
  bool to_file() const { return config_.udp.empty(); }

 private:
  AccessLog(const AccessLogConfig& config, AccessLineFormat format, unsigned producers);

  // Writer thread only.
  void run();
  // One pass over every ring; returns how many records it took.
  uint64_t drain_rings();
  // Writes `batch_` (file: one write() loop; UDP: one send() per line).
  void flush(uint64_t lines);
  void reopen_now();

  const AccessLogConfig config_;   // its path is the first; path_ the current
  const AccessLineFormat format_;
  std::vector<std::unique_ptr<AccessRing>> rings_;
  UniqueFd fd_;                     // writer thread, once started
  std::string batch_;               // writer thread
  std::atomic<uint64_t> lines_{0};  // writer writes
  std::atomic<uint64_t> write_failures_{0};  // writer writes: lines lost to a failed write
  bool failing_ = false;            // writer thread: logged the current run of write errors

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::string path_;            // under mu_: the file, or empty for UDP
  UniqueFd next_fd_;            // under mu_: retarget()'s file, taken by the writer
  bool stopping_ = false;       // under mu_
  bool reopen_wanted_ = false;  // under mu_
  std::thread thread_;
};

}  // namespace nib
