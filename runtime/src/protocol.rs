//! The driver <-> worker process wire format: length-prefixed postcard frames over a Unix socket.
//!
//! One connection carries both directions of one worker's traffic: the driver's requests
//! (run a task, build or call an actor) and, while one of those runs, the worker's own requests
//! to the driver (submit, put, get, wait, actors): the same calls a `RuntimeHandle` makes, so a
//! remote node will speak this too (over TCP, after authenticating).
//!
//! Frames are bounded ([`MAX_FRAME`]); a frame that does not decode is an error, never a panic,
//! and nothing in a message nests without bound (errors travel as a flat chain).

use crate::args::WireArg;
use crate::error::RuntimeError;
use crate::ids::{ActorId, ObjectId, TaskId};
use crate::resources::Resources;
use crate::value::{Blob, WireValue};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::time::Duration;

/// Set in a worker process's environment: the driver's socket to connect to.
pub(crate) const SOCKET_ENV: &str = "RUNTIME_WORKER_SOCKET";
/// Set in the environment of a worker another node started: the driver's `HOST:PORT`.
pub(crate) const ADDRESS_ENV: &str = "RUNTIME_WORKER_ADDRESS";
/// Set in the environment of a worker another node started: the spawn request it answers.
pub(crate) const NONCE_ENV: &str = "RUNTIME_WORKER_NONCE";

/// Largest frame accepted (a chunked one, in total), so a corrupt length cannot make a process
/// allocate without bound.
pub(crate) const MAX_FRAME: usize = 1 << 34;
/// Largest chunk: a frame longer than this crosses as a run of chunks, so no single read or
/// write is unbounded, and a plain frame's length (a corrupt one too) stays small.
pub(crate) const CHUNK: usize = 4 << 20;
/// The length word that announces a chunked frame (no plain frame is that long).
const CHUNKED: u32 = u32::MAX;

/// A message from the driver.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum ToWorker {
    /// Run a registered function on serialized arguments.
    RunTask {
        task: TaskId,
        function: String,
        args: Vec<Blob>,
    },
    /// Build this process's actor state.
    CreateActor {
        task: TaskId,
        class: String,
        args: Vec<Blob>,
    },
    /// Call a registered method on this process's actor.
    CallMethod {
        task: TaskId,
        method: String,
        args: Vec<Blob>,
    },
    /// The answer to the worker's last `Request`.
    Reply(Reply),
    /// Exit cleanly.
    Exit,
}

/// Refs and actor handles a worker process dropped since its last message.
#[derive(Serialize, Deserialize, Debug, Default)]
pub(crate) struct Released {
    pub objects: Vec<ObjectId>,
    pub actors: Vec<ActorId>,
}

/// A message from a worker process.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum FromWorker {
    /// Sent once after connecting; `nonce` names the spawn request a worker on another node
    /// answers (0 on this machine).
    Hello { pid: u32, nonce: u64 },
    /// A task, constructor or method finished: the serialized result, or the failure message.
    Done {
        task: TaskId,
        result: Result<WireValue, String>,
        released: Released,
    },
    /// A call of the runtime's API from code running in the worker.
    Request {
        request: Request,
        released: Released,
    },
}

/// What code inside a worker process asks of the driver's runtime.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Request {
    /// Submit a registered function.
    Submit {
        function: String,
        args: Vec<WireArg>,
        resources: Resources,
        max_retries: u32,
    },
    /// Store a value.
    Put {
        bytes: Blob,
        contained: Vec<ObjectId>,
    },
    /// Values of objects, in order (the first error wins).
    Get {
        ids: Vec<ObjectId>,
        timeout: Option<Duration>,
    },
    /// Which objects are done, once `num_returns` are or the timeout passes.
    Wait {
        ids: Vec<ObjectId>,
        num_returns: usize,
        timeout: Option<Duration>,
    },
    /// Create an actor of a registered class.
    CreateActor {
        class: String,
        args: Vec<WireArg>,
        resources: Option<Resources>,
        max_restarts: u32,
    },
    /// Call a registered method of an actor.
    CallActor {
        actor: ActorId,
        method: String,
        args: Vec<WireArg>,
    },
    /// Stop an actor after its queued calls.
    KillActor { actor: ActorId },
    /// An object that holds this error (a submission that failed in the worker).
    Fail { error: WireError },
    /// The node's total (or currently free) resources.
    Resources { available: bool },
}

/// The driver's answer to a `Request`.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Reply {
    /// The new object (a task's return value, a put, an actor call's result).
    Object(Result<ObjectId, WireError>),
    /// The new actor and the object that resolves once it is built.
    Actor(Result<(ActorId, ObjectId), WireError>),
    /// Serialized values, in the order asked for.
    Values(Result<Vec<Blob>, WireError>),
    /// For each id of a `Wait`, whether it is done.
    Ready(Vec<bool>),
    /// Resources.
    Resources(Resources),
    /// Done, nothing to return.
    Done,
}

/// A `RuntimeError` on the wire: the chain of upstream failures flattened into a list, so
/// decoding never recurses.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct WireError(Vec<ErrorLevel>);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum ErrorLevel {
    Upstream {
        function: String,
        task_id: TaskId,
    },
    TaskFailed {
        function: String,
        task_id: TaskId,
        message: String,
    },
    WorkerDied {
        function: String,
        task_id: TaskId,
        attempts: u32,
    },
    ActorDied {
        class: String,
        actor_id: ActorId,
        message: String,
    },
    ObjectLost(ObjectId, String),
    Impossible {
        requested: Resources,
        total: Resources,
    },
    Timeout(Duration),
    Unsupported(String),
    Serialization(String),
    InvalidArgument(String),
    Protocol(String),
    Shutdown,
}

impl From<&RuntimeError> for WireError {
    fn from(e: &RuntimeError) -> Self {
        let mut levels = Vec::new();
        let mut e = e;
        loop {
            let level = match e {
                RuntimeError::UpstreamFailed {
                    function,
                    task_id,
                    cause,
                } => {
                    levels.push(ErrorLevel::Upstream {
                        function: function.clone(),
                        task_id: *task_id,
                    });
                    e = cause;
                    continue;
                }
                RuntimeError::TaskFailed {
                    function,
                    task_id,
                    message,
                } => ErrorLevel::TaskFailed {
                    function: function.clone(),
                    task_id: *task_id,
                    message: message.clone(),
                },
                RuntimeError::WorkerDied {
                    function,
                    task_id,
                    attempts,
                } => ErrorLevel::WorkerDied {
                    function: function.clone(),
                    task_id: *task_id,
                    attempts: *attempts,
                },
                RuntimeError::ActorDied {
                    class,
                    actor_id,
                    message,
                } => ErrorLevel::ActorDied {
                    class: class.clone(),
                    actor_id: *actor_id,
                    message: message.clone(),
                },
                RuntimeError::ObjectLost(id, m) => ErrorLevel::ObjectLost(*id, m.clone()),
                RuntimeError::Impossible { requested, total } => ErrorLevel::Impossible {
                    requested: requested.clone(),
                    total: total.clone(),
                },
                RuntimeError::Timeout(d) => ErrorLevel::Timeout(*d),
                RuntimeError::Unsupported(m) => ErrorLevel::Unsupported(m.clone()),
                RuntimeError::InvalidArgument(m) => ErrorLevel::InvalidArgument(m.clone()),
                RuntimeError::Protocol(m) => ErrorLevel::Protocol(m.clone()),
                RuntimeError::Shutdown => ErrorLevel::Shutdown,
                // Serialization, and a type mismatch (only ever raised where the value is read).
                other => ErrorLevel::Serialization(other.to_string()),
            };
            levels.push(level);
            return WireError(levels);
        }
    }
}

/// Longest upstream chain accepted from the wire (deeper nesting would recurse when dropped).
const MAX_CHAIN: usize = 4096;

impl From<WireError> for RuntimeError {
    fn from(w: WireError) -> Self {
        if w.0.len() > MAX_CHAIN {
            return RuntimeError::Protocol(format!(
                "error chain of {} levels exceeds {MAX_CHAIN}",
                w.0.len()
            ));
        }
        let mut levels = w.0.into_iter().rev();
        let mut e = match levels.next() {
            Some(ErrorLevel::TaskFailed {
                function,
                task_id,
                message,
            }) => RuntimeError::TaskFailed {
                function,
                task_id,
                message,
            },
            Some(ErrorLevel::WorkerDied {
                function,
                task_id,
                attempts,
            }) => RuntimeError::WorkerDied {
                function,
                task_id,
                attempts,
            },
            Some(ErrorLevel::ActorDied {
                class,
                actor_id,
                message,
            }) => RuntimeError::ActorDied {
                class,
                actor_id,
                message,
            },
            Some(ErrorLevel::ObjectLost(id, m)) => RuntimeError::ObjectLost(id, m),
            Some(ErrorLevel::Impossible { requested, total }) => {
                RuntimeError::Impossible { requested, total }
            }
            Some(ErrorLevel::Timeout(d)) => RuntimeError::Timeout(d),
            Some(ErrorLevel::Unsupported(m)) => RuntimeError::Unsupported(m),
            Some(ErrorLevel::Serialization(m)) => RuntimeError::Serialization(m),
            Some(ErrorLevel::InvalidArgument(m)) => RuntimeError::InvalidArgument(m),
            Some(ErrorLevel::Protocol(m)) => RuntimeError::Protocol(m),
            Some(ErrorLevel::Shutdown) => RuntimeError::Shutdown,
            Some(ErrorLevel::Upstream { .. }) | None => {
                return RuntimeError::Protocol("malformed error chain".into())
            }
        };
        for level in levels {
            match level {
                ErrorLevel::Upstream { function, task_id } => {
                    e = RuntimeError::UpstreamFailed {
                        function,
                        task_id,
                        cause: Box::new(e),
                    }
                }
                _ => return RuntimeError::Protocol("malformed error chain".into()),
            }
        }
        e
    }
}

/// Writes one frame, serialized straight into `w` (a large value crosses without a second copy
/// of it on the sending side; messages hold already-encoded values, so serializing twice, once
/// to size it, calls no hooks). Up to [`CHUNK`] bytes: a little-endian u32 length, then the
/// postcard bytes. Longer: [`CHUNKED`], the u64 total, then chunks of at most [`CHUNK`] bytes,
/// each after its u32 length.
pub(crate) fn write_frame<T: Serialize, W: Write>(w: &mut W, msg: &T) -> io::Result<()> {
    let invalid = |e| io::Error::new(io::ErrorKind::InvalidData, e);
    let len = postcard::serialize_with_flavor(msg, postcard::ser_flavors::Size::default())
        .map_err(invalid)?;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds {MAX_FRAME}"),
        ));
    }
    if len <= CHUNK {
        w.write_all(&(len as u32).to_le_bytes())?;
        return postcard::to_io(msg, &mut *w).map(drop).map_err(invalid);
    }
    w.write_all(&CHUNKED.to_le_bytes())?;
    w.write_all(&(len as u64).to_le_bytes())?;
    let mut chunks = Chunker {
        w,
        buf: Vec::with_capacity(CHUNK),
    };
    postcard::to_io(msg, &mut chunks).map_err(invalid)?;
    chunks.emit()
}

/// Cuts what is written into chunks: small writes gather in one chunk, a large one goes out
/// in whole chunks straight from the caller's buffer.
struct Chunker<'a, W: Write> {
    w: &'a mut W,
    buf: Vec<u8>,
}

impl<W: Write> Chunker<'_, W> {
    /// Sends the gathered bytes as one chunk.
    fn emit(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.w.write_all(&(self.buf.len() as u32).to_le_bytes())?;
            self.w.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

impl<W: Write> Write for Chunker<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.is_empty() && data.len() >= CHUNK {
            self.w.write_all(&(CHUNK as u32).to_le_bytes())?;
            self.w.write_all(&data[..CHUNK])?;
            return Ok(CHUNK);
        }
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.emit()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads one frame; a frame too large, cut short or not decoding is an `InvalidData` error.
/// The values inside share the frame's buffer.
pub(crate) fn read_frame<T: DeserializeOwned, R: Read>(r: &mut R) -> io::Result<T> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let cut_short = |e: io::Error| match e.kind() {
        io::ErrorKind::UnexpectedEof => io::Error::new(e.kind(), "frame cut short"),
        _ => e,
    };
    let mut word = [0u8; 4];
    r.read_exact(&mut word)?;
    let word = u32::from_le_bytes(word);
    let buf = if word != CHUNKED {
        let len = word as usize;
        if len > CHUNK {
            return Err(invalid("frame too large"));
        }
        let mut buf = vec![0u8; len];
        r.read_exact(&mut buf).map_err(cut_short)?;
        buf
    } else {
        let mut total = [0u8; 8];
        r.read_exact(&mut total).map_err(cut_short)?;
        let total = u64::from_le_bytes(total);
        if total > MAX_FRAME as u64 {
            return Err(invalid("frame too large"));
        }
        // The whole frame at once, zeroed by the kernel page by page as chunks arrive (no
        // memset pass, and a bogus length costs address space, not memory), never grown.
        let mut buf = zeroed(total as usize)?;
        huge_pages(&mut buf);
        let mut filled = 0;
        while filled < buf.len() {
            let mut n = [0u8; 4];
            r.read_exact(&mut n).map_err(cut_short)?;
            let n = u32::from_le_bytes(n) as usize;
            if n == 0 || n > CHUNK || n > buf.len() - filled {
                return Err(invalid("bad chunk length"));
            }
            r.read_exact(&mut buf[filled..filled + n])
                .map_err(cut_short)?;
            filled += n;
        }
        buf
    };
    // Byte strings inside the frame (values) keep pointing into it: read once, never copied.
    let buf = bytes::Bytes::from(buf);
    crate::blob::sharing(&buf, || postcard::from_bytes(&buf))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `len` zeroed bytes, or an error when the memory is not there (instead of an abort).
fn zeroed(len: usize) -> io::Result<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(len).map_err(io::Error::other)?;
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("cannot allocate a frame of {len} bytes"),
        ));
    }
    // SAFETY: `p` is a live allocation of `len` zeroed bytes from the global allocator with
    // the layout a `Vec<u8>` of capacity `len` uses.
    Ok(unsafe { Vec::from_raw_parts(p, len, len) })
}

/// Asks the kernel to back a large, untouched buffer with huge pages: a gigabyte then takes
/// 512 page faults instead of 262,144 as it fills (a hint; ignored where unsupported).
fn huge_pages(buf: &mut [u8]) {
    const HUGE: usize = 2 << 20;
    if buf.len() < 16 * HUGE {
        return;
    }
    let start = (buf.as_mut_ptr() as usize).next_multiple_of(HUGE);
    let end = (buf.as_mut_ptr() as usize + buf.len()) & !(HUGE - 1);
    if end > start {
        // SAFETY: the range lies inside `buf`, which we own; madvise changes no contents.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::NodeId;

    fn task(n: u64) -> TaskId {
        TaskId::new(NodeId::DRIVER, n)
    }

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(
            &mut buf,
            &ToWorker::RunTask {
                task: task(7),
                function: "f".into(),
                args: vec![Blob::from(vec![1, 2]), Blob::default()],
            },
        )
        .unwrap();
        write_frame(
            &mut buf,
            &FromWorker::Done {
                task: task(7),
                result: Err("x".into()),
                released: Released::default(),
            },
        )
        .unwrap();
        let mut r = &buf[..];
        assert!(matches!(
            read_frame::<ToWorker, _>(&mut r).unwrap(),
            ToWorker::RunTask { task: t, .. } if t == task(7)
        ));
        assert!(matches!(
            read_frame::<FromWorker, _>(&mut r).unwrap(),
            FromWorker::Done { .. }
        ));
        assert!(read_frame::<FromWorker, _>(&mut r).is_err());
    }

    #[test]
    fn values_share_the_frame_they_arrived_in() {
        let (a, b) = (vec![1u8; 1000], vec![2u8; 3000]);
        let mut buf = Vec::new();
        write_frame(
            &mut buf,
            &ToWorker::RunTask {
                task: task(1),
                function: "f".into(),
                args: vec![Blob::from(a.clone()), Blob::from(b.clone())],
            },
        )
        .unwrap();
        let ToWorker::RunTask { args, .. } = read_frame::<ToWorker, _>(&mut &buf[..]).unwrap()
        else {
            panic!("not a task")
        };
        assert_eq!((&args[0][..], &args[1][..]), (&a[..], &b[..]));
        // Read in place: the second value starts right after the first and its 2-byte length.
        assert_eq!(
            args[1].as_ptr() as usize,
            args[0].as_ptr() as usize + 1000 + 2
        );
        // A value decoded from a blob points into that blob too.
        let outer = Blob::from(crate::value::encode_value(&Blob::from(b.clone())).unwrap());
        let inner: Blob = crate::value::decode_blob(&outer).unwrap();
        assert_eq!(&inner[..], &b[..]);
        assert_eq!(inner.as_ptr() as usize, outer.as_ptr() as usize + 2);
        // Outside a decode nothing is shared: a plain decode copies.
        let copied: Blob = crate::value::decode(&outer).unwrap();
        assert_ne!(copied.as_ptr(), inner.as_ptr());
    }

    #[test]
    fn large_frames_cross_in_chunks() {
        let big = vec![5u8; 3 * CHUNK + 123];
        let mut buf = Vec::new();
        let msg = ToWorker::RunTask {
            task: task(2),
            function: "f".into(),
            args: vec![Blob::from(vec![1, 2, 3]), Blob::from(big.clone())],
        };
        write_frame(&mut buf, &msg).unwrap();
        assert_eq!(&buf[..4], &CHUNKED.to_le_bytes());
        let total = u64::from_le_bytes(buf[4..12].try_into().unwrap()) as usize;
        // Walk the chunks: none longer than CHUNK, and they add up to the total.
        let (mut at, mut sum, mut chunks) = (12, 0, 0);
        while at < buf.len() {
            let n = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
            assert!(n > 0 && n <= CHUNK);
            (at, sum, chunks) = (at + 4 + n, sum + n, chunks + 1);
        }
        assert_eq!((sum, chunks), (total, 4));
        let ToWorker::RunTask { args, .. } = read_frame::<ToWorker, _>(&mut &buf[..]).unwrap()
        else {
            panic!("not a task")
        };
        assert_eq!(&args[1][..], &big[..]);
        // Reassembled into one buffer that the values share.
        assert_eq!(args[1].as_ptr() as usize, args[0].as_ptr() as usize + 3 + 4);
        // Damaged: a chunk longer than announced, a total past the bound, cut short.
        let mut bad = buf.clone();
        bad[12..16].copy_from_slice(&(CHUNK as u32 + 1).to_le_bytes());
        assert!(read_frame::<ToWorker, _>(&mut &bad[..]).is_err());
        let mut bad = buf.clone();
        bad[4..12].copy_from_slice(&(MAX_FRAME as u64 + 1).to_le_bytes());
        assert!(read_frame::<ToWorker, _>(&mut &bad[..]).is_err());
        assert!(read_frame::<ToWorker, _>(&mut &buf[..buf.len() - 1]).is_err());
        // A plain frame may not be longer than a chunk.
        let mut r = &(CHUNK as u32 + 1).to_le_bytes()[..];
        assert!(read_frame::<ToWorker, _>(&mut r).is_err());
    }

    #[test]
    fn malformed_frames_are_errors() {
        // A length past the bound.
        let mut r = &u32::MAX.to_le_bytes()[..];
        assert!(read_frame::<ToWorker, _>(&mut r).is_err());
        // A frame cut short.
        let mut short = 100u32.to_le_bytes().to_vec();
        short.extend_from_slice(&[0; 10]);
        assert!(read_frame::<ToWorker, _>(&mut &short[..]).is_err());
        // Garbage of the announced length, every length up to 64 bytes, two fill patterns.
        for n in 0..64u32 {
            for fill in [0xffu8, 0x07] {
                let mut f = n.to_le_bytes().to_vec();
                f.extend(vec![fill; n as usize]);
                let _ = read_frame::<FromWorker, _>(&mut &f[..]);
                let _ = read_frame::<ToWorker, _>(&mut &f[..]);
            }
        }
    }

    #[test]
    fn errors_cross_as_flat_chains() {
        let root = RuntimeError::TaskFailed {
            function: "f".into(),
            task_id: task(1),
            message: "boom".into(),
        };
        let mut e = root.clone();
        for i in 2..200 {
            e = RuntimeError::UpstreamFailed {
                function: "g".into(),
                task_id: task(i),
                cause: Box::new(e),
            };
        }
        let w = WireError::from(&e);
        let bytes = postcard::to_allocvec(&w).unwrap();
        let back: RuntimeError = postcard::from_bytes::<WireError>(&bytes).unwrap().into();
        assert_eq!(back, e);
        assert_eq!(back.root_cause(), &root);
        // A chain that does not end in a cause is reported, not trusted.
        let bad = WireError(vec![ErrorLevel::Upstream {
            function: "g".into(),
            task_id: task(2),
        }]);
        assert!(matches!(RuntimeError::from(bad), RuntimeError::Protocol(_)));
    }
}
