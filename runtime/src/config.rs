//! How to start a runtime: Ray's `init` arguments, and where work runs.

use crate::resources::Resources;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Where tasks and actors run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// Threads of the driver process: fastest, values never serialized.
    #[default]
    Thread,
    /// Worker processes on this machine: functions and actors must be registered, values serde.
    Process,
}

/// How to start a runtime (Ray's `init` arguments).
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Logical CPUs of this node (default: the machine's parallelism).
    pub num_cpus: f64,
    /// Logical GPUs of this node.
    pub num_gpus: f64,
    /// Custom named resources of this node.
    pub custom: BTreeMap<String, f64>,
    /// Threads (default) or worker processes.
    pub isolation: Isolation,
    /// Worker processes in process mode (default: `num_cpus` rounded up).
    pub num_worker_processes: Option<usize>,
    /// Record the timeline (default on; bounded per worker).
    pub timeline: bool,
    /// Timeline events kept per worker.
    pub timeline_capacity: usize,
    /// Finished tasks kept in the task table.
    pub task_history: usize,
    /// How long shutdown waits for running user code before leaving it behind.
    pub shutdown_timeout: Duration,
    /// The worker executable in process mode and on other nodes (default: this executable;
    /// on a cluster it must exist at the same path on every node, as in Ray).
    pub worker_program: Option<std::path::PathBuf>,
    /// A cluster's head (`HOST:PORT`) to join as a driver: work then runs on the cluster's
    /// nodes (this process is not a node: its own `num_cpus`, `num_gpus` and custom resources
    /// are not offered), in worker processes the nodes' daemons start.
    pub address: Option<String>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            num_cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as f64,
            num_gpus: 0.0,
            custom: BTreeMap::new(),
            isolation: Isolation::Thread,
            num_worker_processes: None,
            timeline: true,
            timeline_capacity: 100_000,
            task_history: 100_000,
            shutdown_timeout: Duration::from_secs(2),
            worker_program: None,
            address: None,
        }
    }
}

impl RuntimeConfig {
    /// Sets the CPUs.
    pub fn num_cpus(mut self, n: f64) -> Self {
        self.num_cpus = n;
        self
    }
    /// Sets the GPUs.
    pub fn num_gpus(mut self, n: f64) -> Self {
        self.num_gpus = n;
        self
    }
    /// Adds a custom resource.
    pub fn resource(mut self, name: &str, n: f64) -> Self {
        self.custom.insert(name.to_string(), n);
        self
    }
    /// Chooses threads or processes.
    pub fn isolation(mut self, i: Isolation) -> Self {
        self.isolation = i;
        self
    }
    /// Turns timeline recording on or off.
    pub fn timeline(mut self, on: bool) -> Self {
        self.timeline = on;
        self
    }
    /// Joins the cluster whose head is at `address` (`HOST:PORT`).
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }
    /// Everything this node offers, as one `Resources`.
    pub(crate) fn total(&self) -> Resources {
        Resources {
            cpu: self.num_cpus,
            gpu: self.num_gpus,
            custom: self.custom.clone(),
        }
    }
}
