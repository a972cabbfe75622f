"use strict";
const $ = (id) => document.getElementById(id);
function headers() {
  const t = sessionStorage.getItem("nib-token");
  return t ? { "Authorization": "Bearer " + t } : {};
}
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function row(cells, header) {
  const tr = el("tr");
  for (const c of cells) {
    const td = el(header ? "th" : "td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = String(c);
    if (typeof c === "string" && isNaN(Number(c))) td.className = "l";
    tr.appendChild(td);
  }
  return tr;
}
function bytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
async function api(path) {
  const r = await fetch(path, { headers: headers() });
  if (r.status === 401) { $("auth").style.display = "block"; throw new Error("token needed"); }
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
  return body;
}
// The state, with the health check's reason and last result as a tooltip.
function healthCell(b) {
  const s = el("span", b.state, "state " + b.state);
  if (b.health && b.health.checked) {
    s.title = (b.health.reason ? b.health.reason + "; " : "") + "last check: " + b.health.last_check;
    if (b.state === "down" && b.health.reason) s.textContent = b.state + " (" + b.health.reason + ")";
  }
  return s;
}
function backendTable(service) {
  const t = el("table");
  t.appendChild(row(["id", "address", "state", "active", "total", "failures", "in", "out", "weight", "prio",
                     "soft", "hard"], true));
  const list = service.backends.slice();
  if (service.emergency) list.push(Object.assign({ role: "emergency" }, service.emergency));
  if (service.abuse) list.push(Object.assign({ role: "abuse" }, service.abuse));
  for (const b of list) {
    const addr = (b.address.includes(":") ? "[" + b.address + "]" : b.address) + ":" + b.port +
                 (b.role ? " (" + b.role + ")" : "");
    t.appendChild(row([String(b.id), addr, healthCell(b), b.active_connections,
                       b.total_connections, b.connect_failures, bytes(b.bytes_in), bytes(b.bytes_out), b.weight,
                       b.prio, b.soft_limit || "-", b.hard_limit || "-"]));
  }
  return t;
}
async function clientTable(service) {
  const body = await api("/api/v1/services/" + encodeURIComponent(service.name) + "/clients?limit=20");
  const t = el("table");
  t.appendChild(row(["client", "backend", "connects", "in", "out", "last seen (s)"], true));
  for (const c of body.clients) {
    t.appendChild(row([c.ip, String(c.backend_id), c.connects, bytes(c.bytes_in), bytes(c.bytes_out),
                       c.last_seen_seconds_ago.toFixed(1)]));
  }
  return t;
}
// Where the runtime state lives; with a shared registry, whether this
// replica still follows it.
function registryLine(r) {
  if (r.store !== "etcd") return "runtime state: " + (r.store === "state_file" ? "state file" : "not kept");
  if (!r.connected) return "shared registry " + r.prefix + " on etcd: DOWN (" + r.last_error + "); serving revision " +
                           r.applied_revision + ", changes refused";
  return "shared registry " + r.prefix + " on etcd " + r.endpoint + ": revision " + r.applied_revision +
         " (lag " + r.lag_revisions + ")";
}
async function refresh() {
  try {
    const stats = await api("/api/v1/stats");
    const registry = await api("/api/v1/registry");
    $("registry").textContent = registryLine(registry);
    $("registry").className = registry.store === "etcd" && !registry.connected ? "down" : "muted";
    $("version").textContent = stats.version + ", " + stats.workers + " workers, " + stats.open_connections +
                               " open connections";
    const root = el("div");
    for (const s of stats.services) {
      root.appendChild(el("h2", s.name + " \u2014 " + s.listen + " (" + s.protocol + ", mode " + s.policy.mode +
                                (s.policy.stubborn ? ", stubborn" : "") + ")"));
      const a = s.affinity, c = s.counters;
      const cards = el("div", null, "cards");
      for (const text of ["active " + s.active_connections, "accepted " + c.accepted,
                          "rejected " + (c.rejected_no_backend + c.rejected_stubborn + c.rejected_acl),
                          "clients " + a.size + " / " + a.capacity, "hits " + a.hits, "misses " + a.misses,
                          "evictions " + a.evictions]) {
        cards.appendChild(el("span", text));
      }
      root.appendChild(cards);
      root.appendChild(backendTable(s));
      root.appendChild(el("div", "Most recent clients", "muted"));
      root.appendChild(await clientTable(s));
    }
    $("services").replaceChildren(root);
    $("error").style.display = "none";
  } catch (e) {
    $("error").textContent = "cannot read the API: " + e.message;
    $("error").style.display = "block";
  }
}
function logEvent(line) {
  const box = $("events");
  box.appendChild(el("div", line));
  while (box.childNodes.length > 200) box.removeChild(box.firstChild);
  box.scrollTop = box.scrollHeight;
}
// fetch() rather than EventSource: EventSource cannot send the token header.
async function watchEvents() {
  for (;;) {
    try {
      const r = await fetch("/api/v1/events", { headers: headers() });
      if (!r.ok) throw new Error("status " + r.status);
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const record = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = record.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("");
          if (!data) continue;
          const e = JSON.parse(data);
          if (e.kind) {
            logEvent(e.time + "  " + e.kind + "  " + e.service + (e.backend_id ? " backend " + e.backend_id : "") +
                     (e.detail ? "  " + e.detail : ""));
          } else if (e.dropped) {
            logEvent("(" + e.dropped + " events lost)");
          }
        }
      }
    } catch (e) { /* retried below */ }
    await new Promise((ok) => setTimeout(ok, 3000));
  }
}
$("save").onclick = () => {
  sessionStorage.setItem("nib-token", $("token").value.trim());
  $("auth").style.display = "none";
  refresh();
};
refresh();
setInterval(refresh, 2000);
watchEvents();
