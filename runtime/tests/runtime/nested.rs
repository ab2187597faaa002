//! Nested tasks, as in Ray: tasks and actor methods that submit, get, put, wait and use actors
//! through `runtime::current()`, on as little as one CPU, in threads and in worker processes.

use crate::common::*;
use crate::harness::{both, one, Test};
use runtime::{
    current, register, remote_fn, ActorClass, ActorMethod, Isolation, ObjectId, ObjectRef,
    RuntimeError, RuntimeHandle, TaskState,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn tests(t: &mut Vec<Test>) {
    both(
        t,
        "nested::current_is_set_inside_tasks_and_methods",
        current_set,
    );
    both(
        t,
        "nested::task_gets_its_child_on_one_cpu",
        child_on_one_cpu,
    );
    both(t, "nested::recursion_depth_100_on_one_cpu", recursion_100);
    both(t, "nested::fan_out_20_then_get_all_on_one_cpu", fan_out);
    both(t, "nested::task_creates_and_calls_an_actor", actor_inside);
    both(t, "nested::actor_methods_submit_tasks", actor_submits);
    both(t, "nested::actor_handles_passed_to_tasks", handle_passed);
    both(
        t,
        "nested::put_get_and_pass_refs_inside_a_task",
        put_get_inside,
    );
    both(t, "nested::wait_inside_a_task", wait_inside);
    both(
        t,
        "nested::refs_inside_arguments_and_results",
        refs_in_values,
    );
    both(
        t,
        "nested::refs_a_task_held_are_released_when_it_ends",
        released_at_task_end,
    );
    both(
        t,
        "nested::refs_an_actor_drops_are_released",
        actor_releases,
    );
    both(
        t,
        "nested::default_actor_leaves_the_cpu_to_tasks",
        default_actor,
    );
    both(
        t,
        "nested::explicit_actor_cpu_is_held_until_killed",
        explicit_actor,
    );
    one(
        t,
        "nested::never_more_running_than_cpus::thread",
        never_oversubscribed,
    );
    one(
        t,
        "nested::resumed_task_goes_before_queued_tasks::thread",
        resume_first,
    );
    one(
        t,
        "nested::closures_from_a_worker_process_are_unsupported::process",
        closures_in_worker,
    );
    one(
        t,
        "nested::worker_killed_while_blocked_is_detected::process",
        killed_while_blocked,
    );
}

fn here() -> RuntimeHandle {
    current().expect("runtime::current() inside a task")
}

remote_fn! { pub fn has_current() -> bool { current().is_some() } }

remote_fn! {
    /// Counts down by submitting itself and waiting for the result.
    pub fn depth(n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let rt = here();
        rt.get(&rt.remote(&depth, (n - 1,))).unwrap() + 1
    }
}

remote_fn! { pub fn square(x: u64) -> u64 { x * x } }

remote_fn! {
    /// Submits `n` children and gets them all at once.
    pub fn fan(n: u64) -> u64 {
        let rt = here();
        let refs: Vec<ObjectRef<u64>> = (0..n).map(|i| rt.remote(&square, (i,))).collect();
        rt.get_all(&refs).unwrap().iter().sum()
    }
}

remote_fn! {
    /// Creates a counter actor, calls it, and returns what it says.
    pub fn use_actor(start: i64) -> (i64, i64) {
        let rt = here();
        let c = rt.actor(&COUNTER, (start,)).spawn().unwrap();
        rt.get(&c.ready()).unwrap();
        let a = c.method(&INCR, (2,));
        let b = c.method(&INCR, (&rt.remote(&add, (1, 2)),));
        (rt.get(&a).unwrap(), rt.get(&b).unwrap())
    }
}

remote_fn! {
    /// Puts a value, reads it back, and hands the ref to a child task.
    pub fn put_get(v: Vec<u8>) -> (usize, usize, usize) {
        let rt = here();
        let r = rt.put(v);
        let back = rt.get(&r).unwrap();
        let child = rt.remote(&len_of, (&r,));
        let arc = rt.get_arc(&r).unwrap();
        (back.len(), rt.get(&child).unwrap(), arc.len())
    }
}

remote_fn! {
    /// Waits for the first of a fast and a slow child.
    pub fn wait_first() -> (usize, usize, i64) {
        let rt = here();
        let slow = rt.remote(&sleep_then, (2_000, 1));
        let fast = rt.remote(&add, (20, 1));
        let (ready, pending) = rt.wait(&[slow, fast], 1, Some(Duration::from_secs(60)));
        let v = rt.get(&ready[0]).unwrap();
        (ready.len(), pending.len(), v)
    }
}

remote_fn! {
    /// Reads a ref that arrived inside its argument.
    pub fn sum_ref(r: ObjectRef<Vec<i64>>) -> i64 { here().get(&r).unwrap().iter().sum() }
}

remote_fn! {
    /// Returns a ref to a value it put (the ref outlives the task).
    pub fn make_ref(v: i64) -> ObjectRef<i64> { here().put(v) }
}

remote_fn! {
    /// Puts a value and returns only its id: nothing outside holds the ref.
    pub fn put_and_forget(v: i64) -> ObjectId {
        let r = here().put(v);
        let id = r.id();
        // Keep it until the task ends, like a value stashed in a local.
        std::mem::forget(r.clone());
        id
    }
}

remote_fn! {
    /// Spawns a closure task from inside (unsupported in a worker process).
    pub fn closure_inside() -> (bool, bool) {
        let rt = here();
        let r = rt.spawn("inner", || 1u8);
        let task_refused = matches!(rt.get(&r), Err(RuntimeError::Unsupported(_)));
        let actor_refused = matches!(
            rt.actor_local("x", || 1u8).spawn(),
            Err(RuntimeError::Unsupported(_))
        );
        (task_refused, actor_refused)
    }
}

remote_fn! {
    /// Waits for a child that sleeps far longer than any test runs.
    pub fn wait_forever() -> i64 {
        let rt = here();
        rt.get(&rt.remote(&sleep_then, (600_000, 0))).unwrap()
    }
}

/// An actor that keeps a ref in its state.
pub struct Holder {
    r: Option<ObjectRef<i64>>,
}
pub static HOLDER: ActorClass<Holder, ()> = ActorClass::new("Holder", |()| Holder { r: None });
pub static HOLD: ActorMethod<Holder, (i64,), ObjectId> =
    ActorMethod::new("Holder::hold", |h, (v,)| {
        let r = here().put(v);
        let id = r.id();
        h.r = Some(r);
        id
    });
pub static DROP_IT: ActorMethod<Holder, (), ()> =
    ActorMethod::new("Holder::drop_it", |h, ()| h.r = None);
pub static HAS_CURRENT: ActorMethod<Holder, (), bool> =
    ActorMethod::new("Holder::has_current", |_, ()| current().is_some());
pub static ADD_VIA_TASK: ActorMethod<Counter, (i64,), i64> =
    ActorMethod::new("Counter::add_via_task", |c, (by,)| {
        let rt = here();
        c.n = rt.get(&rt.remote(&add, (c.n, by))).unwrap();
        c.n
    });
register!(HOLDER, HOLD, DROP_IT, HAS_CURRENT, ADD_VIA_TASK);

/// Waits (hang guard only) until `cond` holds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn current_set(mode: Isolation) {
    let rt = rt(mode, 1.0);
    assert!(current().is_none(), "the driver's own thread runs no task");
    assert!(rt.get(&rt.remote(&has_current, ())).unwrap());
    let h = rt.actor(&HOLDER, ()).spawn().unwrap();
    assert!(rt.get(&h.method(&HAS_CURRENT, ())).unwrap());
}

fn child_on_one_cpu(mode: Isolation) {
    let rt = rt(mode, 1.0);
    assert_eq!(rt.get(&rt.remote(&depth, (1,))).unwrap(), 1);
    // Everything given back once done.
    eventually("CPU free again", || rt.available_resources().cpu == 1.0);
}

fn recursion_100(mode: Isolation) {
    let rt = rt(mode, 1.0);
    assert_eq!(rt.get(&rt.remote(&depth, (100,))).unwrap(), 100);
    eventually("CPU free again", || rt.available_resources().cpu == 1.0);
}

fn fan_out(mode: Isolation) {
    let rt = rt(mode, 1.0);
    let want: u64 = (0..20u64).map(|i| i * i).sum();
    assert_eq!(rt.get(&rt.remote(&fan, (20,))).unwrap(), want);
    // Children record the fanning task as their parent.
    let parent = rt
        .tasks(&Default::default())
        .into_iter()
        .find(|t| t.function.ends_with("::fan"))
        .unwrap();
    let children = rt.tasks(&runtime::TaskFilter {
        function: Some("::square".into()),
        ..Default::default()
    });
    assert_eq!(children.len(), 20);
    assert!(children.iter().all(|c| c.parent == Some(parent.task_id)));
}

fn actor_inside(mode: Isolation) {
    let rt = rt(mode, 1.0);
    assert_eq!(rt.get(&rt.remote(&use_actor, (10,))).unwrap(), (12, 15));
}

remote_fn! {
    /// Calls an actor through a handle it was given, then returns the actor's count.
    pub fn incr_through(c: runtime::ActorHandle<Counter>, by: i64) -> i64 {
        let rt = here();
        rt.get(&c.method(&INCR, (by,))).unwrap()
    }
}

fn handle_passed(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let c = rt.actor(&COUNTER, (100,)).spawn().unwrap();
    let refs: Vec<ObjectRef<i64>> = (1..=5)
        .map(|i| rt.remote(&incr_through, (c.clone(), i)))
        .collect();
    let mut got = rt.get_all(&refs).unwrap();
    got.sort();
    // Every call went to the same actor: the counts grow to 100 + 1 + ... + 5.
    assert_eq!(*got.last().unwrap(), 115);
    assert_eq!(rt.get(&c.method(&GET, ())).unwrap(), 115);
}

fn actor_submits(mode: Isolation) {
    let rt = rt(mode, 1.0);
    let c = rt.actor(&COUNTER, (0,)).spawn().unwrap();
    // Pipelined calls, each submitting a task and waiting for it.
    let refs: Vec<ObjectRef<i64>> = (0..20).map(|_| c.method(&ADD_VIA_TASK, (1,))).collect();
    assert_eq!(rt.get_all(&refs).unwrap(), (1..=20).collect::<Vec<i64>>());
}

fn put_get_inside(mode: Isolation) {
    let rt = rt(mode, 1.0);
    assert_eq!(
        rt.get(&rt.remote(&put_get, (vec![7u8; 1000],))).unwrap(),
        (1000, 1000, 1000)
    );
}

fn wait_inside(mode: Isolation) {
    let rt = rt(mode, 2.0);
    assert_eq!(rt.get(&rt.remote(&wait_first, ())).unwrap(), (1, 1, 21));
}

fn refs_in_values(mode: Isolation) {
    let rt = rt(mode, 1.0);
    let v = rt.put(vec![1i64, 2, 3]);
    // A ref inside an argument: the worker reads it from the driver's store.
    assert_eq!(rt.get(&rt.remote(&sum_ref, (v.clone(),))).unwrap(), 6);
    // A ref made inside a task and returned: it stays alive after the task ends.
    let r = rt.get(&rt.remote(&make_ref, (42,))).unwrap();
    assert_eq!(rt.get(&r).unwrap(), 42);
    assert!(rt.object_info(r.id()).is_some());
    // ... and can be passed on to another task.
    assert_eq!(rt.get(&rt.remote(&add, (&r, 1))).unwrap(), 43);
}

fn released_at_task_end(mode: Isolation) {
    let rt = rt(mode, 1.0);
    let id = rt.get(&rt.remote(&put_and_forget, (5,))).unwrap();
    if mode == Isolation::Process {
        // The driver released what the worker held when its task ended.
        eventually("object freed", || {
            // Any operation runs the collector.
            let _ = rt.available_resources();
            rt.object_info(id).is_none()
        });
    } else {
        // In thread mode the leaked clone is a real leak, as for any Rc.
        assert!(rt.object_info(id).is_some());
    }
}

fn actor_releases(mode: Isolation) {
    let rt = rt(mode, 1.0);
    let h = rt.actor(&HOLDER, ()).spawn().unwrap();
    let id = rt.get(&h.method(&HOLD, (9,))).unwrap();
    let _ = rt.available_resources();
    assert!(rt.object_info(id).is_some(), "held by the actor");
    rt.get(&h.method(&DROP_IT, ())).unwrap();
    eventually("dropped ref freed", || {
        let _ = rt.available_resources();
        rt.object_info(id).is_none()
    });
}

fn default_actor(mode: Isolation) {
    let rt = rt(mode, 1.0);
    let c = rt.actor(&COUNTER, (0,)).spawn().unwrap();
    rt.get(&c.ready()).unwrap();
    // Alive and holding nothing: tasks still run beside it.
    assert_eq!(rt.available_resources().cpu, 1.0);
    let r = rt.remote(&add, (1, 2));
    assert_eq!(rt.get(&r).unwrap(), 3);
    assert_eq!(rt.get(&c.method(&INCR, (1,))).unwrap(), 1);
}

fn explicit_actor(mode: Isolation) {
    let rt = rt(mode, 1.0);
    let c = rt.actor(&COUNTER, (0,)).num_cpus(1.0).spawn().unwrap();
    rt.get(&c.ready()).unwrap();
    assert_eq!(rt.available_resources().cpu, 0.0);
    let r = rt.remote(&add, (1, 2));
    assert!(matches!(
        rt.get_timeout(&r, Duration::from_millis(200)),
        Err(RuntimeError::Timeout(_))
    ));
    c.kill();
    assert_eq!(rt.get(&r).unwrap(), 3);
}

fn never_oversubscribed() {
    let rt = rt(Isolation::Thread, 2.0);
    let running = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let enter = |running: &AtomicUsize, max: &AtomicUsize| {
        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
        max.fetch_max(now, Ordering::SeqCst);
    };
    let parents: Vec<ObjectRef<usize>> = (0..8)
        .map(|_| {
            let (running, max) = (running.clone(), max.clone());
            let h = rt.handle();
            rt.spawn("parent", move || {
                enter(&running, &max);
                let kids: Vec<ObjectRef<()>> = (0..5)
                    .map(|_| {
                        let (running, max) = (running.clone(), max.clone());
                        h.spawn("leaf", move || {
                            enter(&running, &max);
                            std::thread::sleep(Duration::from_millis(2));
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                    })
                    .collect();
                // Not running while blocked: counted out before, back in after.
                running.fetch_sub(1, Ordering::SeqCst);
                let n = h.get_all(&kids).unwrap().len();
                enter(&running, &max);
                running.fetch_sub(1, Ordering::SeqCst);
                n
            })
        })
        .collect();
    assert_eq!(rt.get_all(&parents).unwrap(), vec![5; 8]);
    assert!(
        max.load(Ordering::SeqCst) <= 2,
        "{} tasks ran at once on 2 CPUs",
        max.load(Ordering::SeqCst)
    );
}

fn resume_first() {
    let rt = rt(Isolation::Thread, 1.0);
    let h = rt.handle();
    let (tx, rx) = std::sync::mpsc::channel();
    let parent = rt.spawn("parent", move || {
        let child = h.remote(&sleep_then, (300, 1));
        tx.send(child.id()).unwrap();
        h.get(&child).unwrap()
    });
    let child = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let child_task = rt.object_info(child).unwrap().task.unwrap();
    eventually("child running", || {
        rt.task_info(child_task).unwrap().state == TaskState::Running
    });
    // Tasks queued while the parent is blocked must not overtake it when the child ends.
    let queued: Vec<ObjectRef<i64>> = (0..50).map(|i| rt.remote(&sleep_then, (5, i))).collect();
    assert_eq!(rt.get(&parent).unwrap(), 1);
    rt.get_all(&queued).unwrap();
    let task_of = |id: ObjectId| {
        rt.task_info(rt.object_info(id).unwrap().task.unwrap())
            .unwrap()
    };
    let parent_end = task_of(parent.id()).end_time.unwrap();
    let overtook = queued
        .iter()
        .filter(|q| task_of(q.id()).start_time.unwrap() < parent_end)
        .count();
    // At most the one that took the CPU before the parent asked for it back.
    assert!(
        overtook <= 2,
        "{overtook} queued tasks ran before the parent resumed"
    );
}

fn closures_in_worker() {
    let rt = rt(Isolation::Process, 1.0);
    assert_eq!(
        rt.get(&rt.remote(&closure_inside, ())).unwrap(),
        (true, true)
    );
}

fn kill_9(pid: u32) {
    let st = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn killed_while_blocked() {
    let rt = rt(Isolation::Process, 1.0);
    let r = rt.task(&wait_forever, ()).max_retries(0).submit().unwrap();
    let task = rt.object_info(r.id()).unwrap().task.unwrap();
    // Once its child runs, the parent is blocked in `get` inside its worker process.
    eventually("child running", || {
        rt.tasks(&runtime::TaskFilter {
            state: Some(TaskState::Running),
            function: Some("sleep_then".into()),
        })
        .len()
            == 1
    });
    let pid = rt.task_info(task).unwrap().worker_pid.unwrap();
    kill_9(pid);
    // Reported as a dead worker, not after the child's ten minutes (the hang guard is two).
    assert!(matches!(rt.get(&r), Err(RuntimeError::WorkerDied { .. })));
}
