//! The algorithms this project trains, as a type: parsed once from RLlib's `run` names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An algorithm: which loss the learner uses and how samples reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// Proximal policy optimization: synchronous samples, minibatch SGD epochs.
    #[serde(rename = "PPO")]
    Ppo,
    /// Asynchronous advantage actor-critic: workers send gradients, applied as they arrive.
    #[serde(rename = "A3C")]
    A3c,
    /// Synchronous advantage actor-critic: A3C's loss on a batch gathered from every worker.
    #[serde(rename = "A2C")]
    A2c,
}

impl Algorithm {
    /// Every algorithm, in the order help texts list them.
    pub const ALL: [Algorithm; 3] = [Algorithm::Ppo, Algorithm::A3c, Algorithm::A2c];

    /// RLlib's name (`PPO`, `A3C`, `A2C`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ppo => "PPO",
            Algorithm::A3c => "A3C",
            Algorithm::A2c => "A2C",
        }
    }

    /// Whether workers compute gradients and the learner applies them as they arrive
    /// (RLlib's `AsyncGradientsOptimizer`), rather than gathering samples synchronously.
    pub fn is_async(self) -> bool {
        self == Algorithm::A3c
    }

    /// Whether the learner takes PPO's minibatch SGD epochs (else one A3C-loss gradient step).
    pub fn uses_ppo_loss(self) -> bool {
        self == Algorithm::Ppo
    }

    /// The known names, comma-separated (for messages).
    pub fn known_names() -> String {
        Algorithm::ALL.map(Algorithm::name).join(", ")
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `run` name that is not one of [`Algorithm::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown algorithm '{name}'; known algorithms: {}",
    Algorithm::known_names()
)]
pub struct UnknownAlgorithm {
    /// The name as given.
    pub name: String,
}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    /// RLlib's names, exactly (`PPO`, `A3C`, `A2C`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| UnknownAlgorithm {
                name: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_known() {
        for a in Algorithm::ALL {
            assert_eq!(a.name().parse::<Algorithm>(), Ok(a));
            assert_eq!(serde_json::to_value(a).unwrap(), a.name());
        }
        let e = "DQNN".parse::<Algorithm>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown algorithm 'DQNN'; known algorithms: PPO, A3C, A2C"
        );
    }
}
