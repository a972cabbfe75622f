#!/usr/bin/env bash
# What a balancer does per request, counted rather than timed: syscalls (by
# name), TCP segments sent on the host, and CPU, for nib and HAProxy in front
# of two nginx on loopback, keep-alive and a connection per request. Counts
# move little with the machine's load, so they show a change that run.sh's
# ratios would hide in noise. See bench/README.md.
#
#   bench/syscalls.sh                              # build/server/nib, both scenarios, 1 round
#   NIB=/tmp/nib.old ROUNDS=3 bench/syscalls.sh    # another binary; rounds alternate targets
#   NIB_ARGS=--defer-accept TARGETS=nib SCENARIOS=close bench/syscalls.sh
#
# Needs root (or perf_event_paranoid <= -1) for perf's syscall tracepoints,
# and perf, nstat (iproute2), nginx, haproxy and wrk.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=syscalls.sh
WORK_PREFIX=nib-syscalls
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

NIB=${NIB:-$REPO/build/server/nib}
NIB_ARGS=${NIB_ARGS:-}
TARGETS=${TARGETS:-nib haproxy}
SCENARIOS=${SCENARIOS:-keepalive close}
ROUNDS=${ROUNDS:-1}
DURATION=${DURATION:-3}
CONNS=${CONNS:-50}
SYSCALLS=(epoll_wait epoll_ctl io_uring_enter accept4 recvfrom sendto read write splice socket connect setsockopt
  getsockopt shutdown close fcntl)

bench_init
for tool in perf nstat wrk nginx haproxy curl; do command -v $tool >/dev/null || die "$tool not found"; done
[[ -x $NIB ]] || die "nib not found at $NIB (cmake --build build --target nib)"
events=raw_syscalls:sys_enter
for s in "${SYSCALLS[@]}"; do events+=",syscalls:sys_enter_$s"; done
perf stat -e "$events" -- true >/dev/null 2>&1 || die "perf cannot count syscall tracepoints here (root needed?)"
ulimit -n 20000 2>/dev/null || true

B1=$(free_port)
B2=$(free_port)
start_nginx_backend backend1 "$B1" || die "nginx backend1 did not start"
start_nginx_backend backend2 "$B2" || die "nginx backend2 did not start"
declare -A PORT=()
for t in $TARGETS; do
  PORT[$t]=$(free_port)
  case $t in
    nib)
      # shellcheck disable=SC2086  # NIB_ARGS: words
      start nib http "${PORT[nib]}" "$NIB" -f --no-admin --workers 1 -x 10000 $NIB_ARGS -r \
        "127.0.0.1:${PORT[nib]}" "127.0.0.1:$B1" "127.0.0.1:$B2" || die "nib did not start"
      ;;
    haproxy)
      haproxy_config "$WORK/haproxy.cfg" "${PORT[haproxy]}" 1 roundrobin "$B1" "$B2"
      start haproxy http "${PORT[haproxy]}" haproxy -db -f "$WORK/haproxy.cfg" || die "haproxy did not start"
      ;;
    *) die "unknown target '$t' (nib or haproxy)" ;;
  esac
done

printf '%-8s %-9s %5s %8s %7s %7s %7s' target scenario round req/s cpu_us segs total
printf ' %s' "${SYSCALLS[@]}"
printf '\n'
for round in $(seq 1 "$ROUNDS"); do
  for scenario in $SCENARIOS; do
    extra=()
    [[ $scenario == close ]] && extra=(-H 'Connection: close')
    for t in $TARGETS; do
      url="http://127.0.0.1:${PORT[$t]}/"
      wrk -t1 -c"$CONNS" -d1s "${extra[@]}" "$url" >/dev/null  # warm-up
      perf stat -x, -e "$events" -p "${PID[$t]}" -o "$WORK/perf.csv" &
      perf_pid=$!
      sleep 0.3  # perf attaches
      nstat -n >/dev/null
      ticks0=$(group_cpu_ticks "${PID[$t]}")
      out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "${extra[@]}" "$url")
      ticks1=$(group_cpu_ticks "${PID[$t]}")
      segs=$(nstat 2>/dev/null | awk '$1 == "TcpOutSegs" { print $2 }')
      kill -INT "$perf_pid"
      wait "$perf_pid" || true
      req=$(awk '/requests in/ { print $1 }' <<<"$out")
      rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
      # perf's window is wrk's plus a fraction of a second with no traffic;
      # segments are the host's (clients, nginx and the balancer together).
      awk -F, -v req="$req" -v t="$t" -v sc="$scenario" -v round="$round" -v rps="$rps" \
        -v ticks=$((ticks1 - ticks0)) -v tck="$CLK_TCK" -v segs="${segs:-0}" -v names="${SYSCALLS[*]}" '
        $1 ~ /^[0-9]+$/ { name = $3; sub(/.*sys_enter_?/, "", name); n[name == "" ? "total" : name] = $1 }
        END {
          printf "%-8s %-9s %5d %8.0f %7.1f %7.2f %7.2f", t, sc, round, rps, ticks * 1e6 / tck / req,
            segs / req, n["total"] / req
          split(names, s, " ")
          for (i = 1; i in s; i++) printf " %.3f", n[s[i]] / req
          printf "\n"
        }' "$WORK/perf.csv"
    done
  done
done
