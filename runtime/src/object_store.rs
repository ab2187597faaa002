//! The object store: values by id, their waiters and dependents, and what introspection shows.

use crate::error::RuntimeError;
use crate::ids::{ObjectId, TaskId, WorkerId};
use crate::value::{Codec, Value};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::Instant;

/// A parked thread waiting for objects; notified outside the store's lock.
pub(crate) struct Waiter {
    thread: Thread,
    flag: AtomicBool,
    /// The outcome handed over by the storer, so the getter need not take the store's lock again.
    value: parking_lot::Mutex<Option<Result<Value, RuntimeError>>>,
}

impl Waiter {
    pub fn new() -> Arc<Self> {
        Arc::new(Waiter {
            thread: std::thread::current(),
            flag: AtomicBool::new(false),
            value: parking_lot::Mutex::new(None),
        })
    }
    pub fn offer(&self, r: &Result<Value, RuntimeError>) {
        *self.value.lock() = Some(r.clone());
    }
    pub fn take(&self) -> Option<Result<Value, RuntimeError>> {
        self.value.lock().take()
    }
    pub fn notify(&self) {
        self.flag.store(true, Ordering::Release);
        self.thread.unpark();
    }
    /// Waits for a notification; false if the deadline passed first.
    pub fn wait(&self, deadline: Option<Instant>) -> bool {
        // Most waits in a request/response loop end within microseconds: spinning briefly
        // avoids a futex sleep and wake-up, which costs more than the whole task.
        if spin_until(SPIN, || self.flag.load(Ordering::Acquire)) {
            self.flag.store(false, Ordering::Relaxed);
            return true;
        }
        loop {
            if self.flag.swap(false, Ordering::Acquire) {
                return true;
            }
            match deadline {
                None => std::thread::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return self.flag.swap(false, Ordering::Acquire);
                    }
                    std::thread::park_timeout(d - now);
                }
            }
        }
    }
}

/// How long a waiter spins before parking.
pub(crate) const SPIN: std::time::Duration = std::time::Duration::from_micros(30);

/// Spins until `done` or `limit` passes; true if `done`. The first microsecond or so is a pure
/// spin (a reply from a thread running on another core arrives that fast); after that it yields
/// between checks, so when threads outnumber cores the one being waited for can run.
pub(crate) fn spin_until(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..256 {
        if done() {
            return true;
        }
        std::hint::spin_loop();
    }
    let start = Instant::now();
    loop {
        for _ in 0..16 {
            if done() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::yield_now();
    }
}

/// Receives from a channel, spinning briefly before blocking (see `Waiter::wait`).
pub(crate) fn recv_spin<T>(
    rx: &crossbeam::channel::Receiver<T>,
) -> Result<T, crossbeam::channel::RecvError> {
    match try_spin(rx) {
        Spun::Got(v) => Ok(v),
        Spun::Disconnected => Err(crossbeam::channel::RecvError),
        Spun::Empty => rx.recv(),
    }
}

/// `recv_spin`, giving up after `timeout`.
pub(crate) fn recv_spin_timeout<T>(
    rx: &crossbeam::channel::Receiver<T>,
    timeout: std::time::Duration,
) -> Result<T, crossbeam::channel::RecvTimeoutError> {
    match try_spin(rx) {
        Spun::Got(v) => Ok(v),
        Spun::Disconnected => Err(crossbeam::channel::RecvTimeoutError::Disconnected),
        Spun::Empty => rx.recv_timeout(timeout),
    }
}

/// What spinning on a channel found.
enum Spun<T> {
    Got(T),
    Disconnected,
    Empty,
}

/// Spins briefly on `rx` before the caller blocks.
fn try_spin<T>(rx: &crossbeam::channel::Receiver<T>) -> Spun<T> {
    let mut got = None;
    let disconnected = spin_until(SPIN * 2, || match rx.try_recv() {
        Ok(v) => {
            got = Some(v);
            true
        }
        Err(crossbeam::channel::TryRecvError::Empty) => false,
        Err(crossbeam::channel::TryRecvError::Disconnected) => true,
    });
    match got {
        Some(v) => Spun::Got(v),
        None if disconnected => Spun::Disconnected,
        None => Spun::Empty,
    }
}

/// Whether an object has a value yet.
pub(crate) enum ObjState {
    Pending,
    Ready(Value),
    Failed(Box<RuntimeError>),
}

/// One object in the store.
pub(crate) struct ObjectEntry {
    pub state: ObjState,
    pub waiters: Vec<Arc<Waiter>>,
    pub dependents: Vec<TaskId>,
    pub producer: Option<TaskId>,
    pub is_put: bool,
    /// Live `ObjectRef` tokens (every entry starts with the one its creator gets).
    pub refs: u32,
    /// The last ref dropped while the value was pending: discard it on arrival.
    pub released: bool,
    /// How to serialize the value for a worker process (`None` for closure results).
    pub codec: Option<&'static dyn Codec>,
    /// Its size when known without serializing (byte buffers).
    pub size: Option<usize>,
    /// The worker process it came from, if any (it is stored in the driver either way).
    pub from_worker: Option<WorkerId>,
}

impl ObjectEntry {
    /// The entry of a task's return value, with one ref (the submitter's).
    pub fn pending(producer: Option<TaskId>, codec: Option<&'static dyn Codec>) -> Self {
        ObjectEntry {
            state: ObjState::Pending,
            waiters: Vec::new(),
            dependents: Vec::new(),
            producer,
            is_put: false,
            refs: 1,
            released: false,
            codec,
            size: None,
            from_worker: None,
        }
    }

    /// Its size for the object table.
    pub fn size(&self) -> Option<usize> {
        match (&self.size, &self.state, self.codec) {
            (Some(n), _, _) => Some(*n),
            (None, ObjState::Ready(v), Some(c)) => c.size(v),
            _ => None,
        }
    }
}

/// Where an object's state stands, for `object_info`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ObjectStatus {
    /// Its task has not finished.
    Pending,
    /// The value is stored.
    Ready,
    /// Its task failed; `get` returns the error.
    Failed(String),
}

/// One row of the object table (the seed's `object_search_bar`).
#[derive(Clone, Debug, Serialize)]
pub struct ObjectInfo {
    /// The object.
    pub object_id: ObjectId,
    /// Serialized size in bytes, when known (serde values, byte buffers; not closure results).
    pub size: Option<usize>,
    /// The task that produces it; `None` for `put`.
    pub task: Option<TaskId>,
    /// Where it lives (today: the driver's in-memory store, in every mode).
    pub location: String,
    /// Whether it was created by `put`.
    pub is_put: bool,
    /// Pending, ready or failed.
    pub status: ObjectStatus,
    /// Live `ObjectRef`s to it (the driver's, and those it counts for worker processes).
    pub refs: u32,
    /// The worker process that returned it, if any.
    pub from_worker: Option<WorkerId>,
    /// Tasks waiting for it as an argument.
    pub waiting_tasks: Vec<TaskId>,
}
