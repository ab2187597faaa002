//! CartPole-v1 steps per second on one core: a bare loop over one env (static and dynamic
//! dispatch) and a `VectorEnv` of 8, with pseudo-random actions and reset on episode end.
//!
//! Run: `cargo bench -p envs --bench cartpole` (release profile). Optional arguments: the
//! number of steps per measurement (default 20,000,000) and a name filter. Time is the
//! thread's CPU time, so a shared machine's preemption does not count; the configurations
//! are measured interleaved, 7 rounds, and the median and best of each are reported.

use envs::classic_control::CartPole;
use envs::{make, Action, Env, TimeLimit, VectorEnv};
use std::hint::black_box;

const NUM_ENVS: usize = 8;
const ROUNDS: usize = 7;

/// CPU seconds used by this thread so far.
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

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
    let start = thread_cpu_seconds();
    for _ in 0..steps {
        let s = env.step(Action::Discrete(rng.next()));
        black_box(s.obs);
        if s.terminated || s.truncated {
            black_box(env.reset(None));
        }
    }
    steps as f64 / (thread_cpu_seconds() - start)
}

fn vector<E: Env>(venv: &mut VectorEnv<E>, steps: u64) -> f64 {
    let mut rng = Actions(0x9E37_79B9_7F4A_7C15);
    let mut actions = [0usize; NUM_ENVS];
    venv.reset(Some(0));
    let rounds = steps / NUM_ENVS as u64;
    let start = thread_cpu_seconds();
    for _ in 0..rounds {
        for a in &mut actions {
            *a = rng.next();
        }
        let s = venv.step_discrete(&actions).expect("valid actions");
        black_box(s.obs);
    }
    (rounds * NUM_ENVS as u64) as f64 / (thread_cpu_seconds() - start)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
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
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); runs.len()];
    for _ in 0..ROUNDS {
        for (k, (name, run)) in runs.iter_mut().enumerate() {
            if wanted(name) {
                rates[k].push(run());
            }
        }
    }

    println!("CartPole-v1, {steps} steps per run, {ROUNDS} interleaved rounds, thread CPU time");
    println!("{:<36} {:>12} {:>12}", "", "median", "best");
    let mut medians = [f64::NAN; 4];
    for (k, (name, _)) in runs.iter().enumerate() {
        if rates[k].is_empty() {
            continue;
        }
        let best = rates[k].iter().copied().fold(0.0, f64::max);
        medians[k] = median(rates[k].clone());
        println!(
            "{name:<36} {:>8.2} M/s {:>8.2} M/s",
            medians[k] / 1e6,
            best / 1e6
        );
    }
    println!(
        "VectorEnv / bare loop (medians): generic {:.3}, boxed {:.3}",
        medians[2] / medians[0],
        medians[3] / medians[1]
    );
}
