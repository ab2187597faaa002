//! The vector env: batching, auto-reset in the same step, final_obs, seeding.

use envs::classic_control::CartPole;
use envs::{make, Action, Env, EnvError, TimeLimit, VectorEnv};

#[test]
fn batch_layout_and_seeding_match_single_envs() {
    let mut venv = VectorEnv::make("CartPole-v1", 3).unwrap();
    assert_eq!((venv.num_envs(), venv.obs_dim()), (3, 4));
    let batch = venv.reset(Some(10)).to_vec();
    for i in 0..3 {
        let mut env = make("CartPole-v1").unwrap();
        assert_eq!(&batch[i * 4..(i + 1) * 4], env.reset(Some(10 + i as u64)));
    }
}

#[test]
fn auto_reset_in_the_same_step_keeps_final_obs() {
    let n = 4;
    let mut venv = VectorEnv::make("CartPole-v1", n).unwrap();
    let mut shadows: Vec<_> = (0..n).map(|_| make("CartPole-v1").unwrap()).collect();
    venv.reset(Some(0));
    for (i, s) in shadows.iter_mut().enumerate() {
        s.reset(Some(i as u64));
    }
    let mut episodes_done = 0;
    let mut returns = vec![0.0; n];
    for t in 0..400 {
        let actions: Vec<usize> = (0..n).map(|i| (t + i) % 2).collect();
        let step = venv.step_discrete(&actions).unwrap();
        let (obs, rewards, term, trunc) = (
            step.obs.to_vec(),
            step.rewards.to_vec(),
            step.terminated.to_vec(),
            step.truncated.to_vec(),
        );
        for i in 0..n {
            let s = shadows[i].step(Action::Discrete(actions[i]));
            let (sobs, sr, st, su) = (s.obs.to_vec(), s.reward, s.terminated, s.truncated);
            assert_eq!((rewards[i], term[i], trunc[i]), (sr, st, su));
            returns[i] += sr;
            if st || su {
                episodes_done += 1;
                assert_eq!(venv.final_obs(i).unwrap(), sobs.as_slice());
                let stats = venv.finished_episode(i).unwrap();
                assert_eq!(stats.episode_return, returns[i]);
                assert_eq!(stats.length as f64, returns[i]);
                returns[i] = 0.0;
                // The batch row is already the next episode's first observation.
                assert_eq!(&obs[i * 4..(i + 1) * 4], shadows[i].reset(None));
            } else {
                assert!(venv.final_obs(i).is_none());
                assert!(venv.finished_episode(i).is_none());
                assert_eq!(&obs[i * 4..(i + 1) * 4], sobs.as_slice());
            }
        }
    }
    assert!(episodes_done > 10, "{episodes_done}");
}

#[test]
fn truncation_exposes_final_obs_for_bootstrapping() {
    let mut venv = VectorEnv::make("Pendulum-v1", 2).unwrap();
    venv.reset(Some(1));
    for _ in 0..199 {
        let s = venv.step_continuous(&[0.5, -0.5]).unwrap();
        assert!(!s.truncated.iter().any(|t| *t));
    }
    let before = venv.envs()[0].obs().to_vec();
    let s = venv.step_continuous(&[0.5, -0.5]).unwrap();
    assert_eq!(s.truncated, &[true, true]);
    assert_eq!(s.terminated, &[false, false]);
    let final0 = venv.final_obs(0).unwrap().to_vec();
    assert_ne!(final0, before);
    assert_ne!(final0.as_slice(), &venv.obs()[..3]);
    assert_eq!(venv.finished_episode(1).unwrap().length, 200);
}

#[test]
fn generic_and_boxed_vector_envs_agree() {
    let mut fast = VectorEnv::from_fn(3, |_| TimeLimit::new(CartPole::new(), 500)).unwrap();
    let mut boxed = VectorEnv::make("CartPole-v1", 3).unwrap();
    assert_eq!(fast.reset(Some(4)), boxed.reset(Some(4)));
    for t in 0..100 {
        let acts = [t % 2, (t / 2) % 2, 1];
        let a = fast.step_discrete(&acts).unwrap().obs.to_vec();
        let b = boxed.step_discrete(&acts).unwrap().obs.to_vec();
        assert_eq!(a, b);
    }
    let actions = [
        Action::Discrete(0),
        Action::Discrete(1),
        Action::Discrete(0),
    ];
    assert!(boxed.step(&actions).is_ok());
}

#[test]
fn bad_actions_are_errors_and_move_nothing() {
    let mut venv = VectorEnv::make("CartPole-v1", 2).unwrap();
    let before = venv.reset(Some(0)).to_vec();
    assert!(matches!(
        venv.step_discrete(&[0]),
        Err(EnvError::ActionCount {
            expected: 2,
            got: 1
        })
    ));
    assert!(matches!(
        venv.step_discrete(&[0, 2]),
        Err(EnvError::InvalidAction { .. })
    ));
    assert!(venv.step_continuous(&[0.0, 1.0]).is_err());
    assert!(venv
        .step(&[Action::Discrete(0), Action::Continuous(&[1.0])])
        .is_err());
    assert_eq!(venv.obs(), before.as_slice());
    assert!(VectorEnv::<Box<dyn Env>>::new(Vec::new()).is_err());
    let mixed = vec![make("CartPole-v1").unwrap(), make("Acrobot-v1").unwrap()];
    assert!(matches!(VectorEnv::new(mixed), Err(EnvError::VectorEnv(_))));
}
