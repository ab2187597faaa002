//! Typed failures: every way a task, actor or object can fail is a value the caller can match on.

use crate::ids::{ActorId, ObjectId, TaskId};
use crate::resources::Resources;
use std::time::Duration;

/// Everything `get`, `wait` and submission can report instead of a value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The task's own code panicked or returned an error.
    #[error("task {task_id} ({function}) failed: {message}")]
    TaskFailed {
        /// Registered name of the function or actor method.
        function: String,
        /// The failing task.
        task_id: TaskId,
        /// The panic message or the error's `Display`.
        message: String,
    },
    /// An argument of this task failed, so the task never ran.
    #[error("task {task_id} ({function}) not run: upstream failed: {cause}")]
    UpstreamFailed {
        /// The function that did not run.
        function: String,
        /// The task that did not run.
        task_id: TaskId,
        /// The failure of the argument it depended on.
        cause: Box<RuntimeError>,
    },
    /// The worker process running the task died more often than `max_retries` allowed.
    #[error("task {task_id} ({function}) lost: worker died {attempts} time(s), retries exhausted")]
    WorkerDied {
        /// The function that was running.
        function: String,
        /// The lost task.
        task_id: TaskId,
        /// How many times the task was started.
        attempts: u32,
    },
    /// The actor is dead (its process died past `max_restarts`, or it was killed or failed to start).
    #[error("actor {actor_id} ({class}) died: {message}")]
    ActorDied {
        /// Actor class name.
        class: String,
        /// The dead actor.
        actor_id: ActorId,
        /// Why it died.
        message: String,
    },
    /// Joining or talking to a cluster failed (the head cannot be reached, authentication
    /// failed, another protocol version).
    #[error("cluster at {address}: {message}")]
    Cluster {
        /// The head's address.
        address: String,
        /// What went wrong, on one line.
        message: String,
    },
    /// The object is gone (freed, or the runtime shut down before it was made).
    #[error("object {0} lost: {1}")]
    ObjectLost(ObjectId, String),
    /// A task or actor asked for more than the node has: it could never run.
    #[error("impossible resource request: requested {requested}, node has {total}")]
    Impossible {
        /// What was asked for.
        requested: Resources,
        /// What the whole node has.
        total: Resources,
    },
    /// `get` or `wait` gave up after its timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The value exists but is not the type the `ObjectRef` promised (a bug in the caller's casts).
    #[error("object {0} has a different type than requested ({1})")]
    TypeMismatch(ObjectId, &'static str),
    /// Something the chosen worker mode cannot do (e.g. a closure call in process mode).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Serializing or deserializing a value for a worker process failed.
    #[error("serialization failed: {0}")]
    Serialization(String),
    /// An argument outside what the call accepts (e.g. a benchmark duration of NaN).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A worker process and the driver disagreed on the wire (a malformed or unexpected frame).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The runtime was shut down (or, inside a worker process, the driver went away).
    #[error("runtime shut down")]
    Shutdown,
}

impl RuntimeError {
    /// The first cause, following `UpstreamFailed` to the task that actually failed.
    pub fn root_cause(&self) -> &RuntimeError {
        match self {
            RuntimeError::UpstreamFailed { cause, .. } => cause.root_cause(),
            other => other,
        }
    }
}

/// An error returned by a task body; anything `Display` converts into it with `?`.
///
/// It deliberately does not implement `Display` itself so that the blanket `From` below is coherent.
#[derive(Debug, Clone)]
pub struct TaskError(pub String);

impl<E: std::fmt::Display> From<E> for TaskError {
    fn from(e: E) -> Self {
        TaskError(e.to_string())
    }
}

impl TaskError {
    /// An error with this message.
    pub fn msg(m: impl Into<String>) -> Self {
        TaskError(m.into())
    }
}

/// Turns a panic payload into the message users wrote in `panic!`.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}
