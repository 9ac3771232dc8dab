// Tests of colour conversions against hand-computed values and exact inverses.
#include <torch/torch.h>

#include "strata/core/error.hpp"
#include "strata/image/color.hpp"
#include "testing.hpp"

namespace strata::image {
namespace {

torch::Tensor pixel(float r, float g, float b) { return torch::tensor({r, g, b}).view({3, 1, 1}); }

TEST(Color, GrayWeights) {
  const torch::Tensor p = pixel(1.0f, 0.5f, 0.25f);
  EXPECT_NEAR(rgb_to_gray(p).item<float>(), 0.299 + 0.2935 + 0.0285, 1e-6);
  EXPECT_NEAR(rgb_to_gray(p, LumaWeights::Matlab).item<float>(), 0.2989 + 0.2935 + 0.0285, 1e-6);
  const torch::Tensor batch = torch::rand({2, 3, 4, 5});
  EXPECT_EQ(rgb_to_gray(batch).sizes(), (std::vector<std::int64_t>{2, 1, 4, 5}));
  EXPECT_EQ(gray_to_rgb(rgb_to_gray(batch)).sizes(), batch.sizes());
  EXPECT_THROW(rgb_to_gray(torch::rand({4, 2, 2})), Error);
  EXPECT_THROW(gray_to_rgb(torch::rand({3, 2, 2})), Error);
}

TEST(Color, StudioYCbCrMatchesMatlabValues) {
  // MATLAB rgb2ycbcr(uint8([255 255 255])) = [235 128 128]; black -> [16 128 128];
  // pure red -> [81 90 240] (81.481, 90.203, 240).
  auto ycc = [](float r, float g, float b) {
    return rgb_to_ycbcr(pixel(r, g, b)).mul(255).flatten();
  };
  const auto white = ycc(1, 1, 1), black = ycc(0, 0, 0), red = ycc(1, 0, 0);
  EXPECT_NEAR(white[0].item<float>(), 235.0, 1e-3);
  EXPECT_NEAR(white[1].item<float>(), 128.0, 1e-3);
  EXPECT_NEAR(black[0].item<float>(), 16.0, 1e-4);
  EXPECT_NEAR(red[0].item<float>(), 81.481, 1e-3);
  EXPECT_NEAR(red[1].item<float>(), 90.203, 1e-3);
  EXPECT_NEAR(red[2].item<float>(), 240.0, 1e-3);
}

TEST(Color, FullRangeYCbCrMatchesJfif) {
  // JFIF: Y = 0.299R+0.587G+0.114B, Cb = 128 - 0.168736R - 0.331264G + 0.5B (8-bit units).
  const auto blue = rgb_to_ycbcr(pixel(0, 0, 1), YCbCrRange::Full).mul(255).flatten();
  EXPECT_NEAR(blue[0].item<float>(), 0.114 * 255, 1e-3);
  EXPECT_NEAR(blue[1].item<float>(), 128 + 127.5, 1e-3);
  EXPECT_NEAR(blue[2].item<float>(), 128 - 0.081312 * 255, 1e-3);
}

TEST(Color, YCbCrInverseIsExact) {
  const torch::Tensor x = torch::rand({2, 3, 16, 16}, torch::kFloat64);
  for (auto range : {YCbCrRange::Studio, YCbCrRange::Full})
    EXPECT_LT(testing::max_abs_diff(ycbcr_to_rgb(rgb_to_ycbcr(x, range), range), x), 1e-12);
}

TEST(Color, CudaMatchesCpu) {
  STRATA_REQUIRE_CUDA();
  const torch::Tensor x = torch::rand({3, 32, 32});
  EXPECT_LT(testing::max_abs_diff(rgb_to_ycbcr(x.cuda()), rgb_to_ycbcr(x)), 1e-6);
  EXPECT_LT(testing::max_abs_diff(rgb_to_gray(x.cuda()), rgb_to_gray(x)), 1e-6);
}

}  // namespace
}  // namespace strata::image
