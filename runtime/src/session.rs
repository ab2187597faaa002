//! The driver's side of one worker process's connection: serves the runtime calls that code
//! inside the worker makes (submit, put, get, wait, actors) and keeps alive what the worker
//! holds.
//!
//! What a worker holds: every ref it was handed (a reply to its own call, or a ref inside bytes
//! the driver sent it) is counted here, with one driver-side token per object. The worker
//! reports refs it dropped with its next message; everything still held is released when its
//! task ends (task workers) or its process dies.

use crate::actor_spec::{ActorCtor, ActorMailbox, CallBody};
use crate::args::{ArgSlot, WireArg};
use crate::error::RuntimeError;
use crate::ids::{ActorId, IdMap, ObjectId, TaskId};
use crate::object_ref::{with_ref_serde, ErasedRef, RefSerde, RefToken};
use crate::protocol::{Released, Reply, Request, WireError};
use crate::registry::registry;
use crate::runtime_core::Core;
use crate::task::TaskBody;
use crate::value::{serialized_codec, Blob, Serialized, Value};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Instant;

/// One worker process's connection as the driver sees it.
pub(crate) struct Session {
    core: Arc<Core>,
    /// Refs the worker holds: one driver token per object, and how many worker tokens.
    held: Mutex<IdMap<ObjectId, (ErasedRef, u32)>>,
    /// Actors the worker created or was handed, kept alive while it holds them.
    actors: Mutex<IdMap<ActorId, (Arc<ActorMailbox>, u32)>>,
    /// The task or actor call the worker is running (the parent of what it submits).
    current: Mutex<Option<TaskId>>,
}

fn not_registered(kind: &str, name: &str) -> RuntimeError {
    RuntimeError::Unsupported(format!(
        "{kind} {name} is not registered in the driver binary"
    ))
}

impl Session {
    pub fn new(core: Arc<Core>) -> Arc<Self> {
        Arc::new(Session {
            core,
            held: Mutex::new(IdMap::default()),
            actors: Mutex::new(IdMap::default()),
            current: Mutex::new(None),
        })
    }

    /// This session as the `RefSerde` of bytes sent to its worker.
    pub fn ref_serde(self: &Arc<Self>) -> Arc<dyn RefSerde> {
        self.clone()
    }

    /// Sets the task or call the worker runs now.
    pub fn set_current(&self, task: Option<TaskId>) {
        *self.current.lock() = task;
    }

    /// A new object made for the worker: the one ref its entry starts with is the worker's.
    fn hold_new(&self, oid: ObjectId) {
        let mut h = self.held.lock();
        match h.get_mut(&oid) {
            // Fresh ids are never held yet; if one were, its extra count would only leak.
            Some((_, n)) => *n += 1,
            None => {
                h.insert(oid, (self.core.new_token(oid), 1));
            }
        }
    }

    fn hold_actor(&self, m: Arc<ActorMailbox>) {
        let mut a = self.actors.lock();
        match a.get_mut(&m.id) {
            Some((_, n)) => *n += 1,
            None => {
                a.insert(m.id, (m, 1));
            }
        }
    }

    /// The worker dropped these.
    pub fn release(&self, r: Released) {
        if !r.objects.is_empty() {
            let mut gone = Vec::new();
            {
                let mut h = self.held.lock();
                for id in r.objects {
                    if let Some((_, n)) = h.get_mut(&id) {
                        *n -= 1;
                        if *n == 0 {
                            gone.extend(h.remove(&id));
                        }
                    }
                }
            }
            drop(gone);
        }
        if !r.actors.is_empty() {
            let mut gone = Vec::new();
            {
                let mut a = self.actors.lock();
                for id in r.actors {
                    if let Some((_, n)) = a.get_mut(&id) {
                        *n -= 1;
                        if *n == 0 {
                            gone.extend(a.remove(&id));
                        }
                    }
                }
            }
            drop(gone);
        }
    }

    /// Releases everything the worker holds (its task ended, or its process is gone).
    pub fn clear(&self) {
        let held = std::mem::take(&mut *self.held.lock());
        let actors = std::mem::take(&mut *self.actors.lock());
        drop(held);
        drop(actors);
        self.set_current(None);
    }

    /// Converts a worker's arguments: refs get a driver token, values stay bytes (pinning the
    /// refs inside them).
    fn slots(&self, args: Vec<WireArg>) -> Result<Vec<ArgSlot>, RuntimeError> {
        args.into_iter()
            .map(|a| match a {
                WireArg::Ref(id) => {
                    self.core.add_ref(id).map(ArgSlot::Ref).ok_or_else(|| {
                        RuntimeError::ObjectLost(id, "unknown or already freed".into())
                    })
                }
                WireArg::Value { bytes, contained } => {
                    Ok(ArgSlot::Ready(self.serialized(bytes, contained)))
                }
            })
            .collect()
    }

    fn serialized(&self, bytes: Blob, contained: Vec<ObjectId>) -> Value {
        let pins = contained
            .into_iter()
            .filter_map(|id| self.core.add_ref(id))
            .collect();
        Arc::new(Serialized { bytes, pins })
    }

    /// Serves one request; `alive` says whether the worker process still exists (a wait on its
    /// behalf ends when it dies).
    pub fn handle(self: &Arc<Self>, request: Request, alive: &dyn Fn() -> bool) -> Reply {
        let parent = *self.current.lock();
        let core = &self.core;
        let object = |r: Result<ObjectId, RuntimeError>| {
            Reply::Object(
                r.inspect(|oid| self.hold_new(*oid))
                    .map_err(|e| WireError::from(&e)),
            )
        };
        match request {
            Request::Submit {
                function,
                args,
                resources,
                max_retries,
            } => object((|| {
                let f = *registry()
                    .functions
                    .get(function.as_str())
                    .ok_or_else(|| not_registered("function", &function))?;
                let args = self.slots(args)?;
                core.submit_task(
                    f.name(),
                    TaskBody::Function(f),
                    args,
                    resources,
                    max_retries,
                    parent,
                )
            })()),
            Request::Put { bytes, contained } => {
                let size = bytes.0.len();
                let v = self.serialized(bytes, contained);
                object(Ok(core.put_value(v, Some(serialized_codec()), Some(size))))
            }
            Request::Get { ids, timeout } => Reply::Values(
                self.get(&ids, timeout, alive)
                    .map_err(|e| WireError::from(&e)),
            ),
            Request::Wait {
                ids,
                num_returns,
                timeout,
            } => {
                let deadline = timeout.map(|t| Instant::now() + t);
                Reply::Ready(core.wait_ids(&ids, num_returns, deadline, Some(alive)))
            }
            Request::CreateActor {
                class,
                args,
                resources,
                max_restarts,
            } => Reply::Actor(
                (|| {
                    let c = *registry()
                        .classes
                        .get(class.as_str())
                        .ok_or_else(|| not_registered("actor class", &class))?;
                    let args = self.slots(args)?;
                    let (aid, oid, mailbox) = core.create_actor(
                        c.name(),
                        ActorCtor::Class(c),
                        args,
                        resources,
                        max_restarts,
                        parent,
                    )?;
                    self.hold_actor(mailbox);
                    self.hold_new(oid);
                    Ok((aid, oid))
                })()
                .map_err(|e: RuntimeError| WireError::from(&e)),
            ),
            Request::CallActor {
                actor,
                method,
                args,
            } => object((|| {
                let m = *registry()
                    .methods
                    .get(method.as_str())
                    .ok_or_else(|| not_registered("actor method", &method))?;
                let mailbox = self.mailbox(actor)?;
                let args = self.slots(args)?;
                Ok(core.submit_actor_call(
                    &mailbox,
                    m.name(),
                    args,
                    CallBody::Method(m),
                    Some(m.result_codec()),
                    parent,
                ))
            })()),
            Request::KillActor { actor } => {
                if let Ok(m) = self.mailbox(actor) {
                    m.stop();
                }
                Reply::Done
            }
            Request::Fail { error } => object(Ok(core.failed_object(error.into()))),
            Request::Resources { available } => Reply::Resources(if available {
                core.with(|s, _| s.available())
            } else {
                core.total_resources()
            }),
        }
    }

    fn mailbox(&self, actor: ActorId) -> Result<Arc<ActorMailbox>, RuntimeError> {
        if let Some((m, _)) = self.actors.lock().get(&actor) {
            return Ok(m.clone());
        }
        self.core
            .actor_mailbox(actor)
            .ok_or_else(|| RuntimeError::ActorDied {
                class: "?".into(),
                actor_id: actor,
                message: "no such actor on this node (stopped, or never created)".into(),
            })
    }

    /// Values for the worker, serialized; the refs inside them become the worker's.
    fn get(
        self: &Arc<Self>,
        ids: &[ObjectId],
        timeout: Option<std::time::Duration>,
        alive: &dyn Fn() -> bool,
    ) -> Result<Vec<Blob>, RuntimeError> {
        let values = self.core.get_values(ids, timeout, Some(alive))?;
        let codecs = self.core.with(|s, _| {
            ids.iter()
                .map(|id| s.objects.get(id).and_then(|e| e.codec))
                .collect::<Vec<_>>()
        });
        let serde = self.ref_serde();
        values
            .iter()
            .zip(codecs)
            .zip(ids)
            .map(|((v, codec), id)| {
                let bytes = match v.downcast_ref::<Serialized>() {
                    Some(s) => with_ref_serde(&serde, || s.pass_on()),
                    None => {
                        let c = codec.ok_or_else(|| {
                            RuntimeError::Unsupported(format!(
                                "object {id} has no serde form (a closure result); a worker process cannot read it"
                            ))
                        })?;
                        with_ref_serde(&serde, || c.encode(v))
                            .map_err(|e| RuntimeError::Serialization(format!("{id}: {e}")))?
                    }
                };
                Ok(bytes)
            })
            .collect()
    }
}

impl RefSerde for Session {
    fn serialize_actor(&self, id: ActorId) {
        // The worker may call the actor through the handle: it lives while the worker holds it.
        if let Some(m) = self.core.actor_mailbox(id) {
            self.hold_actor(m);
        }
    }

    fn serialize_ref(&self, id: ObjectId) {
        {
            let mut h = self.held.lock();
            if let Some((_, n)) = h.get_mut(&id) {
                *n += 1;
                return;
            }
        }
        if let Some(t) = self.core.add_ref(id) {
            let mut h = self.held.lock();
            match h.get_mut(&id) {
                Some((_, n)) => *n += 1,
                None => {
                    h.insert(id, (t, 1));
                }
            }
        }
    }
    fn deserialize_ref(&self, id: ObjectId) -> Arc<RefToken> {
        self.core.deserialize_ref(id)
    }
}
