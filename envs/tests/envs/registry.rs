//! The registry: built-in ids, aliases, unknown ids, user envs.

use envs::{make, register, registered_ids, Action, Env, EnvError, Space, Step};

#[test]
fn builtin_ids_are_registered() {
    let ids = registered_ids();
    for id in [
        "CartPole-v0",
        "CartPole-v1",
        "MountainCar-v0",
        "MountainCarContinuous-v0",
        "Acrobot-v1",
        "Pendulum-v1",
    ] {
        assert!(ids.iter().any(|i| i == id), "{id} missing from {ids:?}");
        let mut env = make(id).unwrap();
        assert_eq!(env.reset(Some(0)).len(), env.observation_space().flat_dim());
    }
}

#[test]
fn unknown_id_lists_the_known_ones() {
    let err = make("CartPole-v7").err().unwrap();
    let EnvError::UnknownEnv { id, known } = &err else {
        panic!("{err}")
    };
    assert_eq!(id, "CartPole-v7");
    assert!(
        known.contains("CartPole-v1") && known.contains("Pendulum-v1"),
        "{known}"
    );
    assert!(err.to_string().contains("Acrobot-v1"));
}

#[test]
fn pendulum_v0_resolves_to_v1() {
    let mut old = make("Pendulum-v0").unwrap();
    let mut new = make("Pendulum-v1").unwrap();
    assert_eq!(old.reset(Some(5)), new.reset(Some(5)));
    assert_eq!(
        envs::spec("Pendulum-v0").unwrap().max_episode_steps,
        Some(200)
    );
}

/// A one-state env that counts its steps.
struct Counter {
    n: f32,
    obs: [f32; 1],
    obs_space: Space,
    act_space: Space,
}

impl Env for Counter {
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, _seed: Option<u64>) -> &[f32] {
        self.n = 0.0;
        self.obs = [0.0];
        &self.obs
    }
    fn step(&mut self, _action: Action<'_>) -> Step<'_> {
        self.n += 1.0;
        self.obs = [self.n];
        Step {
            obs: &self.obs,
            reward: 1.0,
            terminated: false,
            truncated: false,
        }
    }
    fn obs(&self) -> &[f32] {
        &self.obs
    }
}

fn counter() -> Box<dyn Env> {
    Box::new(Counter {
        n: 0.0,
        obs: [0.0],
        obs_space: Space::uniform_box(0.0, f32::MAX, &[1]),
        act_space: Space::Discrete(1),
    })
}

#[test]
fn user_envs_can_be_registered_and_made() {
    register("Counter-v0", counter);
    assert!(registered_ids().iter().any(|i| i == "Counter-v0"));
    let mut env = make("Counter-v0").unwrap();
    env.reset(None);
    let s = env.step(Action::Discrete(0));
    assert_eq!(s.obs, &[1.0]);
    assert!(!s.truncated);
    assert!(matches!(
        env.set_state(&[1.0]),
        Err(EnvError::StateUnsupported)
    ));

    envs::register_with_max_steps("Counter-v1", 3, counter);
    let mut env = make("Counter-v1").unwrap();
    env.reset(None);
    let truncs: Vec<bool> = (0..3)
        .map(|_| env.step(Action::Discrete(0)).truncated)
        .collect();
    assert_eq!(truncs, [false, false, true]);
}

#[test]
fn factories_can_run_on_other_threads() {
    let handles: Vec<_> = (0..4)
        .map(|i| std::thread::spawn(move || make("CartPole-v1").unwrap().reset(Some(i)).to_vec()))
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().len(), 4);
    }
}
