#!/usr/bin/env bash
# Builds docker/Dockerfile and checks the image end to end, without a Docker
# engine or a registry (podman on local debootstrapped debian:bookworm[-slim]
# base images, through /work/shared/tools/verify-dockerfile.sh). Run as root:
#   scripts/verify-docker.sh
# Checks:
#   1. the image builds and `nib --version` runs in it (verify-dockerfile.sh);
#   2. its configuration: user 65532, ENTRYPOINT ["nib"], CMD --config /etc/nib/nib.yaml;
#   3. `nib --check --config /etc/nib/nib.yaml` (the default config) names the
#      missing token file, and passes with one mounted;
#   4. the default config refuses to start without a token file (its admin plane
#      listens on 0.0.0.0), and runs with one (isolated network, then SIGTERM -> exit 0);
#   5. nib serves traffic with --network host: a mounted config and token file,
#      a backend on the host, /healthz, /metrics with and without a token, a
#      backend added through the admin API, an HTTP health check, a SIGHUP
#      reload, and `podman stop` (SIGTERM to PID 1) ending with exit status 0.
#   Steps 4 and 5 run under docker/seccomp.json, the allow-list of nib's
#   system calls (anything else would fail with EPERM and show up here).
# Env: VERIFY_DOCKERFILE=/work/shared/tools/verify-dockerfile.sh  WORK=/tmp/nib-verify-docker
#      KEEP=1 (keep podman storage and base images: the next run skips debootstrap
#      and reuses the build cache)  BUILD_TIMEOUT=3600 (seconds for step 1).
# Time on 2 shared cores: ~5 min from scratch (debootstrap 0.5-1.5 min, image
# build ~4 min), the checks after the build ~5 s; ~1.5 min with KEEP=1 storage
# from an earlier run and unchanged dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
VERIFY_DOCKERFILE=${VERIFY_DOCKERFILE:-/work/shared/tools/verify-dockerfile.sh}
export WORK=${WORK:-/tmp/nib-verify-docker}
KEEP=${KEEP:-0}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-3600}
TAG=localhost/verify-dockerfile:ci   # the tag verify-dockerfile.sh builds
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
t_start=$(date +%s)
fail() { echo "verify-docker: FAIL: $*" >&2; exit 1; }
step() { echo "== $* ($(( $(date +%s) - t_start )) s)"; }
[ "$(id -u)" = 0 ] || fail "must run as root (podman storage, debootstrap)"
[ -x "$VERIFY_DOCKERFILE" ] || fail "no $VERIFY_DOCKERFILE"

P=(podman --root "$WORK/storage" --runroot "$WORK/run" --tmpdir "$WORK/run/libpod"
   --cgroup-manager cgroupfs --events-backend file)
hn=$(ulimit -Hn); hu=$(ulimit -Hu); [ "$hu" = unlimited ] || [ "$hu" -gt 32768 ] && hu=32768
RUN=("${P[@]}" --runtime runc run --ulimit "nofile=$hn:$hn" --ulimit "nproc=$hu:$hu")
SECCOMP=(--security-opt "seccomp=$PWD/docker/seccomp.json")
tmp=$(mktemp -d /tmp/nib-verify-docker-files.XXXXXX)
chmod 755 "$tmp"
containers=()
pids=()
# Mounts left under $WORK by a run that was killed mid-debootstrap (its
# rootfs/proc, rootfs/sys): rm -rf would descend into them, debootstrap fails.
unmount_stale() {
  awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}
cleanup() {
  set +e
  unmount_stale
  for c in "${containers[@]}"; do "${P[@]}" rm -f -t 0 "$c" >/dev/null 2>&1; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [ "$KEEP" != 1 ] && [ -d "$WORK/storage" ]; then
    "${P[@]}" system reset --force >/dev/null 2>&1
    rm -rf "$WORK/storage" "$WORK/run" "$WORK/rootfs"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
unmount_stale

step "1. build docker/Dockerfile and run nib --version ($VERIFY_DOCKERFILE)"
KEEP=1 timeout "$BUILD_TIMEOUT" "$VERIFY_DOCKERFILE" -f docker/Dockerfile -C . -e '^nib [0-9]' -- --version \
  || fail "verify-dockerfile.sh failed (log: $WORK/verify.log)"
t_build=$(( $(date +%s) - t_start ))

step "2. image configuration"
cfg=$("${P[@]}" image inspect --format '{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}' "$TAG")
echo "   $cfg"
[ "$cfg" = '65532:65532|["nib"]|["--config","/etc/nib/nib.yaml"]' ] || fail "unexpected user/entrypoint/cmd: $cfg"
size=$("${P[@]}" image inspect --format '{{.Size}}' "$TAG")
echo "   size $(( size / 1024 / 1024 )) MiB"

step "3. nib --check on the default config: names the missing token file; passes with one"
# --check checks the files the configuration names, so the image's default
# config (which requires a mounted token file) fails it until one is mounted.
mkdir -p "$tmp/tokens"
printf 'admin docker-admin-token-0123456789\nreadonly docker-readonly-token-0123456789\n' >"$tmp/tokens/tokens"
chmod 755 "$tmp/tokens"; chmod 644 "$tmp/tokens/tokens"
set +e
timeout 60 "${RUN[@]}" --rm --network none "$TAG" --check --config /etc/nib/nib.yaml >"$tmp/check-notoken.out" 2>&1
rc=$?
set -e
sed 's/^/   /' "$tmp/check-notoken.out"
if [ "$rc" -eq 0 ] || ! grep -q "/etc/nib/tokens/tokens" "$tmp/check-notoken.out"; then
  fail "--check passed without the token file (rc=$rc)"
fi
timeout 60 "${RUN[@]}" --rm --network none -v "$tmp/tokens:/etc/nib/tokens:ro" "$TAG" \
  --check --config /etc/nib/nib.yaml | tee "$tmp/check.out"
grep -q "configuration OK" "$tmp/check.out" || fail "--check did not pass"

step "4. default config: no token file -> refuses to start; with one -> runs, SIGTERM -> 0"
set +e
timeout 60 "${RUN[@]}" --rm --network none "$TAG" >"$tmp/notoken.out" 2>&1
rc=$?
set -e
sed 's/^/   /' "$tmp/notoken.out"
if [ "$rc" -eq 0 ] || ! grep -q "admin token file" "$tmp/notoken.out"; then
  fail "nib started an open admin plane (rc=$rc)"
fi
# Listed before it runs: a run that fails half-way still leaves a container to remove.
containers+=(nib-verify-default)
"${P[@]}" rm -f -t 0 nib-verify-default >/dev/null 2>&1 || true  # left by an interrupted run (KEEP=1)
"${RUN[@]}" -d --name nib-verify-default --network none "${SECCOMP[@]}" -v "$tmp/tokens:/etc/nib/tokens:ro" "$TAG" >/dev/null
for _ in $(seq 50); do grep -q "admin HTTP on" <<<"$("${P[@]}" logs nib-verify-default 2>&1)" && break; sleep 0.2; done
"${P[@]}" logs nib-verify-default 2>&1 | sed 's/^/   /'
grep -q "admin HTTP on" <<<"$("${P[@]}" logs nib-verify-default 2>&1)" || fail "nib did not start with the default config"
timeout 60 "${P[@]}" stop -t 40 nib-verify-default >/dev/null
rc=$("${P[@]}" inspect --format '{{.State.ExitCode}}' nib-verify-default)
[ "$rc" = 0 ] || fail "nib exited $rc on SIGTERM"
echo "   stopped with SIGTERM, exit status 0"

step "5. serving traffic with --network host"
read -r p_svc p_back1 p_back2 p_http p_grpc < <("$PY" -c '
import socket
ss=[socket.socket() for _ in range(5)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))')
for i in 1 2; do
  mkdir -p "$tmp/www$i"; echo "backend $i" >"$tmp/www$i/index.html"
done
(cd "$tmp/www1" && exec "$PY" -m http.server --bind 127.0.0.1 "$p_back1" >/dev/null 2>&1) & pids+=($!)
(cd "$tmp/www2" && exec "$PY" -m http.server --bind 127.0.0.1 "$p_back2" >/dev/null 2>&1) & pids+=($!)
mkdir -p "$tmp/conf"
cat >"$tmp/conf/nib.yaml" <<YAML
shutdown_grace: 5
admin:
  http_listen: 127.0.0.1:$p_http
  grpc_listen: 127.0.0.1:$p_grpc
  token_file: /etc/nib/tokens/tokens
services:
  - name: web
    listen: 127.0.0.1:$p_svc
    policy: {mode: roundrobin}
    health_check: {type: http, path: /, interval: 0.5, timeout: 0.4}
    backends: [127.0.0.1:$p_back1]
YAML
chmod -R a+rX "$tmp/conf" "$tmp/tokens"
containers+=(nib-verify-host)
"${P[@]}" rm -f -t 0 nib-verify-host >/dev/null 2>&1 || true
"${RUN[@]}" -d --name nib-verify-host --network host "${SECCOMP[@]}" \
  -v "$tmp/conf:/etc/nib/conf:ro" -v "$tmp/tokens:/etc/nib/tokens:ro" \
  "$TAG" --config /etc/nib/conf/nib.yaml >/dev/null
admin=http://127.0.0.1:$p_http
for _ in $(seq 50); do curl -sf "$admin/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "$admin/healthz" >/dev/null || { "${P[@]}" logs nib-verify-host; fail "/healthz does not answer"; }
curl -sf "$admin/readyz" >/dev/null || { "${P[@]}" logs nib-verify-host; fail "/readyz is not 200"; }
body=$(curl -sf -m 5 "http://127.0.0.1:$p_svc/") || fail "no answer through nib"
[ "$body" = "backend 1" ] || fail "unexpected answer through nib: $body"
echo "   through nib: $body"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$admin/metrics")" = 401 ] || fail "/metrics answered without a token"
# Capture first: with pipefail, `curl | grep -q` fails when grep exits before curl finishes writing.
metrics=$(curl -sf -H 'Authorization: Bearer docker-readonly-token-0123456789' "$admin/metrics") || fail "/metrics with the read-only token"
grep -q '^nib_backend_up' <<<"$metrics" \
  || fail "/metrics with the read-only token"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer docker-readonly-token-0123456789' \
      -H 'Content-Type: application/json' -d "{\"address\": \"127.0.0.1\", \"port\": $p_back2}" \
      "$admin/api/v1/services/web/backends")" = 403 ] || fail "a read-only token could change backends"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer docker-admin-token-0123456789' \
  -H 'Content-Type: application/json' -d "{\"address\": \"127.0.0.1\", \"port\": $p_back2}" \
  "$admin/api/v1/services/web/backends")
[ "$code" = 201 ] || fail "adding a backend through the admin API: HTTP $code"
seen=$(for _ in 1 2 3 4; do curl -sf -m 5 "http://127.0.0.1:$p_svc/"; done | sort -u | tr '\n' ',')
[ "$seen" = "backend 1,backend 2," ] || fail "round-robin over both backends, got: $seen"
echo "   backend added through the admin API; round-robin answers: $seen"
"${P[@]}" kill -s HUP nib-verify-host >/dev/null
for _ in $(seq 50); do grep -q "reloaded" <<<"$("${P[@]}" logs nib-verify-host 2>&1)" && break; sleep 0.2; done
grep -q "reloaded" <<<"$("${P[@]}" logs nib-verify-host 2>&1)" || fail "no reload logged after SIGHUP"
body=$(curl -sf -m 5 "http://127.0.0.1:$p_svc/") || fail "no answer through nib after the reload"
curl -sf "$admin/readyz" >/dev/null || fail "/readyz is not 200 after the reload"
health=$(curl -sf -H 'Authorization: Bearer docker-readonly-token-0123456789' "$admin/metrics" | grep '^nib_backend_up' \
  | grep -c ' 1$' || true)
[ "$health" -ge 1 ] || fail "no backend up by its health check after the reload"
if "${P[@]}" logs nib-verify-host 2>&1 | grep -q "Operation not permitted"; then
  "${P[@]}" logs nib-verify-host 2>&1 | grep "Operation not permitted" | sed 's/^/   /'
  fail "a system call outside docker/seccomp.json (EPERM)"
fi
echo "   SIGHUP reload, health checks and traffic under docker/seccomp.json"
timeout 60 "${P[@]}" stop -t 30 nib-verify-host >/dev/null
rc=$("${P[@]}" inspect --format '{{.State.ExitCode}}' nib-verify-host)
"${P[@]}" logs nib-verify-host 2>&1 | tail -3 | sed 's/^/   /'
[ "$rc" = 0 ] || fail "nib exited $rc on SIGTERM"
echo "   podman stop (SIGTERM to PID 1): exit status 0"

echo "verify-docker: OK in $(( $(date +%s) - t_start )) s (build and first run: $t_build s)"
