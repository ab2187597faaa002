//! `ObjectRef<T>`: a typed, cloneable, `Send + Sync` reference to an object in the store.
//!
//! All clones of one ref share a token; when the last one drops, the object may be freed
//! (Ray's reference counting, reduced to "the driver still holds it or a task still needs it").

use crate::ids::ObjectId;
use crossbeam::queue::SegQueue;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// Ids whose last user reference dropped; the store frees them at its next operation.
///
/// A queue rather than a lock so that dropping a ref anywhere (even inside the store's lock,
/// or in a value's destructor) can never deadlock.
pub(crate) type ReleaseQueue = SegQueue<ObjectId>;

/// The shared part of every clone of one ref.
pub struct RefToken {
    id: ObjectId,
    release: Option<Arc<ReleaseQueue>>,
}

impl Drop for RefToken {
    fn drop(&mut self) {
        if let Some(q) = &self.release {
            q.push(self.id);
        }
    }
}

/// A type-erased ref held by tasks waiting on an argument.
pub type ErasedRef = Arc<RefToken>;

pub(crate) fn erased_id(r: &ErasedRef) -> ObjectId {
    r.id
}

/// A reference to a value of type `T` that exists now or will once its task finishes.
pub struct ObjectRef<T> {
    token: Arc<RefToken>,
    _type: PhantomData<fn() -> T>,
}

impl<T> ObjectRef<T> {
    pub(crate) fn new(id: ObjectId, release: Arc<ReleaseQueue>) -> Self {
        ObjectRef {
            token: Arc::new(RefToken {
                id,
                release: Some(release),
            }),
            _type: PhantomData,
        }
    }

    /// A ref that does not keep its object alive (e.g. one deserialized in a worker process).
    pub fn untracked(id: ObjectId) -> Self {
        ObjectRef {
            token: Arc::new(RefToken { id, release: None }),
            _type: PhantomData,
        }
    }

    /// The object's id.
    pub fn id(&self) -> ObjectId {
        self.token.id
    }

    pub(crate) fn erase(self) -> ErasedRef {
        self.token
    }
}

impl<T> Clone for ObjectRef<T> {
    fn clone(&self) -> Self {
        ObjectRef {
            token: self.token.clone(),
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

impl<T> Serialize for ObjectRef<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.id().serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for ObjectRef<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ObjectId::deserialize(d).map(ObjectRef::untracked)
    }
}
