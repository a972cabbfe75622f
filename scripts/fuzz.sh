#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang-16, ASan and UBSan into
# ${BUILD_DIR:-build-fuzz} and runs each for FUZZ_SECONDS (default 60), one at
# a time, niced, from its corpus in fuzz/corpus/<target>/. A finding stops the
# script with the fuzzer's report and its reproducer in ${BUILD_DIR}/findings/.
#   scripts/fuzz.sh                    every target, 60 s each
#   FUZZ_SECONDS=1800 scripts/fuzz.sh rest_api penctl
#   scripts/fuzz.sh --build-only
# New inputs that add coverage land in ${BUILD_DIR}/corpus/<target>/ (merge
# them into fuzz/corpus/ by hand with -merge=1 when they are worth keeping).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build-fuzz}"
seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_BUILD_JOBS:-$(nproc)}"

build_only=0
targets=()
for a in "$@"; do
  if [ "$a" = --build-only ]; then build_only=1; else targets+=("$a"); fi
done
scripts/install-deps.sh --test
CC=clang-16 CXX=clang++-16 cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNIB_FUZZ=ON \
  -DNIB_BUILD_TESTS=OFF -DNIB_BUILD_BENCH=OFF >/dev/null
cmake --build "$build_dir" -j"$jobs" --target nib_fuzzers
[ "$build_only" = 1 ] && exit 0
# Default: every target fuzz/CMakeLists.txt built.
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$build_dir"/fuzz/*_fuzzer; do
    t="${f##*/}"
    targets+=("${t%_fuzzer}")
  done
fi

mkdir -p "$build_dir/findings"
summary=()
for t in "${targets[@]}"; do
  bin="$build_dir/fuzz/${t}_fuzzer"
  work="$build_dir/corpus/$t"
  mkdir -p "$work"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  log="$build_dir/findings/$t.log"
  echo "fuzz: $t for ${seconds}s" >&2
  # -rss_limit_mb: a parser that needs more than this for a small input is a
  # finding. -timeout: generous, because a niced fuzzer on a busy machine can
  # be starved for seconds (a penctl run timed out at 10 s that way).
  if ! nice -n 19 "$bin" "${dict[@]}" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=25 \
      -max_len=4096 -print_final_stats=1 -artifact_prefix="$build_dir/findings/$t-" \
      "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $t found a problem; reproducer in $build_dir/findings/ (log $log)" >&2
    exit 1
  fi
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
  summary+=("$t: $runs executions in ${seconds}s, no finding")
done
printf 'fuzz: %s\n' "${summary[@]}" >&2
