#!/usr/bin/env bash
# Installs dependencies, builds nib and runs every test with ctest.
# SANITIZE=1 builds into build-asan with AddressSanitizer and UBSan instead.
# SANITIZE=thread builds into build-tsan with ThreadSanitizer and runs the
# dataplane and integration suites (TSAN_SUITES overrides the ctest label
# regex). Any TSan report, from a test or from a nib binary a test started,
# fails the run: reports go to build-tsan/tsan-reports/ and are printed.
# Suppressions (tests/tsan.supp) cover only uninstrumented Debian libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
ctest_args=()
case "${SANITIZE:-0}" in
  1)
    export BUILD_DIR=build-asan BUILD_TYPE=Debug
    scripts/build.sh -DNIB_SANITIZE=ON -DNIB_BUILD_BENCH=OFF
    ;;
  thread)
    # RelWithDebInfo: TSan's slowdown (5-15x) on top of -O0 would push the
    # integration tests past their timeouts on 2 cores.
    export BUILD_DIR=build-tsan BUILD_TYPE=RelWithDebInfo
    export BUILD_TARGETS="nib nibctl nib_dataplane_tests nib_integration_tests"
    scripts/build.sh -DNIB_SANITIZE=thread -DNIB_BUILD_BENCH=OFF
    reports="$PWD/build-tsan/tsan-reports"
    rm -rf "$reports"
    mkdir -p "$reports"
    # log_path: every process's reports in a file of its own (nib binaries the
    # tests start inherit this), so none is lost in a test's captured output.
    # ignore_noninstrumented_modules: malloc, memcpy and the like called from
    # an uninstrumented library are not accesses TSan can order.
    export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp log_path=$reports/tsan second_deadlock_stack=1 history_size=4 ignore_noninstrumented_modules=1 ${TSAN_OPTIONS:-}"
    ctest_args=(-L "${TSAN_SUITES:-nib_dataplane_tests|nib_integration_tests}")
    ;;
  0) scripts/build.sh ;;
  *) echo "SANITIZE must be 0, 1 or thread" >&2; exit 2 ;;
esac
cd "${BUILD_DIR:-build}"
status=0
ctest --output-on-failure -j"$(nproc)" --timeout 300 "${ctest_args[@]}" || status=$?
# A test that failed in the parallel run gets one more run on its own. One
# that passes then is timing-sensitive under load, not broken: it is listed
# as FLAKY (and in flaky-tests.txt) to be fixed, and does not fail the run.
# A test that fails twice fails the run.
rm -f flaky-tests.txt
if [ "$status" -ne 0 ] && [ -s Testing/Temporary/LastTestsFailed.log ]; then
  cp Testing/Temporary/LastTestsFailed.log first-failures.log
  echo "Re-running the failed tests one at a time:" >&2
  if ctest --output-on-failure -j1 --timeout 300 --rerun-failed; then
    cut -d: -f2 first-failures.log > flaky-tests.txt
    echo "FLAKY (failed under parallel load, passed alone; fix these):" >&2
    sed 's/^/  FLAKY /' flaky-tests.txt >&2
    status=0
  fi
fi
if [ "${SANITIZE:-0}" = thread ] && compgen -G "$reports/tsan*" >/dev/null; then
  echo "ThreadSanitizer reports (each file is one process):" >&2
  for f in "$reports"/tsan*; do echo "==== $f" >&2; cat "$f" >&2; done
  status=1
fi
exit "$status"
