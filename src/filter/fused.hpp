// Dispatch to strata's fused CUDA kernels (src/filter/cuda) for the box-window filters. In builds
// without them (LibTorch without CUDA, or STRATA_CUDA_KERNELS=OFF) `supports` is always false and
// callers take their LibTorch-op path.
#pragma once

#include <torch/types.h>

namespace strata::filter::fused {

/// Whether the fused kernels run these N×C×H×W tensors: built with them, all on one CUDA device,
/// float32 or float16, no gradient needed, radius within the kernels' limit.
bool supports(const torch::Tensor& x, const torch::Tensor& guide, int radius);

/// Box mean of an N×C×H×W tensor (its dtype and memory format kept).
torch::Tensor box(const torch::Tensor& x, int radius);

/// Guided filter of N×C×H×W input p with guide g (1 channel: gray model; 3: colour model; g in
/// p's dtype) and regulariser eps, or the per-pixel map `reg` (N×1×H×W or N×Cg×H×W) when defined.
torch::Tensor guided(const torch::Tensor& p, const torch::Tensor& g, int radius, double eps,
                     const torch::Tensor& reg);

}  // namespace strata::filter::fused
