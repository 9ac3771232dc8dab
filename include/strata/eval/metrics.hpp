// Image quality metrics on float tensors (C×H×W or N×C×H×W).
#pragma once

#include <torch/types.h>

namespace strata::eval {

/// PSNR in dB per image of a batch: 10·log10(peak² / MSE) with the MSE over C×H×W; returns a
/// float64 tensor of N values on the estimate's device (one value for a C×H×W input), without a
/// host sync. Identical images give +inf.
torch::Tensor psnr_per_image(const torch::Tensor& estimate, const torch::Tensor& reference,
                             double peak = 1.0);

/// Mean of psnr_per_image over the batch.
double mean_psnr(const torch::Tensor& estimate, const torch::Tensor& reference, double peak = 1.0);

/// PSNR (peak 1) as the super-resolution tables report it (Set5/Set14 in LapSRN, the deep image
/// prior and thesis Tables 4-5): both C×H×W images quantised to 8 bits, the Y channel of
/// studio-range YCbCr (MATLAB rgb2ycbcr; one-channel images as they are), a border of `shave`
/// pixels (the scale factor) left out.
double luma_psnr(const torch::Tensor& estimate, const torch::Tensor& reference, std::int64_t shave);

/// Standard deviation of additive white Gaussian noise in a C×H×W image (at least 3×3; same
/// scale as the image), estimated from the image alone: Immerkær's (1996) mean absolute response
/// to the difference of two Laplacians, σ = √(π/2)·mean|I∗N|/6, over the pixels left after the
/// 10% with the strongest Sobel gradient (edges, after Tai & Yang 2008), averaged over the
/// channels. Pure noise reads true (σ 5-50 on the 0-255 scale within 0.05); texture reads as a
/// little noise, clipping at 0 and 1 lowers it (CBSD68 at σ 15 / 25 / 50, clipped: 15.4 / 24.3 /
/// 44.9 on average; clean: 3.6).
double estimate_noise_sigma(const torch::Tensor& image);

}  // namespace strata::eval
