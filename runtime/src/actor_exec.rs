//! What every executor does around an actor: resolve a call's ref arguments, keep the actor
//! table current, store finished calls (in batches), fail what is left when it dies.

use crate::actor_spec::{ActorCall, ActorMsg, ActorStatus};
use crate::args::ArgSlot;
use crate::error::RuntimeError;
use crate::ids::{ActorId, ObjectId, TaskId, WorkerId};
use crate::runtime_core::Core;
use crate::timeline::{TaskEvent, WorkerTimeline};
use crate::value::Value;
use crossbeam::channel::Receiver;
use std::sync::Arc;

/// A finished actor call waiting to be stored.
pub(crate) struct Completed {
    pub oid: ObjectId,
    pub result: Result<Value, RuntimeError>,
    pub event: TaskEvent,
}

/// Resolves an actor call's ref arguments, waiting for them (calls stay in order).
pub(crate) fn resolve_call_args(
    core: &Arc<Core>,
    call: &mut ActorCall,
) -> Result<(), RuntimeError> {
    for slot in call.args.iter_mut() {
        if let ArgSlot::Ref(r) = slot {
            match core.get_value(r.id(), None) {
                Ok(v) => *slot = ArgSlot::Ready(v),
                Err(cause) => {
                    return Err(RuntimeError::UpstreamFailed {
                        function: call.method.to_string(),
                        task_id: call.task_id,
                        cause: Box::new(cause),
                    })
                }
            }
        }
    }
    Ok(())
}

/// Updates an actor's row (a dead actor stays dead).
pub(crate) fn set_actor_status(
    core: &Arc<Core>,
    id: ActorId,
    status: ActorStatus,
    worker: Option<WorkerId>,
    pid: Option<u32>,
) {
    core.with(|s, _| {
        if let Some(a) = s.actors.get_mut(&id) {
            if !matches!(a.status, ActorStatus::Dead(_)) {
                a.status = status;
            }
            if worker.is_some() {
                a.worker = worker;
                a.pid = pid;
            }
        }
    });
}

/// Fails every call still in the mailbox (the actor is gone).
pub(crate) fn drain_dead(core: &Arc<Core>, mailbox: &Receiver<ActorMsg>, err: &RuntimeError) {
    while let Ok(msg) = mailbox.try_recv() {
        if let ActorMsg::Call(c) = msg {
            let e = err.clone();
            core.complete_actor_call(c.task_id, c.return_id, None, None, 0, Err(e), None);
        }
    }
}

impl Core {
    /// Completes an actor call (or constructor): task table, then the value, then the timeline.
    #[allow(clippy::too_many_arguments)]
    pub fn complete_actor_call(
        self: &Arc<Self>,
        tid: TaskId,
        oid: ObjectId,
        worker: Option<WorkerId>,
        pid: Option<u32>,
        start: u64,
        result: Result<Value, RuntimeError>,
        event: Option<(&WorkerTimeline, TaskEvent)>,
    ) {
        // A call that never reached a worker (its actor died first) has no start.
        let start = worker.map(|_| start);
        self.record_finish(tid, start, &result, worker.map(|w| (w, pid)));
        let flush = self.with(|s, fx| {
            s.store_and_dispatch(oid, result, fx);
            match event {
                Some((tl, mut e)) if self.timeline.enabled => {
                    e.end = s.now();
                    tl.record(e).then_some(tl)
                }
                _ => None,
            }
        });
        if let Some(tl) = flush {
            tl.flush();
        }
    }

    /// Stores a batch of finished actor calls under one lock (task table first, as above).
    pub fn complete_actor_calls(
        self: &Arc<Self>,
        done: &mut Vec<Completed>,
        worker: WorkerId,
        pid: Option<u32>,
        tl: &WorkerTimeline,
    ) {
        if done.is_empty() {
            return;
        }
        // One clock read and one lock of each table for the whole batch.
        let now = self.now();
        // Each shard the batch touches is locked once.
        let mut shards = 0u32;
        for c in done.iter() {
            shards |= 1 << self.tasks.shard_of(c.event.task);
        }
        while shards != 0 {
            let k = shards.trailing_zeros() as usize;
            shards &= shards - 1;
            let mut t = self.tasks.shards()[k].lock();
            for c in done
                .iter()
                .filter(|c| self.tasks.shard_of(c.event.task) == k)
            {
                t.finish_at(
                    c.event.task,
                    Some(c.event.get_args),
                    c.result.as_ref().map(|_| ()),
                    Some((worker, pid)),
                    now,
                );
            }
        }
        let flush = self.with(|s, fx| {
            for c in done.iter_mut() {
                let result = std::mem::replace(&mut c.result, Err(RuntimeError::Shutdown));
                s.store(c.oid, result, fx);
            }
            let flush = if self.timeline.enabled {
                tl.record_all(done.drain(..).map(|c| c.event), s.now())
            } else {
                done.clear();
                false
            };
            if !s.ready.is_empty() {
                s.dispatch(fx);
            }
            flush
        });
        if flush {
            tl.flush();
        }
    }
}
