//! Algorithms: one file each with the loss, the defaults and the optimizer it uses.

pub mod ppo;
