//! Process workers (placeholder while thread mode lands).

use crate::error::RuntimeError;
use crate::scheduler::Inner;
use crate::task::TaskSpec;
use std::sync::Arc;

pub(crate) struct Child;
impl Child {
    pub fn kill(&self) {}
}

pub(crate) fn check_worker_binary() -> Result<(), RuntimeError> {
    Err(RuntimeError::Unsupported(
        "process mode not built yet".into(),
    ))
}

pub(crate) fn spawn_task_worker(_inner: &Arc<Inner>) {}

pub(crate) fn start_actor(_inner: &Arc<Inner>, _spec: TaskSpec) {}

/// Runs the worker loop if this process was started as a worker; call first thing in `main`.
pub fn worker_main_if_requested() {}
