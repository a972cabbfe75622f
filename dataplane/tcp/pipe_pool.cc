#include "dataplane/tcp/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

namespace nib {

Pipe PipePool::take() {
  if (!idle_.empty()) {
    Pipe p = std::move(idle_.back());
    idle_.pop_back();
    return p;
  }
  if (open_ >= limit_) return {};
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
  ++open_;
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void PipePool::give(Pipe pipe, bool empty) {
  if (!pipe) return;
  if (empty) {
    idle_.push_back(std::move(pipe));
    return;
  }
  --open_;  // stale bytes must never reach another connection: close it
}

}  // namespace nib
