//! Length-delimited frames: a 4-byte big-endian length, then that many bytes.
//!
//! Every read names a limit; a length prefix above it is refused before anything is
//! allocated, so a peer cannot make us reserve memory by announcing a huge frame. The async
//! functions serve the daemons (tokio), the blocking ones the blocking client.

use std::io::{Read, Write};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::protocol::{decode, encode};
use crate::FrameError;

/// The largest frame after the handshake (16 MiB).
pub const MAX_FRAME: usize = 16 << 20;
/// The largest frame during the handshake, before the peer proved anything.
pub const MAX_HANDSHAKE_FRAME: usize = 512;

fn check_len(header: [u8; 4], max: usize) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(FrameError::TooLarge {
            len: len as u64,
            max,
        });
    }
    Ok(len)
}

fn framed(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let len = u32::try_from(payload.len()).map_err(|_| FrameError::TooLarge {
        len: payload.len() as u64,
        max: u32::MAX as usize,
    })?;
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

fn io_error(e: std::io::Error, at_start: bool) -> FrameError {
    use std::io::ErrorKind::*;
    match e.kind() {
        UnexpectedEof if at_start => FrameError::Closed,
        // A blocking socket's read timeout shows up as one of these.
        WouldBlock | TimedOut => FrameError::Timeout(Duration::ZERO),
        ConnectionReset | BrokenPipe => FrameError::Closed,
        _ => FrameError::Io(e),
    }
}

/// Reads one frame of at most `max` bytes.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; 4];
    r.read_exact(&mut header)
        .await
        .map_err(|e| io_error(e, true))?;
    let len = check_len(header, max)?;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)
        .await
        .map_err(|e| io_error(e, false))?;
    Ok(buf)
}

/// Reads one frame of at most `max` bytes, failing with [`FrameError::Timeout`] after `limit`.
pub async fn read_frame_within<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    limit: Duration,
) -> Result<Vec<u8>, FrameError> {
    match tokio::time::timeout(limit, read_frame(r, max)).await {
        Ok(r) => r,
        Err(_) => Err(FrameError::Timeout(limit)),
    }
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    payload: &[u8],
) -> Result<(), FrameError> {
    let bytes = framed(payload)?;
    w.write_all(&bytes).await.map_err(|e| io_error(e, false))?;
    w.flush().await.map_err(|e| io_error(e, false))
}

/// Reads and decodes one message of at most `max` bytes within `limit`.
pub async fn read_msg<T: DeserializeOwned, R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    limit: Duration,
) -> Result<T, FrameError> {
    decode(&read_frame_within(r, max, limit).await?)
}

/// Encodes and writes one message.
pub async fn write_msg<T: Serialize, W: AsyncWrite + Unpin>(
    w: &mut W,
    msg: &T,
) -> Result<(), FrameError> {
    write_frame(w, &encode(msg)).await
}

/// Reads one frame of at most `max` bytes from a blocking reader (a socket's read timeout,
/// if set, ends the wait with [`FrameError::Timeout`]).
pub fn read_frame_blocking<R: Read>(r: &mut R, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; 4];
    r.read_exact(&mut header).map_err(|e| io_error(e, true))?;
    let len = check_len(header, max)?;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).map_err(|e| io_error(e, false))?;
    Ok(buf)
}

/// Writes one frame to a blocking writer.
pub fn write_frame_blocking<W: Write>(w: &mut W, payload: &[u8]) -> Result<(), FrameError> {
    let bytes = framed(payload)?;
    w.write_all(&bytes).map_err(|e| io_error(e, false))?;
    w.flush().map_err(|e| io_error(e, false))
}

/// Reads and decodes one message of at most `max` bytes from a blocking reader.
pub fn read_msg_blocking<T: DeserializeOwned, R: Read>(
    r: &mut R,
    max: usize,
) -> Result<T, FrameError> {
    decode(&read_frame_blocking(r, max)?)
}

/// Encodes and writes one message to a blocking writer.
pub fn write_msg_blocking<T: Serialize, W: Write>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    write_frame_blocking(w, &encode(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips() {
        let mut buf = Vec::new();
        write_frame_blocking(&mut buf, b"hello").unwrap();
        assert_eq!(&buf[..4], &5u32.to_be_bytes());
        assert_eq!(read_frame_blocking(&mut &buf[..], 16).unwrap(), b"hello");
    }

    #[test]
    fn an_oversized_prefix_is_refused_before_reading_the_body() {
        // 4 GiB announced, no body: refusing must not wait for (or allocate) the body.
        let bytes = u32::MAX.to_be_bytes();
        match read_frame_blocking(&mut &bytes[..], MAX_FRAME) {
            Err(FrameError::TooLarge { len, max }) => {
                assert_eq!(len, u32::MAX as u64);
                assert_eq!(max, MAX_FRAME);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let mut one_over = Vec::new();
        write_frame_blocking(&mut one_over, &[0u8; 17]).unwrap();
        assert!(matches!(
            read_frame_blocking(&mut &one_over[..], 16),
            Err(FrameError::TooLarge { len: 17, max: 16 })
        ));
        let mut at_limit = Vec::new();
        write_frame_blocking(&mut at_limit, &[1u8; 16]).unwrap();
        assert_eq!(
            read_frame_blocking(&mut &at_limit[..], 16).unwrap().len(),
            16
        );
    }

    #[test]
    fn eof_before_a_frame_is_closed_and_inside_one_is_an_error() {
        assert!(matches!(
            read_frame_blocking(&mut &[][..], 16),
            Err(FrameError::Closed)
        ));
        let truncated = [0u8, 0, 0, 8, 1, 2];
        assert!(matches!(
            read_frame_blocking(&mut &truncated[..], 16),
            Err(FrameError::Io(_))
        ));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_stalled_peer_times_out() {
        let (mut a, _b) = tokio::io::duplex(64);
        let r = read_frame_within(&mut a, 16, Duration::from_secs(5)).await;
        assert!(matches!(r, Err(FrameError::Timeout(d)) if d == Duration::from_secs(5)));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn async_frames_round_trip_and_bound() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        write_msg(&mut a, &vec![1u32, 2, 3]).await.unwrap();
        let v: Vec<u32> = read_msg(&mut b, 64, Duration::from_secs(60)).await.unwrap();
        assert_eq!(v, vec![1, 2, 3]);
        a.write_all(&(1u32 << 30).to_be_bytes()).await.unwrap();
        assert!(matches!(
            read_frame(&mut b, MAX_FRAME).await,
            Err(FrameError::TooLarge { .. })
        ));
    }
}
