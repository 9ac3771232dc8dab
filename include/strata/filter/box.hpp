// Linear filters: box mean (O(1) per pixel), Gaussian, unsharp masking.
#pragma once

#include <torch/types.h>

namespace strata::filter {

/// Mean over the (2r+1)×(2r+1) window clipped at the image borders (each output divides by the
/// number of in-image pixels, as MATLAB's boxfilter.m / He et al.), O(1) per pixel for any r.
/// r = 0 returns the input. Accurate to 1e-5 against a direct sum on 4K images.
torch::Tensor box_filter(const torch::Tensor& x, int radius);

/// Separable Gaussian blur with standard deviation sigma (> 0), kernel radius
/// ceil(3·sigma) unless given, borders reflected (OpenCV BORDER_REFLECT_101).
torch::Tensor gaussian_blur(const torch::Tensor& x, double sigma, int radius = -1);

/// Unsharp masking: x + amount · (x − gaussian_blur(x, sigma)).
torch::Tensor unsharp_mask(const torch::Tensor& x, double sigma, double amount);

}  // namespace strata::filter
