//! The Python process that hosts one worker's env copies, and the frames it speaks
//! (described in `bridge.py`).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::Value;

use super::error::PythonEnvError;
use super::target::PythonEnvTarget;
use crate::Space;

/// The Python side of the bridge, run with `python -c`.
const BRIDGE: &str = include_str!("bridge.py");

/// The keyword arguments of `gymnasium.make` or the dict given to a user's class
/// (RLlib's `env_config`).
pub type EnvConfig = serde_json::Map<String, Value>;

/// Lines of the process's stderr kept to explain its death.
const STDERR_LINES: usize = 20;

/// How long a process that closed its pipe gets to report its exit status.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Everything needed to start a Python env process.
#[derive(Debug, Clone)]
pub struct PythonEnvSpec {
    /// The env string as the user wrote it (for messages).
    pub env: String,
    /// What to construct.
    pub target: PythonEnvTarget,
    /// `env_config`.
    pub env_config: EnvConfig,
    /// The interpreter.
    pub python: PathBuf,
}

/// A batch of actions, one per env copy (flat and env-major for `Box` spaces).
#[derive(Debug, Clone, Copy)]
pub enum PythonActions<'a> {
    /// Indices into a `Discrete` space.
    Discrete(&'a [usize]),
    /// `num_envs * action_dim` values of a `Box` space.
    Continuous(&'a [f32]),
}

/// Where a vector step's results are written (one entry or row per env copy).
#[derive(Debug)]
pub struct PythonStepOut<'a> {
    /// Observations after the step (the next episode's first one for an env that was reset).
    pub obs: &'a mut [f32],
    /// Final observations, written only in the rows of envs whose episode ended.
    pub final_obs: &'a mut [f32],
    /// Rewards.
    pub rewards: &'a mut [f64],
    /// `terminated` flags.
    pub terminated: &'a mut [bool],
    /// `truncated` flags.
    pub truncated: &'a mut [bool],
}

#[derive(Deserialize)]
struct SpaceDescription {
    kind: String,
    #[serde(default)]
    n: usize,
    #[serde(default)]
    low: Vec<Value>,
    #[serde(default)]
    high: Vec<Value>,
    #[serde(default)]
    shape: Vec<usize>,
    described: String,
}

#[derive(Deserialize)]
struct Spaces {
    observation: SpaceDescription,
    action: SpaceDescription,
}

#[derive(Deserialize)]
struct ErrorFrame {
    stage: Option<String>,
    #[serde(rename = "type")]
    exception: Option<String>,
    #[serde(default)]
    message: String,
    index: Option<usize>,
    missing: Option<String>,
    not_found: Option<String>,
    #[serde(default)]
    dependency: Option<String>,
}

/// The last lines a process wrote to stderr, which is otherwise logged at debug level.
#[derive(Clone, Default)]
struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
}

/// N copies of one Python env in one Python process, stepped together: one request and
/// one reply per vector step, in binary frames (float32 observations as Python made them,
/// float64 rewards). The process ends when this is dropped or after any error.
pub struct PythonVectorEnv {
    env: String,
    python: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: StderrTail,
    stderr_done: mpsc::Receiver<()>,
    num_envs: usize,
    obs_dim: usize,
    action_dim: usize,
    observation_space: Space,
    action_space: Space,
    request: Vec<u8>,
    reply: Vec<u8>,
    failed: Option<PythonEnvError>,
}

impl std::fmt::Debug for PythonVectorEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonVectorEnv")
            .field("env", &self.env)
            .field("num_envs", &self.num_envs)
            .field("pid", &self.child.id())
            .finish()
    }
}

impl PythonVectorEnv {
    /// Starts a Python process with `num_envs` copies of the env. With `autoreset`, an env
    /// whose episode ends is reset in the same step (the vector env's rule); without, it
    /// waits for the next reset (a single `Env`).
    pub fn spawn(
        spec: &PythonEnvSpec,
        num_envs: usize,
        autoreset: bool,
    ) -> Result<Self, PythonEnvError> {
        let env = spec.env.clone();
        let mut child = Command::new(&spec.python)
            .arg("-c")
            .arg(BRIDGE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| PythonEnvError::Interpreter {
                env: env.clone(),
                python: spec.python.clone(),
                reason: e.to_string(),
            })?;
        let (stdin, stdout, stderr_pipe) =
            match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
                (Some(i), Some(o), Some(e)) => (i, o, e),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(PythonEnvError::Interpreter {
                        env,
                        python: spec.python.clone(),
                        reason: "its pipes could not be opened".into(),
                    });
                }
            };
        let stderr = StderrTail::default();
        let (done_tx, stderr_done) = mpsc::channel();
        {
            let tail = stderr.clone();
            let label = env.clone();
            std::thread::Builder::new()
                .name("python-env-stderr".into())
                .spawn(move || {
                    for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                        tracing::debug!("python env '{label}': {line}");
                        let mut lines = tail.lines.lock();
                        if lines.len() == STDERR_LINES {
                            lines.pop_front();
                        }
                        lines.push_back(line);
                    }
                    let _ = done_tx.send(());
                })
                .map_err(|e| PythonEnvError::Interpreter {
                    env: env.clone(),
                    python: spec.python.clone(),
                    reason: format!("no thread for its stderr: {e}"),
                })?;
        }
        let mut p = PythonVectorEnv {
            env,
            python: spec.python.clone(),
            child,
            stdin: Some(stdin),
            stdout: BufReader::with_capacity(1 << 16, stdout),
            stderr,
            stderr_done,
            num_envs,
            obs_dim: 0,
            action_dim: 0,
            observation_space: Space::Discrete(1),
            action_space: Space::Discrete(1),
            request: Vec::new(),
            reply: Vec::new(),
            failed: None,
        };
        let (kind, body) = match &spec.target {
            PythonEnvTarget::Gymnasium { id } => ("gymnasium", serde_json::json!({"id": id})),
            PythonEnvTarget::File { path, class } => (
                "file",
                serde_json::json!({"path": path.to_string_lossy(), "class": class}),
            ),
            PythonEnvTarget::Module { module, class } => (
                "module",
                serde_json::json!({"module": module, "class": class}),
            ),
        };
        let mut target = body;
        target["kind"] = Value::from(kind);
        let cwd = std::env::current_dir()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_else(|_| ".".into());
        let init = serde_json::json!({
            "target": target,
            "env_config": spec.env_config,
            "num_envs": num_envs,
            "autoreset": autoreset,
            "cwd": cwd,
        });
        let payload = init.to_string().into_bytes();
        p.call(b'I', &payload, "starting")?;
        let spaces: Spaces = serde_json::from_slice(&p.reply).map_err(|e| p.protocol(e))?;
        p.observation_space = p.observation(&spaces.observation)?;
        p.action_space = p.action(&spaces.action)?;
        p.obs_dim = p.observation_space.flat_dim();
        p.action_dim = p.action_space.flat_dim();
        tracing::debug!(
            "python env '{}': {} copies in process {} ({}), observations {}, actions {}",
            p.env,
            num_envs,
            p.child.id(),
            p.python.display(),
            spaces.observation.described,
            spaces.action.described
        );
        Ok(p)
    }

    /// How many env copies the process hosts.
    pub fn num_envs(&self) -> usize {
        self.num_envs
    }

    /// The observation space of one env copy (flattened `Box`, the original shape kept for
    /// a `Box`).
    pub fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    /// The action space of one env copy.
    pub fn action_space(&self) -> &Space {
        &self.action_space
    }

    /// The process id, e.g. to watch or kill it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resets every env copy, copy `i` with `seed + i` (Gymnasium's `reset(seed=...)`), or
    /// continuing each copy's stream with `None`; writes the first observations to `obs`.
    pub fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), PythonEnvError> {
        let mut payload = [0u8; 9];
        payload[0] = u8::from(seed.is_some());
        payload[1..].copy_from_slice(&seed.unwrap_or(0).to_le_bytes());
        self.call(b'R', &payload, "resetting")?;
        let want = self.num_envs * self.obs_dim;
        if self.reply.len() != want * 4 || obs.len() != want {
            return Err(self.protocol(format!(
                "a reset reply of {} bytes for {want} observation values",
                self.reply.len()
            )));
        }
        decode_f32(&self.reply, obs);
        Ok(())
    }

    /// Steps every env copy with its action, all in one round trip.
    pub fn step(
        &mut self,
        actions: PythonActions<'_>,
        out: PythonStepOut<'_>,
    ) -> Result<(), PythonEnvError> {
        let mut payload = std::mem::take(&mut self.request);
        payload.clear();
        match actions {
            PythonActions::Discrete(a) => {
                payload.extend(a.iter().flat_map(|&x| (x as i64).to_le_bytes()));
            }
            PythonActions::Continuous(a) => {
                payload.extend(a.iter().flat_map(|x| x.to_le_bytes()));
            }
        }
        let sent = self.call(b'S', &payload, "stepping");
        self.request = payload;
        sent?;
        let (n, d) = (self.num_envs, self.obs_dim);
        let fixed = n * d * 4 + n * 8 + 2 * n;
        if self.reply.len() < fixed || !(self.reply.len() - fixed).is_multiple_of((d * 4).max(1)) {
            return Err(self.protocol(format!(
                "a step reply of {} bytes for {n} envs of {d} observation values",
                self.reply.len()
            )));
        }
        let r = &self.reply;
        let (obs, rest) = r.split_at(n * d * 4);
        let (rewards, rest) = rest.split_at(n * 8);
        let (terminated, rest) = rest.split_at(n);
        let (truncated, mut finals) = rest.split_at(n);
        decode_f32(obs, out.obs);
        for (o, b) in out.rewards.iter_mut().zip(rewards.chunks_exact(8)) {
            *o = f64::from_le_bytes(b.try_into().unwrap_or_default());
        }
        for i in 0..n {
            out.terminated[i] = terminated[i] != 0;
            out.truncated[i] = truncated[i] != 0;
            if out.terminated[i] || out.truncated[i] {
                if finals.len() < d * 4 {
                    return Err(self.protocol("fewer final observations than ended episodes"));
                }
                decode_f32(&finals[..d * 4], &mut out.final_obs[i * d..(i + 1) * d]);
                finals = &finals[d * 4..];
            }
        }
        Ok(())
    }

    /// Sends one request and reads its reply into `self.reply`; any failure stops the
    /// process for good, and later calls return the same error.
    fn call(&mut self, tag: u8, payload: &[u8], doing: &'static str) -> Result<(), PythonEnvError> {
        if let Some(e) = &self.failed {
            return Err(PythonEnvError::Stopped(Box::new(e.clone())));
        }
        let result = self.exchange(tag, payload, doing);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
            self.stop();
        }
        result
    }

    fn exchange(
        &mut self,
        tag: u8,
        payload: &[u8],
        doing: &'static str,
    ) -> Result<(), PythonEnvError> {
        let len = u32::try_from(payload.len())
            .map_err(|_| self.protocol(format!("a request of {} bytes", payload.len())))?;
        let mut frame = Vec::with_capacity(5 + payload.len());
        frame.push(tag);
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(payload);
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.died(doing));
        };
        if stdin
            .write_all(&frame)
            .and_then(|()| stdin.flush())
            .is_err()
        {
            // A closed pipe: the process is gone; its status says why.
            return Err(self.died(doing));
        }
        let mut header = [0u8; 5];
        if self.stdout.read_exact(&mut header).is_err() {
            return Err(self.died(doing));
        }
        let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
        self.reply.resize(len, 0);
        if self.stdout.read_exact(&mut self.reply).is_err() {
            return Err(self.died(doing));
        }
        match header[0] {
            0 => Ok(()),
            1 => Err(self.env_error()),
            t => Err(self.protocol(format!("reply tag {t}"))),
        }
    }

    /// The error a process reported in an error frame.
    fn env_error(&mut self) -> PythonEnvError {
        let frame: ErrorFrame = match serde_json::from_slice(&self.reply) {
            Ok(f) => f,
            Err(e) => return self.protocol(e),
        };
        let env = self.env.clone();
        if let Some(what) = frame.not_found {
            return PythonEnvError::NotFound { env, what };
        }
        if let Some(message) = frame.dependency {
            return PythonEnvError::MissingDependency {
                env,
                python: self.python.clone(),
                message,
            };
        }
        if let Some(package) = frame.missing {
            let hint = if package.starts_with("gymnasium") || package.starts_with("mujoco") {
                " (.ci/setup installs gymnasium and mujoco into the project's .venv)"
            } else {
                ""
            };
            return PythonEnvError::MissingPackage {
                env,
                package,
                python: self.python.clone(),
                hint: hint.into(),
            };
        }
        let exception = frame.exception.unwrap_or_else(|| "an exception".into());
        if exception == "UnsupportedSpace" {
            let (which, space) = match frame.message.strip_prefix("action space ") {
                Some(s) => ("action", s),
                None => (
                    "observation",
                    frame
                        .message
                        .strip_prefix("observation space ")
                        .unwrap_or(&frame.message),
                ),
            };
            return PythonEnvError::UnsupportedSpace {
                env,
                which,
                space: space.to_string(),
            };
        }
        let at = match frame.index {
            Some(i) if self.num_envs > 1 => format!(", env copy {i} of {}", self.num_envs),
            _ => String::new(),
        };
        PythonEnvError::Raised {
            env,
            stage: frame.stage.unwrap_or_else(|| "the bridge".into()),
            exception,
            message: frame.message,
            at,
        }
    }

    fn protocol(&self, detail: impl std::fmt::Display) -> PythonEnvError {
        PythonEnvError::Protocol {
            env: self.env.clone(),
            detail: detail.to_string(),
        }
    }

    /// The error for a process whose pipe closed: it exited (or is about to), so its status
    /// comes within the grace period; one that still runs is killed.
    fn died(&mut self, doing: &'static str) -> PythonEnvError {
        self.stdin = None;
        let status = match wait_for(&mut self.child, EXIT_GRACE) {
            Some(s) => describe(s),
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                "it closed its pipe and was killed".to_string()
            }
        };
        // Its stderr may hold the reason (e.g. a fatal error in a C extension).
        let _ = self.stderr_done.recv_timeout(Duration::from_millis(200));
        let last = self
            .stderr
            .lines
            .lock()
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| format!("; last said: {}", l.trim()))
            .unwrap_or_default();
        PythonEnvError::Died {
            env: self.env.clone(),
            status,
            doing,
            stderr: last,
        }
    }

    /// Asks the process to quit (closing its envs) and reaps it, killing it if it does not
    /// go within the grace period.
    fn stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(&[b'Q', 0, 0, 0, 0]);
        }
        if wait_for(&mut self.child, EXIT_GRACE).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn observation(&self, d: &SpaceDescription) -> Result<Space, PythonEnvError> {
        match d.kind.as_str() {
            "box" => self.box_space(d),
            _ => Err(PythonEnvError::UnsupportedSpace {
                env: self.env.clone(),
                which: "observation",
                space: d.described.clone(),
            }),
        }
    }

    fn action(&self, d: &SpaceDescription) -> Result<Space, PythonEnvError> {
        match d.kind.as_str() {
            "discrete" => Ok(Space::Discrete(d.n)),
            "box" => self.box_space(d),
            _ => Err(PythonEnvError::UnsupportedSpace {
                env: self.env.clone(),
                which: "action",
                space: d.described.clone(),
            }),
        }
    }

    fn box_space(&self, d: &SpaceDescription) -> Result<Space, PythonEnvError> {
        let low = bounds(&d.low).map_err(|e| self.protocol(e))?;
        let high = bounds(&d.high).map_err(|e| self.protocol(e))?;
        let n: usize = d.shape.iter().product();
        if low.len() != n || high.len() != n {
            return Err(self.protocol(format!(
                "a box of shape {:?} with {} bounds",
                d.shape,
                low.len()
            )));
        }
        Ok(Space::Box {
            low,
            high,
            shape: d.shape.clone(),
        })
    }
}

impl Drop for PythonVectorEnv {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bounds(values: &[Value]) -> Result<Vec<f32>, String> {
    values
        .iter()
        .map(|v| match v {
            Value::Number(x) => x
                .as_f64()
                .map(|x| x as f32)
                .ok_or("a bound out of range".into()),
            Value::String(s) if s == "inf" => Ok(f32::INFINITY),
            Value::String(s) if s == "-inf" => Ok(f32::NEG_INFINITY),
            Value::String(s) if s == "nan" => Ok(f32::NAN),
            other => Err(format!("a bound {other}")),
        })
        .collect()
}

/// Little-endian float32s into `out`, bit for bit.
fn decode_f32(bytes: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

fn wait_for(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            _ => return None,
        }
    }
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            let name = match sig {
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("killed by signal {sig}{name}");
        }
    }
    match status.code() {
        Some(c) => format!("exit status {c}"),
        None => status.to_string(),
    }
}
