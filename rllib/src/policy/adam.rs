//! Adam written out, so its moments can be saved in checkpoints and restored exactly
//! (tch's optimizer keeps them inside libtorch where they cannot be read).

use tch::Tensor;

/// Adam with PyTorch's defaults (betas 0.9/0.999, eps 1e-8).
pub struct Adam {
    /// Learning rate.
    pub lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    /// Steps taken so far (bias correction).
    pub step: i64,
    /// First moments, one per parameter.
    pub m: Vec<Tensor>,
    /// Second moments, one per parameter.
    pub v: Vec<Tensor>,
}

impl Adam {
    /// Zeroed moments for the given parameters.
    pub fn new(params: &[&Tensor], lr: f64) -> Adam {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 0,
            m: params.iter().map(|p| p.zeros_like()).collect(),
            v: params.iter().map(|p| p.zeros_like()).collect(),
        }
    }

    /// Applies one update from the parameters' `.grad()`, after optional global-norm clipping.
    /// Returns the gradients' global norm before clipping.
    pub fn step(&mut self, params: &[&Tensor], grad_clip: Option<f64>) -> f64 {
        let grads: Vec<Tensor> = params.iter().map(|p| p.grad()).collect();
        self.step_with(params, &grads, grad_clip)
    }

    /// Like `step`, with gradients given rather than read from `.grad()` (gradients that
    /// arrived from a worker).
    pub fn step_with(
        &mut self,
        params: &[&Tensor],
        grads: &[Tensor],
        grad_clip: Option<f64>,
    ) -> f64 {
        tch::no_grad(|| {
            let norm = global_norm(grads);
            let scale = match grad_clip {
                Some(c) if norm > c => c / (norm + 1e-6),
                _ => 1.0,
            };
            self.step += 1;
            let bc1 = 1.0 - self.beta1.powi(self.step as i32);
            let bc2 = 1.0 - self.beta2.powi(self.step as i32);
            for (i, (p, g)) in params.iter().zip(grads).enumerate() {
                if !g.defined() {
                    continue;
                }
                let g = if scale != 1.0 {
                    g * scale
                } else {
                    g.shallow_clone()
                };
                let _ = self.m[i]
                    .g_mul_scalar_(self.beta1)
                    .g_add_(&(&g * (1.0 - self.beta1)));
                let _ = self.v[i]
                    .g_mul_scalar_(self.beta2)
                    .g_add_(&(g.square() * (1.0 - self.beta2)));
                let denom = (&self.v[i] / bc2).sqrt() + self.eps;
                let update = (&self.m[i] / bc1) / denom * self.lr;
                let mut p = p.shallow_clone();
                let _ = p.g_sub_(&update);
            }
            norm
        })
    }
}

/// The L2 norm of all gradients together (one read-back, not one per tensor).
pub fn global_norm(grads: &[Tensor]) -> f64 {
    let sums: Vec<Tensor> = grads
        .iter()
        .filter(|g| g.defined())
        .map(|g| g.square().sum(tch::Kind::Double))
        .collect();
    if sums.is_empty() {
        return 0.0;
    }
    Tensor::stack(&sums, 0)
        .sum(tch::Kind::Double)
        .double_value(&[])
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_adam_step_moves_by_lr_against_the_gradient() {
        let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let mut adam = Adam::new(&[&p], 0.1);
        let loss = (&p * &p).sum(tch::Kind::Float);
        loss.backward();
        adam.step(&[&p], None);
        // Bias-corrected first step: delta = lr * sign(g).
        let v: Vec<f32> = Vec::try_from(p.detach()).unwrap();
        assert!(
            (v[0] - 0.9).abs() < 1e-5 && (v[1] + 1.9).abs() < 1e-5,
            "{v:?}"
        );
    }

    #[test]
    fn global_norm_clipping_scales_gradients() {
        let p = Tensor::from_slice(&[3.0f32, 4.0]).set_requires_grad(true);
        let mut adam = Adam::new(&[&p], 0.1);
        (&p * 1.0).sum(tch::Kind::Float).backward();
        let grads = [p.grad() * &Tensor::from_slice(&[3.0f32, 4.0])];
        assert!((global_norm(&grads) - 5.0).abs() < 1e-6);
        let n = adam.step(&[&p], Some(0.5));
        assert!((n - 2f64.sqrt()).abs() < 1e-6);
    }
}
