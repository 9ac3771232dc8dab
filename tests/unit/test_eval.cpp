// Tests of metrics and the filter-denoising benchmark.
#include <torch/torch.h>

#include <cmath>

#include "strata/core/error.hpp"
#include "strata/eval/filter_denoise.hpp"
#include "strata/eval/metrics.hpp"
#include "strata/image/tensor.hpp"
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

TEST(FilterDenoise, RejectsMixedSizes) {
  testing::TempDir dir;
  image::write_image(dir.file("a.png"), torch::rand({3, 10, 12}));
  image::write_image(dir.file("b.png"), torch::rand({3, 10, 14}));
  EXPECT_THROW(run_filter_denoise({dir.file("a.png"), dir.file("b.png")}, {}, torch::kCPU), Error);
}

}  // namespace
}  // namespace strata::eval
