//! Thread workers: the default mode, tasks run on threads of the driver process.

use crate::error::{panic_message, RuntimeError};
use crate::ids::WorkerId;
use crate::scheduler::{Inner, WorkerMsg, WorkerSlot};
use crate::task::{TaskBody, TaskSpec, CURRENT_TASK};
use crate::timeline::{TaskEvent, WorkerTimeline};
use crossbeam::channel::{unbounded, Receiver};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Starts one more worker thread and offers it to the scheduler.
pub(crate) fn spawn_thread_worker(inner: &Arc<Inner>) {
    let id = WorkerId(inner.next_id());
    let (tx, rx) = unbounded();
    let tl = inner.timeline.worker(id, id.0.to_string());
    let inner2 = inner.clone();
    let h = std::thread::Builder::new()
        .name(format!("rt-worker-{}", id.0))
        .spawn(move || worker_loop(inner2, id, rx, tl));
    match h {
        Ok(h) => {
            inner.register_thread(h);
            inner.with(|s, fx| {
                s.spawning -= 1;
                s.workers.insert(
                    id,
                    WorkerSlot {
                        tx,
                        pid: Some(std::process::id()),
                    },
                );
                s.idle.push(id);
                s.dispatch(fx);
            });
        }
        Err(e) => {
            tracing::error!("cannot spawn a worker thread: {e}");
            inner.with(|s, _| s.spawning -= 1);
        }
    }
}

fn worker_loop(inner: Arc<Inner>, id: WorkerId, rx: Receiver<WorkerMsg>, tl: Arc<WorkerTimeline>) {
    while let Ok(WorkerMsg::Run(spec)) = crate::object_store::recv_spin(&rx) {
        let mut next = Some(spec);
        while let Some(spec) = next.take() {
            if inner.is_shutdown() {
                return;
            }
            next = execute(&inner, id, spec, &tl);
        }
    }
}

/// Runs one task on this thread; returns the next task the scheduler hands straight back.
fn execute(
    inner: &Arc<Inner>,
    worker: WorkerId,
    spec: TaskSpec,
    tl: &WorkerTimeline,
) -> Option<TaskSpec> {
    let t0 = inner.now();
    let TaskSpec {
        id,
        function,
        body,
        args,
        demand,
        return_id,
        dep_tasks,
        ..
    } = spec;
    CURRENT_TASK.set(Some(id));
    // Arguments arrive resolved: getting them takes no measurable time, so no second clock read.
    let t1 = t0;
    let out = catch_unwind(AssertUnwindSafe(move || match body {
        TaskBody::Function(f) => f.invoke(args),
        TaskBody::Closure(c) => c(args),
        TaskBody::ActorCreation(_) => unreachable!("actors are started by actor::start"),
    }));
    let t2 = inner.now();
    CURRENT_TASK.set(None);
    let result = match out {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(RuntimeError::TaskFailed {
            function: function.to_string(),
            task_id: id,
            message: e.0,
        }),
        Err(p) => Err(RuntimeError::TaskFailed {
            function: function.to_string(),
            task_id: id,
            message: panic_message(&*p),
        }),
    };
    // Recorded under the store's lock, before any getter wakes, so a timeline written right
    // after `get` returns already holds this task.
    inner.record_finish_at(id, &result, t2);
    let (next, flush) = inner.with(|s, fx| {
        let next = s.finish(worker, id, return_id, &demand, result, None, fx);
        // `finish` just started this worker's next task after storing this one's value:
        // that start time is this task's end, no second clock read needed.
        let flush = inner.timeline.enabled && {
            let end = if next.is_some() {
                s.last_start
            } else {
                s.now()
            };
            tl.record(TaskEvent {
                task: id,
                function,
                get_args: t0,
                execute: t1,
                store: t2,
                end,
                deps: dep_tasks,
            })
        };
        (next, flush)
    });
    // Staged events move into the ring outside the scheduler's lock.
    if flush {
        tl.flush();
    }
    next
}
