//! The accept loop shared by the head and node daemons: every connection in its own task,
//! authenticated before anything else is read, at most [`MAX_CONNECTIONS`] at once.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use crate::auth::{accept_async, AuthToken};
use crate::protocol::Role;

/// The most connections a daemon holds open at once; further ones are closed at once, so a
/// flood of stalled peers costs a bounded amount of memory.
pub const MAX_CONNECTIONS: usize = 4096;

/// Accepts forever: each connection is authenticated (refused peers are logged with their
/// address), then handed to `handle` with the role it proved.
pub(crate) async fn serve<F, Fut>(
    listener: TcpListener,
    token: AuthToken,
    accepts: &'static [Role],
    handle: F,
) where
    F: Fn(Role, TcpStream, SocketAddr) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Running out of file descriptors is transient; don't spin on it.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            warn!("refused {peer}: {MAX_CONNECTIONS} connections are open already");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let token = token.clone();
        let handle = handle.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let peer_text = peer.to_string();
            match accept_async(&mut stream, &token, accepts, &peer_text).await {
                Ok(role) => {
                    debug!("{peer} authenticated as {}", role.name());
                    keepalive(&stream);
                    handle(role, stream, peer).await;
                }
                // The error names the peer.
                Err(e) => warn!("refused peer: {e}"),
            }
        });
    }
}

/// Turns on TCP keepalive probes (after 10 s idle, every 5 s, 3 misses): a peer whose
/// machine vanished without closing its connections is noticed within about 25 s even on
/// connections that are idle by design (drivers), and its state is cleaned up.
pub(crate) fn keepalive(socket: &impl std::os::unix::io::AsRawFd) {
    let fd = socket.as_raw_fd();
    let set = |level, name, value: libc::c_int| {
        // SAFETY: setsockopt reads an int of the given size from a valid pointer.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    };
    set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 10);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 5);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
}
