//! `TorchPolicy`: a model and its action distribution on libtorch, with weights in and out.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use envs::Space;

use super::adam::Adam;
use super::distributions::ActionDistKind;
use super::model::{FullyConnectedNetwork, ModelConfig};
use super::weights::{NamedTensor, Weights};
use crate::error::{Result, RllibError};

/// A policy: observations in, action distributions and values out.
pub struct TorchPolicy {
    /// The network.
    pub model: FullyConnectedNetwork,
    /// The distribution the network parameterizes.
    pub dist: ActionDistKind,
    /// Flat observation size.
    pub obs_dim: usize,
    /// Where the model's tensors live.
    pub device: Device,
}

/// The distribution that fits an action space.
pub fn dist_for_space(space: &Space) -> Result<ActionDistKind> {
    match space {
        Space::Discrete(n) if *n > 0 => Ok(ActionDistKind::Categorical { n: *n }),
        Space::Box { low, .. } if !low.is_empty() => {
            Ok(ActionDistKind::DiagGaussian { dim: low.len() })
        }
        other => Err(RllibError::UnsupportedSpace {
            space: format!("{other:?}"),
        }),
    }
}

/// Loads libtorch's CUDA backend (once), so that `tch::Cuda` sees GPUs. Returns why not
/// when the library cannot be loaded (a CPU-only libtorch).
pub fn load_cuda() -> std::result::Result<(), String> {
    static LOADED: std::sync::OnceLock<std::result::Result<(), String>> =
        std::sync::OnceLock::new();
    LOADED
        .get_or_init(|| {
            let name = c"libtorch_cuda.so";
            // SAFETY: dlopen with a valid C string; the handle is kept for the process's life.
            let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
            if handle.is_null() {
                // SAFETY: dlerror returns a thread-local C string or null.
                let msg = unsafe {
                    let e = libc::dlerror();
                    if e.is_null() {
                        "unknown error".to_string()
                    } else {
                        std::ffi::CStr::from_ptr(e).to_string_lossy().into_owned()
                    }
                };
                Err(msg)
            } else {
                Ok(())
            }
        })
        .clone()
}

/// Picks the learner's device from `device` or `num_gpus`, checking the machine has it.
pub fn resolve_device(device: Option<&str>, num_gpus: f64) -> Result<Device> {
    let wants_cuda = device.is_some_and(|d| d != "cpu") || (device.is_none() && num_gpus > 0.0);
    let cuda = wants_cuda
        && match load_cuda() {
            Ok(()) => tch::Cuda::is_available(),
            Err(e) => {
                tracing::debug!("libtorch_cuda not loaded: {e}");
                false
            }
        };
    match device {
        Some("cpu") => Ok(Device::Cpu),
        Some(d) => {
            let idx = d
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
            if !cuda {
                return Err(RllibError::Device {
                    requested: d.to_string(),
                    message: format!(
                        "device '{d}' was asked for, but libtorch sees no CUDA GPU on this machine"
                    ),
                });
            }
            let count = tch::Cuda::device_count() as usize;
            if idx >= count {
                return Err(RllibError::Device {
                    requested: d.to_string(),
                    message: format!(
                        "device '{d}' was asked for, but this machine has {count} CUDA device(s)"
                    ),
                });
            }
            tracing::info!("learner on {d}");
            Ok(Device::Cuda(idx))
        }
        None if num_gpus > 0.0 && cuda => {
            tracing::info!("learner on cuda:0 (num_gpus: {num_gpus})");
            Ok(Device::Cuda(0))
        }
        None if num_gpus > 0.0 => {
            tracing::warn!("num_gpus: {num_gpus} but libtorch sees no CUDA GPU; the learner uses the CPU instead");
            Ok(Device::Cpu)
        }
        None => Ok(Device::Cpu),
    }
}

impl TorchPolicy {
    /// A freshly initialized policy; the same seed gives the same weights.
    pub fn new(
        obs_space: &Space,
        action_space: &Space,
        model: &ModelConfig,
        seed: u64,
        device: Device,
    ) -> Result<TorchPolicy> {
        let dist = dist_for_space(action_space)?;
        let obs_dim = obs_space.flat_dim();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let model = FullyConnectedNetwork::new(model, obs_dim, dist.num_inputs(), &mut rng, device);
        Ok(TorchPolicy {
            model,
            dist,
            obs_dim,
            device,
        })
    }

    /// A batch of flat observations as a [n, obs_dim] tensor on the policy's device.
    pub fn obs_tensor(&self, obs: &[f32]) -> Tensor {
        Tensor::from_slice(obs)
            .view([-1, self.obs_dim as i64])
            .to_device(self.device)
    }

    /// Distribution inputs for a batch of observations, without gradients, as flat f32.
    pub fn dist_inputs(&self, obs: &[f32]) -> Result<Vec<f32>> {
        tch::no_grad(|| {
            let out = self.model.dist_inputs(&self.obs_tensor(obs));
            Ok(Vec::<f32>::try_from(
                out.to_device(Device::Cpu).reshape([-1]),
            )?)
        })
    }

    /// Value estimates for a batch of observations, without gradients.
    pub fn values(&self, obs: &[f32]) -> Result<Vec<f32>> {
        if obs.is_empty() {
            return Ok(Vec::new());
        }
        tch::no_grad(|| {
            let v = self.model.value(&self.obs_tensor(obs));
            Ok(Vec::<f32>::try_from(
                v.to_device(Device::Cpu).reshape([-1]),
            )?)
        })
    }

    /// The tensors the optimizer updates: the model's one flat parameter buffer.
    pub fn parameters(&self) -> Vec<&Tensor> {
        vec![self.model.flat()]
    }

    /// A fresh Adam over this policy's parameters.
    pub fn adam(&self, lr: f64) -> Adam {
        Adam::new(&self.parameters(), lr)
    }

    /// The weights as plain named tensors.
    pub fn get_weights(&self) -> Result<Weights> {
        let tensors = self
            .model
            .named_parameters()
            .into_iter()
            .map(|(name, t)| to_named(name, t))
            .collect::<Result<Vec<_>>>()?;
        Ok(Weights { tensors })
    }

    /// Loads weights; names and shapes must match this policy's model exactly.
    pub fn set_weights(&self, w: &Weights) -> Result<()> {
        let params = self.model.named_parameters();
        check_same_shapes(&params, &w.tensors)?;
        tch::no_grad(|| {
            for ((_, p), nt) in params.iter().zip(&w.tensors) {
                let src = Tensor::from_slice(&nt.data)
                    .view(nt.shape.as_slice())
                    .to_device(self.device);
                let mut p = p.shallow_clone();
                p.copy_(&src);
            }
        });
        Ok(())
    }
}

/// A sample-batch column as a tensor on `device`: `[n]` for width 0 (scalars), `[n, width]`
/// otherwise, so a one-dimensional observation still forms a matrix.
pub fn column_tensor(data: &[f32], width: usize, device: Device) -> Tensor {
    let t = Tensor::from_slice(data);
    let t = if width > 0 {
        t.view([-1, width as i64])
    } else {
        t
    };
    t.to_device(device)
}

/// A tensor copied out to a named, plain f32 tensor.
pub fn to_named(name: String, t: &Tensor) -> Result<NamedTensor> {
    let shape = t.size();
    let data = Vec::<f32>::try_from(
        t.detach()
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .reshape([-1]),
    )?;
    Ok(NamedTensor { name, shape, data })
}

/// Checks that named tensors fit a model's parameters by name and shape.
pub fn check_same_shapes(params: &[(String, &Tensor)], tensors: &[NamedTensor]) -> Result<()> {
    let mismatch = |expected: String, got: String| RllibError::Mismatch {
        what: "weights do not fit the model",
        expected,
        got,
    };
    if params.len() != tensors.len() {
        return Err(mismatch(
            format!("{} tensors", params.len()),
            format!("{} tensors", tensors.len()),
        ));
    }
    for ((name, p), nt) in params.iter().zip(tensors) {
        if *name != nt.name || p.size() != nt.shape {
            return Err(mismatch(
                format!("{name} {:?}", p.size()),
                format!("{} {:?}", nt.name, nt.shape),
            ));
        }
        if nt.data.len() as i64 != nt.shape.iter().product::<i64>() {
            return Err(mismatch(
                format!(
                    "{} values for {} {:?}",
                    nt.shape.iter().product::<i64>(),
                    nt.name,
                    nt.shape
                ),
                format!("{} values", nt.data.len()),
            ));
        }
    }
    Ok(())
}
