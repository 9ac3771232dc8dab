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

}  // namespace strata::eval
