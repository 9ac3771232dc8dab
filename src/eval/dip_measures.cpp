#include "strata/eval/dip_measures.hpp"

#include <torch/torch.h>

#include <cmath>
#include <numeric>

#include "strata/core/error.hpp"
#include "strata/image/color.hpp"

#ifdef STRATA_HAVE_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "../core/kernel_support.hpp"
#include "cuda/stop_measures.hpp"
#endif

namespace strata::eval {

namespace {

namespace F = torch::nn::functional;

void check_image(const torch::Tensor& x, const char* what) {
  check(x.defined() && x.dim() == 3 && (x.size(0) == 1 || x.size(0) == 3), "",
        std::string(what) + ": expected a 1×H×W or 3×H×W image");
}

// Sum of |x[i] − x[i−1]| along `dim`, dropping one pixel at each end of the difference.
torch::Tensor neighbour_differences(const torch::Tensor& x, std::int64_t dim) {
  const auto n = x.size(dim);
  const auto d = (x.narrow(dim, 1, n - 1) - x.narrow(dim, 0, n - 1)).abs();
  return d.narrow(dim, 1, d.size(dim) - 2);
}

// Crété-Roffet for one direction: b = (ΣD_F − Σmax(0, D_F − D_B)) / ΣD_F (0-dim, no host sync).
torch::Tensor blur_along(const torch::Tensor& gray, std::int64_t dim) {
  const std::vector<std::int64_t> kernel =
      dim == 0 ? std::vector<std::int64_t>{9, 1} : std::vector<std::int64_t>{1, 9};
  const auto box = torch::ones({1, 1, kernel[0], kernel[1]}, gray.options()) / 9.0;
  const auto padding = std::vector<std::int64_t>{kernel[0] / 2, kernel[1] / 2};
  const auto blurred =
      F::conv2d(gray.view({1, 1, gray.size(0), gray.size(1)}), box,
                F::Conv2dFuncOptions().padding(padding))[0][0];  // zero border, 'same'
  const auto crop = [](const torch::Tensor& t) {
    return t.narrow(0, 4, t.size(0) - 8).narrow(1, 4, t.size(1) - 8);
  };
  const auto d_f = neighbour_differences(crop(gray), dim);
  const auto d_b = neighbour_differences(crop(blurred), dim);
  const auto s_f = d_f.sum();
  const auto s_v = (d_f - d_b).clamp_min(0.0).sum();
  // A flat image has nothing left to blur: 1.
  const auto flat = s_f <= 0.0;
  return torch::where(flat, torch::ones_like(s_f), (s_f - s_v) / torch::where(flat, 1.0, s_f));
}

torch::Tensor blur_effect_tensor(const torch::Tensor& image) {
  const auto gray = dip_gray(image);
  check(gray.size(0) >= 12 && gray.size(1) >= 12, "", "blur_effect: image smaller than 12×12");
  return torch::maximum(blur_along(gray, 0), blur_along(gray, 1));
}

torch::Tensor mlv_sharpness_tensor(const torch::Tensor& image) {
  const auto g = dip_gray(image);
  const std::int64_t h = g.size(0), w = g.size(1);
  check(h >= 3 && w >= 3, "", "mlv_sharpness: image smaller than 3×3");
  const auto centre = g.narrow(0, 1, h - 2).narrow(1, 1, w - 2);
  // Signed local variation max(neighbour − centre), as the authors' code (the stop rule's ε was
  // calibrated with it); 0 is the floor since the centre is not its own neighbour.
  torch::Tensor mlv = torch::zeros_like(centre);
  for (int dy = -1; dy <= 1; ++dy)
    for (int dx = -1; dx <= 1; ++dx)
      if (dy != 0 || dx != 0)
        mlv = torch::maximum(mlv, g.narrow(0, 1 + dy, h - 2).narrow(1, 1 + dx, w - 2) - centre);
  // Descending ranks 2 .. 1000 (the code skips the two largest), weighted by exp(−0.01·rank).
  const auto n = std::min<std::int64_t>(1001, mlv.numel());
  if (n <= 2) return torch::zeros({}, g.options());
  const auto largest = std::get<0>(mlv.flatten().topk(n)).narrow(0, 2, n - 2);
  const auto weights = torch::exp(-0.01 * (torch::arange(n - 2, largest.options()) + 2.0));
  return torch::sqrt((largest * weights).square().mean());
}

// {blur effect, MLV sharpness, ratio} (float64, on the image's device) from strata's CUDA kernels:
// a pixel kernel, CUB's radix sort and one block for the sums instead of about a hundred LibTorch
// ops; undefined where they don't apply (then the LibTorch ops above, the definition, run).
torch::Tensor kernel_measures(const torch::Tensor& image) {
#ifdef STRATA_HAVE_CUDA_KERNELS
  if (!image.is_cuda() || image.dim() != 3 || (image.size(0) != 1 && image.size(0) != 3) ||
      !cuda::stop_measures_supported(image.size(1), image.size(2)))
    return {};
  const auto x = image.to(torch::kFloat32).contiguous();
  const c10::cuda::CUDAGuard guard(x.device());
  const int h = static_cast<int>(x.size(1)), w = static_cast<int>(x.size(2));
  const auto scratch = torch::empty({static_cast<std::int64_t>(cuda::stop_measures_scratch(h, w))},
                                    x.options().dtype(torch::kUInt8));
  auto out = torch::empty({3}, x.options().dtype(torch::kFloat64));
  const char* error = cuda::stop_measures(x.data_ptr<float>(), static_cast<int>(x.size(0)), h, w,
                                          scratch.data_ptr(), out.data_ptr<double>(),
                                          c10::cuda::getCurrentCUDAStream().stream());
  check_launch(error, "stop measures");
  return out;
#else
  (void)image;
  return {};
#endif
}

}  // namespace

torch::Tensor dip_gray(const torch::Tensor& image) {
  check_image(image, "dip_gray");
  // float64 on the CPU; float32 on CUDA, where float64 convolutions are slow (the measures run
  // every iteration of a restoration).
  const auto x = image.to(image.is_cuda() ? torch::kFloat32 : torch::kFloat64);
  if (x.size(0) == 1) return x[0];
  return image::rgb_to_gray(x, image::LumaWeights::Matlab)[0].clamp(0.0, 1.0);
}

std::vector<double> frequency_band_correspondence(const torch::Tensor& output,
                                                  const torch::Tensor& target, int bands) {
  check(bands >= 1, "", "frequency_band_correspondence: bands must be >= 1");
  check(output.sizes() == target.sizes(), "", "frequency_band_correspondence: sizes differ");
  const auto spectrum = [](const torch::Tensor& img) {
    return torch::fft::fftshift(torch::fft::fft2(dip_gray(img))).abs();
  };
  const auto ratio = (spectrum(output) / (spectrum(target) + 1e-8)).clamp(0.0, 1.0);
  const std::int64_t h = ratio.size(0), w = ratio.size(1);
  const auto coords = ratio.options().dtype(torch::kFloat64);
  const auto yy = torch::arange(h, coords).view({-1, 1}) - static_cast<double>(h / 2);
  const auto xx = torch::arange(w, coords).view({1, -1}) - static_cast<double>(w / 2);
  const auto dist = torch::sqrt(yy.square() + xx.square());
  const double radius = static_cast<double>(w / 2);
  std::vector<double> out;
  for (int k = 1; k <= bands; ++k) {
    const double lo = radius * (k - 1) / bands, hi = radius * k / bands;
    const auto in_band = k == 1 ? dist.le(hi) : dist.gt(lo).logical_and(dist.le(hi));
    const auto count = in_band.sum().item<double>();
    out.push_back(count > 0 ? ratio.masked_select(in_band).mean().item<double>() : 0.0);
  }
  return out;
}

double blur_effect(const torch::Tensor& image) {
  const auto measures = kernel_measures(image);
  return (measures.defined() ? measures[0] : blur_effect_tensor(image)).item<double>();
}

double mlv_sharpness(const torch::Tensor& image) {
  const auto measures = kernel_measures(image);
  return (measures.defined() ? measures[1] : mlv_sharpness_tensor(image)).item<double>();
}

torch::Tensor stop_ratio(const torch::Tensor& image) {
  if (auto measures = kernel_measures(image); measures.defined()) return measures[2];
  return (blur_effect_tensor(image) / mlv_sharpness_tensor(image).clamp_min(1e-12))
      .to(torch::kFloat64);
}

AutoStop::AutoStop(std::size_t window, double epsilon) : window_(window), epsilon_(epsilon) {
  check(window >= 1 && epsilon > 0.0, "", "AutoStop: window >= 1 and epsilon > 0");
}

bool AutoStop::push(double ratio) {
  ratios_.push_back(ratio);
  const std::size_t i = ratios_.size();
  if (stop_ || i < 2 * window_) return stop_;
  const auto mean = [this](std::size_t from) {
    return std::accumulate(ratios_.begin() + static_cast<std::ptrdiff_t>(from),
                           ratios_.begin() + static_cast<std::ptrdiff_t>(from + window_), 0.0) /
           static_cast<double>(window_);
  };
  stop_ = std::abs(mean(i - 2 * window_) - mean(i - window_)) < epsilon_;  // Eq. 2.8
  return stop_;
}

}  // namespace strata::eval
