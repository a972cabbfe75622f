#!/usr/bin/env bash
# nib next to pen, HAProxy and nginx on loopback: one command, every scenario
# of issue #6, interleaved rounds, medians, a table per scenario, JSON and an
# SVG chart of the ratios. See bench/README.md ("Benchmarks").
#
#   bench/run.sh                      # full run, about 14 minutes on 2 cores (latency and idle add ~4)
#   QUICK=1 bench/run.sh              # smoke run, about 3-4 minutes (5.5 on a busy machine)
#   SCENARIOS="keepalive close" TARGETS="direct nib haproxy" ROUNDS=5 bench/run.sh
#
# Scenarios: keepalive close bulk udp clients memory tls tlsnew latency idle. Targets: direct nib nib2
# pen haproxy haproxy2 nginx (nib2 and haproxy2 run two threads; the rest one),
# niblog: nib with its access log on (-l FILE), for the log's cost; nibkernel: the
# in-kernel relay (--relay sockmap); niburing: the io_uring event loop (--event-loop io_uring)
#   SCENARIOS=close TARGETS="nib niblog" ROUNDS=5 bench/run.sh
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=run.sh
WORK_PREFIX=nib-bench
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
  : "${ROUNDS:=1}" "${DURATION:=1}" "${CLIENTS_TIME:=4}" "${CLIENTS_1M_TIME:=3}" "${FILL_TIME:=3}" "${S_TIME:=1}"
  # The idle scenario's 10,000 connections take most of a minute over seven
  # targets (those a balancer cannot hold wait 5 s each): 2,000 in a smoke run.
  : "${LAT_PROBE:=1}" "${IDLE_DURATION:=1}" "${IDLE_CONNS:=2000}"
fi
BUILD_DIR=${BUILD_DIR:-$REPO/build}
NIB=${NIB:-}
UDP_LOAD=${UDP_LOAD:-$BUILD_DIR/bench/udp_load}
CONN_LOAD=${CONN_LOAD:-$BUILD_DIR/bench/conn_load}
AFFINITY_BENCH=${AFFINITY_BENCH:-$BUILD_DIR/bench/affinity_table_bench}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}            # seconds per wrk / udp_load run
CONNS=${CONNS:-50}                 # wrk -c for keepalive and close
BULK_CONNS=${BULK_CONNS:-8}        # wrk -c for bulk
THREADS=${THREADS:-1}              # wrk -t
UDP_CLIENTS=${UDP_CLIENTS:-32}
UDP_OUTSTANDING=${UDP_OUTSTANDING:-8}
UDP_SIZE=${UDP_SIZE:-64}
CLIENT_COUNTS=${CLIENT_COUNTS:-1000 10000 1000000}
CLIENTS_TIME=${CLIENTS_TIME:-20}        # bound per clients run below 1M
CLIENTS_1M_TIME=${CLIENTS_1M_TIME:-12}  # bound per clients run at 1M and more
CLIENTS_CONCURRENCY=${CLIENTS_CONCURRENCY:-32}
HOLD=${HOLD:-5000}                      # idle connections for the memory scenario
FILL=${FILL:-10000000}                  # nib's affinity table in the memory scenario
FILL_TIME=${FILL_TIME:-15}              # how long to fill it with real clients
S_TIME=${S_TIME:-3}                     # tlsnew's cross-check: openssl s_time -new seconds per target (0: off)
LAT_LEVELS=${LAT_LEVELS:-50 90}         # latency: fixed rates, % of the peers' maximum keep-alive rate
LAT_PROBE=${LAT_PROBE:-$DURATION}       # latency: seconds of the closed-loop run that finds each target's maximum
LAT_DURATION=${LAT_DURATION:-$DURATION} # latency: seconds per fixed-rate run
LAT_CONNS=${LAT_CONNS:-$CONNS}          # latency: keep-alive connections in the pool
LAT_CLOSE=${LAT_CLOSE:-0}               # latency: 1 adds a connection-per-request run at 50% of the peers' max
IDLE_CONNS=${IDLE_CONNS:-10000}         # idle: keep-alive connections held through the balancer
IDLE_ACTIVE=${IDLE_ACTIVE:-100}         # idle: requests in flight at a time (1%), rotating through the set
IDLE_RATE=${IDLE_RATE:-0}               # idle: 0 closed loop (requests/s); R: fixed rate (latency)
IDLE_DURATION=${IDLE_DURATION:-$((DURATION + 2))}  # idle: seconds measured once every connection is open
TARGETS=${TARGETS:-direct nib nib2 pen haproxy haproxy2 nginx}
SCENARIOS=${SCENARIOS:-keepalive close bulk udp clients memory tls tlsnew latency idle}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results}
CHART=${CHART:-}                        # also copy the SVG here (e.g. docs/bench-ratios.svg)

for s in $SCENARIOS; do
  [[ " keepalive close bulk udp clients memory tls tlsnew latency idle " == *" $s "* ]] || die "unknown scenario '$s'"
done
for t in $TARGETS; do
  [[ " direct nib nib2 niblog nibkernel niburing pen haproxy haproxy2 nginx " == *" $t "* ]] || die "unknown target '$t'"
done
has_scenario() { [[ " $SCENARIOS " == *" $1 "* ]]; }
has_tls() { has_scenario tls || has_scenario tlsnew; }
START_TIME=$(date +%s)

# --- tools and binaries -----------------------------------------------------------
bench_install pen haproxy nginx libnginx-mod-stream wrk curl
bench_init
for tool in wrk nginx curl python3; do command -v $tool >/dev/null || die "$tool not found"; done
if has_tls; then
  for tool in openssl cc; do command -v $tool >/dev/null || die "$tool not found (needed by tls, tlsnew)"; done
fi
if [[ -z $NIB ]]; then
  NIB=$BUILD_DIR/server/nib
  need=()
  [[ -x $NIB ]] || need+=(nib)
  [[ -x $UDP_LOAD ]] || need+=(udp_load)
  [[ -x $CONN_LOAD ]] || need+=(conn_load)
  if [[ ${#need[@]} -gt 0 ]]; then
    log "building ${need[*]} in $BUILD_DIR (once)"
    [[ -f $BUILD_DIR/CMakeCache.txt ]] ||
      cmake -S "$REPO" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || die "cmake configure failed"
    cmake --build "$BUILD_DIR" -j2 --target "${need[@]}" >"$WORK/build.log" 2>&1 ||
      { tail -n 20 "$WORK/build.log" >&2; die "build failed"; }
  fi
fi
[[ -x $NIB ]] || die "nib not found at $NIB"
for bin in "$UDP_LOAD" "$CONN_LOAD"; do
  [[ -x $bin ]] || die "$bin not found (cmake --build $BUILD_DIR --target udp_load conn_load)"
done
PEN=$(command -v pen || true)
HAPROXY=$(command -v haproxy || true)

RECORDS=$WORK/records.jsonl
: >"$RECORDS"
NOTES=()
# record KEY=VALUE...: one measurement as a JSON line (numbers bare, the rest quoted).
record() {
  local kv sep="" line="{"
  for kv in "$@"; do
    local k=${kv%%=*} v=${kv#*=}
    if [[ $v =~ ^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$ || $v == null ]]; then
      line+="$sep\"$k\": $v"
    else
      line+="$sep\"$k\": \"${v//\"/\\\"}\""
    fi
    sep=", "
  done
  echo "$line}" >>"$RECORDS"
}
note() {
  log "  note: $*"
  NOTES+=("$*")
}

# --- TLS: one certificate for every balancer ----------------------------------------
# P-256 ECDSA, made fresh for the run: the key type dominates what a full
# handshake costs the server (an ECDSA P-256 signature is ~20x cheaper than an
# RSA-2048 one), so every target gets the same one. CERT + KEY for nib, pen and
# nginx; PEM (both in one file) for HAProxy's `crt`. NO_RESUME: the wrk shim of
# the tlsnew scenario (bench/tls_no_resume.c), so each connection makes a full
# handshake instead of resuming wrk's previous session.
if has_tls; then
  TLS_DIR=$WORK/tls
  mkdir -p "$TLS_DIR"
  CERT=$TLS_DIR/cert.pem
  KEY=$TLS_DIR/key.pem
  PEM=$TLS_DIR/combined.pem
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
    -keyout "$KEY" -out "$CERT" >"$WORK/openssl-req.log" 2>&1 || { cat "$WORK/openssl-req.log" >&2; die "openssl req failed"; }
  cat "$CERT" "$KEY" >"$PEM"
  chmod 644 "$KEY" "$PEM"  # nginx's and HAProxy's readers; a throwaway key
  NO_RESUME=$WORK/tls_no_resume.so
  cc -O2 -shared -fPIC -o "$NO_RESUME" "$REPO/bench/tls_no_resume.c" -ldl >"$WORK/cc.log" 2>&1 ||
    { cat "$WORK/cc.log" >&2; die "cannot build bench/tls_no_resume.c"; }
  log "TLS: P-256 ECDSA certificate for CN=localhost in $TLS_DIR"
fi

# --- backends ------------------------------------------------------------------------
B1=$(free_port)
B2=$(free_port)
log "backends: nginx on 127.0.0.1:$B1 and 127.0.0.1:$B2"
start_nginx_backend backend1 "$B1" || die "nginx backend1 did not start"
start_nginx_backend backend2 "$B2" || die "nginx backend2 did not start"
if has_scenario udp; then
  U1=$(free_port)
  U2=$(free_port)
  log "UDP echo backends on 127.0.0.1:$U1 and 127.0.0.1:$U2"
  start_udp_echo echo1 "$U1" || die "UDP echo backend1 did not start"
  start_udp_echo echo2 "$U2" || die "UDP echo backend2 did not start"
fi

# --- balancers -------------------------------------------------------------------------
declare -A PORT=()
# start_target TARGET PROTO(tcp|udp) TABLE: starts TARGET in front of the two
# backends and sets PORT[TARGET]. TABLE=0: round-robin without tracking (the
# same for all: nib/pen -r, HAProxy roundrobin, nginx's default); TABLE=N:
# client affinity with room for N clients (nib/pen -c N, HAProxy balance
# source, nginx hash $remote_addr). False (with a note) when it cannot run.
# TLS=1 (4th argument): the target terminates TLS with the run's certificate
# (nib and pen -E CERT -K KEY, HAProxy `bind ... ssl crt PEM`, nginx `listen
# ... ssl`) and relays plain HTTP to the backends; direct has no TLS.
start_target() {
  local target=$1 proto=$2 table=$3 tls=${4:-0} port b1=$B1 b2=$B2 ready=http
  [[ $proto == udp ]] && { b1=$U1; b2=$U2; ready=udp; }
  local tls_args=() hap_pem="" ng_tls=()
  if ((tls)); then
    [[ $target == direct ]] && return 1
    ready=https
    tls_args=(-E "$CERT" -K "$KEY")
    hap_pem=$PEM
    ng_tls=("$CERT" "$KEY")
  fi
  if [[ $target == direct ]]; then
    PORT[direct]=$b1
    return 0
  fi
  port=$(free_port)
  PORT[$target]=$port
  local balance=(-r)
  ((table > 0)) && balance=(-c "$table")
  local udp=()
  [[ $proto == udp ]] && udp=(-U)
  case $target in
    nib | nib2 | niblog | nibkernel | niburing)
      local workers=1 log=() relay=() loop=()
      [[ $target == nib2 ]] && workers=2
      # The access log in Pen's format, one line per connection, to a file.
      [[ $target == niblog ]] && log=(-l "$WORK/niblog-access.log")
      # The in-kernel relay (issue 18): established TCP in a BPF sockmap.
      [[ $target == nibkernel ]] && relay=(--relay sockmap)
      # The io_uring event loop (issue 18) instead of epoll.
      [[ $target == niburing ]] && loop=(--event-loop io_uring)
      start "$target" "$ready" "$port" "$NIB" -f --no-admin --workers "$workers" -x 10000 "${udp[@]}" \
        "${log[@]}" "${relay[@]}" "${loop[@]}" "${balance[@]}" "${tls_args[@]}" "127.0.0.1:$port" "127.0.0.1:$b1" "127.0.0.1:$b2"
      ;;
    pen)
      [[ -n $PEN ]] || { note "pen not found"; return 1; }
      start pen "$ready" "$port" "$PEN" -f -x 10000 "${udp[@]}" "${balance[@]}" "${tls_args[@]}" \
        "127.0.0.1:$port" "127.0.0.1:$b1" "127.0.0.1:$b2"
      ;;
    haproxy | haproxy2)
      [[ $proto == tcp ]] || return 1
      [[ -n $HAPROXY ]] || { note "haproxy not found"; return 1; }
      local threads=1 algo=roundrobin
      [[ $target == haproxy2 ]] && threads=2
      ((table > 0)) && algo=source
      haproxy_config "$WORK/$target.cfg" "$port" "$threads" "$algo" "$b1" "$b2" "$hap_pem"
      start "$target" "$ready" "$port" "$HAPROXY" -db -f "$WORK/$target.cfg"
      ;;
    nginx)
      [[ -f $NGINX_STREAM ]] || { note "$NGINX_STREAM not found"; return 1; }
      local hash=0
      ((table > 0)) && hash=1
      nginx_stream_config "$WORK/nginx-$target" "$port" "$proto" "$hash" "$b1" "$b2" "${ng_tls[@]}"
      start "$target" "$ready" "$port" nginx -p "$WORK/nginx-$target" -c "$WORK/nginx-$target/nginx.conf" \
        -e stderr -g "daemon off; pid $WORK/nginx-$target/nginx.pid;"
      ;;
  esac
}
# start_targets PROTO TABLE [TLS]: starts every target of TARGETS that applies; sets ACTIVE.
start_targets() {
  ACTIVE=()
  local t tls=${3:-0}
  for t in $TARGETS; do
    [[ $1 == udp && $t == haproxy* ]] && continue  # HAProxy has no UDP proxy
    if ((tls)) && [[ $t == direct ]]; then
      note "direct skipped in $scenario (no TLS there)"
      continue
    fi
    if start_target "$t" "$1" "$2" "$tls"; then
      ACTIVE+=("$t")
    else
      note "$t skipped in $scenario (failed to start)"
    fi
  done
}
stop_targets() {
  local t
  for t in "${ACTIVE[@]}"; do [[ $t == direct ]] || stop "$t"; done
}
# usable TARGET: true while it runs (direct: always).
declare -A DEAD=()
usable() {
  [[ $1 == direct ]] && return 0
  [[ -n ${PID[$1]:-} ]] && alive "${PID[$1]}" && return 0
  if [[ -z ${DEAD[$scenario,$1]:-} ]]; then
    note "$1 is no longer running in $scenario; its remaining runs are skipped"
    DEAD[$scenario,$1]=1
  fi
  stop "$1"  # reaps it, and whatever of its group is left
  return 1
}
cpu_ticks() {
  # 0 for direct, and for a target that is no longer running (its figures are dropped).
  if [[ $1 == direct || -z ${PID[$1]:-} ]]; then echo 0; else group_cpu_ticks "${PID[$1]}"; fi
}
# us_per TICKS_AFTER TICKS_BEFORE COUNT: the ticks between two readings, in µs per request.
us_per() {
  awk -v a="$1" -v b="$2" -v n="$3" -v hz="$CLK_TCK" \
    'BEGIN { if (n > 0) printf "%.2f", (a - b) * 1e6 / hz / n; else print "null" }'
}
# machine_us_per TICKS_BEFORE COUNT: the whole machine's busy CPU µs per request.
machine_us_per() { us_per "$(machine_busy_ticks)" "$1" "$2"; }
# cpu_us_per TARGET TICKS_BEFORE COUNT: balancer CPU µs per request ("null" for direct).
cpu_us_per() {
  [[ $1 == direct ]] && { echo null; return; }
  us_per "$(cpu_ticks "$1")" "$2" "$3"
}

# --- scenarios 1-3, 7 and 8: wrk --------------------------------------------------------
# run_wrk PORT SCENARIO: prints "req_per_sec p50_ms p99_ms errors requests".
# tlsnew: wrk runs with the no-resumption shim, which writes "FULL RESUMED"
# handshake counts to $WORK/tls-counts at exit (LD_PRELOAD on wrk alone, not
# on timeout, whose exit would write the file again).
run_wrk() {
  local port=$1 scenario=$2 out conns=$CONNS path=/ scheme=http
  local extra=() env=()
  case $scenario in
    close) extra=(-H 'Connection: close') ;;
    bulk) conns=$BULK_CONNS; path=/1m ;;
    tls) scheme=https ;;
    tlsnew)
      scheme=https
      extra=(-H 'Connection: close')
      rm -f "$WORK/tls-counts"
      env=(env "LD_PRELOAD=$NO_RESUME" "NIB_BENCH_TLS_COUNTS=$WORK/tls-counts")
      ;;
  esac
  out=$(timeout $((DURATION + 30)) "${env[@]}" wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency \
    "${extra[@]}" "$scheme://127.0.0.1:$port$path" 2>&1) || true
  awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
      if (v ~ /s$/) return v * 1000; return v + 0 }
    / requests in / { requests = $1 }
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { errors += $5 }
    END { printf "%.2f %.3f %.3f %d %d\n", rps + 0, p50 + 0, p99 + 0, errors + 0, requests + 0 }' <<<"$out"
}

wrk_scenario() {
  local scenario=$1 round target before rps p50 p99 errs reqs cpu unit=req/s rate tls=0 full resumed busy machine
  local hs=()
  [[ $scenario == bulk ]] && unit=MB/s
  [[ $scenario == tls* ]] && tls=1
  [[ $scenario == tlsnew ]] && unit=handshakes/s
  start_targets tcp 0 "$tls"
  log "$scenario: ${ACTIVE[*]}; $ROUNDS interleaved rounds of ${DURATION}s"
  ((tls)) && tls_check
  for round in $(seq 1 "$ROUNDS"); do
    for target in "${ACTIVE[@]}"; do
      usable "$target" || continue
      before=$(cpu_ticks "$target")
      busy=$(machine_busy_ticks)
      read -r rps p50 p99 errs reqs < <(run_wrk "${PORT[$target]}" "$scenario")
      # tlsnew: one request per connection, so requests are handshakes and
      # CPU per request is CPU per handshake.
      cpu=$(cpu_us_per "$target" "$before" "$reqs")
      machine=$(machine_us_per "$busy" "$reqs")
      rate=$rps
      [[ $scenario == bulk ]] && rate=$(awk -v r="$rps" 'BEGIN { printf "%.1f", r * 1.048576 }')
      hs=()
      if [[ $scenario == tlsnew ]]; then
        full=null resumed=null
        [[ -s $WORK/tls-counts ]] && read -r full resumed <"$WORK/tls-counts"
        hs=(handshakes_full="$full" handshakes_resumed="$resumed")
        [[ $resumed == 0 ]] || note "tlsnew round $round $target: $resumed resumed handshakes (of $full full)"
      fi
      log "  $scenario round $round $target: $rate $unit, p50 $p50 ms, p99 $p99 ms, errors $errs, cpu ${cpu} us/req," \
        "machine ${machine} us/req" "${hs[*]}"
      record scenario="$scenario" target="$target" round="$round" rate="$rate" unit="$unit" req_per_s="$rps" \
        p50_ms="$p50" p99_ms="$p99" errors="$errs" requests="$reqs" cpu_us_per_req="$cpu" \
        machine_us_per_req="$machine" "${hs[@]}"
    done
  done
  [[ $scenario == tlsnew ]] && s_time_check
  stop_targets
}

# s_time_check: tlsnew's cross-check with another client: `openssl s_time
# -new` makes a full handshake per connection (a new session each time, no
# request), one connection at a time, for S_TIME seconds per target. Rate from
# the wall clock (s_time's own is in whole seconds).
s_time_check() {
  ((S_TIME > 0)) || return 0
  local target before t0 t1 out n rate cpu
  for target in "${ACTIVE[@]}"; do
    usable "$target" || continue
    before=$(cpu_ticks "$target")
    t0=$(date +%s.%N)
    out=$(timeout $((S_TIME + 30)) openssl s_time -connect "127.0.0.1:${PORT[$target]}" -new -time "$S_TIME" 2>&1) || true
    t1=$(date +%s.%N)
    n=$(awk '/connections in .* real seconds/ { print $1; exit }' <<<"$out")
    [[ -n $n ]] || { note "openssl s_time failed against $target: $(tail -n 1 <<<"$out")"; continue; }
    rate=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
    cpu=$(cpu_us_per "$target" "$before" "$n")
    log "  tlsnew s_time $target: $rate handshakes/s, cpu ${cpu} us/handshake ($n handshakes, one at a time)"
    record scenario=tlsnew-s_time target="$target" round=1 rate="$rate" unit=handshakes/s requests="$n" \
      cpu_us_per_req="$cpu" errors=0
  done
}

# tls_check: what each active target negotiates with an OpenSSL client's
# defaults (wrk's too: the same OpenSSL), recorded and shown under the table,
# so that a difference in protocol, cipher or key exchange shows.
tls_check() {
  local target out
  for target in "${ACTIVE[@]}"; do
    out=$(timeout 10 openssl s_client -connect "127.0.0.1:${PORT[$target]}" -servername localhost \
      </dev/null 2>/dev/null | awk '/^New, / { sub(/^New, /, ""); p = $0 } /^Server Temp Key: / { sub(/^Server Temp Key: /, ""); k = $0 }
        END { print p ", key exchange " k }') || true
    log "  $target negotiates: $out"
    record scenario="$scenario-negotiated" target="$target" negotiated="$out"
  done
}

# --- scenario 4: UDP request/reply ------------------------------------------------------
udp_scenario() {
  local round target before out dps p50 p99 lost count cpu
  start_targets udp 0
  log "udp: ${ACTIVE[*]}; $ROUNDS interleaved rounds of udp_load ${DURATION}s"
  for round in $(seq 1 "$ROUNDS"); do
    for target in "${ACTIVE[@]}"; do
      usable "$target" || continue
      before=$(cpu_ticks "$target")
      out=$(timeout $((DURATION + 30)) "$UDP_LOAD" --target "127.0.0.1:${PORT[$target]}" --clients "$UDP_CLIENTS" \
        --outstanding "$UDP_OUTSTANDING" --size "$UDP_SIZE" --source-ips 8 --duration "$DURATION" \
        --warmup 0.5 2>&1) || true
      read -r dps p50 p99 lost count < <(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
        END { printf "%.0f %.3f %.3f %d %d\n", v["datagrams_per_s"] + 0, v["p50_us"] / 1000, v["p99_us"] / 1000,
          v["lost"] + 0, v["sent"] + 0 }' <<<"$out")
      # CPU over the warm-up and the measured window, per datagram sent in them.
      cpu=$(cpu_us_per "$target" "$before" "$count")
      log "  udp round $round $target: $dps datagrams/s, p50 $p50 ms, p99 $p99 ms, lost $lost, cpu ${cpu} us/req"
      record scenario=udp target="$target" round="$round" rate="$dps" unit=req/s p50_ms="$p50" p99_ms="$p99" \
        errors="$lost" requests="$count" cpu_us_per_req="$cpu"
    done
  done
  stop_targets
}

# --- scenario 5: many distinct clients ------------------------------------------------------
# Each (N, target) gets a fresh balancer with room for N clients, so that every
# run starts from an empty table.
kv() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' <<<"$2"; }
clients_scenario() {
  local n target round bound before out cpu rss idle table
  for n in $CLIENT_COUNTS; do
    bound=$CLIENTS_TIME
    ((n >= 1000000)) && bound=$CLIENTS_1M_TIME
    # Room for the N clients plus the readiness probes (from 127.0.0.1): a
    # full table evicts, and nib's LRU is exact only within a shard.
    table=$((n + 64))
    ((table < 2048)) && table=2048
    for round in $(seq 1 "${CLIENT_ROUNDS:-1}"); do
      for target in $TARGETS; do
        ACTIVE=()
        start_target "$target" tcp "$table" || { note "$target skipped in clients/$n (failed to start)"; continue; }
        ACTIVE=("$target")
        idle=0
        [[ $target != direct ]] && idle=$(group_rss_kb "${PID[$target]}")
        before=$(cpu_ticks "$target")
        out=$(timeout $((bound + 30)) "$CONN_LOAD" --target "127.0.0.1:${PORT[$target]}" --clients "$n" \
          --concurrency "$CLIENTS_CONCURRENCY" --duration "$bound" 2>&1) || true
        cpu=$(cpu_us_per "$target" "$before" "$(kv connections "$out")")
        rss=0
        [[ $target != direct ]] && usable "$target" && rss=$(group_rss_kb "${PID[$target]}")
        stop_targets
        if [[ -z $(kv connections "$out") ]]; then
          note "conn_load failed against $target with $n clients: $out"
          continue
        fi
        log "  clients $n $target: $(kv conn_per_s "$out") conn/s, breaks $(kv breaks "$out")/$(kv revisits "$out")," \
          "distinct $(kv distinct "$out"), complete $(kv complete "$out"), errors $(kv errors "$out"), cpu $cpu us/conn"
        record scenario="clients-$n" target="$target" round="$round" rate="$(kv conn_per_s "$out")" unit=conn/s \
          p50_ms="$(kv p50_ms "$out")" p99_ms="$(kv p99_ms "$out")" errors="$(kv errors "$out")" \
          requests="$(kv connections "$out")" cpu_us_per_req="$cpu" clients="$n" breaks="$(kv breaks "$out")" \
          revisits="$(kv revisits "$out")" distinct="$(kv distinct "$out")" complete="$(kv complete "$out")" \
          elapsed_s="$(kv elapsed_s "$out")" bound_s="$bound" rss_idle_kb="$idle" rss_kb="$rss"
      done
    done
  done
}

# --- scenario 6 (memory): idle, with HOLD idle connections, nib with FILL entries -----------
memory_scenario() {
  local target idle held rss out
  for target in $TARGETS; do
    [[ $target == direct ]] && continue
    ACTIVE=()
    start_target "$target" tcp 0 || { note "$target skipped in memory (failed to start)"; continue; }
    ACTIVE=("$target")
    sleep 0.5
    idle=$(group_rss_kb "${PID[$target]}")
    spawn holder "$CONN_LOAD" --hold "$HOLD" --target "127.0.0.1:${PORT[$target]}" --duration 120
    for _ in $(seq 1 600); do
      grep -q '^held=' "$WORK/holder.log" 2>/dev/null && break
      alive "${PID[holder]}" || break
      sleep 0.05
    done
    held=$(sed -n 's/^held=\([0-9]*\).*/\1/p' "$WORK/holder.log")
    rss=$(group_rss_kb "${PID[$target]}")
    stop holder
    stop_targets
    log "  memory $target: idle $idle kB, with ${held:-0} idle connections $rss kB"
    record scenario=memory target="$target" rss_idle_kb="$idle" rss_held_kb="$rss" held="${held:-0}" hold="$HOLD"
  done
  if [[ " $TARGETS " == *" nib "* ]]; then
    # A table with room for FILL clients, filled by new clients only, in two
    # halves of FILL_TIME: the second half's RSS growth per entry leaves out
    # the fixed costs (first pages of the table's shards, buffers, ...).
    ACTIVE=()
    if start_target nib tcp "$FILL"; then
      ACTIVE=(nib)
      sleep 0.5
      idle=$(group_rss_kb "${PID[nib]}")
      local half mid e1 e2 rate1 rate2
      half=$(awk -v t="$FILL_TIME" 'BEGIN { print t / 2 }')
      out=$(timeout $((FILL_TIME + 30)) "$CONN_LOAD" --target "127.0.0.1:${PORT[nib]}" --clients "$FILL" \
        --no-revisit --passes 1 --concurrency "$CLIENTS_CONCURRENCY" --duration "$half" 2>&1) || true
      e1=$(kv distinct "$out")
      rate1=$(kv conn_per_s "$out")
      mid=$(group_rss_kb "${PID[nib]}")
      out=$(timeout $((FILL_TIME + 30)) "$CONN_LOAD" --target "127.0.0.1:${PORT[nib]}" \
        --clients "$((FILL - ${e1:-0}))" --first "${e1:-0}" --no-revisit --passes 1 \
        --concurrency "$CLIENTS_CONCURRENCY" --duration "$half" 2>&1) || true
      e2=$(kv distinct "$out")
      rate2=$(kv conn_per_s "$out")
      rss=$(group_rss_kb "${PID[nib]}")
      stop_targets
      log "  memory nib -c $FILL: idle $idle kB, $e1 clients: $mid kB, $((${e1:-0} + ${e2:-0})) clients: $rss kB"
      record scenario=memory-fill target=nib table="$FILL" rss_idle_kb="$idle" rss_mid_kb="$mid" rss_kb="$rss" \
        entries_mid="${e1:-0}" entries="$((${e1:-0} + ${e2:-0}))" conn_per_s_first="${rate1:-0}" \
        conn_per_s_second="${rate2:-0}" fill_s="$FILL_TIME"
    fi
    # The table alone at 1M and 10M entries, in-process (Google Benchmark, when built).
    if [[ -x $AFFINITY_BENCH ]]; then
      out=$(timeout 120 "$AFFINITY_BENCH" --benchmark_filter='^BM_LookupHit/1048576/real_time$|BM_MemoryPerEntry10M' \
        --benchmark_min_time=0.01 --benchmark_format=json 2>"$WORK/affinity_bench.err") || true
      local bpe
      bpe=$(python3 -c 'import json,sys; print([round(b["bytes_per_entry"], 1) for b in json.load(sys.stdin)["benchmarks"]
        if "bytes_per_entry" in b][0])' <<<"$out" 2>/dev/null || true)
      # The lookup benchmark's fill says "affinity table N entries: RSS +X MB, Y bytes/entry" on stderr.
      read -r n1m bpe1m < <(awk '/^affinity table [0-9]+ entries:/ { n = $3; b = $(NF - 1) } END { print n + 0, b + 0 }' \
        "$WORK/affinity_bench.err")
      if [[ -n $bpe ]]; then
        log "  memory affinity table (micro benchmark): $bpe1m bytes/entry at $n1m entries, $bpe at 10M"
        record scenario=memory-micro target=nib entries="$n1m" bytes_per_entry="$bpe1m" source=affinity_table_bench
        record scenario=memory-micro target=nib entries=10000000 bytes_per_entry="$bpe" source=affinity_table_bench
      fi
    else
      note "affinity_table_bench not built: no in-process 10M figure"
    fi
  fi
}

# --- scenario 9 (latency): fixed-rate load, corrected for coordinated omission ----------------
# run_rate PORT RATE DURATION [ARGS...]: conn_load's rate mode (RATE 0: closed
# loop); prints its result line ("requests=... p99_us=...") or nothing.
run_rate() {
  local port=$1 rate=$2 duration=$3
  shift 3
  timeout $((${duration%.*} + 40)) "$CONN_LOAD" --target "127.0.0.1:$port" --rate "$rate" --duration "$duration" \
    "$@" 2>&1 | grep '^requests=' || true
}
# The peers' maximum: the highest closed-loop rate among pen, HAProxy and
# nginx in this run (each with LAT_CONNS keep-alive connections), so that the
# levels are the same requests/s for every target and a balancer is asked
# for what its competitors sustain. Without any peer, the highest of all.
latency_scenario() {
  local target round level out rate max=0 peer_max=0 close_max=0 peer_close=0 before cpu mode
  local modes=(keep)
  ((LAT_CLOSE)) && modes+=(close)
  start_targets tcp 0
  log "latency: ${ACTIVE[*]}; max rate ${LAT_PROBE}s closed loop, then $ROUNDS rounds of ${LAT_LEVELS// /%, }% for" \
    "${LAT_DURATION}s each"
  for mode in "${modes[@]}"; do
    local extra=()
    [[ $mode == close ]] && extra=(--close)
    for target in "${ACTIVE[@]}"; do
      usable "$target" || continue
      before=$(cpu_ticks "$target")
      out=$(run_rate "${PORT[$target]}" 0 "$LAT_PROBE" --connections "$LAT_CONNS" "${extra[@]}")
      rate=$(kv achieved "$out")
      [[ -n $rate ]] || { note "latency: the closed-loop run against $target failed"; continue; }
      cpu=$(cpu_us_per "$target" "$before" "$(kv requests "$out")")
      log "  latency max ($mode) $target: $rate req/s closed loop, p99 $(kv p99_us "$out") us"
      record scenario="latency-max-$mode" target="$target" round=1 rate="$rate" unit=req/s \
        p50_ms="$(awk -v v="$(kv p50_us "$out")" 'BEGIN { print v / 1000 }')" \
        p99_ms="$(awk -v v="$(kv p99_us "$out")" 'BEGIN { print v / 1000 }')" errors="$(kv errors "$out")" \
        requests="$(kv requests "$out")" cpu_us_per_req="$cpu"
      if [[ $mode == keep ]]; then
        max=$(awk -v a="$max" -v b="$rate" 'BEGIN { print (b > a) ? b : a }')
        [[ " pen haproxy nginx " == *" $target "* ]] &&
          peer_max=$(awk -v a="$peer_max" -v b="$rate" 'BEGIN { print (b > a) ? b : a }')
      else
        close_max=$(awk -v a="$close_max" -v b="$rate" 'BEGIN { print (b > a) ? b : a }')
        [[ " pen haproxy nginx " == *" $target "* ]] &&
          peer_close=$(awk -v a="$peer_close" -v b="$rate" 'BEGIN { print (b > a) ? b : a }')
      fi
    done
  done
  if awk -v p="$peer_max" 'BEGIN { exit !(p <= 0) }'; then
    note "latency: no peer (pen, haproxy, nginx) measured; levels are % of the highest target's rate ($max req/s)"
    peer_max=$max
    peer_close=$close_max
  fi
  awk -v p="$peer_max" 'BEGIN { exit !(p <= 0) }' && { note "latency: no maximum rate measured; skipped"; stop_targets; return; }
  log "latency: the peers' maximum keep-alive rate is $peer_max req/s"
  local runs=()
  for level in $LAT_LEVELS; do runs+=("keep:$level"); done
  ((LAT_CLOSE)) && runs+=("close:50")
  for round in $(seq 1 "$ROUNDS"); do
    for run in "${runs[@]}"; do
      mode=${run%%:*} level=${run#*:}
      local base=$peer_max name="latency-$level" extra=()
      [[ $mode == close ]] && { base=$peer_close; name="latency-close-$level"; extra=(--close); }
      rate=$(awk -v m="$base" -v l="$level" 'BEGIN { r = m * l / 100; printf "%.0f", r < 1 ? 1 : r }')
      for target in "${ACTIVE[@]}"; do
        usable "$target" || continue
        before=$(cpu_ticks "$target")
        out=$(run_rate "${PORT[$target]}" "$rate" "$LAT_DURATION" --connections "$LAT_CONNS" "${extra[@]}")
        [[ -n $out ]] || { note "latency: conn_load failed against $target at $rate req/s"; continue; }
        cpu=$(cpu_us_per "$target" "$before" "$(kv requests "$out")")
        log "  $name round $round $target: $rate req/s asked, $(kv achieved "$out") done, p50 $(kv p50_us "$out")" \
          "us, p99 $(kv p99_us "$out") us, p99.9 $(kv p999_us "$out") us, errors $(kv errors "$out"), late" \
          "$(kv late "$out"), cpu $cpu us/req"
        record scenario="$name" target="$target" round="$round" rate="$(kv achieved "$out")" unit=req/s \
          target_rate="$rate" level_pct="$level" peer_max="$base" mode="$mode" \
          p50_ms="$(awk -v v="$(kv p50_us "$out")" 'BEGIN { print v / 1000 }')" \
          p99_ms="$(awk -v v="$(kv p99_us "$out")" 'BEGIN { print v / 1000 }')" \
          p999_ms="$(awk -v v="$(kv p999_us "$out")" 'BEGIN { print v / 1000 }')" \
          max_ms="$(awk -v v="$(kv max_us "$out")" 'BEGIN { print v / 1000 }')" errors="$(kv errors "$out")" \
          late="$(kv late "$out")" requests="$(kv requests "$out")" cpu_us_per_req="$cpu"
      done
    done
  done
  stop_targets
}

# --- scenario 10 (idle): many idle keep-alive connections, 1% of them active -------------------
# A fresh balancer per target; conn_load opens IDLE_CONNS keep-alive
# connections (each warmed by one request, so the balancer holds both sides),
# then keeps IDLE_ACTIVE requests in flight, each on the connection idle
# longest, so the whole set is used in turn. CPU per request over the measured
# part only; RSS before, and with the connections open.
idle_scenario() {
  local target out before cpu idle held_rss held failed
  for target in $TARGETS; do
    ACTIVE=()
    start_target "$target" tcp 0 || { note "$target skipped in idle (failed to start)"; continue; }
    ACTIVE=("$target")
    sleep 0.5
    idle=0
    [[ $target != direct ]] && idle=$(group_rss_kb "${PID[$target]}")
    spawn idler "$CONN_LOAD" --target "127.0.0.1:${PORT[$target]}" --rate "$IDLE_RATE" --connections "$IDLE_CONNS" \
      --active "$IDLE_ACTIVE" --duration "$IDLE_DURATION" --linger 30
    # Opening: bounded (each connection gets 5 s; 200 open at once).
    for _ in $(seq 1 1200); do
      grep -q '^held=' "$WORK/idler.log" 2>/dev/null && break
      alive "${PID[idler]}" || break
      sleep 0.05
    done
    before=$(cpu_ticks "$target")
    held_rss=0
    [[ $target != direct ]] && usable "$target" && held_rss=$(group_rss_kb "${PID[$target]}")
    for _ in $(seq 1 $(((${IDLE_DURATION%.*} + 15) * 20))); do
      grep -q '^requests=' "$WORK/idler.log" 2>/dev/null && break
      alive "${PID[idler]}" || break
      sleep 0.05
    done
    out=$(grep '^requests=' "$WORK/idler.log" || true)
    held=$(sed -n 's/^held=\([0-9]*\).*/\1/p' "$WORK/idler.log")
    failed=$(sed -n 's/^held=[0-9]* failed=\([0-9]*\).*/\1/p' "$WORK/idler.log")
    cpu=null
    usable "$target" && cpu=$(cpu_us_per "$target" "$before" "$(kv requests "$out")")
    stop idler
    stop_targets
    if [[ -z $out ]]; then
      note "idle: conn_load failed against $target: $(tail -n 2 "$WORK/idler.log" | tr '\n' ' ')"
      continue
    fi
    ((${held:-0} < IDLE_CONNS)) && note "idle: $target held ${held:-0} of $IDLE_CONNS connections (${failed:-?} failed to open)"
    log "  idle $target: ${held:-0} held (${failed:-0} failed), $(kv achieved "$out") req/s with $IDLE_ACTIVE active," \
      "p50 $(kv p50_us "$out") us, p99 $(kv p99_us "$out") us, errors $(kv errors "$out"), cpu $cpu us/req," \
      "RSS $idle kB idle, $held_rss kB held"
    record scenario=idle target="$target" round=1 rate="$(kv achieved "$out")" unit=req/s \
      p50_ms="$(awk -v v="$(kv p50_us "$out")" 'BEGIN { print v / 1000 }')" \
      p99_ms="$(awk -v v="$(kv p99_us "$out")" 'BEGIN { print v / 1000 }')" \
      p999_ms="$(awk -v v="$(kv p999_us "$out")" 'BEGIN { print v / 1000 }')" errors="$(kv errors "$out")" \
      max_ms="$(awk -v v="$(kv max_us "$out")" 'BEGIN { print v / 1000 }')" \
      requests="$(kv requests "$out")" cpu_us_per_req="$cpu" held="${held:-0}" failed="${failed:-0}" \
      connections="$IDLE_CONNS" active="$IDLE_ACTIVE" target_rate="$IDLE_RATE" rss_idle_kb="$idle" \
      rss_held_kb="$held_rss"
  done
}

# --- run -------------------------------------------------------------------------------------
log "nib: $NIB; targets: $TARGETS; scenarios: $SCENARIOS; rounds $ROUNDS, ${DURATION}s each"
for scenario in $SCENARIOS; do
  case $scenario in
    keepalive | close | bulk | tls | tlsnew) wrk_scenario "$scenario" ;;
    udp) udp_scenario ;;
    clients) clients_scenario ;;
    memory) memory_scenario ;;
    latency) latency_scenario ;;
    idle) idle_scenario ;;
  esac
done

# --- report ----------------------------------------------------------------------------------
mkdir -p "$RESULTS_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
JSON=$RESULTS_DIR/run-$STAMP.json
SVG=$RESULTS_DIR/run-$STAMP.svg
META=$WORK/meta.json
{
  printf '{"date": "%s", "elapsed_s": %s, "quick": %s,\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$(($(date +%s) - START_TIME))" "$QUICK"
  printf ' "host": {"kernel": "%s", "cpus": %s, "cpu": "%s"},\n' "$(uname -r)" "$(nproc)" \
    "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo | tr -d '"')"
  printf ' "config": {"rounds": %s, "duration_s": %s, "conns": %s, "bulk_conns": %s, "wrk_threads": %s,' \
    "$ROUNDS" "$DURATION" "$CONNS" "$BULK_CONNS" "$THREADS"
  printf ' "udp_clients": %s, "udp_outstanding": %s, "udp_size": %s, "client_counts": "%s",' \
    "$UDP_CLIENTS" "$UDP_OUTSTANDING" "$UDP_SIZE" "$CLIENT_COUNTS"
  printf ' "clients_time_s": %s, "clients_1m_time_s": %s, "hold": %s, "fill": %s, "fill_time_s": %s, "s_time_s": %s,' \
    "$CLIENTS_TIME" "$CLIENTS_1M_TIME" "$HOLD" "$FILL" "$FILL_TIME" "$S_TIME"
  printf ' "lat_levels": "%s", "lat_probe_s": %s, "lat_duration_s": %s, "lat_conns": %s, "lat_close": %s,' \
    "$LAT_LEVELS" "$LAT_PROBE" "$LAT_DURATION" "$LAT_CONNS" "$LAT_CLOSE"
  printf ' "idle_conns": %s, "idle_active": %s, "idle_rate": %s, "idle_duration_s": %s, "nofile": %s,' \
    "$IDLE_CONNS" "$IDLE_ACTIVE" "$IDLE_RATE" "$IDLE_DURATION" "$(ulimit -n)"
  printf ' "targets": "%s", "scenarios": "%s", "nib": "%s", "nib_commit": "%s"},\n' "$TARGETS" "$SCENARIOS" "$NIB" \
    "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  printf ' "versions": {"nib": "%s", "pen": "%s", "haproxy": "%s", "nginx": "%s", "wrk": "%s", "openssl": "%s"},\n' \
    "$("$NIB" --version 2>&1 | head -1 | tr -d '"')" "$(dpkg-query -W -f '${Version}' pen 2>/dev/null)" \
    "$(dpkg-query -W -f '${Version}' haproxy 2>/dev/null)" "$(dpkg-query -W -f '${Version}' nginx 2>/dev/null)" \
    "$(dpkg-query -W -f '${Version}' wrk 2>/dev/null)" "$(dpkg-query -W -f '${Version}' libssl3 2>/dev/null)"
  printf ' "notes": ['
  sep=""
  for n in "${NOTES[@]}"; do
    printf '%s"%s"' "$sep" "$(printf '%s' "$n" | tr -d '"\\\n')"
    sep=", "
  done
  printf ']}\n'
} >"$META"
python3 "$REPO/bench/report.py" "$META" "$RECORDS" "$JSON"
python3 "$REPO/bench/plot.py" "$JSON" "$SVG" && log "chart: $SVG"
if [[ -n $CHART ]]; then cp "$SVG" "$CHART" && log "chart copied to $CHART"; fi
printf '\nresults: %s\ntotal time: %s s\n' "$JSON" "$(($(date +%s) - START_TIME))"
