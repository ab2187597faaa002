//! The process executor: tasks and actors run in worker processes on this machine.
//!
//! A worker is the current executable started again with `RUNTIME_WORKER_SOCKET` set; its
//! `main` must call [`crate::worker_main_if_requested`] first, which connects back and runs
//! registered functions and actor methods by name (`worker_process.rs`). In the driver, one
//! proxy thread per worker process takes the place of a worker thread: the scheduler cannot
//! tell them apart. While the process runs a task, the proxy serves the runtime calls the task
//! makes (`session.rs`) and, when the task waits in `get`/`wait`, gives its resources back just
//! as a blocked worker thread does. A proxy that loses its process (kill -9, crash) retries the
//! task elsewhere (`max_retries`) and starts a new process; an actor's proxy restarts it
//! (`max_restarts`) or reports it dead.
//!
//! What is copied: arguments and results are serialized (postcard) across the socket. Objects
//! stay in the driver's store, so `put` + `get` in the driver never copies, in either mode.

use crate::actor_exec::{drain_dead, resolve_call_args, set_actor_status};
use crate::actor_spec::{ActorCtor, ActorMsg, ActorStart, ActorStatus, CallBody};
use crate::config::RuntimeConfig;
use crate::error::RuntimeError;
use crate::ids::{ObjectId, TaskId, WorkerId};
use crate::object_ref::{with_ref_serde, RefSerde};
use crate::object_store::{recv_spin, recv_spin_timeout};
use crate::protocol::{
    read_frame, write_frame, FromWorker, Released, ToWorker, ADDRESS_ENV, SOCKET_ENV,
};
use crate::registry::{ErasedClass, ErasedMethod};
use crate::resources::Demand;
use crate::runtime_core::{enter_task, leave_task, reacquire, Core, Executor};
use crate::scheduler::WorkerMsg;
use crate::session::Session;
use crate::task::{TaskBody, TaskSpec};
use crate::timeline::{TaskEvent, WorkerTimeline};
use crate::value::{Blob, Value, WireValue};
use crossbeam::channel::{unbounded, Receiver, RecvTimeoutError, Sender, TryRecvError};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a new worker process may take to connect (a loaded machine can be slow).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How often an idle actor's proxy checks that its process is still there.
const IDLE_CHECK: Duration = Duration::from_millis(100);
/// Actor calls sent ahead of their replies, so a process actor is not one round trip per call.
const WINDOW: usize = 256;

/// Runs work in worker processes on this machine.
pub(crate) struct ProcessExecutor {
    max_workers: usize,
    procs: Arc<Procs>,
}

/// What every proxy of this executor shares: how to start a worker, and who is running.
struct Procs {
    launcher: Launcher,
    children: Mutex<Vec<Arc<Child>>>,
}

/// How this executor starts a worker process.
enum Launcher {
    /// A child of the driver on this machine (`None`: the driver's own executable).
    Local(Option<PathBuf>),
    /// A process another node's daemon starts, which connects back to the driver.
    Remote(Arc<dyn RemoteLauncher>),
}

/// Starts worker processes on another node (a daemon of the cluster starts them).
pub(crate) trait RemoteLauncher: Send + Sync {
    /// The node in words, for logs and errors.
    fn name(&self) -> String;
    /// Starts one worker process there; its connection once it has said hello.
    fn launch(&self, core: &Arc<Core>) -> io::Result<Conn>;
}

impl ProcessExecutor {
    pub fn new(config: &RuntimeConfig) -> Self {
        ProcessExecutor {
            max_workers: config
                .num_worker_processes
                .unwrap_or_else(|| (config.num_cpus.ceil() as usize).max(1)),
            procs: Arc::new(Procs {
                launcher: Launcher::Local(config.worker_program.clone()),
                children: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Worker processes on another node, at most `max_workers` task workers at a time.
    pub fn remote(launcher: Arc<dyn RemoteLauncher>, max_workers: usize) -> Self {
        ProcessExecutor {
            max_workers: max_workers.max(1),
            procs: Arc::new(Procs {
                launcher: Launcher::Remote(launcher),
                children: Mutex::new(Vec::new()),
            }),
        }
    }
}

impl Executor for ProcessExecutor {
    fn name(&self) -> &'static str {
        "worker processes"
    }
    fn runs_closures(&self) -> bool {
        false
    }
    fn max_workers(&self) -> usize {
        self.max_workers
    }
    fn spawn_worker(&self, core: &Arc<Core>, place: usize) {
        let id = core.worker_id();
        let (tx, rx) = unbounded();
        let core2 = core.clone();
        let procs = self.procs.clone();
        let h = std::thread::Builder::new()
            .name(format!("rt-proc-worker-{}", id.counter()))
            .spawn(move || task_proxy(core2, procs, id, tx, rx, place));
        match h {
            Ok(h) => core.register_thread(h),
            Err(e) => {
                tracing::error!("cannot spawn a worker proxy thread: {e}");
                core.with(|s, _| s.spawn_aborted(place));
            }
        }
    }
    fn start_actor(&self, core: &Arc<Core>, spec: TaskSpec) {
        let core2 = core.clone();
        let procs = self.procs.clone();
        let h = std::thread::Builder::new()
            .name("rt-proc-actor".into())
            .spawn(move || process_actor_main(core2, procs, spec));
        match h {
            Ok(h) => core.register_thread(h),
            Err(e) => tracing::error!("cannot spawn an actor proxy thread: {e}"),
        }
    }
    fn shutdown(&self, _core: &Arc<Core>) {
        for c in self.procs.children.lock().drain(..) {
            c.kill();
        }
    }
}

/// Refuses to run a driver inside a process that was started as a worker but whose `main` did
/// not call `worker_main_if_requested` (going on would start workers recursively).
pub(crate) fn refuse_unregistered_worker() {
    if std::env::var_os(SOCKET_ENV).is_some() || std::env::var_os(ADDRESS_ENV).is_some() {
        eprintln!("runtime: this binary was started as a worker process but main() did not call runtime::worker_main_if_requested() first; exiting");
        std::process::exit(101);
    }
}

/// A worker process the driver started.
pub(crate) struct Child {
    kind: ChildKind,
    pub pid: u32,
}

enum ChildKind {
    /// A child process of the driver.
    Local(Mutex<std::process::Child>),
    /// A process on another node: its daemon started it; the driver holds its connection.
    Remote(Box<dyn RemoteProcess>),
}

/// A worker process on another node, as the driver can reach it.
pub(crate) trait RemoteProcess: Send + Sync {
    /// Ends it: closes its connection (so its proxy sees it gone) and asks its node to kill it.
    fn kill(&self);
    /// Whether its node is alive and its connection has not been closed.
    fn alive(&self) -> bool;
}

impl Child {
    /// A worker process on another node.
    pub fn remote(pid: u32, process: Box<dyn RemoteProcess>) -> Child {
        Child {
            kind: ChildKind::Remote(process),
            pid,
        }
    }

    /// Kills and reaps the process (idempotent).
    pub fn kill(&self) {
        match &self.kind {
            ChildKind::Local(p) => {
                let mut c = p.lock();
                let _ = c.kill();
                let _ = c.wait();
            }
            ChildKind::Remote(r) => r.kill(),
        }
    }

    /// Whether the process has not exited.
    pub fn alive(&self) -> bool {
        match &self.kind {
            ChildKind::Local(p) => matches!(p.lock().try_wait(), Ok(None)),
            ChildKind::Remote(r) => r.alive(),
        }
    }
}

/// The driver's end of one worker process.
pub(crate) struct Conn {
    pub child: Arc<Child>,
    r: BufReader<Box<dyn Read + Send>>,
    w: BufWriter<Box<dyn Write + Send>>,
}

impl Conn {
    /// A connection to a worker process over `r`/`w`.
    pub fn new(child: Arc<Child>, r: Box<dyn Read + Send>, w: Box<dyn Write + Send>) -> Conn {
        Conn {
            child,
            r: BufReader::new(r),
            w: BufWriter::new(w),
        }
    }
}

/// A finished task, constructor or method call as the worker reported it.
struct Done {
    task: TaskId,
    result: Result<WireValue, String>,
    released: Released,
}

impl Conn {
    fn send(&mut self, msg: &ToWorker) -> io::Result<()> {
        write_frame(&mut self.w, msg)
    }

    /// Sends `msg` and waits for the worker to finish it.
    fn call(&mut self, msg: &ToWorker, session: &Arc<Session>) -> io::Result<Done> {
        self.send(msg)?;
        self.next_done(session)
    }

    /// Flushes, then reads until the worker reports a finished call, serving the runtime calls
    /// it makes meanwhile.
    fn next_done(&mut self, session: &Arc<Session>) -> io::Result<Done> {
        self.w.flush()?;
        loop {
            match read_frame::<FromWorker, _>(&mut self.r)? {
                FromWorker::Done {
                    task,
                    result,
                    released,
                } => {
                    return Ok(Done {
                        task,
                        result,
                        released,
                    })
                }
                FromWorker::Request { request, released } => {
                    session.release(released);
                    let child = self.child.clone();
                    let reply = session.handle(request, &|| child.alive());
                    write_frame(&mut self.w, &ToWorker::Reply(reply))?;
                    self.w.flush()?;
                }
                FromWorker::Hello { .. } => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "unexpected hello from a running worker",
                    ))
                }
            }
        }
    }
}

fn spawn_child(core: &Arc<Core>, procs: &Procs) -> io::Result<Conn> {
    let conn = match &procs.launcher {
        Launcher::Local(program) => spawn_local_child(core, program)?,
        Launcher::Remote(l) => l.launch(core)?,
    };
    let mut ps = procs.children.lock();
    ps.retain(|c| c.alive());
    ps.push(conn.child.clone());
    drop(ps);
    if core.is_shutdown() {
        conn.child.kill();
        return Err(io::Error::other("runtime shut down"));
    }
    Ok(conn)
}

fn spawn_local_child(core: &Arc<Core>, program: &Option<PathBuf>) -> io::Result<Conn> {
    static N: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "rt-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    let result = (|| {
        listener.set_nonblocking(true)?;
        let exe = match program {
            Some(p) => p.clone(),
            None => std::env::current_exe()?,
        };
        let mut child = Command::new(exe)
            .env(SOCKET_ENV, &path)
            .stdin(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(status) = child.try_wait()? {
                        return Err(io::Error::other(format!(
                            "worker process exited before connecting ({status}); does main() call runtime::worker_main_if_requested() first?"
                        )));
                    }
                    if Instant::now() > deadline || core.is_shutdown() {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "worker process did not connect",
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e),
            }
        };
        stream.set_nonblocking(false)?;
        let r: Box<dyn Read + Send> = Box::new(stream.try_clone()?);
        let w: Box<dyn Write + Send> = Box::new(stream);
        let mut r = BufReader::new(r);
        let w = BufWriter::new(w);
        let pid = match read_frame::<FromWorker, _>(&mut r) {
            Ok(FromWorker::Hello { pid, .. }) => pid,
            Ok(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other("unexpected first message from a worker"));
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let child = Arc::new(Child {
            kind: ChildKind::Local(Mutex::new(child)),
            pid,
        });
        Ok(Conn { child, r, w })
    })();
    let _ = std::fs::remove_file(&path);
    result
}

fn spawn_failed(core: &Arc<Core>, e: io::Error, registered: Option<WorkerId>, place: usize) {
    tracing::error!("cannot start a worker process: {e}");
    let msg = e.to_string();
    core.with(|s, fx| s.spawn_failed(place, registered, &msg, fx));
}

fn task_proxy(
    core: Arc<Core>,
    procs: Arc<Procs>,
    id: WorkerId,
    tx: Sender<WorkerMsg>,
    rx: Receiver<WorkerMsg>,
    place: usize,
) {
    let tl = core.timeline.worker(id, id.counter().to_string());
    let mut conn = match spawn_child(&core, &procs) {
        Ok(c) => c,
        Err(e) => return spawn_failed(&core, e, None, place),
    };
    let session = Session::new(core.clone());
    let pid = Some(conn.child.pid);
    core.with(|s, fx| s.worker_started(place, id, tx, pid, fx));
    while let Ok(WorkerMsg::Run(spec)) = recv_spin(&rx) {
        let mut next = Some(spec);
        while let Some(spec) = next.take() {
            if core.is_shutdown() {
                conn.child.kill();
                return;
            }
            match run_remote(&core, &procs, id, &mut conn, &session, spec, &tl, place) {
                Ok(n) => next = n,
                Err(()) => return,
            }
        }
    }
    let _ = conn.send(&ToWorker::Exit).and_then(|_| conn.w.flush());
    conn.child.kill();
}

/// Runs one task in the worker process; `Err` when the proxy must stop (no process to run on).
#[allow(clippy::too_many_arguments)]
fn run_remote(
    core: &Arc<Core>,
    procs: &Procs,
    worker: WorkerId,
    conn: &mut Conn,
    session: &Arc<Session>,
    spec: TaskSpec,
    tl: &WorkerTimeline,
    place: usize,
) -> Result<Option<TaskSpec>, ()> {
    let t0 = core.now();
    let (id, function, return_id) = (spec.id, spec.function, spec.return_id);
    let failed = |message: String| RuntimeError::TaskFailed {
        function: function.to_string(),
        task_id: id,
        message,
    };
    let finish_now = |spec: TaskSpec, result: Result<Value, RuntimeError>| {
        core.record_finish(id, None, &result, None);
        core.with(|s, fx| s.finish(worker, return_id, &spec.demand, result, None, fx))
    };
    let f = match &spec.body {
        TaskBody::Function(f) => *f,
        // `submit_task` refuses closures for this executor; nothing else reaches a worker.
        _ => {
            let err = RuntimeError::Unsupported(format!(
                "{function}: only registered functions run in worker processes"
            ));
            return Ok(finish_now(spec, Err(err)));
        }
    };
    session.set_current(Some(id));
    let args = match with_ref_serde(&session.ref_serde(), || f.encode_args(&spec.args)) {
        Ok(a) => a,
        Err(e) => {
            session.clear();
            let err = Err(RuntimeError::Serialization(format!("{function}: {e}")));
            return Ok(finish_now(spec, err));
        }
    };
    let t1 = core.now();
    // The proxy waits on the worker's behalf: a `get` it serves gives the task's resources back.
    enter_task(core, spec.demand.clone());
    let reply = conn.call(
        &ToWorker::RunTask {
            task: id,
            function: function.to_string(),
            args,
        },
        session,
    );
    // What the task holds now: nothing if its process died while it was blocked.
    let held = leave_task();
    match reply {
        Ok(done) => {
            let t2 = core.now();
            let core_serde: Arc<dyn RefSerde> = core.clone();
            // Decoded before the worker's refs are released: refs inside the result are
            // counted by the driver first.
            let result = match done.result {
                Ok(bytes) => with_ref_serde(&core_serde, || f.decode_result(&bytes))
                    .map_err(|e| RuntimeError::Serialization(format!("{function}: {e}"))),
                Err(msg) => Err(failed(msg)),
            };
            session.release(done.released);
            session.clear();
            let dep_tasks = spec.dep_tasks;
            core.record_finish(id, None, &result, None);
            let (next, flush) = core.with(|s, fx| {
                let next = s.finish(worker, return_id, &held, result, Some(worker), fx);
                let flush = core.timeline.enabled
                    && tl.record(TaskEvent {
                        task: id,
                        function,
                        get_args: t0,
                        execute: t1,
                        store: t2,
                        end: s.now(),
                        deps: dep_tasks,
                    });
                (next, flush)
            });
            if flush {
                tl.flush();
            }
            Ok(next)
        }
        Err(_) => {
            // The process died (or spoke nonsense): retry the task, replace the process.
            tracing::warn!(
                "worker process {} died running {function} ({id})",
                conn.child.pid
            );
            conn.child.kill();
            session.clear();
            core.with(|s, fx| s.retry_holding(spec, &held, fx));
            if core.is_shutdown() {
                return Err(());
            }
            match spawn_child(core, procs) {
                Ok(c) => {
                    *conn = c;
                    let pid = conn.child.pid;
                    Ok(core.with(|s, fx| {
                        if let Some(w) = s.workers.get_mut(&worker) {
                            w.pid = Some(pid);
                        }
                        s.next_for(worker, fx)
                    }))
                }
                Err(e) => {
                    spawn_failed(core, e, Some(worker), place);
                    Err(())
                }
            }
        }
    }
}

fn start_actor_process(
    core: &Arc<Core>,
    procs: &Procs,
    session: &Arc<Session>,
    class: &'static dyn ErasedClass,
    args: &[Blob],
    task: TaskId,
) -> Result<Conn, String> {
    let mut conn =
        spawn_child(core, procs).map_err(|e| format!("cannot start worker process: {e}"))?;
    session.set_current(Some(task));
    let reply = conn.call(
        &ToWorker::CreateActor {
            task,
            class: class.name().to_string(),
            args: args.to_vec(),
        },
        session,
    );
    match reply {
        Ok(Done {
            result: Ok(_),
            released,
            ..
        }) => {
            session.release(released);
            Ok(conn)
        }
        Ok(Done { result: Err(m), .. }) => {
            conn.child.kill();
            session.clear();
            Err(format!("constructor failed: {m}"))
        }
        Err(e) => {
            conn.child.kill();
            session.clear();
            Err(format!("worker process died in the constructor: {e}"))
        }
    }
}

/// A call sent to the actor's process, waiting for its reply.
struct InFlight {
    task: TaskId,
    oid: ObjectId,
    method: &'static dyn ErasedMethod,
    t0: u64,
    t1: u64,
}

fn process_actor_main(core: Arc<Core>, procs: Arc<Procs>, spec: TaskSpec) {
    let TaskSpec {
        id: tid,
        body,
        args,
        demand: placement,
        return_id,
        ..
    } = spec;
    let TaskBody::ActorCreation(start) = body else {
        tracing::error!("a task that is not an actor creation reached the actor starter");
        return;
    };
    let ActorStart {
        actor_id,
        class,
        ctor,
        mailbox,
        dead: dead_reason,
        max_restarts,
        mut held,
        restarts: prior_restarts,
    } = *start;
    // Kept to place the actor again if its node dies.
    let held_template = held.clone();
    let place = placement.place as usize;
    let remote = matches!(procs.launcher, Launcher::Remote(_));
    let worker = core.worker_id();
    let session = Session::new(core.clone());
    let tl = core
        .timeline
        .worker(worker, format!("{} ({class} {actor_id})", worker.counter()));
    let died = |m: String| RuntimeError::ActorDied {
        class: class.to_string(),
        actor_id,
        message: m,
    };
    let t0 = core.now();
    let mut dead: Option<RuntimeError> = dead_reason.map(died);
    let mut conn: Option<Conn> = None;
    let mut ctor_args: Vec<Blob> = Vec::new();
    let class_entry = match ctor {
        ActorCtor::Class(c) => Some(c),
        ActorCtor::Closure(_) => None,
    };
    if dead.is_none() {
        // The constructor holds what placing the actor took.
        enter_task(&core, placement.clone());
        let started = class_entry
            .ok_or_else(|| "closure actors need thread mode".to_string())
            .and_then(|c| {
                with_ref_serde(&session.ref_serde(), || c.encode_args(&args)).map(|a| (c, a))
            })
            .and_then(|(c, a)| {
                ctor_args = a;
                start_actor_process(&core, &procs, &session, c, &ctor_args, tid)
            });
        // What placing it holds now (nothing if its process died while the constructor was
        // blocked); an actor that failed to start holds nothing from here on.
        let placed = leave_task();
        if started.is_err() {
            held = Demand::none();
        }
        core.with(|s, fx| s.actor_constructed(&placed, &held, fx));
        let stored = match started {
            Ok(c) => {
                conn = Some(c);
                Ok(Arc::new(()) as Value)
            }
            Err(m) => {
                let e = died(m);
                dead = Some(e.clone());
                Err(e)
            }
        };
        let pid = conn.as_ref().map(|c| c.child.pid);
        // The actor table is updated before `ready()` resolves, so callers see the pid.
        set_actor_status(
            &core,
            actor_id,
            match &dead {
                None => ActorStatus::Alive,
                Some(e) => ActorStatus::Dead(e.to_string()),
            },
            Some(worker),
            pid,
        );
        core.complete_actor_call(tid, return_id, Some(worker), pid, t0, stored, None);
    } else {
        let e = dead.as_ref().map(|e| e.to_string()).unwrap_or_default();
        set_actor_status(&core, actor_id, ActorStatus::Dead(e), Some(worker), None);
    }
    // Every call holds what the actor holds; a call blocked in `get` gives it back meanwhile.
    enter_task(&core, held.clone());

    let mut inflight: VecDeque<InFlight> = VecDeque::new();
    let mut restarts = prior_restarts;
    // Set when its node cannot start it again: it moves to another place.
    let relocate = std::cell::Cell::new(false);
    let core_serde: Arc<dyn RefSerde> = core.clone();
    // Reads one reply; on a dead process, fails what was in flight and restarts or gives up.
    let mut read_one = |conn: &mut Option<Conn>,
                        inflight: &mut VecDeque<InFlight>,
                        dead: &mut Option<RuntimeError>| {
        let Some(c) = conn.as_mut() else {
            return;
        };
        // The worker runs calls in order: the oldest in flight is the one running now.
        session.set_current(inflight.front().map(|f| f.task));
        let reply = c.next_done(&session);
        let pid = Some(c.child.pid);
        match reply {
            Ok(done) => {
                let Some(f) = inflight.pop_front() else {
                    session.release(done.released);
                    return;
                };
                debug_assert_eq!(f.task, done.task);
                let t2 = core.now();
                let result = match done.result {
                    Ok(b) => with_ref_serde(&core_serde, || f.method.decode_result(&b))
                        .map_err(RuntimeError::Serialization),
                    Err(m) => Err(RuntimeError::TaskFailed {
                        function: f.method.name().to_string(),
                        task_id: f.task,
                        message: m,
                    }),
                };
                session.release(done.released);
                let event = TaskEvent {
                    task: f.task,
                    function: f.method.name(),
                    get_args: f.t0,
                    execute: f.t1,
                    store: t2,
                    end: 0,
                    deps: Vec::new(),
                };
                core.complete_actor_call(
                    f.task,
                    f.oid,
                    Some(worker),
                    pid,
                    f.t0,
                    result,
                    Some((&tl, event)),
                );
            }
            Err(_) => {
                let Some(old) = conn.take() else {
                    return;
                };
                old.child.kill();
                session.clear();
                let msg = format!("worker process {} died", old.child.pid);
                tracing::warn!("actor {actor_id} ({class}): {msg}");
                for f in inflight.drain(..) {
                    let e = died(msg.clone());
                    core.complete_actor_call(f.task, f.oid, Some(worker), pid, f.t0, Err(e), None);
                }
                match class_entry {
                    Some(c) if restarts < max_restarts && !core.is_shutdown() => {
                        restarts += 1;
                        set_actor_status(&core, actor_id, ActorStatus::Restarting, None, None);
                        match start_actor_process(&core, &procs, &session, c, &ctor_args, tid) {
                            Ok(c) => {
                                let pid = Some(c.child.pid);
                                *conn = Some(c);
                                // Alive again: it holds its resources again if a wait of the
                                // dead process gave them up.
                                reacquire(&core);
                                core.with(|s, _| {
                                    if let Some(a) = s.actors.get_mut(&actor_id) {
                                        a.restarts = restarts;
                                        a.status = ActorStatus::Alive;
                                        a.pid = pid;
                                    }
                                });
                            }
                            Err(_) if remote => {
                                // Its node cannot start workers any more: another node will.
                                relocate.set(true);
                                return;
                            }
                            Err(m) => *dead = Some(died(format!("{msg}; restart failed: {m}"))),
                        }
                    }
                    _ => {
                        *dead = Some(died(format!(
                            "{msg} (restarts used: {restarts} of {max_restarts})"
                        )));
                    }
                }
                if let Some(e) = dead {
                    set_actor_status(
                        &core,
                        actor_id,
                        ActorStatus::Dead(e.to_string()),
                        None,
                        None,
                    );
                }
            }
        }
    };

    loop {
        if relocate.get() {
            break;
        }
        let msg = if inflight.is_empty() {
            // Idle: a process that dies now is noticed (and restarted) before the next call.
            match recv_spin_timeout(&mailbox, IDLE_CHECK) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    if conn.as_ref().is_some_and(|c| !c.child.alive()) {
                        read_one(&mut conn, &mut inflight, &mut dead);
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else if inflight.len() >= WINDOW {
            read_one(&mut conn, &mut inflight, &mut dead);
            continue;
        } else {
            match mailbox.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Empty) => {
                    read_one(&mut conn, &mut inflight, &mut dead);
                    continue;
                }
                Err(TryRecvError::Disconnected) => break,
            }
        };
        let ActorMsg::Call(mut call) = msg else {
            break;
        };
        let t0 = core.now();
        let (ctask, coid) = (call.task_id, call.return_id);
        let fail = |e: RuntimeError| {
            core.complete_actor_call(ctask, coid, Some(worker), None, t0, Err(e), None);
        };
        if let Some(e) = &dead {
            fail(e.clone());
            continue;
        }
        let method = match &call.body {
            CallBody::Method(m) => *m,
            CallBody::Closure(_) => {
                fail(RuntimeError::Unsupported(format!(
                    "{}: closure calls need thread mode",
                    call.method
                )));
                continue;
            }
        };
        if call.args.iter().any(|a| a.is_ref()) {
            // The ref may be the result of a call still in flight here: drain before blocking.
            while !inflight.is_empty() && conn.is_some() {
                read_one(&mut conn, &mut inflight, &mut dead);
            }
            if let Err(e) = resolve_call_args(&core, &mut call) {
                fail(e);
                continue;
            }
            if let Some(e) = &dead {
                fail(e.clone());
                continue;
            }
        }
        let args = match with_ref_serde(&session.ref_serde(), || method.encode_args(&call.args)) {
            Ok(a) => a,
            Err(e) => {
                fail(RuntimeError::Serialization(format!("{}: {e}", call.method)));
                continue;
            }
        };
        let Some(c) = conn.as_mut() else {
            fail(died("no worker process".into()));
            continue;
        };
        let sent = c.send(&ToWorker::CallMethod {
            task: call.task_id,
            method: method.name().to_string(),
            args,
        });
        inflight.push_back(InFlight {
            task: call.task_id,
            oid: call.return_id,
            method,
            t0,
            t1: core.now(),
        });
        if sent.is_err() {
            // Reading reports the death and fails what is in flight.
            read_one(&mut conn, &mut inflight, &mut dead);
        }
    }
    while !inflight.is_empty() && conn.is_some() && !relocate.get() {
        read_one(&mut conn, &mut inflight, &mut dead);
    }
    let held = leave_task();
    if relocate.get() {
        if let Some(c) = class_entry {
            tracing::warn!("actor {actor_id} ({class}): its node is gone; placing it on another");
            session.clear();
            core.with(|s, fx| s.actor_stopped_elsewhere(&held, fx));
            core.place_died(place);
            let start = ActorStart {
                actor_id,
                class,
                ctor: ActorCtor::Class(c),
                mailbox,
                max_restarts,
                held: Demand {
                    place: 0,
                    ..held_template
                },
                dead: None,
                restarts,
            };
            let resources = core
                .tasks
                .lock(tid)
                .get(&tid)
                .map(|r| r.resources.clone())
                .unwrap_or_default();
            core.relocate_actor(
                start,
                args,
                Demand {
                    place: 0,
                    ..placement
                },
                resources,
            );
            return;
        }
    }
    drop(args);
    drain_dead(&core, &mailbox, &died("actor stopped".into()));
    if let Some(mut c) = conn.take() {
        let _ = c.send(&ToWorker::Exit).and_then(|_| c.w.flush());
        c.child.kill();
    }
    session.clear();
    core.with(|s, fx| s.actor_stopped(actor_id, &held, fx));
}
