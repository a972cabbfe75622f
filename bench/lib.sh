# shellcheck shell=bash disable=SC2034
# Shared setup for bench/run.sh: tools, processes (each in its own process
# group, all stopped on exit), ports, the nginx and UDP echo backends, the
# balancers' configurations, and /proc sampling. Source it; it sets no
# options of its own and starts nothing until asked.
#
# The caller sets REPO and WORK_PREFIX, then calls bench_init.

log() { printf '%s\n' "$*" >&2; }
die() { log "${BENCH_NAME:-bench}: $*"; exit 1; }

# --- tools -------------------------------------------------------------------
# bench_install PKG...: apt-get installs the missing ones (through sudo when
# not root), or fails when NO_INSTALL=1.
bench_install() {
  local missing=() pkg
  for pkg in "$@"; do
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

NGINX_STREAM=/usr/lib/nginx/modules/ngx_stream_module.so

# --- processes: every one we start is stopped on exit --------------------------
declare -A PID=()

bench_init() {
  PATH=$PATH:/usr/sbin:/sbin  # haproxy and nginx live in sbin
  WORK=$(mktemp -d "/tmp/${WORK_PREFIX:-nib-bench}.XXXXXX")
  # Run as root, nginx's workers drop to an unprivileged user who must read the pages.
  chmod 755 "$WORK"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

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

# stop NAME: stops a process started with start/spawn (no-op if not running).
stop() {
  [[ -n ${PID[$1]:-} ]] || return 0
  stop_group "${PID[$1]}"
  unset "PID[$1]"
}

bench_cleanup() {
  local name
  for name in "${!PID[@]}"; do stop_group "${PID[$name]}"; done
  [[ -n ${WORK:-} && ${KEEP_WORK:-0} != 1 ]] && rm -rf "$WORK"
  return 0
}

# spawn NAME CMD...: runs CMD in the background in its own process group
# (setsid does not fork here: a background job is no group leader, so the pid
# is the group id), output to $WORK/NAME.log.
spawn() {
  local name=$1
  shift
  setsid "$@" >"$WORK/$name.log" 2>&1 &
  PID[$name]=$!
}

# Readiness checks: ready_KIND PID PORT; false if the process died or never was.
ready_http() {
  for _ in $(seq 1 100); do
    alive "$1" || return 1
    curl -sf -m 1 -o /dev/null "http://127.0.0.1:$2/" && return 0
    sleep 0.05
  done
  return 1
}
# The same over TLS (the balancer terminates it; -k: the benchmark's
# certificate is self-signed).
ready_https() {
  for _ in $(seq 1 100); do
    alive "$1" || return 1
    curl -sfk -m 1 -o /dev/null "https://127.0.0.1:$2/" && return 0
    sleep 0.05
  done
  return 1
}
ready_udp() {
  for _ in $(seq 1 50); do
    alive "$1" || return 1
    "$UDP_LOAD" --probe "127.0.0.1:$2" --timeout 100 && return 0
    sleep 0.05
  done
  return 1
}

# start NAME KIND PORT CMD...: spawn, then wait for ready_KIND on PORT. On
# failure, says why, stops it and returns 1.
start() {
  local name=$1 kind=$2 port=$3
  shift 3
  spawn "$name" "$@"
  if "ready_$kind" "${PID[$name]}" "$port"; then
    return 0
  fi
  log "  $name failed to start or to answer on 127.0.0.1:$port. Its output:"
  tail -n 5 "$WORK/$name.log" | sed 's/^/    /' >&2
  stop "$name"
  return 1
}

# A port free right now on 127.0.0.1 for both TCP and UDP (the race with other
# programs is accepted).
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    [[ " ${USED_PORTS:-} " == *" $p "* ]] && continue
    if [[ -z $(ss -Htaun "sport = :$p" 2>/dev/null) ]]; then
      USED_PORTS="${USED_PORTS:-} $p"
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

# --- /proc sampling ---------------------------------------------------------
# CPU time (utime + stime, clock ticks) of all processes in group $1: for
# nginx that is the master and its workers.
group_cpu_ticks() {
  local pid sum=0 stat
  for pid in $(pgrep -g "$1" 2>/dev/null); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    # Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
    sum=$((sum + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' <<<"$stat")))
  done
  echo "$sum"
}
CLK_TCK=$(getconf CLK_TCK)

# Busy clock ticks of the whole machine, all CPUs (user, nice, system, irq,
# softirq, steal from /proc/stat): what a request costs everything together,
# load generator and backends included. A balancer that moves its work into
# the kernel's softirqs (the in-kernel relay) shows it here, not in its own
# utime + stime.
machine_busy_ticks() {
  awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# Resident memory (kB, VmRSS summed) of group $1.
group_rss_kb() {
  local pid sum=0 kb
  for pid in $(pgrep -g "$1" 2>/dev/null); do
    kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
    sum=$((sum + ${kb:-0}))
  done
  echo "$sum"
}

# --- backends -------------------------------------------------------------------
# start_nginx_backend NAME PORT: nginx with one worker serving a ~100-byte
# page at /, a 1 MiB file at /1m, and its own name at /who (what conn_load
# reads to count affinity breaks).
start_nginx_backend() {
  local name=$1 port=$2 dir=$WORK/$1
  mkdir -p "$dir/html" "$dir/tmp"
  printf '<html><body>nib benchmark backend %s: a page of about one hundred bytes.</body></html>\n' \
    "$name" >"$dir/html/index.html"
  head -c 1048576 /dev/zero | tr '\0' 'x' >"$dir/html/1m"
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
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$port reuseport backlog=4096;
    location / { root html; }
    location = /who { default_type text/plain; return 200 "$name\n"; }
  }
}
CONF
  start "$name" http "$port" nginx -p "$dir" -c "$dir/nginx.conf" -e stderr \
    -g "daemon off; pid $dir/nginx.pid;"
}

# start_udp_echo NAME PORT: udp_load's echo server, one thread.
start_udp_echo() {
  start "$1" udp "$2" "$UDP_LOAD" --echo "$2"
}

# --- balancer configurations --------------------------------------------------------
# haproxy_config FILE PORT THREADS BALANCE B1 B2 [PEM]: mode tcp. As many connections as
# pen's -x 10000, but HAProxy refuses to start unless 2 fds per connection fit
# under the fd limit. PEM (certificate and key in one file): the frontend
# terminates TLS with it (`bind ... ssl crt PEM`), HAProxy's defaults otherwise.
haproxy_config() {
  local file=$1 port=$2 threads=$3 balance=$4 b1=$5 b2=$6 pem=${7:-} ssl=""
  [[ -n $pem ]] && ssl=" ssl crt $pem"
  local maxconn=$((($(ulimit -n) - 200) / 2))
  ((maxconn > 10000)) && maxconn=10000
  cat >"$file" <<CONF
global
  nbthread $threads
  maxconn $maxconn
defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s
frontend fe
  bind 127.0.0.1:$port$ssl
  maxconn $maxconn
  default_backend be
backend be
  balance $balance
  server b1 127.0.0.1:$b1
  server b2 127.0.0.1:$b2
CONF
}

# nginx_stream_config DIR PORT PROTO(tcp|udp) HASH(0|1) B1 B2 [CERT KEY]: nginx's stream
# proxy with one worker; HASH=1 keeps a client on one backend (hash $remote_addr).
# CERT and KEY: the server terminates TLS (`listen ... ssl`), nginx's defaults
# otherwise (no session cache, tickets on) but for the protocols: nginx 1.22's
# default leaves TLS 1.3 out, which the other balancers (and OpenSSL) offer.
nginx_stream_config() {
  local dir=$1 port=$2 proto=$3 hash=$4 b1=$5 b2=$6 cert=${7:-} key=${8:-} listen_opts="backlog=4096" balance=""
  local tls=""
  [[ $proto == udp ]] && listen_opts="udp"
  [[ $hash == 1 ]] && balance="hash \$remote_addr;"
  if [[ -n $cert ]]; then
    listen_opts+=" ssl"
    tls="ssl_certificate $cert; ssl_certificate_key $key; ssl_protocols TLSv1.2 TLSv1.3;"
  fi
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<CONF
load_module $NGINX_STREAM;
worker_processes 1;
worker_rlimit_nofile 20000;
# Counts both sides of a proxied connection: 9,900 clients, HAProxy's maxconn.
events { worker_connections 19800; }
stream {
  upstream be {
    $balance
    server 127.0.0.1:$b1;
    server 127.0.0.1:$b2;
  }
  server {
    listen 127.0.0.1:$port $listen_opts;
    $tls
    proxy_pass be;
    proxy_timeout 120s;
  }
}
CONF
}

# --- statistics -------------------------------------------------------------------------
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
  if (NR == 0) { print 0; exit } if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
