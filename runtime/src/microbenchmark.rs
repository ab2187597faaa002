//! The twin of `ray microbenchmark`: the same rows, named the same way, measured the same way
//! (a warm-up, then four trials; mean and standard deviation of the per-trial rates).
//!
//! The `rllib microbenchmark` command calls [`run`] and prints each row with [`BenchRow`]'s
//! `Display`: `<row> per second <mean> +- <stdev>`.

use crate::error::RuntimeError;
use crate::object_ref::ObjectRef;
use crate::registry::{ActorClass, ActorMethod};
use crate::runtime::{Isolation, Runtime, RuntimeConfig, RuntimeHandle};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One measured row.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BenchRow {
    /// Ray's name for the row, e.g. `single client tasks sync`.
    pub name: String,
    /// Mean rate over the trials (per second; gigabytes per second for the gigabytes row).
    pub mean: f64,
    /// Standard deviation of the trial rates.
    pub stdev: f64,
}

impl fmt::Display for BenchRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} per second {:.2} +- {:.2}",
            self.name, self.mean, self.stdev
        )
    }
}

/// What `ray microbenchmark` printed on a 2-core machine (per second), for comparison.
pub const RAY_REFERENCE: &[(&str, f64)] = &[
    ("single client get calls", 12_703.0),
    ("single client put calls", 2_598.0),
    ("single client put gigabytes", 9.0),
    ("single client tasks sync", 606.0),
    ("single client tasks async", 2_043.0),
    ("1:1 actor calls sync", 1_315.0),
    ("1:1 actor calls async", 5_329.0),
    ("n:n actor calls async", 5_635.0),
];

crate::remote_fn! {
    /// The smallest task: what `ray microbenchmark` calls `small_value`.
    pub fn small_value() -> u64 { 0 }
}

/// The benchmark actor's state.
pub struct BenchActor;
/// The benchmark actor class.
pub static BENCH_ACTOR: ActorClass<BenchActor, ()> =
    ActorClass::new("runtime::microbenchmark::BenchActor", |()| BenchActor);
/// The benchmark actor's one method.
pub static SMALL_VALUE: ActorMethod<BenchActor, (), u64> = ActorMethod::new(
    "runtime::microbenchmark::BenchActor::small_value",
    |_, ()| 0,
);
crate::register!(BENCH_ACTOR, SMALL_VALUE);

/// Calls per async batch, as in Ray's script.
const BATCH: usize = 1000;
/// Bytes per put in the gigabytes row (Ray puts a 100 MB-ish array).
const BIG: usize = 100 * 1024 * 1024;

/// Runs every row in `mode` with trials of `trial` each (Ray uses 2 s).
pub fn run(mode: Isolation, trial: Duration) -> Result<Vec<BenchRow>, RuntimeError> {
    let mut rows = Vec::new();
    run_config(
        RuntimeConfig::default().isolation(mode),
        trial,
        "",
        &mut |r| rows.push(r.clone()),
    )?;
    Ok(rows)
}

/// Runs the rows whose names contain `filter` ("" for all) on a runtime built from `config`,
/// reporting each row as soon as it is done.
pub fn run_config(
    config: RuntimeConfig,
    trial: Duration,
    filter: &str,
    on_row: &mut dyn FnMut(&BenchRow),
) -> Result<(), RuntimeError> {
    let n_clients = (config.num_cpus.ceil() as usize).max(2);
    let rt = Runtime::new(config)?;
    let h = rt.handle();
    let mut emit = |name: &str,
                    f: &mut dyn FnMut() -> Result<(), RuntimeError>,
                    mult: f64|
     -> Result<(), RuntimeError> {
        if !name.contains(filter) {
            return Ok(());
        }
        let row = timeit(name, f, mult, trial)?;
        on_row(&row);
        Ok(())
    };

    let v = h.put(0u64);
    emit("single client get calls", &mut || h.get(&v).map(drop), 1.0)?;
    emit(
        "single client put calls",
        &mut || {
            drop(h.put(0u64));
            Ok(())
        },
        1.0,
    )?;
    let big = Arc::new(vec![0u8; BIG]);
    emit(
        "single client put gigabytes",
        &mut || {
            let r = h.put_bytes(big.clone());
            h.get_arc(&r).map(drop)
        },
        BIG as f64 / 1e9,
    )?;
    drop(big);

    emit(
        "single client tasks sync",
        &mut || h.get(&h.remote(&small_value, ())).map(drop),
        1.0,
    )?;
    emit(
        "single client tasks async",
        &mut || {
            let refs: Vec<ObjectRef<u64>> =
                (0..BATCH).map(|_| h.remote(&small_value, ())).collect();
            h.get_all(&refs).map(drop)
        },
        BATCH as f64,
    )?;

    let a = h.actor(&BENCH_ACTOR, ()).num_cpus(0.0).spawn()?;
    h.get(&a.ready())?;
    emit(
        "1:1 actor calls sync",
        &mut || h.get(&a.method(&SMALL_VALUE, ())).map(drop),
        1.0,
    )?;
    emit(
        "1:1 actor calls async",
        &mut || {
            let refs: Vec<ObjectRef<u64>> =
                (0..BATCH).map(|_| a.method(&SMALL_VALUE, ())).collect();
            h.get_all(&refs).map(drop)
        },
        BATCH as f64,
    )?;
    drop(a);

    let actors = (0..n_clients)
        .map(|_| h.actor(&BENCH_ACTOR, ()).num_cpus(0.0).spawn())
        .collect::<Result<Vec<_>, _>>()?;
    for a in &actors {
        h.get(&a.ready())?;
    }
    emit(
        "n:n actor calls async",
        &mut || {
            std::thread::scope(|s| {
                let hs: Vec<_> = actors
                    .iter()
                    .map(|a| {
                        let h: &RuntimeHandle = &h;
                        s.spawn(move || {
                            let refs: Vec<ObjectRef<u64>> =
                                (0..BATCH).map(|_| a.method(&SMALL_VALUE, ())).collect();
                            h.get_all(&refs).map(drop)
                        })
                    })
                    .collect();
                hs.into_iter()
                    .try_for_each(|j| j.join().expect("client thread"))
            })
        },
        (BATCH * n_clients) as f64,
    )?;
    Ok(())
}

/// Ray's `timeit`: warm up for half a trial, then four trials; rate = calls * mult / seconds.
fn timeit(
    name: &str,
    f: &mut dyn FnMut() -> Result<(), RuntimeError>,
    mult: f64,
    trial: Duration,
) -> Result<BenchRow, RuntimeError> {
    let start = Instant::now();
    while start.elapsed() < trial / 2 {
        f()?;
    }
    let mut rates = Vec::new();
    for _ in 0..4 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < trial {
            f()?;
            n += 1;
        }
        rates.push(n as f64 * mult / start.elapsed().as_secs_f64());
    }
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    let var = rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rates.len() as f64;
    Ok(BenchRow {
        name: name.to_string(),
        mean,
        stdev: var.sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_runs_in_thread_mode() {
        let rows = run(Isolation::Thread, Duration::from_millis(20)).unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        let want: Vec<&str> = RAY_REFERENCE.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, want);
        assert!(rows.iter().all(|r| r.mean > 0.0));
        assert!(rows[0]
            .to_string()
            .starts_with("single client get calls per second "));
    }
}
