// The deep-image-prior baselines: the original skip encoder-decoder and the Deep Decoder (sizes,
// shapes, ranges), and `dip_restore` / `strata restore --net` with each network.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/image/tensor.hpp"
#include "strata/models/dip_baselines.hpp"
#include "strata/train/dip_restore.hpp"
#include "testing.hpp"

namespace strata::models {
namespace {

using testing::parameter_count;
using train::DipNetwork;

// Trainable parameters of the network with default options (3 output channels) and with 1.
template <typename Net, typename Options>
void expect_parameter_counts(std::int64_t rgb, std::int64_t gray) {
  Options o;
  EXPECT_EQ(parameter_count(*Net(o)), rgb);
  o.out_channels = 1;
  EXPECT_EQ(parameter_count(*Net(o)), gray);
}

// Hand count, C output channels, BN = 2 values (γ, β) per channel, every conv with a bias:
// level 0 (input 32):  skip 1×1 32·4+4 = 132, BN 8;  down 3×3 s2 32·128·9+128 = 36,992, BN 256;
//   3×3 128·128·9+128 = 147,584, BN 256;  BN(4+128) 264;  up 3×3 132·128·9+128 = 152,192, BN 256;
//   1×1 128·128+128 = 16,512, BN 256;  sum 354,708.
// levels 1-4 (input 128): skip 128·4+4 = 516, BN 8;  down 147,584 + 256;  3×3 147,584 + 256;
//   BN 264;  up 152,192 + 256;  1×1 16,512 + 256;  sum 465,684, × 4 = 1,862,736.
// head 1×1 128·C+C: 387 for C = 3, 129 for C = 1.
// Total 354,708 + 1,862,736 + 387 = 2,217,831 (C = 3), 2,217,573 (C = 1).
TEST(DipSkip, PublishedParameterCounts) {
  expect_parameter_counts<DipSkip, DipSkipOptions>(2217831, 2217573);
}

// Hand count: six 1×1 convs 128→128 without bias 6·16,384 = 98,304; six BN 6·256 = 1,536;
// head 128·C without bias: 384 (C = 3), 128 (C = 1). Total 100,224 (C = 3), 99,968 (C = 1).
TEST(DeepDecoder, PublishedParameterCounts) {
  expect_parameter_counts<DeepDecoder, DeepDecoderOptions>(100224, 99968);
}

void expect_open_unit_range(const torch::Tensor& y) {
  EXPECT_GT(y.min().item<double>(), 0.0);
  EXPECT_LT(y.max().item<double>(), 1.0);
}

TEST(DipSkip, OddSizesAndBatchStatistics) {
  torch::manual_seed(3);
  DipSkipOptions o;
  o.down_channels = o.up_channels = 16;  // small and fast; the layout is the same
  DipSkip net(o);
  const auto z = uniform_input(32, 37, 45, 0.1, 4);
  EXPECT_GE(z.min().item<double>(), 0.0);
  EXPECT_LT(z.max().item<double>(), 0.1);
  const auto y = net->forward(z);
  EXPECT_EQ(y.sizes(), (std::vector<std::int64_t>{1, 3, 37, 45}));
  expect_open_unit_range(y);
  net->eval();  // BatchNorm keeps using the batch statistics, as the authors' code
  EXPECT_LT(testing::max_abs_diff(net->forward(z), y), 1e-6);
}

TEST(DeepDecoder, ShapesAndBatchStatistics) {
  torch::manual_seed(5);
  DeepDecoderOptions o;
  o.width = 16;
  DeepDecoder net(o);
  const auto z = uniform_input(16, 3, 5, 0.1, 6);
  const auto y = net->forward(z);
  EXPECT_EQ(y.sizes(), (std::vector<std::int64_t>{1, 3, 96, 160}));
  expect_open_unit_range(y);
  net->eval();
  EXPECT_LT(testing::max_abs_diff(net->forward(z), y), 1e-6);
  EXPECT_TRUE(torch::equal(uniform_input(16, 3, 5, 0.1, 6), z));
}

// ---- dip_restore with each network --------------------------------------------------------------

torch::Tensor smooth_image(std::int64_t channels, std::int64_t h, std::int64_t w) {
  torch::manual_seed(11);
  namespace F = torch::nn::functional;
  return F::interpolate(torch::rand({1, channels, 4, 4}), F::InterpolateFuncOptions()
                                                              .size(std::vector<std::int64_t>{h, w})
                                                              .mode(torch::kBilinear)
                                                              .align_corners(false))[0];
}

train::RestoreOptions options(DipNetwork network, int iterations, std::uint64_t seed = 1) {
  train::RestoreOptions o;
  o.network = network;
  o.max_iterations = iterations;
  o.seed = seed;
  return o;
}

const DipNetwork kBaselines[] = {DipNetwork::Original, DipNetwork::DeepDecoder};

TEST(DipBaselines, OddImageSizesAreCoveredAndCropped) {
  for (const auto net : kBaselines)
    for (const auto& img : {smooth_image(3, 33, 47), smooth_image(1, 19, 23)}) {
      const auto r = train::dip_restore(img, options(net, 1));
      EXPECT_EQ(r.image.sizes(), img.sizes());
      EXPECT_GE(r.image.min().item<double>(), 0.0);
      EXPECT_LE(r.image.max().item<double>(), 1.0);
    }
}

// A short fit on a 32×32 noisy image (the Decoder's is in test_dip.cpp): the loss of the last
// iteration is well below that of the first (the CPU costs ~0.3 s (skip) and ~0.15 s (Deep Decoder)
// per iteration, so few iterations).
void expect_short_fit_lowers_the_loss(DipNetwork net, int iterations, double factor) {
  const auto clean = smooth_image(3, 32, 32);
  torch::manual_seed(12);
  const auto noisy = (clean + 0.05 * torch::randn_like(clean)).clamp(0, 1);
  auto o = options(net, iterations);
  o.auto_stop = false;
  const auto r = train::dip_restore(noisy, o);
  ASSERT_EQ(r.history.size(), static_cast<std::size_t>(iterations));
  EXPECT_LT(r.history.back().loss, factor * r.history.front().loss);
}

TEST(DipBaselines, ShortFitLowersTheLossOriginal) {
  expect_short_fit_lowers_the_loss(DipNetwork::Original, 20, 0.75);  // 0.051 → 0.030 measured
}

TEST(DipBaselines, ShortFitLowersTheLossDeepDecoder) {
  expect_short_fit_lowers_the_loss(DipNetwork::DeepDecoder, 25, 0.5);  // 0.048 → 0.014 measured
}

TEST(DipBaselines, DeterministicWithTheSeed) {
  const auto img = smooth_image(3, 20, 28);
  for (const auto net : kBaselines) {
    const auto a = train::dip_restore(img, options(net, 3, 7));
    const auto b = train::dip_restore(img, options(net, 3, 7));
    const auto c = train::dip_restore(img, options(net, 3, 8));
    EXPECT_TRUE(torch::equal(a.image, b.image)) << static_cast<int>(net);
    EXPECT_EQ(a.history.back().loss, b.history.back().loss);
    EXPECT_FALSE(torch::equal(a.image, c.image));
  }
}

TEST(DipBaselines, DefaultsOverridesAndErrors) {
  const auto img = smooth_image(1, 16, 16);
  auto o = options(DipNetwork::Original, 2);
  o.input_noise = 0.0;  // no perturbation: the same fixed input every iteration
  o.lr = 1e-3;
  EXPECT_EQ(train::dip_restore(img, o).iterations, 2);
  o.input_noise = -1.0;
  EXPECT_THROW(train::dip_restore(img, o), Error);
  auto lipschitz = options(DipNetwork::DeepDecoder, 1);
  lipschitz.lambda = 1.4;  // the Lipschitz bound belongs to the Decoder
  EXPECT_THROW(train::dip_restore(img, lipschitz), Error);
  auto gaussian = options(DipNetwork::Original, 1);
  gaussian.upsampling = Upsampling::Gaussian;
  EXPECT_THROW(train::dip_restore(img, gaussian), Error);
  EXPECT_EQ(train::parse_dip_network("decoder"), DipNetwork::Decoder);
  EXPECT_EQ(train::parse_dip_network("dip"), DipNetwork::Original);
  EXPECT_EQ(train::parse_dip_network("deep-decoder"), DipNetwork::DeepDecoder);
  EXPECT_THROW(train::parse_dip_network("unet"), Error);
}

TEST(DipBaselines, CliNetworkChoice) {
  testing::TempDir dir;
  image::write_image(dir.file("in.png"), smooth_image(3, 21, 27));
  for (const std::string net : {"dip", "deep-decoder"}) {
    const auto out = dir.file(net + ".png");
    const auto r =
        testing::run_strata({"--device", "cpu", "-q", "--json", "restore", "denoise",
                             dir.file("in.png"), "-o", out, "--net", net, "--max-iters", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("\"network\": \"" + net + "\""), std::string::npos) << r.out;
    EXPECT_EQ(image::read_image(out).sizes(), (std::vector<std::int64_t>{3, 21, 27}));
  }
  const auto bad = testing::run_strata(
      {"restore", "denoise", dir.file("in.png"), "-o", dir.file("x.png"), "--net", "unet"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err.rfind("strata: error:", 0), 0u) << bad.err;
  EXPECT_EQ(bad.err.find('\n'), bad.err.size() - 1) << bad.err;  // one line
  EXPECT_NE(bad.err.find("--net"), std::string::npos) << bad.err;
  const auto lambda = testing::run_strata({"restore", "denoise", dir.file("in.png"), "-o",
                                           dir.file("x.png"), "--net", "dip", "--lambda", "2"});
  EXPECT_EQ(lambda.exit_code, 1);
  EXPECT_NE(lambda.err.find("decoder network only"), std::string::npos) << lambda.err;
  EXPECT_FALSE(path_exists(dir.file("x.png")));
}

}  // namespace
}  // namespace strata::models
