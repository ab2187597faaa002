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
//! Thread mode (default) needs only `Send + 'static` actor state (`rt.actor_local(name, ctor)`),
//! and values of closure calls need `Send + Sync + 'static`. Process mode
//! (`RuntimeConfig::isolation(Isolation::Process)`) needs registered functions, classes and
//! methods with serde values, and the binary must call [`worker_main_if_requested`] first in
//! `main`.

pub mod actor;
pub mod error;
pub mod ids;
pub mod microbenchmark;
pub mod object_ref;
pub mod object_store;
pub mod process_worker;
mod protocol;
pub mod registry;
pub mod resources;
pub mod runtime;
mod scheduler;
pub mod task;
pub(crate) mod timeline;
pub mod value;
mod worker;

pub use actor::{ActorBuilder, ActorHandle, ActorRecord, ActorStatus, RefArgs};
pub use error::{RuntimeError, TaskError};
pub use ids::{ActorId, NodeId, ObjectId, TaskId, WorkerId};
pub use object_ref::ObjectRef;
pub use object_store::{ObjectInfo, ObjectStatus};
pub use process_worker::worker_main_if_requested;
pub use registry::{ActorClass, ActorMethod, Registration, RemoteFn};
pub use resources::Resources;
pub use runtime::{Isolation, Runtime, RuntimeConfig, RuntimeHandle, TaskBuilder};
pub use task::{ArgInfo, TaskFilter, TaskInfo, TaskState};
pub use value::{ArgTuple, Data, IntoArg, IntoArgs};

#[doc(hidden)]
pub use inventory;
