//! `ObjectRef<T>`: a typed, cloneable, `Send + Sync` reference to an object in the store.
//!
//! All clones of one ref share a token; the store counts live tokens per object and frees the
//! object when the last one drops (Ray's reference counting, reduced to "someone here still
//! holds a ref or a queued task still needs it"). A token created inside a worker process
//! releases into that process's queue, which the worker sends to the driver with its next
//! message.
//!
//! Refs also travel inside values (an `ObjectRef` field of a task argument). Serializing one
//! writes its id and tells the active [`RefSerde`] (so the driver can pin it for the worker that
//! will read it); deserializing one asks the active `RefSerde` for a token, so the ref keeps its
//! object alive on the side that read it.

use crate::ids::{ActorId, ObjectId};
use crossbeam::queue::SegQueue;
use serde::{Serialize, Serializer};
use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

/// Ids whose token dropped; the store decrements their count at its next operation.
///
/// A queue rather than a lock so that dropping a ref anywhere (even inside the store's lock,
/// or in a value's destructor) can never deadlock.
pub(crate) type ReleaseQueue = SegQueue<ObjectId>;

/// Turns the bytes of a value back into a stored value of the ref's type; a ref carries one
/// whenever its type is serde (`Data`), so values that arrive as bytes (a worker process's
/// `put`, or a `get` inside a worker process) can still be read as `T`.
pub(crate) type Decoder = fn(&crate::blob::Blob) -> Result<Arc<dyn Any + Send + Sync>, String>;

/// The shared part of every clone of one ref (nominally `pub` for `ArgSlot`'s sake; the module
/// is private).
pub struct RefToken {
    id: ObjectId,
    release: Option<Arc<ReleaseQueue>>,
}

impl RefToken {
    /// A token counted by the store that owns `release`.
    pub(crate) fn tracked(id: ObjectId, release: Arc<ReleaseQueue>) -> Arc<RefToken> {
        Arc::new(RefToken {
            id,
            release: Some(release),
        })
    }

    /// A token that keeps nothing alive (a ref read where no store counts it).
    pub(crate) fn untracked(id: ObjectId) -> Arc<RefToken> {
        Arc::new(RefToken { id, release: None })
    }

    /// The object's id.
    pub(crate) fn id(&self) -> ObjectId {
        self.id
    }
}

impl Drop for RefToken {
    fn drop(&mut self) {
        if let Some(q) = &self.release {
            q.push(self.id);
        }
    }
}

/// A type-erased ref: what queued tasks and worker sessions hold to keep objects alive.
pub(crate) type ErasedRef = Arc<RefToken>;

/// A reference to a value of type `T` that exists now or will once its task finishes.
pub struct ObjectRef<T> {
    token: Arc<RefToken>,
    decode: Option<Decoder>,
    _type: PhantomData<fn() -> T>,
}

impl<T> ObjectRef<T> {
    /// A ref around a token; `decode` reads the value from bytes when `T` is serde.
    pub(crate) fn from_token(token: Arc<RefToken>, decode: Option<Decoder>) -> Self {
        ObjectRef {
            token,
            decode,
            _type: PhantomData,
        }
    }

    /// The object's id.
    pub fn id(&self) -> ObjectId {
        self.token.id
    }

    /// Its token, shared with every clone.
    pub(crate) fn token(&self) -> &Arc<RefToken> {
        &self.token
    }

    /// How to read its value from bytes, if `T` is serde.
    pub(crate) fn decoder(&self) -> Option<Decoder> {
        self.decode
    }

    pub(crate) fn erase(self) -> ErasedRef {
        self.token
    }
}

impl<T> Clone for ObjectRef<T> {
    fn clone(&self) -> Self {
        ObjectRef {
            token: self.token.clone(),
            decode: self.decode,
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for ObjectRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectRef({})", self.token.id)
    }
}

impl<T> PartialEq for ObjectRef<T> {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}
impl<T> Eq for ObjectRef<T> {}

impl<T> std::hash::Hash for ObjectRef<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id().hash(state)
    }
}

/// What happens to refs that cross a process boundary inside serialized values.
pub(crate) trait RefSerde: Send + Sync {
    /// A ref's id is being written into bytes bound for the other side.
    fn serialize_ref(&self, id: ObjectId);
    /// A ref's id was read from bytes: the token that keeps it alive on this side.
    fn deserialize_ref(&self, id: ObjectId) -> Arc<RefToken>;
    /// An actor handle is being written into bytes bound for a worker process, which holds
    /// the actor alive while it has the handle.
    fn serialize_actor(&self, _id: ActorId) {}
}

/// Tells the encoding in progress on this thread (driver side) that an actor handle went in.
pub(crate) fn note_actor_serialized(id: ActorId) {
    SCOPED.with(|s| {
        if let Some(r) = s.borrow().as_ref() {
            r.serialize_actor(id);
        }
    });
}

thread_local! {
    /// The `RefSerde` of the encoding or decoding in progress on this thread (driver side).
    static SCOPED: RefCell<Option<Arc<dyn RefSerde>>> = const { RefCell::new(None) };
    /// Ids of refs serialized while collecting (worker side: what a value sent to the driver
    /// contains, so the driver can keep those objects alive as long as the value).
    static COLLECT: RefCell<Option<Vec<ObjectId>>> = const { RefCell::new(None) };
}

/// The process-wide `RefSerde` of a worker process (its connection to the driver).
static PROCESS: OnceLock<Arc<dyn RefSerde>> = OnceLock::new();

/// Makes `r` the process-wide `RefSerde` (once, in a worker process).
pub(crate) fn set_process_ref_serde(r: Arc<dyn RefSerde>) {
    let _ = PROCESS.set(r);
}

/// Runs `f` (an encode or decode) with `r` deciding what refs inside the value mean.
pub(crate) fn with_ref_serde<R>(r: &Arc<dyn RefSerde>, f: impl FnOnce() -> R) -> R {
    let prev = SCOPED.with(|s| s.borrow_mut().replace(r.clone()));
    let out = f();
    SCOPED.with(|s| *s.borrow_mut() = prev);
    out
}

/// Runs `f` (an encode) and returns the ids of every ref it serialized.
pub(crate) fn collect_refs<R>(f: impl FnOnce() -> R) -> (R, Vec<ObjectId>) {
    let prev = COLLECT.with(|c| c.borrow_mut().replace(Vec::new()));
    let out = f();
    let ids = COLLECT.with(|c| std::mem::replace(&mut *c.borrow_mut(), prev));
    (out, ids.unwrap_or_default())
}

/// The token for a ref just read from bytes: counted by whoever decodes, else untracked.
pub(crate) fn token_for_deserialized(id: ObjectId) -> Arc<RefToken> {
    let scoped = SCOPED.with(|s| s.borrow().clone());
    match scoped.as_ref().or_else(|| PROCESS.get()) {
        Some(r) => r.deserialize_ref(id),
        None => RefToken::untracked(id),
    }
}

/// Records that a ref's id is being written into bytes (by `Serialize`, or by passing on bytes
/// that already contain it).
pub(crate) fn note_serialized(id: ObjectId) {
    COLLECT.with(|c| {
        if let Some(v) = c.borrow_mut().as_mut() {
            v.push(id);
        }
    });
    let scoped = SCOPED.with(|s| s.borrow().clone());
    if let Some(r) = scoped {
        r.serialize_ref(id);
    }
}

impl<T> Serialize for ObjectRef<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        note_serialized(self.id());
        self.id().serialize(s)
    }
}
