//! The cluster token and the mutual challenge-response handshake.
//!
//! The server speaks first ([`ServerHello`]: version, nonce). The client answers with
//! HMAC-SHA256(token, client label, role, server nonce, client nonce) and a nonce of its own
//! ([`ClientAuth::Proof`]); the server checks that proof before it reads anything else, then
//! proves itself with HMAC-SHA256(token, server label, client nonce, server nonce). The token
//! never crosses the wire, a recorded exchange cannot be replayed (fresh nonces on both
//! sides), and the distinct labels keep one side's proof from serving as the other's.
//!
//! The logic is one pure state machine ([`ServerHandshake`], [`ClientHandshake`]); the
//! async (tokio) and blocking (`Read + Write`) functions only move its messages.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::frame::{self, MAX_HANDSHAKE_FRAME};
use crate::protocol::{effective_version, ClientAuth, Role, ServerHello, ServerVerdict};
use crate::ClusterError;

/// How long each side waits for the other's next handshake message.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// The environment variable that overrides the token file.
pub const TOKEN_ENV: &str = "RLLIB_AUTH_TOKEN";

const CLIENT_LABEL: &[u8] = b"rllib-cluster-auth client v1";
const SERVER_LABEL: &[u8] = b"rllib-cluster-auth server v1";

/// The shared secret of a cluster. Its `Debug` hides the value.
#[derive(Clone)]
pub struct AuthToken(Vec<u8>);

impl AuthToken {
    /// A token from its text (surrounding whitespace ignored); `None` when empty.
    pub fn new(text: &str) -> Option<AuthToken> {
        let t = text.trim();
        (!t.is_empty()).then(|| AuthToken(t.as_bytes().to_vec()))
    }

    fn mac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC accepts keys of any length");
        for p in parts {
            m.update(p);
        }
        m
    }
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthToken(..)")
    }
}

/// Where a token came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// `RLLIB_AUTH_TOKEN`.
    Env,
    /// This file (existing, or just created).
    File {
        /// The token file.
        path: PathBuf,
        /// True when this call created it.
        created: bool,
    },
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Env => write!(f, "the {TOKEN_ENV} environment variable"),
            TokenSource::File { path, created } => {
                write!(f, "{}", path.display())?;
                if *created {
                    f.write_str(" (created now)")?;
                }
                Ok(())
            }
        }
    }
}

/// `~/.rllib/auth_token`, with HOME from the environment.
pub fn default_token_path() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
    Path::new(&home).join(".rllib").join("auth_token")
}

/// The token from `RLLIB_AUTH_TOKEN`, else from `~/.rllib/auth_token`.
pub fn load_token() -> Result<(AuthToken, TokenSource), ClusterError> {
    if let Some(t) = std::env::var(TOKEN_ENV)
        .ok()
        .and_then(|t| AuthToken::new(&t))
    {
        return Ok((t, TokenSource::Env));
    }
    let path = default_token_path();
    read_token_file(&path).map(|t| {
        (
            t,
            TokenSource::File {
                path,
                created: false,
            },
        )
    })
}

fn read_token_file(path: &Path) -> Result<AuthToken, ClusterError> {
    match std::fs::read_to_string(path) {
        Ok(text) => AuthToken::new(&text).ok_or_else(|| ClusterError::NoToken {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ClusterError::NoToken {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(ClusterError::io(path, e)),
    }
}

/// The token as [`load_token`] finds it, creating `~/.rllib/auth_token` (32 random bytes,
/// hex; directory 0700, file 0600) when neither the variable nor the file exists.
pub fn ensure_token() -> Result<(AuthToken, TokenSource), ClusterError> {
    match load_token() {
        Err(ClusterError::NoToken { path }) if !path.exists() => create_token_file(&path),
        other => other,
    }
}

fn create_token_file(path: &Path) -> Result<(AuthToken, TokenSource), ClusterError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path.parent().expect("the token path has a parent");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ClusterError::io(dir, e))?;
    let text = hex(&random_bytes::<32>()?);
    // Written under a unique name, then linked into place: the link fails if another
    // start won the race, and then both use the winner's token.
    let tmp = dir.join(format!(".auth_token.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    };
    let _ = std::fs::remove_file(&tmp);
    write().map_err(|e| ClusterError::io(&tmp, e))?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok((
            AuthToken::new(&text).expect("a fresh token is not empty"),
            TokenSource::File {
                path: path.to_path_buf(),
                created: true,
            },
        )),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_token_file(path).map(|t| {
            (
                t,
                TokenSource::File {
                    path: path.to_path_buf(),
                    created: false,
                },
            )
        }),
        Err(e) => Err(ClusterError::io(path, e)),
    }
}

/// `N` bytes from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], ClusterError> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(|e| ClusterError::Daemon {
        message: format!("no random bytes from the operating system: {e}"),
    })?;
    Ok(b)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn role_byte(role: Role) -> [u8; 1] {
    [match role {
        Role::Node => 1,
        Role::Driver => 2,
        Role::Cli => 3,
        Role::NodeClient => 4,
        Role::Worker => 5,
    }]
}

/// Why a handshake failed, before the peer's address is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The two sides speak different protocol versions.
    VersionMismatch {
        /// This side's version.
        local: u32,
        /// The other side's version.
        remote: u32,
    },
    /// The client's proof is wrong: it holds another token (or none).
    BadClientProof,
    /// The server's proof is wrong: it is not a server of this cluster.
    BadServerProof,
    /// The server does not serve the role the client asked for.
    RoleNotServed(Role),
    /// The server refused, with its reason.
    Refused(String),
}

impl HandshakeFailure {
    /// The failure as a [`ClusterError`] naming `peer`.
    pub fn into_error(self, peer: impl ToString) -> ClusterError {
        let peer = peer.to_string();
        match self {
            HandshakeFailure::VersionMismatch { local, remote } => ClusterError::VersionMismatch {
                peer,
                local,
                remote,
            },
            HandshakeFailure::BadClientProof => ClusterError::AuthFailed {
                peer,
                reason: "the client's proof does not match this cluster's token".into(),
            },
            HandshakeFailure::BadServerProof => ClusterError::AuthFailed {
                peer,
                reason: "the server could not prove it holds this cluster's token".into(),
            },
            HandshakeFailure::RoleNotServed(role) => ClusterError::Remote {
                peer,
                message: format!("this port does not serve {} connections", role.name()),
            },
            HandshakeFailure::Refused(reason) => {
                if reason.starts_with(AUTH_REFUSAL) {
                    ClusterError::AuthFailed { peer, reason }
                } else {
                    ClusterError::Remote {
                        peer,
                        message: reason,
                    }
                }
            }
        }
    }
}

const AUTH_REFUSAL: &str = "wrong token";

/// The server's side of one handshake.
pub struct ServerHandshake {
    token: AuthToken,
    version: u32,
    nonce: [u8; 32],
    accepts: Vec<Role>,
}

impl ServerHandshake {
    /// A handshake that serves `accepts`, with the hello to send first.
    pub fn new(
        token: &AuthToken,
        version: u32,
        nonce: [u8; 32],
        accepts: &[Role],
    ) -> (ServerHandshake, ServerHello) {
        (
            ServerHandshake {
                token: token.clone(),
                version,
                nonce,
                accepts: accepts.to_vec(),
            },
            ServerHello { version, nonce },
        )
    }

    /// Judges the client's answer: the role it proved and the verdict to send, or the
    /// failure and (when the client is still listening) the refusal to send.
    #[allow(clippy::type_complexity)]
    pub fn verify(
        self,
        answer: &ClientAuth,
    ) -> Result<(Role, ServerVerdict), (HandshakeFailure, Option<ServerVerdict>)> {
        let (version, role, client_nonce, mac) = match answer {
            ClientAuth::WrongVersion { version } => {
                return Err((
                    HandshakeFailure::VersionMismatch {
                        local: self.version,
                        remote: *version,
                    },
                    None,
                ))
            }
            ClientAuth::Proof {
                version,
                role,
                nonce,
                mac,
            } => (*version, *role, nonce, mac),
        };
        if version != self.version {
            let f = HandshakeFailure::VersionMismatch {
                local: self.version,
                remote: version,
            };
            let reason = format!(
                "protocol version mismatch: the server speaks version {}, the client version {version}",
                self.version
            );
            return Err((f, Some(ServerVerdict::Refused { reason })));
        }
        let expected = self
            .token
            .mac(&[CLIENT_LABEL, &role_byte(role), &self.nonce, client_nonce]);
        // verify_slice compares in constant time.
        if expected.verify_slice(mac).is_err() {
            let reason = format!(
                "{AUTH_REFUSAL}: the server does not accept this token (use the head's: {TOKEN_ENV} or ~/.rllib/auth_token)"
            );
            return Err((
                HandshakeFailure::BadClientProof,
                Some(ServerVerdict::Refused { reason }),
            ));
        }
        if !self.accepts.contains(&role) {
            let reason = format!("this port does not serve {} connections", role.name());
            return Err((
                HandshakeFailure::RoleNotServed(role),
                Some(ServerVerdict::Refused { reason }),
            ));
        }
        let proof = self
            .token
            .mac(&[SERVER_LABEL, client_nonce, &self.nonce])
            .finalize()
            .into_bytes()
            .into();
        Ok((role, ServerVerdict::Accepted { mac: proof }))
    }
}

/// The client's side of one handshake.
pub struct ClientHandshake {
    token: AuthToken,
    role: Role,
    version: u32,
    nonce: [u8; 32],
    server_nonce: Option<[u8; 32]>,
}

impl ClientHandshake {
    /// A handshake asking to be served as `role`.
    pub fn new(token: &AuthToken, role: Role, version: u32, nonce: [u8; 32]) -> ClientHandshake {
        ClientHandshake {
            token: token.clone(),
            role,
            version,
            nonce,
            server_nonce: None,
        }
    }

    /// The answer to the server's hello; on a version mismatch, the failure and the
    /// message that tells the server our version before we hang up.
    pub fn answer(
        &mut self,
        hello: &ServerHello,
    ) -> Result<ClientAuth, (HandshakeFailure, ClientAuth)> {
        if hello.version != self.version {
            return Err((
                HandshakeFailure::VersionMismatch {
                    local: self.version,
                    remote: hello.version,
                },
                ClientAuth::WrongVersion {
                    version: self.version,
                },
            ));
        }
        self.server_nonce = Some(hello.nonce);
        let mac = self
            .token
            .mac(&[
                CLIENT_LABEL,
                &role_byte(self.role),
                &hello.nonce,
                &self.nonce,
            ])
            .finalize()
            .into_bytes()
            .into();
        Ok(ClientAuth::Proof {
            version: self.version,
            role: self.role,
            nonce: self.nonce,
            mac,
        })
    }

    /// Checks the server's verdict: accepted with a valid proof, or why not.
    pub fn check(self, verdict: &ServerVerdict) -> Result<(), HandshakeFailure> {
        let server_nonce = self
            .server_nonce
            .expect("check follows a successful answer");
        match verdict {
            ServerVerdict::Refused { reason } => Err(HandshakeFailure::Refused(reason.clone())),
            ServerVerdict::Accepted { mac } => self
                .token
                .mac(&[SERVER_LABEL, &self.nonce, &server_nonce])
                .verify_slice(mac)
                .map_err(|_| HandshakeFailure::BadServerProof),
        }
    }
}

/// The client's error when the server's hello does not come: whatever answered is not a
/// working rllib daemon.
fn no_hello(peer: &str, e: crate::FrameError) -> ClusterError {
    use crate::FrameError::*;
    match e {
        Timeout(_) => ClusterError::Connect {
            address: peer.to_string(),
            message: format!(
                "connected, but no handshake came within {} s (not an rllib daemon, or a stalled one)",
                HANDSHAKE_TIMEOUT.as_secs()
            ),
        },
        TooLarge { .. } | Decode(_) => ClusterError::Connect {
            address: peer.to_string(),
            message: "the service there does not speak the rllib cluster protocol".into(),
        },
        e => ClusterError::frame(peer, e),
    }
}

/// Runs the server's side over an async stream: the role the client proved.
pub async fn accept_async<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    token: &AuthToken,
    accepts: &[Role],
    peer: &str,
) -> Result<Role, ClusterError> {
    let (hs, hello) = ServerHandshake::new(token, effective_version(), random_bytes()?, accepts);
    frame::write_msg(stream, &hello)
        .await
        .map_err(|e| ClusterError::frame(peer, e))?;
    let answer: ClientAuth = frame::read_msg(stream, MAX_HANDSHAKE_FRAME, HANDSHAKE_TIMEOUT)
        .await
        .map_err(|e| ClusterError::frame(peer, e))?;
    match hs.verify(&answer) {
        Ok((role, verdict)) => {
            frame::write_msg(stream, &verdict)
                .await
                .map_err(|e| ClusterError::frame(peer, e))?;
            Ok(role)
        }
        Err((failure, refusal)) => {
            if let Some(r) = refusal {
                // The client may already be gone; its error is ours to report either way.
                let _ = frame::write_msg(stream, &r).await;
            }
            Err(failure.into_error(peer))
        }
    }
}

/// Runs the client's side over an async stream.
pub async fn connect_async<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    token: &AuthToken,
    role: Role,
    peer: &str,
) -> Result<(), ClusterError> {
    let mut hs = ClientHandshake::new(token, role, effective_version(), random_bytes()?);
    let hello: ServerHello = frame::read_msg(stream, MAX_HANDSHAKE_FRAME, HANDSHAKE_TIMEOUT)
        .await
        .map_err(|e| no_hello(peer, e))?;
    let answer = match hs.answer(&hello) {
        Ok(a) => a,
        Err((failure, goodbye)) => {
            let _ = frame::write_msg(stream, &goodbye).await;
            return Err(failure.into_error(peer));
        }
    };
    frame::write_msg(stream, &answer)
        .await
        .map_err(|e| ClusterError::frame(peer, e))?;
    let verdict: ServerVerdict = frame::read_msg(stream, MAX_HANDSHAKE_FRAME, HANDSHAKE_TIMEOUT)
        .await
        .map_err(|e| ClusterError::frame(peer, e))?;
    hs.check(&verdict).map_err(|f| f.into_error(peer))
}

/// Runs the server's side over a blocking stream (set a read timeout on sockets first).
pub fn accept_blocking<S: Read + Write>(
    stream: &mut S,
    token: &AuthToken,
    accepts: &[Role],
    peer: &str,
) -> Result<Role, ClusterError> {
    let (hs, hello) = ServerHandshake::new(token, effective_version(), random_bytes()?, accepts);
    frame::write_msg_blocking(stream, &hello).map_err(|e| ClusterError::frame(peer, e))?;
    let answer: ClientAuth = frame::read_msg_blocking(stream, MAX_HANDSHAKE_FRAME)
        .map_err(|e| ClusterError::frame(peer, e))?;
    match hs.verify(&answer) {
        Ok((role, verdict)) => {
            frame::write_msg_blocking(stream, &verdict)
                .map_err(|e| ClusterError::frame(peer, e))?;
            Ok(role)
        }
        Err((failure, refusal)) => {
            if let Some(r) = refusal {
                let _ = frame::write_msg_blocking(stream, &r);
            }
            Err(failure.into_error(peer))
        }
    }
}

/// Runs the client's side over a blocking stream (set a read timeout on sockets first).
pub fn connect_blocking<S: Read + Write>(
    stream: &mut S,
    token: &AuthToken,
    role: Role,
    peer: &str,
) -> Result<(), ClusterError> {
    let mut hs = ClientHandshake::new(token, role, effective_version(), random_bytes()?);
    let hello: ServerHello =
        frame::read_msg_blocking(stream, MAX_HANDSHAKE_FRAME).map_err(|e| no_hello(peer, e))?;
    let answer = match hs.answer(&hello) {
        Ok(a) => a,
        Err((failure, goodbye)) => {
            let _ = frame::write_msg_blocking(stream, &goodbye);
            return Err(failure.into_error(peer));
        }
    };
    frame::write_msg_blocking(stream, &answer).map_err(|e| ClusterError::frame(peer, e))?;
    let verdict: ServerVerdict = frame::read_msg_blocking(stream, MAX_HANDSHAKE_FRAME)
        .map_err(|e| ClusterError::frame(peer, e))?;
    hs.check(&verdict).map_err(|f| f.into_error(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> AuthToken {
        AuthToken::new(s).unwrap()
    }

    /// One handshake between the two state machines; the client's and the server's results.
    fn run(
        client_token: &str,
        server_token: &str,
        client_version: u32,
        server_version: u32,
        role: Role,
    ) -> (Result<(), HandshakeFailure>, Result<Role, HandshakeFailure>) {
        let (server, hello) = ServerHandshake::new(
            &token(server_token),
            server_version,
            [1; 32],
            &[Role::Driver],
        );
        let mut client = ClientHandshake::new(&token(client_token), role, client_version, [2; 32]);
        let answer = match client.answer(&hello) {
            Ok(a) => a,
            Err((f, goodbye)) => {
                let s = server.verify(&goodbye).map(|(r, _)| r).map_err(|(f, _)| f);
                return (Err(f), s);
            }
        };
        match server.verify(&answer) {
            Ok((role, verdict)) => (client.check(&verdict), Ok(role)),
            Err((f, refusal)) => (client.check(&refusal.expect("a refusal")), Err(f)),
        }
    }

    #[test]
    fn the_right_token_passes_both_ways() {
        let (c, s) = run("secret", "secret", 1, 1, Role::Driver);
        assert_eq!(c, Ok(()));
        assert_eq!(s, Ok(Role::Driver));
    }

    #[test]
    fn a_wrong_token_is_refused_and_the_client_is_told() {
        let (c, s) = run("guess", "secret", 1, 1, Role::Driver);
        assert_eq!(s, Err(HandshakeFailure::BadClientProof));
        let err = c.unwrap_err().into_error("127.0.0.1:1");
        assert!(matches!(err, ClusterError::AuthFailed { .. }), "{err}");
        assert!(err.to_string().contains("authentication failed"), "{err}");
    }

    #[test]
    fn a_fake_server_cannot_prove_itself() {
        let (_, hello) = ServerHandshake::new(&token("other"), 1, [1; 32], &[Role::Driver]);
        let mut client = ClientHandshake::new(&token("secret"), Role::Driver, 1, [2; 32]);
        client.answer(&hello).unwrap();
        // A server that replays some proof without the token is caught.
        let forged = ServerVerdict::Accepted { mac: [0; 32] };
        assert_eq!(client.check(&forged), Err(HandshakeFailure::BadServerProof));
    }

    #[test]
    fn a_proof_for_one_challenge_does_not_answer_another() {
        let t = token("secret");
        let (_, hello1) = ServerHandshake::new(&t, 1, [1; 32], &[Role::Driver]);
        let mut client = ClientHandshake::new(&t, Role::Driver, 1, [2; 32]);
        let replayed = client.answer(&hello1).unwrap();
        let (server2, _) = ServerHandshake::new(&t, 1, [3; 32], &[Role::Driver]);
        assert!(matches!(
            server2.verify(&replayed),
            Err((HandshakeFailure::BadClientProof, Some(_)))
        ));
    }

    #[test]
    fn versions_that_differ_are_named_on_both_sides() {
        let (c, s) = run("secret", "secret", 2, 1, Role::Driver);
        assert_eq!(
            c,
            Err(HandshakeFailure::VersionMismatch {
                local: 2,
                remote: 1
            })
        );
        assert_eq!(
            s,
            Err(HandshakeFailure::VersionMismatch {
                local: 1,
                remote: 2
            })
        );
        let msg = c.unwrap_err().into_error("h:1").to_string();
        assert!(
            msg.contains("version 2") && msg.contains("version 1"),
            "{msg}"
        );
    }

    #[test]
    fn a_role_the_server_does_not_serve_is_refused_after_the_proof() {
        let (c, s) = run("secret", "secret", 1, 1, Role::Node);
        assert_eq!(s, Err(HandshakeFailure::RoleNotServed(Role::Node)));
        assert!(matches!(c, Err(HandshakeFailure::Refused(r)) if r.contains("node")));
    }

    #[test]
    fn the_blocking_and_async_sides_talk_to_each_other() {
        let t = token("secret");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let t2 = t.clone();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            accept_blocking(&mut s, &t2, &[Role::Cli], "client")
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            connect_async(&mut s, &t, Role::Cli, "server").await
        })
        .unwrap();
        assert_eq!(server.join().unwrap().unwrap(), Role::Cli);
    }

    #[test]
    fn the_token_file_is_created_private_once_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".rllib/auth_token");
        let (t1, src) = create_token_file(&path).unwrap();
        assert_eq!(
            src,
            TokenSource::File {
                path: path.clone(),
                created: true
            }
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        assert!(text.trim().bytes().all(|b| b.is_ascii_hexdigit()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        // A second creation loses the race and keeps the first token.
        let (t2, src2) = create_token_file(&path).unwrap();
        assert_eq!(t1.0, t2.0);
        assert!(matches!(src2, TokenSource::File { created: false, .. }));
        assert!(!format!("{t1:?}").contains(text.trim()));
    }
}
