//! `Blob`: bytes shared, not copied, between the frame they arrived in and the values read
//! from it.

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize};
use std::cell::RefCell;

/// Bytes that cross processes and nodes without being copied (what numpy arrays are to Ray's
/// zero-copy serialization): a task that returns a `Blob` sends it as it is, with no encoding
/// pass, and one read off a socket points into the buffer it arrived in. A clone shares the
/// bytes. Serialized as one byte string (serde writes a `Vec<u8>` byte by byte).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Blob(pub Bytes);

impl From<Vec<u8>> for Blob {
    fn from(v: Vec<u8>) -> Blob {
        Blob(Bytes::from(v))
    }
}

impl std::ops::Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

thread_local! {
    /// Buffers being decoded on this thread, innermost last (see [`sharing`]).
    static SOURCES: RefCell<Vec<Bytes>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` (a decode of `b`'s bytes) so that byte strings inside `b` become [`Blob`]s that
/// share `b`'s memory instead of copies of it.
pub(crate) fn sharing<R>(b: &Bytes, f: impl FnOnce() -> R) -> R {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            SOURCES.with(|s| s.borrow_mut().pop());
        }
    }
    SOURCES.with(|s| s.borrow_mut().push(b.clone()));
    let _pop = Pop;
    f()
}

/// `v` as a slice of the buffer being decoded that holds it, if one does.
fn shared(v: &[u8]) -> Option<Bytes> {
    let (start, end) = (v.as_ptr() as usize, v.as_ptr() as usize + v.len());
    SOURCES.with(|s| {
        s.borrow().iter().rev().find_map(|b| {
            let (lo, hi) = (b.as_ptr() as usize, b.as_ptr() as usize + b.len());
            (lo <= start && end <= hi).then(|| b.slice(start - lo..end - lo))
        })
    })
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Blob, E> {
                if v.is_empty() {
                    return Ok(Blob::default());
                }
                Ok(Blob(shared(v).unwrap_or_else(|| Bytes::copy_from_slice(v))))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Blob, E> {
                Ok(Blob::from(v))
            }
        }
        d.deserialize_bytes(V)
    }
}
