//! Functions and actor types registered by name, so a worker process can find the code that a
//! driver asks it to run. Thread mode calls the same statics directly, without serde.

use crate::args::{ArgSlot, ArgTuple, WireArg};
use crate::error::TaskError;
use crate::value::{codec, from_wire, to_wire, Blob, Codec, Data, Value, WireValue};
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Type-erased view of a remote function; what the scheduler and workers hold.
pub(crate) trait ErasedFn: Send + Sync {
    /// Registered name.
    fn name(&self) -> &'static str;
    /// Runs with resolved arguments (thread mode).
    fn invoke(&self, args: Vec<ArgSlot>) -> Result<Value, TaskError>;
    /// Serializes resolved arguments for a worker process.
    fn encode_args(&self, args: &[ArgSlot]) -> Result<Vec<Blob>, String>;
    /// Arguments as a worker process sends them to the driver (refs stay refs).
    fn wire_args(&self, args: Vec<ArgSlot>) -> Result<Vec<WireArg>, String>;
    /// Runs inside a worker process on serialized arguments, returning the serialized result.
    fn invoke_bytes(&self, args: &[Blob]) -> Result<WireValue, TaskError>;
    /// Deserializes a worker process's result into a stored value.
    fn decode_result(&self, b: &WireValue) -> Result<Value, String>;
    /// How to serialize its result (for `get` in a worker process, and its size).
    fn result_codec(&self) -> &'static dyn Codec;
}

/// Type-erased view of an actor class: how to construct its state.
pub(crate) trait ErasedClass: Send + Sync {
    /// Registered name.
    fn name(&self) -> &'static str;
    /// Builds the state from resolved arguments (thread mode).
    fn construct(&self, args: Vec<ArgSlot>) -> Result<Box<dyn Any + Send>, TaskError>;
    /// Serializes constructor arguments for a worker process.
    fn encode_args(&self, args: &[ArgSlot]) -> Result<Vec<Blob>, String>;
    /// Arguments as a worker process sends them to the driver (refs stay refs).
    fn wire_args(&self, args: Vec<ArgSlot>) -> Result<Vec<WireArg>, String>;
    /// Builds the state inside a worker process.
    fn construct_bytes(&self, args: &[Blob]) -> Result<Box<dyn Any + Send>, TaskError>;
}

/// Type-erased view of an actor method.
pub(crate) trait ErasedMethod: Send + Sync {
    /// Registered name.
    fn name(&self) -> &'static str;
    /// Runs on the state with resolved arguments (thread mode).
    fn invoke(&self, state: &mut (dyn Any + Send), args: Vec<ArgSlot>) -> Result<Value, TaskError>;
    /// Serializes resolved arguments for a worker process.
    fn encode_args(&self, args: &[ArgSlot]) -> Result<Vec<Blob>, String>;
    /// Arguments as a worker process sends them to the driver (refs stay refs).
    fn wire_args(&self, args: Vec<ArgSlot>) -> Result<Vec<WireArg>, String>;
    /// Runs inside a worker process.
    fn invoke_bytes(
        &self,
        state: &mut (dyn Any + Send),
        args: &[Blob],
    ) -> Result<WireValue, TaskError>;
    /// Deserializes a worker process's result into a stored value.
    fn decode_result(&self, b: &WireValue) -> Result<Value, String>;
    /// How to serialize its result.
    fn result_codec(&self) -> &'static dyn Codec;
}

type FnBody<Args, R> = Body<fn(Args) -> R, fn(Args) -> Result<R, TaskError>>;
type MethodBody<A, Args, R> = Body<fn(&mut A, Args) -> R, fn(&mut A, Args) -> Result<R, TaskError>>;

enum Body<F, G> {
    Plain(F),
    Fallible(G),
}

/// A remote function: a name plus a plain `fn`; declare with [`remote_fn!`](crate::remote_fn)
/// or as a `static` and register it with [`register!`](crate::register).
pub struct RemoteFn<Args, R> {
    name: &'static str,
    body: FnBody<Args, R>,
}

impl<Args: ArgTuple, R: Data> RemoteFn<Args, R> {
    /// A function that cannot fail except by panicking.
    pub const fn new(name: &'static str, f: fn(Args) -> R) -> Self {
        RemoteFn {
            name,
            body: Body::Plain(f),
        }
    }
    /// A function whose `Err` becomes a `TaskFailed` error at `get`.
    pub const fn fallible(name: &'static str, f: fn(Args) -> Result<R, TaskError>) -> Self {
        RemoteFn {
            name,
            body: Body::Fallible(f),
        }
    }
    /// Registered name.
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// Runs the function here, now, without the runtime.
    pub fn call_local(&self, args: Args) -> Result<R, TaskError> {
        match &self.body {
            Body::Plain(f) => Ok(f(args)),
            Body::Fallible(f) => f(args),
        }
    }
    /// The inventory entry that makes this function known to worker processes.
    pub const fn registration(&'static self) -> Registration {
        Registration(Entry::Function(self))
    }
}

impl<Args: ArgTuple, R: Data> ErasedFn for RemoteFn<Args, R> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn invoke(&self, args: Vec<ArgSlot>) -> Result<Value, TaskError> {
        let a = Args::from_slots(args).map_err(TaskError)?;
        self.call_local(a).map(|r| Arc::new(r) as Value)
    }
    fn encode_args(&self, args: &[ArgSlot]) -> Result<Vec<Blob>, String> {
        Args::encode_slots(args)
    }
    fn wire_args(&self, args: Vec<ArgSlot>) -> Result<Vec<WireArg>, String> {
        Args::to_wire(args)
    }
    fn invoke_bytes(&self, args: &[Blob]) -> Result<WireValue, TaskError> {
        let a = Args::decode(args).map_err(TaskError)?;
        let r = self.call_local(a)?;
        to_wire(r).map_err(TaskError)
    }
    fn decode_result(&self, b: &WireValue) -> Result<Value, String> {
        from_wire::<R>(b)
    }
    fn result_codec(&self) -> &'static dyn Codec {
        codec::<R>()
    }
}

/// An actor class: a name and a constructor from serde arguments.
pub struct ActorClass<A, Args> {
    name: &'static str,
    ctor: fn(Args) -> A,
}

impl<A: Send + 'static, Args: ArgTuple> ActorClass<A, Args> {
    /// Declares a class; register it with [`register!`](crate::register) for process mode.
    pub const fn new(name: &'static str, ctor: fn(Args) -> A) -> Self {
        ActorClass { name, ctor }
    }
    /// Registered name.
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// The inventory entry that makes this class known to worker processes.
    pub const fn registration(&'static self) -> Registration {
        Registration(Entry::Class(self))
    }
}

impl<A: Send + 'static, Args: ArgTuple> ErasedClass for ActorClass<A, Args> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn construct(&self, args: Vec<ArgSlot>) -> Result<Box<dyn Any + Send>, TaskError> {
        let a = Args::from_slots(args).map_err(TaskError)?;
        Ok(Box::new((self.ctor)(a)))
    }
    fn encode_args(&self, args: &[ArgSlot]) -> Result<Vec<Blob>, String> {
        Args::encode_slots(args)
    }
    fn wire_args(&self, args: Vec<ArgSlot>) -> Result<Vec<WireArg>, String> {
        Args::to_wire(args)
    }
    fn construct_bytes(&self, args: &[Blob]) -> Result<Box<dyn Any + Send>, TaskError> {
        let a = Args::decode(args).map_err(TaskError)?;
        Ok(Box::new((self.ctor)(a)))
    }
}

/// A named actor method: `fn(&mut A, Args) -> R`, callable in both worker modes.
pub struct ActorMethod<A, Args, R> {
    name: &'static str,
    body: MethodBody<A, Args, R>,
}

impl<A: Send + 'static, Args: ArgTuple, R: Data> ActorMethod<A, Args, R> {
    /// A method that cannot fail except by panicking.
    pub const fn new(name: &'static str, f: fn(&mut A, Args) -> R) -> Self {
        ActorMethod {
            name,
            body: Body::Plain(f),
        }
    }
    /// A method whose `Err` becomes a `TaskFailed` error at `get`.
    pub const fn fallible(name: &'static str, f: fn(&mut A, Args) -> Result<R, TaskError>) -> Self {
        ActorMethod {
            name,
            body: Body::Fallible(f),
        }
    }
    /// Registered name.
    pub fn name(&self) -> &'static str {
        self.name
    }
    fn call(&self, a: &mut A, args: Args) -> Result<R, TaskError> {
        match &self.body {
            Body::Plain(f) => Ok(f(a, args)),
            Body::Fallible(f) => f(a, args),
        }
    }
    fn state<'a>(&self, s: &'a mut (dyn Any + Send)) -> Result<&'a mut A, TaskError> {
        s.downcast_mut::<A>()
            .ok_or_else(|| TaskError::msg(format!("{}: actor state has another type", self.name)))
    }
    /// The inventory entry that makes this method known to worker processes.
    pub const fn registration(&'static self) -> Registration {
        Registration(Entry::Method(self))
    }
}

impl<A: Send + 'static, Args: ArgTuple, R: Data> ErasedMethod for ActorMethod<A, Args, R> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn invoke(&self, state: &mut (dyn Any + Send), args: Vec<ArgSlot>) -> Result<Value, TaskError> {
        let a = Args::from_slots(args).map_err(TaskError)?;
        let s = self.state(state)?;
        self.call(s, a).map(|r| Arc::new(r) as Value)
    }
    fn encode_args(&self, args: &[ArgSlot]) -> Result<Vec<Blob>, String> {
        Args::encode_slots(args)
    }
    fn wire_args(&self, args: Vec<ArgSlot>) -> Result<Vec<WireArg>, String> {
        Args::to_wire(args)
    }
    fn invoke_bytes(
        &self,
        state: &mut (dyn Any + Send),
        args: &[Blob],
    ) -> Result<WireValue, TaskError> {
        let a = Args::decode(args).map_err(TaskError)?;
        let s = self.state(state)?;
        let r = self.call(s, a)?;
        to_wire(r).map_err(TaskError)
    }
    fn decode_result(&self, b: &WireValue) -> Result<Value, String> {
        from_wire::<R>(b)
    }
    fn result_codec(&self) -> &'static dyn Codec {
        codec::<R>()
    }
}

/// One registered item, collected across the whole binary by `inventory` (opaque: made by
/// `registration()` inside [`register!`](crate::register) and [`remote_fn!`](crate::remote_fn)).
pub struct Registration(Entry);

enum Entry {
    Function(&'static dyn ErasedFn),
    Class(&'static dyn ErasedClass),
    Method(&'static dyn ErasedMethod),
}

inventory::collect!(Registration);

/// Name tables built once from everything registered in this binary.
#[derive(Default)]
pub(crate) struct Registry {
    pub functions: HashMap<&'static str, &'static dyn ErasedFn>,
    pub classes: HashMap<&'static str, &'static dyn ErasedClass>,
    pub methods: HashMap<&'static str, &'static dyn ErasedMethod>,
}

pub(crate) fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut r = Registry::default();
        for item in inventory::iter::<Registration> {
            match item.0 {
                Entry::Function(f) => {
                    r.functions.insert(f.name(), f);
                }
                Entry::Class(c) => {
                    r.classes.insert(c.name(), c);
                }
                Entry::Method(m) => {
                    r.methods.insert(m.name(), m);
                }
            }
        }
        r
    })
}

/// Registers statics (functions, actor classes, actor methods) by name for worker processes.
#[macro_export]
macro_rules! register {
    ($($item:path),* $(,)?) => {
        $( $crate::inventory::submit! { $item.registration() } )*
    };
}

/// Declares a registered remote function as a `static` of the same name:
/// `remote_fn! { pub fn add(a: i32, b: i32) -> i32 { a + b } }` then `rt.remote(&add, (1, 2))`.
#[macro_export]
macro_rules! remote_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$m])*
        #[allow(non_upper_case_globals)]
        $vis static $name: $crate::RemoteFn<($($ty,)*), $ret> = $crate::RemoteFn::new(
            concat!(module_path!(), "::", stringify!($name)),
            |($($arg,)*): ($($ty,)*)| -> $ret { $body },
        );
        $crate::inventory::submit! { $name.registration() }
    };
}
