//! The twin of `ray microbenchmark`: the same rows, named the same way, measured the same way
//! (a warm-up, then four trials; mean and standard deviation of the per-trial rates).
//!
//! The `rllib microbenchmark` command calls [`run`] (or [`run_secs`], which checks a duration
//! given as seconds) and prints each row with [`BenchRow`]'s `Display`:
//! `<row> per second <mean> +- <stdev>`.
//!
//! `single client put gigabytes` moves real bytes: each put copies a 100 MiB buffer into the
//! store (as Ray's put copies into shared memory); in process mode a task in a worker process
//! then receives it (serialized, sent over the socket, deserialized), so the figure is what
//! reaches a worker. The other rows count calls.

use crate::config::{Isolation, RuntimeConfig};
use crate::error::RuntimeError;
use crate::object_ref::ObjectRef;
use crate::registry::{ActorClass, ActorMethod};
use crate::resources::Resources;
use crate::runtime::{Runtime, RuntimeHandle};
use crate::value::Blob;
use std::fmt;
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
    fn small_value() -> u64 { 0 }
}

crate::remote_fn! {
    /// Receives a byte buffer (in a worker process, after it crossed the socket).
    fn received_len(b: Blob) -> u64 { b.0.len() as u64 }
}

/// The benchmark actor's state.
struct BenchActor;
/// The benchmark actor class.
static BENCH_ACTOR: ActorClass<BenchActor, ()> =
    ActorClass::new("runtime::microbenchmark::BenchActor", |()| BenchActor);
/// The benchmark actor's one method.
static SMALL_VALUE: ActorMethod<BenchActor, (), u64> = ActorMethod::new(
    "runtime::microbenchmark::BenchActor::small_value",
    |_, ()| 0,
);
crate::register!(BENCH_ACTOR, SMALL_VALUE);

/// What Ray 2.60 measured for the cross-node rows (head and nodes as separate raylets on one
/// 2-core machine, 1 CPU each; median of 3), for comparison.
pub const RAY_CLUSTER_REFERENCE: &[(&str, f64)] = &[
    ("cross-node tasks async", 755.0),
    ("cross-node actor calls async", 3_686.0),
    ("cross-node get 1 GB gigabytes", 0.67),
];

crate::remote_fn! {
    /// Makes a 1 GB byte array on the node it runs on (zeroed, as `np.zeros` in Ray's test).
    fn one_gigabyte() -> Blob { Blob::from(vec![0u8; GIGABYTE]) }
}

/// Bytes in the cross-node transfer row.
const GIGABYTE: usize = 1 << 30;

/// Calls per async batch, as in Ray's script.
const BATCH: usize = 1000;
/// Bytes per put in the gigabytes row (Ray puts a 100 MB-ish array).
const BIG: usize = 100 * 1024 * 1024;

/// Longest trial accepted (one day): longer is a mistake, not a benchmark.
pub const MAX_TRIAL: Duration = Duration::from_secs(86_400);

/// Checks a trial length: more than zero, at most [`MAX_TRIAL`].
fn check_trial(trial: Duration) -> Result<(), RuntimeError> {
    if trial.is_zero() || trial > MAX_TRIAL {
        return Err(RuntimeError::InvalidArgument(format!(
            "trial length must be more than 0 s and at most {} s, got {:?}",
            MAX_TRIAL.as_secs(),
            trial
        )));
    }
    Ok(())
}

/// A trial length given in seconds (as a command line gives it): finite, more than 0, at most
/// [`MAX_TRIAL`]; anything else (NaN, infinite, negative, huge) is `InvalidArgument`.
pub fn trial_from_secs(secs: f64) -> Result<Duration, RuntimeError> {
    if !(secs.is_finite() && secs > 0.0 && secs <= MAX_TRIAL.as_secs_f64()) {
        return Err(RuntimeError::InvalidArgument(format!(
            "trial length must be a number of seconds more than 0 and at most {}, got {secs}",
            MAX_TRIAL.as_secs()
        )));
    }
    let d = Duration::from_secs_f64(secs);
    check_trial(d)?;
    Ok(d)
}

/// [`run`] with the trial length in seconds, checked by [`trial_from_secs`].
pub fn run_secs(mode: Isolation, trial_secs: f64) -> Result<Vec<BenchRow>, RuntimeError> {
    run(mode, trial_from_secs(trial_secs)?)
}

/// Runs every row in `mode` with trials of `trial` each (Ray uses 2 s); a trial of zero or
/// past [`MAX_TRIAL`] is `InvalidArgument`.
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
    check_trial(trial)?;
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
    let big = vec![0u8; BIG];
    let process = h.isolation() == Isolation::Process;
    emit(
        "single client put gigabytes",
        &mut || {
            // A copy into the store, as Ray's put copies into shared memory...
            let r = h.put(Blob::from(big.clone()));
            if process {
                // ...and, with worker processes, the bytes delivered to one.
                let n = h.get(&h.remote(&received_len, (&r,)))?;
                debug_assert_eq!(n as usize, BIG);
                Ok(())
            } else {
                h.get_arc(&r).map(drop)
            }
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

/// The cross-node rows, as `rllib microbenchmark --address HOST:PORT` prints them: a driver
/// joins the cluster at `address` and pins 1,000-task batches and an actor to the node with
/// the highest id that is not the head (node 1), or to the head when it is alone, through
/// that node's `node:<id>` resource; then a task there returns 1 GB that the driver gets.
pub fn run_cluster(
    address: &str,
    trial: Duration,
    on_row: &mut dyn FnMut(&BenchRow),
) -> Result<(), RuntimeError> {
    check_trial(trial)?;
    let rt = Runtime::new(RuntimeConfig::default().address(address))?;
    let h = rt.handle();
    let total = h.cluster_resources();
    let target = total
        .custom
        .keys()
        .filter_map(|k| k.strip_prefix("node:")?.parse::<u16>().ok())
        .max_by_key(|id| (*id != 1, *id))
        .ok_or_else(|| RuntimeError::Cluster {
            address: address.to_string(),
            message: "the cluster has no live node".into(),
        })?;
    let name = format!("node:{target}");
    let pin = Resources::none().with(&name, 0.001);
    let on_target = Resources::cpus(1.0).with(&name, 0.001);
    // Start the node's workers before timing (Ray's script warms up too).
    let warm: Vec<ObjectRef<u64>> = (0..8)
        .map(|_| {
            h.task(&small_value, ())
                .resources(on_target.clone())
                .submit()
        })
        .collect::<Result<_, _>>()?;
    h.get_all(&warm)?;
    let row = timeit(
        "cross-node tasks async",
        &mut || {
            let refs: Vec<ObjectRef<u64>> = (0..BATCH)
                .map(|_| {
                    h.task(&small_value, ())
                        .resources(on_target.clone())
                        .submit()
                })
                .collect::<Result<_, _>>()?;
            h.get_all(&refs).map(drop)
        },
        BATCH as f64,
        trial,
    )?;
    on_row(&row);
    let a = h.actor(&BENCH_ACTOR, ()).resources(pin).spawn()?;
    h.get(&a.ready())?;
    let row = timeit(
        "cross-node actor calls async",
        &mut || {
            let refs: Vec<ObjectRef<u64>> =
                (0..BATCH).map(|_| a.method(&SMALL_VALUE, ())).collect();
            h.get_all(&refs).map(drop)
        },
        BATCH as f64,
        trial,
    )?;
    on_row(&row);
    drop(a);
    let row = timeit(
        "cross-node get 1 GB gigabytes",
        &mut || {
            let r = h
                .task(&one_gigabyte, ())
                .resources(on_target.clone())
                .submit()?;
            let v = h.get_arc(&r)?;
            debug_assert_eq!(v.0.len(), GIGABYTE);
            Ok(())
        },
        GIGABYTE as f64 / 1e9,
        trial,
    )?;
    on_row(&row);
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
    fn bad_trial_lengths_are_errors() {
        for s in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            0.0,
            1e300,
            86_401.0,
        ] {
            assert!(
                matches!(trial_from_secs(s), Err(RuntimeError::InvalidArgument(_))),
                "{s}"
            );
            assert!(run_secs(Isolation::Thread, s).is_err(), "{s}");
        }
        assert_eq!(trial_from_secs(0.5).unwrap(), Duration::from_millis(500));
        assert!(matches!(
            run(Isolation::Thread, Duration::MAX),
            Err(RuntimeError::InvalidArgument(_))
        ));
        assert!(matches!(
            run(Isolation::Thread, Duration::ZERO),
            Err(RuntimeError::InvalidArgument(_))
        ));
    }

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
