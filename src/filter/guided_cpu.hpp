// Internal: the fused CPU kernel of the guided filter (gray and colour guides) and of the weighted
// guided filter (a per-pixel regulariser in place of eps).
#pragma once

#include <torch/types.h>

#include <optional>

namespace strata::filter::detail {

/// Whether guided_cpu takes these tensors: CPU, float32 or float64, no gradient needed.
bool guided_cpu_supports(const torch::Tensor& input, const torch::Tensor& guide);

/// Guided filter of `input` (N×C×H×W, contiguous, float32 or float64) with `guide` (N×K×H×W,
/// K = 1 or 3, same dtype, contiguous): window statistics, coefficients and their window means in
/// one fused pass per row range (He et al. 2010 Eq. 5-8, 14-16; border-clipped box windows of
/// radius `radius`). The regulariser is `eps`, or the per-pixel `reg` (N×1×H×W, same dtype) when
/// given. Returns N×C×H×W in the input's dtype.
torch::Tensor guided_cpu(const torch::Tensor& input, const torch::Tensor& guide, int radius,
                         double eps, const std::optional<torch::Tensor>& reg);

}  // namespace strata::filter::detail
