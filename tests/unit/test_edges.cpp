// Edge post-processing (triangle blur, orientation, NMS) and the guider's edge maps.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/filter/edges.hpp"
#include "strata/image/tensor.hpp"
#include "strata/models/hipe.hpp"
#include "testing.hpp"

#ifdef STRATA_HAVE_OPENCV
#include <opencv2/imgproc.hpp>

#include "opencv_bridge.hpp"
#endif

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

// Shapes on a gradient background, quantised to 8 bits (so OpenCV's 8-bit Canny sees the same).
torch::Tensor shapes_image() {
  auto x = torch::linspace(0.1, 0.4, 90).view({1, 1, 90}).expand({1, 70, 90}).clone();
  x.narrow(1, 15, 30).narrow(2, 20, 35).fill_(0.8);
  x.narrow(1, 40, 20).narrow(2, 50, 30).fill_(0.55);
  return (x * 255.0).round() / 255.0;
}

TEST(Sobel, MagnitudeByHand) {
  auto step = torch::zeros({1, 6, 8});
  step.narrow(2, 4, 4).fill_(1.0);
  const auto m = sobel_magnitude(step);
  EXPECT_EQ(m.sizes(), (std::vector<std::int64_t>{1, 6, 8}));
  EXPECT_NEAR(m[0][3][3].item<double>(), 4.0, 1e-6);  // (1 + 2 + 1) · 1 across the step
  EXPECT_NEAR(m[0][3][4].item<double>(), 4.0, 1e-6);
  EXPECT_EQ(m[0][3][1].item<double>(), 0.0);
}

TEST(Canny, StepGivesOneThinLine) {
  auto step = torch::zeros({1, 20, 24});
  step.narrow(2, 12, 12).fill_(1.0);
  const auto e = canny(step, 0.0, 0.5, 1.0);
  // A single column of edge pixels along the step, full height.
  EXPECT_EQ(e.sum().item<double>(), 20.0);
  EXPECT_EQ(e.sum(1).gt(0).sum().item<double>(), 1.0);
  // Soft output: the suppressed magnitude.
  EXPECT_NEAR(canny(step, 0.0, 0.0, 0.0).max().item<double>(), 4.0, 1e-6);
  EXPECT_THROW(canny(step, -1.0, 0.1, 0.2), Error);
}

#ifdef STRATA_HAVE_OPENCV
TEST(SobelOpenCV, Matches) {
  const auto x = shapes_image();
  cv::Mat gx, gy, mag;
  const cv::Mat m = testing::to_mat(x);
  cv::Sobel(m, gx, CV_32F, 1, 0, 3, 1, 0, cv::BORDER_REFLECT_101);
  cv::Sobel(m, gy, CV_32F, 0, 1, 3, 1, 0, cv::BORDER_REFLECT_101);
  cv::magnitude(gx, gy, mag);
  EXPECT_LT(max_abs_diff(sobel_magnitude(x), testing::from_mat(mag)), 1e-5);
}

TEST(CannyOpenCV, AgreesOnShapes) {
  const auto x = shapes_image();
  cv::Mat img8;
  testing::to_mat(x * 255.0).convertTo(img8, CV_8U);
  cv::Mat edges;
  cv::Canny(img8, edges, 40.0, 100.0, 3, true);  // L2 gradient, thresholds on 0-255 images
  cv::Mat edges_f;
  edges.convertTo(edges_f, CV_32F, 1.0 / 255.0);
  const auto ref = testing::from_mat(edges_f);
  const auto ours = canny(x, 0.0, 40.0 / 255.0, 100.0 / 255.0);
  const double differ = (ours - ref).abs().sum().item<double>();
  const double total = ref.sum().item<double>();
  std::printf("[ measured ] canny vs OpenCV: %g of %g edge pixels differ\n", differ, total);
  EXPECT_GT(total, 100.0);
  EXPECT_LE(differ, 0.01 * total);
}
#endif  // STRATA_HAVE_OPENCV

TEST(HipeEdges, MeanOfGuidanceMaps) {
  torch::manual_seed(0);
  models::HipeGuider guider;
  const auto img = torch::rand({3, 21, 30});
  const auto e = models::hipe_edges(guider, img, {3, {1.0}, models::EdgeCombine::Mean, 0, 1});
  EXPECT_EQ(e.sizes(), (std::vector<std::int64_t>{1, 21, 30}));
  torch::NoGradGuard no_grad;
  const auto padded = torch::nn::functional::pad(
      img.unsqueeze(0), torch::nn::functional::PadFuncOptions({0, 2, 0, 11}).mode(torch::kReflect));
  const auto maps = guider->forward(padded, 3);
  const auto mean = ((maps[0] + maps[1] + maps[2]) / 3.0)[0].narrow(1, 0, 21).narrow(2, 0, 30);
  EXPECT_LT(max_abs_diff(e, mean), 1e-6);
}

// Logit: sigmoid(mean logit / 6) at one scale; several scales: the mean of the per-scale means
// (of the maps, or of their logits), each resized back to the image.
TEST(HipeEdges, LogitCombineAndScales) {
  torch::manual_seed(1);
  models::HipeGuider guider;
  const auto img = torch::rand({3, 21, 30});
  const auto mean = [&](std::vector<double> scales) {
    return models::hipe_edges(guider, img, {2, std::move(scales), models::EdgeCombine::Mean, 0, 1});
  };
  const auto logit = [&](std::vector<double> scales) {
    return models::hipe_edges(guider, img,
                              {2, std::move(scales), models::EdgeCombine::Logit, 0, 1});
  };
  torch::NoGradGuard no_grad;
  const auto padded = torch::nn::functional::pad(
      img.unsqueeze(0), torch::nn::functional::PadFuncOptions({0, 2, 0, 11}).mode(torch::kReflect));
  const auto maps = guider->forward(padded, 2);
  const auto z = (torch::logit(maps[0], 1e-6) + torch::logit(maps[1], 1e-6)) / 2.0;
  const auto expected = torch::sigmoid(z / 6.0)[0].narrow(1, 0, 21).narrow(2, 0, 30);
  EXPECT_LT(max_abs_diff(logit({1.0}), expected), 1e-5);
  // Two scales.
  const auto half = mean({0.5}), whole = mean({1.0});
  EXPECT_EQ(half.sizes(), whole.sizes());
  EXPECT_GT(max_abs_diff(half, whole), 1e-3);  // the scale matters
  EXPECT_LT(max_abs_diff(mean({0.5, 1.0}), (half + whole) / 2.0), 1e-6);
  const auto both = torch::sigmoid((torch::logit(logit({0.5})) + torch::logit(logit({1.0}))) / 2.0);
  EXPECT_LT(max_abs_diff(logit({0.5, 1.0}), both), 1e-5);
  // Tiny scaled images (here 3×3 and 1×1) work; bad settings are errors.
  for (const double tiny : {0.25, 0.01})
    EXPECT_EQ(models::hipe_edges(guider, torch::rand({3, 12, 12}), {1, {tiny}}).sizes(),
              (std::vector<std::int64_t>{1, 12, 12}));
  EXPECT_THROW(models::hipe_edges(guider, img, {2, {}}), Error);
  EXPECT_THROW(models::hipe_edges(guider, img, {2, {0.0}}), Error);
  EXPECT_THROW(models::hipe_edges(guider, img, {0, {1.0}}), Error);
  EXPECT_THROW(models::hipe_edges(guider, img, {2, {1.0}, models::EdgeCombine::Mean, 0, 3}), Error);
}

// flips = 2 or 4: the mean over the image and its mirror images, each map mirrored back.
TEST(HipeEdges, FlipsAverageMirroredImages) {
  torch::manual_seed(2);
  models::HipeGuider guider;
  const auto img = torch::rand({3, 17, 26});
  const auto edges = [&](const torch::Tensor& x, int flips) {
    return models::hipe_edges(guider, x, {2, {0.5, 1.0}, models::EdgeCombine::Mean, 0, flips});
  };
  const auto plain = edges(img, 1), lr = edges(img.flip({2}), 1).flip({2});
  const auto ud = edges(img.flip({1}), 1).flip({1}), both = edges(img.flip({1, 2}), 1).flip({1, 2});
  EXPECT_GT(max_abs_diff(plain, lr), 1e-4);  // the network is not mirror-symmetric
  EXPECT_LT(max_abs_diff(edges(img, 2), (plain + lr) / 2.0), 1e-6);
  EXPECT_LT(max_abs_diff(edges(img, 4), (plain + lr + ud + both) / 4.0), 1e-6);
}

TEST(EdgesCli, WritesMapsAndRejectsBadInput) {
  testing::TempDir dir;
  const std::string scene = std::string(STRATA_SOURCE_DIR) + "/examples/scene.png";
  auto r = testing::run_strata({"--device", "cpu", "-q", "edges", scene, "-o", dir.file("e.png"),
                                "--recurrences", "2", "--flips", "1", "--nms"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto e = image::read_image(dir.file("e.png"));
  EXPECT_EQ(e.size(0), 1);
  EXPECT_GT(e.max().item<double>(), 0.0);
  for (const char* method : {"sobel", "canny"}) {
    r = testing::run_strata(
        {"-q", "edges", scene, "-o", dir.file(std::string(method) + ".png"), "--method", method});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NEAR(image::read_image(dir.file(std::string(method) + ".png")).max().item<double>(), 1.0,
                1e-6)
        << method;
  }
  r = testing::run_strata({"edges", dir.file("missing.png"), "-o", dir.file("x.png")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(path_exists(dir.file("x.png")));
  r = testing::run_strata({"edges", scene, "-o", scene});  // never overwrite the input
  EXPECT_EQ(r.exit_code, 1);
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--scales", "0.5,0"},
                                              {"--scales", "x"},
                                              {"--combine", "max"},
                                              {"--flips", "3"}}) {
    std::vector<std::string> args{"edges", scene, "-o", dir.file("bad.png")};
    args.insert(args.end(), bad.begin(), bad.end());
    r = testing::run_strata(args);
    EXPECT_NE(r.exit_code, 0) << bad[1];
    EXPECT_NE(r.err.find(bad[0]), std::string::npos) << r.err;  // names the option
    EXPECT_FALSE(path_exists(dir.file("bad.png")));
  }
}

// --model DIR: DIR/hipe-edges.safetensors (the shipped edge model), else DIR/hipe-guider.
TEST(EdgesCli, EdgeModelWithGuiderFallback) {
  testing::TempDir dir;
  const std::string models = std::string(STRATA_SOURCE_DIR) + "/models/";
  const auto scene = image::read_image(std::string(STRATA_SOURCE_DIR) + "/examples/scene.png");
  image::write_image(dir.file("in.png"), scene.narrow(1, 0, 40).narrow(2, 0, 50));
  make_directories(dir.file("m"));
  testing::write_bytes(dir.file("m/hipe-guider.safetensors"),
                       testing::read_bytes(models + "hipe-guider.safetensors"));
  const auto edges = [&](const std::string& out, const std::vector<std::string>& model) {
    std::vector<std::string> args{
        "--device",      "cpu", "-q",       "edges", dir.file("in.png"), "-o", dir.file(out),
        "--recurrences", "2",   "--scales", "1"};
    args.insert(args.end(), model.begin(), model.end());
    const auto r = testing::run_strata(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return image::read_image(dir.file(out));
  };
  const auto shipped = edges("shipped.pfm", {"--model", models});
  const auto guider = edges("guider.pfm", {"--model", dir.file("m")});
  EXPECT_GT(max_abs_diff(shipped, guider), 1e-3);  // two different networks
  EXPECT_LT(
      max_abs_diff(edges("weights.pfm", {"--weights", models + "hipe-guider.safetensors"}), guider),
      1e-6);
  testing::write_bytes(dir.file("m/hipe-edges.safetensors"),
                       testing::read_bytes(models + "hipe-edges.safetensors"));
  EXPECT_LT(max_abs_diff(edges("edges.pfm", {"--model", dir.file("m")}), shipped), 1e-6);
  // Missing weights: a clear error, no output.
  make_directories(dir.file("empty"));
  for (const std::vector<std::string>& missing :
       {std::vector<std::string>{"--model", dir.file("empty")},
        {"--weights", dir.file("none.safetensors")}}) {
    std::vector<std::string> args{"edges", dir.file("in.png"), "-o", dir.file("x.png")};
    args.insert(args.end(), missing.begin(), missing.end());
    const auto r = testing::run_strata(args);
    EXPECT_EQ(r.exit_code, 1) << missing[0];
    EXPECT_NE(r.err.find(missing[1]), std::string::npos) << r.err;
    EXPECT_FALSE(path_exists(dir.file("x.png")));
  }
}

TEST(EdgesCli, FolderInFolderOut) {
  testing::TempDir dir;
  make_directories(dir.file("in"));
  const auto scene = image::read_image(std::string(STRATA_SOURCE_DIR) + "/examples/scene.png");
  image::write_image(dir.file("in/a.png"), scene.narrow(1, 0, 40).narrow(2, 0, 50));
  image::write_image(dir.file("in/b.jpg"), scene.narrow(1, 10, 30).narrow(2, 5, 60));
  auto r = testing::run_strata(
      {"-q", "--json", "edges", dir.file("in"), "-o", dir.file("out"), "--method", "sobel"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"images\": 2"), std::string::npos) << r.out;
  EXPECT_EQ(image::read_image(dir.file("out/a.png")).sizes(),
            (std::vector<std::int64_t>{1, 40, 50}));
  EXPECT_EQ(image::read_image(dir.file("out/b.png")).sizes(),
            (std::vector<std::int64_t>{1, 30, 60}));
  // Into the input folder: a.png would replace an input, so it is refused.
  r = testing::run_strata({"edges", dir.file("in"), "-o", dir.file("in"), "--method", "sobel"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(image::read_image(dir.file("in/a.png")).size(0), 3);
  // A folder of inputs needs a folder out.
  r = testing::run_strata({"edges", dir.file("in"), "-o", dir.file("out/a.png")});
  EXPECT_EQ(r.exit_code, 1);
}

}  // namespace
}  // namespace strata::filter
