//! Generalized advantage estimation, as RLlib's `compute_advantages`.

/// Advantages and value targets for one trajectory.
///
/// `last_r` is the value to bootstrap from after the last step: 0 when the episode
/// terminated, the value of the next observation when it was truncated or cut.
pub fn compute_advantages(
    rewards: &[f32],
    vf_preds: &[f32],
    last_r: f32,
    gamma: f64,
    lambda: f64,
    use_gae: bool,
) -> (Vec<f32>, Vec<f32>) {
    let n = rewards.len();
    let mut adv = vec![0f32; n];
    let mut targets = vec![0f32; n];
    if use_gae {
        let mut acc = 0f64;
        for t in (0..n).rev() {
            let next_v = if t + 1 < n { vf_preds[t + 1] } else { last_r } as f64;
            let delta = rewards[t] as f64 + gamma * next_v - vf_preds[t] as f64;
            acc = delta + gamma * lambda * acc;
            adv[t] = acc as f32;
            targets[t] = (acc + vf_preds[t] as f64) as f32;
        }
    } else {
        let mut ret = last_r as f64;
        for t in (0..n).rev() {
            ret = rewards[t] as f64 + gamma * ret;
            targets[t] = ret as f32;
            adv[t] = (ret - vf_preds[t] as f64) as f32;
        }
    }
    (adv, targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gae_matches_hand_computation() {
        // gamma 0.9, lambda 0.5, rewards [1, 2], values [0.5, 1.0], bootstrap 2.0:
        // delta1 = 2 + 0.9*2 - 1 = 2.8; adv1 = 2.8
        // delta0 = 1 + 0.9*1 - 0.5 = 1.4; adv0 = 1.4 + 0.45*2.8 = 2.66
        let (a, t) = compute_advantages(&[1.0, 2.0], &[0.5, 1.0], 2.0, 0.9, 0.5, true);
        assert!(
            (a[1] - 2.8).abs() < 1e-6 && (a[0] - 2.66).abs() < 1e-6,
            "{a:?}"
        );
        assert!(
            (t[1] - 3.8).abs() < 1e-6 && (t[0] - 3.16).abs() < 1e-6,
            "{t:?}"
        );
    }

    #[test]
    fn terminated_trajectory_bootstraps_from_zero() {
        let (a, _) = compute_advantages(&[1.0], &[0.25], 0.0, 0.99, 1.0, true);
        assert!((a[0] - 0.75).abs() < 1e-6);
    }

    #[test]
    fn lambda_one_equals_discounted_return_minus_value() {
        let r = [1.0f32, 0.0, 2.0];
        let v = [0.3f32, -0.2, 0.7];
        let (a, t) = compute_advantages(&r, &v, 0.5, 0.9, 1.0, true);
        let (a2, t2) = compute_advantages(&r, &v, 0.5, 0.9, 1.0, false);
        for i in 0..3 {
            assert!((a[i] - a2[i]).abs() < 1e-5 && (t[i] - t2[i]).abs() < 1e-5);
        }
    }
}
