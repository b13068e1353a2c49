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
/// `MemAvailable` of /proc/meminfo (Linux); on CUDA the free memory the driver reports once
/// this process has a CUDA context (before that, the allocation itself is the check).
fn available_bytes(device: Device) -> Option<u64> {
    match device {
        Device::Cpu => {
            let text = std::fs::read_to_string("/proc/meminfo").ok()?;
            let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        }
        Device::Cuda(_) => cuda_driver::mem_info().map(|(free, _)| free),
        _ => None,
    }
}

/// Human-readable bytes.
pub fn format_bytes(bytes: u64) -> String {
    const TIB: f64 = (1u64 << 40) as f64;
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    if bytes as f64 >= TIB {
        format!("{:.1} TiB", bytes as f64 / TIB)
    } else if bytes as f64 >= GIB {
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

/// The CUDA driver API's `cuDeviceGetName` and `cuMemGetInfo_v2`, loaded from `libcuda.so.1`
/// at run time (libtorch exposes neither through tch): the card's name for run records and the
/// device memory the process holds, for the benchmark's memory figure.
mod cuda_driver {
    use libloading::os::unix::{Library, Symbol};
    use std::os::raw::{c_char, c_int, c_uint};

    fn driver() -> Option<&'static Library> {
        static LIB: std::sync::OnceLock<Option<Library>> = std::sync::OnceLock::new();
        LIB.get_or_init(|| {
            // SAFETY: the NVIDIA driver library; its initialisers have no preconditions.
            let lib = unsafe { Library::new("libcuda.so.1") }.ok()?;
            // SAFETY: cuInit(unsigned) -> CUresult, per the driver API; idempotent.
            let init: Symbol<unsafe extern "C" fn(c_uint) -> c_int> = unsafe { lib.get(b"cuInit\0") }.ok()?;
            (unsafe { init(0) } == 0).then_some(())?;
            Some(lib)
        })
        .as_ref()
    }

    pub(super) fn name(ordinal: usize) -> Option<String> {
        let lib = driver()?;
        // SAFETY: signatures of cuDeviceGet(CUdevice*, int) and cuDeviceGetName(char*, int, CUdevice).
        unsafe {
            let get: Symbol<unsafe extern "C" fn(*mut c_int, c_int) -> c_int> = lib.get(b"cuDeviceGet\0").ok()?;
            let get_name: Symbol<unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int> =
                lib.get(b"cuDeviceGetName\0").ok()?;
            let mut dev: c_int = 0;
            (get(&mut dev, ordinal as c_int) == 0).then_some(())?;
            let mut buf = [0 as c_char; 256];
            (get_name(buf.as_mut_ptr(), buf.len() as c_int, dev) == 0).then_some(())?;
            Some(std::ffi::CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned())
        }
    }

    /// (free, total) bytes of the current context's device; `None` without a current context.
    pub(super) fn mem_info() -> Option<(u64, u64)> {
        let lib = driver()?;
        // SAFETY: cuMemGetInfo_v2(size_t* free, size_t* total) -> CUresult.
        unsafe {
            let info: Symbol<unsafe extern "C" fn(*mut usize, *mut usize) -> c_int> =
                lib.get(b"cuMemGetInfo_v2\0").ok()?;
            let (mut free, mut total) = (0usize, 0usize);
            (info(&mut free, &mut total) == 0).then_some((free as u64, total as u64))
        }
    }
}

/// The name of the card behind `device` ("NVIDIA H200"), or "cpu".
pub fn device_hardware(device: Device) -> String {
    match device {
        Device::Cuda(i) => cuda_driver::name(i).unwrap_or_else(|| format!("cuda:{i} (name unavailable)")),
        _ => "cpu".into(),
    }
}

/// Device memory in use on a CUDA device (total − free as the driver reports it, for the whole
/// device: this process's CUDA context and libtorch's caching allocator, whose reserve only grows,
/// plus any other process on the card, so the largest reading is an upper bound of this run's
/// peak); on the CPU this process's resident set size.
pub fn device_memory_in_use(device: Device) -> Option<u64> {
    match device {
        Device::Cuda(_) => cuda_driver::mem_info().map(|(free, total)| total.saturating_sub(free)),
        _ => rss_bytes(),
    }
}

/// This machine's host name ("unknown" where it cannot be read).
pub fn host_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most `len` bytes into the buffer we own.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        match std::str::from_utf8(&buf[..end]) {
            Ok(s) if rc == 0 && !s.is_empty() => s.to_string(),
            _ => "unknown".into(),
        }
    })
    .clone()
}

/// Whether a process with `pid` exists on this machine (signal 0 checks without sending one).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 performs only the existence and permission checks.
    let rc = unsafe { libc::kill(pid, 0) };
    // EPERM: it exists, owned by someone else
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The run's deadline (`--timeout`), process-wide, so long native calls (training epochs, Blend
/// iterations) stop at their next check too, not only the script between calls.
static DEADLINE: std::sync::Mutex<Option<(std::time::Instant, std::time::Duration)>> = std::sync::Mutex::new(None);

/// Starts the clock of a run limited to `timeout` (`None` clears it).
pub fn set_deadline(timeout: Option<std::time::Duration>) {
    *DEADLINE.lock().unwrap_or_else(|e| e.into_inner()) = timeout.map(|t| (std::time::Instant::now() + t, t));
}

/// [`crate::error::Error::Timeout`] once the deadline has passed.
pub fn check_deadline() -> crate::error::Result<()> {
    let d = *DEADLINE.lock().unwrap_or_else(|e| e.into_inner());
    match d {
        Some((at, limit)) if std::time::Instant::now() >= at => Err(crate::error::Error::Timeout(limit.as_secs_f64())),
        _ => Ok(()),
    }
}

/// Makes CUDA runs repeatable: cuDNN off (its kernels are non-deterministic even with a fixed
/// seed and benchmark mode off, measured; without it convolutions are 10-50x slower). CPU runs
/// are repeatable already for a fixed seed and thread count.
pub fn set_deterministic(on: bool) {
    if Cuda::is_available() {
        Cuda::set_user_enabled_cudnn(!on);
        Cuda::cudnn_set_benchmark(false);
    }
}

/// Whether runs on `device` repeat bit for bit, as recorded in every run record.
pub fn determinism(device: Device) -> String {
    match device {
        Device::Cuda(_) if Cuda::user_enabled_cudnn() => {
            "non-deterministic: cuDNN kernels on CUDA (run with --deterministic to disable cuDNN)".into()
        }
        Device::Cuda(_) => {
            "cuDNN disabled (--deterministic): convolutions repeat; atomics-based CUDA kernels (index_add in Blend's backward) may still vary in the last bits".into()
        }
        _ => format!("deterministic for a fixed seed and thread count ({} threads)", tch::get_num_threads()),
    }
}
