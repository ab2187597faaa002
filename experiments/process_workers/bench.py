#!/usr/bin/env python3
"""PPO on CartPole-v1 with 2 remote rollout workers: worker processes vs worker threads.

Runs alternate between the two modes (thread, process, thread, process, ...), each pair
with its own seed (the same seed in both modes: the runs are identical apart from time).
Reported per mode, as medians over the runs:
  - env steps per second of the whole run: timesteps_total / time_total_s of the last result
    (the first iteration includes starting the workers: threads, or processes that load
    libtorch);
  - env steps per second of an iteration once running: timesteps_this_iter / time_this_iter_s,
    median over iterations 3 and later;
  - sampling steps per second: timesteps_this_iter / sample_time of each iteration, median
    over iterations (the part the worker mode changes: weights out, batches back);
  - wall time from launch to exit (process mode includes starting the worker processes).

Usage (from the repository root, after `cargo build --release -p rllib`):
    python3 experiments/process_workers/bench.py [--runs 7] [--iters 40] [--binary target/release/rllib]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

CONFIG = {
    "num_workers": 2, "num_envs_per_worker": 4, "rollout_fragment_length": 128,
    "train_batch_size": 1024, "sgd_minibatch_size": 256, "num_sgd_iter": 10, "lr": 0.001,
    "gamma": 0.99, "lambda": 0.95, "clip_param": 0.2, "kl_coeff": 0.0, "vf_loss_coeff": 0.5,
    "model": {"fcnet_hiddens": [64]},
}

def run(binary, mode, seed, iters):
    cfg = dict(CONFIG, seed=seed, worker_isolation=mode)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.monotonic()
        p = subprocess.run([binary, "train", "--run", "PPO", "--env", "CartPole-v1",
                            "--config", json.dumps(cfg),
                            "--stop", json.dumps({"training_iteration": iters}),
                            "--local-dir", d, "--no-progress"],
                           capture_output=True, text=True, env={**os.environ, "RUST_LOG": "warn"})
        wall = time.monotonic() - t0
        if p.returncode != 0:
            sys.exit(f"{mode} seed {seed} failed:\n{p.stderr}")
        path = next(os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs if f == "result.json")
        rows = [json.loads(l) for l in open(path)]
    last = rows[-1]
    total = last["timesteps_total"] / last["time_total_s"]
    steady = statistics.median(r["timesteps_this_iter"] / r["time_this_iter_s"] for r in rows[2:])
    sampling = statistics.median(r["timesteps_this_iter"] / (r["info"]["sample_time_ms"] / 1e3)
                                 for r in rows)
    return total, steady, sampling, wall, last["timesteps_total"]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7, help="runs per mode")
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--binary", default="target/release/rllib")
    a = ap.parse_args()
    out = {"thread": [], "process": []}
    for i in range(a.runs):
        for mode in ("thread", "process"):
            total, steady, sampling, wall, steps = run(a.binary, mode, i, a.iters)
            out[mode].append((total, steady, sampling, wall))
            print(f"run {i} {mode:>7}: {total:7.0f} env steps/s overall, {steady:7.0f} per "
                  f"iteration, {sampling:7.0f} sampling steps/s, {wall:5.2f} s wall, {steps} steps",
                  flush=True)
    med = {m: [statistics.median(x[k] for x in rows) for k in range(4)] for m, rows in out.items()}
    for m in ("thread", "process"):
        t, it, s, w = med[m]
        print(f"median {m:>7}: {t:7.0f} env steps/s overall, {it:7.0f} per iteration, "
              f"{s:7.0f} sampling steps/s, {w:5.2f} s wall")
    r = [med["process"][k] / med["thread"][k] for k in range(4)]
    print(f"process / thread: overall {r[0]:.1%}, per iteration {r[1]:.1%}, sampling {r[2]:.1%}, "
          f"wall time {r[3]:.1%}")

if __name__ == "__main__":
    main()
