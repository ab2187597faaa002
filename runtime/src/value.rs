//! How values travel: as `Arc<dyn Any>` inside the driver, as postcard bytes to and from worker
//! processes.

use crate::blob::sharing;
pub use crate::blob::Blob;
use crate::ids::ObjectId;
use crate::object_ref::{note_serialized, token_for_deserialized, ErasedRef, ObjectRef};
use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize};
use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

/// A stored value; shared, never copied inside one process.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// A value that may cross into a worker process: serde both ways, cheap enough to clone.
pub trait Data: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Data for T {}

/// A value that arrived as bytes (a `put` or an argument from a worker process) and is read
/// as whichever type asks for it. The refs it contains stay alive as long as it does.
pub(crate) struct Serialized {
    /// The postcard encoding.
    pub bytes: Blob,
    /// Tokens of the refs inside the bytes.
    pub pins: Vec<ErasedRef>,
}

impl Serialized {
    /// Ids of the refs inside.
    pub fn contained(&self) -> impl Iterator<Item = ObjectId> + '_ {
        self.pins.iter().map(|p| p.id())
    }

    /// The bytes, to pass on as they are; the refs inside are noted as serialized again.
    pub fn pass_on(&self) -> Blob {
        for id in self.contained() {
            note_serialized(id);
        }
        self.bytes.clone()
    }
}

/// A result as it crosses a process boundary: its postcard bytes, or a [`Blob`] sent as it
/// is (a large buffer is not copied into an encoding first; the receiver takes it as is).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) enum WireValue {
    /// The postcard encoding of the value.
    Encoded(Blob),
    /// The value, a `Blob`.
    Raw(Blob),
}

/// `v` ready to send: a `Blob` goes as it is, anything else is encoded.
pub(crate) fn to_wire<T: Data>(v: T) -> Result<WireValue, String> {
    let mut slot = Some(v);
    if let Some(b) = (&mut slot as &mut dyn Any).downcast_mut::<Option<Blob>>() {
        return Ok(WireValue::Raw(b.take().unwrap_or_default()));
    }
    match &slot {
        Some(v) => encode_value(v).map(|b| WireValue::Encoded(Blob::from(b))),
        None => Err("value already sent".into()),
    }
}

/// A stored value of type `T` from what [`to_wire`] sent.
pub(crate) fn from_wire<T: Data>(w: &WireValue) -> Result<Value, String> {
    match w {
        WireValue::Encoded(b) => decode_value::<T>(b),
        WireValue::Raw(b) if std::any::TypeId::of::<T>() == std::any::TypeId::of::<Blob>() => {
            Ok(Arc::new(b.clone()) as Value)
        }
        WireValue::Raw(_) => Err(format!(
            "a Blob arrived where a {} was expected",
            std::any::type_name::<T>()
        )),
    }
}

/// Serializes a value.
pub(crate) fn encode_value<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(v).map_err(|e| e.to_string())
}

/// Deserializes a value.
pub(crate) fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, String> {
    postcard::from_bytes(b).map_err(|e| e.to_string())
}

/// Deserializes a blob, sharing its memory with the byte strings inside it.
pub(crate) fn decode_blob<T: DeserializeOwned>(b: &Blob) -> Result<T, String> {
    sharing(&b.0, || decode(&b.0))
}

/// Deserializes bytes into a stored value of type `T` (a [`crate::object_ref::Decoder`]).
pub(crate) fn decode_value<T: Data>(b: &Blob) -> Result<Value, String> {
    decode_blob::<T>(b).map(|v| Arc::new(v) as Value)
}

/// A stored value as type `T`: the value itself, or its bytes read as `T`.
pub(crate) fn read_as<T: Data>(v: &Value) -> Result<T, String> {
    if let Some(x) = v.downcast_ref::<T>() {
        return Ok(x.clone());
    }
    match v.downcast_ref::<Serialized>() {
        Some(s) => decode_blob::<T>(&s.bytes),
        None => Err(format!("value is not a {}", std::any::type_name::<T>())),
    }
}

/// How to serialize a stored value without knowing its type (to send it to a worker process).
pub(crate) trait Codec: Send + Sync {
    /// The value's bytes.
    fn encode(&self, v: &Value) -> Result<Blob, String>;
    /// Its serialized size, for the object table.
    fn size(&self, v: &Value) -> Option<usize>;
}

struct CodecOf<T>(PhantomData<fn() -> T>);

impl<T: Data> Codec for CodecOf<T> {
    fn encode(&self, v: &Value) -> Result<Blob, String> {
        match v.downcast_ref::<T>() {
            Some(x) => encode_value(x).map(Blob::from),
            None => match v.downcast_ref::<Serialized>() {
                Some(s) => Ok(s.pass_on()),
                None => Err(format!("value is not a {}", std::any::type_name::<T>())),
            },
        }
    }
    fn size(&self, v: &Value) -> Option<usize> {
        match v.downcast_ref::<T>() {
            Some(x) => postcard::experimental::serialized_size(x).ok(),
            None => v.downcast_ref::<Serialized>().map(|s| s.bytes.len()),
        }
    }
}

/// The codec of type `T` (a promoted constant: no allocation).
pub(crate) fn codec<T: Data>() -> &'static dyn Codec {
    &CodecOf::<T>(PhantomData)
}

/// The codec of values that arrived as bytes.
pub(crate) fn serialized_codec() -> &'static dyn Codec {
    &SerializedCodec
}

struct SerializedCodec;

impl Codec for SerializedCodec {
    fn encode(&self, v: &Value) -> Result<Blob, String> {
        v.downcast_ref::<Serialized>()
            .map(Serialized::pass_on)
            .ok_or_else(|| "value is not serialized".to_string())
    }
    fn size(&self, v: &Value) -> Option<usize> {
        v.downcast_ref::<Serialized>().map(|s| s.bytes.len())
    }
}

impl<'de, T: Data> Deserialize<'de> for ObjectRef<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = ObjectId::deserialize(d)?;
        Ok(ObjectRef::from_token(
            token_for_deserialized(id),
            Some(decode_value::<T>),
        ))
    }
}
