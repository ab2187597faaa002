#!/usr/bin/env python3
"""Async gradients pay off: gradient throughput of A3C (AsyncGradientsOptimizer) and of A2C
(synchronous samples) with two workers, first as they are, then with worker 1 slowed 5x
(`worker_slowdown: [[1, 5]]`, which makes that worker sleep 4x its sampling time).

Usage (repository root, release binary built by `.ci/rllib --help`):
    python3 experiments/async_gradients/bench.py
"""
import json, os, subprocess, tempfile

BIN = "target/release/rllib"
COMMON = {"seed": 0, "num_workers": 2, "num_envs_per_worker": 4, "rollout_fragment_length": 20,
          "lr": 0.002, "min_iter_time_s": 0, "model": {"fcnet_hiddens": [64, 64]}}

def run(algo, extra, iters):
    cfg = dict(COMMON, **extra)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([BIN, "train", "--run", algo, "--env", "CartPole-v1", "--config", json.dumps(cfg),
                        "--stop", json.dumps({"training_iteration": iters}), "--local-dir", d, "--no-progress"],
                       check=True, capture_output=True, env={**os.environ, "RUST_LOG": "warn"})
        f = next(os.path.join(r, x) for r, _, fs in os.walk(d) for x in fs if x == "result.json")
        rows = [json.loads(l) for l in open(f)]
    rows = rows[1:]  # the first iteration includes start-up
    secs = sum(r["time_this_iter_s"] for r in rows)
    if algo == "A3C":
        grads = sum(r["info"]["num_grads_applied"] for r in rows)
        per_worker = {}
        for r in rows:
            for w, n in r["info"]["grads_per_worker"].items():
                per_worker[w] = per_worker.get(w, 0) + n
        return grads / secs, per_worker, sum(r["info"]["mean_grad_staleness"] for r in rows) / len(rows)
    return len(rows) / secs, None, 0.0

def main():
    slow = {"worker_slowdown": [[1, 5]]}
    a3c = run("A3C", {"grads_per_step": 100}, 6)
    a3c_slow = run("A3C", dict({"grads_per_step": 100}, **slow), 6)
    # A2C: one round from both workers (2 x 4 envs x 20 steps) per gradient step.
    a2c = run("A2C", {"train_batch_size": 160}, 120)
    a2c_slow = run("A2C", dict({"train_batch_size": 160}, **slow), 120)
    print(f"A3C gradients applied/s: {a3c[0]:.0f} normal, {a3c_slow[0]:.0f} with worker 1 slowed 5x "
          f"({a3c_slow[0] / a3c[0]:.0%} kept); per worker {a3c[1]} -> {a3c_slow[1]}; "
          f"mean staleness {a3c[2]:.2f} -> {a3c_slow[2]:.2f}")
    print(f"A2C (sync) gradient steps/s: {a2c[0]:.0f} normal, {a2c_slow[0]:.0f} with worker 1 slowed 5x "
          f"({a2c_slow[0] / a2c[0]:.0%} kept)")

if __name__ == "__main__":
    main()
