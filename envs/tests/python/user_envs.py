"""Small user envs for the bridge's tests: deterministic given reset(seed=...)."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class Corridor(gym.Env):
    """Walk right to the goal: Discrete(2) actions, Box(1,) observations, a reward noise
    drawn from the env's seeded generator (so the same seed gives the same episode)."""

    def __init__(self, config):
        self.length = int(config.get("length", 5))
        self.observation_space = spaces.Box(0.0, float(self.length), (1,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.pos = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = int(self.np_random.integers(0, 2))
        return np.array([self.pos], dtype=np.float32), {}

    def step(self, action):
        self.pos = max(0, self.pos + (1 if action == 1 else -1))
        terminated = self.pos >= self.length
        reward = (1.0 if terminated else -0.1) + float(self.np_random.normal(0.0, 0.01))
        print("stdout from a user env must not corrupt the bridge's frames")
        return np.array([self.pos], dtype=np.float32), reward, terminated, False, {}


class Structured(gym.Env):
    """Dict observations (a Box and a Discrete) and a Box action of shape (2, 2)."""

    def __init__(self, config):
        self.observation_space = spaces.Dict(
            {"pos": spaces.Box(-1.0, 1.0, (2,), np.float32), "mode": spaces.Discrete(3)}
        )
        self.action_space = spaces.Box(-2.0, 2.0, (2, 2), np.float32)
        self.t = 0

    def _obs(self):
        return {"pos": np.array([0.5, -0.25], dtype=np.float32), "mode": self.t % 3}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        assert action.shape == (2, 2), action.shape
        self.t += 1
        return self._obs(), float(action.sum()), False, self.t >= 3, {}


class Image(gym.Env):
    """Box observations of shape (2, 3) in float64 and MultiDiscrete-free Discrete actions."""

    def __init__(self, config):
        self.observation_space = spaces.Box(-np.inf, np.inf, (2, 3), np.float64)
        self.action_space = spaces.Discrete(4, start=1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.arange(6, dtype=np.float64).reshape(2, 3) / 3.0, {}

    def step(self, action):
        assert 1 <= action <= 4, action
        return np.full((2, 3), float(action)), 0.0, True, False, {}


class Grid(gym.Env):
    """MultiDiscrete observations (flattened one-hot), Discrete actions."""

    def __init__(self, config):
        self.observation_space = spaces.MultiDiscrete([2, 3])
        self.action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.array([1, 2]), {}

    def step(self, action):
        return np.array([0, action]), 0.0, False, False, {}


class Words(gym.Env):
    """Text observations, which the bridge cannot flatten."""

    def __init__(self, config):
        self.observation_space = spaces.Text(5)
        self.action_space = spaces.Discrete(2)


class PickAll(gym.Env):
    """MultiDiscrete actions, which the policy has no distribution for."""

    def __init__(self, config):
        self.observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = spaces.MultiDiscrete([2, 2])


class BrokenInit(gym.Env):
    def __init__(self, config):
        raise ValueError("the config needs a 'map' key")


class BrokenStep(Corridor):
    """Raises on its third step."""

    def reset(self, *, seed=None, options=None):
        self.steps = 0
        return super().reset(seed=seed, options=options)

    def step(self, action):
        self.steps += 1
        if self.steps == 3:
            raise RuntimeError("the simulator lost its state")
        return super().step(action)


class Sleeper(Corridor):
    """Takes long to step, so a test can kill its process mid-step."""

    def step(self, action):
        import time

        time.sleep(0.005)
        return super().step(action)
