//! Policies: the model, its action distributions, the optimizer and weights in and out.

pub mod adam;
pub mod distributions;
pub mod model;
pub mod torch_policy;
pub mod weights;

pub use distributions::ActionDistKind;
pub use model::{Activation, ModelConfig};
pub use torch_policy::TorchPolicy;
pub use weights::{NamedTensor, Weights};
