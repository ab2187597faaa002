//! Python Gymnasium envs through the bridge, driven as a user drives them: a user's class
//! from a file, a Gymnasium id, errors, seeds, a killed Python process, checkpoints.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::train::strip_times;

/// `envs/tests/python/user_envs.py:CLASS`, the user envs of these tests.
fn user_env(class: &str) -> String {
    let file = repo_root().join("envs/tests/python/user_envs.py");
    format!("{}:{class}", file.display())
}

/// A small PPO config for the Corridor env: two envs per worker, a tiny network.
const CORRIDOR: &str = r#"{"seed": 3, "num_workers": 1, "num_envs_per_worker": 2,
  "env_config": {"length": 4}, "rollout_fragment_length": 50, "train_batch_size": 100,
  "sgd_minibatch_size": 50, "num_sgd_iter": 4, "lr": 0.003, "gamma": 0.95,
  "model": {"fcnet_hiddens": [16]}}"#;

fn returns(res: &[serde_json::Value]) -> Vec<f64> {
    res.iter()
        .map(|r| r["episode_reward_mean"].as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn train_python(dir: &Path, env: &str, cfg: &str, iters: u32, extra: &[&str]) -> PathBuf {
    let stop = format!("{{\"training_iteration\": {iters}}}");
    let (run, local) = train_flags(dir, "PPO", env, cfg, &stop, extra);
    run.ok();
    trial_dirs(&local).pop().expect("a trial directory")
}

#[test]
fn a_user_class_from_a_file_trains_and_the_same_seed_gives_the_same_curve() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let env = user_env("Corridor");
    let ra = results(&train_python(a.path(), &env, CORRIDOR, 6, &[]));
    let rb = results(&train_python(b.path(), &env, CORRIDOR, 6, &[]));
    assert_eq!(ra.len(), 6);
    for (x, y) in ra.iter().zip(&rb) {
        assert_eq!(strip_times(x), strip_times(y));
    }
    let r = returns(&ra);
    assert!(
        r[5] > r[0],
        "the policy learns to walk to the goal: returns {r:?}"
    );
}

#[test]
fn a_gymnasium_id_trains_and_restores_from_a_checkpoint_with_fresh_episodes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = train_python(
        tmp.path(),
        "gymnasium:CartPole-v1",
        FAST_CARTPOLE,
        5,
        &["--checkpoint-at-end"],
    );
    let r = returns(&results(&t));
    assert!(r[4] > r[0], "returns {r:?}");
    let resumed = tmp.path().join("resumed");
    std::fs::create_dir_all(&resumed).unwrap();
    let ckpt = t.join("checkpoint_000005");
    let t2 = train_python(
        &resumed,
        "gymnasium:CartPole-v1",
        FAST_CARTPOLE,
        6,
        &["--restore", ckpt.to_str().unwrap()],
    );
    let res = results(&t2);
    assert_eq!(res.len(), 1);
    assert_eq!(res[0]["training_iteration"], 6);
    assert_eq!(res[0]["timesteps_total"], 6 * 256);
}

#[test]
fn dict_observations_and_shaped_box_actions_train() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = r#"{"seed": 1, "num_workers": 0, "num_envs_per_worker": 2,
      "rollout_fragment_length": 30, "train_batch_size": 60, "sgd_minibatch_size": 30,
      "num_sgd_iter": 1, "model": {"fcnet_hiddens": [8]}}"#;
    let t = train_python(tmp.path(), &user_env("Structured"), cfg, 2, &[]);
    let res = results(&t);
    assert_eq!(res[1]["timesteps_total"], 120);
    assert_eq!(res[1]["episode_len_mean"], 3.0);
}

#[test]
fn an_env_that_raises_stops_the_run_or_restarts_its_worker() {
    let tmp = tempfile::tempdir().unwrap();
    let env = user_env("BrokenStep");
    let cfg = CORRIDOR.replace("\"num_workers\": 1", "\"num_workers\": 0");
    let (run, _) = train_flags(
        tmp.path(),
        "PPO",
        &env,
        &cfg,
        r#"{"training_iteration": 2}"#,
        &[],
    );
    assert_ne!(run.code, 0);
    let error = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in:\n{}", run.stderr));
    for words in [
        "BrokenStep",
        "RuntimeError",
        "the simulator lost its state",
        "in step",
    ] {
        assert!(error.contains(words), "{words} not in: {error}");
    }
    assert!(
        !run.stderr.contains("Traceback") && !run.stderr.contains("panicked"),
        "{}",
        run.stderr
    );
    // A remote worker is recreated (a new Python process) until the restarts run out.
    let cfg = CORRIDOR.replace(
        "\"num_workers\": 1",
        "\"num_workers\": 1, \"restart_failed_env_runners\": true, \"max_num_env_runner_restarts\": 1",
    );
    let (run, _) = train_flags(
        tmp.path(),
        "PPO",
        &env,
        &cfg,
        r#"{"training_iteration": 3}"#,
        &[],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("recreated it") && run.stderr.contains("RuntimeError"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_python_env_strings_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = repo_root().join("envs/tests/python/missing.py");
    for (env, words) in [
        (
            format!("{}:Env", missing.display()),
            "missing.py' not found",
        ),
        (user_env("NoSuchClass"), "no class 'NoSuchClass'"),
        ("gymnasium:NoSuchEnv-v0".into(), "no env 'NoSuchEnv-v0'"),
        ("NoSuchEnv-v0".into(), "nor has Gymnasium's registry"),
    ] {
        let (run, _) = train_flags(
            tmp.path(),
            "PPO",
            &env,
            "{}",
            r#"{"training_iteration": 1}"#,
            &[],
        );
        assert_eq!(run.code, 2, "{env}: {}", run.stderr);
        let errors: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert!(
            errors.len() == 1 && errors[0].contains(words),
            "{env}: {}",
            run.stderr
        );
    }
}

/// The Python processes whose parent is `pid`.
fn python_children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // The parent pid is the 2nd field after the parenthesized command name.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if parent == Some(pid) && String::from_utf8_lossy(&cmd).contains("python") {
            out.push(child);
        }
    }
    out
}

#[test]
fn a_killed_python_process_stops_the_run_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("r");
    let cfg = CORRIDOR.replace("\"num_workers\": 1", "\"num_workers\": 0");
    let env = user_env("Sleeper");
    let args = train_args(
        &local,
        "PPO",
        &env,
        &cfg,
        r#"{"training_iteration": 100000}"#,
        &[],
    );
    let mut child = rllib_command(tmp.path(), &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once an iteration is done, the only Python process left is the local worker's (the
    // probes' come and go before it).
    let deadline = Instant::now() + Duration::from_secs(120);
    let victim = loop {
        assert!(child.try_wait().unwrap().is_none(), "rllib ended early");
        let iterated = trial_dirs(&local)
            .iter()
            .any(|t| std::fs::read_to_string(t.join("result.json")).is_ok_and(|s| !s.is_empty()));
        if iterated {
            if let Some(p) = python_children(child.id()).first() {
                break *p;
            }
        }
        assert!(Instant::now() < deadline, "no Python process appeared");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .unwrap();
    // Not a timing assertion: a generous bound that only turns a hang into a failure.
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rllib kept running after its Python process was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = finished(child.wait_with_output().unwrap());
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("died") && run.stderr.contains("signal 9"),
        "{}",
        run.stderr
    );
}
