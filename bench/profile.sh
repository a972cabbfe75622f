#!/usr/bin/env bash
# Where one nib worker's CPU goes, by path: the measured single-core profile
# behind the scaling model in bench/README.md ("Scaling: 16 and 64 cores").
# nib (one worker) in front of two nginx on loopback; perf samples nib with
# call graphs while the load runs, and the table gives each path's share of
# nib's samples (inclusive: a function and what it calls).
#
#   bench/profile.sh                            # keepalive, close, clients
#   SCENARIOS=clients DURATION=10 bench/profile.sh
#   KEEP_WORK=1 bench/profile.sh                # keeps perf.data per scenario
#
# Scenarios: keepalive (wrk -c50, round-robin -r), close (the same with
# Connection: close), clients (conn_load: 10,000 distinct client addresses,
# Pen's default mode, so every connection looks up and records its client in
# the client table). Needs root (or perf_event_paranoid <= 1) and perf.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=profile.sh
WORK_PREFIX=nib-profile
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

NIB=${NIB:-$REPO/build/server/nib}
CONN_LOAD=${CONN_LOAD:-$REPO/build/bench/conn_load}
SCENARIOS=${SCENARIOS:-keepalive close clients}
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
CLIENTS=${CLIENTS:-10000}

# Paths whose inclusive share is reported: label, then perf symbol patterns
# (extended regex on the symbol name).
PATHS=(
  "accept (kernel)|__sys_accept4|do_accept"
  "connect (kernel)|__sys_connect$"
  "send (kernel)|__sys_sendto$|tcp_sendmsg$"
  "recv (kernel)|__sys_recvfrom$|tcp_recvmsg$"
  "close (kernel)|__x64_sys_close$|__fput$"
  "epoll_wait (kernel)|do_epoll_wait$"
  "client table|nib::AffinityTable::"
  "shard lock wait|pthread_mutex_lock|futex_wait"
  "admission (service, fd budget)|nib::Service::try_admit|nib::FdBudget::"
)

bench_init
for tool in perf nginx wrk; do command -v $tool >/dev/null || die "$tool not found"; done
[[ -x $NIB ]] || die "nib not found at $NIB (cmake --build build --target nib)"
[[ -x $CONN_LOAD ]] || die "conn_load not found at $CONN_LOAD (cmake --build build --target conn_load)"
ulimit -n 20000 2>/dev/null || true

B1=$(free_port)
B2=$(free_port)
start_nginx_backend backend1 "$B1" || die "nginx backend1 did not start"
start_nginx_backend backend2 "$B2" || die "nginx backend2 did not start"

# One nib per scenario: -r for the wrk scenarios, Pen's default mode with room
# for every client for `clients`.
run_scenario() {
  local scenario=$1 port mode=(-r) load=()
  port=$(free_port)
  case $scenario in
    keepalive) load=(wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port/") ;;
    close) load=(wrk -t1 -c"$CONNS" -d"${DURATION}s" -H 'Connection: close' "http://127.0.0.1:$port/") ;;
    clients)
      mode=(-c $((CLIENTS + 64)))
      load=("$CONN_LOAD" --target "127.0.0.1:$port" --clients "$CLIENTS" --duration "$DURATION")
      ;;
    *) die "unknown scenario '$scenario' (keepalive, close, clients)" ;;
  esac
  start "nib-$scenario" http "$port" "$NIB" -f --no-admin --workers 1 -x 10000 "${mode[@]}" \
    "127.0.0.1:$port" "127.0.0.1:$B1" "127.0.0.1:$B2" || die "nib did not start"
  local pid=${PID[nib-$scenario]} data="$WORK/perf-$scenario.data"
  timeout 10 wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/" >/dev/null  # warm-up
  perf record -q -g -F 1999 -p "$pid" -o "$data" -- sleep $((DURATION + 1)) 2>/dev/null &
  local perf_pid=$!
  sleep 0.3  # perf attaches
  timeout $((DURATION + 30)) "${load[@]}" >"$WORK/load-$scenario.txt" 2>&1 || true
  wait "$perf_pid" || true
  stop "nib-$scenario"
  report "$scenario" "$data"
}

# Inclusive share of each path in nib's samples, then the split of all
# samples between the kernel and user space (nib and libc), by self time.
report() {
  local scenario=$1 data=$2 table
  table=$(perf report -i "$data" --children --sort sym --stdio -g none 2>/dev/null |
    awk '$1 ~ /%$/ && $2 ~ /%$/ { c = $1; s = $2; sub(/%/, "", c); sub(/%/, "", s); $1 = $2 = ""; sub(/^ +/, ""); print c "\t" s "\t" $0 }')
  printf '\n%s: inclusive %% of nib'"'"'s samples\n' "$scenario"
  for entry in "${PATHS[@]}"; do
    local label=${entry%%|*} patterns=${entry#*|}
    awk -F'\t' -v re="$patterns" -v label="$label" '
      { sym = $3; sub(/^\[[a-z.]\] /, "", sym) }
      sym ~ re && $1 + 0 > best { best = $1 + 0 }
      END { printf "  %-40s %6.1f%%\n", label, best }' <<<"$table"
  done
  perf report -i "$data" --no-children --sort dso --stdio -g none 2>/dev/null |
    awk '$1 ~ /%$/ { p = $1; sub(/%/, "", p); if ($2 ~ /kernel/) k += p; else if ($2 == "nib") n += p; else o += p }
      END { printf "  %-40s %6.1f%%\n  %-40s %6.1f%%\n  %-40s %6.1f%%\n", "kernel (self)", k,
        "libc etc. (self: mostly syscall entry)", o, "nib'"'"'s own code (self)", n }'
}

for scenario in $SCENARIOS; do run_scenario "$scenario"; done
