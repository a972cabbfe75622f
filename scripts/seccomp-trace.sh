#!/usr/bin/env bash
# Regenerates docker/seccomp.json, the seccomp profile that allows only the
# system calls nib makes (issue 14): runs build/server/nib under strace
# through everything the image does - TCP (copy and splice) and UDP relays,
# TCP/HTTP/UDP health checks, the admin plane (REST, gRPC via nibctl,
# /metrics, the status page), a backend added at run time, the state file,
# the access log, SIGHUP reload, SIGUSR1 reopen, SIGTERM - and writes the
# calls it saw, plus the runtime's calls that are rare or timing-dependent
# (listed below, each with its reason), as an allow-list. Anything else gets
# EPERM (not a kill: a call missed here fails one operation, loudly, instead
# of the process). Run as root on Debian 12 after scripts/build.sh; needs
# strace, curl, python3. scripts/verify-docker.sh runs the image under it.
set -euo pipefail
cd "$(dirname "$0")/.."
NIB=${NIB:-build/server/nib}
NIBCTL=${NIBCTL:-build/server/nibctl}
OUT=${OUT:-docker/seccomp.json}
command -v strace >/dev/null || { echo "seccomp-trace: install strace" >&2; exit 1; }
tmp=$(mktemp -d /tmp/nib-seccomp.XXXXXX)
pids=()
cleanup() {
  # nib itself first: a killed strace detaches and would leave it running.
  [ -s "$tmp/nib.pid" ] && kill "$(cat "$tmp/nib.pid")" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
read -r p_svc p_raw p_udp p_b1 p_b2 p_u1 p_http p_grpc <<<"$(for _ in 1 2 3 4 5 6 7 8; do port; done | tr '\n' ' ')"

mkdir -p "$tmp/www"
head -c 4194304 /dev/urandom >"$tmp/www/bulk"   # big enough to splice
echo ok >"$tmp/www/healthz"
(cd "$tmp/www" && exec python3 -m http.server --bind 127.0.0.1 "$p_b1" >/dev/null 2>&1) & pids+=($!)
(cd "$tmp/www" && exec python3 -m http.server --bind 127.0.0.1 "$p_b2" >/dev/null 2>&1) & pids+=($!)
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(65535); s.sendto(b"pong" if d == b"ping" else d, a)' "$p_u1" & pids+=($!)
printf 'admin seccomp-admin-token-0123456789\n' >"$tmp/tokens"
cat >"$tmp/nib.yaml" <<YAML
workers: 2
shutdown_grace: 2
access_log: {path: $tmp/access.log, format: json}
admin: {http_listen: 127.0.0.1:$p_http, grpc_listen: 127.0.0.1:$p_grpc, token_file: $tmp/tokens}
services:
  - name: web
    listen: 127.0.0.1:$p_svc
    health_check: {type: http, path: /healthz, interval: 0.2, timeout: 0.1}
    backends: [127.0.0.1:$p_b1]
  - name: raw
    listen: 127.0.0.1:$p_raw
    health_check: {type: send-expect, send: "GET /healthz HTTP/1.0\\r\\n\\r\\n", expect: "HTTP/1.. 20[0-9]",
                   expect_regex: true, interval: 0.2, timeout: 0.1}
    backends: [127.0.0.1:$p_b2]
  - name: dns
    protocol: udp
    listen: 127.0.0.1:$p_udp
    health_check: {send: ping, expect: pong, interval: 0.2, timeout: 0.1}
    backends: [127.0.0.1:$p_u1]
YAML
strace -f -qq -o "$tmp/trace" "$NIB" --config "$tmp/nib.yaml" --state "$tmp/state.json" -p "$tmp/nib.pid" \
  >"$tmp/nib.out" 2>&1 &
tracer=$!
pids+=($tracer)
auth=(-H "Authorization: Bearer seccomp-admin-token-0123456789")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p_http/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$p_http/readyz" >/dev/null || { cat "$tmp/nib.out"; exit 1; }
nib=$(cat "$tmp/nib.pid")  # signals go to nib itself, not to strace
for _ in 1 2 3; do curl -sf -o /dev/null "http://127.0.0.1:$p_svc/healthz"; done
curl -sf -o /dev/null "http://127.0.0.1:$p_svc/bulk"
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
for _ in range(3): s.sendto(b"hello", ("127.0.0.1", int(sys.argv[1]))); s.recvfrom(100)' "$p_udp"
curl -sf "${auth[@]}" -o /dev/null "http://127.0.0.1:$p_http/metrics"
curl -sf "${auth[@]}" -o /dev/null "http://127.0.0.1:$p_http/"
curl -sf "${auth[@]}" -o /dev/null -X POST -H 'Content-Type: application/json' \
  -d "{\"address\": \"127.0.0.1\", \"port\": $p_b2}" "http://127.0.0.1:$p_http/api/v1/services/web/backends"
printf 'seccomp-admin-token-0123456789\n' >"$tmp/token"
"$NIBCTL" --addr "127.0.0.1:$p_grpc" --token-file "$tmp/token" --service web backends list >/dev/null
kill -HUP "$nib"; sleep 1
kill -USR1 "$nib"; sleep 0.5
curl -sf -o /dev/null "http://127.0.0.1:$p_svc/healthz"
kill -TERM "$nib"; wait "$tracer" || true

observed=$(awk '{ sub(/^[0-9]+ +/, ""); if (match($0, /^[a-z_0-9]+\(/)) print substr($0, 1, RLENGTH - 1) }' \
  "$tmp/trace" | sort -u)
# Made by glibc, libstdc++, gRPC/abseil or the kernel's signal return at
# times a short run may not hit: thread and timer plumbing, memory, exits,
# aborts (the core dump's own calls), getrandom for seeding.
# The admin HTTP server's keep-alive waits (poll/select), gRPC's alternative
# wake-ups and vectored writes, the kernel's restart after a signal, Pen's
# background mode (setsid, dup2, chdir), identity checks (--allow-root-control).
# The container runtime's own calls between installing the filter and
# exec'ing nib (runc without no-new-privileges: switching to the image's
# user, its capability sets, the checks on /proc and the working directory):
# the filter stays for nib's lifetime, where they fail anyway (no root, no
# capabilities). Not listed: chroot (-j), which needs root.
extra="brk clock_gettime clock_nanosleep clone clone3 close_range exit exit_group futex getpid getrandom gettid
madvise membarrier mmap mprotect mremap munmap nanosleep prlimit64 rseq rt_sigaction rt_sigprocmask
rt_sigreturn sched_getaffinity sched_yield set_robust_list set_tid_address sigaltstack tgkill uname
poll ppoll select pselect6 epoll_pwait readv writev socketpair restart_syscall setsid dup dup2 dup3 chdir
getuid geteuid getgid getegid getrusage fstat ftruncate fdatasync pwrite64
fstatfs capget capset setgroups setresuid setresgid setuid setgid getppid getcwd faccessat faccessat2"
names=$(printf '%s\n' $observed $extra | sort -u)
python3 - "$OUT" $names <<'PY'
import json, sys
out, names = sys.argv[1], sys.argv[2:]
profile = {
    "//": "nib's system calls (scripts/seccomp-trace.sh regenerates this file); anything else fails with EPERM",
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
    "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
}
with open(out, "w") as f:
    json.dump(profile, f, indent=1)
    f.write("\n")
PY
[ "$OUT" = docker/seccomp.json ] && cp "$OUT" charts/nib/files/seccomp.json  # the chart's copy
echo "seccomp-trace: $(wc -w <<<"$names") system calls -> $OUT"
