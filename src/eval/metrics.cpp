#include "strata/eval/metrics.hpp"

#include <torch/torch.h>

#include "strata/core/error.hpp"

namespace strata::eval {

torch::Tensor psnr_per_image(const torch::Tensor& estimate, const torch::Tensor& reference,
                             double peak) {
  check(estimate.sizes() == reference.sizes(), "", "PSNR needs tensors of the same shape");
  check(estimate.dim() == 3 || estimate.dim() == 4, "", "PSNR needs C×H×W or N×C×H×W tensors");
  check(peak > 0, "", "PSNR peak must be positive");
  const auto e = estimate.dim() == 3 ? estimate.unsqueeze(0) : estimate;
  const auto r = reference.dim() == 3 ? reference.unsqueeze(0) : reference;
  const torch::Tensor diff = e.to(torch::kFloat64) - r.to(e.device(), torch::kFloat64);
  const torch::Tensor mse = diff.pow(2).flatten(1).mean(1);
  return 10.0 * torch::log10(peak * peak / mse);
}

double mean_psnr(const torch::Tensor& estimate, const torch::Tensor& reference, double peak) {
  return psnr_per_image(estimate, reference, peak).mean().item<double>();
}

}  // namespace strata::eval
