#include "strata/eval/metrics.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/filter/edges.hpp"
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
  check(estimate.dim() == 3 && estimate.sizes() == reference.sizes() &&
            (estimate.size(0) == 1 || estimate.size(0) == 3),
        "", "luma PSNR needs two RGB or gray C×H×W images of the same shape");
  check(shave >= 0 && 2 * shave < estimate.size(1) && 2 * shave < estimate.size(2), "",
        "luma PSNR: the border to leave out is larger than the image");
  const auto luma = [shave](const torch::Tensor& x) {
    const auto q = (x.to(torch::kFloat64).clamp(0.0, 1.0) * 255.0).round() / 255.0;
    const auto y = q.size(0) == 3 ? image::rgb_to_ycbcr(q).narrow(0, 0, 1) : q;
    return y.narrow(1, shave, y.size(1) - 2 * shave).narrow(2, shave, y.size(2) - 2 * shave);
  };
  return mean_psnr(luma(estimate), luma(reference.to(estimate.device())));
}

double estimate_noise_sigma(const torch::Tensor& image) {
  check(image.defined() && image.dim() == 3 && image.size(1) >= 3 && image.size(2) >= 3, "",
        "noise estimate: need a C×H×W image of at least 3×3 pixels");
  const auto x = image.to(torch::kFloat64).unsqueeze(1);  // every channel on its own
  const auto n = torch::tensor(std::vector<double>{1, -2, 1, -2, 4, -2, 1, -2, 1}, x.options())
                     .view({1, 1, 3, 3});  // Immerkær's mask: zero on planes and ramps
  const auto response = torch::conv2d(x, n).abs().flatten(1);
  const std::int64_t h = x.size(2), w = x.size(3);  // the gradient where the response is
  const auto gradient =
      filter::sobel_magnitude(x).narrow(2, 1, h - 2).narrow(3, 1, w - 2).flatten(1);
  const std::int64_t kept = std::max<std::int64_t>(1, gradient.size(1) * 9 / 10);
  const auto threshold = std::get<0>(gradient.kthvalue(kept, 1, true));
  const auto keep = (gradient <= threshold).to(torch::kFloat64);
  const auto mean_response = (response * keep).sum(1) / keep.sum(1);
  return (mean_response * (std::sqrt(M_PI / 2.0) / 6.0)).mean().item<double>();
}

}  // namespace strata::eval
