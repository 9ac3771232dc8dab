// Tests of metrics and the filter-denoising benchmark.
#include <torch/torch.h>

#include <cmath>

#include "strata/core/error.hpp"
#include "strata/eval/filter_denoise.hpp"
#include "strata/eval/gcc.hpp"
#include "strata/eval/metrics.hpp"
#include "strata/image/tensor.hpp"
#include "strata/nn/weights.hpp"
#include "testing.hpp"

namespace strata::eval {
namespace {

TEST(Psnr, HandComputed) {
  const torch::Tensor a = torch::zeros({1, 2, 2});
  torch::Tensor b = a.clone();
  b[0][0][0] = 0.1f;  // MSE = 0.01 / 4 = 0.0025 -> PSNR = 10 log10(400) = 26.0206
  EXPECT_NEAR(mean_psnr(b, a), 26.0206, 1e-4);
  EXPECT_NEAR(mean_psnr(b * 255, a, 255.0), 26.0206, 1e-4);
  EXPECT_TRUE(std::isinf(mean_psnr(a, a)));
  const torch::Tensor batch = psnr_per_image(torch::stack({b, a + 0.5}), torch::stack({a, a}));
  EXPECT_NEAR(batch[1].item<double>(), 10 * std::log10(4.0), 1e-9);
  EXPECT_THROW(mean_psnr(a, torch::zeros({1, 2, 3})), Error);
}

TEST(Psnr, LumaAsTheSuperResolutionTables) {
  const torch::Tensor black = torch::zeros({3, 4, 4});
  torch::Tensor x = black.clone();
  x.select(1, 0).select(1, 0).fill_(1.0f);         // in the 1-pixel border: left out
  x.select(1, 1).select(1, 1).fill_(0.2001f);      // gray: 51/255 after 8-bit quantisation
  const double dy = 219.0 / 255.0 * 51.0 / 255.0;  // studio-range Y: (65.481+128.553+24.966)/255
  EXPECT_NEAR(luma_psnr(x, black, 1), 10 * std::log10(4 / (dy * dy)), 1e-9);  // 2×2 kept
  EXPECT_NEAR(luma_psnr(x.narrow(0, 0, 1), black.narrow(0, 0, 1), 1),
              10 * std::log10(4 / (0.2 * 0.2)), 1e-9);  // one channel: used as it is
  EXPECT_LT(luma_psnr(x, black, 0), luma_psnr(x, black, 1));
  EXPECT_THROW(luma_psnr(x, black, 2), Error);
  EXPECT_THROW(luma_psnr(x, black.narrow(1, 0, 3), 0), Error);
  EXPECT_THROW(luma_psnr(x.narrow(0, 0, 2), black.narrow(0, 0, 2), 0), Error);  // 2 channels
}

TEST(NoiseEstimate, ReadsGaussianNoiseAndIgnoresEdges) {
  torch::manual_seed(5);
  const auto noise = [](const torch::Tensor& x, double sigma) {
    return x + torch::randn_like(x) * sigma;
  };
  const auto flat = torch::full({3, 96, 128}, 0.5, torch::kFloat64);
  EXPECT_NEAR(estimate_noise_sigma(noise(flat, 0.1)), 0.1, 0.003);
  const auto ramp = torch::linspace(0, 1, 128, torch::kFloat64).expand({1, 96, 128}).contiguous();
  EXPECT_NEAR(estimate_noise_sigma(ramp), 0.0, 1e-12);  // planes and ramps read no noise
  EXPECT_NEAR(estimate_noise_sigma(noise(ramp, 0.05)), 0.05, 0.003);
  // A diagonal step (the mask cancels axis-aligned ones): Immerkær's mean over every pixel
  // reads its edge as noise (0.027 here); leaving out the strongest gradients keeps 0.02.
  const auto y = torch::arange(96, torch::kFloat64).view({1, 96, 1});
  const auto x = torch::arange(128, torch::kFloat64).view({1, 1, 128});
  const auto step = 0.2 + 0.6 * (x + y > 110).to(torch::kFloat64);
  EXPECT_NEAR(estimate_noise_sigma(noise(step, 0.02)), 0.02, 0.002);
  EXPECT_THROW(estimate_noise_sigma(torch::zeros({1, 2, 8})), Error);
}

TEST(FilterDenoise, ParsesMethods) {
  EXPECT_EQ(parse_denoise_method("umgf-wgf"), DenoiseMethod::UmgfWeighted);
  EXPECT_STREQ(method_name(DenoiseMethod::UmgfGuided), "Ours+GF");
  EXPECT_THROW(parse_denoise_method("bm3d"), Error);
}

TEST(FilterDenoise, SmallRunBeatsTheNoisyInput) {
  testing::TempDir dir;
  // Two piecewise-smooth images, one portrait (transposed internally).
  torch::Tensor a = torch::linspace(0.2, 0.8, 64).view({1, 1, 64}).expand({3, 48, 64}).clone();
  a.narrow(1, 20, 10).add_(0.15);
  image::write_image(dir.file("a.png"), a);
  image::write_image(dir.file("b.png"), a.transpose(1, 2).flip({2}).contiguous());
  FilterDenoiseConfig config;
  config.sigmas = {25};
  config.radii = {2, 4};
  config.eps_sqrt = {0.05, 0.1};
  const auto rows = run_filter_denoise({dir.file("a.png"), dir.file("b.png")}, config, torch::kCPU);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_NEAR(rows[0].input_psnr, 20.17, 0.3);  // 20 log10(255 / 25) = 20.17 dB
  ASSERT_EQ(rows[0].best.size(), 4u);
  for (const auto& best : rows[0].best) {
    EXPECT_GT(best.psnr, rows[0].input_psnr + 3.0);
    EXPECT_TRUE(best.radius == 2 || best.radius == 4);
  }
}

// The UMGF variants are grid dimensions: the best over {1, 2 boxes} × {box(a), a} is at least
// the best of the default variant alone, and it names the variant it found.
TEST(FilterDenoise, UmgfVariantGrid) {
  testing::TempDir dir;
  torch::manual_seed(3);
  const auto img = torch::nn::functional::avg_pool2d(
      torch::rand({1, 3, 40, 56}),
      torch::nn::functional::AvgPool2dFuncOptions(5).stride(1).padding(2));
  image::write_image(dir.file("a.png"), img[0]);
  FilterDenoiseConfig config;
  config.sigmas = {25};
  config.methods = {DenoiseMethod::UmgfGuided};
  config.radii = {2, 3};
  config.eps_sqrt = {0.1, 0.2};
  const auto fixed = run_filter_denoise({dir.file("a.png")}, config, torch::kCPU);
  config.umgf_lowpass_boxes = {1, 2};
  config.umgf_smooth_amount = {true, false};
  const auto searched = run_filter_denoise({dir.file("a.png")}, config, torch::kCPU);
  const auto& a = fixed[0].best[0];
  const auto& b = searched[0].best[0];
  EXPECT_EQ(a.umgf.lowpass_boxes, 2);
  EXPECT_TRUE(a.umgf.smooth_amount);
  EXPECT_GE(b.psnr, a.psnr);
  if (b.psnr > a.psnr) {
    EXPECT_FALSE(b.umgf.lowpass_boxes == 2 && b.umgf.smooth_amount);
  }
  config.umgf_lowpass_boxes.clear();
  EXPECT_THROW(run_filter_denoise({dir.file("a.png")}, config, torch::kCPU), Error);
}

TEST(FilterDenoise, RejectsMixedSizes) {
  testing::TempDir dir;
  image::write_image(dir.file("a.png"), torch::rand({3, 10, 12}));
  image::write_image(dir.file("b.png"), torch::rand({3, 10, 14}));
  EXPECT_THROW(run_filter_denoise({dir.file("a.png"), dir.file("b.png")}, {}, torch::kCPU), Error);
}

TEST(Gcc, HandComputed) {
  // detail ∇ = (0, 1, 1), filtered ∇ = (0, 2, 0): mean of products = 2/3.
  const auto detail = torch::tensor({0.0f, 1.0f, 2.0f}).view({1, 1, 3});
  const auto filtered = torch::tensor({0.0f, 2.0f, 2.0f}).view({1, 1, 3});
  EXPECT_NEAR(gradient_correlation(detail, filtered), 2.0 / 3.0, 1e-6);
  const auto input = torch::tensor({0.0f, 4.0f, 0.0f}).view({1, 1, 3});  // Σ∇ = 8
  EXPECT_NEAR(smoothing_degree(input, filtered), 1.0 - 2.0 / 8.0, 1e-6);
  EXPECT_NEAR(smoothing_degree(input, input), 0.0, 1e-12);
  EXPECT_THROW(smoothing_degree(torch::ones({1, 2, 2}), input), Error);
}

// Each classical filter is tuned to HIPe's smoothing degree; GCC is reported for all.
TEST(Gcc, TunesFiltersToTheSameSmoothing) {
  testing::TempDir dir;
  torch::manual_seed(3);
  for (int i = 0; i < 2; ++i) {
    auto img = torch::rand({3, 1, 1}).expand({3, 40, 48}).clone();
    img.narrow(2, 24, 24).add_(0.3);
    img.add_(0.05 * torch::randn({3, 40, 48}));  // texture on a step edge
    image::write_image(dir.file("i" + std::to_string(i) + ".png"), img.clamp(0, 1));
  }
  // The shipped weights (random ones do not smooth).
  const std::string models_dir = std::string(STRATA_SOURCE_DIR) + "/models/";
  models::HipeGuider guider;
  models::HipePeeler peeler;
  nn::load_module_weights(*guider, nn::load_safetensors(models_dir + "hipe-guider.safetensors"),
                          "guider");
  nn::load_module_weights(*peeler, nn::load_safetensors(models_dir + "hipe-peeler.safetensors"),
                          "peeler");
  guider->eval();
  peeler->eval();
  GccConfig config;
  config.level = 1;
  config.tune_steps = 14;
  config.methods = {{"l0", "lambda", 1e-4, 1.0}, {"guided", "eps", 1e-5, 10.0}};
  const auto report =
      run_gcc({dir.file("i0.png"), dir.file("i1.png")}, guider, peeler, config, torch::kCPU);
  ASSERT_EQ(report.rows.size(), 3u);
  EXPECT_EQ(report.rows[0].method, "HIPe (level 1)");
  for (const auto& r : report.rows) {
    EXPECT_TRUE(std::isfinite(r.gcc) && r.gcc >= 0.0) << r.method;
    // Tuned on the same images: smoothing within a few percent of HIPe's (L0 is stepwise).
    EXPECT_NEAR(r.smoothing, report.target_smoothing, 0.05) << r.method << " " << r.parameter;
  }
}

}  // namespace
}  // namespace strata::eval
