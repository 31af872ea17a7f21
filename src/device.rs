//! Where the networks run. CPU by default; CUDA when asked for and present.

use serde::{Deserialize, Serialize};

use crate::error::{OddityError, Result};

/// Device choice for a detector. Saved files do not pin a device: a detector
/// trained on CUDA loads on the CPU and vice versa.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Device {
    /// The CPU (default).
    #[default]
    Cpu,
    /// A CUDA GPU by ordinal; an error if it is not present.
    Cuda(usize),
    /// CUDA device 0 when present, else the CPU.
    CudaIfAvailable,
}

impl Device {
    /// Resolves to a libtorch device, or an error if CUDA was asked for and is absent.
    pub fn resolve(self) -> Result<tch::Device> {
        match self {
            Device::Cpu => Ok(tch::Device::Cpu),
            Device::CudaIfAvailable => Ok(tch::Device::cuda_if_available()),
            Device::Cuda(i) => {
                let n = tch::Cuda::device_count().max(0) as usize;
                if i < n {
                    Ok(tch::Device::Cuda(i))
                } else if n == 0 {
                    Err(OddityError::DeviceUnavailable(format!(
                        "cuda:{i} requested but libtorch sees no CUDA device (CPU-only libtorch, or no GPU); see README, section GPU"
                    )))
                } else {
                    Err(OddityError::DeviceUnavailable(format!(
                        "cuda:{i} requested but only {n} CUDA device(s) present"
                    )))
                }
            }
        }
    }

    /// Parses `cpu`, `cuda`, `cuda:N` or `auto`.
    pub fn parse(s: &str) -> Result<Device> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            "auto" => Ok(Device::CudaIfAvailable),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| OddityError::param("device", format!("`{s}` is not one of cpu, cuda, cuda:N, auto"))),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
            Device::CudaIfAvailable => write!(f, "auto"),
        }
    }
}

/// Human name of a resolved libtorch device.
pub(crate) fn describe(d: tch::Device) -> String {
    match d {
        tch::Device::Cpu => "cpu".into(),
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}
