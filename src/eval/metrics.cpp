#include "strata/eval/metrics.hpp"

#include <torch/torch.h>

#include "strata/core/error.hpp"
#include "strata/image/color.hpp"

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

double luma_psnr(const torch::Tensor& estimate, const torch::Tensor& reference,
                 std::int64_t shave) {
  check(estimate.dim() == 3 && estimate.sizes() == reference.sizes(), "",
        "luma PSNR needs two C×H×W images of the same shape");
  check(shave >= 0 && 2 * shave < estimate.size(1) && 2 * shave < estimate.size(2), "",
        "luma PSNR: the border to leave out is larger than the image");
  const auto luma = [shave](const torch::Tensor& x) {
    const auto q = (x.to(torch::kFloat64).clamp(0.0, 1.0) * 255.0).round() / 255.0;
    const auto y = q.size(0) == 3 ? image::rgb_to_ycbcr(q).narrow(0, 0, 1) : q;
    return y.narrow(1, shave, y.size(1) - 2 * shave).narrow(2, shave, y.size(2) - 2 * shave);
  };
  return mean_psnr(luma(estimate), luma(reference.to(estimate.device())));
}

}  // namespace strata::eval
