//! Remote functions, get/put/wait, and dependencies (the seed's chain).

use crate::common::*;
use crate::harness::{both, one, Test};
use runtime::{Isolation, ObjectRef, RuntimeError, TaskState};
use std::time::Duration;

pub fn tests(t: &mut Vec<Test>) {
    both(
        t,
        "tasks::remote_returns_at_once_and_get_blocks",
        remote_and_get,
    );
    both(t, "tasks::get_all_keeps_list_order", get_all_order);
    both(
        t,
        "tasks::wait_splits_ready_and_pending",
        wait_ready_pending,
    );
    both(t, "tasks::put_then_get_and_pass_as_arg", put_get);
    both(t, "tasks::seed_dependency_chain", seed_chain);
    both(t, "tasks::large_put_and_get_do_not_copy", zero_copy);
    one(
        t,
        "tasks::closure_tasks_and_nested_submission::thread",
        closures_nested,
    );
    one(t, "tasks::refs_and_handles_are_send_sync", send_sync);
}

fn remote_and_get(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let r = rt.remote(&sleep_then, (200, 7));
    // Submission never waits for the task: the ref exists before the value does.
    assert_eq!(rt.get(&r).unwrap(), 7);
    let s = rt.remote(&add, (&r, 1));
    assert_eq!(rt.get(&s).unwrap(), 8);
}

fn get_all_order(mode: Isolation) {
    let rt = rt(mode, 4.0);
    // Earlier tasks sleep longer, so they finish last.
    let refs: Vec<ObjectRef<i64>> = (0..6)
        .map(|i| rt.remote(&sleep_then, (((6 - i) * 40) as u64, i)))
        .collect();
    assert_eq!(rt.get_all(&refs).unwrap(), vec![0, 1, 2, 3, 4, 5]);
}

fn wait_ready_pending(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let fast = rt.remote(&add, (1, 1));
    let slow = rt.remote(&sleep_then, (3_000, 0));
    let refs = vec![slow.clone(), fast.clone()];
    let (ready, pending) = rt.wait(&refs, 1, Some(Duration::from_secs(30)));
    assert_eq!(ready, vec![fast.clone()]);
    assert_eq!(pending, vec![slow.clone()]);
    // A timeout returns what is ready so far instead of waiting.
    let (ready, pending) = rt.wait(&refs, 2, Some(Duration::from_millis(50)));
    assert_eq!((ready.len(), pending.len()), (1, 1));
    assert!(matches!(
        rt.get_timeout(&slow, Duration::from_millis(20)),
        Err(RuntimeError::Timeout(_))
    ));
}

fn put_get(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let p = rt.put(vec![1u8; 1000]);
    assert_eq!(rt.get(&p).unwrap().len(), 1000);
    let n = rt.remote(&len_of, (&p,));
    assert_eq!(rt.get(&n).unwrap(), 1000);
    let info = rt.object_info(p.id()).unwrap();
    assert!(info.is_put);
    assert_eq!(info.task, None);
}

fn seed_chain(mode: Isolation) {
    let rt = rt(mode, 4.0);
    // Start the workers first so process start-up does not serialize the chains.
    let warm: Vec<_> = (0..4).map(|_| rt.remote(&sleep_then, (50, 0))).collect();
    rt.get_all(&warm).unwrap();
    let files = ["a.csv", "bb.csv", "ccc.csv", "dddd.csv"];
    let mut chains = Vec::new();
    let mut losses = Vec::new();
    let mut keep = Vec::new();
    for f in files {
        let data = rt.remote(&load_data, (f.to_string(),));
        let norm = rt.remote(&normalize_data, (&data,));
        let feats = rt.remote(&extract_features, (&norm,));
        let loss = rt.remote(&compute_loss, (&feats,));
        chains.push([data.id(), norm.id(), feats.id(), loss.id()]);
        // Keep the intermediate refs alive so their objects stay in the object table.
        keep.push((data, norm, feats));
        losses.push(loss);
    }
    // One get at the end, as in the seed.
    let got = rt.get_all(&losses).unwrap();
    let want: Vec<f64> = files.iter().map(|f| chain_local(f)).collect();
    assert_eq!(got, want);
    let info = |o: runtime::ObjectId| {
        let task = rt.object_info(o).unwrap().task.unwrap();
        rt.task_info(task).unwrap()
    };
    // Each chain in order.
    for c in &chains {
        for w in c.windows(2) {
            let (a, b) = (info(w[0]), info(w[1]));
            assert_eq!(a.state, TaskState::Finished);
            assert!(
                a.end_time.unwrap() <= b.start_time.unwrap(),
                "{} ran before {}",
                b.function,
                a.function
            );
        }
    }
    // The chains in parallel: the four 300 ms loads overlap.
    let loads: Vec<_> = chains.iter().map(|c| info(c[0])).collect();
    let overlapping = loads
        .iter()
        .enumerate()
        .flat_map(|(i, a)| loads[i + 1..].iter().map(move |b| (a, b)))
        .filter(|(a, b)| {
            a.start_time.unwrap() < b.end_time.unwrap()
                && b.start_time.unwrap() < a.end_time.unwrap()
        })
        .count();
    assert!(
        overlapping >= 1,
        "no two load_data tasks ran at the same time"
    );
}

fn closures_nested() {
    let rt = rt(Isolation::Thread, 2.0);
    let h = rt.handle();
    let outer = rt.spawn("outer", move || {
        let inner = h.remote(&add, (20, 1));
        let task = h.object_info(inner.id()).unwrap().task.unwrap();
        (h.get(&inner).unwrap(), h.task_info(task).unwrap().parent)
    });
    let (v, parent) = rt.get(&outer).unwrap();
    assert_eq!(v, 21);
    assert_eq!(parent, rt.object_info(outer.id()).unwrap().task);
    // A closure result need not be serializable or Clone: get_arc shares it.
    struct NotSerde(#[allow(dead_code)] std::sync::Mutex<u8>);
    let r = rt.spawn("not_serde", || NotSerde(std::sync::Mutex::new(3)));
    assert!(rt.get_arc(&r).is_ok());
}

fn send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ObjectRef<i64>>();
    assert_send_sync::<ObjectRef<std::rc::Rc<u8>>>();
    assert_send_sync::<runtime::ActorHandle<Counter>>();
    // Actor state only needs Send: a Cell is not Sync.
    assert_send_sync::<runtime::ActorHandle<std::cell::Cell<u8>>>();
    assert_send_sync::<runtime::RuntimeHandle>();
    assert_send_sync::<runtime::RuntimeError>();
}

fn zero_copy(mode: Isolation) {
    let rt = rt(mode, 1.0);
    let buf = std::sync::Arc::new(vec![7u8; 100 << 20]);
    let data_ptr = buf.as_ptr();
    let r = rt.put_bytes(buf);
    // The object store keeps the driver's allocation: get hands back the very same bytes.
    let back = rt.get_arc(&r).unwrap();
    assert_eq!(back.as_ptr(), data_ptr);
    assert_eq!(rt.object_info(r.id()).unwrap().size, Some(100 << 20));
}
