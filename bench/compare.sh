#!/usr/bin/env bash
# Side-by-side HTTP benchmark through TCP balancers on loopback: direct to one
# backend, nib, pen and HAProxy, all in front of the same two nginx backends.
# Rounds are interleaved (direct, nib, pen, haproxy, direct, ...) so that drift
# in the machine's state hits every target alike; medians are reported.
#
#   bench/compare.sh                      # defaults: ROUNDS=3 DURATION=5s CONNS=50
#   NIB=build-release/server/nib ROUNDS=5 bench/compare.sh
#
# Environment: NIB (default build/server/nib), ROUNDS, DURATION, CONNS, THREADS,
# TARGETS (default "direct nib pen haproxy"), SCENARIOS (default "keepalive close";
# "bulk" fetches a 1 MiB file over keep-alive),
# NO_INSTALL=1 (never call apt-get). See bench/README.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NIB=${NIB:-$REPO/build/server/nib}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-50}
THREADS=${THREADS:-1}
TARGETS=${TARGETS:-direct nib pen haproxy}
SCENARIOS=${SCENARIOS:-keepalive close}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results}

log() { printf '%s\n' "$*" >&2; }
die() { log "compare.sh: $*"; exit 1; }

# --- tools -------------------------------------------------------------------
install_missing() {
  local missing=()
  for pkg in pen haproxy nginx libnginx-mod-stream wrk curl; do
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
PATH=$PATH:/usr/sbin:/sbin  # haproxy and nginx live in sbin
for tool in wrk nginx; do command -v $tool >/dev/null || die "$tool not found"; done

# --- processes: every one we start is stopped on exit --------------------------
WORK=$(mktemp -d /tmp/nib-compare.XXXXXX)
# Run as root, nginx's workers drop to an unprivileged user who must read the pages.
chmod 755 "$WORK"
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

# A port free right now on 127.0.0.1 (the race with other programs is accepted).
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && [[ " ${USED_PORTS:-} " != *" $p "* ]]; then
      USED_PORTS="${USED_PORTS:-} $p"
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

# Waits until name (pid $2) serves HTTP on port $3; false if it died or never did.
wait_ready() {
  local name=$1 pid=$2 port=$3
  for _ in $(seq 1 100); do
    alive "$pid" || return 1
    curl -sf -m 1 -o /dev/null "http://127.0.0.1:$port/" && return 0
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
  log "  $name failed to start or to serve on 127.0.0.1:$port; skipping it. Its output:"
  tail -n 5 "$WORK/$name.log" | sed 's/^/    /' >&2
  stop_group "$pid"
  unset "PID[$name]"
  return 1
}

# --- backends: two nginx, one worker each, a ~100-byte page ------------------
start_nginx() {
  local name=$1 port=$2 dir=$WORK/$1
  mkdir -p "$dir/html" "$dir/tmp"
  printf '<html><body>nib compare backend %s: a page of about one hundred bytes.</body></html>\n' \
    "$name" >"$dir/html/index.html"
  head -c 1048576 /dev/urandom >"$dir/html/bulk.bin"
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$port reuseport backlog=4096;
    location / { root html; }
  }
}
CONF
  start "$name" "$port" nginx -p "$dir" -c "$dir/nginx.conf" -e stderr \
    -g "daemon off; pid $dir/nginx.pid;"
}

B1=$(free_port)
B2=$(free_port)
log "backends: nginx on 127.0.0.1:$B1 and 127.0.0.1:$B2"
start_nginx backend1 "$B1" || die "nginx backend1 did not start"
start_nginx backend2 "$B2" || die "nginx backend2 did not start"

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
      # Pen's command line, identical for both.
      if start "$target" "${PORT[$target]}" "$bin" -f -x 10000 "127.0.0.1:${PORT[$target]}" \
        "127.0.0.1:$B1" "127.0.0.1:$B2"; then
        ACTIVE+=("$target")
      else
        SKIPPED[$target]="failed to start or to serve"
      fi
      ;;
    haproxy)
      if ! command -v haproxy >/dev/null; then
        SKIPPED[haproxy]="binary not found"
        continue
      fi
      PORT[haproxy]=$(free_port)
      # As many as pen's -x 10000, but HAProxy refuses to start unless
      # 2 fds per connection fit under the fd limit.
      HAPROXY_MAXCONN=$(( ($(ulimit -n) - 200) / 2 ))
      (( HAPROXY_MAXCONN > 10000 )) && HAPROXY_MAXCONN=10000
      cat >"$WORK/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn $HAPROXY_MAXCONN
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:${PORT[haproxy]}
  maxconn $HAPROXY_MAXCONN
  default_backend be
backend be
  balance roundrobin
  server b1 127.0.0.1:$B1
  server b2 127.0.0.1:$B2
CONF
      if start haproxy "${PORT[haproxy]}" haproxy -db -f "$WORK/haproxy.cfg"; then
        ACTIVE+=(haproxy)
      else
        SKIPPED[haproxy]="failed to start or to serve"
      fi
      ;;
    *) die "unknown target '$target' (direct nib pen haproxy)" ;;
  esac
done
[[ ${#ACTIVE[@]} -gt 0 ]] || die "no target to measure"

# --- measurements -----------------------------------------------------------
# One wrk run: prints "req_per_sec p50_ms p99_ms errors".
run_wrk() {
  local port=$1 scenario=$2 out
  local extra=()
  local path=/
  [[ $scenario == close ]] && extra=(-H 'Connection: close')
  [[ $scenario == bulk ]] && path=/bulk.bin
  out=$(timeout 60 wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${extra[@]}" \
    "http://127.0.0.1:$port$path" 2>&1) || true
  awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
      if (v ~ /s$/) return v * 1000; return v + 0 }
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { errors += $5 }
    END { printf "%.2f %.3f %.3f %d\n", rps + 0, p50 + 0, p99 + 0, errors + 0 }' <<<"$out"
}

# User plus system CPU of process $1 (all its threads) in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
  if (NR == 0) { print 0; exit } if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A RPS=() P50=() P99=() ERRS=() CPU=()
log "targets: ${ACTIVE[*]}; $ROUNDS interleaved rounds of wrk -t$THREADS -c$CONNS -d$DURATION per scenario"
for scenario in $SCENARIOS; do
  for round in $(seq 1 "$ROUNDS"); do
    for target in "${ACTIVE[@]}"; do
      if [[ $target != direct ]] && ! alive "${PID[$target]}"; then
        log "  $target is no longer running; its remaining runs are skipped"
        SKIPPED[$target]="died during the runs"
        continue
      fi
      t0=0
      [[ $target != direct ]] && t0=$(cpu_ticks "${PID[$target]}")
      read -r rps p50 p99 errs < <(run_wrk "${PORT[$target]}" "$scenario")
      # Balancer CPU per request: its ticks over the run / (req/s x seconds).
      cpu=0
      if [[ $target != direct ]]; then
        cpu=$(awk -v t="$(( $(cpu_ticks "${PID[$target]}") - t0 ))" -v us="$TICK_US" -v r="$rps" \
          -v d="${DURATION%s}" 'BEGIN { if (r > 0) printf "%.1f", t * us / (r * d); else print 0 }')
      fi
      log "  $scenario round $round $target: $rps req/s, p50 ${p50} ms, p99 ${p99} ms, errors $errs, cpu ${cpu} us/req"
      CPU[$scenario,$target]="${CPU[$scenario,$target]:-} $cpu"
      RPS[$scenario,$target]="${RPS[$scenario,$target]:-} $rps"
      P50[$scenario,$target]="${P50[$scenario,$target]:-} $p50"
      P99[$scenario,$target]="${P99[$scenario,$target]:-} $p99"
      ERRS[$scenario,$target]="${ERRS[$scenario,$target]:-} $errs"
    done
  done
done

# --- report -----------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a > 0) printf "%.2f", a / b; else printf "-" }'; }
declare -A MED=()
for scenario in $SCENARIOS; do
  for target in "${ACTIVE[@]}"; do
    MED[$scenario,$target]=$(median <<<"${RPS[$scenario,$target]:-}")
  done
done

for scenario in $SCENARIOS; do
  label="keep-alive"
  [[ $scenario == close ]] && label="Connection: close"
  [[ $scenario == bulk ]] && label="1 MiB bulk, keep-alive (req/s x 1 MiB = MiB/s)"
  printf '\n%s (wrk -t%s -c%s -d%s, %s rounds; median req/s)\n' "$label" "$THREADS" "$CONNS" "$DURATION" "$ROUNDS"
  printf '%-8s %12s %9s %9s %10s  %-10s %-10s %s\n' target 'req/s' 'vs direct' 'vs pen' 'vs haproxy' 'p99 ms' 'cpu us/req' 'rounds'
  for target in "${ACTIVE[@]}"; do
    m=${MED[$scenario,$target]}
    printf '%-8s %12.0f %9s %9s %10s  %-10s %-10s %s\n' "$target" "$m" \
      "$(ratio "$m" "${MED[$scenario,direct]:-0}")" "$(ratio "$m" "${MED[$scenario,pen]:-0}")" \
      "$(ratio "$m" "${MED[$scenario,haproxy]:-0}")" "$(median <<<"${P99[$scenario,$target]:-}")" \
      "$(median <<<"${CPU[$scenario,$target]:-}")" \
      "$(echo ${RPS[$scenario,$target]:-} | awk '{ for (i = 1; i <= NF; i++) printf "%s%.0f", (i > 1 ? " " : ""), $i }')"
  done
done
for target in "${!SKIPPED[@]}"; do printf '\nskipped %s: %s\n' "$target" "${SKIPPED[$target]}"; done

# --- JSON -------------------------------------------------------------------
mkdir -p "$RESULTS_DIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
json=$RESULTS_DIR/compare-$stamp.json
array() { echo "$1" | awk '{ printf "["; for (i = 1; i <= NF; i++) printf "%s%s", (i > 1 ? ", " : ""), $i; printf "]" }'; }
jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\n')"; }
version_of() {
  case $1 in
    nib) "$NIB" --version 2>&1 | head -1 ;;
    pen) dpkg-query -W -f '${Version}' pen 2>/dev/null ;;
    haproxy) haproxy -v 2>&1 | head -1 | awk '{ print $3 }' ;;
    direct) nginx -v 2>&1 | sed 's/.*nginx\///' ;;
  esac
}
{
  printf '{\n  "date": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf '  "host": {"kernel": %s, "cpus": %s, "cpu": %s},\n' "$(jstr "$(uname -r)")" "$(nproc)" \
    "$(jstr "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)")"
  printf '  "config": {"rounds": %s, "duration": %s, "connections": %s, "threads": %s, "nib": %s, "nib_commit": %s},\n' \
    "$ROUNDS" "$(jstr "$DURATION")" "$CONNS" "$THREADS" "$(jstr "$NIB")" \
    "$(jstr "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)")"
  printf '  "versions": {'
  sep=""
  for target in "${ACTIVE[@]}"; do
    printf '%s%s: %s' "$sep" "$(jstr "$target")" "$(jstr "$(version_of "$target")")"
    sep=", "
  done
  printf '},\n  "skipped": {'
  sep=""
  for target in "${!SKIPPED[@]}"; do
    printf '%s%s: %s' "$sep" "$(jstr "$target")" "$(jstr "${SKIPPED[$target]}")"
    sep=", "
  done
  printf '},\n  "scenarios": {\n'
  ssep=""
  for scenario in $SCENARIOS; do
    printf '%s    %s: {\n' "$ssep" "$(jstr "$scenario")"
    tsep=""
    for target in "${ACTIVE[@]}"; do
      printf '%s      %s: {"median_rps": %s, "rps": %s, "p50_ms": %s, "p99_ms": %s, "errors": %s, "cpu_us_per_req": %s}' "$tsep" \
        "$(jstr "$target")" "${MED[$scenario,$target]}" "$(array "${RPS[$scenario,$target]:-}")" \
        "$(array "${P50[$scenario,$target]:-}")" "$(array "${P99[$scenario,$target]:-}")" \
        "$(array "${ERRS[$scenario,$target]:-}")" "$(array "${CPU[$scenario,$target]:-}")"
      tsep=$',\n'
    done
    printf '\n    }'
    ssep=$',\n'
  done
  printf '\n  }\n}\n'
} >"$json"
printf '\nresults: %s\n' "$json"
