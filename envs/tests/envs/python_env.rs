//! The Python bridge against Gymnasium itself and small user envs (`tests/python/`).

use std::path::PathBuf;
use std::time::Duration;

use envs::python::{
    python_interpreter, PythonEnvError, PythonEnvSpec, PythonEnvTarget, PythonVectorEnv,
};
use envs::{make, make_with_config, Action, Env, EnvConfig, EnvError, Space, VectorEnv};

fn user_env(class: &str) -> String {
    format!(
        "{}/tests/python/user_envs.py:{class}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn config(json: serde_json::Value) -> EnvConfig {
    json.as_object().cloned().expect("an object")
}

/// Steps a bridged vector env (one process, auto-reset in Python) beside the native
/// vector env's loop over single bridged envs (auto-reset in Rust) with the same seeded
/// actions, and compares every value bit for bit across episode ends.
fn same_as_rust_vector_env(env: &str, cfg: &EnvConfig, steps: usize) -> usize {
    let n = 3;
    let mut a = VectorEnv::new(
        (0..n)
            .map(|_| make_with_config(env, cfg).unwrap())
            .collect(),
    )
    .unwrap();
    let mut b = VectorEnv::make_with_config(env, n, cfg).unwrap();
    assert_eq!(a.single_observation_space(), b.single_observation_space());
    assert_eq!(a.single_action_space(), b.single_action_space());
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(a.try_reset(Some(42)).unwrap()),
        bits(b.try_reset(Some(42)).unwrap())
    );
    let mut rng = 12345u64;
    let mut truncations = 0;
    for t in 0..steps {
        let actions: Vec<usize> = (0..n)
            .map(|_| {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (rng >> 33) as usize % 2
            })
            .collect();
        let sa = a.step_discrete(&actions).unwrap();
        let (oa, ra, ta, ua) = (
            bits(sa.obs),
            sa.rewards.to_vec(),
            sa.terminated.to_vec(),
            sa.truncated.to_vec(),
        );
        let sb = b.step_discrete(&actions).unwrap();
        assert_eq!(oa, bits(sb.obs), "observations at step {t}");
        assert_eq!(ra, sb.rewards, "rewards at step {t}");
        assert_eq!(ta, sb.terminated, "terminated at step {t}");
        assert_eq!(ua, sb.truncated, "truncated at step {t}");
        for i in 0..n {
            assert_eq!(
                a.final_obs(i).map(bits),
                b.final_obs(i).map(bits),
                "final observation of env {i} at step {t}"
            );
            assert_eq!(a.finished_episode(i), b.finished_episode(i));
        }
        truncations += ua.iter().filter(|u| **u).count();
    }
    truncations
}

#[test]
fn gymnasium_cartpole_replays_gymnasium_recording_bit_for_bit() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/gymnasium/CartPole-v1.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("shared/gymnasium beside the workspace");
    let mut env = make("gymnasium:CartPole-v1").unwrap();
    let f32s = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| (x.as_f64().unwrap() as f32).to_bits())
            .collect()
    };
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let (mut resets, mut steps, mut ends) = (0, 0, 0);
    for line in text.lines().skip(1) {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        match r["type"].as_str() {
            Some("reset") => {
                let obs = env.try_reset(r["seed"].as_u64()).unwrap();
                assert_eq!(bits(obs), f32s(&r["obs"]), "{line}");
                resets += 1;
            }
            Some("step") => {
                let a = r["action"].as_u64().unwrap() as usize;
                let s = env.try_step(Action::Discrete(a)).unwrap();
                assert_eq!(bits(s.obs), f32s(&r["obs"]), "{line}");
                assert_eq!(s.reward, r["reward"].as_f64().unwrap());
                assert_eq!(s.terminated, r["terminated"].as_bool().unwrap());
                assert_eq!(s.truncated, r["truncated"].as_bool().unwrap());
                ends += usize::from(s.terminated || s.truncated);
                steps += 1;
            }
            _ => {}
        }
    }
    assert!(
        resets > 0 && steps > 0 && ends > 0,
        "{resets} {steps} {ends}"
    );
}

#[test]
fn python_auto_reset_is_the_vector_envs_rule() {
    same_as_rust_vector_env("gymnasium:CartPole-v1", &EnvConfig::new(), 120);
}

#[test]
fn env_config_reaches_gymnasium_make_and_time_limits_truncate() {
    let cfg = config(serde_json::json!({ "max_episode_steps": 7 }));
    let truncations = same_as_rust_vector_env("gymnasium:Acrobot-v1", &cfg, 21);
    assert_eq!(truncations, 9, "every Acrobot episode is cut at 7 steps");
}

#[test]
fn a_user_class_from_a_file_is_built_with_env_config_and_seeded() {
    let cfg = config(serde_json::json!({"length": 3}));
    let run = || {
        let mut v = VectorEnv::make_with_config(&user_env("Corridor"), 2, &cfg).unwrap();
        let mut out = v.try_reset(Some(9)).unwrap().to_vec();
        for _ in 0..12 {
            let s = v.step_discrete(&[1, 1]).unwrap();
            out.extend_from_slice(s.obs);
            out.extend(s.rewards.iter().map(|r| *r as f32));
        }
        (out, v.finished_episode(0))
    };
    let (first, _) = run();
    let (second, _) = run();
    assert_eq!(first, second, "the same seed gives the same steps");
    assert_eq!(
        *VectorEnv::make_with_config(&user_env("Corridor"), 1, &cfg)
            .unwrap()
            .single_observation_space(),
        Space::Box {
            low: vec![0.0],
            high: vec![3.0],
            shape: vec![1]
        },
        "env_config reached the constructor"
    );
    // Walking right from 0 or 1 to 3 ends an episode within 3 steps; auto-reset follows.
    let mut v = VectorEnv::make_with_config(&user_env("Corridor"), 1, &cfg).unwrap();
    v.try_reset(Some(0)).unwrap();
    let mut ended = None;
    for t in 0..3 {
        let s = v.step_discrete(&[1]).unwrap();
        if s.terminated[0] {
            ended = Some(t);
            break;
        }
    }
    assert!(ended.is_some());
    assert_eq!(v.final_obs(0), Some(&[3.0f32][..]));
    assert!(v.obs()[0] <= 1.0, "the row holds the next episode's start");
}

#[test]
fn spaces_are_flattened_with_their_shapes_kept() {
    let mut dict = make(&user_env("Structured")).unwrap();
    assert_eq!(
        dict.observation_space().flat_dim(),
        5,
        "Box(2,) + one-hot(3)"
    );
    let Space::Box { shape, .. } = dict.action_space() else {
        panic!("{:?}", dict.action_space())
    };
    assert_eq!(shape, &vec![2, 2]);
    assert_eq!(
        dict.try_reset(Some(0)).unwrap(),
        &[1.0, 0.0, 0.0, 0.5, -0.25]
    );
    let s = dict
        .try_step(Action::Continuous(&[0.5, 0.5, 0.5, 0.25]))
        .unwrap();
    assert_eq!(s.reward, 1.75);
    assert_eq!(s.obs, &[0.0, 1.0, 0.0, 0.5, -0.25]);

    let mut image = make(&user_env("Image")).unwrap();
    let Space::Box { shape, low, .. } = image.observation_space() else {
        panic!("{:?}", image.observation_space())
    };
    assert_eq!((shape.clone(), low[0]), (vec![2, 3], f32::NEG_INFINITY));
    assert_eq!(*image.action_space(), Space::Discrete(4));
    let first = image.try_reset(Some(0)).unwrap().to_vec();
    let expected: Vec<f32> = (0..6).map(|i| (i as f64 / 3.0) as f32).collect();
    assert_eq!(first, expected, "float64 observations cast as numpy casts");
    // Discrete(4, start=1): index 3 is the action 4.
    assert_eq!(image.try_step(Action::Discrete(3)).unwrap().obs, &[4.0; 6]);

    let mut grid = make(&user_env("Grid")).unwrap();
    assert_eq!(
        grid.try_reset(None).unwrap(),
        &[0.0, 1.0, 0.0, 0.0, 1.0],
        "MultiDiscrete([2, 3]) as two one-hots"
    );

    for (class, words) in [
        ("Words", ["observation space", "Text"]),
        ("PickAll", ["action space", "MultiDiscrete"]),
    ] {
        let e = make(&user_env(class)).err().expect("an unsupported space");
        let msg = e.to_string();
        assert!(
            matches!(&e, EnvError::Python(p) if matches!(**p, PythonEnvError::UnsupportedSpace { .. }))
                && words.iter().all(|w| msg.contains(w)),
            "{msg}"
        );
    }
}

#[test]
fn exceptions_are_quoted_with_the_env() {
    let e = make(&user_env("BrokenInit")).err().unwrap().to_string();
    assert!(
        e.contains("BrokenInit")
            && e.contains("ValueError")
            && e.contains("the config needs a 'map' key")
            && e.contains("__init__")
            && !e.contains('\n'),
        "{e}"
    );
    let mut v = VectorEnv::make(&user_env("BrokenStep"), 2).unwrap();
    v.try_reset(Some(0)).unwrap();
    let mut err = None;
    for _ in 0..5 {
        if let Err(e) = v.step_discrete(&[0, 0]) {
            err = Some(e.to_string());
            break;
        }
    }
    let e = err.expect("the third step raises");
    assert!(
        e.contains("RuntimeError")
            && e.contains("the simulator lost its state")
            && e.contains("in step")
            && e.contains("BrokenStep"),
        "{e}"
    );
    let again = v.step_discrete(&[0, 0]).err().unwrap().to_string();
    assert!(again.contains("has stopped"), "{again}");
}

#[test]
fn bad_paths_and_missing_packages_say_what_is_missing() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let cases = [
        (
            format!("{dir}/tests/python/nope.py:Env"),
            "nope.py' not found",
        ),
        (user_env("NoSuchClass"), "no class 'NoSuchClass'"),
        (
            "no_such_pkg.envs:Env".to_string(),
            "no Python module 'no_such_pkg.envs'",
        ),
        (
            format!("{dir}/tests/python/needs_missing_package.py:Env"),
            "pip install rllib_test_package_that_does_not_exist",
        ),
        (
            "gymnasium:NoSuchEnv-v0".to_string(),
            "no env 'NoSuchEnv-v0'",
        ),
    ];
    for (env, words) in cases {
        let e = make(&env).err().expect("an error").to_string();
        assert!(e.contains(words) && !e.contains('\n'), "{env}: {e}");
    }
    let e = make("NoSuchEnv-v0").err().unwrap().to_string();
    assert!(
        e.contains("CartPole-v1") && e.contains("Gymnasium's registry"),
        "{e}"
    );
}

#[test]
fn an_interpreter_without_gymnasium_says_what_to_install() {
    let dir = tempdir();
    // `-S` skips site-packages: the project's Python, as if gymnasium were not installed.
    let wrapper = dir.join("python-without-packages");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec '{}' -S \"$@\"\n",
            python_interpreter().display()
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&wrapper).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&wrapper, perms).unwrap();
    let spec = |python: PathBuf| PythonEnvSpec {
        env: "gymnasium:CartPole-v1".into(),
        target: PythonEnvTarget::Gymnasium {
            id: "CartPole-v1".into(),
        },
        env_config: EnvConfig::new(),
        python,
    };
    let e = PythonVectorEnv::spawn(&spec(wrapper), 1, true)
        .err()
        .unwrap();
    assert!(
        matches!(&e, PythonEnvError::MissingPackage { package, .. } if package == "numpy" || package == "gymnasium"),
        "{e}"
    );
    assert!(e.to_string().contains("-m pip install"), "{e}");
    let e = PythonVectorEnv::spawn(&spec(dir.join("no-python-here")), 1, true)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("cannot start Python") && e.contains("RLLIB_PYTHON"),
        "{e}"
    );
}

#[test]
fn a_killed_python_process_is_an_error_at_once() {
    let mut v = VectorEnv::make(&user_env("Sleeper"), 2).unwrap();
    v.try_reset(Some(0)).unwrap();
    v.step_discrete(&[1, 1]).unwrap();
    let pid = v.python_pid().expect("a Python env");
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
    });
    let mut err = None;
    // Each step sleeps 5 ms per env in Python; the kill lands within a few steps.
    for _ in 0..200 {
        if let Err(e) = v.step_discrete(&[1, 1]) {
            err = Some(e.to_string());
            break;
        }
    }
    killer.join().unwrap();
    let e = err.expect("stepping a killed process fails");
    assert!(e.contains("died") && e.contains("signal 9"), "{e}");
}

#[test]
fn a_plain_id_no_native_env_has_comes_from_gymnasium() {
    let mut taxi = make_with_config("Taxi-v3", &EnvConfig::new()).unwrap();
    assert_eq!(
        taxi.observation_space().flat_dim(),
        500,
        "one-hot Discrete(500)"
    );
    assert_eq!(*taxi.action_space(), Space::Discrete(6));
    let first = taxi.try_reset(Some(3)).unwrap();
    assert_eq!(first.iter().filter(|x| **x == 1.0).count(), 1);
    // A native id stays native (no Python process) unless prefixed.
    assert!(VectorEnv::make("CartPole-v1", 1)
        .unwrap()
        .python_pid()
        .is_none());
    assert!(VectorEnv::make("gymnasium:CartPole-v1", 1)
        .unwrap()
        .python_pid()
        .is_some());
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "envs-python-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
