//! How values travel: as `Arc<dyn Any>` inside the driver, as postcard bytes to worker processes.

use serde::{de::DeserializeOwned, Serialize};
use std::any::Any;
use std::sync::Arc;

use crate::object_ref::ObjectRef;

/// A stored value; shared, never copied inside one process.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// A value that may cross into a worker process: serde both ways, cheap enough to clone.
pub trait Data: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Data for T {}

/// One argument of a task as submitted, then as resolved.
pub enum ArgSlot {
    /// Passed by value: moved into the task, no clone in thread mode.
    Owned(Box<dyn Any + Send>, &'static str),
    /// An `ObjectRef` not yet resolved; the scheduler waits for it.
    Ref(crate::object_ref::ErasedRef),
    /// A resolved reference: the stored value, shared.
    Ready(Value),
}

impl ArgSlot {
    fn as_any(&self) -> Option<&dyn Any> {
        match self {
            ArgSlot::Owned(b, _) => Some(&**b as &dyn Any),
            ArgSlot::Ready(v) => Some(&**v as &dyn Any),
            ArgSlot::Ref(_) => None,
        }
    }
}

fn take<T: Clone + 'static>(slot: ArgSlot) -> Result<T, String> {
    match slot {
        ArgSlot::Owned(b, _) => b
            .downcast::<T>()
            .map(|b| *b)
            .map_err(|_| format!("argument is not a {}", std::any::type_name::<T>())),
        ArgSlot::Ready(v) => v
            .downcast_ref::<T>()
            .cloned()
            .ok_or_else(|| format!("argument is not a {}", std::any::type_name::<T>())),
        ArgSlot::Ref(_) => Err("argument was not resolved".into()),
    }
}

fn encode<T: Serialize + 'static>(slot: &ArgSlot) -> Result<Vec<u8>, String> {
    let v = slot
        .as_any()
        .and_then(|a| a.downcast_ref::<T>())
        .ok_or_else(|| format!("argument is not a {}", std::any::type_name::<T>()))?;
    postcard::to_allocvec(v).map_err(|e| e.to_string())
}

fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, String> {
    postcard::from_bytes(b).map_err(|e| e.to_string())
}

/// Serializes a value for a worker process.
pub(crate) fn encode_value<T: Serialize>(v: &T) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(v).map_err(|e| e.to_string())
}

/// Deserializes bytes from a worker process into a stored value.
pub(crate) fn decode_value<T: Data>(b: &[u8]) -> Result<Value, String> {
    decode::<T>(b).map(|v| Arc::new(v) as Value)
}

/// A tuple of argument types a registered function or method takes.
pub trait ArgTuple: Send + 'static + Sized {
    /// Number of arguments.
    const LEN: usize;
    /// Builds the tuple from resolved slots (thread mode).
    fn from_slots(v: Vec<ArgSlot>) -> Result<Self, String>;
    /// Serializes resolved slots for a worker process.
    fn encode_slots(v: &[ArgSlot]) -> Result<Vec<Vec<u8>>, String>;
    /// Deserializes arguments inside a worker process.
    fn decode(b: &[Vec<u8>]) -> Result<Self, String>;
}

/// Something usable as an argument of type `T`: the value itself or an `ObjectRef<T>` to it.
pub trait IntoArg<T> {
    /// Converts into a slot of the task spec.
    fn into_slot(self) -> ArgSlot;
}

impl<T: Send + 'static> IntoArg<T> for T {
    fn into_slot(self) -> ArgSlot {
        ArgSlot::Owned(Box::new(self), std::any::type_name::<T>())
    }
}

impl<T> IntoArg<T> for ObjectRef<T> {
    fn into_slot(self) -> ArgSlot {
        ArgSlot::Ref(self.erase())
    }
}

impl<T> IntoArg<T> for &ObjectRef<T> {
    fn into_slot(self) -> ArgSlot {
        ArgSlot::Ref(self.clone().erase())
    }
}

/// A tuple of arguments matching `Args`, each a value or a ref.
pub trait IntoArgs<Args> {
    /// Converts into the task's argument slots.
    fn into_slots(self) -> Vec<ArgSlot>;
}

macro_rules! tuple_impls {
    ($len:expr; $($T:ident $X:ident $i:tt),*) => {
        impl<$($T: Data),*> ArgTuple for ($($T,)*) {
            const LEN: usize = $len;
            #[allow(unused_mut, unused_variables)]
            fn from_slots(v: Vec<ArgSlot>) -> Result<Self, String> {
                if v.len() != $len {
                    return Err(format!("expected {} arguments, got {}", $len, v.len()));
                }
                let mut it = v.into_iter();
                Ok(($(take::<$T>(it.next().unwrap())?,)*))
            }
            #[allow(unused_variables)]
            fn encode_slots(v: &[ArgSlot]) -> Result<Vec<Vec<u8>>, String> {
                if v.len() != $len {
                    return Err(format!("expected {} arguments, got {}", $len, v.len()));
                }
                Ok(vec![$(encode::<$T>(&v[$i])?),*])
            }
            #[allow(unused_variables)]
            fn decode(b: &[Vec<u8>]) -> Result<Self, String> {
                if b.len() != $len {
                    return Err(format!("expected {} arguments, got {}", $len, b.len()));
                }
                Ok(($(decode::<$T>(&b[$i])?,)*))
            }
        }
        impl<$($T, $X: IntoArg<$T>),*> IntoArgs<($($T,)*)> for ($($X,)*) {
            #[allow(clippy::vec_init_then_push)]
            fn into_slots(self) -> Vec<ArgSlot> {
                vec![$(self.$i.into_slot()),*]
            }
        }
    };
}

tuple_impls!(0;);
tuple_impls!(1; A XA 0);
tuple_impls!(2; A XA 0, B XB 1);
tuple_impls!(3; A XA 0, B XB 1, C XC 2);
tuple_impls!(4; A XA 0, B XB 1, C XC 2, D XD 3);
tuple_impls!(5; A XA 0, B XB 1, C XC 2, D XD 3, E XE 4);
tuple_impls!(6; A XA 0, B XB 1, C XC 2, D XD 3, E XE 4, F XF 5);
