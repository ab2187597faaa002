//! Actors: state, call order, handles passed into tasks, closures on non-Sync state.

use crate::common::*;
use crate::harness::{both, one, Test};
use runtime::{Isolation, RuntimeError};

pub fn tests(t: &mut Vec<Test>) {
    both(t, "actors::calls_run_in_submission_order", call_order);
    both(t, "actors::method_args_can_be_refs", ref_args);
    one(
        t,
        "actors::closures_on_non_sync_state::thread",
        closures_non_sync,
    );
    one(
        t,
        "actors::handles_passed_into_tasks::thread",
        handles_into_tasks,
    );
    one(
        t,
        "actors::closure_calls_refused_in_process_mode::process",
        closures_refused,
    );
}

fn call_order(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let c = rt.actor(&COUNTER, (0,)).spawn().unwrap();
    let refs: Vec<_> = (1..=200).map(|i| c.method(&INCR, (i,))).collect();
    let log = c.method(&LOG, ());
    assert_eq!(rt.get(&log).unwrap(), (1..=200).collect::<Vec<i64>>());
    // Running totals prove each call saw all earlier ones.
    let totals = rt.get_all(&refs).unwrap();
    assert_eq!(totals.last(), Some(&(200 * 201 / 2)));
    assert!(totals.windows(2).all(|w| w[0] < w[1]));
    // A clone of the handle talks to the same actor.
    let c2 = c.clone();
    assert_eq!(rt.get(&c2.method(&GET, ())).unwrap(), 200 * 201 / 2);
}

fn ref_args(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let c = rt.actor(&COUNTER, (10,)).spawn().unwrap();
    let x = rt.remote(&sleep_then, (100, 5));
    // The call waits for x; the next call still runs after it.
    let a = c.method(&INCR, (&x,));
    let b = c.method(&INCR, (1,));
    assert_eq!((rt.get(&a).unwrap(), rt.get(&b).unwrap()), (15, 16));
}

fn closures_non_sync() {
    let rt = rt(Isolation::Thread, 2.0);
    // Rc is neither Send nor Sync; RefCell is not Sync. The state is built on the actor's thread.
    struct Model {
        weights: std::cell::RefCell<Vec<f32>>,
    }
    let m = rt
        .actor_local("Model", || Model {
            weights: std::cell::RefCell::new(vec![0.0; 4]),
        })
        .spawn()
        .unwrap();
    let w = rt.put(vec![1.0f32, 2.0, 3.0, 4.0]);
    let set = m.call_with(&w, |m: &mut Model, w| {
        *m.weights.borrow_mut() = (*w).clone()
    });
    let sum = m.call(|m: &mut Model| m.weights.borrow().iter().sum::<f32>());
    rt.get(&set).unwrap();
    assert_eq!(rt.get(&sum).unwrap(), 10.0);
    let bad = m.try_call(|_m: &mut Model| Err::<(), _>("no gradients"));
    match rt.get(&bad) {
        Err(RuntimeError::TaskFailed { message, .. }) => assert_eq!(message, "no gradients"),
        other => panic!("unexpected {other:?}"),
    }
}

fn handles_into_tasks() {
    let rt = rt(Isolation::Thread, 4.0);
    let c = rt.actor(&COUNTER, (0,)).spawn().unwrap();
    let h = rt.handle();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            let h = h.clone();
            rt.spawn("use_actor", move || h.get(&c.method(&INCR, (1,))).unwrap())
        })
        .collect();
    let mut got = rt.get_all(&tasks).unwrap();
    got.sort();
    assert_eq!(got, vec![1, 2, 3, 4]);
}

fn closures_refused() {
    let rt = rt(Isolation::Process, 1.0);
    let c = rt.actor(&COUNTER, (0,)).num_cpus(0.0).spawn().unwrap();
    let r = c.call(|c: &mut Counter| c.n);
    assert!(matches!(rt.get(&r), Err(RuntimeError::Unsupported(_))));
    assert!(matches!(
        rt.actor_local("x", || 1u8).spawn(),
        Err(RuntimeError::Unsupported(_))
    ));
    // Registered methods still work on the same actor.
    assert_eq!(rt.get(&c.method(&INCR, (2,))).unwrap(), 2);
}
