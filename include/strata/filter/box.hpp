// Linear filters: box mean (O(1) per pixel), Gaussian, unsharp masking.
#pragma once

#include <torch/types.h>

namespace strata::filter {

/// Mean over the (2r+1)×(2r+1) window clipped at the image borders (each output divides by the
/// number of in-image pixels, as MATLAB's boxfilter.m / He et al.), O(1) per pixel for any r;
/// r larger than the image gives the whole-image mean. r = 0 returns a copy of the input.
/// Accurate to 1e-5 against a direct float64 sum on 4K images (float32 in [0,1]; measured ~1e-7).
/// CPU tensors that need no gradient use a running-sum kernel with float64 accumulators; CUDA and
/// autograd use blocked prefix sums in tensor ops (differentiable). Throws strata::Error for
/// radius < 0.
torch::Tensor box_filter(const torch::Tensor& x, int radius);

/// Separable Gaussian blur with standard deviation sigma (> 0), kernel radius
/// ceil(3·sigma) unless given (radius >= 0; -1 picks the default), borders reflected (OpenCV
/// BORDER_REFLECT_101, folded repeatedly when the radius reaches the image size). Taps are
/// exp(-k²/2σ²) normalised to sum 1, as cv::getGaussianKernel.
torch::Tensor gaussian_blur(const torch::Tensor& x, double sigma, int radius = -1);

/// Unsharp masking: x + amount · (x − gaussian_blur(x, sigma)).
torch::Tensor unsharp_mask(const torch::Tensor& x, double sigma, double amount);

}  // namespace strata::filter
