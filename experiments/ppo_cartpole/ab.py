#!/usr/bin/env python3
"""Two rllib builds on the same fixed work: configs/ppo-cartpole.yaml, seed 0, a fixed number
of iterations (the runs are bit-identical, so only speed differs), alternating A B B A ...
Prints per build the median and minimum of the training time (time_total_s of the last
result) and of its learn and sample parts.

Usage (from the repository root):
    python3 experiments/ppo_cartpole/ab.py /tmp/rllib-before target/release/rllib [--pairs 8] [--iters 30]
"""
import argparse, glob, json, os, statistics, subprocess, tempfile

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--config", default="configs/ppo-cartpole.yaml")
    x = ap.parse_args()
    res = {x.a: [], x.b: []}
    for i in range(x.pairs):
        for binary in ((x.a, x.b) if i % 2 == 0 else (x.b, x.a)):
            with tempfile.TemporaryDirectory() as d:
                subprocess.run([binary, "train", "--config", x.config, "--seed", "0",
                                "--stop", json.dumps({"training_iteration": x.iters}),
                                "--local-dir", d, "--no-progress"],
                               capture_output=True, check=True, env={**os.environ, "RUST_LOG": "warn"})
                path = glob.glob(d + "/**/result.json", recursive=True)[0]
                rows = [json.loads(l) for l in open(path)]
            res[binary].append((rows[-1]["time_total_s"],
                                sum(r["info"]["learn_time_ms"] for r in rows) / 1e3,
                                sum(r["info"]["sample_time_ms"] for r in rows) / 1e3))
    for binary, v in res.items():
        cols = [(statistics.median(r[k] for r in v), min(r[k] for r in v)) for k in range(3)]
        print(f"{binary}: training {cols[0][0]:.3f} s median ({cols[0][1]:.3f} min), "
              f"learn {cols[1][0]:.3f} ({cols[1][1]:.3f}), sample {cols[2][0]:.3f} ({cols[2][1]:.3f})")

if __name__ == "__main__":
    main()
