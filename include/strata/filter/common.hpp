// Conventions shared by every classical filter in strata::filter.
//
// - Inputs are floating tensors C×H×W or N×C×H×W (any C, CPU or CUDA); outputs have the input's
//   shape, dtype and device. float16/bfloat16 inputs are computed in float32 unless a filter says
//   otherwise. Values are typically in [0,1] but no range is assumed.
// - Guides may have a different channel count than the input (1 or 3 where a filter needs it);
//   they must have the same N, H, W and device.
// - Parameters are validated; bad values throw strata::Error with the parameter's name.
#pragma once

#include <torch/types.h>

#include <string>

namespace strata::filter {

/// A view of an image tensor as N×C×H×W, remembering whether a batch dim must be dropped again.
struct Batched {
  torch::Tensor x;                            ///< N×C×H×W, contiguous, float32 or float64
  bool squeezed = false;                      ///< the caller passed C×H×W
  torch::ScalarType dtype = torch::kFloat32;  ///< the caller's dtype

  /// Converts a result back to the caller's layout and dtype.
  torch::Tensor restore(const torch::Tensor& y) const;
};

/// Checks an image argument (3-D or 4-D, floating, non-empty); `what` names it in errors.
void check_image(const torch::Tensor& t, const std::string& what);

/// Checks an image argument (3-D or 4-D, floating, non-empty) and returns it as Batched.
/// `what` names the argument in errors ("input", "guide").
Batched as_batched(const torch::Tensor& t, const std::string& what);

/// Checks that a guide matches the input in N, H, W and device.
void check_guide(const torch::Tensor& input, const torch::Tensor& guide);

/// Whether this build has strata's fused CUDA kernels (LibTorch with CUDA and nvcc at build time).
/// They run box_filter, guided_filter and weighted_guided_filter on CUDA float32/float16 tensors
/// (any memory format) that need no gradient; everything else takes LibTorch-op paths.
bool fused_kernels_built();

/// Turns the fused CUDA kernels on (the default) or off for the whole process, e.g. to compare
/// them with the LibTorch-op paths.
void use_fused_kernels(bool on);

/// How the fused CUDA kernels take box-window sums. Auto (the default): a fully parallel tiled
/// kernel for radii up to 16, a row sweep beyond; Sweep: always the sweep (to compare them).
/// Process-wide; no effect in builds without the kernels.
enum class FusedSchedule { Auto, Sweep };
void set_fused_schedule(FusedSchedule schedule);

}  // namespace strata::filter
