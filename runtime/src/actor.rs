//! Actors: a stateful object on its own worker; calls run one at a time in submission order.
//!
//! In thread mode the state lives on a dedicated thread and only needs `Send + 'static`
//! (a libtorch model is fine); closures may be sent to it. In process mode the state lives in
//! a worker process and only registered methods (`ActorMethod`) can be called.

use crate::error::{panic_message, RuntimeError, TaskError};
use crate::ids::{ActorId, ObjectId, TaskId, WorkerId};
use crate::object_ref::{erased_id, ObjectRef};
use crate::registry::{ActorClass, ActorMethod, ErasedClass, ErasedMethod};
use crate::resources::Resources;
use crate::runtime::{Isolation, RuntimeHandle};
use crate::scheduler::Inner;
use crate::task::{arg_infos, TaskBody, TaskRecord, TaskSpec, TaskState, CURRENT_TASK};
use crate::timeline::TaskEvent;
use crate::value::{ArgSlot, ArgTuple, Data, IntoArgs, Value};
use crossbeam::channel::{unbounded, Receiver, Sender};
use serde::Serialize;
use std::any::Any;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

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

pub(crate) enum ActorMsg {
    Call(ActorCall),
    Stop,
}

/// How to build the actor's state.
pub(crate) enum ActorCtor {
    Class(&'static dyn ErasedClass),
    Closure(Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>),
}

/// Everything needed to start an actor once the scheduler grants its resources.
pub(crate) struct ActorStart {
    pub actor_id: ActorId,
    pub class: &'static str,
    pub ctor: ActorCtor,
    pub mailbox: Receiver<ActorMsg>,
    pub max_restarts: u32,
    /// Set when the actor can never start (e.g. a constructor argument failed).
    pub dead: Option<String>,
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

/// The part of a handle shared by all its clones; the actor stops when the last one drops.
pub(crate) struct ActorShared {
    pub id: ActorId,
    pub class: &'static str,
    tx: Sender<ActorMsg>,
    pub rt: RuntimeHandle,
    created: ObjectRef<()>,
}

impl ActorShared {
    pub fn stop(&self) {
        let _ = self.tx.send(ActorMsg::Stop);
    }
}

/// A handle to an actor of state type `A`; clone it freely, pass it into tasks (thread mode).
pub struct ActorHandle<A> {
    shared: Arc<ActorShared>,
    _state: PhantomData<fn() -> A>,
}

impl<A> Clone for ActorHandle<A> {
    fn clone(&self) -> Self {
        ActorHandle {
            shared: self.shared.clone(),
            _state: PhantomData,
        }
    }
}

impl<A> std::fmt::Debug for ActorHandle<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ActorHandle({} {})", self.shared.class, self.shared.id)
    }
}

/// Refs a closure call waits for; the closure receives their values as `Arc`s.
pub trait RefArgs {
    /// The resolved values handed to the closure.
    type Values;
    /// The refs as argument slots.
    fn into_slots(self) -> Vec<ArgSlot>;
    /// Resolved slots back to typed values.
    fn values(v: Vec<ArgSlot>) -> Result<Self::Values, String>;
}

fn arc_of<T: Send + Sync + 'static>(s: ArgSlot) -> Result<Arc<T>, String> {
    match s {
        ArgSlot::Ready(v) => v
            .downcast::<T>()
            .map_err(|_| format!("argument is not a {}", std::any::type_name::<T>())),
        _ => Err("argument was not resolved".into()),
    }
}

impl<T: Send + Sync + 'static> RefArgs for &ObjectRef<T> {
    type Values = Arc<T>;
    fn into_slots(self) -> Vec<ArgSlot> {
        vec![ArgSlot::Ref(self.clone().erase())]
    }
    fn values(v: Vec<ArgSlot>) -> Result<Arc<T>, String> {
        arc_of(v.into_iter().next().ok_or("missing argument")?)
    }
}

impl<T: Send + Sync + 'static> RefArgs for ObjectRef<T> {
    type Values = Arc<T>;
    fn into_slots(self) -> Vec<ArgSlot> {
        vec![ArgSlot::Ref(self.erase())]
    }
    fn values(v: Vec<ArgSlot>) -> Result<Arc<T>, String> {
        arc_of(v.into_iter().next().ok_or("missing argument")?)
    }
}

impl<T: Send + Sync + 'static, U: Send + Sync + 'static> RefArgs
    for (&ObjectRef<T>, &ObjectRef<U>)
{
    type Values = (Arc<T>, Arc<U>);
    fn into_slots(self) -> Vec<ArgSlot> {
        vec![
            ArgSlot::Ref(self.0.clone().erase()),
            ArgSlot::Ref(self.1.clone().erase()),
        ]
    }
    fn values(v: Vec<ArgSlot>) -> Result<Self::Values, String> {
        let mut it = v.into_iter();
        Ok((
            arc_of(it.next().ok_or("missing argument")?)?,
            arc_of(it.next().ok_or("missing argument")?)?,
        ))
    }
}

impl<T: Send + Sync + 'static> RefArgs for &[ObjectRef<T>] {
    type Values = Vec<Arc<T>>;
    fn into_slots(self) -> Vec<ArgSlot> {
        self.iter()
            .map(|r| ArgSlot::Ref(r.clone().erase()))
            .collect()
    }
    fn values(v: Vec<ArgSlot>) -> Result<Self::Values, String> {
        v.into_iter().map(arc_of).collect()
    }
}

impl<A: Send + 'static> ActorHandle<A> {
    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.shared.id
    }

    /// Resolves once the constructor ran (an error if it failed).
    pub fn ready(&self) -> ObjectRef<()> {
        self.shared.created.clone()
    }

    fn submit<R>(&self, method: &'static str, args: Vec<ArgSlot>, body: CallBody) -> ObjectRef<R> {
        let rt = &self.shared.rt;
        let inner = &rt.inner;
        let tid = TaskId(inner.next_id());
        let oid = ObjectId(tid.0);
        let r = ObjectRef::new(oid, inner.release.clone());
        let now = inner.now();
        let record = TaskRecord {
            function: method,
            args: arg_infos(&args),
            state: TaskState::Scheduled,
            resources: Resources::none(),
            worker: None,
            worker_pid: None,
            parent: CURRENT_TASK.get(),
            actor: Some(self.shared.id),
            return_id: oid,
            submit: now,
            start: None,
            end: None,
            attempts: 0,
            error: None,
        };
        inner.tasks.lock(tid).insert(tid, record);
        inner.with(|s, _| s.submit_actor_call(tid, oid));
        if matches!(body, CallBody::Closure(_)) && inner.config.isolation == Isolation::Process {
            let err = RuntimeError::Unsupported(format!(
                "{method}: closure calls need thread mode; register an ActorMethod for process mode"
            ));
            inner.with(|s, fx| s.store_and_dispatch(oid, Err(err), fx));
            return r;
        }
        let call = ActorCall {
            task_id: tid,
            return_id: oid,
            method,
            args,
            body,
        };
        if self.shared.tx.send(ActorMsg::Call(call)).is_err() {
            let err = self.died("actor stopped");
            inner.with(|s, fx| s.store_and_dispatch(oid, Err(err), fx));
        }
        r
    }

    fn died(&self, msg: &str) -> RuntimeError {
        RuntimeError::ActorDied {
            class: self.shared.class.to_string(),
            actor_id: self.shared.id,
            message: msg.to_string(),
        }
    }

    /// Runs `f` on the actor's state (thread mode only); the result is stored as-is, no serde.
    pub fn call<R, F>(&self, f: F) -> ObjectRef<R>
    where
        R: Send + Sync + 'static,
        F: FnOnce(&mut A) -> R + Send + 'static,
    {
        self.try_call(move |a| Ok::<R, std::convert::Infallible>(f(a)))
    }

    /// Like `call`, but an `Err` becomes a `TaskFailed` error at `get`.
    pub fn try_call<R, E, F>(&self, f: F) -> ObjectRef<R>
    where
        R: Send + Sync + 'static,
        E: std::fmt::Display,
        F: FnOnce(&mut A) -> Result<R, E> + Send + 'static,
    {
        let body: ClosureCall = Box::new(move |s, _| {
            let a = s
                .downcast_mut::<A>()
                .ok_or_else(|| TaskError::msg("actor state has another type"))?;
            f(a).map(|r| Arc::new(r) as Value)
                .map_err(|e| TaskError(e.to_string()))
        });
        self.submit(self.closure_name(), Vec::new(), CallBody::Closure(body))
    }

    /// Runs `f` on the state with the values of `deps` once they exist (thread mode only).
    ///
    /// This is how a ref flows straight into an actor call: `h.call_with(&sample, |w, s| w.grads(&s))`.
    pub fn call_with<D, R, F>(&self, deps: D, f: F) -> ObjectRef<R>
    where
        D: RefArgs,
        D::Values: 'static,
        R: Send + Sync + 'static,
        F: FnOnce(&mut A, D::Values) -> R + Send + 'static,
    {
        let slots = deps.into_slots();
        let body: ClosureCall = Box::new(move |s, args| {
            let v = D::values(args).map_err(TaskError)?;
            let a = s
                .downcast_mut::<A>()
                .ok_or_else(|| TaskError::msg("actor state has another type"))?;
            Ok(Arc::new(f(a, v)) as Value)
        });
        self.submit(self.closure_name(), slots, CallBody::Closure(body))
    }

    fn closure_name(&self) -> &'static str {
        self.shared.class
    }

    /// Calls a registered method (both modes); arguments may be values or refs.
    pub fn method<Args, R, X>(&self, m: &'static ActorMethod<A, Args, R>, args: X) -> ObjectRef<R>
    where
        Args: ArgTuple,
        R: Data,
        X: IntoArgs<Args>,
    {
        self.submit(m.name(), args.into_slots(), CallBody::Method(m))
    }

    /// Stops the actor after the calls already queued; later calls fail with `ActorDied`.
    pub fn kill(&self) {
        self.shared.stop();
    }
}

/// Builds an actor: resources, restarts, then `spawn`.
pub struct ActorBuilder<A> {
    rt: RuntimeHandle,
    class: &'static str,
    ctor: ActorCtor,
    args: Vec<ArgSlot>,
    resources: Resources,
    max_restarts: u32,
    _state: PhantomData<fn() -> A>,
}

impl<A: Send + 'static> ActorBuilder<A> {
    pub(crate) fn class<Args: ArgTuple>(
        rt: RuntimeHandle,
        class: &'static ActorClass<A, Args>,
        args: Vec<ArgSlot>,
    ) -> Self {
        ActorBuilder {
            rt,
            class: class.name(),
            ctor: ActorCtor::Class(class),
            args,
            resources: Resources::cpus(1.0),
            max_restarts: 0,
            _state: PhantomData,
        }
    }

    pub(crate) fn closure(
        rt: RuntimeHandle,
        class: &'static str,
        f: impl FnOnce() -> A + Send + 'static,
    ) -> Self {
        ActorBuilder {
            rt,
            class,
            ctor: ActorCtor::Closure(Box::new(move || Box::new(f()) as Box<dyn Any + Send>)),
            args: Vec::new(),
            resources: Resources::cpus(1.0),
            max_restarts: 0,
            _state: PhantomData,
        }
    }

    /// What the actor holds for its whole life (default 1 CPU).
    pub fn resources(mut self, r: Resources) -> Self {
        self.resources = r;
        self
    }

    /// Sets the CPUs it holds (0 for a lightweight actor that should never wait for a CPU).
    pub fn num_cpus(mut self, n: f64) -> Self {
        self.resources.cpu = n;
        self
    }

    /// How many times a dead worker process is replaced and the constructor rerun (default 0).
    pub fn max_restarts(mut self, n: u32) -> Self {
        self.max_restarts = n;
        self
    }

    /// Submits the actor; it starts once its resources are free. Impossible requests fail here.
    pub fn spawn(self) -> Result<ActorHandle<A>, RuntimeError> {
        let inner = self.rt.inner.clone();
        if inner.is_shutdown() {
            return Err(RuntimeError::Shutdown);
        }
        let demand = inner.with(|s, _| {
            s.pool
                .demand(&self.resources)
                .map_err(|_| RuntimeError::Impossible {
                    requested: self.resources.clone(),
                    total: s.pool.total(),
                })
        })?;
        if let (ActorCtor::Closure(_), Isolation::Process) = (&self.ctor, inner.config.isolation) {
            return Err(RuntimeError::Unsupported(format!(
                "{}: closure actors need thread mode; declare an ActorClass for process mode",
                self.class
            )));
        }
        let actor_id = ActorId(inner.next_id());
        let tid = TaskId(inner.next_id());
        let oid = ObjectId(tid.0);
        let (tx, rx) = unbounded();
        let record = TaskRecord {
            function: self.class,
            args: arg_infos(&self.args),
            state: TaskState::Scheduled,
            resources: self.resources.clone(),
            worker: None,
            worker_pid: None,
            parent: CURRENT_TASK.get(),
            actor: Some(actor_id),
            return_id: oid,
            submit: inner.now(),
            start: None,
            end: None,
            attempts: 0,
            error: None,
        };
        let spec = TaskSpec {
            id: tid,
            function: self.class,
            body: TaskBody::ActorCreation(Box::new(ActorStart {
                actor_id,
                class: self.class,
                ctor: self.ctor,
                mailbox: rx,
                max_restarts: self.max_restarts,
                dead: None,
            })),
            args: self.args,
            demand,
            max_retries: 0,
            attempts: 0,
            return_id: oid,
            pending_deps: 0,
            dep_tasks: Vec::new(),
        };
        let created = ObjectRef::new(oid, inner.release.clone());
        inner.with(|s, fx| {
            s.actors.insert(
                actor_id,
                ActorRecord {
                    class: self.class,
                    status: ActorStatus::Pending,
                    worker: None,
                    pid: None,
                    restarts: 0,
                },
            );
            s.submit(spec, record, fx);
        });
        let shared = Arc::new(ActorShared {
            id: actor_id,
            class: self.class,
            tx,
            rt: self.rt.clone(),
            created,
        });
        {
            let mut hs = inner.actor_handles.lock();
            hs.retain(|w| w.strong_count() > 0);
            hs.push(Arc::downgrade(&shared));
        }
        Ok(ActorHandle {
            shared,
            _state: PhantomData,
        })
    }
}

/// Starts an actor whose resources were granted: a thread, or a worker process.
pub(crate) fn start(inner: &Arc<Inner>, spec: TaskSpec) {
    if inner.config.isolation == Isolation::Process {
        crate::process_worker::start_actor(inner, spec);
        return;
    }
    let inner2 = inner.clone();
    let h = std::thread::Builder::new()
        .name("rt-actor".into())
        .spawn(move || thread_actor_main(inner2, spec));
    match h {
        Ok(h) => inner.register_thread(h),
        Err(e) => tracing::error!("cannot spawn an actor thread: {e}"),
    }
}

/// Resolves an actor call's ref arguments, waiting for them (calls stay in order).
pub(crate) fn resolve_call_args(
    inner: &Arc<Inner>,
    call: &mut ActorCall,
) -> Result<(), RuntimeError> {
    for slot in call.args.iter_mut() {
        if let ArgSlot::Ref(r) = slot {
            match inner.get_value(erased_id(r), None) {
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

pub(crate) fn set_actor_status(
    inner: &Arc<Inner>,
    id: ActorId,
    status: ActorStatus,
    worker: Option<WorkerId>,
    pid: Option<u32>,
) {
    inner.with(|s, _| {
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

/// A finished actor call waiting to be stored.
pub(crate) struct Completed {
    pub oid: ObjectId,
    pub result: Result<Value, RuntimeError>,
    pub event: TaskEvent,
}

/// Fails every call still in the mailbox (the actor is gone).
pub(crate) fn drain_dead(inner: &Arc<Inner>, mailbox: &Receiver<ActorMsg>, err: &RuntimeError) {
    while let Ok(msg) = mailbox.try_recv() {
        if let ActorMsg::Call(c) = msg {
            let e = err.clone();
            inner.complete_actor_call(c.task_id, c.return_id, WorkerId(0), None, 0, Err(e), None);
        }
    }
}

fn thread_actor_main(inner: Arc<Inner>, spec: TaskSpec) {
    let TaskSpec {
        id: tid,
        body,
        args,
        demand,
        return_id,
        ..
    } = spec;
    let TaskBody::ActorCreation(start) = body else {
        unreachable!("only actor creations are started here")
    };
    let ActorStart {
        actor_id,
        class,
        ctor,
        mailbox,
        dead,
        ..
    } = *start;
    let worker = WorkerId(inner.next_id());
    let pid = Some(std::process::id());
    let tl = inner
        .timeline
        .worker(worker, format!("{} ({class} {actor_id})", worker.0));
    let died = |m: String| RuntimeError::ActorDied {
        class: class.to_string(),
        actor_id,
        message: m,
    };
    let t0 = inner.now();
    let mut state: Result<Box<dyn Any + Send>, RuntimeError> = match dead {
        Some(reason) => Err(died(reason)),
        None => {
            CURRENT_TASK.set(Some(tid));
            let out = catch_unwind(AssertUnwindSafe(move || match ctor {
                ActorCtor::Class(c) => c.construct(args),
                ActorCtor::Closure(f) => Ok(f()),
            }));
            CURRENT_TASK.set(None);
            let r = match out {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => Err(died(format!("constructor failed: {}", e.0))),
                Err(p) => Err(died(format!(
                    "constructor panicked: {}",
                    panic_message(&*p)
                ))),
            };
            // The actor table is updated before `ready()` resolves, so callers see it.
            set_actor_status(
                &inner,
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
            inner.complete_actor_call(tid, return_id, worker, pid, t0, stored, None);
            r
        }
    };
    if let Err(e) = &state {
        set_actor_status(
            &inner,
            actor_id,
            ActorStatus::Dead(e.to_string()),
            Some(worker),
            pid,
        );
    }
    // Results of calls run while more calls were queued are stored together, one lock for many;
    // a lone call (the request/response case) is stored at once.
    let mut done: Vec<Completed> = Vec::new();
    loop {
        let msg = if done.is_empty() {
            crate::object_store::recv_spin(&mailbox).ok()
        } else {
            match mailbox.try_recv() {
                Ok(m) => Some(m),
                Err(crossbeam::channel::TryRecvError::Empty) => {
                    inner.complete_actor_calls(&mut done, worker, pid, &tl);
                    continue;
                }
                Err(crossbeam::channel::TryRecvError::Disconnected) => None,
            }
        };
        let Some(ActorMsg::Call(mut call)) = msg else {
            break;
        };
        if !done.is_empty() && call.args.iter().any(|a| matches!(a, ArgSlot::Ref(_))) {
            // The ref may name a result still in `done`.
            inner.complete_actor_calls(&mut done, worker, pid, &tl);
        }
        let t0 = inner.now();
        let mut t1 = t0;
        let has_refs = call.args.iter().any(|a| matches!(a, ArgSlot::Ref(_)));
        let result = match &mut state {
            Err(e) => Err(e.clone()),
            Ok(s) => match resolve_call_args(&inner, &mut call) {
                Err(e) => Err(e),
                Ok(()) => {
                    // Without refs there was nothing to wait for: skip a clock read.
                    if has_refs {
                        t1 = inner.now();
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
        let t2 = inner.now();
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
            inner.complete_actor_calls(&mut done, worker, pid, &tl);
        }
    }
    inner.complete_actor_calls(&mut done, worker, pid, &tl);
    drain_dead(&inner, &mailbox, &died("actor stopped".into()));
    drop(state);
    inner.with(|s, fx| {
        s.pool.release(&demand);
        if let Some(a) = s.actors.get_mut(&actor_id) {
            if !matches!(a.status, ActorStatus::Dead(_)) {
                a.status = ActorStatus::Dead("stopped".into());
            }
        }
        s.dispatch(fx);
    });
}
