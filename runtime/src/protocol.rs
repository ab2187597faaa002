//! The driver <-> worker process wire format: length-prefixed postcard frames over a Unix socket.
//!
//! Only this file and `process_worker.rs` know the transport; joining other machines later
//! means another stream type here (TCP with an auth token), not another API.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io::{self, Read, Write};

/// Largest frame accepted, so a corrupt length cannot make a process allocate without bound.
const MAX_FRAME: usize = 1 << 31;

/// A request from the driver.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum ToWorker {
    /// Run a registered function on serialized arguments.
    RunTask {
        task: u64,
        function: String,
        args: Vec<Vec<u8>>,
    },
    /// Build this process's actor state.
    CreateActor {
        task: u64,
        class: String,
        args: Vec<Vec<u8>>,
    },
    /// Call a registered method on this process's actor.
    CallMethod {
        task: u64,
        method: String,
        args: Vec<Vec<u8>>,
    },
    /// Exit cleanly.
    Exit,
}

/// A reply from a worker.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum FromWorker {
    /// Sent once after connecting.
    Hello { pid: u32 },
    /// A request finished: the serialized result, or the failure message.
    Done {
        task: u64,
        result: Result<Vec<u8>, String>,
    },
}

pub(crate) fn write_frame<T: Serialize, W: Write>(w: &mut W, msg: &T) -> io::Result<()> {
    let bytes =
        postcard::to_allocvec(msg).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    w.write_all(&(bytes.len() as u32).to_le_bytes())?;
    w.write_all(&bytes)
}

pub(crate) fn read_frame<T: DeserializeOwned, R: Read>(r: &mut R) -> io::Result<T> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    postcard::from_bytes(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(
            &mut buf,
            &ToWorker::RunTask {
                task: 7,
                function: "f".into(),
                args: vec![vec![1, 2], vec![]],
            },
        )
        .unwrap();
        write_frame(
            &mut buf,
            &FromWorker::Done {
                task: 7,
                result: Err("x".into()),
            },
        )
        .unwrap();
        let mut r = &buf[..];
        assert!(matches!(
            read_frame::<ToWorker, _>(&mut r).unwrap(),
            ToWorker::RunTask { task: 7, .. }
        ));
        assert!(matches!(
            read_frame::<FromWorker, _>(&mut r).unwrap(),
            FromWorker::Done { task: 7, .. }
        ));
        assert!(read_frame::<FromWorker, _>(&mut r).is_err());
    }
}
