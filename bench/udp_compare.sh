#!/usr/bin/env bash
# Side-by-side UDP benchmark on loopback: request/reply datagrams (udp_load)
# direct to one echo backend, and through nib -U, pen -U and nginx's stream
# UDP proxy, all in front of the same two echo backends. Rounds are
# interleaved (direct, nib, pen, nginx, direct, ...) so that drift in the
# machine's state hits every target alike; medians are reported.
#
#   bench/udp_compare.sh                            # defaults: ROUNDS=3 DURATION=5
#   NIB=build-release/server/nib UDP_LOAD=build-release/bench/udp_load bench/udp_compare.sh
#
# Environment: NIB (default build/server/nib), UDP_LOAD (default build/bench/udp_load),
# ROUNDS, DURATION (seconds), CLIENTS, OUTSTANDING, SIZE, SOURCE_IPS, NIB_WORKERS,
# TARGETS (default "direct nib pen nginx"), NO_INSTALL=1 (never call apt-get).
# See bench/README.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NIB=${NIB:-$REPO/build/server/nib}
UDP_LOAD=${UDP_LOAD:-$REPO/build/bench/udp_load}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CLIENTS=${CLIENTS:-32}
OUTSTANDING=${OUTSTANDING:-8}
SIZE=${SIZE:-64}
SOURCE_IPS=${SOURCE_IPS:-8}
NIB_WORKERS=${NIB_WORKERS:-1}
TARGETS=${TARGETS:-direct nib pen nginx}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results}

log() { printf '%s\n' "$*" >&2; }
die() { log "udp_compare.sh: $*"; exit 1; }

# --- tools -------------------------------------------------------------------
install_missing() {
  local missing=()
  for pkg in pen nginx libnginx-mod-stream; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  [[ ${NO_INSTALL:-0} == 1 ]] && die "missing packages: ${missing[*]} (NO_INSTALL=1)"
  local sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y -q "${missing[@]}" >/dev/null ||
    { "${sudo[@]}" apt-get update -q >/dev/null && "${sudo[@]}" apt-get install -y -q "${missing[@]}" >/dev/null; } ||
    die "apt-get install failed"
}
install_missing
PATH=$PATH:/usr/sbin:/sbin  # nginx lives in sbin
[[ -x $UDP_LOAD ]] || die "udp_load not found at $UDP_LOAD (build it: cmake --build build --target udp_load)"
NGINX_STREAM=/usr/lib/nginx/modules/ngx_stream_module.so

# --- processes: every one we start is stopped on exit --------------------------
WORK=$(mktemp -d /tmp/nib-udp-compare.XXXXXX)
chmod 755 "$WORK"  # run as root, nginx's workers drop to an unprivileged user
declare -A PID=()
# kill -0 also succeeds on a zombie: an exited child stays one until waited for.
alive() {
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $stat != Z* ]]
}
# Stops process group $1: TERM, up to 2 s of grace, then KILL. A group, so
# that nginx's workers go with their master.
stop_group() {
  local pid=$1
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do alive "$pid" || break; sleep 0.05; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local name
  for name in "${!PID[@]}"; do stop_group "${PID[$name]}"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A UDP port nobody listens on right now on 127.0.0.1 (the race is accepted).
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 12000))
    if [[ -z $(ss -Hlun "sport = :$p" 2>/dev/null) && " ${USED_PORTS:-} " != *" $p "* ]]; then
      USED_PORTS="${USED_PORTS:-} $p"
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

# Waits until name (pid $2) answers a datagram on port $3; false if it died or never did.
wait_ready() {
  local pid=$2 port=$3
  for _ in $(seq 1 50); do
    alive "$pid" || return 1
    "$UDP_LOAD" --probe "127.0.0.1:$port" --timeout 100 && return 0
    sleep 0.05
  done
  return 1
}

# start NAME PORT CMD...: runs CMD in the background in its own process group
# (setsid does not fork here: a background job is no group leader, so the pid
# is the group id), logs to $WORK/NAME.log.
start() {
  local name=$1 port=$2
  shift 2
  setsid "$@" >"$WORK/$name.log" 2>&1 &
  local pid=$!
  PID[$name]=$pid
  if wait_ready "$name" "$pid" "$port"; then
    return 0
  fi
  log "  $name failed to start or to answer on 127.0.0.1:$port; skipping it. Its output:"
  tail -n 5 "$WORK/$name.log" | sed 's/^/    /' >&2
  stop_group "$pid"
  unset "PID[$name]"
  return 1
}

# --- backends: two udp_load echo servers, one thread each -----------------------
B1=$(free_port)
B2=$(free_port)
log "backends: udp_load --echo on 127.0.0.1:$B1 and 127.0.0.1:$B2"
start backend1 "$B1" "$UDP_LOAD" --echo "$B1" || die "echo backend1 did not start"
start backend2 "$B2" "$UDP_LOAD" --echo "$B2" || die "echo backend2 did not start"

# --- targets ----------------------------------------------------------------
declare -A PORT=()
declare -A SKIPPED=()
ACTIVE=()
for target in $TARGETS; do
  case $target in
    direct)
      PORT[direct]=$B1
      ACTIVE+=(direct)
      ;;
    nib | pen)
      bin=$NIB
      [[ $target == pen ]] && bin=$(command -v pen || true)
      if [[ -z $bin || ! -x $bin ]]; then
        SKIPPED[$target]="binary not found: ${bin:-pen}"
        log "  skipping $target: ${SKIPPED[$target]}"
        continue
      fi
      PORT[$target]=$(free_port)
      # Pen's command line, the same for both; nib's worker count is pinned so
      # that a single-threaded pen is compared with a like number of threads.
      extra=()
      [[ $target == nib ]] && extra=(--workers "$NIB_WORKERS")
      if start "$target" "${PORT[$target]}" "$bin" -U -f "${extra[@]}" "127.0.0.1:${PORT[$target]}" \
        "127.0.0.1:$B1" "127.0.0.1:$B2"; then
        ACTIVE+=("$target")
      else
        SKIPPED[$target]="failed to start or to answer"
      fi
      ;;
    nginx)
      if ! command -v nginx >/dev/null || [[ ! -f $NGINX_STREAM ]]; then
        SKIPPED[nginx]="nginx or $NGINX_STREAM not found"
        continue
      fi
      PORT[nginx]=$(free_port)
      mkdir -p "$WORK/nginx"
      # One worker; a UDP session per client address:port, as in nib and pen.
      cat >"$WORK/nginx/nginx.conf" <<CONF
load_module $NGINX_STREAM;
worker_processes 1;
events { worker_connections 20000; }
stream {
  upstream be {
    server 127.0.0.1:$B1;
    server 127.0.0.1:$B2;
  }
  server {
    listen 127.0.0.1:${PORT[nginx]} udp;
    proxy_pass be;
    proxy_timeout 60s;
  }
}
CONF
      if start nginx "${PORT[nginx]}" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e stderr \
        -g "daemon off; pid $WORK/nginx/nginx.pid;"; then
        ACTIVE+=(nginx)
      else
        SKIPPED[nginx]="failed to start or to answer"
      fi
      ;;
    *) die "unknown target '$target' (direct nib pen nginx)" ;;
  esac
done
[[ ${#ACTIVE[@]} -gt 0 ]] || die "no target to measure"

# --- measurements -----------------------------------------------------------
# One udp_load run: prints "dgrams_per_s p50_us p99_us lost".
run_load() {
  local port=$1 out
  out=$(timeout $((DURATION + 30)) "$UDP_LOAD" --target "127.0.0.1:$port" --clients "$CLIENTS" \
    --outstanding "$OUTSTANDING" --size "$SIZE" --source-ips "$SOURCE_IPS" --duration "$DURATION" \
    --warmup 1 2>&1) || true
  awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
    END { printf "%.0f %.1f %.1f %d\n", v["datagrams_per_s"] + 0, v["p50_us"] + 0, v["p99_us"] + 0, v["lost"] + 0 }' \
    <<<"$out"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
  if (NR == 0) { print 0; exit } if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A DPS=() P50=() P99=() LOST=()
log "targets: ${ACTIVE[*]}; $ROUNDS interleaved rounds of udp_load --clients $CLIENTS --outstanding $OUTSTANDING" \
  "--size $SIZE --source-ips $SOURCE_IPS --duration $DURATION"
for round in $(seq 1 "$ROUNDS"); do
  for target in "${ACTIVE[@]}"; do
    if [[ $target != direct ]] && ! alive "${PID[$target]}"; then
      log "  $target is no longer running; its remaining runs are skipped"
      SKIPPED[$target]="died during the runs"
      continue
    fi
    read -r dps p50 p99 lost < <(run_load "${PORT[$target]}")
    log "  round $round $target: $dps datagrams/s, p50 ${p50} us, p99 ${p99} us, lost $lost"
    DPS[$target]="${DPS[$target]:-} $dps"
    P50[$target]="${P50[$target]:-} $p50"
    P99[$target]="${P99[$target]:-} $p99"
    LOST[$target]="${LOST[$target]:-} $lost"
  done
done

# --- report -----------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a > 0) printf "%.2f", a / b; else printf "-" }'; }
declare -A MED=()
for target in "${ACTIVE[@]}"; do MED[$target]=$(median <<<"${DPS[$target]:-}"); done
printf '\nUDP request/reply (%s clients x %s outstanding, %s-byte datagrams, %s s, %s rounds; medians)\n' \
  "$CLIENTS" "$OUTSTANDING" "$SIZE" "$DURATION" "$ROUNDS"
printf '%-8s %12s %9s %7s %9s %9s %9s %6s  %s\n' target 'dgrams/s' 'vs direct' 'vs pen' 'vs nginx' 'p50 us' 'p99 us' \
  'lost' 'rounds'
for target in "${ACTIVE[@]}"; do
  m=${MED[$target]}
  printf '%-8s %12.0f %9s %7s %9s %9s %9s %6s  %s\n' "$target" "$m" \
    "$(ratio "$m" "${MED[direct]:-0}")" "$(ratio "$m" "${MED[pen]:-0}")" "$(ratio "$m" "${MED[nginx]:-0}")" \
    "$(median <<<"${P50[$target]:-}")" "$(median <<<"${P99[$target]:-}")" \
    "$(echo ${LOST[$target]:-} | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s }')" \
    "$(echo ${DPS[$target]:-} | awk '{ for (i = 1; i <= NF; i++) printf "%s%.0f", (i > 1 ? " " : ""), $i }')"
done
for target in "${!SKIPPED[@]}"; do printf '\nskipped %s: %s\n' "$target" "${SKIPPED[$target]}"; done

# --- JSON -------------------------------------------------------------------
mkdir -p "$RESULTS_DIR"
json=$RESULTS_DIR/udp-compare-$(date -u +%Y%m%dT%H%M%SZ).json
array() { echo "$1" | awk '{ printf "["; for (i = 1; i <= NF; i++) printf "%s%s", (i > 1 ? ", " : ""), $i; printf "]" }'; }
jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\n')"; }
{
  printf '{\n  "date": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf '  "host": {"kernel": %s, "cpus": %s},\n' "$(jstr "$(uname -r)")" "$(nproc)"
  printf '  "config": {"rounds": %s, "duration_s": %s, "clients": %s, "outstanding": %s, "size": %s, ' \
    "$ROUNDS" "$DURATION" "$CLIENTS" "$OUTSTANDING" "$SIZE"
  printf '"source_ips": %s, "nib_workers": %s, "nib_commit": %s},\n' "$SOURCE_IPS" "$NIB_WORKERS" \
    "$(jstr "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)")"
  printf '  "targets": {\n'
  sep=""
  for target in "${ACTIVE[@]}"; do
    printf '%s    %s: {"median_dps": %s, "dps": %s, "p50_us": %s, "p99_us": %s, "lost": %s}' "$sep" \
      "$(jstr "$target")" "${MED[$target]}" "$(array "${DPS[$target]:-}")" "$(array "${P50[$target]:-}")" \
      "$(array "${P99[$target]:-}")" "$(array "${LOST[$target]:-}")"
    sep=$',\n'
  done
  printf '\n  }\n}\n'
} >"$json"
printf '\nresults: %s\n' "$json"
