#include "dataplane/config/limits.h"

#include <charconv>
#include <cmath>

namespace nib {
namespace {

// Shortest exact decimal, never scientific: "3600", "0.5", "1000000000".
std::string format_number(double value) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(value);
}

}  // namespace

bool SecondsRange::contains(double v) const {
  return std::isfinite(v) && (min_exclusive ? v > min : v >= min) && v <= max;
}

std::string describe(IntRange range) {
  return "an integer " + std::to_string(range.min) + "-" + std::to_string(range.max);
}

std::string describe(SecondsRange range) {
  std::string low = std::string(range.min_exclusive ? "> " : ">= ") + format_number(range.min);
  if (range.max >= kMaxSeconds) return "seconds " + low;
  return "seconds " + low + " and <= " + format_number(range.max);
}

}  // namespace nib
