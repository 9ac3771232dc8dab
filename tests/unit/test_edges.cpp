// Edge post-processing (triangle blur, orientation, NMS) and the guider's edge maps.
#include <torch/torch.h>

#include <cmath>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/filter/edges.hpp"
#include "strata/image/tensor.hpp"
#include "strata/models/hipe.hpp"
#include "testing.hpp"

namespace strata::filter {
namespace {

using testing::max_abs_diff;

TEST(TriangleBlur, KernelsByHand) {
  auto x = torch::zeros({1, 7});
  x[0][3] = 1.0;
  // r = 1: [1 2 1] / 4 along x (the single row pads to itself vertically).
  const auto expected = torch::tensor({0.0f, 0.0f, 0.25f, 0.5f, 0.25f, 0.0f, 0.0f}).view({1, 7});
  EXPECT_LT(max_abs_diff(triangle_blur(x, 1.0), expected), 1e-7);
  // r = 2: [1 2 3 2 1] / 9; the sum is kept away from the borders.
  EXPECT_NEAR(triangle_blur(x, 2.0)[0][3].item<double>(), 3.0 / 9.0, 1e-7);
  EXPECT_NEAR(triangle_blur(x, 2.0).sum().item<double>(), 1.0, 1e-6);
  // Symmetric padding keeps a constant image constant.
  EXPECT_LT(max_abs_diff(triangle_blur(torch::full({5, 6}, 0.3), 4.0), torch::full({5, 6}, 0.3)),
            1e-6);
  EXPECT_THROW(triangle_blur(x, -1.0), Error);
}

// A blurred vertical ridge: orientation across it is 0 (x direction) and NMS keeps its centre.
TEST(EdgeNms, ThinsARidgeToItsCentre) {
  const auto xs = torch::arange(40, torch::kFloat32);
  const auto profile = torch::exp(-(xs - 20.0).square() / 8.0);
  const auto e = profile.view({1, 40}).expand({30, 40}).contiguous();
  const auto o = edge_orientation(e);
  EXPECT_LT(o.narrow(0, 8, 14).narrow(1, 16, 9).abs().max().item<double>(), 1e-3);
  const auto thin = edge_nms(e, torch::zeros_like(e));
  const auto row = thin[15];
  EXPECT_GT(row[20].item<double>(), 0.9);
  EXPECT_EQ(row.narrow(0, 6, 14).abs().sum().item<double>(), 0.0);
  EXPECT_EQ(row.narrow(0, 21, 13).abs().sum().item<double>(), 0.0);
  // Border suppression: zero on the border, scaled within 5 pixels of it.
  EXPECT_EQ(thin[0][20].item<double>(), 0.0);
  EXPECT_NEAR(thin[2][20].item<double>(), 0.4 * e[2][20].item<double>(), 1e-6);
  EXPECT_THROW(edge_nms(e, torch::zeros({3, 3})), Error);
}

TEST(HipeEdges, MeanOfGuidanceMaps) {
  torch::manual_seed(0);
  models::HipeGuider guider;
  const auto img = torch::rand({3, 21, 30});
  const auto e = models::hipe_edges(guider, img, 3);
  EXPECT_EQ(e.sizes(), (std::vector<std::int64_t>{1, 21, 30}));
  torch::NoGradGuard no_grad;
  const auto padded = torch::nn::functional::pad(
      img.unsqueeze(0), torch::nn::functional::PadFuncOptions({0, 2, 0, 11}).mode(torch::kReflect));
  const auto maps = guider->forward(padded, 3);
  const auto mean = ((maps[0] + maps[1] + maps[2]) / 3.0)[0].narrow(1, 0, 21).narrow(2, 0, 30);
  EXPECT_LT(max_abs_diff(e, mean), 1e-6);
}

TEST(EdgesCli, WritesMapsAndRejectsBadInput) {
  testing::TempDir dir;
  const std::string scene = std::string(STRATA_SOURCE_DIR) + "/examples/scene.png";
  auto r = testing::run_strata({"--device", "cpu", "-q", "edges", scene, "-o", dir.file("e.png"),
                                "--recurrences", "2", "--nms"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto e = image::read_image(dir.file("e.png"));
  EXPECT_EQ(e.size(0), 1);
  EXPECT_GT(e.max().item<double>(), 0.0);
  r = testing::run_strata({"edges", dir.file("missing.png"), "-o", dir.file("x.png")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(path_exists(dir.file("x.png")));
  r = testing::run_strata({"edges", scene, "-o", scene});  // never overwrite the input
  EXPECT_EQ(r.exit_code, 1);
}

}  // namespace
}  // namespace strata::filter
