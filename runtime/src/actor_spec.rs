//! What the scheduler and the executors know of an actor: how to start it, its mailbox of
//! calls, and its row in the actor table. The API handle is in `actor.rs`, the loops that run
//! actors in the executors.

use crate::args::ArgSlot;
use crate::error::TaskError;
use crate::ids::{ActorId, ObjectId, TaskId, WorkerId};
use crate::registry::{ErasedClass, ErasedMethod};
use crate::resources::Demand;
use crate::value::Value;
use crossbeam::channel::{Receiver, Sender};
use serde::Serialize;
use std::any::Any;

/// A closure run on the actor's state (thread mode).
pub(crate) type ClosureCall =
    Box<dyn FnOnce(&mut (dyn Any + Send), Vec<ArgSlot>) -> Result<Value, TaskError> + Send>;

/// What an actor call runs.
pub(crate) enum CallBody {
    Closure(ClosureCall),
    Method(&'static dyn ErasedMethod),
}

/// One method call in an actor's mailbox.
pub(crate) struct ActorCall {
    pub task_id: TaskId,
    pub return_id: ObjectId,
    pub method: &'static str,
    pub args: Vec<ArgSlot>,
    pub body: CallBody,
}

/// A message to an actor's loop.
pub(crate) enum ActorMsg {
    Call(ActorCall),
    Stop,
}

/// How to build the actor's state.
pub(crate) enum ActorCtor {
    Class(&'static dyn ErasedClass),
    Closure(Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>),
}

/// Everything needed to start an actor once the scheduler grants its placement resources.
pub(crate) struct ActorStart {
    pub actor_id: ActorId,
    pub class: &'static str,
    pub ctor: ActorCtor,
    pub mailbox: Receiver<ActorMsg>,
    pub max_restarts: u32,
    /// What it holds while alive, once constructed (the creation task's demand is what it
    /// needs to be placed; Ray's default actor needs 1 CPU to be placed and holds 0).
    pub held: Demand,
    /// Set when the actor can never start (e.g. a constructor argument failed).
    pub dead: Option<String>,
    /// Restarts used so far (an actor moved off a dead node keeps counting).
    pub restarts: u32,
}

/// The sending side of an actor's mailbox; the actor stops when the last one drops.
pub(crate) struct ActorMailbox {
    pub id: ActorId,
    pub class: &'static str,
    tx: Sender<ActorMsg>,
    /// Calls submitted so far (Ray's actor call counter, shown in the task table).
    calls: std::sync::atomic::AtomicU64,
}

impl ActorMailbox {
    pub fn new(id: ActorId, class: &'static str, tx: Sender<ActorMsg>) -> Self {
        ActorMailbox {
            id,
            class,
            tx,
            calls: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The next call's number (0 for the first call).
    pub fn next_call(&self) -> u64 {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Queues a call; false if the actor's loop is gone.
    pub fn send(&self, call: ActorCall) -> bool {
        self.tx.send(ActorMsg::Call(call)).is_ok()
    }

    /// Stops the actor after the calls already queued.
    pub fn stop(&self) {
        let _ = self.tx.send(ActorMsg::Stop);
    }
}

/// Where an actor is in its life.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ActorStatus {
    /// Waiting for resources or constructor arguments.
    Pending,
    /// Running.
    Alive,
    /// Restarting after its worker process died.
    Restarting,
    /// Dead, with the reason.
    Dead(String),
}

/// The actor table row.
#[derive(Clone, Debug, Serialize)]
pub struct ActorRecord {
    /// Class name.
    pub class: &'static str,
    /// Status.
    pub status: ActorStatus,
    /// Its worker.
    pub worker: Option<WorkerId>,
    /// Its worker's OS pid.
    pub pid: Option<u32>,
    /// How many times it was restarted.
    pub restarts: u32,
}
