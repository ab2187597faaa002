//! Env steps per second of a bridged Python env (default `gymnasium:CartPole-v1`) in a
//! vector of 8: one Python process, one round trip per vector step, random actions.
//!
//! Run: `cargo bench -p envs --bench python_env -- [VECTOR_STEPS] [ENV] [NUM_ENVS]`
//! (release profile). Wall-clock time, because the work is in another process; 5 rounds,
//! median and best reported, one JSON line at the end for scripts
//! (`experiments/python_envs/bench.py` runs it beside Gymnasium's `SyncVectorEnv`).

use std::time::Instant;

use envs::VectorEnv;

const ROUNDS: usize = 5;

fn main() {
    // `cargo bench` passes `--bench`; only the positional arguments count.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let steps: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let env = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "gymnasium:CartPole-v1".into());
    let num_envs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let mut venv = match VectorEnv::make(&env, num_envs) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let discrete = match venv.single_action_space() {
        envs::Space::Discrete(n) => Some(*n),
        envs::Space::Box { .. } => None,
    };
    let k = venv.single_action_space().flat_dim();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    if let Err(e) = venv.try_reset(Some(0)) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    let mut rates = Vec::new();
    for round in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..steps {
            let result = match discrete {
                Some(n) => {
                    let a: Vec<usize> = (0..num_envs).map(|_| next() as usize % n).collect();
                    venv.step_discrete(&a).map(|_| ())
                }
                None => {
                    let a: Vec<f32> = (0..num_envs * k)
                        .map(|_| (next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
                        .collect();
                    venv.step_continuous(&a).map(|_| ())
                }
            };
            if let Err(e) = result {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let rate = (steps * num_envs) as f64 / secs;
        println!(
            "round {round}: {rate:.0} env steps/s, {:.1} us per vector step of {num_envs}",
            secs / steps as f64 * 1e6
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[ROUNDS / 2];
    let best = rates[ROUNDS - 1];
    println!(
        "{{\"env\": \"{env}\", \"num_envs\": {num_envs}, \"median_env_steps_per_s\": {median:.0}, \
         \"best_env_steps_per_s\": {best:.0}, \"median_us_per_vector_step\": {:.2}}}",
        num_envs as f64 / median * 1e6
    );
}
