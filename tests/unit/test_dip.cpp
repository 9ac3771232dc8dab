// Deep-image-prior decoder: the published size, Lipschitz normalisation (exact and power
// iteration), Gaussian-controlled upsampling taps, shapes and ranges.
#include <torch/torch.h>

#include "strata/core/error.hpp"
#include "strata/models/dip.hpp"
#include "strata/nn/lipschitz.hpp"
#include "testing.hpp"

namespace strata::models {
namespace {

std::int64_t trainable(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

TEST(DipDecoder, PublishedParameterCounts) {
  EXPECT_EQ(trainable(*DipDecoder()), 1662339);
  DipDecoderOptions gray;
  gray.out_channels = 1;
  EXPECT_EQ(trainable(*DipDecoder(gray)), 1662081);
}

TEST(DipDecoder, ShapesAndRange) {
  torch::manual_seed(0);
  for (const auto up : {Upsampling::Bilinear, Upsampling::Gaussian}) {
    DipDecoderOptions o;
    o.width = 16;  // small and fast; the layout is the same
    o.upsampling = up;
    DipDecoder net(o);
    const auto z = fourier_input(4, 6, 32, 7);
    EXPECT_EQ(z.sizes(), (std::vector<std::int64_t>{1, 32, 4, 6}));
    EXPECT_LE(z.abs().max().item<double>(), 1.0);
    const auto y = net->forward(z);
    EXPECT_EQ(y.sizes(), (std::vector<std::int64_t>{1, 3, 128, 192}));
    EXPECT_GT(y.min().item<double>(), 0.0);
    EXPECT_LT(y.max().item<double>(), 1.0);
  }
  EXPECT_EQ(torch::equal(fourier_input(4, 6, 32, 7), fourier_input(4, 6, 32, 7)), true);
}

TEST(Lipschitz, ExactNormalisationBoundsTheSpectralNorm) {
  torch::manual_seed(1);
  nn::LipschitzConv2d conv(nn::LipschitzConvOptions{128, 128, 3, 1.4, nn::SpectralNorm::Exact, 1});
  // kaiming-uniform 128×1152 has ‖W‖ ≈ 1.86 (reference-facts §3.2), scaled to exactly λ.
  const double raw = nn::spectral_norm_exact(conv->named_parameters()["weight"]);
  EXPECT_NEAR(raw, 1.86, 0.1);
  EXPECT_NEAR(nn::spectral_norm_exact(conv->effective_weight()), 1.4, 1e-6);
  // Below λ nothing changes.
  nn::LipschitzConv2d loose(nn::LipschitzConvOptions{128, 128, 3, 5.0, nn::SpectralNorm::Exact, 1});
  EXPECT_TRUE(torch::equal(loose->effective_weight(), loose->named_parameters()["weight"]));
}

TEST(Lipschitz, PowerIterationMatchesSvd) {
  torch::manual_seed(2);
  nn::LipschitzConv2d conv(nn::LipschitzConvOptions{64, 32, 3, 1.0, nn::SpectralNorm::Power, 1});
  const auto x = torch::randn({1, 64, 8, 8});
  auto w = conv->named_parameters()["weight"];
  for (int step = 0; step < 5; ++step) {
    conv->forward(x);
    const double exact = nn::spectral_norm_exact(w);
    EXPECT_NEAR(conv->last_spectral_norm() / exact, 1.0, 1e-3) << step;
    torch::NoGradGuard no_grad;
    w.add_(1e-3 * torch::randn_like(w).sign());  // an Adam-sized step (lr 1e-3)
  }
  // No gradient flows through the norm, but the weight still gets one.
  conv->forward(x).sum().backward();
  EXPECT_TRUE(w.grad().defined());
}

TEST(GaussianUpsampling, TapsAndBedOfNails) {
  const auto taps = nn::gaussian_upsampling_taps(0.5);
  const double row[] = {0.0219, 0.0983, 0.1621, 0.0983, 0.0219};  // reference-facts §3.2
  for (int j = 0; j < 5; ++j) EXPECT_NEAR(taps[2][j].item<double>(), row[j], 1e-4);
  EXPECT_NEAR(taps.sum().item<double>(), 1.0, 1e-6);
  // σ = 0.1 is nearly pure zero insertion (neighbour weight e^-12.5 ≈ 4e-6).
  const auto x = torch::rand({1, 2, 3, 4});
  const auto y = nn::gaussian_upsample(x, 0.1);
  EXPECT_EQ(y.sizes(), (std::vector<std::int64_t>{1, 2, 6, 8}));
  using torch::indexing::Slice;
  EXPECT_LT(
      (y.index({Slice(), Slice(), Slice(0, 6, 2), Slice(0, 8, 2)}) - x).abs().max().item<double>(),
      1e-4);
  EXPECT_LT(y.index({Slice(), Slice(), Slice(1, 6, 2), Slice()}).abs().max().item<double>(), 1e-4);
  EXPECT_THROW(nn::gaussian_upsampling_taps(0.0), Error);
}

}  // namespace
}  // namespace strata::models
