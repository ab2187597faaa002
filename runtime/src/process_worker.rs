//! Process workers: tasks and actors run in worker processes on this machine.
//!
//! A worker is the current executable started again with `RUNTIME_WORKER_SOCKET` set; its
//! `main` must call [`worker_main_if_requested`] first, which connects back and runs
//! registered functions and actor methods by name. In the driver, one proxy thread per worker
//! process takes the place of a worker thread: the scheduler cannot tell them apart. A proxy
//! that loses its process (kill -9, crash) retries the task elsewhere (`max_retries`) and starts
//! a new process; an actor's proxy restarts it (`max_restarts`) or reports it dead.
//!
//! What is copied: arguments and results are serialized (postcard) across the socket. Objects
//! stay in the driver's store, so `put` + `get` in the driver never copies, in either mode.

use crate::actor::{
    drain_dead, resolve_call_args, set_actor_status, ActorCtor, ActorMsg, ActorStart, ActorStatus,
    CallBody,
};
use crate::error::{panic_message, RuntimeError};
use crate::ids::{ObjectId, TaskId, WorkerId};
use crate::object_store::recv_spin;
use crate::protocol::{read_frame, write_frame, FromWorker, ToWorker};
use crate::registry::{registry, ErasedClass, ErasedMethod};
use crate::scheduler::{Inner, WorkerMsg, WorkerSlot};
use crate::task::{TaskBody, TaskSpec};
use crate::timeline::{TaskEvent, WorkerTimeline};
use crate::value::{ArgSlot, Value};
use crossbeam::channel::{unbounded, Receiver, Sender, TryRecvError};
use parking_lot::Mutex;
use std::any::Any;
use std::collections::VecDeque;
use std::io::{self, BufReader, BufWriter, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set in a worker process's environment: the driver's socket to connect to.
const SOCKET_ENV: &str = "RUNTIME_WORKER_SOCKET";
/// How long a new worker process may take to connect (a loaded machine can be slow).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// Actor calls sent ahead of their replies, so a process actor is not one round trip per call.
const WINDOW: usize = 256;

/// A worker process the driver started.
pub(crate) struct Child {
    proc: Mutex<std::process::Child>,
    pub pid: u32,
}

impl Child {
    /// Kills and reaps the process (idempotent).
    pub fn kill(&self) {
        let mut c = self.proc.lock();
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// The driver's end of one worker process.
struct Conn {
    child: Arc<Child>,
    r: BufReader<UnixStream>,
    w: BufWriter<UnixStream>,
}

impl Conn {
    fn request(&mut self, msg: &ToWorker) -> io::Result<FromWorker> {
        write_frame(&mut self.w, msg)?;
        self.w.flush()?;
        read_frame(&mut self.r)
    }
}

/// Refuses to run a driver inside a process that was started as a worker: that binary did not
/// call `worker_main_if_requested`, and going on would start workers recursively.
pub(crate) fn check_worker_binary() -> Result<(), RuntimeError> {
    if std::env::var_os(SOCKET_ENV).is_some() {
        eprintln!("runtime: this binary was started as a worker process but main() did not call runtime::worker_main_if_requested() first; exiting");
        std::process::exit(101);
    }
    Ok(())
}

fn spawn_child(inner: &Arc<Inner>) -> io::Result<Conn> {
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
        let exe = match &inner.config.worker_program {
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
                    if Instant::now() > deadline || inner.is_shutdown() {
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
        let mut r = BufReader::new(stream.try_clone()?);
        let w = BufWriter::new(stream);
        let pid = match read_frame::<FromWorker, _>(&mut r) {
            Ok(FromWorker::Hello { pid }) => pid,
            Ok(other) => {
                return Err(io::Error::other(format!(
                    "unexpected first message {other:?}"
                )))
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let child = Arc::new(Child {
            proc: Mutex::new(child),
            pid,
        });
        Ok(Conn { child, r, w })
    })();
    let _ = std::fs::remove_file(&path);
    let conn = result?;
    let mut ps = inner.processes.lock();
    ps.retain(|c| c.proc.lock().try_wait().ok().flatten().is_none());
    ps.push(conn.child.clone());
    drop(ps);
    if inner.is_shutdown() {
        conn.child.kill();
        return Err(io::Error::other("runtime shut down"));
    }
    Ok(conn)
}

/// Starts a proxy thread that owns one worker process and offers it to the scheduler.
pub(crate) fn spawn_task_worker(inner: &Arc<Inner>) {
    let id = WorkerId(inner.next_id());
    let (tx, rx) = unbounded();
    let inner2 = inner.clone();
    let h = std::thread::Builder::new()
        .name(format!("rt-proc-worker-{}", id.0))
        .spawn(move || task_proxy(inner2, id, tx, rx));
    match h {
        Ok(h) => inner.register_thread(h),
        Err(e) => {
            tracing::error!("cannot spawn a worker proxy thread: {e}");
            inner.with(|s, _| s.spawning -= 1);
        }
    }
}

fn spawn_failed(inner: &Arc<Inner>, e: io::Error, registered: Option<WorkerId>) {
    tracing::error!("cannot start a worker process: {e}");
    inner.with(|s, fx| {
        if let Some(w) = registered {
            s.workers.remove(&w);
            s.idle.retain(|i| *i != w);
        } else {
            s.spawning -= 1;
        }
        s.spawn_failures += 1;
        if s.spawn_failures >= 3 && s.workers.is_empty() {
            // No worker can start: fail what waits rather than hang.
            s.fail_ready(
                RuntimeError::Unsupported(format!("cannot start worker processes: {e}")),
                fx,
            );
        } else {
            s.dispatch(fx);
        }
    });
}

fn task_proxy(inner: Arc<Inner>, id: WorkerId, tx: Sender<WorkerMsg>, rx: Receiver<WorkerMsg>) {
    let tl = inner.timeline.worker(id, id.0.to_string());
    let mut conn = match spawn_child(&inner) {
        Ok(c) => c,
        Err(e) => return spawn_failed(&inner, e, None),
    };
    inner.with(|s, fx| {
        s.spawning -= 1;
        s.spawn_failures = 0;
        if s.shutdown {
            return;
        }
        s.workers.insert(
            id,
            WorkerSlot {
                tx,
                pid: Some(conn.child.pid),
            },
        );
        s.idle.push(id);
        s.dispatch(fx);
    });
    while let Ok(WorkerMsg::Run(spec)) = recv_spin(&rx) {
        let mut next = Some(spec);
        while let Some(spec) = next.take() {
            if inner.is_shutdown() {
                conn.child.kill();
                return;
            }
            match run_remote(&inner, id, &mut conn, spec, &tl) {
                Ok(n) => next = n,
                Err(()) => return,
            }
        }
    }
    let _ = write_frame(&mut conn.w, &ToWorker::Exit).and_then(|_| conn.w.flush());
    conn.child.kill();
}

/// Runs one task in the worker process; `Err` when the proxy must stop (no process to run on).
fn run_remote(
    inner: &Arc<Inner>,
    worker: WorkerId,
    conn: &mut Conn,
    mut spec: TaskSpec,
    tl: &WorkerTimeline,
) -> Result<Option<TaskSpec>, ()> {
    let t0 = inner.now();
    let (id, function, return_id) = (spec.id, spec.function, spec.return_id);
    let failed = |message: String| RuntimeError::TaskFailed {
        function: function.to_string(),
        task_id: id,
        message,
    };
    let f = match &mut spec.body {
        TaskBody::Function(f) => *f,
        TaskBody::Closure(_) => {
            // Only the error-returning stand-in of a closure task reaches here in process mode.
            let TaskBody::Closure(c) = std::mem::replace(
                &mut spec.body,
                TaskBody::Closure(Box::new(|_| unreachable!())),
            ) else {
                unreachable!()
            };
            let r = catch_unwind(AssertUnwindSafe(|| c(Vec::new())));
            let result = match r {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(failed(e.0)),
                Err(p) => Err(failed(panic_message(&*p))),
            };
            let demand = spec.demand.clone();
            inner.record_finish(id, None, &result, None);
            return Ok(
                inner.with(|s, fx| s.finish(worker, id, return_id, &demand, result, None, fx))
            );
        }
        TaskBody::ActorCreation(_) => unreachable!("actors are started by actor::start"),
    };
    let args = match f.encode_args(&spec.args) {
        Ok(a) => a,
        Err(e) => {
            let demand = spec.demand.clone();
            let err = Err(RuntimeError::Serialization(format!("{function}: {e}")));
            inner.record_finish(id, None, &err, None);
            return Ok(inner.with(|s, fx| s.finish(worker, id, return_id, &demand, err, None, fx)));
        }
    };
    let t1 = inner.now();
    let reply = conn.request(&ToWorker::RunTask {
        task: id.0,
        function: function.to_string(),
        args,
    });
    match reply {
        Ok(FromWorker::Done { result, .. }) => {
            let t2 = inner.now();
            let result = match result {
                Ok(bytes) => f
                    .decode_result(&bytes)
                    .map_err(|e| RuntimeError::Serialization(format!("{function}: {e}"))),
                Err(msg) => Err(failed(msg)),
            };
            let TaskSpec {
                demand, dep_tasks, ..
            } = spec;
            inner.record_finish(id, None, &result, None);
            let (next, flush) = inner.with(|s, fx| {
                let next = s.finish(worker, id, return_id, &demand, result, Some(worker), fx);
                let flush = inner.timeline.enabled
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
        Ok(FromWorker::Hello { .. }) | Err(_) => {
            // The process died (or spoke nonsense): retry the task, replace the process.
            tracing::warn!(
                "worker process {} died running {function} ({id})",
                conn.child.pid
            );
            conn.child.kill();
            inner.with(|s, fx| s.retry(spec, fx));
            if inner.is_shutdown() {
                return Err(());
            }
            match spawn_child(inner) {
                Ok(c) => {
                    *conn = c;
                    let pid = conn.child.pid;
                    Ok(inner.with(|s, fx| {
                        if let Some(w) = s.workers.get_mut(&worker) {
                            w.pid = Some(pid);
                        }
                        s.next_for(worker, fx)
                    }))
                }
                Err(e) => {
                    spawn_failed(inner, e, Some(worker));
                    Err(())
                }
            }
        }
    }
}

/// Starts an actor's proxy thread, which starts its worker process.
pub(crate) fn start_actor(inner: &Arc<Inner>, spec: TaskSpec) {
    let inner2 = inner.clone();
    let h = std::thread::Builder::new()
        .name("rt-proc-actor".into())
        .spawn(move || process_actor_main(inner2, spec));
    match h {
        Ok(h) => inner.register_thread(h),
        Err(e) => tracing::error!("cannot spawn an actor proxy thread: {e}"),
    }
}

fn start_actor_process(
    inner: &Arc<Inner>,
    class: &'static dyn ErasedClass,
    args: &[Vec<u8>],
    task: TaskId,
) -> Result<Conn, String> {
    let mut conn = spawn_child(inner).map_err(|e| format!("cannot start worker process: {e}"))?;
    let reply = conn.request(&ToWorker::CreateActor {
        task: task.0,
        class: class.name().to_string(),
        args: args.to_vec(),
    });
    match reply {
        Ok(FromWorker::Done { result: Ok(_), .. }) => Ok(conn),
        Ok(FromWorker::Done { result: Err(m), .. }) => {
            conn.child.kill();
            Err(format!("constructor failed: {m}"))
        }
        Ok(other) => {
            conn.child.kill();
            Err(format!("unexpected reply {other:?}"))
        }
        Err(e) => {
            conn.child.kill();
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

fn process_actor_main(inner: Arc<Inner>, spec: TaskSpec) {
    let TaskSpec {
        id: tid,
        body,
        args,
        demand,
        return_id,
        ..
    } = spec;
    let TaskBody::ActorCreation(start) = body else {
        unreachable!("only actor creations are started here")
    };
    let ActorStart {
        actor_id,
        class,
        ctor,
        mailbox,
        dead: dead_reason,
        max_restarts,
    } = *start;
    let worker = WorkerId(inner.next_id());
    let tl = inner
        .timeline
        .worker(worker, format!("{} ({class} {actor_id})", worker.0));
    let died = |m: String| RuntimeError::ActorDied {
        class: class.to_string(),
        actor_id,
        message: m,
    };
    let t0 = inner.now();
    let mut dead: Option<RuntimeError> = dead_reason.map(died);
    let mut conn: Option<Conn> = None;
    let mut ctor_args: Vec<Vec<u8>> = Vec::new();
    let class_entry = match ctor {
        ActorCtor::Class(c) => Some(c),
        ActorCtor::Closure(_) => None,
    };
    if dead.is_none() {
        let started = class_entry
            .ok_or_else(|| "closure actors need thread mode".to_string())
            .and_then(|c| c.encode_args(&args).map(|a| (c, a)))
            .and_then(|(c, a)| {
                ctor_args = a;
                start_actor_process(&inner, c, &ctor_args, tid)
            });
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
            &inner,
            actor_id,
            match &dead {
                None => ActorStatus::Alive,
                Some(e) => ActorStatus::Dead(e.to_string()),
            },
            Some(worker),
            pid,
        );
        inner.complete_actor_call(tid, return_id, worker, pid, t0, stored, None);
    } else {
        let e = dead.as_ref().map(|e| e.to_string()).unwrap_or_default();
        set_actor_status(&inner, actor_id, ActorStatus::Dead(e), Some(worker), None);
    }
    drop(args);

    let mut inflight: VecDeque<InFlight> = VecDeque::new();
    let mut restarts = 0u32;
    // Reads one reply; on a dead process, fails what was in flight and restarts or gives up.
    let mut read_one = |conn: &mut Option<Conn>,
                        inflight: &mut VecDeque<InFlight>,
                        dead: &mut Option<RuntimeError>| {
        let Some(c) = conn.as_mut() else {
            return;
        };
        let reply =
            c.w.flush()
                .and_then(|_| read_frame::<FromWorker, _>(&mut c.r));
        let pid = Some(c.child.pid);
        match reply {
            Ok(FromWorker::Done { task, result }) => {
                let Some(f) = inflight.pop_front() else {
                    return;
                };
                debug_assert_eq!(f.task.0, task);
                let t2 = inner.now();
                let result = match result {
                    Ok(b) => f
                        .method
                        .decode_result(&b)
                        .map_err(RuntimeError::Serialization),
                    Err(m) => Err(RuntimeError::TaskFailed {
                        function: f.method.name().to_string(),
                        task_id: f.task,
                        message: m,
                    }),
                };
                let event = TaskEvent {
                    task: f.task,
                    function: f.method.name(),
                    get_args: f.t0,
                    execute: f.t1,
                    store: t2,
                    end: 0,
                    deps: Vec::new(),
                };
                inner.complete_actor_call(
                    f.task,
                    f.oid,
                    worker,
                    pid,
                    f.t0,
                    result,
                    Some((&tl, event)),
                );
            }
            Ok(FromWorker::Hello { .. }) | Err(_) => {
                let old = conn.take().expect("checked");
                old.child.kill();
                let msg = format!("worker process {} died", old.child.pid);
                tracing::warn!("actor {actor_id} ({class}): {msg}");
                for f in inflight.drain(..) {
                    let e = died(msg.clone());
                    inner.complete_actor_call(f.task, f.oid, worker, pid, f.t0, Err(e), None);
                }
                if restarts < max_restarts && !inner.is_shutdown() {
                    restarts += 1;
                    set_actor_status(&inner, actor_id, ActorStatus::Restarting, None, None);
                    let c = class_entry.expect("a started actor has a class");
                    match start_actor_process(&inner, c, &ctor_args, tid) {
                        Ok(c) => {
                            let pid = Some(c.child.pid);
                            *conn = Some(c);
                            inner.with(|s, _| {
                                if let Some(a) = s.actors.get_mut(&actor_id) {
                                    a.restarts = restarts;
                                    a.status = ActorStatus::Alive;
                                    a.pid = pid;
                                }
                            });
                        }
                        Err(m) => *dead = Some(died(format!("{msg}; restart failed: {m}"))),
                    }
                } else {
                    *dead = Some(died(format!(
                        "{msg} (restarts used: {restarts} of {max_restarts})"
                    )));
                }
                if let Some(e) = dead {
                    set_actor_status(
                        &inner,
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
        let msg = if inflight.is_empty() {
            match recv_spin(&mailbox) {
                Ok(m) => m,
                Err(_) => break,
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
        let t0 = inner.now();
        let (ctask, coid) = (call.task_id, call.return_id);
        let fail = |e: RuntimeError| {
            inner.complete_actor_call(ctask, coid, worker, None, t0, Err(e), None);
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
        if call.args.iter().any(|a| matches!(a, ArgSlot::Ref(_))) {
            // The ref may be the result of a call still in flight here: drain before blocking.
            while !inflight.is_empty() && conn.is_some() {
                read_one(&mut conn, &mut inflight, &mut dead);
            }
            if let Err(e) = resolve_call_args(&inner, &mut call) {
                fail(e);
                continue;
            }
            if let Some(e) = &dead {
                fail(e.clone());
                continue;
            }
        }
        let args = match method.encode_args(&call.args) {
            Ok(a) => a,
            Err(e) => {
                fail(RuntimeError::Serialization(format!("{}: {e}", call.method)));
                continue;
            }
        };
        let c = conn.as_mut().expect("alive actors have a process");
        let sent = write_frame(
            &mut c.w,
            &ToWorker::CallMethod {
                task: call.task_id.0,
                method: method.name().to_string(),
                args,
            },
        );
        inflight.push_back(InFlight {
            task: call.task_id,
            oid: call.return_id,
            method,
            t0,
            t1: inner.now(),
        });
        if sent.is_err() {
            // Reading reports the death and fails what is in flight.
            read_one(&mut conn, &mut inflight, &mut dead);
        }
    }
    while !inflight.is_empty() && conn.is_some() {
        read_one(&mut conn, &mut inflight, &mut dead);
    }
    drain_dead(&inner, &mailbox, &died("actor stopped".into()));
    if let Some(mut c) = conn.take() {
        let _ = write_frame(&mut c.w, &ToWorker::Exit).and_then(|_| c.w.flush());
        c.child.kill();
    }
    inner.with(|s, fx| {
        s.pool.release(&demand);
        if let Some(a) = s.actors.get_mut(&actor_id) {
            if !matches!(a.status, ActorStatus::Dead(_)) {
                a.status = ActorStatus::Dead("stopped".into());
            }
        }
        s.dispatch(fx);
    });
}

/// Runs the worker loop if this process was started as a worker; call first thing in `main`.
///
/// In a normal run it returns at once; in a worker process it never returns.
pub fn worker_main_if_requested() {
    let Some(path) = std::env::var_os(SOCKET_ENV) else {
        return;
    };
    let code = match worker_loop(std::path::Path::new(&path)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("runtime worker {}: {e}", std::process::id());
            1
        }
    };
    std::process::exit(code);
}

fn worker_loop(path: &std::path::Path) -> io::Result<()> {
    let stream = UnixStream::connect(path)?;
    let reg = registry();
    let mut r = BufReader::new(stream.try_clone()?);
    let mut w = BufWriter::new(stream);
    write_frame(
        &mut w,
        &FromWorker::Hello {
            pid: std::process::id(),
        },
    )?;
    w.flush()?;
    let mut actor: Option<Box<dyn Any + Send>> = None;
    loop {
        let msg = match read_frame::<ToWorker, _>(&mut r) {
            Ok(m) => m,
            // The driver went away: nothing left to work for.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        let (task, result) = match msg {
            ToWorker::Exit => return Ok(()),
            ToWorker::RunTask {
                task,
                function,
                args,
            } => {
                let result = match reg.functions.get(function.as_str()) {
                    None => Err(format!(
                        "function {function} is not registered in the worker binary"
                    )),
                    Some(f) => guarded(|| f.invoke_bytes(&args).map_err(|e| e.0)),
                };
                (task, result)
            }
            ToWorker::CreateActor { task, class, args } => {
                let result = match reg.classes.get(class.as_str()) {
                    None => Err(format!(
                        "actor class {class} is not registered in the worker binary"
                    )),
                    Some(c) => guarded(|| c.construct_bytes(&args).map_err(|e| e.0)).map(|s| {
                        actor = Some(s);
                        Vec::new()
                    }),
                };
                (task, result)
            }
            ToWorker::CallMethod { task, method, args } => {
                let result = match (reg.methods.get(method.as_str()), actor.as_mut()) {
                    (None, _) => Err(format!(
                        "actor method {method} is not registered in the worker binary"
                    )),
                    (_, None) => Err("no actor in this worker".to_string()),
                    (Some(m), Some(state)) => {
                        guarded(|| m.invoke_bytes(&mut **state, &args).map_err(|e| e.0))
                    }
                };
                (task, result)
            }
        };
        write_frame(&mut w, &FromWorker::Done { task, result })?;
        // Replies to a batch of pipelined calls go out together.
        if r.buffer().is_empty() {
            w.flush()?;
        }
    }
}

fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(panic_message(&*p)),
    }
}
