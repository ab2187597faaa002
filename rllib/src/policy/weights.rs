//! Weights as plain named tensors: what moves between learner, workers and checkpoints.

use serde::{Deserialize, Serialize};

/// One tensor by name, with its shape and values in row-major order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedTensor {
    /// The parameter's name, e.g. `pi.0.weight`.
    pub name: String,
    /// The tensor's shape.
    pub shape: Vec<i64>,
    /// The values, row-major.
    pub data: Vec<f32>,
}

/// A model's parameters, sorted by name, needing no libtorch to read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// The tensors, sorted by name.
    pub tensors: Vec<NamedTensor>,
}

impl Weights {
    /// Number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.tensors.iter().map(|t| t.data.len()).sum()
    }
}
