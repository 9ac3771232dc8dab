// The guided-filter family: He et al. 2010 (gray and colour guides), the fast guided filter
// (He & Sun 2015), the weighted guided filter (Li et al. 2015, thesis Eq. 3.6) and the
// unsharp-mask guided filter (thesis Eq. 3.14/3.15).
#pragma once

#include <torch/types.h>

namespace strata::filter {

/// Guided filter. `guide` has 1 channel (gray guide, per-channel linear model) or 3 channels
/// (colour guide: per-pixel 3×3 solve (Σ + eps·I)⁻¹ cov, closed-form cofactors); the input has
/// any channel count. Other guide channel counts throw strata::Error. Windows are box windows of
/// radius r clipped at borders (He et al.'s MATLAB; OpenCV pads instead, so results differ within
/// 2r of the borders). Differentiable with respect to input and guide.
torch::Tensor guided_filter(const torch::Tensor& input, const torch::Tensor& guide, int radius,
                            double eps);

/// Fast guided filter (He & Sun 2015): coefficients computed on guide and input subsampled by
/// `subsample` (>= 1) with nearest-neighbour resize (size ceil(H/s)×ceil(W/s)) and radius
/// max(1, r / s) (0 stays 0), their window means upsampled bilinearly (half-pixel aligned) and
/// applied to the full-resolution guide. subsample = 1 is guided_filter.
torch::Tensor fast_guided_filter(const torch::Tensor& input, const torch::Tensor& guide, int radius,
                                 double eps, int subsample);

/// Weighted guided filter (Li et al. 2015): eps replaced by lambda / Γ_G with the edge-aware
/// weight Γ_G of thesis Eq. 3.6 (3×3 variances of the guide, averaged per image; small constant
/// (0.001·L)² with L = 1, the dynamic range of [0,1] images). A colour guide takes Γ_G from its
/// channel mean and solves the 3×3 system with lambda / Γ_G on the diagonal.
torch::Tensor weighted_guided_filter(const torch::Tensor& input, const torch::Tensor& guide,
                                     int radius, double lambda);

/// Where the amount function a comes from in the unsharp-mask guided filter.
enum class AmountFunction { Guided, WeightedGuided };

struct UmgfOptions {
  AmountFunction amount = AmountFunction::Guided;
  int lowpass_boxes = 2;      ///< F_L = this many cascaded boxes of radius r (authors' MATLAB: 2)
  bool smooth_amount = true;  ///< ā = box(a), as the authors' MATLAB does
};

/// Unsharp-mask guided filter, thesis Eq. 3.15: q = ā ⊙ (G − F_L(G)) + F_L(I), with `eps_or_lambda`
/// the eps of the guided filter or the lambda of the weighted guided filter. The amount is the
/// gray-guide a = cov / (σ² + eps) (eps → lambda / Γ_G for WeightedGuided): guide channel c guides
/// input channel c when the channel counts match, otherwise the channel mean of the guide guides
/// every input channel (a 1-channel guide for any input, the luminance of an RGB guide for a
/// 1-channel input).
torch::Tensor unsharp_mask_guided_filter(const torch::Tensor& input, const torch::Tensor& guide,
                                         int radius, double eps_or_lambda,
                                         const UmgfOptions& options = {});

}  // namespace strata::filter
