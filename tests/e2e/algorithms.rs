//! A3C, A2C, grid search and RLlib-era keys through the command line.

use crate::harness::*;
use crate::train::strip_times;

const A3C: &str = r#"{"seed": 0, "num_workers": 2, "num_envs_per_worker": 4, "rollout_fragment_length": 20,
  "lr": 0.002, "min_iter_time_s": 0, "grads_per_step": 50, "model": {"fcnet_hiddens": [64, 64]}}"#;

#[test]
fn a3c_with_two_workers_clears_a_low_bar() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, local) = train_flags(
        tmp.path(),
        "A3C",
        "CartPole-v1",
        A3C,
        r#"{"episode_reward_mean": 60, "timesteps_total": 300000}"#,
        &[],
    );
    run.ok();
    let res = results(&trial_dirs(&local)[0]);
    let last = res.last().unwrap();
    assert!(
        last["episode_reward_mean"].as_f64().unwrap() >= 60.0,
        "{last}"
    );
    for r in &res {
        let info = &r["info"];
        assert_eq!(info["num_grads_applied"], 50);
        let per_worker: u64 = info["grads_per_worker"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(per_worker, 50);
        assert!(info["mean_grad_staleness"].as_f64().unwrap() >= 0.0);
        assert!(info["learner"]["default_policy"]["grad_gnorm"]
            .as_f64()
            .is_some());
    }
    let n = res.len() as u64;
    assert_eq!(last["info"]["weights_version"].as_u64().unwrap(), 50 * n);
}

#[test]
fn a2c_is_synchronous_and_reproducible() {
    let cfg = r#"{"seed": 3, "num_workers": 2, "num_envs_per_worker": 2, "train_batch_size": 200,
      "min_iter_time_s": 0, "model": {"fcnet_hiddens": [16]}}"#;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let tmp = tempfile::tempdir().unwrap();
        let (run, local) = train_flags(
            tmp.path(),
            "A2C",
            "CartPole-v1",
            cfg,
            r#"{"training_iteration": 3}"#,
            &[],
        );
        run.ok();
        runs.push(results(&trial_dirs(&local)[0]));
    }
    assert_eq!(runs[0].len(), 3);
    for (a, b) in runs[0].iter().zip(&runs[1]) {
        assert_eq!(strip_times(a), strip_times(b));
    }
}

#[test]
fn grid_search_expands_into_trials_with_a_closing_table() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("grid.yaml");
    std::fs::write(&f, "grid:\n  run: PPO\n  env:\n    grid_search: [CartPole-v1, Acrobot-v1]\n  stop:\n    training_iteration: 1\n  config:\n    num_workers: 0\n    train_batch_size: 128\n    sgd_minibatch_size: 64\n    num_sgd_iter: 1\n    lr:\n      grid_search: [0.01, 0.001]\n").unwrap();
    let local = tmp.path().join("r");
    let r = rllib(
        tmp.path(),
        &[
            "train",
            "-f",
            f.to_str().unwrap(),
            "--local-dir",
            local.to_str().unwrap(),
            "--no-progress",
        ],
    );
    r.ok();
    let trials = trial_dirs(&local);
    assert_eq!(trials.len(), 4, "{trials:?}");
    let mut seen = Vec::new();
    for t in &trials {
        let p: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(t.join("params.json")).unwrap()).unwrap();
        seen.push((
            p["env"].as_str().unwrap().to_string(),
            p["lr"].as_f64().unwrap().to_string(),
        ));
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("Acrobot-v1".into(), "0.001".into()),
            ("Acrobot-v1".into(), "0.01".into()),
            ("CartPole-v1".into(), "0.001".into()),
            ("CartPole-v1".into(), "0.01".into()),
        ]
    );
    assert!(r.stdout.contains("trial parameters"), "{}", r.stdout);
    assert!(r.stdout.contains("env=\"Acrobot-v1\""), "{}", r.stdout);
}

#[test]
fn rllib_era_keys_warn_once_each() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, _) = train_flags(
        tmp.path(),
        "PPO",
        "CartPole-v1",
        r#"{"framework": "tf", "use_pytorch": false, "num_gpus": 1, "num_workers": 0,
            "train_batch_size": 128, "sgd_minibatch_size": 64, "num_sgd_iter": 1}"#,
        r#"{"training_iteration": 1}"#,
        &[],
    );
    run.ok();
    let err = &run.stderr;
    assert_eq!(
        err.matches("'framework: \"tf\"' is ignored").count(),
        1,
        "{err}"
    );
    assert_eq!(
        err.matches("'use_pytorch: false' is ignored").count(),
        1,
        "{err}"
    );
    assert_eq!(
        err.matches("num_gpus: 1 but libtorch sees no CUDA GPU")
            .count(),
        1,
        "{err}"
    );
}
