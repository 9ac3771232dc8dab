// Internal: what strata's hand-written kernels share: whether autograd records an operation (the
// kernels have no backward pass and step aside for tensor ops then), and the border folds of the
// CPU kernels' index tables.
#pragma once

#include <c10/core/GradMode.h>
#include <torch/types.h>

#include <cstdint>
#include <string>

#include "strata/core/error.hpp"

namespace strata {

/// Throws strata::Error "WHAT: CUDA kernel failed: ERROR" where a kernel's host wrapper returned
/// an error text (nullptr: launched).
inline void check_launch(const char* error, const char* what) {
  check(error == nullptr, "", std::string(what) + ": CUDA kernel failed: " + (error ? error : ""));
}

/// Whether autograd records operations on x: grad mode is on and x requires a gradient.
inline bool records_grad(const torch::Tensor& x) {
  return c10::GradMode::is_enabled() && x.requires_grad();
}

/// The float32 .grad of leaf t for a kernel to add t's gradient into in place, as AccumulateGrad
/// would (created as zeros when t has none yet); undefined where that does not apply (t is no
/// leaf or needs no gradient, or its .grad has another dtype, layout or device): the gradient is
/// then returned to autograd instead.
inline torch::Tensor grad_to_add_into(const torch::Tensor& t) {
  if (!t.is_leaf() || !t.requires_grad() || t.scalar_type() != torch::kFloat32) return {};
  auto& grad = const_cast<torch::Tensor&>(t).mutable_grad();
  if (!grad.defined()) grad = torch::zeros_like(t, torch::MemoryFormat::Preserve);
  if (grad.scalar_type() != torch::kFloat32 || grad.strides() != t.strides() ||
      grad.device() != t.device())
    return {};
  return grad;
}

/// Symmetric border (… 1 0 | 0 1 … n-1 | n-1 …) source index of position i on an axis of n
/// positions; any i (the pattern repeats with period 2n).
inline std::int64_t fold_symmetric(std::int64_t i, std::int64_t n) {
  const std::int64_t m = ((i % (2 * n)) + 2 * n) % (2 * n);
  return m < n ? m : 2 * n - 1 - m;
}

/// Reflect-101 border (… 2 1 | 0 1 2 … n-1 | n-2 …) source index of position i; any i (period
/// 2(n - 1)).
inline std::int64_t fold_reflect101(std::int64_t i, std::int64_t n) {
  if (n == 1) return 0;
  const std::int64_t period = 2 * (n - 1), m = ((i % period) + period) % period;
  return m < n ? m : period - m;
}

}  // namespace strata
