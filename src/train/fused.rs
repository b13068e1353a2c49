//! The Rust side of `src/train/fused.cpp`: libtorch's fused Adam and SGD steps over lists of
//! tensors, which tch does not bind. Used by [`super::optim::Optimizer`].
use crate::error::{Error, Result};
use std::ffi::{c_char, c_int, c_void, CStr};
use tch::Tensor;

extern "C" {
    fn unlearn_fused_last_error() -> *const c_char;
    fn unlearn_zero_grad(params: *const *mut c_void, n: c_int) -> c_int;
    fn unlearn_fused_adam(
        params: *const *mut c_void,
        grads: *const *mut c_void,
        exp_avgs: *const *mut c_void,
        exp_avg_sqs: *const *mut c_void,
        steps: *const *mut c_void,
        n: c_int,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
    ) -> c_int;
    fn unlearn_fused_sgd(
        params: *const *mut c_void,
        grads: *const *mut c_void,
        momentum_buffers: *const *mut c_void,
        n: c_int,
        lr: f64,
        momentum: f64,
        dampening: f64,
        weight_decay: f64,
        nesterov: c_int,
        first_step: c_int,
    ) -> c_int;
}

/// tch's tensor pointers (each a C++ `at::Tensor*`), valid while `ts` lives.
fn pointers(ts: &[Tensor]) -> Vec<*mut c_void> {
    ts.iter().map(|t| t.as_ptr() as *mut c_void).collect()
}

fn check(rc: c_int, what: &str) -> Result<()> {
    if rc == 0 {
        return Ok(());
    }
    // SAFETY: the shim returns a pointer to its thread-local, NUL-terminated message
    let msg = unsafe { CStr::from_ptr(unlearn_fused_last_error()) }.to_string_lossy().into_owned();
    Err(Error::Torch(tch::TchError::Torch(format!("{what}: {}", msg.lines().next().unwrap_or("")))))
}

fn count(lists: &[usize]) -> Result<c_int> {
    let n = lists[0];
    if lists.iter().any(|&m| m != n) {
        return Err(Error::Shape(format!("fused optimiser step over lists of lengths {lists:?}")));
    }
    c_int::try_from(n).map_err(|_| Error::Shape(format!("{n} parameters")))
}

/// Sets the gradients of `params` to none (PyTorch's `zero_grad()`).
pub fn zero_grad(params: &[Tensor]) -> Result<()> {
    let n = count(&[params.len()])?;
    let p = pointers(params);
    // SAFETY: every pointer is a live tch tensor for the duration of the call
    let rc = unsafe { unlearn_zero_grad(p.as_ptr(), n) };
    check(rc, "zero_grad")
}

/// One fused Adam step: every `steps` entry incremented, then PyTorch's Adam update.
#[allow(clippy::too_many_arguments)]
pub fn adam(
    params: &[Tensor],
    grads: &[Tensor],
    exp_avgs: &[Tensor],
    exp_avg_sqs: &[Tensor],
    steps: &[Tensor],
    lr: f64,
    beta1: f64,
    beta2: f64,
    weight_decay: f64,
    eps: f64,
) -> Result<()> {
    let n = count(&[params.len(), grads.len(), exp_avgs.len(), exp_avg_sqs.len(), steps.len()])?;
    let (p, g, m, v, s) =
        (pointers(params), pointers(grads), pointers(exp_avgs), pointers(exp_avg_sqs), pointers(steps));
    // SAFETY: every pointer is a live tch tensor for the duration of the call; lengths match `n`
    let rc = unsafe {
        unlearn_fused_adam(
            p.as_ptr(),
            g.as_ptr(),
            m.as_ptr(),
            v.as_ptr(),
            s.as_ptr(),
            n,
            lr,
            beta1,
            beta2,
            weight_decay,
            eps,
        )
    };
    check(rc, "fused Adam step")
}

/// One fused SGD step (no dampening, no Nesterov); `buffers` empty without momentum.
pub fn sgd(
    params: &[Tensor],
    grads: &[Tensor],
    buffers: &[Tensor],
    lr: f64,
    momentum: f64,
    weight_decay: f64,
    first: bool,
) -> Result<()> {
    let n = count(&[params.len(), grads.len()])?;
    if momentum != 0.0 {
        count(&[params.len(), buffers.len()])?;
    }
    let (p, g, b) = (pointers(params), pointers(grads), pointers(buffers));
    // SAFETY: as in `adam`; the buffers are read only with momentum, when their count is `n`
    let rc = unsafe {
        unlearn_fused_sgd(p.as_ptr(), g.as_ptr(), b.as_ptr(), n, lr, momentum, 0.0, weight_decay, 0, c_int::from(first))
    };
    check(rc, "fused SGD step")
}
