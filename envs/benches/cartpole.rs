//! CartPole-v1 steps per second on one core: a bare loop over one env (static and dynamic
//! dispatch) and a `VectorEnv` of 8, with pseudo-random actions and reset on episode end.
//!
//! Run: `cargo bench -p envs --bench cartpole` (release profile). Optional argument: the
//! number of steps per measurement (default 20,000,000). Each figure is the best of 5.

use envs::classic_control::CartPole;
use envs::{make, Action, Env, TimeLimit, VectorEnv};
use std::hint::black_box;
use std::time::Instant;

const NUM_ENVS: usize = 8;
const REPEATS: usize = 5;

/// xorshift64: a random action costs about a nanosecond, so it does not hide the env.
struct Actions(u64);

impl Actions {
    #[inline(always)]
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 63) as usize
    }
}

fn bare<E: Env>(env: &mut E, steps: u64) -> f64 {
    let mut rng = Actions(0x9E37_79B9_7F4A_7C15);
    env.reset(Some(0));
    let start = Instant::now();
    for _ in 0..steps {
        let s = env.step(Action::Discrete(rng.next()));
        black_box(s.obs);
        if s.terminated || s.truncated {
            black_box(env.reset(None));
        }
    }
    steps as f64 / start.elapsed().as_secs_f64()
}

fn vector<E: Env>(venv: &mut VectorEnv<E>, steps: u64) -> f64 {
    let mut rng = Actions(0x9E37_79B9_7F4A_7C15);
    let mut actions = [0usize; NUM_ENVS];
    venv.reset(Some(0));
    let rounds = steps / NUM_ENVS as u64;
    let start = Instant::now();
    for _ in 0..rounds {
        for a in &mut actions {
            *a = rng.next();
        }
        let s = venv.step_discrete(&actions).expect("valid actions");
        black_box(s.obs);
    }
    (rounds * NUM_ENVS as u64) as f64 / start.elapsed().as_secs_f64()
}

fn best(f: &mut dyn FnMut() -> f64) -> f64 {
    (0..REPEATS).map(|_| f()).fold(0.0, f64::max)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let steps: u64 = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000_000);
    // A non-numeric argument runs only the rows whose name contains it (for profiling).
    let filter = args
        .iter()
        .find(|a| a.parse::<u64>().is_err() && !a.starts_with("--"))
        .cloned();
    let wanted = |name: &str| match &filter {
        None => true,
        Some(f) => name.contains(f.as_str()),
    };
    let mut generic = TimeLimit::new(CartPole::new(), 500);
    let mut boxed = make("CartPole-v1").expect("registered");
    let mut vec_generic =
        VectorEnv::from_fn(NUM_ENVS, |_| TimeLimit::new(CartPole::new(), 500)).expect("vector");
    let mut vec_boxed = VectorEnv::make("CartPole-v1", NUM_ENVS).expect("vector");

    let mut runs: [(&str, &mut dyn FnMut() -> f64); 4] = [
        ("bare loop, TimeLimit<CartPole>", &mut || {
            bare(&mut generic, steps)
        }),
        ("bare loop, Box<dyn Env>", &mut || bare(&mut boxed, steps)),
        ("VectorEnv<TimeLimit<CartPole>> x8", &mut || {
            vector(&mut vec_generic, steps)
        }),
        ("VectorEnv<Box<dyn Env>> x8", &mut || {
            vector(&mut vec_boxed, steps)
        }),
    ];
    let rows = runs.each_mut().map(|(name, run)| {
        let rate = if wanted(name) {
            best(&mut **run)
        } else {
            f64::NAN
        };
        (*name, rate)
    });
    println!("CartPole-v1, {steps} steps per run, best of {REPEATS}");
    for (name, rate) in rows {
        println!("{name:<36} {:>7.2} M steps/s", rate / 1e6);
    }
    let ratio = rows[2].1 / rows[0].1;
    println!("VectorEnv (generic) / bare (generic): {ratio:.3}");
    println!(
        "VectorEnv (boxed) / bare (boxed):     {:.3}",
        rows[3].1 / rows[1].1
    );
}
