//! Devices, seeds and the versions every result records.
use crate::error::{Error, Result};
use serde::Serialize;
use tch::{Cuda, Device};

/// Parses a device name: `auto` (CUDA if available, else CPU), `cpu`, `cuda` or `cuda:N`.
/// Asking for CUDA where there is none is an error, not a silent fall-back.
pub fn parse_device(name: &str) -> Result<Device> {
    let name = name.trim().to_ascii_lowercase();
    let cuda_err = |msg: String| Error::Device { requested: name.clone(), msg };
    match name.as_str() {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        _ => {
            let index = match name.strip_prefix("cuda") {
                Some("") => 0,
                Some(rest) => match rest.strip_prefix(':').and_then(|i| i.parse::<usize>().ok()) {
                    Some(i) => i,
                    None => return Err(Error::invalid("device", &name, "auto, cpu, cuda or cuda:N")),
                },
                None => return Err(Error::invalid("device", &name, "auto, cpu, cuda or cuda:N")),
            };
            if !Cuda::is_available() {
                return Err(cuda_err(format!(
                    "no CUDA device is available here (libtorch {} sees {} CUDA devices); use --device cpu or auto",
                    env!("UNLEARN_LIBTORCH_VERSION"),
                    Cuda::device_count()
                )));
            }
            let count = Cuda::device_count() as usize;
            if index >= count {
                return Err(cuda_err(format!("only {count} CUDA device(s), numbered from 0")));
            }
            Ok(Device::Cuda(index))
        }
    }
}

/// Human-readable device name (`cpu`, `cuda:0`).
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Mps => "mps".into(),
        Device::Vulkan => "vulkan".into(),
    }
}

/// Seeds libtorch's global generators (CPU and every CUDA device). Every random choice in the
/// toolkit seeds explicitly with a value it records.
pub fn seed_everything(seed: u64) {
    // libtorch takes an i64; keep the bits.
    tch::manual_seed(seed as i64);
    if Cuda::is_available() {
        Cuda::manual_seed_all(seed);
    }
}

/// Blocks until queued device work is done, so a timer read after it measures the work.
pub fn synchronize(device: Device) {
    if let Device::Cuda(i) = device {
        Cuda::synchronize(i as i64);
    }
}

/// Software versions and hardware that a result depends on.
#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    pub unlearn: &'static str,
    pub git_commit: &'static str,
    pub tch: &'static str,
    pub libtorch: &'static str,
    pub cuda_available: bool,
    pub cudnn_available: bool,
    pub cuda_devices: i64,
    pub threads: i32,
}

impl Versions {
    pub fn current() -> Self {
        Versions {
            unlearn: env!("CARGO_PKG_VERSION"),
            git_commit: env!("UNLEARN_GIT_COMMIT"),
            tch: "0.24.0",
            libtorch: env!("UNLEARN_LIBTORCH_VERSION"),
            cuda_available: Cuda::is_available(),
            cudnn_available: Cuda::cudnn_is_available(),
            cuda_devices: Cuda::device_count(),
            threads: tch::get_num_threads(),
        }
    }

    /// The multi-line text of `unlearn --version`.
    pub fn describe(&self) -> String {
        format!(
            "unlearn {} (commit {})\ntch {}, libtorch {} ({})\nCUDA available: {} ({} device(s)), cuDNN available: {}\nCPU threads: {}",
            self.unlearn,
            self.git_commit,
            self.tch,
            self.libtorch,
            env!("UNLEARN_LIBTORCH_LIB"),
            self.cuda_available,
            self.cuda_devices,
            self.cudnn_available,
            self.threads
        )
    }
}
