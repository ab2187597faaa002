"""Hosts the env copies of one Rust rollout worker and steps them together, one request per
vector step. Started by envs/src/python/process.rs with `python -c <this file>`; it speaks
only the frames below, on the pipes that were stdin and stdout (a user's print() goes to
stderr instead, so it can never corrupt a frame).

Every frame is `u8 tag, u32 length (little-endian), payload`.

Requests (Rust -> Python):
  b"I" JSON {target: {kind: gymnasium|file|module, ...}, env_config, num_envs, autoreset, cwd}
  b"R" u8 has_seed, u64 seed: reset every env, env i with seed + i (Gymnasium's reset(seed=)).
  b"S" the actions of all envs: int64 per env (Discrete), float32 * k per env (Box),
       int64 * k per env (MultiDiscrete).
  b"Q" quit.
Replies (Python -> Rust): tag 0 with the payload, or tag 1 with a JSON error
  {stage, type, message, index, missing, not_found, dependency}.
  I: JSON {observation: space, action: space}, a space being {kind, n | low, high, shape |
     nvec, described}; non-finite bounds are the strings "inf" / "-inf".
  R: float32 observations, num_envs * obs_dim.
  S: float32 observations, float64 rewards, u8 terminated, u8 truncated (num_envs each),
     then for each env whose episode ended, in order, its final float32 observation. With
     autoreset (the vector env's rule) such an env is reset at once and its row is the next
     episode's first observation.
"""

import json
import os
import struct
import sys
import traceback

HEADER = struct.Struct("<BI")


class EnvFailure(Exception):
    """An error to report as a JSON error frame."""

    def __init__(self, **fields):
        super().__init__(fields.get("message", ""))
        self.fields = fields


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def reply(fd, tag, *parts):
    length = sum(len(p) for p in parts)
    write_all(fd, b"".join([HEADER.pack(tag, length), *parts]))


def exception_fields(stage, exc, index=None):
    return {
        "stage": stage,
        "type": type(exc).__name__,
        "message": str(exc),
        "index": index,
    }


def bounds(values):
    out = []
    for v in values.reshape(-1).tolist():
        if v != v:
            out.append("nan")
        elif v == float("inf"):
            out.append("inf")
        elif v == float("-inf"):
            out.append("-inf")
        else:
            out.append(v)
    return out


class Observations:
    """Turns one env's observations into a flat float32 row, as gymnasium.spaces.flatten."""

    def __init__(self, space, np, spaces):
        self.space = space
        self.np = np
        if isinstance(space, spaces.Box):
            self.kind = "box"
            self.shape = list(space.shape)
            low = np.asarray(space.low, dtype=np.float32)
            high = np.asarray(space.high, dtype=np.float32)
            self.flatten = None
        elif isinstance(
            space, (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, spaces.Dict, spaces.Tuple)
        ):
            try:
                flat = spaces.flatten_space(space)
            except Exception as e:
                raise EnvFailure(stage="space", type="UnsupportedSpace", message=f"observation space {space}: {e}")
            if not isinstance(flat, spaces.Box):
                raise EnvFailure(stage="space", type="UnsupportedSpace", message=f"observation space {space}")
            self.kind = "box"
            self.shape = [int(flat.shape[0])]
            low = np.asarray(flat.low, dtype=np.float32)
            high = np.asarray(flat.high, dtype=np.float32)
            self.flatten = spaces.flatten
        else:
            raise EnvFailure(stage="space", type="UnsupportedSpace", message=f"observation space {space}")
        self.dim = int(np.prod(self.shape)) if self.shape else 1
        self.description = {
            "kind": "box",
            "low": bounds(low),
            "high": bounds(high),
            "shape": self.shape,
            "described": str(space),
        }

    def rows(self, items, stage):
        """The float32 bytes of a list of observations, one flat row each."""
        np = self.np
        try:
            if self.flatten is not None:
                items = [self.flatten(self.space, o) for o in items]
            # One cast for the batch, as numpy's astype(float32): float32 input is copied bit
            # for bit.
            batch = np.asarray(items, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise EnvFailure(stage=stage, type="BadObservation", message=f"observations that do not fit {self.space}: {e}")
        if batch.size != len(items) * self.dim:
            raise EnvFailure(
                stage=stage,
                type="BadObservation",
                message=f"an observation of {batch.size // max(len(items), 1)} values, but {self.space} has {self.dim}",
            )
        return batch.tobytes()


class Actions:
    """Turns a batch of actions from Rust into what each env's step() takes."""

    def __init__(self, space, np, spaces, num_envs):
        self.np = np
        self.space = space
        if isinstance(space, spaces.Discrete):
            self.kind = "discrete"
            self.start = int(space.start)
            self.width = 1
            self.dtype = "<i8"
            self.description = {"kind": "discrete", "n": int(space.n), "described": str(space)}
        elif isinstance(space, spaces.Box):
            self.kind = "box"
            self.shape = tuple(space.shape)
            self.width = int(np.prod(self.shape)) if self.shape else 1
            self.dtype = "<f4"
            self.description = {
                "kind": "box",
                "low": bounds(np.asarray(space.low, dtype=np.float32)),
                "high": bounds(np.asarray(space.high, dtype=np.float32)),
                "shape": list(self.shape),
                "described": str(space),
            }
        elif isinstance(space, spaces.MultiDiscrete) and len(space.shape) == 1:
            self.kind = "multi_discrete"
            self.start = np.asarray(space.start, dtype=np.int64)
            self.width = int(space.shape[0])
            self.dtype = "<i8"
            self.description = {
                "kind": "multi_discrete",
                "nvec": [int(n) for n in space.nvec.tolist()],
                "described": str(space),
            }
        else:
            raise EnvFailure(stage="space", type="UnsupportedSpace", message=f"action space {space}")
        self.bytes = num_envs * self.width * (8 if self.dtype == "<i8" else 4)

    def split(self, payload, num_envs):
        np = self.np
        if len(payload) != self.bytes:
            raise EnvFailure(stage="step", type="ProtocolError", message=f"expected {self.bytes} bytes of actions, got {len(payload)}")
        flat = np.frombuffer(payload, dtype=self.dtype)
        if self.kind == "discrete":
            start = self.start
            return flat.tolist() if start == 0 else [a + start for a in flat.tolist()]
        rows = flat.reshape(num_envs, self.width)
        if self.kind == "box":
            dtype = self.space.dtype
            return [np.array(r, dtype=dtype).reshape(self.shape) for r in rows]
        return [(r + self.start).astype(self.space.dtype) for r in rows]


def load_class(target, cwd):
    import importlib
    import importlib.util

    if target["kind"] == "file":
        path = target["path"]
        if not os.path.isfile(path):
            raise EnvFailure(stage="import", not_found=f"file '{path}' not found", type="FileNotFoundError", message=path)
        name = "rllib_user_env_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        # The file's own folder is importable from it, as when it is run as a script.
        sys.path.insert(0, os.path.dirname(path))
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except ModuleNotFoundError as e:
            raise EnvFailure(missing=e.name, **exception_fields("import", e))
        except Exception as e:
            raise EnvFailure(**exception_fields("import", e))
        where = f"file '{path}'"
    else:
        sys.path.insert(0, cwd)
        try:
            module = importlib.import_module(target["module"])
        except ModuleNotFoundError as e:
            top = target["module"].split(".")[0]
            if e.name and (e.name == target["module"] or target["module"].startswith(e.name + ".") or e.name == top):
                raise EnvFailure(not_found=f"no Python module '{target['module']}' (searched from {cwd} and the interpreter's path)", **exception_fields("import", e))
            raise EnvFailure(missing=e.name, **exception_fields("import", e))
        except Exception as e:
            raise EnvFailure(**exception_fields("import", e))
        where = f"module '{target['module']}'"
    cls = getattr(module, target["class"], None)
    if cls is None:
        raise EnvFailure(stage="import", type="AttributeError", message="", not_found=f"no class '{target['class']}' in {where}")
    return cls


def make_envs(request):
    try:
        import numpy as np
        import gymnasium
        from gymnasium import spaces
    except ModuleNotFoundError as e:
        raise EnvFailure(missing=e.name or "gymnasium", **exception_fields("import", e))
    target = request["target"]
    config = request.get("env_config") or {}
    n = int(request["num_envs"])
    envs = []
    if target["kind"] == "gymnasium":
        env_id = target["id"]
        if ":" in env_id:
            import importlib

            module, _, env_id = env_id.partition(":")
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as e:
                raise EnvFailure(missing=e.name, **exception_fields("import", e))
            except Exception as e:
                raise EnvFailure(**exception_fields("import", e))
        if env_id not in gymnasium.registry:
            # Packages such as ale_py register on import ("ale_py:ALE/Pong-v5" style ids do it themselves).
            raise EnvFailure(stage="make", type="NameNotFound", message="", not_found=f"Gymnasium's registry has no env '{env_id}'")
        for i in range(n):
            try:
                envs.append(gymnasium.make(env_id, **config))
            except ModuleNotFoundError as e:
                raise EnvFailure(missing=e.name, **exception_fields("gymnasium.make", e, i))
            except gymnasium.error.DependencyNotInstalled as e:
                raise EnvFailure(dependency=str(e), **exception_fields("gymnasium.make", e, i))
            except Exception as e:
                raise EnvFailure(**exception_fields("gymnasium.make", e, i))
    else:
        cls = load_class(target, request["cwd"])
        for i in range(n):
            try:
                envs.append(cls(dict(config)))
            except Exception as e:
                raise EnvFailure(**exception_fields("__init__", e, i))
    return np, spaces, envs


class Frames:
    """Requests from Rust, read with as few system calls as possible (one per request when
    the whole frame is in the pipe, as it is once Rust's single write lands)."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = b""

    def next(self):
        buf = self.buf
        while len(buf) < HEADER.size:
            buf += self._read(1 << 16)
        tag, length = HEADER.unpack_from(buf)
        end = HEADER.size + length
        while len(buf) < end:
            buf += self._read(max(1 << 16, end - len(buf)))
        self.buf = buf[end:]
        return tag, buf[HEADER.size:end]

    def _read(self, n):
        chunk = os.read(self.fd, n)
        if not chunk:
            raise EOFError
        return chunk


def serve(rfd, wfd):
    frames = Frames(rfd)
    tag, payload = frames.next()
    request = json.loads(payload)
    np, spaces, envs = make_envs(request)
    n = len(envs)
    observations = Observations(envs[0].observation_space, np, spaces)
    actions = Actions(envs[0].action_space, np, spaces, n)
    for i, env in enumerate(envs[1:], 1):
        if env.observation_space != envs[0].observation_space or env.action_space != envs[0].action_space:
            raise EnvFailure(stage="__init__", type="SpaceMismatch", message=f"env {i} has other spaces than env 0", index=i)
    autoreset = bool(request.get("autoreset", True))
    reply(wfd, 0, json.dumps({"observation": observations.description, "action": actions.description}).encode())

    rows = observations.rows
    pack_rewards = struct.Struct(f"<{n}d").pack
    while True:
        try:
            tag, payload = frames.next()
        except EOFError:
            return
        if tag == ord("S"):
            acts = actions.split(payload, n)
            obs = [None] * n
            rewards = [0.0] * n
            terminated = bytearray(n)
            truncated = bytearray(n)
            finals = []
            for i in range(n):
                env = envs[i]
                try:
                    o, r, te, tr, _ = env.step(acts[i])
                except Exception as e:
                    raise EnvFailure(**exception_fields("step", e, i))
                rewards[i] = r
                if te or tr:
                    terminated[i] = bool(te)
                    truncated[i] = bool(tr)
                    finals.append(o)
                    if autoreset:
                        try:
                            o, _ = env.reset()
                        except Exception as e:
                            raise EnvFailure(**exception_fields("reset", e, i))
                obs[i] = o
            try:
                rewards = pack_rewards(*rewards)
            except struct.error as e:
                raise EnvFailure(stage="step", type="BadReward", message=f"a reward that is not a number: {e}")
            parts = [rows(obs, "step"), rewards, bytes(terminated), bytes(truncated)]
            if finals:
                parts.append(rows(finals, "step"))
            reply(wfd, 0, *parts)
        elif tag == ord("R"):
            has_seed, seed = struct.unpack("<BQ", payload)
            obs = []
            for i, env in enumerate(envs):
                try:
                    o, _ = env.reset(seed=(seed + i) % (1 << 64) if has_seed else None)
                except Exception as e:
                    raise EnvFailure(**exception_fields("reset", e, i))
                obs.append(o)
            reply(wfd, 0, rows(obs, "reset"))
        elif tag == ord("Q"):
            for env in envs:
                try:
                    env.close()
                except Exception:
                    pass
            return
        else:
            raise EnvFailure(stage="protocol", type="ProtocolError", message=f"unknown request {tag}")


def main():
    # Frames use private copies of stdin and stdout; fd 1 then points at stderr so that a
    # user's print() (or a C library's) lands in the log, not in a frame.
    rfd = os.dup(0)
    wfd = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        serve(rfd, wfd)
    except EOFError:
        pass
    except EnvFailure as e:
        fields = {"stage": None, "type": None, "message": "", "index": None, "missing": None, "not_found": None, "dependency": None}
        fields.update(e.fields)
        try:
            reply(wfd, 1, json.dumps(fields).encode())
        except OSError:
            pass
    except BaseException as e:
        # A bug here, not in the env: the trace goes to stderr (logged by Rust at debug level).
        traceback.print_exc()
        try:
            reply(wfd, 1, json.dumps({**exception_fields("bridge", e), "missing": None, "not_found": None}).encode())
        except OSError:
            pass


main()
