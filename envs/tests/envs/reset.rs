//! Seeding, determinism, Send, and the invalid-action rule.

use crate::harness::assert_send;
use envs::{make, registered_ids, Action, Env, Space, TimeLimit, VectorEnv};

fn action_for(space: &Space, k: usize) -> (usize, f32) {
    match space {
        Space::Discrete(n) => (k % n, 0.0),
        Space::Box { .. } => (0, (k % 7) as f32 / 3.0 - 1.0),
    }
}

/// A seeded rollout of `steps` steps: every observation and reward.
fn rollout(id: &str, seed: u64, steps: usize) -> Vec<f32> {
    let mut env = make(id).unwrap();
    let mut out = env.reset(Some(seed)).to_vec();
    for k in 0..steps {
        let (d, c) = action_for(env.action_space(), k);
        let cont = [c];
        let action = match env.action_space() {
            Space::Discrete(_) => Action::Discrete(d),
            Space::Box { .. } => Action::Continuous(&cont),
        };
        let s = env.step(action);
        out.extend_from_slice(s.obs);
        out.push(s.reward as f32);
        if s.terminated || s.truncated {
            out.extend_from_slice(env.reset(None));
        }
    }
    out
}

#[test]
fn same_seed_same_rollout_other_seed_other_rollout() {
    for id in [
        "CartPole-v1",
        "MountainCar-v0",
        "MountainCarContinuous-v0",
        "Acrobot-v1",
        "Pendulum-v1",
    ] {
        assert_eq!(rollout(id, 7, 300), rollout(id, 7, 300), "{id}");
        assert_ne!(rollout(id, 7, 10), rollout(id, 8, 10), "{id}");
    }
}

#[test]
fn reset_none_continues_the_stream() {
    let mut env = make("CartPole-v1").unwrap();
    let a = env.reset(Some(3)).to_vec();
    let b = env.reset(None).to_vec();
    assert_ne!(a, b);
    assert_eq!(env.reset(Some(3)), a.as_slice());
    assert_eq!(env.reset(None), b.as_slice());
}

#[test]
fn reset_obs_lies_in_gymnasium_ranges() {
    let mut env = make("CartPole-v1").unwrap();
    for s in 0..50 {
        assert!(env.reset(Some(s)).iter().all(|v| v.abs() < 0.05));
    }
    let mut car = make("MountainCar-v0").unwrap();
    let o = car.reset(Some(1)).to_vec();
    assert!((-0.6..-0.4).contains(&o[0]) && o[1] == 0.0);
}

#[test]
fn envs_are_send() {
    assert_send::<Box<dyn Env>>();
    assert_send::<TimeLimit<envs::classic_control::CartPole>>();
    assert_send::<VectorEnv>();
    assert_send::<envs::EnvError>();
    assert_send::<envs::recording::RecordingError>();
}

#[test]
fn invalid_actions_never_panic() {
    for id in registered_ids()
        .iter()
        .filter(|i| !i.starts_with("Counter"))
    {
        let mut env = make(id).unwrap();
        env.reset(Some(0));
        let state = env.state();
        for bad in [
            Action::Discrete(99),
            Action::Continuous(&[]),
            Action::Continuous(&[0.0, 1.0]),
        ] {
            let err = env.try_step(bad);
            assert!(err.is_err(), "{id} {bad:?}");
            let s = env.step(bad);
            assert!(
                s.truncated && !s.terminated && s.reward == 0.0,
                "{id} {bad:?}"
            );
        }
        assert_eq!(env.state(), state, "{id}: an invalid action moved the env");
    }
}

#[test]
fn continuous_actions_are_clipped() {
    let mut a = make("Pendulum-v1").unwrap();
    let mut b = make("Pendulum-v1").unwrap();
    a.reset(Some(2));
    b.reset(Some(2));
    let sa = a.step(Action::Continuous(&[50.0])).obs.to_vec();
    let sb = b.step(Action::Continuous(&[2.0])).obs.to_vec();
    assert_eq!(sa, sb);
}
