//! Process mode only: workers are real processes; kill -9 of one mid-task is survived.

use crate::common::*;
use crate::harness::{one, Test};
use runtime::{ActorStatus, Isolation, ObjectRef, RuntimeError, RuntimeHandle, TaskState};
use std::time::{Duration, Instant};

pub fn tests(t: &mut Vec<Test>) {
    one(
        t,
        "process::tasks_run_in_other_processes::process",
        other_processes,
    );
    one(
        t,
        "process::kill_9_mid_task_is_retried::process",
        kill_retried,
    );
    one(
        t,
        "process::kill_9_past_max_retries_reports_loss::process",
        kill_lost,
    );
    one(
        t,
        "process::kill_9_of_actor_is_actor_died::process",
        kill_actor,
    );
    one(
        t,
        "process::kill_9_of_actor_restarts_it::process",
        kill_actor_restart,
    );
}

fn kill_9(pid: u32) {
    let st = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Waits (hang guard only) until the task producing `r` runs in a worker process; its pid.
fn running_pid<T>(rt: &RuntimeHandle, r: &ObjectRef<T>) -> u32 {
    let task = rt.object_info(r.id()).unwrap().task.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = rt.task_info(task).unwrap();
        if info.state == TaskState::Running {
            if let Some(pid) = info.worker_pid {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "task never started");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn other_processes() {
    let rt = rt(Isolation::Process, 2.0);
    let p = rt.get(&rt.remote(&worker_pid, ())).unwrap();
    assert_ne!(p, std::process::id());
    let info = rt.task_info(
        rt.object_info(rt.remote(&worker_pid, ()).id())
            .unwrap()
            .task
            .unwrap(),
    );
    assert!(info.is_some());
}

fn kill_retried() {
    let rt = rt(Isolation::Process, 2.0);
    let r = rt.remote(&sleep_pid, (1500,));
    let victim = running_pid(&rt, &r);
    kill_9(victim);
    let ran_on = rt.get(&r).expect("the retry delivers the result");
    assert_ne!(ran_on, victim);
    let info = rt
        .task_info(rt.object_info(r.id()).unwrap().task.unwrap())
        .unwrap();
    assert_eq!(info.attempts, 2);
    assert_eq!(info.state, TaskState::Finished);
    // The pool replaced the dead process and keeps working.
    assert_eq!(rt.get(&rt.remote(&add, (2, 2))).unwrap(), 4);
}

fn kill_lost() {
    let rt = rt(Isolation::Process, 2.0);
    let r = rt
        .task(&sleep_pid, (1500,))
        .max_retries(0)
        .submit()
        .unwrap();
    kill_9(running_pid(&rt, &r));
    match rt.get(&r) {
        Err(RuntimeError::WorkerDied {
            attempts, function, ..
        }) => {
            assert_eq!(attempts, 1);
            assert!(function.ends_with("sleep_pid"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn actor_pid(rt: &RuntimeHandle, a: &runtime::ActorHandle<Counter>) -> u32 {
    rt.get(&a.ready()).unwrap();
    rt.actor_info(a.id()).unwrap().pid.unwrap()
}

fn kill_actor() {
    let rt = rt(Isolation::Process, 2.0);
    let a = rt.actor(&COUNTER, (0,)).spawn().unwrap();
    let pid = actor_pid(&rt, &a);
    assert_eq!(rt.get(&a.method(&PID, ())).unwrap(), pid);
    let slow = a.method(&SLEEP_PID, (5_000,));
    std::thread::sleep(Duration::from_millis(100));
    kill_9(pid);
    assert!(matches!(rt.get(&slow), Err(RuntimeError::ActorDied { .. })));
    assert!(matches!(
        rt.get(&a.method(&GET, ())),
        Err(RuntimeError::ActorDied { .. })
    ));
    assert!(matches!(
        rt.actor_info(a.id()).unwrap().status,
        ActorStatus::Dead(_)
    ));
}

fn kill_actor_restart() {
    let rt = rt(Isolation::Process, 2.0);
    let a = rt.actor(&COUNTER, (10,)).max_restarts(1).spawn().unwrap();
    let pid = actor_pid(&rt, &a);
    assert_eq!(rt.get(&a.method(&INCR, (1,))).unwrap(), 11);
    let slow = a.method(&SLEEP_PID, (5_000,));
    std::thread::sleep(Duration::from_millis(100));
    kill_9(pid);
    // The call in flight is lost with the process; the actor comes back with fresh state.
    assert!(matches!(rt.get(&slow), Err(RuntimeError::ActorDied { .. })));
    assert_eq!(rt.get(&a.method(&GET, ())).unwrap(), 10);
    let new_pid = rt.get(&a.method(&PID, ())).unwrap();
    assert_ne!(new_pid, pid);
    let info = rt.actor_info(a.id()).unwrap();
    assert_eq!(
        (info.restarts, info.status, info.pid),
        (1, ActorStatus::Alive, Some(new_pid))
    );
}
