#!/usr/bin/env bash
# Checks monitoring/ and docker/compose.yaml's files: the alert rules with promtool (syntax and unit tests), the
# dashboard JSON, that every metric name the rules and the dashboard use exists
# in a running nib's /metrics, and that every query evaluates without error in
# a real Prometheus scraping that nib. Also checks that the chart's copies in
# charts/nib/files/ are identical.
#   scripts/verify-monitoring.sh            (NIB=path/to/nib, default build/server/nib)
# Needs: promtool and prometheus (apt-get install prometheus; installed if
# missing when run as root), python3, curl. Takes ~10 s; everything it starts is
# stopped and its temporary directory removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
NIB=${NIB:-build/server/nib}
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
RULES=monitoring/nib-alerts.yaml
RULE_TESTS=monitoring/nib-alerts.test.yaml
DASH=monitoring/nib-dashboard.json
t_start=$(date +%s)
fail() { echo "verify-monitoring: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ -x "$NIB" ] || fail "no nib binary at $NIB (build it with scripts/build.sh or set NIB=)"
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  [ "$(id -u)" = 0 ] || fail "promtool/prometheus missing: apt-get install prometheus"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends prometheus >/dev/null
fi

tmp=$(mktemp -d /tmp/nib-verify-monitoring.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

step "promtool check rules $RULES"
promtool check rules "$RULES"
step "promtool test rules $RULE_TESTS"
(cd monitoring && promtool test rules "$(basename "$RULE_TESTS")")

step "dashboard JSON and the chart's copies"
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["panels"], "no panels"' "$DASH"
cmp "$RULES" charts/nib/files/nib-alerts.yaml || fail "charts/nib/files/nib-alerts.yaml differs from $RULES (cp it)"
cmp "$DASH" charts/nib/files/nib-dashboard.json || fail "charts/nib/files/nib-dashboard.json differs from $DASH (cp it)"

step "docker/compose.yaml: mounted files, nib config, Prometheus config"
"$PY" - docker/compose.yaml <<'PYEOF'
import os, sys, yaml
compose = yaml.safe_load(open(sys.argv[1]))
base = os.path.dirname(sys.argv[1])
n = 0
for name, svc in compose["services"].items():
    for v in svc.get("volumes", []):
        host = v.split(":")[0]
        assert os.path.exists(os.path.join(base, host)), "%s: %s does not exist" % (name, host)
        n += 1
print("   %d services, %d bind mounts present" % (len(compose["services"]), n))
for f in ("datasources/prometheus.yaml", "dashboards/nib.yaml"):
    yaml.safe_load(open(os.path.join(base, "compose/grafana/provisioning", f)))
PYEOF
# Host names of the compose network do not resolve here: check with loopback.
sed 's/backend1:80/127.0.0.1:80/; s/backend2:80/127.0.0.1:81/' docker/compose/nib.yaml >"$tmp/compose-nib.yaml"
echo "   compose nib.yaml: $("$NIB" --check --config "$tmp/compose-nib.yaml")"
sed -e "s#/etc/prometheus/nib-alerts.yaml#$PWD/$RULES#" \
    -e "s#/etc/prometheus/nib-readonly-token#$PWD/docker/compose/readonly-token#" \
    docker/compose/prometheus.yml >"$tmp/compose-prometheus.yml"
promtool check config "$tmp/compose-prometheus.yml" | sed 's/^/   /'
grep -q "^readonly $(cat docker/compose/readonly-token)\$" docker/compose/tokens \
  || fail "docker/compose/readonly-token is not a readonly token of docker/compose/tokens"

# Queries: every rule expr and every dashboard target / variable query, with
# Grafana's variables replaced so that Prometheus can run them.
"$PY" - "$RULES" "$DASH" >"$tmp/queries.txt" <<'PYEOF'
import json, sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
dash = json.load(open(sys.argv[2]))
out = []
for g in rules["groups"]:
    for r in g["rules"]:
        out.append(("rule", r["expr"]))
def walk(panels):
    for p in panels:
        for t in p.get("targets", []):
            out.append(("dashboard", t["expr"]))
        walk(p.get("panels", []))
walk(dash["panels"])
for v in dash["templating"]["list"]:
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query")
    if v.get("type") == "query" and q.startswith("label_values("):
        inner = q[len("label_values("):q.rindex(",")]   # the series selector
        out.append(("dashboard", inner))
for kind, q in out:
    q = q.replace("$__rate_interval", "1m").replace("$job", ".*").replace("$instance", ".*").replace("$service", ".*")
    print(kind, json.dumps(" ".join(q.split())))
PYEOF
grep -oh 'nib_[a-z0-9_]*' "$tmp/queries.txt" | sort -u >"$tmp/used.txt"
echo "$(wc -l <"$tmp/queries.txt") queries use $(wc -l <"$tmp/used.txt") metric names"

step "running nib ($NIB) with a TCP, a TLS and a UDP service, admin tokens and a shared registry on etcd"
read -r -a ports < <("$PY" -c '
import socket
ss=[socket.socket() for _ in range(9)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))')
printf 'admin verify-admin-token-0123456789\nreadonly verify-readonly-token-0123456789\n' >"$tmp/tokens"
printf 'verify-readonly-token-0123456789' >"$tmp/readonly-token"
# A certificate for the TLS service (its expiry gauge and handshake counters;
# backend_tls trusts it, for the backend handshake counters).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=verify \
  -keyout "$tmp/tls-key.pem" -out "$tmp/tls-cert.pem" 2>/dev/null
# A one-member etcd (Debian's etcd-server) for the nib_registry_* series.
[ -x /usr/bin/etcd ] || fail "etcd is not installed (scripts/install-deps.sh --test)"
/usr/bin/etcd --name verify --data-dir "$tmp/etcd" --listen-client-urls "http://127.0.0.1:${ports[7]}" \
  --advertise-client-urls "http://127.0.0.1:${ports[7]}" --listen-peer-urls "http://127.0.0.1:${ports[8]}" \
  --initial-advertise-peer-urls "http://127.0.0.1:${ports[8]}" \
  --initial-cluster "verify=http://127.0.0.1:${ports[8]}" >"$tmp/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:${ports[7]}" endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done
cat >"$tmp/nib.yaml" <<YAML
registry:
  endpoints: [http://127.0.0.1:${ports[7]}]
admin:
  http_listen: 127.0.0.1:${ports[0]}
  grpc_listen: 127.0.0.1:${ports[1]}
  token_file: $tmp/tokens
services:
  - name: web
    listen: 127.0.0.1:${ports[2]}
    backends: [127.0.0.1:${ports[3]}]
  - name: secure
    listen: 127.0.0.1:${ports[6]}
    backends: [127.0.0.1:${ports[3]}]
    tls: {cert: $tmp/tls-cert.pem, key: $tmp/tls-key.pem}
    backend_tls: {ca: $tmp/tls-cert.pem}
  - name: dns
    protocol: udp
    listen: 127.0.0.1:${ports[4]}
    backends: [127.0.0.1:${ports[5]}]
YAML
"$NIB" --check --config "$tmp/nib.yaml"
"$NIB" --config "$tmp/nib.yaml" >"$tmp/nib.log" 2>&1 &
pids+=($!)
admin=http://127.0.0.1:${ports[0]}
for _ in $(seq 50); do curl -sf "$admin/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$admin/readyz" >/dev/null || { cat "$tmp/nib.log"; fail "nib did not become ready"; }
# One refused admin request (so nib_admin_requests_total has a series) and one
# client connection to a backend that is not there (connect failures).
[ "$(curl -s -o /dev/null -w '%{http_code}' "$admin/api/v1/stats")" = 401 ] || fail "admin API answered without a token"
curl -s -m 2 "http://127.0.0.1:${ports[2]}/" >/dev/null || true
curl -sf -H "Authorization: Bearer $(cat "$tmp/readonly-token")" "$admin/metrics" >"$tmp/metrics.txt"
sed -n 's/^\(nib_[a-z0-9_]*\).*/\1/p' "$tmp/metrics.txt" | sort -u >"$tmp/exported.txt"
missing=$(comm -23 "$tmp/used.txt" "$tmp/exported.txt")
[ -z "$missing" ] || fail "metric names used by the rules or the dashboard but not exported by nib: $missing"
echo "all $(wc -l <"$tmp/used.txt") metric names are exported by nib"

step "every query evaluates in Prometheus scraping that nib"
prom_port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [$PWD/$RULES]
scrape_configs:
  - job_name: nib
    authorization: {credentials_file: $tmp/readonly-token}
    static_configs: [{targets: ["127.0.0.1:${ports[0]}"]}]
YAML
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom" \
  --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
pids+=($!)
prom=http://127.0.0.1:$prom_port
for _ in $(seq 100); do
  grep -q '"nib_build_info"' <<<"$(curl -sf "$prom/api/v1/query" --data-urlencode 'query=nib_build_info')" && break
  sleep 0.2
done
grep -q '"value"' <<<"$(curl -sf "$prom/api/v1/query" --data-urlencode 'query=up{job="nib"} == 1')" \
  || { tail -20 "$tmp/prometheus.log"; fail "Prometheus does not scrape nib"; }
sleep 2   # a few scrapes, so that rate() has two points
# Dashboard queries must also return data (every metric has series here);
# alert expressions are just evaluated (they are meant to be empty now).
n=0
while read -r kind q; do
  q=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1]))' "$q")
  r=$(curl -s "$prom/api/v1/query" --data-urlencode "query=$q")
  grep -q '"status":"success"' <<<"$r" || fail "query failed: $q -> $r"
  if [ "$kind" = dashboard ] && grep -q '"result":\[\]' <<<"$r"; then
    fail "dashboard query returns no data: $q"
  fi
  n=$((n + 1))
done <"$tmp/queries.txt"
echo "$n queries evaluate; every dashboard query returns data"
# Rule evaluation: Prometheus loaded every rule and evaluated it without error.
curl -s "$prom/api/v1/rules" | "$PY" -c '
import json, sys
groups = json.load(sys.stdin)["data"]["groups"]
rules = [r for g in groups for r in g["rules"]]
bad = [r["name"] for r in rules if r.get("health") not in ("ok", "unknown")]
assert rules, "no rules loaded"
assert not bad, "rules with errors: %s" % bad
print("%d rules loaded and healthy" % len(rules))'
echo "verify-monitoring: OK in $(( $(date +%s) - t_start )) s"
