// Bilateral-type filters: bilateral, joint bilateral (Tomasi & Manduchi 1998; Petschnigg/Eisemann
// 2004) and the rolling guidance filter (Zhang et al. 2014).
#pragma once

#include <torch/types.h>

namespace strata::filter {

/// Bilateral filter: Gaussian spatial weight exp(-d²/2σs²) over a square window of radius
/// `radius` (default: round(1.5·σs), OpenCV's choice for d <= 0), range weight exp(-Δ²/2σr²) with
/// Δ the L1 colour distance summed over channels (as OpenCV), borders reflected (REFLECT_101).
torch::Tensor bilateral_filter(const torch::Tensor& x, double sigma_s, double sigma_r,
                               int radius = -1);

/// Joint bilateral filter: range weights from `guide` (1 or 3 channels) instead of the input.
torch::Tensor joint_bilateral_filter(const torch::Tensor& x, const torch::Tensor& guide,
                                     double sigma_s, double sigma_r, int radius = -1);

/// Rolling guidance filter: J¹ = Gaussian(x, σs) (constant initial guide, as the paper), then
/// J^{t+1} = joint_bilateral(x, guide = J^t); `iterations` >= 1.
torch::Tensor rolling_guidance_filter(const torch::Tensor& x, double sigma_s, double sigma_r,
                                      int iterations = 4);

}  // namespace strata::filter
