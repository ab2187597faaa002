//! Observation and action spaces, as Gymnasium names them.

use serde::{Deserialize, Serialize};

/// The set of valid observations or actions of an env.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Space {
    /// Integers `0..n`.
    Discrete(usize),
    /// A box of `f32` with per-dimension bounds (flattened; `shape` keeps the layout).
    Box {
        /// Lower bound per element.
        low: Vec<f32>,
        /// Upper bound per element.
        high: Vec<f32>,
        /// Gymnasium's shape; the product equals `low.len()`.
        shape: Vec<usize>,
    },
}

impl Space {
    /// A box with the same bounds for every element.
    pub fn uniform_box(low: f32, high: f32, shape: &[usize]) -> Space {
        let n = shape.iter().product();
        Space::Box {
            low: vec![low; n],
            high: vec![high; n],
            shape: shape.to_vec(),
        }
    }

    /// Number of `f32` values that one element of this space flattens to
    /// (1 for `Discrete`, the element count for `Box`).
    pub fn flat_dim(&self) -> usize {
        match self {
            Space::Discrete(_) => 1,
            Space::Box { low, .. } => low.len(),
        }
    }

    /// Whether `action` belongs to this space.
    pub fn contains(&self, action: Action<'_>) -> bool {
        match (self, action) {
            (Space::Discrete(n), Action::Discrete(a)) => a < *n,
            (Space::Box { low, high, .. }, Action::Continuous(x)) => {
                x.len() == low.len()
                    && x.iter()
                        .zip(low.iter().zip(high))
                        .all(|(v, (l, h))| *v >= *l && *v <= *h)
            }
            _ => false,
        }
    }

    /// Whether `step` can apply `action` without falling back to its invalid-action rule:
    /// the right kind, a discrete index below `n`, a continuous action of `flat_dim` values.
    /// Unlike [`Space::contains`], continuous values out of bounds are accepted, because
    /// Gymnasium's continuous envs clip them.
    pub fn accepts(&self, action: Action<'_>) -> bool {
        match (self, action) {
            (Space::Discrete(n), Action::Discrete(a)) => a < *n,
            (Space::Box { low, .. }, Action::Continuous(x)) => x.len() == low.len(),
            _ => false,
        }
    }
}

/// One action, borrowed so stepping never allocates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action<'a> {
    /// An index into a `Discrete` space.
    Discrete(usize),
    /// A point of a `Box` space (flattened).
    Continuous(&'a [f32]),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_clippable_values_but_contains_does_not() {
        let b = Space::uniform_box(-2.0, 2.0, &[1]);
        assert!(b.accepts(Action::Continuous(&[5.0])));
        assert!(!b.contains(Action::Continuous(&[5.0])));
        assert!(!b.accepts(Action::Continuous(&[])));
        assert!(!b.accepts(Action::Discrete(0)));
        let d = Space::Discrete(2);
        assert!(d.accepts(Action::Discrete(1)));
        assert!(!d.accepts(Action::Discrete(2)));
        assert!(!d.accepts(Action::Continuous(&[0.0])));
    }
}
