#!/usr/bin/python3
"""Chaos soak for nib (tests/soak/run.sh runs it; issue 17).

One nib with a TCP service in front of echo backends. For --seconds:
  - clients (distinct source addresses in 127.0.0.0/8) send random payloads
    through nib and check every byte of the echo;
  - the chaos loop kills and restarts backends at random (SIGKILL), drains and
    re-enables them, changes weights, adds and removes spare backends, each
    through REST or gRPC (nibctl) at random, and sends nib SIGHUP every few
    seconds;
  - a sampler records nib's RSS and open descriptors.
Then it stops nib with SIGTERM and prints a report. It fails (exit 1) on any
corrupted byte, any failed connection not explained by a backend killed while
it was open, any admin call answered with a 5xx or a gRPC INTERNAL/UNKNOWN, a
nib that died or did not stop, RSS growing faster than --max-rss-slope-kb,
or descriptors that outlive the load: once the clients have stopped and
nib's connections have drained, its descriptor count must come back to the
idle count taken before the load (within --fd-slack). That catches a single
leaked descriptor per SIGHUP, kill or admin call, where a slope over a 60 s
run cannot: connections in flight swing the count by tens between samples.
Runs of 5 minutes or more also bound the slope of the descriptor floor
(--max-fd-slope). Every process it starts it stops; every loop ends at the
deadline.

Backends are this script run as `soak.py backend PORT INCARNATION`: each
greets with "ID PORT INCARNATION\n" and echoes. A client that read the
greeting knows which backend incarnation served it, so a failure is blamed on
a kill only when that incarnation was killed.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

# ---------------------------------------------------------------- backend


def run_backend(port, incarnation):
    # Dies with the driver, however the driver ends (PR_SET_PDEATHSIG).
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    if os.getppid() == 1:
        return
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(256)
    greeting = ("ID %d %d\n" % (port, incarnation)).encode()

    def serve(conn):
        with conn:
            try:
                conn.sendall(greeting)
                while True:
                    data = conn.recv(65536)
                    if not data:
                        conn.shutdown(socket.SHUT_WR)
                        return
                    conn.sendall(data)
            except OSError:
                return

    # Dies with SIGKILL (the chaos) or SIGTERM (the end): no other exit.
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


# ---------------------------------------------------------------- driver


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def floors(samples, windows=5):
    """The lowest sample of each of `windows` consecutive slices, at the slice's
    middle time. Descriptors count the connections in flight at the moment of a
    sample (two each, plus pipes), which swing by several between samples; a
    leak raises the floor, so the slope is taken over the floors."""
    if len(samples) < 2 * windows:
        return samples
    size = len(samples) // windows
    out = []
    for i in range(windows):
        part = samples[i * size:(i + 1) * size] if i < windows - 1 else samples[i * size:]
        out.append((part[len(part) // 2][0], min(v for _, v in part)))
    return out


def slope_per_minute(samples):
    """Least-squares slope of (t, v) samples, per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    den = sum((t - mt) ** 2 for t, _ in samples)
    if den == 0:
        return 0.0
    return 60.0 * sum((t - mt) * (v - mv) for t, v in samples) / den


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}
        self.problems = []
        self.start = time.monotonic()

    def add(self, key, n=1):
        with self.lock:
            self.c[key] = self.c.get(key, 0) + n

    def problem(self, text):
        with self.lock:
            if len(self.problems) < 50:
                self.problems.append(text)
        self.add("problems")


class Backends:
    """The backend processes: port -> (process, incarnation); the killed set."""

    def __init__(self, script, stats):
        self.script = script
        self.stats = stats
        self.lock = threading.Lock()
        self.procs = {}
        self.incarnation = {}
        self.killed = set()  # (port, incarnation) killed by the chaos

    def start(self, port):
        with self.lock:
            inc = self.incarnation.get(port, 0) + 1
            self.incarnation[port] = inc
            p = subprocess.Popen([sys.executable, self.script, "backend", str(port), str(inc)],
                                 stdin=subprocess.DEVNULL)
            self.procs[port] = p
        # Ready when it accepts (bounded wait).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.recv(64)
                    return
            except OSError:
                time.sleep(0.02)
        self.stats.problem("backend %d did not start" % port)

    def kill(self, port):
        with self.lock:
            p = self.procs.pop(port, None)
            if p is None:
                return False
            self.killed.add((port, self.incarnation[port]))
        p.send_signal(signal.SIGKILL)
        p.wait()
        return True

    def alive(self):
        with self.lock:
            return sorted(self.procs)

    def was_killed(self, port, inc):
        with self.lock:
            return (port, inc) in self.killed

    def stop_all(self):
        with self.lock:
            procs = list(self.procs.values())
            self.procs.clear()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class KillClock:
    """When kills happened, to blame a failure before the greeting on one."""

    def __init__(self):
        self.lock = threading.Lock()
        self.times = []

    def mark(self):
        with self.lock:
            self.times.append(time.monotonic())

    def any_between(self, a, b):
        with self.lock:
            return any(a <= t <= b for t in self.times)


def client_loop(idx, lb, stop, backends, kills, stats, max_payload):
    rnd = random.Random(idx * 7919 + int(time.time()))
    source = "127.0.2.%d" % (idx + 1)
    while not stop.is_set():
        t0 = time.monotonic()
        greeting = None
        sent_bytes = b""
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(15)
                s.bind((source, 0))
                s.connect(lb)
                f = s.makefile("rb")
                greeting = f.readline()
                if not greeting.startswith(b"ID "):
                    raise OSError("no greeting: %r" % greeting[:40])
                _, port, inc = greeting.split()
                port, inc = int(port), int(inc)
                size = rnd.randint(1, max_payload)
                payload = rnd.randbytes(size)
                sent_bytes = payload
                # Send in chunks and read the echo as it comes (no deadlock on
                # full socket buffers: chunks are small and read back at once).
                received = bytearray()
                off = 0
                while off < size:
                    chunk = payload[off:off + 16384]
                    s.sendall(chunk)
                    off += len(chunk)
                    while len(received) < off:
                        data = f.read1(65536)
                        if not data:
                            raise OSError("echo ended early at %d of %d" % (len(received), size))
                        received += data
                s.shutdown(socket.SHUT_WR)
                rest = f.read()
                received += rest
                if bytes(received) != payload:
                    bad = sum(1 for a, b in zip(received, payload) if a != b) + abs(len(received) - size)
                    stats.add("corrupted_bytes", bad)
                    stats.problem("client %d: %d corrupted bytes (sha256 sent %s got %s)" % (
                        idx, bad, hashlib.sha256(payload).hexdigest()[:12],
                        hashlib.sha256(bytes(received)).hexdigest()[:12]))
                else:
                    stats.add("connections_ok")
                    stats.add("bytes_verified", size)
        except OSError as e:
            t1 = time.monotonic()
            if greeting and greeting.startswith(b"ID "):
                if backends.was_killed(port, inc):
                    stats.add("failed_backend_killed_mid_stream")
                    continue
            elif kills.any_between(t0 - 0.5, t1):
                # nib had chosen a backend that was being killed.
                stats.add("failed_backend_killed_before_greeting")
                continue
            stats.add("failed_other")
            stats.problem("client %d at %.1f s: %s (greeting %r, %d bytes)" % (
                idx, t1 - stats.start, e, greeting, len(sent_bytes)))


class Admin:
    """The two admin APIs: REST with urllib, gRPC through nibctl."""

    def __init__(self, http_port, grpc_port, nibctl, stats):
        self.base = "http://127.0.0.1:%d/api/v1/services/soak" % http_port
        self.grpc = "127.0.0.1:%d" % grpc_port
        self.nibctl = nibctl
        self.stats = stats

    def rest(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                self.stats.add("rest_%d" % r.status)
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            self.stats.add("rest_%d" % e.code)
            text = e.read()[:200]
            if e.code >= 500:
                self.stats.problem("REST %s %s -> %d %s" % (method, path, e.code, text))
            return e.code, None
        except OSError as e:
            self.stats.problem("REST %s %s: %s" % (method, path, e))
            return 0, None

    def ctl(self, *args):
        cmd = [self.nibctl, "--addr", self.grpc, "--service", "soak"] + list(args)
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=15, text=True)
        except subprocess.TimeoutExpired:
            self.stats.problem("nibctl %s: timed out" % " ".join(args))
            return 1, ""
        self.stats.add("grpc_exit_%d" % r.returncode)
        if r.returncode != 0 and any(w in r.stderr for w in ("INTERNAL", "UNKNOWN", "Internal", "Unknown")):
            self.stats.problem("nibctl %s: %s" % (" ".join(args), r.stderr.strip()[:200]))
        return r.returncode, r.stdout

    def backends(self):
        status, body = self.rest("GET", "/backends")
        if status != 200 or not body:
            return []
        return body.get("backends", [])


def chaos_loop(args, stop, deadline, nib, admin, backends, kills, core_ports, spare_ports, stats):
    rnd = random.Random(args.seed)
    dead = {}  # port -> when to restart
    last_hup = time.monotonic()
    while time.monotonic() < deadline and not stop.is_set():
        now = time.monotonic()
        for port, when in list(dead.items()):
            if now >= when:
                backends.start(port)
                del dead[port]
                stats.add("backend_restarts")
        if now - last_hup >= args.hup_every:
            nib.send_signal(signal.SIGHUP)
            stats.add("sighup")
            last_hup = now
        action = rnd.choice(["kill", "kill", "drain", "weight", "weight", "add", "remove", "enable"])
        use_rest = rnd.random() < 0.5
        listed = admin.backends()
        by_port = {b["port"]: b for b in listed if b.get("address") == "127.0.0.1"}
        # The chaos is partial failure: at least two core backends stay alive
        # and enabled after any kill or drain, so a client always has a
        # backend (a client refused because the driver took them all would
        # be the driver's fault, not nib's).
        def usable_besides(port):
            return [p for p in core_ports if p not in dead and p != port
                    and by_port.get(p, {}).get("state", "") not in ("draining", "disabled")]
        if action == "kill":
            alive = [p for p in core_ports if p not in dead]
            port = rnd.choice(alive)
            if len(usable_besides(port)) >= 2:
                kills.mark()
                if backends.kill(port):
                    stats.add("backend_kills")
                    dead[port] = now + rnd.uniform(0.3, 2.0)
        elif action == "drain" and by_port:
            b = by_port[rnd.choice(sorted(by_port))]
            if len(usable_besides(b["port"])) >= 2:
                if use_rest:
                    admin.rest("POST", "/backends/%d/drain" % b["id"], {})
                else:
                    admin.ctl("backends", "drain", str(b["id"]))
                stats.add("drains")
        elif action == "enable" and by_port:
            b = by_port[rnd.choice(sorted(by_port))]
            if use_rest:
                admin.rest("PATCH", "/backends/%d" % b["id"], {"enabled": True})
            else:
                admin.ctl("backends", "set", str(b["id"]), "--enable")
            stats.add("enables")
        elif action == "weight" and by_port:
            b = by_port[rnd.choice(sorted(by_port))]
            w = rnd.randint(1, 10)
            if use_rest:
                admin.rest("PATCH", "/backends/%d" % b["id"], {"weight": w})
            else:
                admin.ctl("backends", "set", str(b["id"]), "--weight", str(w))
            stats.add("weight_changes")
        elif action == "add":
            port = rnd.choice(spare_ports)
            if port not in by_port:
                if use_rest:
                    admin.rest("POST", "/backends", {"address": "127.0.0.1", "port": port})
                else:
                    admin.ctl("backends", "add", "127.0.0.1:%d" % port)
                stats.add("adds")
        elif action == "remove":
            present = [p for p in spare_ports if p in by_port]
            if present:
                b = by_port[rnd.choice(present)]
                if use_rest:
                    admin.rest("DELETE", "/backends/%d" % b["id"])
                else:
                    admin.ctl("backends", "rm", str(b["id"]))
                stats.add("removes")
        stats.add("api_%s" % ("rest" if use_rest else "grpc"))
        stop.wait(rnd.uniform(0.1, args.action_gap))
    # Bring every core backend back for the end of the run.
    for port in list(dead):
        backends.start(port)


def open_fds(pid):
    """nib's open descriptors by kind (socket, pipe, anon_inode:[eventpoll],
    a file's path), for the report when some outlive the load."""
    kinds = {}
    d = "/proc/%d/fd" % pid
    for name in os.listdir(d):
        try:
            target = os.readlink(os.path.join(d, name))
        except OSError:
            continue  # closed between listdir and readlink
        kind = target.split(":[")[0] if target.startswith(("socket:", "pipe:")) else target
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def settled_fds(pid, ceiling, seconds):
    """Polls nib's descriptor count until it is at most `ceiling` or
    `seconds` pass; returns the last count (bounded wait, no fixed sleep)."""
    deadline = time.monotonic() + seconds
    while True:
        n = len(os.listdir("/proc/%d/fd" % pid))
        if n <= ceiling or time.monotonic() >= deadline:
            return n
        time.sleep(0.1)


def idle_fds(pid, admin, seconds=2.0):
    """nib's idle descriptor count after one call on each admin API (gRPC
    and HTTP open some descriptors on first use, which is not a leak): the
    lowest of the counts seen over `seconds`."""
    admin.rest("GET", "/backends")
    admin.ctl("backends")
    low = len(os.listdir("/proc/%d/fd" % pid))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
        low = min(low, len(os.listdir("/proc/%d/fd" % pid)))
    return low


def sampler_loop(pid, stop, samples, every):
    t0 = time.monotonic()
    while not stop.is_set():
        try:
            with open("/proc/%d/status" % pid) as f:
                rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            fds = len(os.listdir("/proc/%d/fd" % pid))
        except (OSError, StopIteration):
            return
        samples.append((time.monotonic() - t0, rss, fds))
        stop.wait(every)


def driver(args):
    script = os.path.abspath(__file__)
    stats = Stats()
    workdir = tempfile.mkdtemp(prefix="nib-soak-")
    lb_port, http_port, grpc_port = free_port(), free_port(), free_port()
    core_ports = [free_port() for _ in range(args.backends)]
    spare_ports = [free_port() for _ in range(2)]
    backends = Backends(script, stats)
    kills = KillClock()
    nib = None
    stop = threading.Event()
    threads = []
    samples = []
    code = 0
    try:
        for p in core_ports + spare_ports:
            backends.start(p)
        config = os.path.join(workdir, "nib.yaml")
        with open(config, "w") as f:
            f.write("workers: 2\nshutdown_grace: 5\n")
            f.write("admin:\n  http_listen: 127.0.0.1:%d\n  grpc_listen: 127.0.0.1:%d\n" % (http_port, grpc_port))
            f.write("  state_file: %s\n" % os.path.join(workdir, "state"))
            f.write("services:\n  - name: soak\n    listen: 127.0.0.1:%d\n" % lb_port)
            f.write("    policy:\n      mode: roundrobin\n      blacklist: 1\n")
            f.write("    connect_timeout: 2\n    backends:\n")
            for p in core_ports:
                f.write("      - 127.0.0.1:%d\n" % p)
        nib_log = open(os.path.join(workdir, "nib.log"), "w")
        nib = subprocess.Popen([args.nib, "--config", config], stdin=subprocess.DEVNULL, stdout=nib_log,
                               stderr=subprocess.STDOUT)
        admin = Admin(http_port, grpc_port, args.nibctl, stats)
        ready_deadline = time.monotonic() + 20
        while time.monotonic() < ready_deadline and nib.poll() is None:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % http_port, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("nib did not become ready (log: %s)" % nib_log.name)

        idle = idle_fds(nib.pid, admin)
        start = time.monotonic()
        stats.start = start
        deadline = start + args.seconds
        threads.append(threading.Thread(target=sampler_loop, args=(nib.pid, stop, samples, args.sample_every)))
        for i in range(args.clients):
            threads.append(threading.Thread(target=client_loop, args=(
                i, ("127.0.0.1", lb_port), stop, backends, kills, stats, args.max_payload)))
        for t in threads:
            t.start()
        chaos_loop(args, stop, deadline, nib, admin, backends, kills, core_ports, spare_ports, stats)
        stop.set()
        for t in threads:
            t.join(timeout=30)
            if t.is_alive():
                stats.problem("a soak thread did not finish")
        elapsed = time.monotonic() - start
        after = None
        if nib.poll() is None:
            # Connections drain once the clients stop; a descriptor that stays
            # was leaked (bounded wait: idle timeouts are not involved, every
            # client closed its socket).
            after = settled_fds(nib.pid, idle + args.fd_slack, 15)
            if after > idle + args.fd_slack:
                stats.problem("descriptors outlive the load: %d once it stopped, %d idle before it (slack %d); "
                              "open now: %s" % (after, idle, args.fd_slack, open_fds(nib.pid)))
        if nib.poll() is not None:
            stats.problem("nib exited during the soak with status %d (log %s)" % (nib.returncode, nib_log.name))
        else:
            nib.send_signal(signal.SIGTERM)
            try:
                rc = nib.wait(timeout=20)
                if rc != 0:
                    stats.problem("nib exited %d after SIGTERM" % rc)
            except subprocess.TimeoutExpired:
                stats.problem("nib did not stop within 20 s of SIGTERM")
        nib = None

        # ---- report
        c = stats.c
        print("soak: %.0f s, %d clients, %d backends (+2 spare)" % (elapsed, args.clients, args.backends))
        print("  connections verified: %d, bytes verified: %d, corrupted bytes: %d" % (
            c.get("connections_ok", 0), c.get("bytes_verified", 0), c.get("corrupted_bytes", 0)))
        print("  failed, backend killed mid-stream: %d; killed before its greeting: %d; other failures: %d" % (
            c.get("failed_backend_killed_mid_stream", 0), c.get("failed_backend_killed_before_greeting", 0),
            c.get("failed_other", 0)))
        print("  chaos: %d kills, %d restarts, %d drains, %d enables, %d weight changes, %d adds, %d removes, %d SIGHUP"
              % (c.get("backend_kills", 0), c.get("backend_restarts", 0), c.get("drains", 0), c.get("enables", 0),
                 c.get("weight_changes", 0), c.get("adds", 0), c.get("removes", 0), c.get("sighup", 0)))
        print("  admin calls: REST %s; gRPC (nibctl exit codes) %s" % (
            {k[5:]: v for k, v in sorted(c.items()) if k.startswith("rest_")},
            {k[10:]: v for k, v in sorted(c.items()) if k.startswith("grpc_exit_")}))
        # Slopes after the first 20% (start-up: pools, tables and caches fill).
        steady = [s for s in samples if s[0] >= 0.2 * elapsed]
        rss_slope = slope_per_minute([(t, r) for t, r, _ in steady])
        fd_slope = slope_per_minute(floors([(t, f) for t, _, f in steady]))
        if samples:
            print("  RSS: %d kB at start, %d kB at end, max %d kB; slope %.1f kB/min (after the first 20%%)" % (
                samples[0][1], samples[-1][1], max(r for _, r, _ in samples), rss_slope))
            print("  descriptors: %d idle before the load, %s once it stopped; under load %d at start, "
                  "%d at end, max %d; slope of the floor %.2f /min" % (
                      idle, after, samples[0][2], samples[-1][2], max(f for _, _, f in samples), fd_slope))
            print("  samples (s, RSS kB, fds): " + " ".join(
                "%.0f:%d:%d" % s for s in samples[:: max(1, len(samples) // 12)]))
        if rss_slope > args.max_rss_slope_kb:
            stats.problem("RSS grows %.1f kB/min (bound %d)" % (rss_slope, args.max_rss_slope_kb))
        if elapsed >= 300 and fd_slope > args.max_fd_slope:
            stats.problem("descriptors grow %.2f /min (bound %.1f)" % (fd_slope, args.max_fd_slope))
        if c.get("connections_ok", 0) == 0:
            stats.problem("no connection was verified")
        for p in stats.problems:
            print("  PROBLEM: " + p)
        ok = not stats.problems
        print("soak: %s" % ("1 passed, 0 failed" if ok else "0 passed, 1 failed"))
        code = 0 if ok else 1
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("soak: nib's log and state are in %s" % workdir)
    finally:
        stop.set()
        if nib is not None and nib.poll() is None:
            nib.kill()
            nib.wait()
        backends.stop_all()
    return code


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "backend":
        run_backend(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    ap = argparse.ArgumentParser(description="nib chaos soak")
    ap.add_argument("--nib", required=True)
    ap.add_argument("--nibctl", required=True)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--backends", type=int, default=4)
    ap.add_argument("--max-payload", type=int, default=256 * 1024)
    ap.add_argument("--hup-every", type=float, default=3.0)
    ap.add_argument("--action-gap", type=float, default=0.6, help="max seconds between chaos actions")
    ap.add_argument("--sample-every", type=float, default=2.0)
    ap.add_argument("--max-rss-slope-kb", type=int, default=1024, help="kB/min")
    ap.add_argument("--max-fd-slope", type=float, default=2.0,
                    help="descriptors/min, checked on runs of 300 s or more")
    ap.add_argument("--fd-slack", type=int, default=4,
                    help="descriptors over the idle count allowed once the load stops")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    # run.sh's trap sends SIGTERM: unwind through driver()'s finally, which
    # stops nib and the backends.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print("soak: seed %d" % args.seed)
    return driver(args)


if __name__ == "__main__":
    sys.exit(main())
