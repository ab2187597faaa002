//! Snapshots: a restored env or vector env continues bit for bit, across episode ends and
//! resets, and a snapshot of one env is refused by another.

use envs::{
    make, make_with_max_steps, registered_ids, spec, Action, Env, EnvError, EnvSnapshot, Space,
    VectorEnv, VectorEnvState,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The built-in classic-control ids (other tests in this binary register their own).
const CLASSIC_IDS: [&str; 6] = [
    "Acrobot-v1",
    "CartPole-v0",
    "CartPole-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "Pendulum-v1",
];

/// One thing done to an env: a step with a discrete index or a continuous vector, or a
/// `reset(None)` after an episode ended.
#[derive(Debug, Clone)]
enum Op {
    Discrete(usize),
    Continuous(Vec<f32>),
    Reset,
}

/// What an op returned, with floats as bits so that `-0.0` and `0.0` differ.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Step {
        obs: Vec<u32>,
        reward: u64,
        terminated: bool,
        truncated: bool,
    },
    Reset {
        obs: Vec<u32>,
    },
}

fn bits(obs: &[f32]) -> Vec<u32> {
    obs.iter().map(|v| v.to_bits()).collect()
}

/// A random action of `space`, continuous ones sometimes out of bounds (to exercise
/// clipping).
fn random_op(space: &Space, rng: &mut ChaCha8Rng) -> Op {
    match space {
        Space::Discrete(n) => Op::Discrete(rng.gen_range(0..*n)),
        Space::Box { low, high, .. } => Op::Continuous(
            low.iter()
                .zip(high)
                .map(|(l, h)| rng.gen_range(l * 1.2..h * 1.2))
                .collect(),
        ),
    }
}

fn apply(env: &mut dyn Env, op: &Op) -> Outcome {
    let s = match op {
        Op::Discrete(a) => env.step(Action::Discrete(*a)),
        Op::Continuous(a) => env.step(Action::Continuous(a)),
        Op::Reset => {
            return Outcome::Reset {
                obs: bits(env.reset(None)),
            }
        }
    };
    Outcome::Step {
        obs: bits(s.obs),
        reward: s.reward.to_bits(),
        terminated: s.terminated,
        truncated: s.truncated,
    }
}

/// Serializes through a JSON string and back, as a checkpoint does, and checks nothing
/// was lost.
fn json_round_trip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let text = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, value, "JSON round trip changed the snapshot: {text}");
    back
}

/// Runs `make()` for at least `steps` steps of random actions, resetting after each episode
/// end, snapshotting before several ops (right after the seeded reset, mid-episode, after
/// an episode ended but before its reset, right after an auto-reset). Each snapshot,
/// through JSON, is restored into a fresh env, which must then reproduce every later
/// outcome. Returns the number of episodes that ended.
fn check_env(id: &str, make: &dyn Fn() -> Box<dyn Env>, steps: usize, seed: u64) -> usize {
    let mut env = make();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    env.reset(Some(seed));
    let mut ops = Vec::new();
    let mut outcomes = Vec::new();
    let mut snapshots: Vec<(usize, EnvSnapshot, Vec<u32>)> = Vec::new();
    let mut first_end = None;
    let mut episodes = 0;
    let mid = steps / 3;
    for t in 0..steps {
        let at = ops.len();
        let after_reset = first_end.is_some_and(|e| at == e + 1);
        if t == 0 || t == mid || t == 2 * mid || after_reset {
            snapshots.push((at, env.snapshot().unwrap(), bits(env.obs())));
        }
        let op = random_op(env.action_space(), &mut rng);
        let out = apply(env.as_mut(), &op);
        ops.push(op);
        outcomes.push(out.clone());
        if let Outcome::Step {
            terminated,
            truncated,
            ..
        } = out
        {
            if terminated || truncated {
                episodes += 1;
                if first_end.is_none() {
                    first_end = Some(ops.len());
                    snapshots.push((ops.len(), env.snapshot().unwrap(), bits(env.obs())));
                }
                ops.push(Op::Reset);
                outcomes.push(apply(env.as_mut(), &Op::Reset));
            }
        }
    }
    assert!(snapshots.len() >= 4 || episodes == 0, "{id}: {snapshots:?}");
    for (at, snapshot, obs) in &snapshots {
        let snapshot = json_round_trip(snapshot);
        let mut fresh = make();
        fresh.restore(&snapshot).unwrap();
        assert_eq!(
            &bits(fresh.obs()),
            obs,
            "{id}: obs after restore at op {at}"
        );
        assert_eq!(fresh.snapshot().unwrap(), snapshot, "{id}: op {at}");
        for (k, op) in ops.iter().enumerate().skip(*at) {
            assert_eq!(
                apply(fresh.as_mut(), op),
                outcomes[k],
                "{id}: op {k} ({op:?}) after a restore at op {at}"
            );
        }
    }
    episodes
}

#[test]
fn every_classic_env_continues_exactly_after_restore() {
    let ids = registered_ids();
    for id in CLASSIC_IDS {
        assert!(ids.iter().any(|i| i == id), "{id} not registered");
        // The registry's own limit: at least one episode ends, by time limit if not before.
        let limit = spec(id).unwrap().max_episode_steps.unwrap() as usize;
        let episodes = check_env(id, &|| make(id).unwrap(), limit + 150, 7);
        assert!(episodes >= 1, "{id}");
        // A short limit: many episode ends, so many resets from the restored generator.
        let episodes = check_env(id, &|| make_with_max_steps(id, 23).unwrap(), 300, 11);
        assert!(episodes >= 13, "{id}: {episodes}");
    }
}

/// Every vector env output of one step, as bits.
#[derive(Debug, PartialEq)]
struct VectorOutcome {
    obs: Vec<u32>,
    rewards: Vec<u64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    final_obs: Vec<Option<Vec<u32>>>,
    finished: Vec<Option<(u64, u64)>>,
}

fn vector_step(venv: &mut VectorEnv, actions: &[Op]) -> VectorOutcome {
    let s = match &actions[0] {
        Op::Discrete(_) => {
            let a: Vec<usize> = actions
                .iter()
                .map(|a| match a {
                    Op::Discrete(a) => *a,
                    _ => unreachable!(),
                })
                .collect();
            venv.step_discrete(&a).unwrap()
        }
        _ => {
            let a: Vec<f32> = actions
                .iter()
                .flat_map(|a| match a {
                    Op::Continuous(a) => a.clone(),
                    _ => unreachable!(),
                })
                .collect();
            venv.step_continuous(&a).unwrap()
        }
    };
    let (obs, rewards, terminated, truncated) = (
        bits(s.obs),
        s.rewards.iter().map(|r| r.to_bits()).collect(),
        s.terminated.to_vec(),
        s.truncated.to_vec(),
    );
    let n = venv.num_envs();
    VectorOutcome {
        obs,
        rewards,
        terminated,
        truncated,
        final_obs: (0..n).map(|i| venv.final_obs(i).map(bits)).collect(),
        finished: (0..n)
            .map(|i| {
                venv.finished_episode(i)
                    .map(|e| (e.episode_return.to_bits(), e.length))
            })
            .collect(),
    }
}

/// Steps a vector env of `id` for `steps` steps, snapshotting it at a few points; each
/// snapshot, through JSON, restored into a fresh vector env must reproduce every later
/// step, final observation and finished-episode stat. Returns the episodes that ended.
fn check_vector(id: &str, num_envs: usize, steps: usize, snapshot_at: &[usize]) -> usize {
    let mut venv = VectorEnv::make(id, num_envs).unwrap();
    venv.reset(Some(3));
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let space = venv.single_action_space().clone();
    let mut all_actions = Vec::new();
    let mut outcomes = Vec::new();
    let mut states: Vec<(usize, VectorEnvState)> = Vec::new();
    let mut episodes = 0;
    for t in 0..steps {
        if snapshot_at.contains(&t) {
            states.push((t, venv.state().unwrap()));
        }
        let actions: Vec<Op> = (0..num_envs).map(|_| random_op(&space, &mut rng)).collect();
        let out = vector_step(&mut venv, &actions);
        episodes += out.finished.iter().filter(|f| f.is_some()).count();
        all_actions.push(actions);
        outcomes.push(out);
    }
    for (at, state) in &states {
        let state = json_round_trip(state);
        let mut fresh = VectorEnv::make(id, num_envs).unwrap();
        fresh.set_state(&state).unwrap();
        assert_eq!(fresh.state().unwrap(), state);
        for t in *at..steps {
            assert_eq!(
                vector_step(&mut fresh, &all_actions[t]),
                outcomes[t],
                "{id}: step {t} after a restore at step {at}"
            );
        }
    }
    episodes
}

#[test]
fn vector_env_of_cartpoles_continues_exactly_after_set_state() {
    let episodes = check_vector("CartPole-v1", 3, 300, &[0, 1, 57, 150]);
    assert!(episodes > 10, "{episodes}");
}

#[test]
fn vector_env_of_pendulums_continues_exactly_after_set_state() {
    // Truncation at 200: the restores at 150 and 199 cross it, the one at 201 follows it.
    let episodes = check_vector("Pendulum-v1", 2, 450, &[0, 150, 199, 201]);
    assert_eq!(episodes, 4);
}

#[test]
fn restoring_another_envs_snapshot_is_an_error() {
    let mut pendulum = make("Pendulum-v1").unwrap();
    pendulum.reset(Some(0));
    let snap = pendulum.snapshot().unwrap();
    let mut cartpole = make("CartPole-v1").unwrap();
    cartpole.reset(Some(1));
    let before = cartpole.snapshot().unwrap();
    match cartpole.restore(&snap) {
        Err(EnvError::InvalidState(msg)) => {
            assert!(
                msg.contains("Pendulum") && msg.contains("CartPole"),
                "{msg}"
            );
        }
        other => panic!("expected InvalidState, got {other:?}"),
    }
    assert_eq!(cartpole.snapshot().unwrap(), before);

    // Unwrapped into wrapped, and a wrapper under another limit, are refused too.
    let inner = snap.inner.as_deref().unwrap();
    assert!(matches!(
        cartpole.restore(inner),
        Err(EnvError::InvalidState(_))
    ));
    let mut v0 = make("CartPole-v0").unwrap();
    let err = v0.restore(&before).unwrap_err().to_string();
    assert!(err.contains("500") && err.contains("200"), "{err}");
}

#[test]
fn envs_without_snapshots_say_so() {
    struct Plain(Space);
    impl Env for Plain {
        fn observation_space(&self) -> &Space {
            &self.0
        }
        fn action_space(&self) -> &Space {
            &self.0
        }
        fn reset(&mut self, _seed: Option<u64>) -> &[f32] {
            &[]
        }
        fn step(&mut self, _action: Action<'_>) -> envs::Step<'_> {
            unreachable!()
        }
        fn obs(&self) -> &[f32] {
            &[]
        }
    }
    let mut env: Box<dyn Env> = Box::new(Plain(Space::Discrete(2)));
    assert!(matches!(env.snapshot(), Err(EnvError::StateUnsupported)));
    let snap = EnvSnapshot::new("Plain");
    assert!(matches!(
        env.restore(&snap),
        Err(EnvError::StateUnsupported)
    ));
}

#[test]
fn vector_set_state_checks_and_leaves_the_env_untouched() {
    let mut venv = VectorEnv::make("CartPole-v1", 3).unwrap();
    venv.reset(Some(0));
    venv.step_discrete(&[0, 1, 0]).unwrap();
    let before = venv.state().unwrap();

    let mut two = VectorEnv::make("CartPole-v1", 2).unwrap();
    two.reset(Some(9));
    assert!(matches!(
        venv.set_state(&two.state().unwrap()),
        Err(EnvError::InvalidState(_))
    ));
    let mut pendulums = VectorEnv::make("Pendulum-v1", 3).unwrap();
    pendulums.reset(Some(9));
    assert!(venv.set_state(&pendulums.state().unwrap()).is_err());
    assert_eq!(venv.state().unwrap(), before);

    // Buffers of the right size but a foreign env last: the first two envs restore before
    // the third fails, and must be rolled back.
    let mut other = VectorEnv::make("CartPole-v1", 3).unwrap();
    other.reset(Some(42));
    let mut mixed = other.state().unwrap();
    mixed.envs[2] = pendulums.state().unwrap().envs[0].clone();
    let err = venv.set_state(&mixed).unwrap_err().to_string();
    assert!(err.contains("env 2") && err.contains("Pendulum"), "{err}");
    assert_eq!(venv.state().unwrap(), before);

    let mut short = before.clone();
    short.final_obs.pop();
    assert!(venv.set_state(&short).is_err());
    assert_eq!(venv.state().unwrap(), before);
}
