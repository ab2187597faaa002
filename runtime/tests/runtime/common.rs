//! Registered functions and actor classes shared by the tests, and runtime constructors.

use runtime::{
    register, remote_fn, ActorClass, ActorMethod, Isolation, Runtime, RuntimeConfig, TaskError,
};
use std::time::Duration;

pub fn rt(mode: Isolation, cpus: f64) -> Runtime {
    Runtime::new(RuntimeConfig::default().num_cpus(cpus).isolation(mode)).expect("runtime starts")
}

remote_fn! { pub fn add(a: i64, b: i64) -> i64 { a + b } }
remote_fn! { pub fn noop() -> () {} }
remote_fn! { pub fn worker_pid() -> u32 { std::process::id() } }
remote_fn! {
    /// Sleeps, then returns its argument (makes tasks finish out of order).
    pub fn sleep_then(ms: u64, v: i64) -> i64 {
        std::thread::sleep(Duration::from_millis(ms));
        v
    }
}
remote_fn! { pub fn boom(msg: String) -> i64 { panic!("{}", msg) } }
remote_fn! { pub fn len_of(v: Vec<u8>) -> usize { v.len() } }

/// A task that returns an error instead of panicking.
pub static FAILS: runtime::RemoteFn<(i64,), i64> =
    runtime::RemoteFn::fallible("common::fails", |(x,)| {
        Err(TaskError::msg(format!("bad input {x}")))
    });
register!(FAILS);

// The seed's dependency chain.
remote_fn! {
    pub fn load_data(file: String) -> Vec<f64> {
        std::thread::sleep(Duration::from_millis(300));
        let n = file.len() as f64;
        (0..8).map(|i| i as f64 + n).collect()
    }
}
remote_fn! {
    pub fn normalize_data(data: Vec<f64>) -> Vec<f64> {
        let m = data.iter().cloned().fold(f64::MIN, f64::max);
        data.iter().map(|x| x / m).collect()
    }
}
remote_fn! { pub fn extract_features(data: Vec<f64>) -> Vec<f64> { data.iter().map(|x| x * x).collect() } }
remote_fn! { pub fn compute_loss(features: Vec<f64>) -> f64 { features.iter().sum::<f64>() / features.len() as f64 } }

/// What the chain computes, locally, to check the runtime's answer.
pub fn chain_local(file: &str) -> f64 {
    let d = load_data.call_local((file.to_string(),)).unwrap();
    let d = normalize_data.call_local((d,)).unwrap();
    let d = extract_features.call_local((d,)).unwrap();
    compute_loss.call_local((d,)).unwrap()
}

/// A stateful actor that remembers the order of its calls.
pub struct Counter {
    pub n: i64,
    pub log: Vec<i64>,
}
pub static COUNTER: ActorClass<Counter, (i64,)> =
    ActorClass::new("Counter", |(n,)| Counter { n, log: Vec::new() });
pub static INCR: ActorMethod<Counter, (i64,), i64> =
    ActorMethod::new("Counter::incr", |c, (by,)| {
        c.n += by;
        c.log.push(by);
        c.n
    });
pub static LOG: ActorMethod<Counter, (), Vec<i64>> =
    ActorMethod::new("Counter::log", |c, ()| c.log.clone());
pub static PANIC: ActorMethod<Counter, (String,), i64> =
    ActorMethod::new("Counter::panic", |_, (m,)| panic!("{}", m));
pub static SLEEP_PID: ActorMethod<Counter, (u64,), u32> =
    ActorMethod::new("Counter::sleep_pid", |_, (ms,)| {
        std::thread::sleep(Duration::from_millis(ms));
        std::process::id()
    });
pub static PID: ActorMethod<Counter, (), u32> =
    ActorMethod::new("Counter::pid", |_, ()| std::process::id());
pub static GET: ActorMethod<Counter, (), i64> = ActorMethod::new("Counter::get", |c, ()| c.n);
register!(COUNTER, INCR, LOG, PANIC, SLEEP_PID, PID, GET);

/// An actor whose constructor panics.
pub static BROKEN: ActorClass<Counter, ()> =
    ActorClass::new("Broken", |()| panic!("constructor exploded"));
register!(BROKEN);

remote_fn! {
    /// Sleeps, then says which process ran it.
    pub fn sleep_pid(ms: u64) -> u32 {
        std::thread::sleep(Duration::from_millis(ms));
        std::process::id()
    }
}
