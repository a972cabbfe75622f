#pragma once
// Pipes for the zero-copy relay (splice socket -> pipe -> socket), one pool per
// worker: created on first use, reused empty, at most `limit` open at once so
// that pipes never take many of the descriptors connections need. Every pipe
// is also taken from the process's descriptor budget, and only while a
// quarter of it is free (limits::kPipeFreeDivisor): when descriptors run
// short, pipes give way to clients. When no pipe can be had the relay copies
// through its buffer instead (counted as a "pipe" shortage).
#include <cstddef>
#include <vector>

#include "dataplane/base/unique_fd.h"
#include "dataplane/resource/fd_budget.h"
#include "dataplane/resource/shortage_counters.h"

namespace nib {

// Both ends non-blocking and close-on-exec.
struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
  explicit operator bool() const { return read_end.valid(); }
};

class PipePool {
 public:
  // limit 0 disables splice (every take() fails). Without a budget only the
  // limit counts; shortages are counted in `shortages` when given.
  explicit PipePool(size_t limit, FdBudget* budget = nullptr, ShortageCounters* shortages = nullptr)
      : limit_(limit), budget_(budget), shortages_(shortages) {}
  ~PipePool();  // closes the idle pipes; pipes still taken must have been given back
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // Loop thread. An empty pipe, or an invalid one when the limit is reached or
  // the system refuses one (EMFILE, ENFILE): the caller copies instead.
  Pipe take();
  // Loop thread. Takes back a pipe from take(); `empty` says it holds no bytes
  // (only then is it reused; one with bytes in it is closed).
  void give(Pipe pipe, bool empty);
  // Loop thread. Closes the idle pipes, giving their descriptors back (the
  // worker does so when it runs short of descriptors).
  void trim();

  size_t open() const { return open_; }  // loop thread: pipes alive, idle included
  size_t idle() const { return idle_.size(); }
  size_t limit() const { return limit_; }

 private:
  void closed(size_t pipes);  // `pipes` were closed: count and budget

  std::vector<Pipe> idle_;
  size_t open_ = 0;
  size_t limit_;
  FdBudget* budget_;
  ShortageCounters* shortages_;
};

}  // namespace nib
