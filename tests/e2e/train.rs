//! `rllib train`: learning, RLlib's files, results, TensorBoard and determinism.

use crate::harness::*;

#[test]
fn trains_cartpole_past_a_low_bar_and_writes_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, local) = train_flags(
        tmp.path(),
        "PPO",
        "CartPole-v1",
        FAST_CARTPOLE,
        r#"{"episode_reward_mean": 100, "timesteps_total": 60000}"#,
        &["--checkpoint-at-end"],
    );
    run.ok();
    let trials = trial_dirs(&local);
    assert_eq!(trials.len(), 1);
    let t = &trials[0];
    let res = results(t);
    let last = res.last().unwrap();
    assert!(
        last["episode_reward_mean"].as_f64().unwrap() >= 100.0,
        "{last}"
    );
    assert_eq!(last["done"], true);
    for key in [
        "episode_reward_min",
        "episode_reward_max",
        "episode_len_mean",
        "episodes_this_iter",
        "timesteps_total",
        "time_this_iter_s",
        "time_total_s",
        "training_iteration",
    ] {
        assert!(last.get(key).is_some(), "missing {key}");
    }
    for key in [
        "policy_loss",
        "vf_loss",
        "kl",
        "entropy",
        "cur_kl_coeff",
        "cur_lr",
        "vf_explained_var",
        "total_loss",
    ] {
        assert!(
            last["info"]["learner"]["default_policy"].get(key).is_some(),
            "missing learner {key}"
        );
    }
    assert!(t.join("params.json").exists());
    let csv = std::fs::read_to_string(t.join("progress.csv")).unwrap();
    assert_eq!(csv.lines().count(), res.len() + 1);
    assert!(std::fs::read_dir(t).unwrap().flatten().any(|e| e
        .file_name()
        .to_string_lossy()
        .starts_with("events.out.tfevents.")));
    let ckpt = std::fs::read_dir(t)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("checkpoint_")
        })
        .expect("a checkpoint at end");
    assert!(ckpt.join("policy.safetensors").exists() && ckpt.join("trainer_state.json").exists());

    // The trained policy evaluates well above a random one (about 22).
    let r = rllib(
        tmp.path(),
        &["evaluate", ckpt.to_str().unwrap(), "--episodes", "5"],
    );
    r.ok();
    let mean: f64 = r
        .stdout
        .split("mean return ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(mean > 60.0, "{}", r.stdout);
}

#[test]
fn tensorboard_reads_every_scalar_of_result_json() {
    let py = venv_python();
    if !py.exists() {
        panic!(
            "{} missing: run .ci/setup (the README's test command does)",
            py.display()
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let (run, local) = train_flags(
        tmp.path(),
        "PPO",
        "CartPole-v1",
        FAST_CARTPOLE,
        r#"{"training_iteration": 3}"#,
        &[],
    );
    run.ok();
    let t = &trial_dirs(&local)[0];
    let script = r#"
import sys, json
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={'scalars': 0})
acc.Reload()
out = {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()['scalars']}
print(json.dumps(out))
"#;
    let out = std::process::Command::new(&py)
        .arg("-c")
        .arg(script)
        .arg(t)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tb: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let res = results(t);
    fn flat(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, f64)>) {
        match v {
            serde_json::Value::Object(m) => m.iter().for_each(|(k, x)| {
                flat(
                    &if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}/{k}")
                    },
                    x,
                    out,
                )
            }),
            serde_json::Value::Number(n) => out.push((prefix.to_string(), n.as_f64().unwrap())),
            serde_json::Value::Bool(b) => out.push((prefix.to_string(), *b as u8 as f64)),
            _ => {}
        }
    }
    for r in &res {
        let step = r["timesteps_total"].as_i64().unwrap();
        let mut scalars = Vec::new();
        flat("", r, &mut scalars);
        for (k, v) in scalars {
            let tag = format!("ray/tune/{k}");
            let points = tb[&tag]
                .as_array()
                .unwrap_or_else(|| panic!("tag {tag} missing"));
            let p = points
                .iter()
                .find(|p| p[0].as_i64() == Some(step))
                .unwrap_or_else(|| panic!("{tag} has no step {step}"));
            let got = p[1].as_f64().unwrap();
            assert!(
                (got - (v as f32) as f64).abs() <= 1e-6 * v.abs().max(1.0),
                "{tag}: {got} vs {v}"
            );
        }
    }
}

fn run_seeded(dir: &std::path::Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let (run, local) = train_flags(
        dir,
        "PPO",
        "CartPole-v1",
        FAST_CARTPOLE,
        r#"{"training_iteration": 4}"#,
        extra,
    );
    run.ok();
    results(&trial_dirs(&local)[0])
}

pub fn strip_times(v: &serde_json::Value) -> serde_json::Value {
    rllib::result::without_times(v)
}

#[test]
fn same_seed_same_results_apart_from_times() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ra = run_seeded(a.path(), &[]);
    let rb = run_seeded(b.path(), &[]);
    assert_eq!(ra.len(), 4);
    for (x, y) in ra.iter().zip(&rb) {
        assert_eq!(strip_times(x), strip_times(y));
    }
    // Another seed gives another curve.
    let c = tempfile::tempdir().unwrap();
    let rc = run_seeded(c.path(), &["--seed", "8"]);
    assert_ne!(strip_times(&ra[3]), strip_times(&rc[3]));
}

#[test]
fn same_seed_same_results_with_remote_workers() {
    let cfg = FAST_CARTPOLE.replace("\"num_workers\": 0", "\"num_workers\": 2");
    let mut runs = Vec::new();
    for _ in 0..2 {
        let d = tempfile::tempdir().unwrap();
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
    for (x, y) in runs[0].iter().zip(&runs[1]) {
        assert_eq!(strip_times(x), strip_times(y));
    }
}

#[test]
fn rllib_experiment_files_run_one_iteration_each() {
    let dir = shared().join("rllib-yaml");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let tmp = tempfile::tempdir().unwrap();
            let local = tmp.path().join("r");
            let r = rllib(
                tmp.path(),
                &[
                    "train",
                    "--config",
                    p.to_str().unwrap(),
                    "--stop",
                    r#"{"training_iteration": 1}"#,
                    "--local-dir",
                    local.to_str().unwrap(),
                    "--no-progress",
                    "--seed",
                    "1",
                ],
            );
            r.ok();
            let t = trial_dirs(&local);
            assert_eq!(t.len(), 1, "{}", p.display());
            assert_eq!(results(&t[0]).len(), 1);
            n += 1;
        }
    }
    assert_eq!(n, 3);
}
