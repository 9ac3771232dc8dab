// Bilateral-type filters: bilateral, joint bilateral (Tomasi & Manduchi 1998; Petschnigg/Eisemann
// 2004) and the rolling guidance filter (Zhang et al. 2014).
#pragma once

#include <torch/types.h>

namespace strata::filter {

/// Bilateral filter with OpenCV's semantics (cv::bilateralFilter on 32F): weights
/// exp(-(dx²+dy²)/2σs²) · exp(-Δ²/2σr²) over the circular window dx²+dy² <= r², Δ the L1 colour
/// distance Σ_c |x_c(q) − x_c(p)| over all channels, borders reflected (BORDER_REFLECT_101).
/// radius -1 (default): round(1.5·σs) rounding halves to even, at least 1 (OpenCV's d <= 0);
/// radius 0 returns a copy. OpenCV evaluates the range exp by table interpolation: results agree
/// with it to ~1e-6. σs, σr > 0; any channel count.
torch::Tensor bilateral_filter(const torch::Tensor& x, double sigma_s, double sigma_r,
                               int radius = -1);

/// Joint bilateral filter: as bilateral_filter, with the range distance Δ taken over the channels
/// of `guide` (any count, typically 1 or 3) instead of the input's. Matches
/// cv::ximgproc::jointBilateralFilter (32F) except for a constant guide, where OpenCV switches to
/// a square-window cv::GaussianBlur while this keeps the circular-window Gaussian.
torch::Tensor joint_bilateral_filter(const torch::Tensor& x, const torch::Tensor& guide,
                                     double sigma_s, double sigma_r, int radius = -1);

/// Rolling guidance filter as the paper (Zhang et al. 2014): the first step from a constant guide
/// J⁰ is a Gaussian blur, J¹ = Gaussian(x, σs) (radius ceil(3σs), reflect-101), then
/// J^{t+1} = joint_bilateral_filter(x, guide = J^t, σs, σr); `iterations` (>= 1) counts all steps,
/// the Gaussian included. cv::ximgproc::rollingGuidanceFilter differs (opencv_contrib issue #1738):
/// it starts from J⁰ = x, i.e. its first step is a plain bilateral filter of x, and runs
/// `numOfIter` joint bilateral steps.
torch::Tensor rolling_guidance_filter(const torch::Tensor& x, double sigma_s, double sigma_r,
                                      int iterations = 4);

}  // namespace strata::filter
