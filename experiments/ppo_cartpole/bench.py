#!/usr/bin/env python3
"""PPO on CartPole-v1 with configs/ppo-cartpole.yaml: wall time from launch to a 100-episode
mean return of 475, env steps, and peak memory, for several seeds (median reported).

Usage (from the repository root, after `.ci/rllib --help` built the release binary):
    python3 experiments/ppo_cartpole/bench.py [--seeds 5] [--config configs/ppo-cartpole.yaml]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--config", default="configs/ppo-cartpole.yaml")
    ap.add_argument("--binary", default="target/release/rllib")
    a = ap.parse_args()
    rows = []
    for seed in range(a.seeds):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.monotonic()
            p = subprocess.run(["/usr/bin/time", "-f", "%M", a.binary, "train", "--config", a.config,
                                "--seed", str(seed), "--local-dir", d, "--no-progress"],
                               capture_output=True, text=True, env={**os.environ, "RUST_LOG": "warn"})
            wall = time.monotonic() - t0
            if p.returncode != 0:
                sys.exit(f"seed {seed} failed:\n{p.stderr}")
            peak_kb = int(p.stderr.strip().splitlines()[-1])
            trial = next(os.path.join(r, x) for r, ds, fs in os.walk(d) for x in fs if x == "result.json")
            last = json.loads(open(trial).read().strip().splitlines()[-1])
            rows.append((seed, wall, last["timesteps_total"], last["episode_reward_mean"], peak_kb / 1024))
            print(f"seed {seed}: {wall:.2f} s wall, {last['timesteps_total']} env steps, "
                  f"mean return {last['episode_reward_mean']:.1f}, peak RSS {peak_kb/1024:.0f} MB", flush=True)
    reached = [r for r in rows if r[3] >= 475]
    print(f"reached 475: {len(reached)}/{len(rows)} seeds")
    print(f"median wall time {statistics.median(r[1] for r in rows):.2f} s, "
          f"median env steps {statistics.median(r[2] for r in rows):.0f}, "
          f"median peak RSS {statistics.median(r[4] for r in rows):.0f} MB")

if __name__ == "__main__":
    main()
