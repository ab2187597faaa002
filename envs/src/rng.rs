//! The seeded generator every built-in env resets from.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A reset generator with Gymnasium's seeding contract: `reset(Some(seed))` reseeds,
/// `reset(None)` continues the stream, and an env never seeded draws its seed from the OS.
///
/// ChaCha8 rather than numpy's PCG64: bit-matching numpy on reset buys nothing, because
/// replays start from the recorded state, while ChaCha8 is portable and reproducible.
///
/// Serializes as ChaCha's abstract state (seed, stream, word position), so a restored
/// generator continues the stream exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnvRng {
    rng: ChaCha8Rng,
}

impl EnvRng {
    /// A generator seeded from the OS, as Gymnasium's `np_random` before any seeded reset.
    pub fn from_entropy() -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(rand::random()),
        }
    }

    /// A generator with a fixed seed.
    pub fn seeded(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Applies a `reset` seed: `Some` reseeds, `None` continues.
    pub fn reseed(&mut self, seed: Option<u64>) {
        if let Some(seed) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(seed);
        }
    }

    /// A float64 uniform in `[low, high)`, computed as numpy's `low + (high - low) * u`.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        let u: f64 = self.rng.gen();
        low + (high - low) * u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reseed_repeats_and_none_continues() {
        let mut a = EnvRng::seeded(3);
        let first = a.uniform(-1.0, 1.0);
        let second = a.uniform(-1.0, 1.0);
        a.reseed(Some(3));
        assert_eq!(a.uniform(-1.0, 1.0), first);
        a.reseed(None);
        assert_eq!(a.uniform(-1.0, 1.0), second);
    }

    #[test]
    fn uniform_stays_in_range() {
        let mut a = EnvRng::seeded(0);
        for _ in 0..1000 {
            let x = a.uniform(-0.05, 0.05);
            assert!((-0.05..0.05).contains(&x));
        }
    }
}
