//! Logical resources (CPU, GPU, custom names) a task or actor needs and a node offers.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Resources as users write them: fractional amounts of CPU, GPU and named custom resources.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Logical CPUs.
    pub cpu: f64,
    /// Logical GPUs.
    pub gpu: f64,
    /// Named custom resources, e.g. `{"accelerator": 2.0}`.
    pub custom: BTreeMap<String, f64>,
}

impl Resources {
    /// Nothing at all (a task that may always run).
    pub fn none() -> Self {
        Self::default()
    }
    /// `n` CPUs and nothing else.
    pub fn cpus(n: f64) -> Self {
        Resources {
            cpu: n,
            ..Self::default()
        }
    }
    /// Adds `n` GPUs.
    pub fn with_gpus(mut self, n: f64) -> Self {
        self.gpu = n;
        self
    }
    /// Adds `n` of the custom resource `name`.
    pub fn with(mut self, name: &str, n: f64) -> Self {
        self.custom.insert(name.to_string(), n);
        self
    }

    /// Adds everything in `other` (the sum over a cluster's nodes).
    pub(crate) fn add(&mut self, other: &Resources) {
        self.cpu += other.cpu;
        self.gpu += other.gpu;
        for (k, v) in &other.custom {
            *self.custom.entry(k.clone()).or_insert(0.0) += v;
        }
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{CPU: {}, GPU: {}", self.cpu, self.gpu)?;
        for (k, v) in &self.custom {
            write!(f, ", {k}: {v}")?;
        }
        write!(f, "}}")
    }
}

/// Fixed-point units so repeated acquire/release of fractions never drifts.
const MILLI: f64 = 1000.0;

fn to_milli(x: f64) -> u64 {
    (x.max(0.0) * MILLI).round() as u64
}

/// Resources in the scheduler's form: indices into the runtime's resource table, milli-units,
/// and the place (this process, a node) whose pool they were taken from once granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Demand {
    pub place: u16,
    pub cpu: u64,
    pub gpu: u64,
    pub custom: Box<[(usize, u64)]>,
}

impl Demand {
    /// Nothing at all.
    pub fn none() -> Self {
        Demand {
            place: 0,
            cpu: 0,
            gpu: 0,
            custom: Box::new([]),
        }
    }
}

/// What a node has in total and free right now.
#[derive(Clone, Debug)]
pub(crate) struct ResourcePool {
    names: Vec<String>,
    total_cpu: u64,
    total_gpu: u64,
    total_custom: Vec<u64>,
    free_cpu: u64,
    free_gpu: u64,
    free_custom: Vec<u64>,
}

impl ResourcePool {
    #[cfg(test)]
    pub fn new(total: &Resources) -> Self {
        let names: Vec<String> = total.custom.keys().cloned().collect();
        Self::with_names(names, total)
    }

    /// A pool over the table `names` (shared by every place of a runtime, so a `Demand` means
    /// the same at each); custom resources of `total` not in the table are left out.
    pub fn with_names(names: Vec<String>, total: &Resources) -> Self {
        let totals: Vec<u64> = names
            .iter()
            .map(|n| to_milli(total.custom.get(n).copied().unwrap_or(0.0)))
            .collect();
        ResourcePool {
            names,
            total_cpu: to_milli(total.cpu),
            total_gpu: to_milli(total.gpu),
            free_custom: totals.clone(),
            total_custom: totals,
            free_cpu: to_milli(total.cpu),
            free_gpu: to_milli(total.gpu),
        }
    }

    /// Converts a request, or says why it can never be satisfied on this node.
    pub fn demand(&self, r: &Resources) -> Result<Demand, ()> {
        let mut custom = Vec::new();
        for (k, v) in &r.custom {
            let amount = to_milli(*v);
            if amount == 0 {
                continue;
            }
            match self.names.iter().position(|n| n == k) {
                Some(i) if self.total_custom[i] >= amount => custom.push((i, amount)),
                _ => return Err(()),
            }
        }
        let d = Demand {
            place: 0,
            cpu: to_milli(r.cpu),
            gpu: to_milli(r.gpu),
            custom: custom.into_boxed_slice(),
        };
        if d.cpu > self.total_cpu || d.gpu > self.total_gpu {
            return Err(());
        }
        Ok(d)
    }

    /// The custom resources' names, in table order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether `d` fits this pool when everything is free.
    pub fn could_hold(&self, d: &Demand) -> bool {
        d.cpu <= self.total_cpu
            && d.gpu <= self.total_gpu
            && d.custom.iter().all(|(i, a)| *a <= self.total_custom[*i])
    }

    /// A pool with the same table whose totals are unbounded: converts any request naming
    /// known resources (whether some place can hold it is checked under the lock).
    pub fn unbounded_shape(&self) -> Self {
        let n = self.names.len();
        ResourcePool {
            names: self.names.clone(),
            total_cpu: u64::MAX,
            total_gpu: u64::MAX,
            total_custom: vec![u64::MAX; n],
            free_cpu: u64::MAX,
            free_gpu: u64::MAX,
            free_custom: vec![u64::MAX; n],
        }
    }

    pub fn fits(&self, d: &Demand) -> bool {
        d.cpu <= self.free_cpu
            && d.gpu <= self.free_gpu
            && d.custom.iter().all(|(i, a)| *a <= self.free_custom[*i])
    }

    pub fn acquire(&mut self, d: &Demand) {
        debug_assert!(self.fits(d));
        self.free_cpu -= d.cpu;
        self.free_gpu -= d.gpu;
        for (i, a) in d.custom.iter() {
            self.free_custom[*i] -= a;
        }
    }

    pub fn release(&mut self, d: &Demand) {
        self.free_cpu = (self.free_cpu + d.cpu).min(self.total_cpu);
        self.free_gpu = (self.free_gpu + d.gpu).min(self.total_gpu);
        for (i, a) in d.custom.iter() {
            self.free_custom[*i] = (self.free_custom[*i] + a).min(self.total_custom[*i]);
        }
    }

    fn to_resources(&self, cpu: u64, gpu: u64, custom: &[u64]) -> Resources {
        Resources {
            cpu: cpu as f64 / MILLI,
            gpu: gpu as f64 / MILLI,
            custom: self
                .names
                .iter()
                .zip(custom)
                .map(|(n, v)| (n.clone(), *v as f64 / MILLI))
                .collect(),
        }
    }

    pub fn total(&self) -> Resources {
        self.to_resources(self.total_cpu, self.total_gpu, &self.total_custom)
    }

    pub fn available(&self) -> Resources {
        self.to_resources(self.free_cpu, self.free_gpu, &self.free_custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_never_drift() {
        let mut p = ResourcePool::new(&Resources::cpus(1.0));
        let d = p.demand(&Resources::cpus(0.1)).unwrap();
        for _ in 0..10 {
            assert!(p.fits(&d));
            p.acquire(&d);
        }
        assert!(!p.fits(&d));
        for _ in 0..10 {
            p.release(&d);
        }
        assert_eq!(p.available().cpu, 1.0);
    }

    #[test]
    fn impossible_requests_are_refused() {
        let p = ResourcePool::new(&Resources::cpus(2.0).with("tpu", 1.0));
        assert!(p.demand(&Resources::cpus(3.0)).is_err());
        assert!(p.demand(&Resources::cpus(1.0).with_gpus(1.0)).is_err());
        assert!(p.demand(&Resources::cpus(1.0).with("tpu", 2.0)).is_err());
        assert!(p.demand(&Resources::cpus(1.0).with("nope", 1.0)).is_err());
        assert!(p.demand(&Resources::cpus(1.0).with("tpu", 1.0)).is_ok());
    }
}
