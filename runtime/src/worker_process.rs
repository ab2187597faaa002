//! The worker process's main loop: run what the driver asks (registered functions, an actor's
//! constructor and methods) and report each result. Code it runs reaches the runtime through
//! `runtime::current()`, whose handle talks to the driver over the same connection.

use crate::client::Client;
use crate::error::panic_message;
use crate::protocol::{ToWorker, ADDRESS_ENV, NONCE_ENV, SOCKET_ENV};
use crate::registry::registry;
use crate::task::CURRENT_TASK;
use crate::value::{Blob, WireValue};
use std::any::Any;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs the worker loop if this process was started as a worker; call first thing in `main`.
///
/// In a normal run it returns at once; in a worker process it never returns.
pub fn worker_main_if_requested() {
    let socket = std::env::var_os(SOCKET_ENV);
    let address = std::env::var(ADDRESS_ENV).ok();
    let nonce = std::env::var(NONCE_ENV).ok();
    if socket.is_none() && address.is_none() {
        return;
    }
    // Gone from the environment, so a runtime started by code in this worker (or a process it
    // spawns) is a driver of its own rather than a worker that forgot to register.
    for var in [SOCKET_ENV, ADDRESS_ENV, NONCE_ENV] {
        std::env::remove_var(var);
    }
    let client = match (socket, address) {
        (Some(path), _) => Client::connect(std::path::Path::new(&path)),
        (None, Some(address)) => match nonce.and_then(|n| n.parse::<u64>().ok()) {
            Some(nonce) => Client::connect_tcp(&address, nonce),
            None => Err(io::Error::other(format!(
                "{NONCE_ENV} missing or not a number"
            ))),
        },
        (None, None) => return,
    };
    let code = match client.and_then(worker_loop) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("runtime worker {}: {e}", std::process::id());
            1
        }
    };
    std::process::exit(code);
}

fn worker_loop(client: std::sync::Arc<Client>) -> io::Result<()> {
    client.install();
    let reg = registry();
    let mut actor: Option<Box<dyn Any + Send>> = None;
    loop {
        let msg = match client.next_call() {
            Ok(m) => m,
            // The driver went away: nothing left to work for.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        let (task, result, task_ends) = match msg {
            ToWorker::Exit => return Ok(()),
            ToWorker::Reply(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a reply arrived with no request waiting",
                ))
            }
            ToWorker::RunTask {
                task,
                function,
                args,
            } => {
                CURRENT_TASK.set(Some(task));
                let result = match reg.functions.get(function.as_str()) {
                    None => Err(format!(
                        "function {function} is not registered in the worker binary"
                    )),
                    Some(f) => guarded(|| f.invoke_bytes(&args).map_err(|e| e.0)),
                };
                CURRENT_TASK.set(None);
                (task, result, true)
            }
            ToWorker::CreateActor { task, class, args } => {
                CURRENT_TASK.set(Some(task));
                let result = match reg.classes.get(class.as_str()) {
                    None => Err(format!(
                        "actor class {class} is not registered in the worker binary"
                    )),
                    Some(c) => guarded(|| c.construct_bytes(&args).map_err(|e| e.0)).map(|s| {
                        actor = Some(s);
                        WireValue::Encoded(Blob::default())
                    }),
                };
                CURRENT_TASK.set(None);
                (task, result, false)
            }
            ToWorker::CallMethod { task, method, args } => {
                CURRENT_TASK.set(Some(task));
                let result = match (reg.methods.get(method.as_str()), actor.as_mut()) {
                    (None, _) => Err(format!(
                        "actor method {method} is not registered in the worker binary"
                    )),
                    (_, None) => Err("no actor in this worker".to_string()),
                    (Some(m), Some(state)) => {
                        guarded(|| m.invoke_bytes(&mut **state, &args).map_err(|e| e.0))
                    }
                };
                CURRENT_TASK.set(None);
                (task, result, false)
            }
        };
        client.done(task, result)?;
        if task_ends {
            client.end_task();
        }
    }
}

fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(panic_message(&*p)),
    }
}
