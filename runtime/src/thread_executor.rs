//! The default executor: tasks and actors run on threads of the driver process, values move as
//! `Arc`s, closures are allowed.

use crate::actor_exec::{drain_dead, resolve_call_args, set_actor_status, Completed};
use crate::actor_spec::{ActorCtor, ActorMsg, ActorStart, ActorStatus, CallBody};
use crate::error::{panic_message, RuntimeError};
use crate::ids::WorkerId;
use crate::object_store::recv_spin;
use crate::resources::Demand;
use crate::runtime_core::{enter_task, leave_task, set_thread_core, Core, Executor};
use crate::scheduler::WorkerMsg;
use crate::task::{TaskBody, TaskSpec, CURRENT_TASK};
use crate::timeline::{TaskEvent, WorkerTimeline};
use crate::value::Value;
use crossbeam::channel::{unbounded, Receiver};
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Runs work on threads of the driver process.
pub(crate) struct ThreadExecutor;

impl Executor for ThreadExecutor {
    fn name(&self) -> &'static str {
        "driver threads"
    }
    fn runs_closures(&self) -> bool {
        true
    }
    fn max_workers(&self) -> usize {
        // Resources bound how many tasks run; a thread per running (or blocked) task.
        usize::MAX
    }
    fn spawn_worker(&self, core: &Arc<Core>, place: usize) {
        spawn_thread_worker(core, place)
    }
    fn start_actor(&self, core: &Arc<Core>, spec: TaskSpec) {
        let core2 = core.clone();
        let h = std::thread::Builder::new()
            .name("rt-actor".into())
            .spawn(move || thread_actor_main(core2, spec));
        match h {
            Ok(h) => core.register_thread(h),
            Err(e) => tracing::error!("cannot spawn an actor thread: {e}"),
        }
    }
    fn shutdown(&self, _core: &Arc<Core>) {}
}

/// Starts one more worker thread and offers it to the scheduler.
fn spawn_thread_worker(core: &Arc<Core>, place: usize) {
    let id = core.worker_id();
    let (tx, rx) = unbounded();
    let tl = core.timeline.worker(id, id.counter().to_string());
    let core2 = core.clone();
    let h = std::thread::Builder::new()
        .name(format!("rt-worker-{}", id.counter()))
        .spawn(move || worker_loop(core2, id, rx, tl));
    match h {
        Ok(h) => {
            core.register_thread(h);
            core.with(|s, fx| s.worker_started(place, id, tx, Some(std::process::id()), fx));
        }
        Err(e) => {
            tracing::error!("cannot spawn a worker thread: {e}");
            core.with(|s, _| s.spawn_aborted(place));
        }
    }
}

fn worker_loop(core: Arc<Core>, id: WorkerId, rx: Receiver<WorkerMsg>, tl: Arc<WorkerTimeline>) {
    set_thread_core(&core);
    while let Ok(WorkerMsg::Run(spec)) = recv_spin(&rx) {
        let mut next = Some(spec);
        while let Some(spec) = next.take() {
            if core.is_shutdown() {
                return;
            }
            next = execute(&core, id, spec, &tl);
        }
    }
}

/// Runs one task on this thread; returns the next task the scheduler hands straight back.
fn execute(
    core: &Arc<Core>,
    worker: WorkerId,
    spec: TaskSpec,
    tl: &WorkerTimeline,
) -> Option<TaskSpec> {
    let t0 = core.now();
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
    // What the task holds, given back if it blocks in `get`/`wait`.
    enter_task(core, demand);
    // Arguments arrive resolved: getting them takes no measurable time, so no second clock read.
    let t1 = t0;
    let out = catch_unwind(AssertUnwindSafe(move || match body {
        TaskBody::Function(f) => f.invoke(args),
        TaskBody::Closure(c) => c(args),
        TaskBody::ActorCreation(_) => Err(crate::error::TaskError::msg(
            "an actor creation reached a task worker",
        )),
    }));
    let t2 = core.now();
    let demand = leave_task();
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
    core.record_finish_at(id, &result, t2);
    let (next, flush) = core.with(|s, fx| {
        let next = s.finish(worker, return_id, &demand, result, None, fx);
        // `finish` just started this worker's next task after storing this one's value:
        // that start time is this task's end, no second clock read needed.
        let flush = core.timeline.enabled && {
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

fn thread_actor_main(core: Arc<Core>, spec: TaskSpec) {
    set_thread_core(&core);
    let TaskSpec {
        id: tid,
        body,
        args,
        demand: placement,
        return_id,
        ..
    } = spec;
    let TaskBody::ActorCreation(start) = body else {
        tracing::error!("a task that is not an actor creation reached the actor starter");
        return;
    };
    let ActorStart {
        actor_id,
        class,
        ctor,
        mailbox,
        dead,
        mut held,
        ..
    } = *start;
    let worker = core.worker_id();
    let pid = Some(std::process::id());
    let tl = core
        .timeline
        .worker(worker, format!("{} ({class} {actor_id})", worker.counter()));
    let died = |m: String| RuntimeError::ActorDied {
        class: class.to_string(),
        actor_id,
        message: m,
    };
    let t0 = core.now();
    let mut state: Result<Box<dyn Any + Send>, RuntimeError> = match dead {
        Some(reason) => Err(died(reason)),
        None => {
            CURRENT_TASK.set(Some(tid));
            // The constructor holds what placing the actor took.
            enter_task(&core, placement.clone());
            let out = catch_unwind(AssertUnwindSafe(move || match ctor {
                ActorCtor::Class(c) => c.construct(args),
                ActorCtor::Closure(f) => Ok(f()),
            }));
            leave_task();
            CURRENT_TASK.set(None);
            let r = match out {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => Err(died(format!("constructor failed: {}", e.0))),
                Err(p) => Err(died(format!(
                    "constructor panicked: {}",
                    panic_message(&*p)
                ))),
            };
            // An actor whose constructor failed holds nothing from here on.
            if r.is_err() {
                held = Demand::none();
            }
            core.with(|s, fx| s.actor_constructed(&placement, &held, fx));
            // The actor table is updated before `ready()` resolves, so callers see it.
            set_actor_status(
                &core,
                actor_id,
                match &r {
                    Ok(_) => ActorStatus::Alive,
                    Err(e) => ActorStatus::Dead(e.to_string()),
                },
                Some(worker),
                pid,
            );
            let stored = r
                .as_ref()
                .map(|_| Arc::new(()) as Value)
                .map_err(|e| e.clone());
            core.complete_actor_call(tid, return_id, Some(worker), pid, t0, stored, None);
            r
        }
    };
    if let Err(e) = &state {
        set_actor_status(
            &core,
            actor_id,
            ActorStatus::Dead(e.to_string()),
            Some(worker),
            pid,
        );
    }
    // Every call holds what the actor holds; a call blocked in `get` gives it back meanwhile.
    enter_task(&core, held.clone());
    // Results of calls run while more calls were queued are stored together, one lock for many;
    // a lone call (the request/response case) is stored at once.
    let mut done: Vec<Completed> = Vec::new();
    loop {
        let msg = if done.is_empty() {
            recv_spin(&mailbox).ok()
        } else {
            match mailbox.try_recv() {
                Ok(m) => Some(m),
                Err(crossbeam::channel::TryRecvError::Empty) => {
                    core.complete_actor_calls(&mut done, worker, pid, &tl);
                    continue;
                }
                Err(crossbeam::channel::TryRecvError::Disconnected) => None,
            }
        };
        let Some(ActorMsg::Call(mut call)) = msg else {
            break;
        };
        let has_refs = call.args.iter().any(|a| a.is_ref());
        if !done.is_empty() && has_refs {
            // The ref may name a result still in `done`.
            core.complete_actor_calls(&mut done, worker, pid, &tl);
        }
        let t0 = core.now();
        let mut t1 = t0;
        let result = match &mut state {
            Err(e) => Err(e.clone()),
            Ok(s) => match resolve_call_args(&core, &mut call) {
                Err(e) => Err(e),
                Ok(()) => {
                    // Without refs there was nothing to wait for: skip a clock read.
                    if has_refs {
                        t1 = core.now();
                    }
                    CURRENT_TASK.set(Some(call.task_id));
                    let args = std::mem::take(&mut call.args);
                    let body = call.body;
                    let st: &mut (dyn Any + Send) = &mut **s;
                    let out = catch_unwind(AssertUnwindSafe(move || match body {
                        CallBody::Closure(f) => f(st, args),
                        CallBody::Method(m) => m.invoke(st, args),
                    }));
                    CURRENT_TASK.set(None);
                    match out {
                        Ok(Ok(v)) => Ok(v),
                        Ok(Err(e)) => Err(RuntimeError::TaskFailed {
                            function: call.method.to_string(),
                            task_id: call.task_id,
                            message: e.0,
                        }),
                        Err(p) => Err(RuntimeError::TaskFailed {
                            function: call.method.to_string(),
                            task_id: call.task_id,
                            message: panic_message(&*p),
                        }),
                    }
                }
            },
        };
        let t2 = core.now();
        done.push(Completed {
            oid: call.return_id,
            result,
            event: TaskEvent {
                task: call.task_id,
                function: call.method,
                get_args: t0,
                execute: t1,
                store: t2,
                end: 0,
                deps: Vec::new(),
            },
        });
        if done.len() >= 64 {
            core.complete_actor_calls(&mut done, worker, pid, &tl);
        }
    }
    let held = leave_task();
    core.complete_actor_calls(&mut done, worker, pid, &tl);
    drain_dead(&core, &mailbox, &died("actor stopped".into()));
    drop(state);
    core.with(|s, fx| s.actor_stopped(actor_id, &held, fx));
}
