//! Time limits as Gymnasium's TimeLimit wrapper.

use envs::classic_control::Pendulum;
use envs::{make, make_with_max_steps, Action, Env, TimeLimit};

fn steps_until_truncated(env: &mut dyn Env, action: Action<'_>) -> usize {
    env.reset(Some(0));
    for t in 1..=10_000 {
        let s = env.step(action);
        assert!(!s.terminated);
        if s.truncated {
            return t;
        }
    }
    panic!("never truncated")
}

#[test]
fn pendulum_truncates_at_200_and_again_after_reset() {
    let mut env = make("Pendulum-v1").unwrap();
    assert_eq!(
        steps_until_truncated(&mut *env, Action::Continuous(&[0.0])),
        200
    );
    assert_eq!(
        steps_until_truncated(&mut *env, Action::Continuous(&[0.0])),
        200
    );
}

#[test]
fn cartpole_v0_and_v1_limits() {
    // Zero-velocity upright start kept upright by alternating pushes is not guaranteed, so
    // hold the pole with a state reset every step and count the wrapper's steps instead.
    for (id, limit) in [("CartPole-v0", 200), ("CartPole-v1", 500)] {
        let mut env = make(id).unwrap();
        env.reset(Some(0));
        let mut t = 0;
        loop {
            env.set_state(&[0.0, 0.0, 0.0, 0.0]).unwrap();
            t += 1;
            let s = env.step(Action::Discrete(t % 2));
            assert!(!s.terminated);
            if s.truncated {
                break;
            }
        }
        assert_eq!(t, limit, "{id}");
    }
}

#[test]
fn limits_of_other_envs() {
    let mut car = make("MountainCar-v0").unwrap();
    assert_eq!(steps_until_truncated(&mut *car, Action::Discrete(1)), 200);
    let mut cont = make("MountainCarContinuous-v0").unwrap();
    assert_eq!(
        steps_until_truncated(&mut *cont, Action::Continuous(&[0.0])),
        999
    );
    let mut acro = make("Acrobot-v1").unwrap();
    assert_eq!(steps_until_truncated(&mut *acro, Action::Discrete(1)), 500);
}

#[test]
fn make_with_max_steps_overrides_and_wrapper_is_generic() {
    let mut env = make_with_max_steps("Pendulum-v1", 7).unwrap();
    assert_eq!(
        steps_until_truncated(&mut *env, Action::Continuous(&[1.0])),
        7
    );
    let mut wrapped = TimeLimit::new(Pendulum::new(), 3);
    assert_eq!(
        steps_until_truncated(&mut wrapped, Action::Continuous(&[1.0])),
        3
    );
    assert_eq!(wrapped.elapsed_steps(), 3);
    assert_eq!(wrapped.max_episode_steps(), 3);
}

#[test]
fn truncation_and_termination_can_coincide() {
    let mut env = make_with_max_steps("CartPole-v1", 1).unwrap();
    env.reset(Some(0));
    env.set_state(&[0.0, 0.0, 0.3, 0.0]).unwrap();
    let s = env.step(Action::Discrete(0));
    assert!(s.terminated && s.truncated);
}
