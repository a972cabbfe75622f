#pragma once
// How a worker's event loop waits (DataplaneConfig::event_loop): epoll, or
// io_uring's poll requests, which batch registration changes into the call
// that waits. A kind, not a component, so that configuration can name it.
#include <optional>
#include <string_view>

namespace nib {

enum class LoopBackend { kEpoll, kIoUring };

constexpr std::string_view to_string(LoopBackend b) { return b == LoopBackend::kIoUring ? "io_uring" : "epoll"; }
inline std::optional<LoopBackend> parse_loop_backend(std::string_view s) {
  if (s == "epoll") return LoopBackend::kEpoll;
  if (s == "io_uring") return LoopBackend::kIoUring;
  return std::nullopt;
}

}  // namespace nib
