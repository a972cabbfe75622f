#!/usr/bin/env python3
"""Draws bench/run.sh's ratios as an SVG bar chart (Python standard library
only; the SVG is written by hand).

    plot.py RESULTS.json OUT.svg

Three panels: throughput of each balancer as a ratio to going direct (higher
is better), balancer CPU per request as a ratio to HAProxy nbthread 1's
(lower is better), per scenario, and, for the fixed-rate latency scenarios,
p99 latency as a ratio to HAProxy nbthread 1's (lower is better). A
fixed-rate run's throughput is the rate asked of every target, so it is left
out of the first panel.
"""
import json
import sys
from xml.sax.saxutils import escape

COLORS = {
    "nib": "#1f77b4", "nib2": "#6baed6", "pen": "#d62728", "haproxy": "#2ca02c",
    "haproxy2": "#98df8a", "nginx": "#9467bd",
}
LABELS = {
    "nib": "nib (1 worker)", "nib2": "nib (2 workers)", "pen": "pen", "haproxy": "HAProxy nbthread 1",
    "haproxy2": "HAProxy nbthread 2", "nginx": "nginx stream",
}
SHORT = {"keepalive": "keep-alive", "close": "conn/request", "bulk": "1 MiB bulk", "udp": "UDP req/reply",
         "tls": "TLS keep-alive", "tlsnew": "TLS handshakes", "latency-max-keep": "max keep-alive",
         "latency-max-close": "max conn/request", "idle": "idle conns, 1% active"}


def fixed_rate(name):
    return name.startswith("latency-") and not name.startswith("latency-max")


def scenario_label(name):
    if fixed_rate(name):
        level = name.rsplit("-", 1)[1]
        return f"{level}% max, conn/req" if "-close-" in name else f"{level}% of max"
    if name.startswith("clients-"):
        n = int(name.split("-", 1)[1])
        return f"{n // 1000000}M clients" if n >= 1000000 else f"{n // 1000}K clients"
    return SHORT.get(name, name)


def panel(out, top, title, groups, targets, ref_line, width, cap):
    """Grouped bars; groups = [(label, {target: v})]; values above `cap` are
    drawn clipped at the top, with their value. Returns the panel height."""
    height, left, plot_h = 260, 60, 190
    vals = [v for _, d in groups for v in d.values() if v is not None]
    vmax = min(max(vals + [ref_line * 1.1, 0.1]), cap)
    step = next(s for s in (0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100) if vmax / s <= 6)
    ymax = step * (int(vmax / step) + 1)
    y0 = top + 30 + plot_h
    out.append(f'<text x="{left}" y="{top + 18}" font-size="14" font-weight="bold">{escape(title)}</text>')
    t = 0.0
    while t <= ymax + 1e-9:
        y = y0 - t / ymax * plot_h
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{t:g}</text>')
        t += step
    yr = y0 - ref_line / ymax * plot_h
    out.append(f'<line x1="{left}" y1="{yr:.1f}" x2="{width - 10}" y2="{yr:.1f}" stroke="#555" '
               f'stroke-dasharray="4,3"/>')
    gw = (width - 10 - left) / max(len(groups), 1)
    for gi, (label, data) in enumerate(groups):
        present = [t for t in targets if data.get(t) is not None]
        bw = min(19.0, (gw - 10) / max(len(present), 1))
        x = left + gi * gw + (gw - bw * len(present)) / 2
        for tgt in present:
            v = data[tgt]
            h = min(v, ymax) / ymax * plot_h
            out.append(f'<rect x="{x:.1f}" y="{y0 - h:.1f}" width="{bw - 2:.1f}" height="{h:.1f}" '
                       f'fill="{COLORS.get(tgt, "#888")}"><title>{escape(tgt)} {label}: {v:.2f}</title></rect>')
            text = f"{v:.2f}" if v < 10 else f"{v:.0f}"
            if v > ymax:  # clipped: the value goes inside the bar's top
                out.append(f'<text x="{x + (bw - 2) / 2:.1f}" y="{y0 - h + 10:.1f}" font-size="8" fill="#fff" '
                           f'text-anchor="middle">{text}</text>')
            else:
                out.append(f'<text x="{x + (bw - 2) / 2:.1f}" y="{y0 - h - 3:.1f}" font-size="7" '
                           f'text-anchor="middle">{text}</text>')
            x += bw
        out.append(f'<text x="{left + gi * gw + gw / 2:.1f}" y="{y0 + 16}" font-size="11" '
                   f'text-anchor="middle">{escape(label)}</text>')
    out.append(f'<line x1="{left}" y1="{y0}" x2="{width - 10}" y2="{y0}" stroke="#000"/>')
    return height


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        result = json.load(f)
    scenarios = result["scenarios"]
    targets = [t for t in result["config"]["targets"].split() if t != "direct"]
    throughput, cpu, p99 = [], [], []
    for name, sc in scenarios.items():
        label = scenario_label(name)
        if fixed_rate(name) and any(e.get("p99_ratio", {}).get("haproxy") for e in sc["targets"].values()):
            p99.append((label, {t: e["p99_ratio"].get("haproxy") for t, e in sc["targets"].items()
                                if t != "direct"}))
        # TLS scenarios have no direct run (no TLS there): CPU panel only.
        if not fixed_rate(name) and any(e["ratio"].get("direct") for e in sc["targets"].values()):
            throughput.append((label, {t: e["ratio"].get("direct") for t, e in sc["targets"].items()
                                       if t != "direct"}))
        if any(e["cpu_ratio"].get("haproxy") for e in sc["targets"].values()):
            cpu.append((label, {t: e["cpu_ratio"].get("haproxy") for t, e in sc["targets"].items()
                                if t != "direct"}))
    width = max(640, 70 + 125 * max(len(throughput), 1))
    out = []
    top = 0
    date = result.get("date", "")
    host = result.get("host", {})
    out.append(f'<text x="10" y="18" font-size="15" font-weight="bold">nib vs pen, HAProxy, nginx on loopback '
               f'({escape(date)}, {host.get("cpus", "?")} CPUs{", QUICK" if result.get("quick") else ""})</text>')
    top += 24
    top += panel(out, top, "Throughput / direct (higher is better; dashed: direct)", throughput, targets,
                 1.0, width, cap=3.0)
    if cpu:
        top += panel(out, top, "Balancer CPU per request / HAProxy nbthread 1's (lower is better; dashed: HAProxy)",
                     cpu, targets, 1.0, width, cap=2.0)
    if p99:
        top += panel(out, top, "p99 latency at a fixed rate / HAProxy nbthread 1's (lower is better; dashed: HAProxy)",
                     p99, targets, 1.0, width, cap=3.0)
    # Legend.
    x = 60
    for tgt in targets:
        out.append(f'<rect x="{x}" y="{top + 6}" width="12" height="12" fill="{COLORS.get(tgt, "#888")}"/>')
        label = LABELS.get(tgt, tgt)
        out.append(f'<text x="{x + 16}" y="{top + 16}" font-size="11">{escape(label)}</text>')
        x += 24 + 6.5 * len(label)
    top += 28
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top}" '
           f'viewBox="0 0 {width} {top}" font-family="sans-serif">',
           f'<rect width="{width}" height="{top}" fill="#fff"/>'] + out + ["</svg>"]
    with open(argv[2], "w") as f:
        f.write("\n".join(svg) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
