#pragma once
// What a test needs from outside itself (a built binary, Debian's penctl, a
// Prometheus, IPv6 loopback). Outside CI a missing one skips the test; under
// CI=true it fails it: CI installs everything (scripts/install-deps.sh
// --test), and a test that skips there never runs at all.
#include <gtest/gtest.h>

namespace nib::test {

// CI is set and not "false"/"0".
bool running_in_ci();

}  // namespace nib::test

// In a test body or SetUp(): skips (fails under CI) when `condition` is false.
#define NIB_REQUIRE(condition, what)                                                     \
  do {                                                                                   \
    if (!(condition)) {                                                                  \
      if (::nib::test::running_in_ci()) GTEST_FAIL() << "missing under CI: " << (what);  \
      GTEST_SKIP() << (what);                                                            \
    }                                                                                    \
  } while (0)
