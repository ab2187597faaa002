//! Task and object tables, resources, and the timeline.

use crate::common::*;
use crate::harness::{both, Test};
use runtime::{ArgInfo, Isolation, TaskFilter, TaskState};

pub fn tests(t: &mut Vec<Test>) {
    both(t, "introspection::task_and_object_tables", tables);
    both(
        t,
        "introspection::timeline_has_slices_rows_and_arrows",
        timeline,
    );
}

fn tables(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let a = rt.remote(&add, (1, 2));
    let b = rt.remote(&add, (&a, 3));
    assert_eq!(rt.get(&b).unwrap(), 6);
    let tb = rt.object_info(b.id()).unwrap().task.unwrap();
    let ta = rt.object_info(a.id()).unwrap().task.unwrap();
    let info = rt.task_info(tb).unwrap();
    assert!(info.function.ends_with("add"));
    assert_eq!(info.args, vec![ArgInfo::Ref(a.id()), ArgInfo::Value("i64")]);
    assert_eq!(info.state, TaskState::Finished);
    assert_eq!(info.resources.cpu, 1.0);
    assert!(info.worker.is_some() && info.worker_pid.is_some());
    assert!(info.submit_time <= info.start_time.unwrap() && info.start_time <= info.end_time);
    assert_eq!(info.parent, None);
    assert_eq!(info.return_object, b.id());
    let oa = rt.object_info(a.id()).unwrap();
    assert_eq!((oa.task, oa.is_put), (Some(ta), false));
    assert_eq!(oa.size, Some(1), "postcard writes 3i64 as one varint byte");
    assert!(oa.location.contains("driver"));
    let finished = rt.tasks(&TaskFilter {
        state: Some(TaskState::Finished),
        function: Some("add".into()),
    });
    assert_eq!(finished.len(), 2);
    assert_eq!(rt.cluster_resources().cpu, 2.0);
    assert_eq!(rt.available_resources().cpu, 2.0);
}

fn timeline(mode: Isolation) {
    let rt = rt(mode, 2.0);
    let a = rt.remote(&add, (1, 2));
    let b = rt.remote(&add, (&a, 3));
    rt.get(&b).unwrap();
    let dir = std::env::temp_dir().join(format!("rt-timeline-{}-{:?}", std::process::id(), mode));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("timeline.json");
    rt.timeline(&path).unwrap();
    let events: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let cats: Vec<&str> = events.iter().filter_map(|e| e["cat"].as_str()).collect();
    for c in ["task:get_arguments", "task:execute", "task:store_outputs"] {
        assert_eq!(cats.iter().filter(|x| **x == c).count(), 2, "{c}");
    }
    let slices: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert!(slices
        .iter()
        .all(|e| e["tid"].as_str().unwrap().starts_with("worker:")));
    assert!(slices
        .iter()
        .all(|e| e["dur"].as_f64().unwrap() >= 0.0 && e["ts"].as_f64().is_some()));
    let starts = events.iter().filter(|e| e["ph"] == "s").count();
    let finishes = events.iter().filter(|e| e["ph"] == "f").count();
    assert_eq!((starts, finishes), (1, 1), "one arrow: a -> b");
    std::fs::remove_dir_all(dir).ok();
}
