#pragma once
// Pen's HTML status file (-w, penctl `web_stats FILE`): where SIGUSR1 writes
// the page. The App owns it (it writes the page, with or without a control
// port); the control port changes it at runtime.
#include <mutex>
#include <string>
#include <utility>

namespace nib::admin {

class StatusFileSetting {
 public:
  explicit StatusFileSetting(std::string path = {}) : path_(std::move(path)) {}

  // Any thread. Empty: no status file (Pen's `no web_stats`).
  std::string get() const {
    std::lock_guard lock(mu_);
    return path_;
  }
  void set(std::string path) {
    std::lock_guard lock(mu_);
    path_ = std::move(path);
  }

 private:
  mutable std::mutex mu_;
  std::string path_;
};

}  // namespace nib::admin
