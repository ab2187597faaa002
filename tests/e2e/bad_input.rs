//! Bad input: one clear line, exit code 2, no panic, nothing written.

use crate::harness::*;

fn expect_rejected(yaml: &str, needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("exp.yaml");
    std::fs::write(&f, yaml).unwrap();
    let local = tmp.path().join("results");
    let r = rllib(
        tmp.path(),
        &[
            "train",
            "--config",
            f.to_str().unwrap(),
            "--local-dir",
            local.to_str().unwrap(),
            "--no-progress",
        ],
    );
    assert_eq!(
        r.code, 2,
        "expected exit 2 for:\n{yaml}\nstderr: {}",
        r.stderr
    );
    for n in needles {
        assert!(r.stderr.contains(n), "stderr lacks '{n}':\n{}", r.stderr);
    }
    assert!(
        !r.stderr.contains("panicked") && !r.stderr.contains("backtrace"),
        "{}",
        r.stderr
    );
    assert!(!local.exists(), "nothing may be written for a rejected run");
}

const GOOD: &str = "exp:\n  env: CartPole-v1\n  run: PPO\n  stop:\n    training_iteration: 1\n  config:\n    lr: 0.001\n";

#[test]
fn yaml_syntax_error_names_line_and_column() {
    expect_rejected(
        "exp:\n  env: CartPole-v1\n  run: [PPO\n",
        &["exp.yaml:", "YAML syntax error"],
    );
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("e.yaml");
    std::fs::write(&f, "exp:\n  env: CartPole-v1\n   run: PPO\n").unwrap();
    let r = rllib(tmp.path(), &["train", "--config", f.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("e.yaml:3:"), "{}", r.stderr);
}

#[test]
fn unknown_config_key_names_the_nearest() {
    expect_rejected(
        &GOOD.replace("lr: 0.001", "lrr: 0.001"),
        &["unknown key 'lrr'", "did you mean 'lr'"],
    );
    expect_rejected(
        &GOOD.replace("lr: 0.001", "num_sgd_iters: 3"),
        &["'num_sgd_iters'", "num_sgd_iter"],
    );
    expect_rejected(
        &GOOD.replace("lr: 0.001", "model:\n      fcnet_hidens: [8]"),
        &["fcnet_hidens", "fcnet_hiddens"],
    );
}

#[test]
fn unknown_env_and_algorithm_list_the_known_ones() {
    expect_rejected(
        &GOOD.replace("CartPole-v1", "CartPol-v9"),
        &["CartPol-v9", "CartPole-v1", "Pendulum-v1"],
    );
    expect_rejected(
        &GOOD.replace("run: PPO", "run: DQNN"),
        &["unknown algorithm 'DQNN'", "PPO"],
    );
}

#[test]
fn wrong_types_and_impossible_values() {
    expect_rejected(&GOOD.replace("lr: 0.001", "lr: -0.1"), &["lr", "positive"]);
    expect_rejected(&GOOD.replace("lr: 0.001", "lr: fast"), &["lr"]);
    expect_rejected(
        &GOOD.replace(
            "lr: 0.001",
            "train_batch_size: 100\n    sgd_minibatch_size: 200",
        ),
        &["sgd_minibatch_size", "larger than train_batch_size"],
    );
    expect_rejected(&GOOD.replace("lr: 0.001", "gamma: 1.5"), &["gamma"]);
    expect_rejected(
        &GOOD.replace("lr: 0.001", "num_workers: -1"),
        &["num_workers"],
    );
}

#[test]
fn stop_key_that_no_result_contains() {
    expect_rejected(
        &GOOD.replace("training_iteration: 1", "episode_reward_meen: 100"),
        &["episode_reward_meen", "episode_reward_mean"],
    );
}

#[test]
fn command_line_json_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let r = rllib(
        tmp.path(),
        &[
            "train",
            "--run",
            "PPO",
            "--env",
            "CartPole-v1",
            "--config",
            "{\"lr\": }",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = rllib(tmp.path(), &["train", "--run", "PPO"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = rllib(tmp.path(), &["train", "--config", "missing.yaml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing.yaml"), "{}", r.stderr);
}

#[test]
fn out_of_range_numbers_are_clear_errors_not_panics() {
    expect_rejected(
        &GOOD.replace("lr: 0.001", "worker_slowdown: [[0, 1e300]]"),
        &["worker_slowdown", "between 1 and 1000"],
    );
    expect_rejected(
        &GOOD.replace("lr: 0.001", "num_threads_per_worker: 4294967296"),
        &["num_threads_per_worker", "4294967296"],
    );
    expect_rejected(
        &GOOD.replace("lr: 0.001", "worker_isolation: processes"),
        &["worker_isolation", "thread", "process"],
    );
    let tmp = tempfile::tempdir().unwrap();
    for d in ["inf", "-1", "NaN", "1e300"] {
        let flag = format!("--duration={d}");
        let r = rllib(tmp.path(), &["microbenchmark", "--mode", "thread", &flag]);
        assert_eq!(r.code, 2, "--duration {d}: {}", r.stderr);
        assert!(r.stderr.contains("--duration"), "{}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
}
