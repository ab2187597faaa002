//! Rollout workers in threads or processes, and what happens when one dies.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::train::strip_times;

/// PPO on CartPole with two remote workers (and `extra` config keys).
fn two_workers(extra: &str) -> String {
    FAST_CARTPOLE.replace("\"num_workers\": 0", &format!("\"num_workers\": 2{extra}"))
}

#[test]
fn process_workers_write_the_same_results_as_thread_workers() {
    let mut runs = Vec::new();
    for mode in ["thread", "process"] {
        let d = tempfile::tempdir().unwrap();
        let cfg = two_workers(&format!(", \"worker_isolation\": \"{mode}\""));
        let (run, local) = train_flags(
            d.path(),
            "PPO",
            "CartPole-v1",
            &cfg,
            r#"{"training_iteration": 3}"#,
            &[],
        );
        run.ok();
        runs.push(results(&trial_dirs(&local)[0]));
    }
    assert_eq!(runs[0].len(), 3);
    assert_eq!(runs[1].len(), 3);
    for (t, p) in runs[0].iter().zip(&runs[1]) {
        assert_eq!(strip_times(t), strip_times(p));
        assert_eq!(p["num_healthy_workers"], 2);
        assert_eq!(p["num_remote_worker_restarts"], 0);
    }
}

/// The process ids of `pid`'s children (over all its threads).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(
                    text.split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
    }
    out
}

/// Waits for `child` to exit; a hang guard only, never a timed assertion.
fn wait_bounded(mut child: Child, limit: Duration) -> Run {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "rllib did not finish (hang guard): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    finished(child.wait_with_output().unwrap())
}

/// Starts a long PPO run with process workers, kills one worker process with `kill -9` once
/// the first result line is written, and returns the finished run and its results root.
fn kill_a_worker_mid_run(dir: &Path, extra: &str) -> (Run, std::path::PathBuf) {
    let local = dir.join("r");
    let cfg = two_workers(&format!(", \"worker_isolation\": \"process\"{extra}"));
    let args = train_args(
        &local,
        "PPO",
        "CartPole-v1",
        &cfg,
        r#"{"training_iteration": 40}"#,
        &[],
    );
    let child = rllib_command(dir, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(300);
    let victim = loop {
        let started = trial_dirs(&local).first().is_some_and(|t| {
            std::fs::read_to_string(t.join("result.json")).is_ok_and(|s| s.contains('\n'))
        });
        if started {
            if let Some(&c) = children(pid).first() {
                break c;
            }
        }
        assert!(Instant::now() < deadline, "no result line (hang guard)");
        std::thread::sleep(Duration::from_millis(10));
    };
    let st = std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -9 {victim}");
    (wait_bounded(child, Duration::from_secs(600)), local)
}

#[test]
fn killed_worker_process_is_recreated_and_training_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, local) = kill_a_worker_mid_run(tmp.path(), "");
    run.ok();
    let res = results(&trial_dirs(&local)[0]);
    let last = res.last().unwrap();
    assert_eq!(last["training_iteration"], 40);
    assert!(
        last["num_remote_worker_restarts"].as_u64().unwrap() >= 1,
        "{last}"
    );
    assert_eq!(last["num_healthy_workers"], 2, "{last}");
}

#[test]
fn killed_worker_without_restarts_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, local) = kill_a_worker_mid_run(tmp.path(), ", \"restart_failed_env_runners\": false");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    let e = errors[0];
    assert!(
        e.starts_with("error: rollout worker 1 failed")
            || e.starts_with("error: rollout worker 2 failed"),
        "{e}"
    );
    assert!(e.contains("died"), "{e}");
    assert!(e.contains("restart_failed_env_runners is false"), "{e}");
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    // Every line written is whole (results() parses each one).
    let res = results(&trial_dirs(&local)[0]);
    assert!(!res.is_empty() && res.len() < 40);
}

/// Runs `rllib train` with a failure injected into worker `spec` (`index:steps`).
fn train_with_panicking_env(dir: &Path, run: &str, cfg: &str, stop: &str, spec: &str) -> Run {
    let local = dir.join("r");
    let args = train_args(&local, run, "CartPole-v1", cfg, stop, &[]);
    let out = rllib_command(dir, &args)
        .env("RLLIB_TEST_PANIC_WORKER", spec)
        .output()
        .unwrap();
    finished(out)
}

#[test]
fn env_panic_in_a_thread_worker_is_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    let run = train_with_panicking_env(
        tmp.path(),
        "PPO",
        &two_workers(""),
        r#"{"training_iteration": 4}"#,
        "2:100",
    );
    run.ok();
    assert!(
        run.stderr.contains("rollout worker 2 failed"),
        "{}",
        run.stderr
    );
    let res = results(&trial_dirs(&tmp.path().join("r"))[0]);
    let last = res.last().unwrap();
    assert_eq!(last["training_iteration"], 4);
    // The recreated worker does not fail again.
    assert_eq!(last["num_remote_worker_restarts"], 1, "{last}");
    assert_eq!(last["num_healthy_workers"], 2, "{last}");
}

#[test]
fn a3c_applies_healthy_workers_gradients_while_one_is_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = r#"{"seed": 0, "num_workers": 2, "num_envs_per_worker": 2, "rollout_fragment_length": 10,
      "min_iter_time_s": 0, "grads_per_step": 20, "model": {"fcnet_hiddens": [16]}}"#;
    // Runs until the failure has been noticed (the iteration cap is a hang guard).
    let run = train_with_panicking_env(
        tmp.path(),
        "A3C",
        cfg,
        r#"{"num_remote_worker_restarts": 1, "training_iteration": 500}"#,
        "1:50",
    );
    run.ok();
    let res = results(&trial_dirs(&tmp.path().join("r"))[0]);
    let last = res.last().unwrap();
    assert_eq!(last["num_remote_worker_restarts"], 1, "{last}");
    // Every iteration applied its gradients in full, those while worker 1 failed included.
    for r in &res {
        assert_eq!(r["info"]["num_grads_applied"], 20, "{r}");
    }
    assert_eq!(last["info"]["weights_version"], 20 * res.len() as u64);
}
