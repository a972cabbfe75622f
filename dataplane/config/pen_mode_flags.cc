#include "dataplane/config/pen_mode_flags.h"

namespace nib {
namespace {

struct Flag {
  std::string_view word;
  BalanceMode mode;
};
// Highest precedence first, as Pen's initial_server() tests them.
constexpr Flag kFlags[] = {{"prio", BalanceMode::kPrio},
                           {"weight", BalanceMode::kWeight},
                           {"hash", BalanceMode::kHash},
                           {"roundrobin", BalanceMode::kRoundRobin}};

}  // namespace

std::optional<uint8_t> PenModeFlags::bit(std::string_view word) {
  for (size_t i = 0; i < std::size(kFlags); ++i) {
    if (kFlags[i].word == word) return static_cast<uint8_t>(1u << i);
  }
  return std::nullopt;
}

PenModeFlags PenModeFlags::from(BalanceMode mode) {
  PenModeFlags f;
  for (const Flag& flag : kFlags) {
    if (flag.mode == mode) f.set(flag.word, true);
  }
  return f;
}

bool PenModeFlags::set(std::string_view word, bool on) {
  auto b = bit(word);
  if (!b) return false;
  bits_ = on ? static_cast<uint8_t>(bits_ | *b) : static_cast<uint8_t>(bits_ & ~*b);
  return true;
}

bool PenModeFlags::has(std::string_view word) const {
  auto b = bit(word);
  return b && (bits_ & *b) != 0;
}

BalanceMode PenModeFlags::mode() const {
  for (const Flag& flag : kFlags) {
    if (has(flag.word)) return flag.mode;
  }
  return BalanceMode::kAffinity;
}

std::string PenModeFlags::describe(bool stubborn) const {
  auto word = [](bool on, std::string_view name) { return std::string(on ? "" : "no ") + std::string(name); };
  return word(has("hash"), "hash") + " " + word(has("roundrobin"), "roundrobin") + " " + word(stubborn, "stubborn") +
         " " + word(has("weight"), "weight") + " " + word(has("prio"), "prio");
}

}  // namespace nib
