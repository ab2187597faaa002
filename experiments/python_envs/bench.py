#!/usr/bin/env python3
"""Python envs through the bridge, side by side with Python's own tools, in one run:

  a) env steps/s of bridged `gymnasium:CartPole-v1` (8 envs, one Python process, one round
     trip per vector step) vs Gymnasium's SyncVectorEnv of 8 in a Python loop, and vs a bare
     Python loop over 8 envs (the floor); per-step overhead of the bridge in microseconds;
  b) PPO with configs/ppo-cartpole.yaml to a 100-episode mean of 475: wall time from launch
     on `gymnasium:CartPole-v1` vs the native `CartPole-v1` (median over seeds);
  c) PPO on MuJoCo HalfCheetah-v5 for 200,000 env steps: this project with
     configs/ppo-halfcheetah.yaml vs Stable-Baselines3's PPO with RL-Zoo's HalfCheetah
     settings (installed into .venv by this script if missing): wall time, env steps/s, and
     the mean return of the last 100 episodes.

Usage, from the repository root after .ci/setup:
    python3 experiments/python_envs/bench.py [--parts abc] [--seeds 3] [--steps 200000]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")
RLLIB = os.path.join(ROOT, "target", "release", "rllib")
ENV = {**os.environ, "RUST_LOG": "warn", "LIBTORCH": os.path.join(ROOT, ".venv", "libtorch")}


def reexec_in_venv():
    try:
        import gymnasium  # noqa: F401
    except ModuleNotFoundError:
        if not os.environ.get("RLLIB_BENCH_IN_VENV"):
            os.environ["RLLIB_BENCH_IN_VENV"] = "1"
            os.execv(VENV_PY, [VENV_PY, *sys.argv])
        sys.exit("gymnasium is missing from .venv: run .ci/setup")


def median_rate(fn, rounds=5):
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def part_a(vector_steps):
    import gymnasium as gym
    import numpy as np

    n = 8
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 2, size=(vector_steps, n))
    sync = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(n)])
    sync.reset(seed=0)

    def run_sync():
        for t in range(vector_steps):
            sync.step(actions[t])
        return vector_steps * n

    envs = [gym.make("CartPole-v1") for _ in range(n)]
    for i, e in enumerate(envs):
        e.reset(seed=i)
    rows = actions.tolist()

    def run_bare():
        for t in range(vector_steps):
            row = rows[t]
            for i in range(n):
                _, _, te, tr, _ = envs[i].step(row[i])
                if te or tr:
                    envs[i].reset()
        return vector_steps * n

    sync_rate = median_rate(run_sync)
    bare_rate = median_rate(run_bare)
    subprocess.run(["cargo", "bench", "-p", "envs", "--bench", "python_env", "--no-run", "-q"],
                   cwd=ROOT, env=ENV, check=True)
    p = subprocess.run(["cargo", "bench", "-q", "-p", "envs", "--bench", "python_env", "--",
                        str(vector_steps), "gymnasium:CartPole-v1", str(n)],
                       cwd=ROOT, env=ENV, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bridge benchmark failed:\n{p.stdout}\n{p.stderr}")
    bridge = json.loads(p.stdout.strip().splitlines()[-1])
    bridge_rate = bridge["median_env_steps_per_s"]
    us = lambda rate: n / rate * 1e6  # per vector step of n
    print(f"a) CartPole-v1, {n} envs, {vector_steps} vector steps x 5 rounds (median):")
    print(f"   bridge (gymnasium:CartPole-v1): {bridge_rate:>9.0f} env steps/s, {us(bridge_rate):6.1f} us per vector step")
    print(f"   Gymnasium SyncVectorEnv       : {sync_rate:>9.0f} env steps/s, {us(sync_rate):6.1f} us per vector step")
    print(f"   bare Python loop over 8 envs  : {bare_rate:>9.0f} env steps/s, {us(bare_rate):6.1f} us per vector step")
    overhead = us(bridge_rate) - us(bare_rate)
    print(f"   bridge overhead over the bare loop: {overhead:.1f} us per vector step "
          f"({overhead / n:.2f} us per env step); bridge / SyncVectorEnv = {bridge_rate / sync_rate:.2f}x", flush=True)


def experiment_file(config, env=None, stop=None):
    """A copy of `config` with another env or stop block (plain text edits of our YAML)."""
    lines = open(os.path.join(ROOT, config)).read().splitlines()
    out, skipping = [], False
    for line in lines:
        s = line.strip()
        if env and s.startswith("env:"):
            line = line[: len(line) - len(line.lstrip())] + f"env: {env}"
        if stop is not None and s == "stop:":
            out.append(line)
            indent = line[: len(line) - len(line.lstrip())] + "    "
            out.extend(f"{indent}{k}: {v}" for k, v in stop.items())
            skipping = True
            continue
        if skipping:
            if s and (len(line) - len(line.lstrip())) > 4 and not s.startswith("config:"):
                continue
            skipping = False
        out.append(line)
    f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    f.write("\n".join(out) + "\n")
    f.close()
    return f.name


def run_rllib(config_file, seed=None):
    with tempfile.TemporaryDirectory() as d:
        cmd = [RLLIB, "train", "--config", config_file, "--local-dir", d, "--no-progress"]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
        trial = next(os.path.join(r, x) for r, ds, fs in os.walk(d) for x in fs if x == "result.json")
        last = json.loads(open(trial).read().strip().splitlines()[-1])
        return wall, last


def part_b(seeds):
    print(f"b) PPO, configs/ppo-cartpole.yaml, to a 100-episode mean of 475 ({seeds} seeds, wall from launch):")
    medians = {}
    for env in ["CartPole-v1", "gymnasium:CartPole-v1"]:
        f = experiment_file("configs/ppo-cartpole.yaml", env=env)
        rows = []
        for seed in range(seeds):
            wall, last = run_rllib(f, seed)
            rows.append((wall, last["timesteps_total"], last["episode_reward_mean"]))
            print(f"   {env:<22} seed {seed}: {wall:6.2f} s, {last['timesteps_total']} env steps, "
                  f"mean return {last['episode_reward_mean']:.1f}", flush=True)
        os.unlink(f)
        reached = sum(r[2] >= 475 for r in rows)
        medians[env] = statistics.median(r[0] for r in rows)
        print(f"   {env:<22} reached 475: {reached}/{seeds}, median {medians[env]:.2f} s", flush=True)
    print(f"   bridged / native wall time: {medians['gymnasium:CartPole-v1'] / medians['CartPole-v1']:.2f}x", flush=True)


SB3 = r"""
import json, sys, time
import torch.nn as nn
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize
steps = int(sys.argv[1])
t0 = time.monotonic()
env = VecNormalize(make_vec_env("HalfCheetah-v5", n_envs=1, seed=0))
# RL-Zoo's hyperparams/ppo.yml for HalfCheetah (normalize: true).
model = PPO("MlpPolicy", env, batch_size=64, n_steps=512, gamma=0.98, learning_rate=2.0633e-05,
            ent_coef=0.000401762, clip_range=0.1, n_epochs=20, gae_lambda=0.92, max_grad_norm=0.8,
            vf_coef=0.58096, seed=0, device="cpu",
            policy_kwargs=dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU,
                               net_arch=dict(pi=[256, 256], vf=[256, 256])))
model.learn(total_timesteps=steps)
wall = time.monotonic() - t0
rets = [e["r"] for e in model.ep_info_buffer]
print(json.dumps({"wall": wall, "steps": model.num_timesteps, "return": sum(rets) / max(len(rets), 1),
                  "episodes": len(rets)}))
"""


def part_c(steps):
    try:
        import stable_baselines3  # noqa: F401
    except ModuleNotFoundError:
        print("   installing stable-baselines3 into .venv (benchmark only)", flush=True)
        subprocess.run([VENV_PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "stable-baselines3"], check=True)
    print(f"c) PPO on HalfCheetah-v5 for {steps} env steps (return: mean of the last 100 episodes):")
    f = experiment_file("configs/ppo-halfcheetah.yaml", stop={"timesteps_total": steps})
    wall, last = run_rllib(f)
    os.unlink(f)
    print(f"   this project (configs/ppo-halfcheetah.yaml): {wall:7.1f} s, {last['timesteps_total']} steps, "
          f"{last['timesteps_total'] / wall:7.0f} env steps/s, return {last['episode_reward_mean']:8.1f}", flush=True)
    p = subprocess.run([VENV_PY, "-c", SB3, str(steps)], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"Stable-Baselines3 failed:\n{p.stderr[-3000:]}")
    sb3 = json.loads(p.stdout.strip().splitlines()[-1])
    print(f"   Stable-Baselines3 PPO (RL-Zoo settings)    : {sb3['wall']:7.1f} s, {sb3['steps']} steps, "
          f"{sb3['steps'] / sb3['wall']:7.0f} env steps/s, return {sb3['return']:8.1f}", flush=True)
    print(f"   speed ratio (env steps/s): {last['timesteps_total'] / wall / (sb3['steps'] / sb3['wall']):.2f}x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="abc")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--vector-steps", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=200000)
    a = ap.parse_args()
    reexec_in_venv()
    if any(p in a.parts for p in "bc"):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "rllib"], cwd=ROOT, env=ENV, check=True)
    print(f"machine: {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    if "a" in a.parts:
        part_a(a.vector_steps)
    if "b" in a.parts:
        part_b(a.seeds)
    if "c" in a.parts:
        part_c(a.steps)


if __name__ == "__main__":
    main()
