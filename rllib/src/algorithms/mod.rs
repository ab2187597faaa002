//! Algorithms: one file each with the loss, the defaults and the optimizer it uses.

pub mod a3c;
pub mod learner;
pub mod ppo;

pub use learner::Learner;
