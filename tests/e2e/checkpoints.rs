//! Checkpoints: round trip, resume, and clear errors for foreign or damaged ones.

use crate::harness::*;
use crate::train::strip_times;

fn train(dir: &std::path::Path, stop_iter: u32, extra: &[&str]) -> std::path::PathBuf {
    train_with(dir, FAST_CARTPOLE, stop_iter, extra)
}

fn train_with(
    dir: &std::path::Path,
    cfg: &str,
    stop_iter: u32,
    extra: &[&str],
) -> std::path::PathBuf {
    let stop = format!("{{\"training_iteration\": {stop_iter}}}");
    let (run, local) = train_flags(dir, "PPO", "CartPole-v1", cfg, &stop, extra);
    run.ok();
    trial_dirs(&local).pop().unwrap()
}

#[test]
fn checkpoint_round_trip_and_resume_continue_training() {
    resume_equals_uninterrupted(FAST_CARTPOLE);
}

#[test]
fn resume_is_exact_with_remote_workers_and_a_filter() {
    let cfg = FAST_CARTPOLE.replace(
        "\"num_workers\": 0",
        "\"num_workers\": 2, \"observation_filter\": \"MeanStdFilter\"",
    );
    resume_equals_uninterrupted(&cfg);
}

#[test]
fn resume_is_exact_with_process_workers() {
    let cfg = FAST_CARTPOLE.replace(
        "\"num_workers\": 0",
        "\"num_workers\": 2, \"observation_filter\": \"MeanStdFilter\", \"worker_isolation\": \"process\"",
    );
    resume_equals_uninterrupted(&cfg);
}

fn resume_equals_uninterrupted(cfg: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let train = |dir: &std::path::Path, n: u32, extra: &[&str]| train_with(dir, cfg, n, extra);
    let t = train(tmp.path(), 2, &["--checkpoint-freq", "2"]);
    let ckpt = t.join("checkpoint_000002");
    assert!(ckpt.join("policy.safetensors").exists());
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt.join("trainer_state.json")).unwrap())
            .unwrap();
    assert_eq!(state["format"], "rllib-rs-checkpoint");
    assert_eq!(state["version"], 1);
    assert_eq!(state["iteration"], 2);
    // No temporary directory is left behind.
    assert!(!std::fs::read_dir(&t)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains(".tmp")));

    let r2 = tmp.path().join("resumed");
    std::fs::create_dir_all(&r2).unwrap();
    let t2 = train(&r2, 4, &["--restore", ckpt.to_str().unwrap()]);
    let res = results(&t2);
    let iters: Vec<i64> = res
        .iter()
        .map(|r| r["training_iteration"].as_i64().unwrap())
        .collect();
    assert_eq!(
        iters,
        vec![3, 4],
        "training continues at the checkpoint's iteration"
    );
    // The rest of the curve equals the uninterrupted run's, apart from wall-clock keys.
    let full = tmp.path().join("full");
    std::fs::create_dir_all(&full).unwrap();
    let uninterrupted = results(&train(&full, 4, &[]));
    for (resumed, straight) in res.iter().zip(&uninterrupted[2..]) {
        assert_eq!(strip_times(resumed), strip_times(straight));
    }
}

#[test]
fn foreign_and_damaged_checkpoints_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let t = train(tmp.path(), 1, &["--checkpoint-at-end"]);
    let ckpt = t.join("checkpoint_000001");
    // Another model shape.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let cfg = FAST_CARTPOLE.replace("[32, 32]", "[16]");
    let (r, local) = train_flags(
        &other,
        "PPO",
        "CartPole-v1",
        &cfg,
        r#"{"training_iteration": 1}"#,
        &["--restore", ckpt.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("checkpoint"), "{}", r.stderr);
    assert!(!local.exists());
    // Another algorithm.
    let a3c = tmp.path().join("a3c");
    std::fs::create_dir_all(&a3c).unwrap();
    let (r, local) = train_flags(
        &a3c,
        "A3C",
        "CartPole-v1",
        r#"{"seed": 7, "num_workers": 0, "model": {"fcnet_hiddens": [32, 32]}}"#,
        r#"{"training_iteration": 1}"#,
        &["--restore", ckpt.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("written by PPO, cannot restore into A3C"),
        "{}",
        r.stderr
    );
    assert!(!local.exists());
    // Damaged weights.
    std::fs::write(ckpt.join("policy.safetensors"), b"garbage").unwrap();
    let r = rllib(
        tmp.path(),
        &["evaluate", ckpt.to_str().unwrap(), "--episodes", "1"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("damaged"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}
