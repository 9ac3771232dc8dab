// Tests of the linear filters (box, Gaussian, unsharp mask) and the guided-filter family: direct
// float64 sums, OpenCV (cv::boxFilter, cv::GaussianBlur, cv::ximgproc::guidedFilter) where the
// border semantics agree, the papers' identities and properties, CPU vs CUDA, parameter errors.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/filter/box.hpp"
#include "strata/filter/common.hpp"
#include "strata/filter/edges.hpp"
#include "strata/filter/guided.hpp"
#include "strata/image/tensor.hpp"
#include "testing.hpp"

#ifdef STRATA_HAVE_OPENCV
#include <opencv2/imgproc.hpp>
#include <opencv2/ximgproc.hpp>

#include "opencv_bridge.hpp"
#endif

namespace strata::filter {
namespace {

namespace F = torch::nn::functional;
using testing::max_abs_diff;

// ---- helpers -------------------------------------------------------------------------------

torch::Tensor random_image(const std::vector<std::int64_t>& shape, std::uint64_t seed = 42) {
  torch::manual_seed(seed);
  return torch::rand(shape);
}

/// A C×H×W image in [0,1]: smooth colour variation, a vertical step edge and mild noise.
torch::Tensor synthetic_image(std::int64_t c, std::int64_t h, std::int64_t w,
                              std::uint64_t seed = 7) {
  torch::manual_seed(seed);
  const auto coarse = torch::rand({1, c, h / 8 + 1, w / 8 + 1});
  auto smooth = F::interpolate(coarse, F::InterpolateFuncOptions()
                                           .size(std::vector<std::int64_t>{h, w})
                                           .mode(torch::kBilinear)
                                           .align_corners(false))[0];
  smooth.narrow(2, w / 2, w - w / 2).add_(0.5);
  return (smooth / 1.5 + 0.03 * torch::randn({c, h, w})).clamp_(0, 1);
}

/// The pixels at least `margin` away from every border (last two dims).
torch::Tensor interior(const torch::Tensor& t, std::int64_t margin) {
  return t.narrow(-2, margin, t.size(-2) - 2 * margin).narrow(-1, margin, t.size(-1) - 2 * margin);
}

/// Border-clipped window mean by direct summation of shifted copies, in float64.
torch::Tensor direct_box(const torch::Tensor& x, std::int64_t r) {
  const auto xd = x.to(torch::kFloat64);
  const std::int64_t h = xd.size(-2), w = xd.size(-1);
  auto sum = torch::zeros_like(xd);
  auto count = torch::zeros({h, w}, torch::kFloat64);
  for (std::int64_t dy = -r; dy <= r; ++dy)
    for (std::int64_t dx = -r; dx <= r; ++dx) {
      const std::int64_t i0 = std::max<std::int64_t>(0, -dy), i1 = std::min(h, h - dy);
      const std::int64_t j0 = std::max<std::int64_t>(0, -dx), j1 = std::min(w, w - dx);
      if (i0 >= i1 || j0 >= j1) continue;
      sum.narrow(-2, i0, i1 - i0).narrow(-1, j0, j1 - j0) +=
          xd.narrow(-2, i0 + dy, i1 - i0).narrow(-1, j0 + dx, j1 - j0);
      count.narrow(0, i0, i1 - i0).narrow(1, j0, j1 - j0) += 1.0;
    }
  return sum / count;
}

/// box_filter through the generic tensor-op path (the one CUDA and autograd use).
torch::Tensor box_generic(const torch::Tensor& x, int r) {
  return box_filter(x.detach().clone().requires_grad_(true), r).detach();
}

double psnr(const torch::Tensor& a, const torch::Tensor& b) {
  const double mse = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).square().mean().item<double>();
  return 10.0 * std::log10(1.0 / mse);
}

/// A C×H×W crop of a BSDS500 test image, or an undefined tensor when the data is absent.
torch::Tensor bsds_image() {
  const std::string path = testing::data_path("bsds500/images/test/100007.jpg");
  if (!testing::exists(path)) return {};
  image::ReadOptions options;
  options.mode = image::ChannelMode::Rgb;
  return image::read_image(path, options);
}

/// Sum of squared horizontal differences in the columns [e - band, e + band) (edge energy).
double edge_energy(const torch::Tensor& x, std::int64_t e, std::int64_t band) {
  const auto cols = x.narrow(-1, e - band, 2 * band + 1).to(torch::kFloat64);
  const auto d = cols.narrow(-1, 1, 2 * band) - cols.narrow(-1, 0, 2 * band);
  return d.square().sum().item<double>();
}

// ---- box filter ------------------------------------------------------------------------------

TEST(BoxFilter, MatchesDirectSumEverywhere) {
  const std::vector<std::vector<std::int64_t>> shapes = {
      {1, 3, 23, 31}, {2, 1, 17, 9}, {1, 1, 1, 6}, {1, 2, 5, 1}};
  for (const auto& shape : shapes)
    for (const int r : {1, 2, 5, 8, 12})
      for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
        const auto x = random_image(shape).to(dtype);
        const auto ref = direct_box(x, r);
        const double tol = dtype == torch::kFloat32 ? 1e-6 : 1e-12;
        const auto y = box_filter(x, r);
        EXPECT_EQ(y.scalar_type(), dtype);
        EXPECT_LT(max_abs_diff(y, ref), tol) << "cpu kernel r=" << r << " " << dtype;
        EXPECT_LT(max_abs_diff(box_generic(x, r), ref), tol) << "generic r=" << r << " " << dtype;
      }
}

TEST(BoxFilter, RadiusBeyondImageGivesWholeImageMean) {
  const auto x = random_image({2, 7, 5}, 3);
  const auto whole = x.mean({1, 2}, true).expand_as(x);
  for (const int r : {6, 100, 1 << 30}) {
    EXPECT_LT(max_abs_diff(box_filter(x, r), whole), 1e-6) << r;
    EXPECT_LT(max_abs_diff(box_generic(x, r), whole), 1e-6) << r;
  }
  // Only one dim exceeded: full columns, clipped rows.
  const auto tall = random_image({1, 40, 3}, 4);
  EXPECT_LT(max_abs_diff(box_filter(tall, 10), direct_box(tall, 10)), 1e-6);
}

TEST(BoxFilter, ZeroRadiusReturnsACopy) {
  const auto x = random_image({3, 8, 9});
  const auto y = box_filter(x, 0);
  EXPECT_TRUE(torch::equal(x, y));
  EXPECT_NE(x.data_ptr(), y.data_ptr());
}

TEST(BoxFilter, KeepsLayoutAndDtype) {
  const auto x = random_image({3, 10, 12}).to(torch::kFloat16);
  const auto y = box_filter(x, 2);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_EQ(y.scalar_type(), torch::kFloat16);
  EXPECT_LT(max_abs_diff(y, direct_box(x, 2)), 1e-3);
}

// 3840×2160, values in [0,1]: both paths within 1e-5 of a float64 direct sum on 10k random
// pixels (the sums are computed for those pixels only, so the test stays fast). Measured max
// errors: CPU kernel 3e-8, tensor-op path 1.7e-7 (r = 1, 8, 64).
TEST(BoxFilter, PrecisionOn4K) {
  const std::int64_t h = 2160, w = 3840, samples = 10000;
  const auto x = random_image({1, 1, h, w}, 11);
  const auto ys = torch::randint(h, {samples}, torch::kLong);
  const auto xs = torch::randint(w, {samples}, torch::kLong);
  const float* px = x.data_ptr<float>();
  for (const int r : {1, 8, 64}) {
    std::vector<double> ref(static_cast<std::size_t>(samples));
    for (std::int64_t s = 0; s < samples; ++s) {
      const std::int64_t i = ys[s].item<std::int64_t>(), j = xs[s].item<std::int64_t>();
      const std::int64_t i0 = std::max<std::int64_t>(0, i - r), i1 = std::min(h - 1, i + r);
      const std::int64_t j0 = std::max<std::int64_t>(0, j - r), j1 = std::min(w - 1, j + r);
      double sum = 0.0;
      for (std::int64_t u = i0; u <= i1; ++u)
        for (std::int64_t v = j0; v <= j1; ++v) sum += px[u * w + v];
      ref[static_cast<std::size_t>(s)] = sum / static_cast<double>((i1 - i0 + 1) * (j1 - j0 + 1));
    }
    const auto expected = torch::tensor(ref, torch::kFloat64);
    for (const bool generic : {false, true}) {
      const auto y = (generic ? box_generic(x, r) : box_filter(x, r))[0][0];
      const auto picked = y.index({ys, xs});
      EXPECT_LE(max_abs_diff(picked, expected), 1e-5) << "r=" << r << " generic=" << generic;
    }
  }
}

TEST(BoxFilter, GenericPathIsDifferentiable) {
  // box is linear, so d(Σ w ⊙ box(x))/dx_i equals the response to a unit impulse at i.
  const auto x = random_image({1, 1, 6, 7}).to(torch::kFloat64).requires_grad_(true);
  const auto weights = random_image({1, 1, 6, 7}, 5).to(torch::kFloat64);
  (box_filter(x, 2) * weights).sum().backward();
  auto expected = torch::zeros_like(weights);
  for (std::int64_t i = 0; i < 6; ++i)
    for (std::int64_t j = 0; j < 7; ++j) {
      auto impulse = torch::zeros_like(weights);
      impulse[0][0][i][j] = 1.0;
      expected[0][0][i][j] = (direct_box(impulse, 2) * weights).sum();
    }
  EXPECT_LT(max_abs_diff(x.grad(), expected), 1e-12);
}

#ifdef STRATA_HAVE_OPENCV
TEST(BoxFilter, MatchesOpenCVInterior) {
  // cv::boxFilter pads (BORDER_REFLECT_101) where we clip, so only windows inside the image agree.
  const auto x = random_image({3, 64, 80});
  for (const int r : {3, 7}) {
    cv::Mat out;
    cv::boxFilter(testing::to_mat(x), out, -1, cv::Size(2 * r + 1, 2 * r + 1), cv::Point(-1, -1),
                  true);
    EXPECT_LT(max_abs_diff(interior(box_filter(x, r), r), interior(testing::from_mat(out), r)),
              1e-6)
        << r;
  }
}
#endif

// ---- Gaussian and unsharp mask ---------------------------------------------------------------

#ifdef STRATA_HAVE_OPENCV
TEST(GaussianBlur, MatchesOpenCVReflect101) {
  // Includes images smaller than the kernel radius (reflection folds more than once).
  for (const auto& shape :
       std::vector<std::vector<std::int64_t>>{{3, 41, 57}, {1, 5, 6}, {2, 1, 9}})
    for (const double sigma : {0.8, 2.0, 3.5}) {
      const auto x = random_image(shape, 9);
      const int k = 2 * static_cast<int>(std::ceil(3.0 * sigma)) + 1;
      cv::Mat out;
      cv::GaussianBlur(testing::to_mat(x), out, cv::Size(k, k), sigma, sigma,
                       cv::BORDER_REFLECT_101);
      auto expected = testing::from_mat(out);
      if (expected.dim() == 2) expected = expected.unsqueeze(0);
      EXPECT_LT(max_abs_diff(gaussian_blur(x, sigma), expected), 1e-5)
          << shape[1] << "x" << shape[2] << " sigma " << sigma;
    }
  // An explicit radius replaces ceil(3σ).
  const auto x = random_image({3, 20, 30}, 10);
  cv::Mat out;
  cv::GaussianBlur(testing::to_mat(x), out, cv::Size(5, 5), 2.0, 2.0, cv::BORDER_REFLECT_101);
  EXPECT_LT(max_abs_diff(gaussian_blur(x, 2.0, 2), testing::from_mat(out)), 1e-5);
}
#endif

// The one-pass CPU kernel (no gradient needed) against the tensor-op path (taken when the input
// needs a gradient), in float64, on images smaller than the radius (borders fold several times),
// single rows and columns, and a batch; the edge code's triangle blur covers the symmetric border.
TEST(GaussianBlur, CpuKernelMatchesTensorOps) {
  for (const auto& shape : std::vector<std::vector<std::int64_t>>{
           {2, 3, 17, 23}, {1, 1, 1, 9}, {1, 2, 7, 1}, {1, 1, 3, 4}, {4, 5, 6}})
    for (const double sigma : {0.6, 2.0, 4.0}) {
      const auto x = random_image(shape, 21).to(torch::kFloat64);
      const auto kernel = gaussian_blur(x, sigma);
      const auto ops = gaussian_blur(x.clone().requires_grad_(true), sigma).detach();
      EXPECT_LT(max_abs_diff(kernel, ops), 1e-12) << x.sizes() << " sigma " << sigma;
      EXPECT_LT(max_abs_diff(triangle_blur(x, sigma),
                             triangle_blur(x.clone().requires_grad_(true), sigma).detach()),
                1e-12)
          << x.sizes() << " triangle r " << sigma;
    }
}

TEST(UnsharpMask, ImpulseByHand) {
  // σ = 0.5 → radius 2, taps w_k ∝ exp(-2k²); blur of a centred impulse is w_dy·w_dx.
  const double w0 = 1.0, w1 = std::exp(-2.0), w2 = std::exp(-8.0);
  const double total = w0 + 2 * w1 + 2 * w2;
  const double t0 = w0 / total, t1 = w1 / total;
  auto x = torch::zeros({1, 9, 9}, torch::kFloat64);
  x[0][4][4] = 1.0;
  const double amount = 1.5;
  const auto y = unsharp_mask(x, 0.5, amount);
  EXPECT_NEAR(y[0][4][4].item<double>(), 1.0 + amount * (1.0 - t0 * t0), 1e-12);
  EXPECT_NEAR(y[0][4][5].item<double>(), -amount * t0 * t1, 1e-12);
  EXPECT_NEAR(y[0][3][5].item<double>(), -amount * t1 * t1, 1e-12);
  const auto flat = torch::full({3, 12, 10}, 0.25);
  EXPECT_LT(max_abs_diff(unsharp_mask(flat, 1.2, 3.0), flat), 1e-6);
}

// ---- guided filter ---------------------------------------------------------------------------

#ifdef STRATA_HAVE_OPENCV
// cv::ximgproc::guidedFilter averages with boxFilter over BORDER_REFLECT_101 padding while we clip
// the windows (as He et al.'s MATLAB); a and b agree wherever their windows are inside the image,
// and the output wherever the windows of those a, b are: pixels more than 2r from the borders.
// OpenCV's colour guide sets det(Σ + eps·U) to 1 where it is < 1e-6 when eps < 0.01 (a guard in
// its ComputeCovGuideInv), which departs from He et al. in flat regions, so the colour case is
// compared at eps >= 0.01 only (the exact model is checked against a per-pixel solve below).
// Measured max differences (float32): gray guide 9.5e-6 (OpenCV's own rounding: on random images
// it is 1.3e-5 from a float64 evaluation where we are 2e-7), colour guide 1.8e-7; asserted 3e-5
// and 2e-6.
TEST(GuidedFilter, MatchesOpenCVInterior) {
  const auto p = synthetic_image(3, 72, 96);
  const auto gray = synthetic_image(1, 72, 96, 9);
  const auto colour = synthetic_image(3, 72, 96, 8);
  const auto compare = [&p](const torch::Tensor& guide, int r, double eps, double tol) {
    cv::Mat out;
    cv::ximgproc::guidedFilter(testing::to_mat(guide), testing::to_mat(p), out, r, eps);
    const double diff = max_abs_diff(interior(guided_filter(p, guide, r, eps), 2 * r),
                                     interior(testing::from_mat(out), 2 * r));
    EXPECT_LT(diff, tol) << "guide channels " << guide.size(0) << " r=" << r << " eps=" << eps;
  };
  for (const int r : {2, 5}) {
    for (const double eps : {1e-2, 1e-3}) compare(gray, r, eps, 3e-5);
    for (const double eps : {1e-2, 4e-2}) compare(colour, r, eps, 2e-6);
  }
}
#endif

/// He et al.'s colour-guide model evaluated independently: direct float64 window sums and a
/// batched 3×3 linear solve per pixel (torch::linalg_solve).
torch::Tensor colour_reference(const torch::Tensor& p, const torch::Tensor& g, int r, double eps) {
  const auto pd = p.to(torch::kFloat64), gd = g.to(torch::kFloat64);
  const std::int64_t c = p.size(0), h = p.size(1), w = p.size(2);
  const auto mg = direct_box(gd, r), mp = direct_box(pd, r);
  auto sigma = torch::empty({h, w, 3, 3}, torch::kFloat64);
  auto cov = torch::empty({h, w, 3, c}, torch::kFloat64);
  for (std::int64_t i = 0; i < 3; ++i) {
    for (std::int64_t j = 0; j < 3; ++j)
      sigma.select(3, j).select(2, i).copy_(direct_box(gd[i] * gd[j], r) - mg[i] * mg[j] +
                                            (i == j ? eps : 0.0));
    for (std::int64_t k = 0; k < c; ++k)
      cov.select(3, k).select(2, i).copy_(direct_box(gd[i] * pd[k], r) - mg[i] * mp[k]);
  }
  const auto a = torch::linalg_solve(sigma, cov).permute({2, 3, 0, 1});  // 3×C×H×W
  const auto b = mp - (a * mg.unsqueeze(1)).sum(0);
  const auto mean_a = direct_box(a.reshape({3 * c, h, w}), r).view({3, c, h, w});
  return (mean_a * gd.unsqueeze(1)).sum(0) + direct_box(b, r);
}

TEST(GuidedFilter, ColourGuideMatchesPerPixelSolve) {
  // Smooth images with mild noise, so Σ is small and nearly singular in flat regions; also
  // self-guided. Measured float32 error 1.1e-6 at eps = 1e-4.
  const auto p = synthetic_image(3, 30, 37);
  const auto g = synthetic_image(3, 30, 37, 8);
  for (const double eps : {1e-2, 1e-3, 1e-4}) {
    for (const auto& guide : {g, p}) {
      const auto ref = colour_reference(p, guide, 3, eps);
      EXPECT_LT(max_abs_diff(
                    guided_filter(p.to(torch::kFloat64), guide.to(torch::kFloat64), 3, eps), ref),
                1e-10)
          << eps;
      EXPECT_LT(max_abs_diff(guided_filter(p, guide, 3, eps), ref), 5e-6) << eps;
    }
  }
}

TEST(GuidedFilter, SelfGuidedConstantStaysConstant) {
  const auto flat = torch::full({3, 20, 24}, 0.3);
  EXPECT_LT(max_abs_diff(guided_filter(flat, flat, 4, 1e-3), flat), 1e-6);
  EXPECT_LT(max_abs_diff(guided_filter(flat, flat.narrow(0, 0, 1), 4, 1e-3), flat), 1e-6);
}

TEST(GuidedFilter, PreservesAStepEdge) {
  auto step = torch::zeros({1, 32, 40});
  step.narrow(2, 20, 20).fill_(1.0);
  const auto q = guided_filter(step, step, 4, 1e-3);
  EXPECT_LT(max_abs_diff(q, step), 0.02);
  EXPECT_GT(max_abs_diff(box_filter(step, 4), step), 0.4);  // the box mean does blur it
}

TEST(GuidedFilter, IdenticalColourChannelsEqualGrayWithEpsOverThree) {
  // With I_k = G for k = 1..3: Σ = σ²·11ᵀ, cov = c·1, and by Sherman-Morrison
  // (σ²·11ᵀ + eps·U)⁻¹ c·1 = c / (3σ² + eps) · 1, so q = 3ā·G + b̄ with 3a = c / (σ² + eps/3):
  // the gray-guide filter with eps / 3.
  const auto p = synthetic_image(2, 30, 36).to(torch::kFloat64);
  const auto g = synthetic_image(1, 30, 36, 9).to(torch::kFloat64);
  const auto g3 = g.expand({3, 30, 36}).contiguous();
  for (const double eps : {1e-2, 1e-4})
    EXPECT_LT(max_abs_diff(guided_filter(p, g3, 3, eps), guided_filter(p, g, 3, eps / 3.0)), 1e-9)
        << eps;
}

TEST(GuidedFilter, BatchAndLayout) {
  const auto p = synthetic_image(3, 20, 22);
  const auto g = synthetic_image(3, 20, 22, 8);
  const auto batch = guided_filter(torch::stack({p, g}), torch::stack({g, p}), 3, 1e-2);
  EXPECT_EQ(batch.sizes(), (std::vector<std::int64_t>{2, 3, 20, 22}));
  EXPECT_LT(max_abs_diff(batch[1], guided_filter(g, p, 3, 1e-2)), 1e-6);
  const auto f64 = guided_filter(p.to(torch::kFloat64), g, 3, 1e-2);
  EXPECT_EQ(f64.scalar_type(), torch::kFloat64);
  EXPECT_LT(max_abs_diff(f64, batch[0]), 1e-5);
}

TEST(GuidedFilter, Differentiable) {
  const auto p = synthetic_image(3, 12, 14).requires_grad_(true);
  const auto g = synthetic_image(3, 12, 14, 8).requires_grad_(true);
  guided_filter(p, g, 2, 1e-2).sum().backward();
  ASSERT_TRUE(p.grad().defined() && g.grad().defined());
  EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(g.grad()).all().item<bool>());
  // d/dg of a float64 filter against a central difference at one pixel.
  const auto pd = p.detach().to(torch::kFloat64), gd = g.detach().to(torch::kFloat64);
  const auto gv = gd.clone().requires_grad_(true);
  const auto weights = random_image({3, 12, 14}, 6).to(torch::kFloat64);
  (guided_filter(pd, gv, 2, 1e-2) * weights).sum().backward();
  const double h = 1e-6;
  auto plus = gd.clone(), minus = gd.clone();
  plus[1][5][6] += h;
  minus[1][5][6] -= h;
  const double numeric =
      ((guided_filter(pd, plus, 2, 1e-2) - guided_filter(pd, minus, 2, 1e-2)) * weights)
          .sum()
          .item<double>() /
      (2 * h);
  EXPECT_NEAR(gv.grad()[1][5][6].item<double>(), numeric, 1e-6 * std::max(1.0, std::abs(numeric)));
  // The filter is linear in p, so the gradient of Σq is the adjoint applied to ones; its total is
  // Σ_i q_i(1) where q(1) = filter of an all-ones input (which is 1 everywhere).
  EXPECT_NEAR(p.grad().sum().item<double>(), static_cast<double>(p.numel()), 1e-2);
}

// ---- fast guided filter ----------------------------------------------------------------------

TEST(FastGuidedFilter, SubsampleOneEqualsGuided) {
  const auto p = synthetic_image(3, 40, 52);
  for (const auto& g : {synthetic_image(1, 40, 52), synthetic_image(3, 40, 52, 8)})
    EXPECT_LT(max_abs_diff(fast_guided_filter(p, g, 4, 1e-2, 1), guided_filter(p, g, 4, 1e-2)),
              1e-6);
}

TEST(FastGuidedFilter, CloseToGuided) {
  // Measured on this 256×320 image, r = 8, eps = 0.01: PSNR vs the full filter is 45.5 dB (gray
  // guide) / 50.0 dB (colour) at s = 2 and 39.0 / 43.8 dB at s = 4; asserted ~2 dB lower.
  const auto p = synthetic_image(3, 256, 320);
  const auto g1 = p.mean(0, true);
  for (const auto& g : {g1, p}) {
    const auto full = guided_filter(p, g, 8, 1e-2);
    const double bound2 = g.size(0) == 1 ? 43.5 : 48.0, bound4 = g.size(0) == 1 ? 37.0 : 41.5;
    EXPECT_GT(psnr(fast_guided_filter(p, g, 8, 1e-2, 2), full), bound2) << g.size(0);
    EXPECT_GT(psnr(fast_guided_filter(p, g, 8, 1e-2, 4), full), bound4) << g.size(0);
  }
}

// ---- weighted guided filter ------------------------------------------------------------------

TEST(WeightedGuidedFilter, ConstantUnchanged) {
  const auto flat = torch::full({3, 18, 21}, 0.6);
  EXPECT_LT(max_abs_diff(weighted_guided_filter(flat, flat, 4, 1e-2), flat), 1e-6);
  EXPECT_LT(max_abs_diff(weighted_guided_filter(flat, flat.narrow(0, 0, 1), 4, 1e-2), flat), 1e-6);
}

TEST(WeightedGuidedFilter, PreservesEdgesBetterThanGuided) {
  // A step of height 0.2 plus noise (σ = 0.02), self-guided, λ = eps = 0.01 (comparable to the
  // step's window variance, so the guided filter blurs it). The edge energy (squared horizontal
  // differences across the step) relative to the clean step: measured GF 0.26, WGF 0.38.
  torch::manual_seed(3);
  auto clean = torch::full({1, 64, 64}, 0.4);
  clean.narrow(2, 32, 32).fill_(0.6);
  const auto noisy = clean + 0.02 * torch::randn({1, 64, 64});
  const double reference = edge_energy(clean, 32, 6);
  const double gf = edge_energy(guided_filter(noisy, noisy, 5, 1e-2), 32, 6) / reference;
  const double wgf = edge_energy(weighted_guided_filter(noisy, noisy, 5, 1e-2), 32, 6) / reference;
  EXPECT_GT(wgf, 1.25 * gf) << "gf " << gf << " wgf " << wgf;
  // Both still smooth the flat parts.
  EXPECT_LT(interior(weighted_guided_filter(noisy, noisy, 5, 1e-2), 8)
                .narrow(2, 0, 10)
                .std()
                .item<double>(),
            0.01);
}

// ---- fused CPU kernel (guided_cpu.cpp) against the LibTorch-op path -----------------------------

/// A filter through the LibTorch-op path: an input that requires grad keeps it off the fused CPU
/// kernel (which needs no gradient).
template <class Filter>
torch::Tensor op_path(const Filter& filter, const torch::Tensor& p, const torch::Tensor& g) {
  return filter(p.detach().clone().requires_grad_(true), g).detach();
}

/// Runs the body with `n` LibTorch threads, restoring the previous count.
template <class Body>
void with_threads(int n, const Body& body) {
  const int before = torch::get_num_threads();
  torch::set_num_threads(n);
  body();
  torch::set_num_threads(before);
}

/// Max |fused − op path| of guided_filter (weighted = false) or weighted_guided_filter over
/// N = 2 images 130×41, input channels 1, 3, 4, radii 1, 4, 20 and 200 (beyond the image).
/// With 3 threads the 260 rows split into 3 ranges, one ending inside image 0 and one spanning
/// both images, so the per-range restarts are exercised too.
double max_fused_difference(std::int64_t guide_channels, torch::ScalarType dtype, bool weighted,
                            double eps) {
  const auto guide = torch::stack({synthetic_image(guide_channels, 130, 41, 8),
                                   synthetic_image(guide_channels, 130, 41, 9)})
                         .to(dtype);
  double worst = 0.0;
  with_threads(3, [&] {
    for (const std::int64_t c : {1, 3, 4}) {
      const auto p = random_image({2, c, 130, 41}, static_cast<std::uint64_t>(c)).to(dtype);
      for (const int r : {1, 4, 20, 200}) {
        const auto filter = [r, eps, weighted](const torch::Tensor& x, const torch::Tensor& g) {
          return weighted ? weighted_guided_filter(x, g, r, eps) : guided_filter(x, g, r, eps);
        };
        const auto fused = filter(p, guide);
        EXPECT_EQ(fused.sizes(), p.sizes());
        EXPECT_EQ(fused.scalar_type(), dtype);
        const double diff = max_abs_diff(fused, op_path(filter, p, guide));
        EXPECT_TRUE(std::isfinite(diff)) << "c " << c << " r " << r;
        worst = std::max(worst, diff);
      }
    }
  });
  return worst;
}

// Measured max |fused − op path|: float32 4.2e-7 (gray guide) / 7.2e-7 (colour) at eps 1e-2,
// 1.4e-5 / 3.1e-5 at eps 1e-4; float64 below 1e-13. At eps 1e-4 the float32 op path is the less
// accurate one (its float32 window statistics lose digits against σ² + eps ~ 1e-4; the kernel
// keeps them in float64), checked below against the float64 result.
TEST(GuidedFilter, CpuKernelMatchesOpPath) {
  for (const std::int64_t k : {1, 3}) {
    for (const double eps : {1e-2, 1e-4}) {
      const double f32 = max_fused_difference(k, torch::kFloat32, false, eps);
      const double f64 = max_fused_difference(k, torch::kFloat64, false, eps);
      EXPECT_LT(f32, eps < 1e-3 ? 6e-5 : 2e-6) << "guide channels " << k << " eps " << eps;
      EXPECT_LT(f64, 1e-12) << "guide channels " << k << " eps " << eps;
    }
  }
}

TEST(GuidedFilter, CpuKernelFloat32CloserToFloat64ThanOpPath) {
  const auto p = random_image({2, 3, 64, 48}, 5);
  const auto filter = [](const torch::Tensor& x, const torch::Tensor& g) {
    return guided_filter(x, g, 4, 1e-4);
  };
  for (const std::int64_t k : {1, 3}) {
    const auto g = torch::stack({synthetic_image(k, 64, 48, 8), synthetic_image(k, 64, 48, 9)});
    const auto exact = filter(p.to(torch::kFloat64), g.to(torch::kFloat64));
    const double fused = max_abs_diff(filter(p, g), exact);
    const double ops = max_abs_diff(op_path(filter, p, g), exact);
    EXPECT_LE(fused, ops) << "guide channels " << k;
    EXPECT_LT(fused, 2e-6) << "guide channels " << k;
  }
}

// Measured max |fused − op path| at λ = 1e-2: float32 7.8e-7 (gray guide) / 8.6e-6 (colour; λ/Γ
// falls to ~1e-4 on flat parts); float64 below 1e-13.
TEST(WeightedGuidedFilter, CpuKernelMatchesOpPath) {
  for (const std::int64_t k : {1, 3}) {
    const double f32 = max_fused_difference(k, torch::kFloat32, true, 1e-2);
    const double f64 = max_fused_difference(k, torch::kFloat64, true, 1e-2);
    EXPECT_LT(f32, 2e-5) << "guide channels " << k;
    EXPECT_LT(f64, 1e-12) << "guide channels " << k;
  }
}

TEST(GuidedFilter, CpuKernelHalfInputAndChw) {
  // float16 inputs are computed in float32 (common.hpp) and C×H×W inputs keep their layout.
  const auto p = synthetic_image(3, 33, 29);
  const auto g = synthetic_image(3, 33, 29, 8);
  const auto half = guided_filter(p.to(torch::kFloat16), g, 3, 1e-2);
  EXPECT_EQ(half.scalar_type(), torch::kFloat16);
  EXPECT_EQ(half.sizes(), p.sizes());
  const auto filter = [](const torch::Tensor& x, const torch::Tensor& y) {
    return guided_filter(x, y, 3, 1e-2);
  };
  EXPECT_LT(max_abs_diff(half, op_path(filter, p, g)), 2e-3);
}

// ---- unsharp-mask guided filter --------------------------------------------------------------

/// Thesis Eq. 3.15 written out in float64 from box_filter: q = ā(G − F_L(G)) + F_L(I).
torch::Tensor umgf_reference(const torch::Tensor& p, const torch::Tensor& g, int r, double eps,
                             const UmgfOptions& o) {
  const auto pd = p.to(torch::kFloat64), gd = g.to(torch::kFloat64);
  const auto mg = box_filter(gd, r), mp = box_filter(pd, r);
  const auto var = box_filter(gd * gd, r) - mg * mg;
  const auto cov = box_filter(gd * pd, r) - mg * mp;
  torch::Tensor reg = torch::full({}, eps, torch::kFloat64);
  if (o.amount == AmountFunction::WeightedGuided) {
    const auto m1 = box_filter(gd, 1);
    const auto v1 = (box_filter(gd * gd, 1) - m1 * m1).clamp_min(0) + 1e-6;
    reg = eps / (v1 * (1.0 / v1).mean({-2, -1}, true));
  }
  auto a = cov / (var + reg);
  if (o.smooth_amount) a = box_filter(a, r);
  auto fg = gd, fp = pd;
  for (int i = 0; i < o.lowpass_boxes; ++i) {
    fg = box_filter(fg, r);
    fp = box_filter(fp, r);
  }
  return a * (gd - fg) + fp;
}

TEST(UmgfFilter, ConstantUnchanged) {
  const auto flat = torch::full({3, 16, 19}, 0.45);
  for (const auto amount : {AmountFunction::Guided, AmountFunction::WeightedGuided})
    EXPECT_LT(
        max_abs_diff(unsharp_mask_guided_filter(flat, flat, 3, 1e-2, {amount, 2, true}), flat),
        1e-6);
}

TEST(UmgfFilter, MatchesFloat64Reference) {
  const auto p = synthetic_image(3, 33, 41);
  const auto g3 = synthetic_image(3, 33, 41, 8);
  const auto g1 = g3.mean(0, true);
  for (const auto amount : {AmountFunction::Guided, AmountFunction::WeightedGuided})
    for (const int boxes : {1, 2, 3})
      for (const bool smooth : {false, true}) {
        const UmgfOptions o{amount, boxes, smooth};
        // Per-channel guidance (3 → 3), gray guide (1 → 3), guide luminance (3 → 1).
        EXPECT_LT(max_abs_diff(unsharp_mask_guided_filter(p, g3, 4, 1e-2, o),
                               umgf_reference(p, g3, 4, 1e-2, o)),
                  1e-5);
        EXPECT_LT(max_abs_diff(unsharp_mask_guided_filter(p, g1, 4, 1e-2, o),
                               umgf_reference(p, g1, 4, 1e-2, o)),
                  1e-5);
        const auto p1 = p.narrow(0, 0, 1);
        EXPECT_LT(max_abs_diff(unsharp_mask_guided_filter(p1, g3, 4, 1e-2, o),
                               umgf_reference(p1, g1, 4, 1e-2, o)),
                  1e-5);
      }
}

TEST(UmgfFilter, SelfGuidedSingleBoxFormula) {
  // lowpass_boxes = 1, no smoothing, G = I = p: q = a(p − mean(p)) + mean(p), a = σ²/(σ² + eps)
  // (thesis Eq. 3.5), with the window statistics from direct float64 sums.
  const auto p = synthetic_image(1, 25, 30).to(torch::kFloat64);
  const auto mean = direct_box(p, 3);
  const auto var = direct_box(p * p, 3) - mean * mean;
  const auto a = var / (var + 1e-2);
  const auto expected = a * (p - mean) + mean;
  EXPECT_LT(
      max_abs_diff(unsharp_mask_guided_filter(p, p, 3, 1e-2, {AmountFunction::Guided, 1, false}),
                   expected),
      1e-12);
}

TEST(UmgfFilter, DenoisesBsdsImage) {
  // σ = 25/255 Gaussian noise (seed 0), self-guided UMGF with the guided-filter amount, r = 3,
  // eps = 0.04: measured PSNR 20.2 dB noisy → 27.9 dB filtered; asserted +6 dB.
  const auto clean = bsds_image();
  if (!clean.defined()) GTEST_SKIP() << "BSDS500 data absent";
  torch::manual_seed(0);
  const auto noisy = clean + (25.0 / 255.0) * torch::randn(clean.sizes());
  const auto q = unsharp_mask_guided_filter(noisy, noisy, 3, 4e-2);
  EXPECT_GT(psnr(q, clean), psnr(noisy, clean) + 6.0)
      << "noisy " << psnr(noisy, clean) << " filtered " << psnr(q, clean);
}

// ---- CPU vs CUDA ------------------------------------------------------------------------------

TEST(LinearFiltersCuda, MatchCpu) {
  STRATA_REQUIRE_CUDA();
  const auto p = synthetic_image(3, 61, 77);
  const auto g3 = synthetic_image(3, 61, 77, 8);
  const auto g1 = g3.mean(0, true);
  const auto cuda = [](const torch::Tensor& t) { return t.to(torch::kCUDA); };
  const auto expect_close = [](const torch::Tensor& cpu, const torch::Tensor& gpu,
                               const std::string& what) {
    EXPECT_TRUE(gpu.is_cuda()) << what;
    EXPECT_LT(max_abs_diff(cpu, gpu), 1e-5) << what;
  };
  for (const int r : {1, 8, 20, 100}) expect_close(box_filter(p, r), box_filter(cuda(p), r), "box");
  expect_close(gaussian_blur(p, 2.0), gaussian_blur(cuda(p), 2.0), "gaussian");
  expect_close(unsharp_mask(p, 1.5, 2.0), unsharp_mask(cuda(p), 1.5, 2.0), "unsharp");
  for (const auto& g : {g1, g3}) {
    const auto tag = std::to_string(g.size(0)) + "-channel guide";
    expect_close(guided_filter(p, g, 4, 1e-2), guided_filter(cuda(p), cuda(g), 4, 1e-2),
                 "guided " + tag);
    expect_close(fast_guided_filter(p, g, 8, 1e-2, 4),
                 fast_guided_filter(cuda(p), cuda(g), 8, 1e-2, 4), "fast " + tag);
    expect_close(weighted_guided_filter(p, g, 4, 1e-2),
                 weighted_guided_filter(cuda(p), cuda(g), 4, 1e-2), "weighted " + tag);
    for (const auto amount : {AmountFunction::Guided, AmountFunction::WeightedGuided})
      expect_close(unsharp_mask_guided_filter(p, g, 4, 1e-2, {amount, 2, true}),
                   unsharp_mask_guided_filter(cuda(p), cuda(g), 4, 1e-2, {amount, 2, true}),
                   "umgf " + tag);
  }
}

// The fused CUDA kernels (built when LibTorch has CUDA) on images wider and taller than one
// thread block, in a batch, in float16 and channels-last; gradients still take the tensor path.
TEST(LinearFiltersCuda, FusedKernelsAcrossBlocksDtypesAndLayouts) {
  STRATA_REQUIRE_CUDA();
  const auto p = torch::stack({synthetic_image(3, 250, 700), synthetic_image(3, 250, 700, 9)});
  const auto g3 = torch::stack({synthetic_image(3, 250, 700, 8), synthetic_image(3, 250, 700, 5)});
  const auto g1 = g3.mean(1, true);
  const auto cuda = [](const torch::Tensor& t) { return t.to(torch::kCUDA); };
  const auto half = [](const torch::Tensor& t) { return t.to(torch::kCUDA, torch::kFloat16); };
  const auto last = [](const torch::Tensor& t) {
    return t.to(torch::kCUDA).contiguous(torch::MemoryFormat::ChannelsLast);
  };
  for (const int r : {3, 8, 40}) {
    const auto box = box_filter(p, r);
    const auto tag = "r = " + std::to_string(r);
    EXPECT_LT(max_abs_diff(box, box_filter(cuda(p), r)), 1e-5) << tag;
    const auto box_half = box_filter(half(p), r);
    EXPECT_EQ(box_half.scalar_type(), torch::kFloat16);
    EXPECT_LT(max_abs_diff(box, box_half.to(torch::kFloat32)), 1e-3) << tag;
    EXPECT_LT(max_abs_diff(box, box_filter(last(p), r)), 1e-5) << tag;
    for (const auto& g : {g1, g3}) {
      const auto which = tag + ", " + std::to_string(g.size(1)) + "-channel guide";
      const auto q = guided_filter(p, g, r, 1e-2);
      EXPECT_LT(max_abs_diff(q, guided_filter(cuda(p), cuda(g), r, 1e-2)), 1e-4) << which;
      const auto q_half = guided_filter(half(p), half(g), r, 1e-2);
      EXPECT_EQ(q_half.scalar_type(), torch::kFloat16);
      EXPECT_LT(max_abs_diff(q, q_half.to(torch::kFloat32)), 5e-3) << which;
      const auto q_last = guided_filter(last(p), last(g), r, 1e-2);
      EXPECT_TRUE(q_last.is_contiguous(torch::MemoryFormat::ChannelsLast)) << which;
      EXPECT_LT(max_abs_diff(q, q_last), 1e-4) << which;
      EXPECT_LT(max_abs_diff(weighted_guided_filter(p, g, r, 1e-2),
                             weighted_guided_filter(cuda(p), cuda(g), r, 1e-2)),
                1e-4)
          << which;
    }
  }
  auto x = cuda(p).requires_grad_(true);
  guided_filter(x, cuda(g1), 4, 1e-2).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0.0);
}

// The tiled kernel (radius ≤ 16) against the row sweep and the CPU on sizes that do and do not
// fill its 32-column tiles, smaller than the window, both guide kinds, the weighted filter's map,
// fp16 and channels-last.
TEST(LinearFiltersCuda, TiledKernelMatchesSweepAndCpu) {
  STRATA_REQUIRE_CUDA();
  if (!fused_kernels_built()) GTEST_SKIP() << "built without the fused CUDA kernels";
  const auto cuda = [](const torch::Tensor& t) { return t.to(torch::kCUDA); };
  const auto both = [](const auto& filter) {  // (tiled, sweep)
    set_fused_schedule(FusedSchedule::Auto);
    const auto tiled = filter();
    set_fused_schedule(FusedSchedule::Sweep);
    const auto sweep = filter();
    set_fused_schedule(FusedSchedule::Auto);
    return std::make_pair(tiled, sweep);
  };
  // 150 × 200 has interior blocks (staged block inside the image) for every radius.
  const std::vector<std::pair<int, int>> sizes = {{1, 1},   {5, 3},    {17, 33},
                                                  {70, 33}, {97, 130}, {150, 200}};
  for (const auto& [h, w] : sizes)
    for (const int r : {1, 2, 5, 8, 13, 16}) {
      const auto p = synthetic_image(3, h, w, h + w);
      const auto g3 = synthetic_image(3, h, w, r);
      const auto tag = std::to_string(h) + "x" + std::to_string(w) + ", r " + std::to_string(r);
      const auto [box_t, box_s] = both([&] { return box_filter(cuda(p), r); });
      EXPECT_LT(max_abs_diff(box_t, box_s), 1e-5) << tag;
      EXPECT_LT(max_abs_diff(box_t, box_filter(p, r)), 1e-5) << tag;
      for (const auto& g : {g3.mean(0, true), g3}) {
        const auto which = tag + ", " + std::to_string(g.size(0)) + "-channel guide";
        const auto [q_t, q_s] = both([&] { return guided_filter(cuda(p), cuda(g), r, 1e-2); });
        EXPECT_LT(max_abs_diff(q_t, q_s), 1e-4) << which;
        EXPECT_LT(max_abs_diff(q_t, guided_filter(p, g, r, 1e-2)), 1e-4) << which;
        const auto [w_t, w_s] =
            both([&] { return weighted_guided_filter(cuda(p), cuda(g), r, 1e-2); });
        EXPECT_LT(max_abs_diff(w_t, w_s), 1e-4) << which;
        EXPECT_LT(max_abs_diff(w_t, weighted_guided_filter(p, g, r, 1e-2)), 1e-4) << which;
        const auto half = [](const torch::Tensor& t) {
          return t.unsqueeze(0)
              .to(torch::kCUDA, torch::kFloat16)
              .contiguous(torch::MemoryFormat::ChannelsLast);
        };
        const auto [h_t, h_s] = both([&] { return guided_filter(half(p), half(g), r, 1e-2); });
        EXPECT_EQ(h_t.scalar_type(), torch::kFloat16) << which;
        EXPECT_LT(max_abs_diff(h_t.to(torch::kFloat32), h_s.to(torch::kFloat32)), 2e-3) << which;
        EXPECT_LT(max_abs_diff(h_t.squeeze(0).to(torch::kCPU, torch::kFloat32),
                               guided_filter(p, g, r, 1e-2)),
                  1e-2)
            << which;
      }
    }
}

// ---- errors --------------------------------------------------------------------------------

TEST(LinearFiltersErrors, BadParameters) {
  const auto x = random_image({3, 10, 12});
  const auto g = random_image({1, 10, 12});
  EXPECT_THROW(box_filter(x, -1), Error);
  EXPECT_THROW(gaussian_blur(x, 0.0), Error);
  EXPECT_THROW(gaussian_blur(x, std::nan("")), Error);
  EXPECT_THROW(gaussian_blur(x, 1.0, -2), Error);
  EXPECT_THROW(unsharp_mask(x, 1.0, INFINITY), Error);
  EXPECT_THROW(guided_filter(x, g, -1, 1e-2), Error);
  EXPECT_THROW(guided_filter(x, g, 2, 0.0), Error);
  EXPECT_THROW(guided_filter(x, g, 2, -1e-3), Error);
  EXPECT_THROW(fast_guided_filter(x, g, 2, 1e-2, 0), Error);
  EXPECT_THROW(fast_guided_filter(x, g, 2, -1.0, 2), Error);
  EXPECT_THROW(weighted_guided_filter(x, g, 2, 0.0), Error);
  EXPECT_THROW(unsharp_mask_guided_filter(x, g, 2, 0.0), Error);
  EXPECT_THROW(unsharp_mask_guided_filter(x, g, -3, 1e-2), Error);
  EXPECT_THROW(unsharp_mask_guided_filter(x, g, 2, 1e-2, {AmountFunction::Guided, 0, true}), Error);
}

TEST(LinearFiltersErrors, BadTensors) {
  const auto x = random_image({3, 10, 12});
  EXPECT_THROW(box_filter(torch::ones({3, 10, 12}, torch::kInt32), 1), Error);
  EXPECT_THROW(box_filter(torch::ones({10, 12}), 1), Error);
  EXPECT_THROW(guided_filter(x, random_image({1, 10, 13}), 2, 1e-2), Error);  // size mismatch
  EXPECT_THROW(guided_filter(x, random_image({2, 10, 12}), 2, 1e-2), Error);  // 2-channel guide
  EXPECT_THROW(guided_filter(x, random_image({4, 10, 12}), 2, 1e-2), Error);
  EXPECT_THROW(fast_guided_filter(x, random_image({2, 10, 12}), 2, 1e-2, 2), Error);
  EXPECT_THROW(weighted_guided_filter(x, random_image({2, 10, 12}), 2, 1e-2), Error);
  EXPECT_THROW(guided_filter(x, torch::ones({1, 10, 12}, torch::kInt64), 2, 1e-2), Error);
  EXPECT_THROW(guided_filter(torch::ones({3, 10, 12}, torch::kUInt8), x, 2, 1e-2), Error);
  EXPECT_THROW(unsharp_mask_guided_filter(x, random_image({1, 1, 10, 12}), 2, 1e-2), Error);
  try {
    guided_filter(x, random_image({2, 10, 12}), 2, 1e-2);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("guide"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace strata::filter
