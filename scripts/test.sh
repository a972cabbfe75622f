#!/usr/bin/env bash
# Installs dependencies, builds nib and runs every test with ctest.
# SANITIZE=1 builds into build-asan with AddressSanitizer and UBSan instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
if [ "${SANITIZE:-0}" = 1 ]; then
  export BUILD_DIR=build-asan BUILD_TYPE=Debug
  scripts/build.sh -DNIB_SANITIZE=ON -DNIB_BUILD_BENCH=OFF
else
  scripts/build.sh
fi
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" --timeout 300
