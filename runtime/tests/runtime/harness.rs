//! A minimal test runner: filters by substring, a hang guard per test, a summary, an exit code.

use runtime::Isolation;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One named test.
pub struct Test {
    pub name: String,
    pub run: Box<dyn Fn() + Send + Sync>,
}

/// Adds one test body that runs in both worker modes, named `<name>::thread` and `<name>::process`.
pub fn both(tests: &mut Vec<Test>, name: &str, body: fn(Isolation)) {
    tests.push(Test {
        name: format!("{name}::thread"),
        run: Box::new(move || body(Isolation::Thread)),
    });
    tests.push(Test {
        name: format!("{name}::process"),
        run: Box::new(move || body(Isolation::Process)),
    });
}

/// Adds a test that only makes sense in one mode (closures, kill -9).
pub fn one(tests: &mut Vec<Test>, name: &str, body: fn()) {
    tests.push(Test {
        name: name.to_string(),
        run: Box::new(body),
    });
}

/// Hang guard only: a test past this is reported as hung, never timed.
const HANG_GUARD: Duration = Duration::from_secs(120);

pub fn run(tests: Vec<Test>) {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let list = std::env::args().any(|a| a == "--list");
    let selected: Vec<Test> = tests
        .into_iter()
        .filter(|t| args.is_empty() || args.iter().any(|a| t.name.contains(a.as_str())))
        .collect();
    if list {
        for t in &selected {
            println!("{}: test", t.name);
        }
        return;
    }
    println!("running {} tests", selected.len());
    let start = Instant::now();
    let mut failed = Vec::new();
    for t in selected {
        let t0 = Instant::now();
        let (tx, rx) = mpsc::channel();
        let name = t.name.clone();
        std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (t.run)()));
                let _ = tx.send(r.is_ok());
            })
            .expect("spawn test thread");
        let ok = match rx.recv_timeout(HANG_GUARD) {
            Ok(ok) => ok,
            Err(_) => {
                println!("test {name} ... HUNG");
                failed.push(name);
                break;
            }
        };
        println!(
            "test {name} ... {} ({:.2}s)",
            if ok { "ok" } else { "FAILED" },
            t0.elapsed().as_secs_f64()
        );
        if !ok {
            failed.push(name);
        }
    }
    println!("finished in {:.1}s", start.elapsed().as_secs_f64());
    if failed.is_empty() {
        println!("test result: ok");
    } else {
        println!("test result: FAILED ({} failed)", failed.len());
        for f in &failed {
            println!("    {f}");
        }
        // A hung test never ran its guards: stop the daemons it started.
        crate::multinode::kill_leftover_daemons();
        std::process::exit(1);
    }
}
