//! Actors, the API side: create one (`rt.actor(..)`), call it (`h.method(..)`), kill it.
//! Calls to one actor run one at a time in submission order.
//!
//! In thread mode the state lives on a dedicated thread and only needs `Send + 'static`
//! (a libtorch model is fine); closures may be sent to it. In process mode the state lives in
//! a worker process and only registered methods (`ActorMethod`) can be called. Inside a worker
//! process, actors are created and called the same way; the driver runs them.
//!
//! Resources, as in Ray: by default an actor needs 1 CPU to be placed (while its constructor
//! runs) and holds nothing while alive, so actors never starve tasks of CPUs; an explicit
//! `num_cpus`/`resources` is held for the actor's whole life.

use crate::actor_spec::{ActorCtor, ActorMailbox, CallBody, ClosureCall};
use crate::args::{ArgSlot, ArgTuple, IntoArgs};
use crate::client::process_client;
use crate::error::{RuntimeError, TaskError};
use crate::ids::ActorId;
use crate::object_ref::{note_actor_serialized, Decoder, ObjectRef};
use crate::registry::{registry, ActorClass, ActorMethod};
use crate::resources::Resources;
use crate::runtime::{Backend, RuntimeHandle};
use crate::runtime_core::Core;
use crate::task::CURRENT_TASK;
use crate::value::{decode_value, Data, Value};
use crossbeam::queue::SegQueue;
use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

/// What an actor handle talks to.
enum Link {
    /// The actor's mailbox, in the driver.
    Local {
        core: Arc<Core>,
        mailbox: Arc<ActorMailbox>,
    },
    /// The driver, from a worker process; dropping the handle is reported there.
    Remote { released: Arc<SegQueue<ActorId>> },
}

/// The part of a handle shared by all its clones; the actor stops when the last one drops.
struct ActorShared {
    id: ActorId,
    class: &'static str,
    rt: RuntimeHandle,
    link: Link,
    created: ObjectRef<()>,
}

impl Drop for ActorShared {
    fn drop(&mut self) {
        if let Link::Remote { released } = &self.link {
            released.push(self.id);
        }
    }
}

/// A handle to an actor of state type `A`; clone it freely, pass it into tasks (any mode).
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

/// What an actor handle is on the wire: enough for a worker process to call the actor
/// through its driver.
#[derive(serde::Serialize, serde::Deserialize)]
struct WireHandle {
    id: ActorId,
    class: String,
    created: ObjectRef<()>,
}

/// A handle passed into a task or actor that runs in a worker process (on this machine or
/// another node) becomes a handle there that calls the actor through the driver; the actor
/// lives at least until that task ends or that worker drops it.
impl<A> serde::Serialize for ActorHandle<A> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        note_actor_serialized(self.shared.id);
        WireHandle {
            id: self.shared.id,
            class: self.shared.class.to_string(),
            created: self.shared.created.clone(),
        }
        .serialize(s)
    }
}

impl<'de, A> serde::Deserialize<'de> for ActorHandle<A> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let w = WireHandle::deserialize(d)?;
        let client = process_client().ok_or_else(|| {
            D::Error::custom("an actor handle can be read only in a worker process")
        })?;
        let class = registry()
            .classes
            .get(w.class.as_str())
            .map(|c| c.name())
            .ok_or_else(|| {
                D::Error::custom(format!("actor class {} is not registered here", w.class))
            })?;
        Ok(ActorHandle {
            shared: Arc::new(ActorShared {
                id: w.id,
                class,
                link: Link::Remote {
                    released: client.actor_release_queue(),
                },
                rt: RuntimeHandle {
                    backend: Backend::Remote(client),
                },
                created: w.created,
            }),
            _state: PhantomData,
        })
    }
}

impl<A> std::fmt::Debug for ActorHandle<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ActorHandle({} {})", self.shared.class, self.shared.id)
    }
}

/// Refs a closure call waits for; the closure receives their values as `Arc`s.
pub trait RefArgs: sealed::RefSlots {}

mod sealed {
    use crate::args::ArgSlot;

    /// The methods of [`super::RefArgs`].
    pub trait RefSlots {
        /// The resolved values handed to the closure.
        type Values;
        /// The refs as argument slots.
        fn into_slots(self) -> Vec<ArgSlot>;
        /// Resolved slots back to typed values.
        fn values(v: Vec<ArgSlot>) -> Result<Self::Values, String>;
    }
}

fn arc_of<T: Send + Sync + 'static>(s: ArgSlot) -> Result<Arc<T>, String> {
    match s {
        ArgSlot::Ready(v) => v
            .downcast::<T>()
            .map_err(|_| format!("argument is not a {}", std::any::type_name::<T>())),
        _ => Err("argument was not resolved".into()),
    }
}

impl<T: Send + Sync + 'static> sealed::RefSlots for &ObjectRef<T> {
    type Values = Arc<T>;
    fn into_slots(self) -> Vec<ArgSlot> {
        vec![ArgSlot::Ref(self.token().clone())]
    }
    fn values(v: Vec<ArgSlot>) -> Result<Arc<T>, String> {
        arc_of(v.into_iter().next().ok_or("missing argument")?)
    }
}
impl<T: Send + Sync + 'static> RefArgs for &ObjectRef<T> {}

impl<T: Send + Sync + 'static> sealed::RefSlots for ObjectRef<T> {
    type Values = Arc<T>;
    fn into_slots(self) -> Vec<ArgSlot> {
        vec![ArgSlot::Ref(self.erase())]
    }
    fn values(v: Vec<ArgSlot>) -> Result<Arc<T>, String> {
        arc_of(v.into_iter().next().ok_or("missing argument")?)
    }
}
impl<T: Send + Sync + 'static> RefArgs for ObjectRef<T> {}

impl<T: Send + Sync + 'static, U: Send + Sync + 'static> sealed::RefSlots
    for (&ObjectRef<T>, &ObjectRef<U>)
{
    type Values = (Arc<T>, Arc<U>);
    fn into_slots(self) -> Vec<ArgSlot> {
        vec![
            ArgSlot::Ref(self.0.token().clone()),
            ArgSlot::Ref(self.1.token().clone()),
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
impl<T: Send + Sync + 'static, U: Send + Sync + 'static> RefArgs
    for (&ObjectRef<T>, &ObjectRef<U>)
{
}

impl<T: Send + Sync + 'static> sealed::RefSlots for &[ObjectRef<T>] {
    type Values = Vec<Arc<T>>;
    fn into_slots(self) -> Vec<ArgSlot> {
        self.iter()
            .map(|r| ArgSlot::Ref(r.token().clone()))
            .collect()
    }
    fn values(v: Vec<ArgSlot>) -> Result<Self::Values, String> {
        v.into_iter().map(arc_of).collect()
    }
}
impl<T: Send + Sync + 'static> RefArgs for &[ObjectRef<T>] {}

impl<A: Send + 'static> ActorHandle<A> {
    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.shared.id
    }

    /// Resolves once the constructor ran (an error if it failed).
    pub fn ready(&self) -> ObjectRef<()> {
        self.shared.created.clone()
    }

    fn submit<R>(
        &self,
        method: &'static str,
        args: Vec<ArgSlot>,
        body: CallBody,
        decode: Option<Decoder>,
    ) -> ObjectRef<R> {
        let rt = &self.shared.rt;
        match &self.shared.link {
            Link::Local { core, mailbox } => {
                let codec = match &body {
                    CallBody::Method(m) => Some(m.result_codec()),
                    CallBody::Closure(_) => None,
                };
                let oid =
                    core.submit_actor_call(mailbox, method, args, body, codec, CURRENT_TASK.get());
                rt.object_ref(oid, decode)
            }
            Link::Remote { .. } => {
                let Backend::Remote(client) = &rt.backend else {
                    return rt.failed(RuntimeError::Protocol("actor handle mismatch".into()));
                };
                let CallBody::Method(m) = body else {
                    return rt.failed(RuntimeError::Unsupported(format!(
                        "{method}: closure calls cannot be made from a worker process; register an ActorMethod"
                    )));
                };
                let r = m
                    .wire_args(args)
                    .map_err(|e| RuntimeError::Serialization(format!("{method}: {e}")))
                    .and_then(|a| client.call_actor(self.shared.id, method, a));
                match r {
                    Ok(oid) => rt.object_ref(oid, decode),
                    Err(e) => rt.failed(e),
                }
            }
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
        self.submit(self.shared.class, Vec::new(), CallBody::Closure(body), None)
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
        self.submit(self.shared.class, slots, CallBody::Closure(body), None)
    }

    /// Calls a registered method (both modes, and from worker processes); arguments may be
    /// values or refs.
    pub fn method<Args, R, X>(&self, m: &'static ActorMethod<A, Args, R>, args: X) -> ObjectRef<R>
    where
        Args: ArgTuple,
        R: Data,
        X: IntoArgs<Args>,
    {
        self.submit(
            m.name(),
            args.into_slots(),
            CallBody::Method(m),
            Some(decode_value::<R>),
        )
    }

    /// Stops the actor after the calls already queued; later calls fail with `ActorDied`.
    pub fn kill(&self) {
        match &self.shared.link {
            Link::Local { mailbox, .. } => mailbox.stop(),
            Link::Remote { .. } => {
                if let Backend::Remote(client) = &self.shared.rt.backend {
                    let _ = client.kill_actor(self.shared.id);
                }
            }
        }
    }
}

/// Builds an actor: resources, restarts, then `spawn`.
pub struct ActorBuilder<A> {
    rt: RuntimeHandle,
    class: &'static str,
    ctor: ActorCtor,
    args: Vec<ArgSlot>,
    resources: Option<Resources>,
    max_restarts: u32,
    _state: PhantomData<fn() -> A>,
}

impl<A: Send + 'static> ActorBuilder<A> {
    /// What the actor holds for its whole life. Default (not called): 1 CPU to be placed,
    /// nothing while alive, as in Ray.
    pub fn resources(mut self, r: Resources) -> Self {
        self.resources = Some(r);
        self
    }

    /// Sets the CPUs it holds for its whole life (0 for an actor that never waits for a CPU).
    pub fn num_cpus(mut self, n: f64) -> Self {
        self.resources.get_or_insert_with(Resources::none).cpu = n;
        self
    }

    /// How many times a dead worker process is replaced and the constructor rerun (default 0).
    pub fn max_restarts(mut self, n: u32) -> Self {
        self.max_restarts = n;
        self
    }

    /// Submits the actor; it starts once it can be placed. Impossible requests (and closure
    /// actors where closures cannot run) fail here.
    pub fn spawn(self) -> Result<ActorHandle<A>, RuntimeError> {
        let ActorBuilder {
            rt,
            class,
            ctor,
            args,
            resources,
            max_restarts,
            ..
        } = self;
        let (id, created, link) = match &rt.backend {
            Backend::Local(core) => {
                let (id, oid, mailbox) = core.create_actor(
                    class,
                    ctor,
                    args,
                    resources,
                    max_restarts,
                    CURRENT_TASK.get(),
                )?;
                let link = Link::Local {
                    core: core.clone(),
                    mailbox,
                };
                (id, oid, link)
            }
            Backend::Remote(client) => {
                let ActorCtor::Class(c) = ctor else {
                    return Err(RuntimeError::Unsupported(format!(
                        "{class}: closure actors cannot be created from a worker process; declare an ActorClass"
                    )));
                };
                let args = c
                    .wire_args(args)
                    .map_err(|e| RuntimeError::Serialization(format!("{class}: {e}")))?;
                let (id, oid) = client.create_actor(class, args, resources, max_restarts)?;
                let link = Link::Remote {
                    released: client.actor_release_queue(),
                };
                (id, oid, link)
            }
        };
        let created = rt.object_ref(created, Some(decode_value::<()>));
        Ok(ActorHandle {
            shared: Arc::new(ActorShared {
                id,
                class,
                rt,
                link,
                created,
            }),
            _state: PhantomData,
        })
    }
}

impl RuntimeHandle {
    /// Creates an actor of a registered class (both modes, and from worker processes);
    /// `.spawn()` it.
    pub fn actor<A, Args, X>(&self, class: &'static ActorClass<A, Args>, args: X) -> ActorBuilder<A>
    where
        A: Send + 'static,
        Args: ArgTuple,
        X: IntoArgs<Args>,
    {
        ActorBuilder {
            rt: self.clone(),
            class: class.name(),
            ctor: ActorCtor::Class(class),
            args: args.into_slots(),
            resources: None,
            max_restarts: 0,
            _state: PhantomData,
        }
    }

    /// Creates an actor from a closure (thread mode): state needs only `Send + 'static`.
    pub fn actor_local<A, F>(&self, class: &'static str, ctor: F) -> ActorBuilder<A>
    where
        A: Send + 'static,
        F: FnOnce() -> A + Send + 'static,
    {
        ActorBuilder {
            rt: self.clone(),
            class,
            ctor: ActorCtor::Closure(Box::new(move || Box::new(ctor()) as Box<dyn Any + Send>)),
            args: Vec::new(),
            resources: None,
            max_restarts: 0,
            _state: PhantomData,
        }
    }
}
