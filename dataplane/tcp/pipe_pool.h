#pragma once
// Pipes for the zero-copy relay (splice socket -> pipe -> socket), one pool per
// worker: created on first use, reused empty, at most `limit` open at once so
// that pipes never take many of the descriptors connections need. When no pipe
// can be had the relay copies through its buffer instead.
#include <cstddef>
#include <vector>

#include "dataplane/base/unique_fd.h"

namespace nib {

// Both ends non-blocking and close-on-exec.
struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
  explicit operator bool() const { return read_end.valid(); }
};

class PipePool {
 public:
  // limit 0 disables splice (every take() fails).
  explicit PipePool(size_t limit) : limit_(limit) {}
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // Loop thread. An empty pipe, or an invalid one when the limit is reached or
  // the system refuses one (EMFILE, ENFILE): the caller copies instead.
  Pipe take();
  // Loop thread. Takes back a pipe from take(); `empty` says it holds no bytes
  // (only then is it reused; one with bytes in it is closed).
  void give(Pipe pipe, bool empty);

  size_t open() const { return open_; }  // loop thread: pipes alive, idle included
  size_t idle() const { return idle_.size(); }
  size_t limit() const { return limit_; }

 private:
  std::vector<Pipe> idle_;
  size_t open_ = 0;
  size_t limit_;
};

}  // namespace nib
