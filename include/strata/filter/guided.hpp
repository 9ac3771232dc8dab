// The guided-filter family: He et al. 2010 (gray and colour guides), the fast guided filter
// (He & Sun 2015), the weighted guided filter (Li et al. 2015, thesis Eq. 3.6) and the
// unsharp-mask guided filter (thesis Eq. 3.14/3.15).
#pragma once

#include <torch/types.h>

namespace strata::filter {

/// Guided filter. `guide` has 1 channel (gray guide, per-channel linear model) or 3 channels
/// (colour guide: per-pixel 3×3 solve (Σ + eps·I)⁻¹ cov); the input has any channel count.
/// Windows are box windows of radius r clipped at borders.
torch::Tensor guided_filter(const torch::Tensor& input, const torch::Tensor& guide, int radius,
                            double eps);

/// Fast guided filter: coefficients computed on images subsampled by `subsample` (>= 1) with
/// radius r / subsample, then upsampled bilinearly and applied at full resolution.
torch::Tensor fast_guided_filter(const torch::Tensor& input, const torch::Tensor& guide,
                                 int radius, double eps, int subsample);

/// Weighted guided filter (Li et al. 2015): eps replaced by lambda / Γ_G with the edge-aware
/// weight Γ_G of thesis Eq. 3.6 (3×3 variances of the guide; small constant (0.001·L)² with L
/// the dynamic range).
torch::Tensor weighted_guided_filter(const torch::Tensor& input, const torch::Tensor& guide,
                                     int radius, double lambda);

/// Where the amount function a comes from in the unsharp-mask guided filter.
enum class AmountFunction { Guided, WeightedGuided };

struct UmgfOptions {
  AmountFunction amount = AmountFunction::Guided;
  int lowpass_boxes = 2;  ///< F_L = this many cascaded boxes of radius r (authors' MATLAB: 2)
  bool smooth_amount = true;  ///< ā = box(a), as the authors' MATLAB does
};

/// Unsharp-mask guided filter, thesis Eq. 3.15: q = ā ⊙ (G − F_L(G)) + F_L(I), with `eps_or_lambda`
/// the eps of the guided filter or the lambda of the weighted guided filter.
torch::Tensor unsharp_mask_guided_filter(const torch::Tensor& input, const torch::Tensor& guide,
                                         int radius, double eps_or_lambda,
                                         const UmgfOptions& options = {});

}  // namespace strata::filter
