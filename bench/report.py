#!/usr/bin/env python3
"""Summarises bench/run.sh's measurements: medians per scenario and target,
ratios to direct, pen, HAProxy and nginx, a table per scenario on stdout, and the
whole as JSON.

    report.py META.json RECORDS.jsonl OUT.json   (what run.sh does)
    report.py --print OUT.json                  (the tables of an earlier run)
    report.py --markdown OUT.json [OUT2.json...] (nib's ratios as a Markdown
                                                 table, "run 1 / run 2" per cell)
"""
import json
import statistics
import sys

SCENARIO_TITLES = {
    "keepalive": "1. keep-alive small requests (wrk)",
    "close": "2. a new TCP connection per request (wrk, Connection: close)",
    "bulk": "3. 1 MiB bulk transfers (wrk on a 1 MiB file)",
    "udp": "4. UDP request/reply (udp_load, 64-byte datagrams)",
    "tls": "7. keep-alive small requests over TLS (wrk https; the balancer terminates TLS)",
    "tlsnew": "8. a full TLS handshake per request (wrk https, Connection: close, no resumption; "
              "cpu us/req is per handshake)",
    "latency-max-keep": "9a. the maximum keep-alive rate (conn_load closed loop), which sets the latency levels",
    "latency-max-close": "9a. the maximum rate with a connection per request (conn_load --close, closed loop)",
    "idle": "10. idle keep-alive connections held open, 1% of them active (conn_load)",
    "tlsnew-s_time": "8b. the same cross-checked with openssl s_time -new: full handshakes one at a time, "
                     "no request (cpu us/req is per handshake)",
}
RATIO_TO = ["direct", "pen", "haproxy", "haproxy2", "nginx"]
# Fixed-rate scenarios: every target gets the same requests/s, so what tells
# them apart is the latency (p99 ratios) and the CPU, not the rate.
LATENCY_KEYS = ("p999_ms", "max_ms")


def is_latency(name):
    return name.startswith("latency-") and not name.startswith("latency-max")
TLS_SCENARIOS = ("tls", "tlsnew")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return round(a / b, 2)


def summarise(meta, records):
    targets = meta["config"]["targets"].split()
    order = []
    for r in records:
        if r.get("scenario") and r["scenario"] not in order:
            order.append(r["scenario"])
    scenarios = {}
    for name in order:
        if name.startswith("memory") or name.endswith("-negotiated"):
            continue
        rows = [r for r in records if r["scenario"] == name]
        out = {"unit": rows[0].get("unit", ""), "targets": {}}
        for t in targets:
            mine = [r for r in rows if r["target"] == t]
            if not mine:
                continue
            entry = {
                "rate": median([r["rate"] for r in mine]),
                "rounds": [r["rate"] for r in mine],
                "p50_ms": median([r.get("p50_ms") for r in mine]),
                "p99_ms": median([r.get("p99_ms") for r in mine]),
                "errors": sum(r.get("errors", 0) or 0 for r in mine),
                "cpu_us_per_req": median([r.get("cpu_us_per_req") for r in mine]),
                # The whole machine's busy CPU (balancer, load generator,
                # backends, softirqs) per request: wrk scenarios.
                "machine_us_per_req": median([r.get("machine_us_per_req") for r in mine]),
            }
            if name == "tlsnew":
                full = [r.get("handshakes_full") for r in mine]
                resumed = [r.get("handshakes_resumed") for r in mine]
                entry["handshakes_full"] = sum(v for v in full if v is not None)
                entry["handshakes_resumed"] = None if None in resumed else sum(resumed)
            if name in TLS_SCENARIOS:
                entry["negotiated"] = next((r["negotiated"] for r in records
                                            if r["scenario"] == name + "-negotiated" and r["target"] == t), None)
            if name.startswith("clients-"):
                for k in ("clients", "breaks", "revisits", "distinct", "complete", "elapsed_s", "bound_s",
                          "rss_idle_kb", "rss_kb"):
                    entry[k] = mine[-1].get(k)
            if is_latency(name) or name == "idle":
                for k in LATENCY_KEYS:
                    entry[k] = median([r.get(k) for r in mine])
                entry["late"] = sum(r.get("late", 0) or 0 for r in mine)
                for k in ("target_rate", "level_pct", "peer_max", "mode"):
                    entry[k] = mine[-1].get(k)
            if name == "idle":
                for k in ("held", "failed", "connections", "active", "rss_idle_kb", "rss_held_kb"):
                    entry[k] = mine[-1].get(k)
                if entry.get("held") and entry.get("rss_held_kb"):
                    entry["bytes_per_connection"] = round(
                        (entry["rss_held_kb"] - entry["rss_idle_kb"]) * 1024 / entry["held"])
            out["targets"][t] = entry
        for t, entry in out["targets"].items():
            entry["ratio"] = {
                ref: ratio(entry["rate"], out["targets"].get(ref, {}).get("rate")) for ref in RATIO_TO
            }
            entry["cpu_ratio"] = {
                ref: ratio(entry["cpu_us_per_req"], out["targets"].get(ref, {}).get("cpu_us_per_req"))
                for ref in RATIO_TO if ref != "direct"
            }
            if is_latency(name) or name == "idle":
                entry["p99_ratio"] = {
                    ref: ratio(entry["p99_ms"], out["targets"].get(ref, {}).get("p99_ms")) for ref in RATIO_TO
                }
        scenarios[name] = out
    memory = {
        "connections": [r for r in records if r["scenario"] == "memory"],
        "fill": [r for r in records if r["scenario"] == "memory-fill"],
        "micro": [r for r in records if r["scenario"] == "memory-micro"],
    }
    for r in memory["connections"]:
        if r.get("held"):
            r["bytes_per_connection"] = round((r["rss_held_kb"] - r["rss_idle_kb"]) * 1024 / r["held"])
    for r in memory["fill"]:
        if r.get("entries"):
            r["bytes_per_entry"] = round((r["rss_kb"] - r["rss_idle_kb"]) * 1024 / r["entries"], 1)
        second = r.get("entries", 0) - r.get("entries_mid", 0)
        if second > 0:
            r["marginal_bytes_per_entry"] = round((r["rss_kb"] - r["rss_mid_kb"]) * 1024 / second, 1)
    result = {**meta, "scenarios": scenarios, "memory": memory}
    result["targets_check"] = check_targets(result)
    result["records"] = records
    return result


# Issue #6's targets, raised by #18, like for like: nib (1 worker) against
# HAProxy nbthread 1, nib2 (2 workers) against HAProxy nbthread 2; pen and
# nginx run one thread. The modes of #18 (nibkernel: the in-kernel relay,
# niburing: the io_uring loop) face the same goals, so their defaults follow
# from the numbers; the in-kernel relay also against direct (no balancer).
def check_targets(result):
    sc = result["scenarios"]

    def get(scenario, target, key="rate"):
        return sc.get(scenario, {}).get("targets", {}).get(target, {}).get(key)

    checks = []

    def add(what, value, goal, ok):
        if value is not None:
            checks.append({"what": what, "value": round(value, 2), "goal": goal, "met": bool(ok)})

    pairs = (("nib", "haproxy"), ("nib2", "haproxy2"), ("nibkernel", "haproxy"), ("niburing", "haproxy"))
    for nib, hap in pairs:
        def r(scenario, ref, key="rate"):
            a, b = get(scenario, nib, key), get(scenario, ref, key)
            return a / b if a is not None and b else None  # a CPU of 0.0 is a figure
        v = r("close", hap)
        add(f"close: {nib} / {hap} req/s", v, ">= 1.2", v is not None and v >= 1.2)
        v = r("keepalive", hap)
        add(f"keepalive: {nib} / {hap} req/s", v, ">= 1.3", v is not None and v >= 1.3)
        v = r("bulk", hap)
        add(f"bulk: {nib} / {hap} MB/s", v, ">= 1.5", v is not None and v >= 1.5)
        for name in ("keepalive", "close"):
            v = r(name, hap, "cpu_us_per_req")
            add(f"{name}: {nib} / {hap} CPU per request", v, "<= 0.7", v is not None and v <= 0.7)
        if nib == "nibkernel":
            v = r("keepalive", "direct")
            add(f"keepalive: {nib} / direct req/s", v, ">= 0.85", v is not None and v >= 0.85)
        for name in sc:
            if name.startswith("latency-") and not name.startswith("latency-max"):
                v = r(name, hap, "p99_ms")
                add(f"{name}: {nib} / {hap} p99", v, "<= 1.0", v is not None and v <= 1.0)
        if nib in ("nibkernel", "niburing"):
            continue  # the modes answer #18's goals; the rest are the default's
        v = r("close", "pen")
        add(f"close: {nib} / pen req/s", v, ">= 1.5", v is not None and v >= 1.5)
        for ref in ("pen", "nginx"):
            v = r("udp", ref)
            add(f"udp: {nib} / {ref} datagrams/s", v, ">= 1.5", v is not None and v >= 1.5)
        for name in sc:
            # latency-max-*: the short closed-loop runs that set the latency levels.
            if name in TLS_SCENARIOS or name.startswith("latency"):
                continue
            v = r(name, hap, "p99_ms")
            add(f"{name}: {nib} / {hap} p99", v, "<= 1.0", v is not None and v <= 1.0)
        small = get("clients-1000", nib)
        for name in sc:
            if name.startswith("clients-") and int(name.split("-")[1]) >= 1000000 and small:
                v = get(name, nib) / small if get(name, nib) else None
                add(f"{name}: {nib} conn/s / its rate with 1K clients", v, ">= 0.95", v is not None and v >= 0.95)
        for name in sc:
            if name.startswith("clients-") and get(name, nib, "revisits"):
                v = get(name, nib, "breaks")
                add(f"{name}: {nib} affinity breaks (of {get(name, nib, 'revisits')} revisits)", v, "== 0", v == 0)
    # Issue #13: TLS termination at least as fast as HAProxy's (`ssl crt`) and
    # nginx stream's (`listen ... ssl`), at no more CPU per handshake.
    for nib, refs in (("nib", ("haproxy", "nginx")), ("nib2", ("haproxy2",))):
        for ref in refs:
            for name, what in (("tls", "req/s"), ("tlsnew", "handshakes/s")):
                a, b = get(name, nib), get(name, ref)
                v = a / b if a and b else None
                add(f"{name}: {nib} / {ref} {what}", v, ">= 1.0", v is not None and v >= 1.0)
            a, b = get("tlsnew", nib, "cpu_us_per_req"), get("tlsnew", ref, "cpu_us_per_req")
            v = a / b if a and b else None
            add(f"tlsnew: {nib} / {ref} CPU per handshake", v, "<= 1.0", v is not None and v <= 1.0)
    small = get("clients-1000", "nib")
    for f in result["memory"]["fill"]:
        if small and f.get("conn_per_s_second"):
            v = f["conn_per_s_second"] / small
            add(f"nib -c {f['table']:,} while filling ({f['entries']:,} entries): new clients/s / its rate with "
                f"1K clients", v, ">= 0.95", v >= 0.95)
    for m in result["memory"]["micro"]:
        add(f"affinity table bytes/entry at {m['entries']:,} (micro benchmark)", m["bytes_per_entry"], "<= 64",
            m["bytes_per_entry"] <= 64)
    return checks


def fmt(v, spec):
    if v is None:
        width = spec.split(".")[0].rstrip("fd")
        return "-".rjust(int(width) if width else 0)
    return format(v, spec)


def print_tables(result):
    cfg = result["config"]
    print()
    print(f"nib benchmark, {result['date']}, {result['host']['cpus']} CPUs ({result['host']['cpu']}), "
          f"{cfg['rounds']} interleaved rounds of {cfg['duration_s']} s, medians; {result['elapsed_s']} s in all"
          + (" [QUICK]" if result.get("quick") else ""))
    for name, sc in result["scenarios"].items():
        if is_latency(name) or name == "idle":
            print_latency_table(name, sc)
            continue
        if name.startswith("clients-"):
            n = int(name.split("-", 1)[1])
            title = f"5. {n:,} distinct clients (conn_load, one source address each; affinity on)"
        else:
            title = SCENARIO_TITLES.get(name, name)
        unit = sc["unit"]
        print(f"\n{title}")
        w = max(10, len(unit))
        machine = any(e.get("machine_us_per_req") is not None for e in sc["targets"].values())
        head = f"{'target':<9} {unit:>{w}} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'cpu us/req':>10}"
        head += f" {'machine us/req':>14}" if machine else ""
        head += "".join(f" {'vs ' + ref:>11}" for ref in RATIO_TO)
        if name.startswith("clients-"):
            head += f" {'breaks/revisits':>16} {'distinct':>9} {'done':>4}"
        print(head)
        for t, e in sc["targets"].items():
            line = (f"{t:<9} {fmt(e['rate'], f'{w}.0f' if unit != 'MB/s' else f'{w}.1f')} {fmt(e['p50_ms'], '8.3f')} "
                    f"{fmt(e['p99_ms'], '8.3f')} {e['errors']:>6} {fmt(e['cpu_us_per_req'], '10.1f')}")
            line += f" {fmt(e.get('machine_us_per_req'), '14.1f')}" if machine else ""
            line += "".join(f" {fmt(e['ratio'][ref], '11.2f')}" for ref in RATIO_TO)
            if name.startswith("clients-"):
                line += f" {str(e['breaks']) + '/' + str(e['revisits']):>16} {e['distinct']:>9} " \
                        f"{'yes' if e['complete'] == 1 else 'time':>4}"
            print(line)
        if name in TLS_SCENARIOS:
            for t, e in sc["targets"].items():
                extra = ""
                if name == "tlsnew":
                    extra = (f"; handshakes counted by the client: {e.get('handshakes_full')} full, "
                             f"{fmt(e.get('handshakes_resumed'), 'd')} resumed")
                print(f"  {t}: {e.get('negotiated') or '?'}{extra}")
    mem = result["memory"]
    if mem["connections"] or mem["fill"] or mem["micro"]:
        print("\n6. resident memory (VmRSS of the balancer's processes)")
        if mem["connections"]:
            print(f"{'target':<9} {'idle MB':>8} {'MB with N idle conns':>21} {'held':>6} {'bytes/conn':>10}")
            for r in mem["connections"]:
                print(f"{r['target']:<9} {r['rss_idle_kb'] / 1024:8.1f} {r['rss_held_kb'] / 1024:21.1f} "
                      f"{r['held']:>6} {fmt(r.get('bytes_per_connection'), '10.0f')}")
        for sc in result["scenarios"].values():
            for t, e in sc["targets"].items():
                if e.get("rss_kb") and e.get("clients", 0) >= 1000000:
                    print(f"{t:<9} table for {e['clients']:,} clients: idle {e['rss_idle_kb'] / 1024:.1f} MB, "
                          f"{e['rss_kb'] / 1024:.1f} MB after {e['distinct']:,} distinct clients")
        for r in mem["fill"]:
            print(f"nib -c {r['table']:,}, filled by real clients for {r['fill_s']} s "
                  f"({r['conn_per_s_first']:.0f} then {r['conn_per_s_second']:.0f} new clients/s): idle "
                  f"{r['rss_idle_kb'] / 1024:.1f} MB, {r['entries_mid']:,} entries {r['rss_mid_kb'] / 1024:.1f} MB, "
                  f"{r['entries']:,} entries {r['rss_kb'] / 1024:.1f} MB")
            print(f"          RSS growth per entry: {fmt(r.get('bytes_per_entry'), '.1f')} bytes overall, "
                  f"{fmt(r.get('marginal_bytes_per_entry'), '.1f')} bytes in the second half "
                  f"(fixed costs left out; page-granular, so rough below ~1M entries)")
        for r in mem["micro"]:
            print(f"affinity table at {r['entries']:,} entries: {r['bytes_per_entry']} bytes/entry "
                  f"(affinity_table_bench, in-process, not through nib)")
    if result.get("targets_check"):
        print("\nissue #6, #13 and #18 targets (nib, nibkernel, niburing vs HAProxy nbthread 1 and nginx, nib2 vs "
              "nbthread 2; one run, noisy)")
        for c in result["targets_check"]:
            print(f"  {'met   ' if c['met'] else 'MISSED'} {c['what']}: {c['value']} (goal {c['goal']})")
        print("  not measured: a full 10M table through nib (filling one takes ~25 min at these rates)")
    for n in result.get("notes", []):
        print(f"note: {n}")


def print_latency_table(name, sc):
    first = next(iter(sc["targets"].values()), {})
    if name == "idle":
        load = ("closed loop" if not first.get("target_rate") else f"{first['target_rate']} req/s fixed rate")
        print(f"\n{SCENARIO_TITLES['idle']}: {first.get('connections')} connections, {first.get('active')} "
              f"requests in flight ({load}); latency from the send")
    else:
        mode = ("a new connection per request" if first.get("mode") == "close"
                else "keep-alive pool")
        print(f"\n9. latency at {first.get('level_pct')}% of the peers' maximum ({first.get('target_rate')} of "
              f"{fmt(first.get('peer_max'), '.0f')} req/s, {mode}), fixed rate, "
              f"corrected for coordinated omission (latency from each request's scheduled time)")
    head = (f"{'target':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'max ms':>8} {'errors':>6} "
            f"{'late':>7} {'cpu us/req':>10} {'p99/haproxy':>11} {'p99/nginx':>9}")
    if name == "idle":
        head += f" {'held':>6} {'failed':>6} {'RSS MB idle':>11} {'held':>6} {'bytes/conn':>10}"
    print(head)
    for t, e in sc["targets"].items():
        line = (f"{t:<9} {fmt(e['rate'], '8.0f')} {fmt(e['p50_ms'], '8.3f')} {fmt(e['p99_ms'], '8.3f')} "
                f"{fmt(e.get('p999_ms'), '9.3f')} {fmt(e.get('max_ms'), '8.2f')} {e['errors']:>6} "
                f"{e.get('late', 0):>7} {fmt(e['cpu_us_per_req'], '10.1f')} "
                f"{fmt(e['p99_ratio'].get('haproxy'), '11.2f')} {fmt(e['p99_ratio'].get('nginx'), '9.2f')}")
        if name == "idle":
            line += (f" {e.get('held', 0):>6} {e.get('failed', 0):>6} {(e.get('rss_idle_kb') or 0) / 1024:11.1f} "
                     f"{(e.get('rss_held_kb') or 0) / 1024:6.1f} {fmt(e.get('bytes_per_connection'), '10.0f')}")
        print(line)
    if name != "idle":
        print("  late: requests sent 1 ms or more after their scheduled time (their wait is in the latency)")


def markdown(results):
    """nib's row per scenario: its rate, ratios and CPU, one value per run."""
    def cell(values, spec):
        return " / ".join("-" if v is None else format(v, spec) for v in values)

    names = []
    for r in results:
        names += [n for n in r["scenarios"] if n not in names]
    refs = ["direct", "pen", "haproxy", "haproxy2", "nginx"]
    lines = ["| scenario | nib | vs direct | vs pen | vs HAProxy | vs HAProxy nbthread 2 | vs nginx | "
             "nib CPU µs/req (HAProxy's) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in names:
        nib = [r["scenarios"].get(name, {}).get("targets", {}).get("nib") for r in results]
        if not any(nib):
            continue
        hap = [r["scenarios"].get(name, {}).get("targets", {}).get("haproxy") for r in results]
        unit = next(r["scenarios"][name]["unit"] for r in results if name in r["scenarios"])
        label = SCENARIO_TITLES.get(name, name).split(" (")[0].split(". ", 1)[-1]
        if name.startswith("clients-"):
            label = f"{int(name.split('-')[1]):,} distinct clients, affinity"
        # Fixed-rate runs: nib's p99 and its ratio to theirs (lower is better), not the rate.
        key = "p99_ms" if is_latency(name) else "rate"
        if is_latency(name):
            per = ", a connection per request," if "-close-" in name else ""
            label = f"p99 latency{per} at {name.rsplit('-', 1)[1]}% of the peers' max (lower is better)"
            unit = "ms"
        rates = cell([e and e[key] for e in nib], ".0f" if key == "rate" else ".2f")
        row = f"| {label} | {rates} {unit} |"
        for ref in refs:
            vals = []
            for r, e in zip(results, nib):
                other = r["scenarios"].get(name, {}).get("targets", {}).get(ref)
                vals.append(ratio(e[key], other[key]) if e and other else None)
            row += f" {cell(vals, '.2f')} |"
        cpu = [e and e["cpu_us_per_req"] for e in nib]
        hcpu = [h and h["cpu_us_per_req"] for h in hap]
        row += f" {cell(cpu, '.1f')} ({cell(hcpu, '.1f')}) |"
        lines.append(row)
    return "\n".join(lines)


def main(argv):
    if len(argv) >= 3 and argv[1] == "--markdown":
        results = []
        for path in argv[2:]:
            with open(path) as f:
                results.append(json.load(f))
        print(markdown(results))
        return 0
    if len(argv) == 3 and argv[1] == "--print":
        with open(argv[2]) as f:
            result = json.load(f)
        result["targets_check"] = check_targets(result)  # today's goals, on an earlier run too
        print_tables(result)
        return 0
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        meta = json.load(f)
    with open(argv[2]) as f:
        records = [json.loads(line) for line in f if line.strip()]
    result = summarise(meta, records)
    with open(argv[3], "w") as f:
        json.dump(result, f, indent=1)
    print_tables(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
