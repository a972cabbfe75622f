#include "tests/support/prerequisites.h"

#include <cstdlib>
#include <string_view>

namespace nib::test {

bool running_in_ci() {
  const char* ci = std::getenv("CI");
  if (ci == nullptr) return false;
  std::string_view v(ci);
  return !v.empty() && v != "false" && v != "0";
}

}  // namespace nib::test
