// Multi-tensor optimiser steps that tch does not bind: libtorch's fused Adam and SGD kernels
// (`at::_fused_adam_`, `at::_fused_sgd_`, what PyTorch's `fused=True` runs), each updating every
// parameter of a model in a few launches instead of a kernel chain per parameter. Compiled by
// build.rs against the headers of the libtorch that torch-sys links. Tensors arrive as tch's
// tensor pointers (each an `at::Tensor*`); an error is caught and kept for the caller to read.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <exception>
#include <string>
#include <vector>

namespace {
thread_local std::string last_error;

std::vector<at::Tensor> tensors(void* const* ts, int n) {
    std::vector<at::Tensor> out;
    out.reserve(n);
    for (int i = 0; i < n; ++i) out.push_back(*static_cast<at::Tensor*>(ts[i]));
    return out;
}
}  // namespace

extern "C" {

const char* unlearn_fused_last_error() { return last_error.c_str(); }

// Sets every gradient to none, as PyTorch's `zero_grad()` does (a parameter left out of the
// next backward pass then has no gradient, and the step skips it).
int unlearn_zero_grad(void* const* params, int n) {
    try {
        for (auto& p : tensors(params, n)) p.mutable_grad().reset();
        return 0;
    } catch (const std::exception& e) {
        last_error = e.what();
        return 1;
    }
}

// Adam (PyTorch semantics, L2 weight decay added to the gradient, no amsgrad): every `steps`
// entry (a float scalar tensor per parameter) is incremented, then one fused update.
int unlearn_fused_adam(void* const* params, void* const* grads, void* const* exp_avgs, void* const* exp_avg_sqs,
                       void* const* steps, int n, double lr, double beta1, double beta2, double weight_decay,
                       double eps) {
    try {
        at::NoGradGuard no_grad;
        auto p = tensors(params, n), g = tensors(grads, n), m = tensors(exp_avgs, n), v = tensors(exp_avg_sqs, n),
             s = tensors(steps, n);
        at::_foreach_add_(s, 1.0);
        std::vector<at::Tensor> max_exp_avg_sqs;
        at::_fused_adam_(p, g, m, v, max_exp_avg_sqs, s, lr, beta1, beta2, weight_decay, eps, false, false,
                         std::nullopt, std::nullopt);
        return 0;
    } catch (const std::exception& e) {
        last_error = e.what();
        return 1;
    }
}

// SGD with momentum (PyTorch semantics: weight decay added to the gradient, then the momentum
// buffer, which the first step sets to the gradient).
int unlearn_fused_sgd(void* const* params, void* const* grads, void* const* momentum_buffers, int n, double lr,
                      double momentum, double dampening, double weight_decay, int nesterov, int first_step) {
    try {
        at::NoGradGuard no_grad;
        auto p = tensors(params, n), g = tensors(grads, n);
        // without momentum there are no buffers (as PyTorch passes them)
        auto b = momentum != 0.0 ? tensors(momentum_buffers, n) : std::vector<at::Tensor>{};
        at::_fused_sgd_(p, g, b, weight_decay, momentum, lr, dampening, nesterov != 0, false, first_step != 0,
                        std::nullopt, std::nullopt);
        return 0;
    } catch (const std::exception& e) {
        last_error = e.what();
        return 1;
    }
}
}
