#include "dataplane/tcp/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "dataplane/base/log.h"
#include "dataplane/config/limits.h"

namespace nib {

PipePool::~PipePool() { trim(); }

Pipe PipePool::take() {
  if (!idle_.empty()) {
    Pipe p = std::move(idle_.back());
    idle_.pop_back();
    return p;
  }
  if (limit_ == 0) return {};  // splice is off: nothing is short
  if (open_ >= limit_ ||
      (budget_ != nullptr && !budget_->try_acquire(2, budget_->capacity() / limits::kPipeFreeDivisor))) {
    if (shortages_ != nullptr) shortages_->record(Resource::kPipe);
    return {};
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    int err = errno;
    if (budget_ != nullptr) budget_->release(2);
    Resource short_of = shortage_of(err).value_or(Resource::kPipe);
    if (shortages_ != nullptr && shortages_->record(short_of)) {
      log_warn(std::string("splice pipe: ") + std::strerror(err) + "; relays copy instead (" + to_string(short_of) +
               " short: counted in nib_resource_exhausted_total, logged once per burst)");
    }
    return {};
  }
  ++open_;
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void PipePool::give(Pipe pipe, bool empty) {
  if (!pipe) return;
  if (empty) {
    idle_.push_back(std::move(pipe));
    return;
  }
  pipe = Pipe{};  // stale bytes must never reach another connection: close it
  closed(1);
}

void PipePool::trim() {
  size_t n = idle_.size();
  idle_.clear();
  if (n != 0) closed(n);
}

void PipePool::closed(size_t pipes) {
  open_ -= pipes;
  if (budget_ != nullptr) budget_->release(2 * pipes);
}

}  // namespace nib
