#pragma once
// Pen's selection flags (its server_alg bits: roundrobin, hash, weight, prio),
// which Pen keeps side by side and nib folds into one BalanceMode. Pen's
// initial_server() gives them a precedence, prio over weight over hash over
// roundrobin, so "-r -h" hashes and "hash" while weighting keeps weighting.
// Used where Pen's words arrive: the command line (-r -h -W, -o) and the
// control port.
//
// One difference stays: Pen's roundrobin flag also turns client tracking off
// under whichever flag wins; nib tracks in every mode but kRoundRobin.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/config/service_config.h"

namespace nib {

class PenModeFlags {
 public:
  PenModeFlags() = default;
  // The flag that gives `mode` (none for kAffinity, Pen's default).
  static PenModeFlags from(BalanceMode mode);

  // "roundrobin", "hash", "weight" or "prio"; false for any other word.
  bool set(std::string_view word, bool on);
  bool has(std::string_view word) const;
  // The mode the flags select: prio > weight > hash > roundrobin > kAffinity.
  BalanceMode mode() const;
  // Pen's "mode" reply: "no hash roundrobin no stubborn no weight no prio".
  std::string describe(bool stubborn) const;

  bool operator==(const PenModeFlags&) const = default;

 private:
  static std::optional<uint8_t> bit(std::string_view word);
  uint8_t bits_ = 0;
};

}  // namespace nib
