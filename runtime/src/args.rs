//! Task arguments: typed tuples on the API side, erased slots inside the runtime.
//!
//! The public traits ([`ArgTuple`], [`IntoArg`], [`IntoArgs`]) only name which tuples and
//! which argument forms are accepted; their methods live in sealed supertraits, so the slot type
//! the runtime uses inside stays private and users cannot implement them.

use crate::ids::ObjectId;
use crate::object_ref::{collect_refs, ErasedRef, ObjectRef};
use crate::value::{decode_blob, encode_value, read_as, Blob, Data, Serialized, Value};
use serde::{Deserialize, Serialize};
use std::any::Any;

/// One argument of a task as submitted, then as resolved. (Nominally `pub` for the sealed
/// traits' signatures; the `args` module is private, so no user can name it.)
pub enum ArgSlot {
    /// Passed by value: moved into the task, no clone in thread mode.
    Owned(Box<dyn Any + Send>, &'static str),
    /// An `ObjectRef` not yet resolved; the scheduler waits for it.
    Ref(ErasedRef),
    /// A resolved reference (or bytes from a worker process): the stored value, shared.
    Ready(Value),
}

impl ArgSlot {
    /// Whether it still waits for an object.
    pub fn is_ref(&self) -> bool {
        matches!(self, ArgSlot::Ref(_))
    }
}

/// One argument as a worker process sends it to the driver (nominally `pub`, like `ArgSlot`).
#[derive(Serialize, Deserialize, Debug)]
pub enum WireArg {
    /// A value: its bytes and the ids of the refs inside them.
    Value {
        /// The postcard encoding.
        bytes: Blob,
        /// Refs serialized inside `bytes`.
        contained: Vec<ObjectId>,
    },
    /// A ref, resolved by the driver's scheduler like any other.
    Ref(ObjectId),
}

fn take<T: Data>(slot: ArgSlot) -> Result<T, String> {
    match slot {
        ArgSlot::Owned(b, _) => b
            .downcast::<T>()
            .map(|b| *b)
            .map_err(|_| format!("argument is not a {}", std::any::type_name::<T>())),
        ArgSlot::Ready(v) => read_as::<T>(&v),
        ArgSlot::Ref(_) => Err("argument was not resolved".into()),
    }
}

fn encode<T: Data>(slot: &ArgSlot) -> Result<Blob, String> {
    match slot {
        ArgSlot::Owned(b, _) => b
            .downcast_ref::<T>()
            .ok_or_else(|| format!("argument is not a {}", std::any::type_name::<T>()))
            .and_then(encode_value)
            .map(Blob::from),
        ArgSlot::Ready(v) => match v.downcast_ref::<T>() {
            Some(x) => encode_value(x).map(Blob::from),
            None => v
                .downcast_ref::<Serialized>()
                .map(Serialized::pass_on)
                .ok_or_else(|| format!("argument is not a {}", std::any::type_name::<T>())),
        },
        ArgSlot::Ref(_) => Err("argument was not resolved".into()),
    }
}

fn wire<T: Data>(slot: ArgSlot) -> Result<WireArg, String> {
    match slot {
        ArgSlot::Ref(r) => Ok(WireArg::Ref(r.id())),
        other => {
            let (bytes, contained) = collect_refs(|| encode::<T>(&other));
            Ok(WireArg::Value {
                bytes: bytes?,
                contained,
            })
        }
    }
}

pub(crate) mod sealed {
    use super::{ArgSlot, Blob, WireArg};

    /// The methods of [`super::ArgTuple`].
    pub trait Args: Send + 'static + Sized {
        /// Number of arguments.
        const LEN: usize;
        /// Builds the tuple from resolved slots (thread mode).
        fn from_slots(v: Vec<ArgSlot>) -> Result<Self, String>;
        /// Serializes resolved slots for a worker process.
        fn encode_slots(v: &[ArgSlot]) -> Result<Vec<Blob>, String>;
        /// Deserializes arguments inside a worker process.
        fn decode(b: &[Blob]) -> Result<Self, String>;
        /// Slots as a worker process sends them to the driver.
        fn to_wire(v: Vec<ArgSlot>) -> Result<Vec<WireArg>, String>;
    }

    /// The method of [`super::IntoArg`].
    pub trait IntoSlot<T> {
        /// Converts into a slot of the task spec.
        fn into_slot(self) -> ArgSlot;
    }

    /// The method of [`super::IntoArgs`].
    pub trait IntoSlots<Args> {
        /// Converts into the task's argument slots.
        fn into_slots(self) -> Vec<ArgSlot>;
    }
}

/// A tuple of argument types a registered function or method takes: `()`, `(A,)` .. `(A, .., F)`
/// of [`Data`] types.
pub trait ArgTuple: sealed::Args {}

/// Something usable as an argument of type `T`: the value itself or an `ObjectRef<T>` to it.
pub trait IntoArg<T>: sealed::IntoSlot<T> {}

/// A tuple of arguments matching `Args`, each a value or a ref.
pub trait IntoArgs<Args>: sealed::IntoSlots<Args> {}

impl<T: Send + 'static> sealed::IntoSlot<T> for T {
    fn into_slot(self) -> ArgSlot {
        ArgSlot::Owned(Box::new(self), std::any::type_name::<T>())
    }
}
impl<T: Send + 'static> IntoArg<T> for T {}

impl<T> sealed::IntoSlot<T> for ObjectRef<T> {
    fn into_slot(self) -> ArgSlot {
        ArgSlot::Ref(self.erase())
    }
}
impl<T> IntoArg<T> for ObjectRef<T> {}

impl<T> sealed::IntoSlot<T> for &ObjectRef<T> {
    fn into_slot(self) -> ArgSlot {
        ArgSlot::Ref(self.token().clone())
    }
}
impl<T> IntoArg<T> for &ObjectRef<T> {}

macro_rules! tuple_impls {
    ($len:expr; $($T:ident $X:ident $i:tt),*) => {
        impl<$($T: Data),*> sealed::Args for ($($T,)*) {
            const LEN: usize = $len;
            #[allow(unused_mut, unused_variables)]
            fn from_slots(v: Vec<ArgSlot>) -> Result<Self, String> {
                if v.len() != $len {
                    return Err(format!("expected {} arguments, got {}", $len, v.len()));
                }
                let mut it = v.into_iter();
                Ok(($(take::<$T>(it.next().ok_or("missing argument")?)?,)*))
            }
            #[allow(unused_variables)]
            fn encode_slots(v: &[ArgSlot]) -> Result<Vec<Blob>, String> {
                if v.len() != $len {
                    return Err(format!("expected {} arguments, got {}", $len, v.len()));
                }
                Ok(vec![$(encode::<$T>(&v[$i])?),*])
            }
            #[allow(unused_variables)]
            fn decode(b: &[Blob]) -> Result<Self, String> {
                if b.len() != $len {
                    return Err(format!("expected {} arguments, got {}", $len, b.len()));
                }
                Ok(($(decode_blob::<$T>(&b[$i])?,)*))
            }
            #[allow(unused_mut, unused_variables)]
            fn to_wire(v: Vec<ArgSlot>) -> Result<Vec<WireArg>, String> {
                if v.len() != $len {
                    return Err(format!("expected {} arguments, got {}", $len, v.len()));
                }
                let mut it = v.into_iter();
                Ok(vec![$(wire::<$T>(it.next().ok_or("missing argument")?)?),*])
            }
        }
        impl<$($T: Data),*> ArgTuple for ($($T,)*) {}
        impl<$($T, $X: IntoArg<$T>),*> sealed::IntoSlots<($($T,)*)> for ($($X,)*) {
            #[allow(clippy::vec_init_then_push)]
            fn into_slots(self) -> Vec<ArgSlot> {
                vec![$(sealed::IntoSlot::<$T>::into_slot(self.$i)),*]
            }
        }
        impl<$($T, $X: IntoArg<$T>),*> IntoArgs<($($T,)*)> for ($($X,)*) {}
    };
}

tuple_impls!(0;);
tuple_impls!(1; A XA 0);
tuple_impls!(2; A XA 0, B XB 1);
tuple_impls!(3; A XA 0, B XB 1, C XC 2);
tuple_impls!(4; A XA 0, B XB 1, C XC 2, D XD 3);
tuple_impls!(5; A XA 0, B XB 1, C XC 2, D XD 3, E XE 4);
tuple_impls!(6; A XA 0, B XB 1, C XC 2, D XD 3, E XE 4, F XF 5);
