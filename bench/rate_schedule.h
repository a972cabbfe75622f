// FixedRateSchedule: when the i-th request of an open-loop (fixed-rate) load
// is due, t0 + i / rate, computed from the start rather than from the previous
// send, so that a late send never shifts the requests after it (no drift, no
// catching up by slowing down). The load tool measures each request's latency
// from this scheduled time, not from when it could actually be sent: that is
// the correction for coordinated omission (bench/README.md). Header-only,
// standard library only, for the standalone load tools.
#pragma once

#include <cstdint>

namespace load {

class FixedRateSchedule {
 public:
  // rate: requests per second (> 0); t0_ns: when request 0 is due.
  FixedRateSchedule(double rate, uint64_t t0_ns) : interval_ns_(1e9 / rate), t0_ns_(t0_ns) {}

  // When request i is due.
  uint64_t due_ns(uint64_t i) const {
    return t0_ns_ + static_cast<uint64_t>(static_cast<double>(i) * interval_ns_);
  }
  // How many requests are due at now_ns (those with due_ns(i) <= now_ns).
  uint64_t due_by(uint64_t now_ns) const {
    if (now_ns < t0_ns_) return 0;
    auto n = static_cast<uint64_t>(static_cast<double>(now_ns - t0_ns_) / interval_ns_) + 1;
    // Floating point may put the boundary one off either way; settle it exactly.
    while (n > 0 && due_ns(n - 1) > now_ns) --n;
    while (due_ns(n) <= now_ns) ++n;
    return n;
  }
  // How many requests are due before end_ns (the run's length in requests).
  uint64_t due_before(uint64_t end_ns) const { return end_ns <= t0_ns_ ? 0 : due_by(end_ns - 1); }
  uint64_t t0_ns() const { return t0_ns_; }

 private:
  double interval_ns_;
  uint64_t t0_ns_;
};

}  // namespace load
