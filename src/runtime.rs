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

/// Bytes of memory available for new allocations on `device`, where it can be known: on the CPU
/// `MemAvailable` of /proc/meminfo (Linux). CUDA is checked by the allocation itself.
pub fn available_bytes(device: Device) -> Option<u64> {
    match device {
        Device::Cpu => {
            let text = std::fs::read_to_string("/proc/meminfo").ok()?;
            let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        }
        _ => None,
    }
}

/// Human-readable bytes.
pub fn format_bytes(bytes: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    if bytes as f64 >= GIB {
        format!("{:.2} GiB", bytes as f64 / GIB)
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB)
    }
}

/// Fails with a message saying how much is needed when `device` visibly lacks room for `bytes`.
pub fn ensure_fits(device: Device, bytes: u64, what: &str) -> Result<()> {
    if let Some(avail) = available_bytes(device) {
        if bytes > avail {
            return Err(Error::Device {
                requested: device_name(device),
                msg: format!(
                    "{what} needs {} but only {} is available: use a subset, smaller images, or a machine with more memory",
                    format_bytes(bytes),
                    format_bytes(avail)
                ),
            });
        }
    }
    Ok(())
}

/// Turns a libtorch out-of-memory error into one that says how much was needed.
pub fn explain_alloc_error(e: Error, device: Device, bytes: u64, what: &str) -> Error {
    let text = e.to_string();
    if text.contains("out of memory") || text.contains("OutOfMemory") || text.contains("not enough memory") {
        Error::Device {
            requested: device_name(device),
            msg: format!("{what} needs {} and the device ran out of memory ({text})", format_bytes(bytes)),
        }
    } else {
        e
    }
}

fn proc_status_bytes(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resident memory of this process (VmRSS), in bytes, on Linux.
pub fn rss_bytes() -> Option<u64> {
    proc_status_bytes("VmRSS:")
}

/// Peak resident memory of this process (VmHWM), in bytes, on Linux.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}
