#!/usr/bin/env python3
"""How a cluster grows, simulated on one machine: one head and N node daemons (`rllib start`,
each `--num-cpus 1`, its own temp dir, HOME in a temp dir), for N in --sizes.

Per size it reports: the time to start the nodes; the head's CPU at idle over --idle-seconds
(from /proc/PID/schedstat, nanoseconds on CPU) and per heartbeat received; the head's RSS and
PSS and all daemons' total PSS (/proc/PID/smaps_rollup); heartbeat round trips seen by a few
nodes and the head's time from a heartbeat's first byte to its answer (both from strace, which
slows the traced process: upper bounds); the time to detect one silent node (SIGSTOP, then
`rllib status --format json` polled until it shows the node dead, and the head log's own
timestamp); and 10,000 tiny tasks over all nodes from a driver (runtime example cluster_tasks).

Every daemon is stopped at the end, on error or ^C too.

Build first (release):
    cargo build --release -p rllib -p runtime --bins --example cluster_tasks
Run from the repository root:
    python3 experiments/cluster/scale.py --sizes 10,30,100
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HEARTBEAT_PERIOD_S = 0.5
NODE_RESOURCE = "scale_node_"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def schedstat_ns(pid):
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def ctx_switches(pid):
    total = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def smaps_kib(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


class Cluster:
    """One head and its nodes; `close` stops them all, whatever happened before."""

    def __init__(self, bin_dir, n):
        self.bin_dir = bin_dir
        self.rllib = os.path.join(bin_dir, "rllib")
        self.root = tempfile.mkdtemp(prefix=f"rllib-scale-{n}-")
        self.home = os.path.join(self.root, "home")
        os.makedirs(self.home)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("RLLIB_AUTH_TOKEN", "RLLIB_ADDRESS", "RLLIB_NODE_TIMEOUT_S")}
        self.env["HOME"] = self.home
        self.dirs = []
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes = []  # (node id, pid, address, temp dir)

    def run(self, args, timeout=60, check=True):
        r = subprocess.run([self.rllib, *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise RuntimeError(f"rllib {' '.join(args)} failed ({r.returncode}): "
                               f"{r.stderr.strip() or r.stdout.strip()}")
        return r

    def start_head(self):
        d = os.path.join(self.root, "head")
        self.dirs.append(d)
        self.run(["start", "--head", "--port", str(self.port), "--num-cpus", "0",
                  "--temp-dir", d])
        self.head_dir = d
        self.head_pid = self.pid_of(d)

    def start_node(self, i):
        d = os.path.join(self.root, f"node{i}")
        self.dirs.append(d)
        # Its own custom resource lets the driver pin tasks to it (the spread round).
        r = self.run(["start", "--address", self.address, "--num-cpus", "1",
                      "--resources", json.dumps({f"{NODE_RESOURCE}{i:04}": 1}), "--temp-dir", d])
        m = re.search(r"Started a node \(node (\d+), pid (\d+)\) at (\S+) ", r.stdout)
        if not m:
            raise RuntimeError(f"unexpected `rllib start` output: {r.stdout}")
        return int(m.group(1)), int(m.group(2)), m.group(3), d

    def start_nodes(self, n, parallel):
        # `rllib start` loads libtorch (about 0.5 s), so several run at once.
        with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
            self.nodes = list(pool.map(self.start_node, range(n)))

    @staticmethod
    def pid_of(d):
        with open(os.path.join(d, "daemon.pid")) as f:
            return int(f.read().strip())

    def status(self):
        r = self.run(["status", "--address", self.address, "--format", "json"], timeout=30)
        return json.loads(r.stdout)

    def close(self):
        pids = []
        for d in self.dirs:
            try:
                pids.append(self.pid_of(d))
            except (OSError, ValueError):
                pass
        for p in pids:
            # A stopped daemon cannot act on SIGTERM.
            try:
                os.kill(p, signal.SIGCONT)
            except ProcessLookupError:
                pass

        def stop(d):
            try:
                self.run(["stop", "--temp-dir", d], timeout=30, check=False)
            except subprocess.TimeoutExpired:
                pass

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(stop, reversed(self.dirs)))
        for p in pids:
            if alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.root, ignore_errors=True)


def idle_cpu(c, seconds):
    pids = [c.head_pid] + [n[1] for n in c.nodes]
    t0 = time.monotonic()
    head0, all0, ctx0 = schedstat_ns(c.head_pid), sum(map(schedstat_ns, pids)), ctx_switches(c.head_pid)
    time.sleep(seconds)
    head1, all1, ctx1 = schedstat_ns(c.head_pid), sum(map(schedstat_ns, pids)), ctx_switches(c.head_pid)
    dt = time.monotonic() - t0
    heartbeats = len(c.nodes) * dt / HEARTBEAT_PERIOD_S
    return {
        "head_cpu_percent": 100 * (head1 - head0) / 1e9 / dt,
        "head_cpu_us_per_heartbeat": (head1 - head0) / 1e3 / heartbeats,
        "head_context_switches_per_heartbeat": (ctx1 - ctx0) / heartbeats,
        "all_daemons_cpu_percent": 100 * (all1 - all0) / 1e9 / dt,
    }


def memory(c):
    head = smaps_kib(c.head_pid)
    total = head["Pss"] + sum(smaps_kib(n[1])["Pss"] for n in c.nodes)
    return {"head_rss_kib": head["Rss"], "head_pss_kib": head["Pss"],
            "all_daemons_pss_kib": total}


LINE = re.compile(r"^(\d+\.\d+) (\w+)\((\d+),.*= (-?\d+)(?: \w+ \(.*\))? <(\d+\.\d+)>$")


def strace(pids, seconds, root, tag):
    """Syscalls of `pids` for `seconds`: {pid: [(start, name, fd, result, end)]}."""
    if not shutil.which("strace"):
        return None
    procs = []
    try:
        for p in pids:
            out = os.path.join(root, f"strace-{tag}-{p}")
            procs.append((p, out, subprocess.Popen(
                ["strace", "-ttt", "-T", "-e", "trace=sendto,recvfrom", "-p", str(p), "-o", out],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
        time.sleep(seconds)
    finally:
        for _, _, s in procs:
            s.send_signal(signal.SIGINT)
        for _, _, s in procs:
            try:
                s.wait(timeout=10)
            except subprocess.TimeoutExpired:
                s.kill()
                s.wait()
    calls = {}
    for p, out, _ in procs:
        rows = []
        with open(out) as f:
            for line in f:
                m = LINE.match(line.strip())
                if m:
                    start, dur = float(m.group(1)), float(m.group(5))
                    rows.append((start, m.group(2), int(m.group(3)), int(m.group(4)), start + dur))
        calls[p] = rows
    return calls


def percentiles(xs):
    if not xs:
        return None
    xs = sorted(xs)
    pick = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
    return {"n": len(xs), "p50_ms": 1e3 * pick(0.5), "p99_ms": 1e3 * pick(0.99),
            "max_ms": 1e3 * xs[-1]}


def heartbeat_times(c, seconds):
    """Round trips as nodes see them (send to the answer's last byte) and the head's time
    from a heartbeat's first byte to its answer sent."""
    sample = [n[1] for n in c.nodes[:5]]
    node_calls = strace(sample, seconds, c.root, "node")
    if node_calls is None:
        return {"note": "strace missing: heartbeat times not measured"}
    rtts = []
    for rows in node_calls.values():
        # Idle, a node's only traffic is its heartbeat: a send, then the answer's length and
        # body as two successful reads.
        i = 0
        while i < len(rows):
            start, name, fd, res, _ = rows[i]
            if name == "sendto" and res > 0:
                got = [r for r in rows[i + 1:i + 8] if r[1] == "recvfrom" and r[2] == fd and r[3] > 0]
                if len(got) >= 2:
                    rtts.append(got[1][4] - start)
            i += 1
    head_calls = strace([c.head_pid], seconds, c.root, "head")[c.head_pid]
    service, pending = [], {}
    syscalls_per_answer = None
    for start, name, fd, res, end in head_calls:
        if name == "recvfrom" and res == 4 and fd not in pending:
            pending[fd] = start
        elif name == "sendto" and fd in pending:
            service.append(end - pending.pop(fd))
    answers = sum(1 for r in head_calls if r[1] == "sendto")
    if answers:
        syscalls_per_answer = len(head_calls) / answers
    return {"node_round_trip": percentiles(rtts), "head_service": percentiles(service),
            "head_sendto_recvfrom_per_heartbeat": syscalls_per_answer}


def log_time(line):
    stamp = line.split()[0]
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def detect_silent_node(c, limit_s=30):
    node_id, pid, address, _ = c.nodes[-1]
    log = os.path.join(c.head_dir, "logs", "head.log")
    t0_wall, t0 = time.time(), time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        seen = None
        polls = 0
        while time.monotonic() - t0 < limit_s:
            st = c.status()
            polls += 1
            node = next(n for n in st["nodes"] if n["node_id"] == node_id)
            if not node["alive"]:
                seen = time.monotonic() - t0
                break
        if seen is None:
            raise RuntimeError(f"node {node_id} not declared dead within {limit_s} s")
        logged = None
        with open(log) as f:
            for line in f:
                if f"node {node_id} ({address}) declared dead" in line:
                    logged = log_time(line) - t0_wall
        return {"status_shows_dead_s": seen, "status_polls": polls,
                "head_log_declared_dead_s": logged}
    finally:
        os.kill(pid, signal.SIGCONT)


def wait_alive(c, n, limit_s=30):
    """Waits until n nodes besides the head are alive (a continued node joins again)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        live = sum(1 for x in c.status()["nodes"] if x["alive"] and x["address"] != c.address)
        if live >= n:
            return
        time.sleep(0.2)
    raise RuntimeError(f"fewer than {n} live nodes after {limit_s} s")


def run_tasks(c, example, tasks, n, spread):
    """Two rounds from one new driver: the first starts its workers, the second reuses them."""
    extra = ["--spread", NODE_RESOURCE] if spread else []
    r = subprocess.run([example, c.address, "--tasks", str(tasks), "--rounds", "2",
                        "--expect-cpus", str(n), *extra],
                       env=c.env, capture_output=True, text=True, timeout=900,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"cluster_tasks failed: {r.stderr.strip()}")
    return [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]


def one_size(args, n):
    c = Cluster(args.bin_dir, n)
    try:
        t0 = time.monotonic()
        c.start_head()
        c.start_nodes(n, args.parallel_starts)
        started = time.monotonic() - t0
        wait_alive(c, n)
        time.sleep(2)  # let start-up settle before measuring idle
        # Other work on the machine skews every figure: recorded so that a reader can tell.
        with open("/proc/loadavg") as f:
            row = {"nodes": n, "start_all_s": started, "loadavg_before": f.read().split()[0]}
        row.update(idle_cpu(c, args.idle_seconds))
        row.update(memory(c))
        row.update(heartbeat_times(c, args.strace_seconds))
        row.update(detect_silent_node(c))
        wait_alive(c, n)
        row["tasks"] = run_tasks(c, args.example, args.tasks, n, spread=False)
        row["tasks_spread"] = run_tasks(c, args.example, args.tasks, n, spread=True)
        with open("/proc/loadavg") as f:
            row["loadavg_after"] = f.read().split()[0]
        return row
    finally:
        c.close()


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def table(rows, tasks):
    out = [f"| nodes | start all (s) | head CPU idle (%) | head CPU per heartbeat (us) | head ctx switches per heartbeat | head RSS / PSS (MiB) | all daemons PSS (MiB) | heartbeat RTT p50 / p99 (ms, strace) | head read-to-answer p50 (ms, strace) | silent node: head log / status shows dead (s) | {tasks:,} tasks first-fit, cold / warm (s) | nodes used, warm | {tasks:,} tasks spread, cold / warm (s) | nodes used, warm |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rt, sv = r.get("node_round_trip") or {}, r.get("head_service") or {}
        t, sp = r["tasks"], r["tasks_spread"]
        out.append(
            f"| {r['nodes']} | {r['start_all_s']:.1f} | {r['head_cpu_percent']:.2f} "
            f"| {r['head_cpu_us_per_heartbeat']:.0f} | {r['head_context_switches_per_heartbeat']:.2f} "
            f"| {r['head_rss_kib'] / 1024:.1f} / {r['head_pss_kib'] / 1024:.1f} "
            f"| {r['all_daemons_pss_kib'] / 1024:.0f} "
            f"| {fmt(rt.get('p50_ms'), '.2f')} / {fmt(rt.get('p99_ms'), '.2f')} "
            f"| {fmt(sv.get('p50_ms'), '.2f')} "
            f"| {fmt(r['head_log_declared_dead_s'], '.2f')} / {r['status_shows_dead_s']:.2f} "
            f"| {t[0]['seconds']:.2f} / {t[-1]['seconds']:.2f} | {t[-1]['distinct_nodes']} "
            f"| {sp[0]['seconds']:.2f} / {sp[-1]['seconds']:.2f} | {sp[-1]['distinct_nodes']} |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10,30,100")
    p.add_argument("--bin-dir", default="target/release")
    p.add_argument("--example", default=None, help="default: BIN_DIR/examples/cluster_tasks")
    p.add_argument("--tasks", type=int, default=10_000)
    p.add_argument("--idle-seconds", type=float, default=10)
    p.add_argument("--strace-seconds", type=float, default=5)
    p.add_argument("--parallel-starts", type=int, default=4)
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args()
    args.example = args.example or os.path.join(args.bin_dir, "examples", "cluster_tasks")
    for f in (os.path.join(args.bin_dir, "rllib"), os.path.join(args.bin_dir, "rllib-daemon"),
              args.example):
        if not os.access(f, os.X_OK):
            sys.exit(f"{f} missing: cargo build --release -p rllib -p runtime --bins --example cluster_tasks")
    # ^C and SIGTERM unwind through `finally`, so the daemons are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        print(f"== {n} nodes", file=sys.stderr, flush=True)
        row = one_size(args, n)
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    print(table(rows, args.tasks))


if __name__ == "__main__":
    main()
