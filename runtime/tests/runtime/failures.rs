//! Failures are values: panics, errors, upstream causes, dead actors.

use crate::common::*;
use crate::harness::{both, Test};
use runtime::{Isolation, RuntimeError};

pub fn tests(t: &mut Vec<Test>) {
    both(
        t,
        "failures::panic_message_reaches_caller",
        panic_reaches_caller,
    );
    both(t, "failures::returned_error_is_task_failed", returned_error);
    both(t, "failures::dependents_fail_with_upstream_cause", upstream);
    both(t, "failures::actor_panic_fails_only_that_call", actor_panic);
    both(
        t,
        "failures::actor_constructor_failure_is_actor_died",
        actor_ctor,
    );
    both(
        t,
        "failures::drop_runtime_with_pending_work_never_hangs",
        drop_pending,
    );
}

fn panic_reaches_caller(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let r = rt.remote(&boom, ("the reactor melted".to_string(),));
    match rt.get(&r) {
        Err(RuntimeError::TaskFailed {
            function,
            task_id,
            message,
        }) => {
            assert!(function.ends_with("boom"), "{function}");
            assert_eq!(message, "the reactor melted");
            assert_eq!(Some(task_id), rt.object_info(r.id()).unwrap().task);
        }
        other => panic!("unexpected {other:?}"),
    }
    // The runtime keeps working afterwards.
    assert_eq!(rt.get(&rt.remote(&add, (1, 1))).unwrap(), 2);
}

fn returned_error(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let r = rt.remote(&FAILS, (3,));
    let e = rt.get(&r).unwrap_err();
    assert!(
        matches!(&e, RuntimeError::TaskFailed { message, .. } if message == "bad input 3"),
        "{e}"
    );
    // Application errors are not retried.
    let t = rt.object_info(r.id()).unwrap().task.unwrap();
    assert_eq!(rt.task_info(t).unwrap().attempts, 1);
}

fn upstream(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let bad = rt.remote(&boom, ("upstream".to_string(),));
    let mid = rt.remote(&add, (&bad, 1));
    let last = rt.remote(&add, (&mid, 1));
    let e = rt.get(&last).unwrap_err();
    match &e {
        RuntimeError::UpstreamFailed { cause, .. } => {
            assert!(matches!(**cause, RuntimeError::UpstreamFailed { .. }))
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        matches!(e.root_cause(), RuntimeError::TaskFailed { message, .. } if message == "upstream")
    );
}

fn actor_panic(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let c = rt.actor(&COUNTER, (0,)).spawn().unwrap();
    let a = c.method(&INCR, (1,));
    let p = c.method(&PANIC, ("actor boom".to_string(),));
    let b = c.method(&INCR, (1,));
    assert_eq!(rt.get(&a).unwrap(), 1);
    assert!(
        matches!(rt.get(&p), Err(RuntimeError::TaskFailed { message, .. }) if message == "actor boom")
    );
    assert_eq!(rt.get(&b).unwrap(), 2);
}

fn actor_ctor(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let c = rt.actor(&BROKEN, ()).spawn().unwrap();
    let r = c.method(&GET, ());
    assert!(
        matches!(rt.get(&r), Err(RuntimeError::ActorDied { message, .. }) if message.contains("constructor exploded"))
    );
    assert!(rt.get(&c.ready()).is_err());
}

fn drop_pending(mode: Isolation) {
    let rt = rt(mode, 1.0);
    let slow = rt.remote(&sleep_then, (500, 1));
    let queued: Vec<_> = (0..100).map(|i| rt.remote(&add, (i, 1))).collect();
    let h = rt.handle();
    drop(rt);
    // Everything not yet done reports the shutdown instead of waiting.
    for r in queued.iter().chain([&slow]) {
        match h.get(r) {
            Ok(_) | Err(RuntimeError::Shutdown) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
}
