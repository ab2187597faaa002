#!/usr/bin/env python3
"""PPO CartPole with and without `--dashboard`, alternating runs, same seed (the same curve).

With the dashboard on, a poller plays an open browser tab: every second it asks what the
Overview and Tasks pages ask (/api/nodes, /api/usage, /api/tasks?limit=50, /api/trials), so the
table copies and the trial listing are paid during training.

    python3 experiments/dashboard/overhead.py [PAIRS] [RLLIB]   # default 5 pairs, .ci/rllib
"""
import json, os, statistics, subprocess, sys, tempfile, threading, time, urllib.request

PAIRS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
RLLIB = sys.argv[2] if len(sys.argv) > 2 else ".ci/rllib"
ONLY = sys.argv[3] if len(sys.argv) > 3 else ""
TOKEN = "overhead-bench"
WORKLOADS = {
    # The project's tuned config: the local worker samples (no runtime tasks), to 475.
    "ppo-cartpole.yaml (0 workers, to 475)": ["--config", "configs/ppo-cartpole.yaml"],
    # Two rollout-worker actors: every iteration is runtime tasks the dashboard copies.
    "2 remote workers, 40 iterations": [
        "--run", "PPO", "--env", "CartPole-v1", "--stop", '{"training_iteration": 40}', "--config",
        json.dumps({"seed": 0, "num_workers": 2, "num_envs_per_worker": 4, "rollout_fragment_length": 128,
                    "train_batch_size": 1024, "sgd_minibatch_size": 256, "num_sgd_iter": 10,
                    "lr": 0.001, "model": {"fcnet_hiddens": [64]}}),
    ],
}


def poll(port, stop):
    paths = ["/api/nodes", "/api/usage", "/api/tasks?limit=50", "/api/trials"]
    while not stop.is_set():
        for p in paths:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}{p}", headers={"Authorization": f"Bearer {TOKEN}"})
                urllib.request.urlopen(req, timeout=5).read()
            except Exception:
                pass
        stop.wait(1.0)


def run(args, dashboard, port):
    with tempfile.TemporaryDirectory() as d:
        cmd = [RLLIB, "train", *args, "--local-dir", d, "--no-progress"]
        if dashboard:
            cmd += ["--dashboard", "--dashboard-port", str(port)]
        env = dict(os.environ, RLLIB_AUTH_TOKEN=TOKEN, RUST_LOG="warn")
        stop = threading.Event()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        th = None
        if dashboard:
            th = threading.Thread(target=poll, args=(port, stop), daemon=True)
            th.start()
        assert p.wait() == 0, cmd
        wall = time.perf_counter() - t0
        stop.set()
        if th:
            th.join()
        return wall


def main():
    port = 18300
    print(f"{PAIRS} pairs per workload, alternating (without, with), {RLLIB}")
    for name, args in WORKLOADS.items():
        if ONLY and ONLY not in name:
            continue
        off, on = [], []
        for i in range(PAIRS):
            port += 1
            first_on = i % 2 == 1  # alternate which goes first
            for dash in ([True, False] if first_on else [False, True]):
                (on if dash else off).append(run(args, dash, port))
        mo, mn = statistics.median(off), statistics.median(on)
        print(f"| {name} | {mo:.2f} s | {mn:.2f} s | {100 * (mn - mo) / mo:+.1f}% | "
              f"{' '.join(f'{x:.2f}' for x in off)} | {' '.join(f'{x:.2f}' for x in on)} |")


if __name__ == "__main__":
    main()
