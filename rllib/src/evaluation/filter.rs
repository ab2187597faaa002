//! RLlib's `MeanStdFilter`: observations standardized by running statistics.
//!
//! Each worker normalizes with the statistics last synced from the learner plus what it saw
//! since; what it saw since (its buffer) travels with its samples, the learner merges the
//! buffers in worker order and sends the merged statistics back with the weights. Merging in
//! a fixed order keeps runs with several workers reproducible.

use serde::{Deserialize, Serialize};

/// Running count, mean and sum of squared deviations per dimension (Welford, in f64).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningStat {
    /// Observations seen.
    pub n: u64,
    /// Mean per dimension.
    pub mean: Vec<f64>,
    /// Sum of squared deviations per dimension.
    pub m2: Vec<f64>,
}

impl RunningStat {
    /// Statistics of nothing yet, for `dim` dimensions.
    pub fn new(dim: usize) -> Self {
        RunningStat {
            n: 0,
            mean: vec![0.0; dim],
            m2: vec![0.0; dim],
        }
    }

    /// Adds one observation.
    pub fn push(&mut self, x: &[f32]) {
        self.n += 1;
        let n = self.n as f64;
        for ((m, s), v) in self.mean.iter_mut().zip(self.m2.iter_mut()).zip(x) {
            let v = *v as f64;
            let d = v - *m;
            *m += d / n;
            *s += d * (v - *m);
        }
    }

    /// Combines another set of statistics into this one (Chan et al.).
    pub fn merge(&mut self, o: &RunningStat) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = o.clone();
            return;
        }
        let (na, nb) = (self.n as f64, o.n as f64);
        let n = na + nb;
        for i in 0..self.mean.len() {
            let d = o.mean[i] - self.mean[i];
            self.mean[i] += d * nb / n;
            self.m2[i] += o.m2[i] + d * d * na * nb / n;
        }
        self.n += o.n;
    }

    /// Standard deviation per dimension (1 before two observations).
    pub fn std(&self) -> Vec<f64> {
        self.m2
            .iter()
            .map(|s| {
                if self.n > 1 {
                    (s / (self.n - 1) as f64).sqrt()
                } else {
                    1.0
                }
            })
            .collect()
    }
}

/// Standardizes observations with running statistics and clips them to `[-clip, clip]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeanStdFilter {
    /// Statistics used to normalize (synced base plus local observations).
    pub rs: RunningStat,
    /// Local observations since the last sync.
    pub buffer: RunningStat,
    /// Clip bound after standardizing (RLlib's 10).
    pub clip: f64,
}

impl MeanStdFilter {
    /// A filter for `dim`-dimensional observations.
    pub fn new(dim: usize) -> Self {
        MeanStdFilter {
            rs: RunningStat::new(dim),
            buffer: RunningStat::new(dim),
            clip: 10.0,
        }
    }

    /// Standardizes `x` in place, first counting it when `update` is set.
    pub fn apply(&mut self, x: &mut [f32], update: bool) {
        if update {
            self.rs.push(x);
            self.buffer.push(x);
        }
        let std = self.rs.std();
        for (i, v) in x.iter_mut().enumerate() {
            let z = (*v as f64 - self.rs.mean[i]) / (std[i] + 1e-8);
            *v = z.clamp(-self.clip, self.clip) as f32;
        }
    }

    /// Takes the local buffer out (to send to the learner) and clears it.
    pub fn take_buffer(&mut self) -> RunningStat {
        let dim = self.buffer.mean.len();
        std::mem::replace(&mut self.buffer, RunningStat::new(dim))
    }

    /// Replaces the statistics with the learner's merged ones (after `take_buffer`).
    pub fn sync(&mut self, base: &RunningStat) {
        self.rs = base.clone();
        self.buffer = RunningStat::new(base.mean.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_equals_pushing_everything_into_one() {
        let xs: Vec<[f32; 2]> = (0..10).map(|i| [i as f32, (i * i) as f32 * 0.5]).collect();
        let mut all = RunningStat::new(2);
        let (mut a, mut b) = (RunningStat::new(2), RunningStat::new(2));
        for (i, x) in xs.iter().enumerate() {
            all.push(x);
            if i < 4 {
                a.push(x)
            } else {
                b.push(x)
            }
        }
        a.merge(&b);
        for i in 0..2 {
            assert!((a.mean[i] - all.mean[i]).abs() < 1e-9);
            assert!((a.m2[i] - all.m2[i]).abs() < 1e-6);
        }
    }
}
