//! The gym-rs adapter (only with `--features gym-rs`; needs cmake and SDL2_gfx).

use envs::gym_rs::{register_all, GymRsEnv};
use envs::{make, Action, Env};

#[test]
fn gym_rs_cartpole_steps_behind_the_env_trait() {
    let mut env = GymRsEnv::cartpole().unwrap();
    assert_eq!(env.reset(Some(0)).len(), 4);
    let mut steps = 0;
    loop {
        let s = env.step(Action::Discrete(steps % 2));
        steps += 1;
        assert_eq!(s.obs.len(), 4);
        assert!(!s.truncated, "gym-rs never truncates by itself");
        if s.terminated {
            break;
        }
        assert!(steps < 10_000);
    }
    assert!(env.step(Action::Discrete(5)).truncated);
    assert!(env.try_step(Action::Discrete(5)).is_err());
}

#[test]
fn registered_gym_rs_envs_get_time_limits() {
    register_all();
    let mut car = make("gym-rs/MountainCar-v0").unwrap();
    car.reset(Some(1));
    let t = (1..=1000).find(|_| car.step(Action::Discrete(1)).truncated);
    assert_eq!(t, Some(200));
}
