//! A Ray-style task and object runtime: remote functions, object refs, actors, a
//! resource-aware scheduler and a timeline of every task. It knows nothing of RL.
//!
//! # API in one page
//!
//! ```
//! use runtime::{remote_fn, register, ActorClass, ActorMethod, Resources, Runtime, RuntimeConfig};
//!
//! remote_fn! { pub fn add(a: i64, b: i64) -> i64 { a + b } }
//!
//! // A task that submits tasks: `runtime::current()` is its way back to the runtime.
//! remote_fn! {
//!     pub fn sum_to(n: i64) -> i64 {
//!         if n == 0 { return 0; }
//!         let rt = runtime::current().expect("inside a task");
//!         // While it waits, this task's CPU goes back to the pool: no deadlock on 1 CPU.
//!         n + rt.get(&rt.remote(&sum_to, (n - 1,))).unwrap()
//!     }
//! }
//!
//! struct Counter { n: i64 }
//! static COUNTER: ActorClass<Counter, (i64,)> = ActorClass::new("Counter", |(n,)| Counter { n });
//! static INCR: ActorMethod<Counter, (i64,), i64> =
//!     ActorMethod::new("Counter::incr", |c, (by,)| { c.n += by; c.n });
//! register!(COUNTER, INCR);
//!
//! let rt = Runtime::new(RuntimeConfig::default().num_cpus(2.0)).unwrap();
//! // Tasks: submitting returns a ref at once; refs as arguments are dependencies.
//! let x = rt.remote(&add, (1, 2));
//! let y = rt.remote(&add, (&x, 10));            // runs after x, receives its value
//! assert_eq!(rt.get(&y).unwrap(), 13);
//! // Options: resources, retries; impossible requests fail at submission.
//! let z = rt.task(&add, (1, 1)).resources(Resources::cpus(1.0)).max_retries(0).submit().unwrap();
//! assert_eq!(rt.get_all(&[x, z]).unwrap(), vec![3, 2]);
//! // Nested tasks.
//! assert_eq!(rt.get(&rt.remote(&sum_to, (10,))).unwrap(), 55);
//! // put / wait
//! let p = rt.put(vec![1u8, 2, 3]);
//! let (ready, _pending) = rt.wait(&[p.clone()], 1, None);
//! assert_eq!(ready.len(), 1);
//! // Actors: registered methods work in both modes, closures in thread mode.
//! let c = rt.actor(&COUNTER, (5,)).spawn().unwrap();
//! let a = c.method(&INCR, (1,));
//! let b = c.call(|c: &mut Counter| c.n * 10);  // runs after `a`
//! assert_eq!((rt.get(&a).unwrap(), rt.get(&b).unwrap()), (6, 60));
//! // A ref passed straight into an actor call (thread mode):
//! let len = c.call_with(&p, |_c, bytes| bytes.len());
//! assert_eq!(rt.get(&len).unwrap(), 3);
//! ```
//!
//! # Where work runs
//!
//! Thread mode (default) needs only `Send + 'static` actor state (`rt.actor_local(name, ctor)`),
//! and values of closure calls need `Send + Sync + 'static`. Process mode
//! (`RuntimeConfig::isolation(Isolation::Process)`) needs registered functions, classes and
//! methods with serde values, and the binary must call [`worker_main_if_requested`] first in
//! `main`. Code running in a worker process uses the runtime exactly as the driver does
//! (through [`current`]): submit, put, get, wait, create and call actors; its handle sends
//! those calls to the driver, where the scheduler and every object live.
//!
//! # Nested tasks and resources
//!
//! A task or actor method waiting in `get`, `get_all`, `get_timeout`, `get_arc`,
//! `get_all_arc` or `wait` gives its resources back until the value is there, then takes them
//! back (ahead of tasks not yet started) before it goes on; more workers start while workers
//! are blocked. So recursion and fan-out/fan-in work on one CPU, and the scheduler never runs
//! more non-blocked tasks than the resources allow. Actors, as in Ray: 1 CPU to be placed and
//! nothing while alive by default; an explicit `num_cpus`/`resources` is held for life.
//!
//! # Layers (bottom to top)
//!
//! ids, errors, resources, config; values, refs and arguments (`value`, `object_ref`,
//! `args`); registry; task and actor specs; object store, timeline, wire protocol;
//! `scheduler` (the tables, dispatch, blocked workers); `runtime_core` (the lock, the
//! `Executor` trait every place of work implements, get/put/wait/submit); the executors
//! (`thread_executor`,
//! `process_executor` with its per-worker `session`, and `remote_executor`, which makes each
//! node of a cluster a place run by a process executor); the worker-process side (`client`,
//! `worker_process`); the API (`runtime`, `actor`); `microbenchmark`.
//!
//! # Where this differs from Ray
//!
//! - Objects live in the driver's memory; a worker process receives values serialized over
//!   its socket (no shared-memory store), and a driver `put` moves an `Arc`, never bytes.
//! - Refs are counted where they are held (driver, or the driver on behalf of a worker
//!   process); there is no ownership protocol: refs a task stashed past its end are released
//!   when it ends. Actor handles passed into worker processes (on any node) call the actor through the driver.
//! - A blocked worker that resumes waits for its resources behind earlier resumers but ahead
//!   of every task not yet started (Ray lets it oversubscribe briefly instead).
//! - Requests from one worker process are served one at a time, in order.

#![warn(missing_docs)]

mod actor;
mod actor_exec;
mod actor_spec;
mod args;
mod blob;
mod client;
mod config;
mod error;
mod ids;
pub mod microbenchmark;
mod object_ref;
mod object_store;
mod process_executor;
mod protocol;
mod registry;
mod remote_executor;
mod resources;
mod runtime;
mod runtime_core;
mod scheduler;
mod session;
mod task;
mod thread_executor;
mod timeline;
mod value;
mod worker_process;

pub use actor::{ActorBuilder, ActorHandle, RefArgs};
pub use actor_spec::{ActorRecord, ActorStatus};
pub use args::{ArgTuple, IntoArg, IntoArgs};
pub use config::{Isolation, RuntimeConfig};
pub use error::{RuntimeError, TaskError};
pub use ids::{ActorId, NodeId, ObjectId, TaskId, WorkerId};
pub use microbenchmark::{run as run_microbenchmark, run_secs as run_microbenchmark_secs};
pub use object_ref::ObjectRef;
pub use object_store::{ObjectInfo, ObjectStatus};
pub use registry::{ActorClass, ActorMethod, Registration, RemoteFn};
pub use resources::Resources;
pub use runtime::{current, Runtime, RuntimeHandle, TaskBuilder};
pub use scheduler::NodeInfo;
pub use task::{ArgInfo, TaskFilter, TaskInfo, TaskState};
pub use timeline::TaskPhases;
pub use value::{Blob, Data};
pub use worker_process::worker_main_if_requested;

#[doc(hidden)]
pub use inventory;
