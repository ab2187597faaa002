#!/usr/bin/env python3
"""PPO on CartPole-v1 with configs/ppo-cartpole.yaml: wall time from launch to a 100-episode
mean return of 475, env steps, and peak memory, for several seeds (median reported).

Usage (from the repository root, after `.ci/rllib --help` built the release binary):
    python3 experiments/ppo_cartpole/bench.py [--seeds 5] [--config configs/ppo-cartpole.yaml]

Comparing builds: give `--binary` more than once; each seed then runs every binary in turn
(alternating, so drift in the machine's load hits both alike), and medians are per binary:
    python3 experiments/ppo_cartpole/bench.py --binary /tmp/rllib-before --binary target/release/rllib
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--config", default="configs/ppo-cartpole.yaml")
    ap.add_argument("--binary", action="append",
                    help="the rllib binary (default target/release/rllib); repeat to alternate builds")
    a = ap.parse_args()
    binaries = a.binary or ["target/release/rllib"]
    rows = {b: [] for b in binaries}
    for seed in range(a.seeds):
        for binary in binaries:
            with tempfile.TemporaryDirectory() as d:
                t0 = time.monotonic()
                p = subprocess.run(["/usr/bin/time", "-f", "%M", binary, "train", "--config", a.config,
                                    "--seed", str(seed), "--local-dir", d, "--no-progress"],
                                   capture_output=True, text=True, env={**os.environ, "RUST_LOG": "warn"})
                wall = time.monotonic() - t0
                if p.returncode != 0:
                    sys.exit(f"{binary} seed {seed} failed:\n{p.stderr}")
                peak_kb = int(p.stderr.strip().splitlines()[-1])
                trial = next(os.path.join(r, x) for r, ds, fs in os.walk(d) for x in fs if x == "result.json")
                last = json.loads(open(trial).read().strip().splitlines()[-1])
                rows[binary].append((seed, wall, last["timesteps_total"], last["episode_reward_mean"], peak_kb / 1024))
                label = f"{binary}: " if len(binaries) > 1 else ""
                print(f"{label}seed {seed}: {wall:.2f} s wall, {last['timesteps_total']} env steps, "
                      f"mean return {last['episode_reward_mean']:.1f}, peak RSS {peak_kb/1024:.0f} MB", flush=True)
    for binary, rs in rows.items():
        label = f"{binary}: " if len(binaries) > 1 else ""
        reached = [r for r in rs if r[3] >= 475]
        print(f"{label}reached 475: {len(reached)}/{len(rs)} seeds")
        print(f"{label}median wall time {statistics.median(r[1] for r in rs):.2f} s, "
              f"median env steps {statistics.median(r[2] for r in rs):.0f}, "
              f"median peak RSS {statistics.median(r[4] for r in rs):.0f} MB")

if __name__ == "__main__":
    main()
