#include "strata/models/dip.hpp"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "strata/core/error.hpp"

namespace strata::models {

namespace {

namespace tnn = torch::nn;

// unetConv2: [3×3 Lipschitz conv, mean-only norm, LeakyReLU 0.01] × 2.
tnn::Sequential unet_conv2(int in, int out, const DipDecoderOptions& o) {
  tnn::Sequential s;
  for (const int c_in : {in, out}) {
    s->push_back(
        nn::LipschitzConv2d(nn::LipschitzConvOptions{c_in, out, 3, o.lambda, o.spectral_norm, 1}));
    s->push_back(nn::MeanOnlyNorm(out));
    s->push_back(tnn::LeakyReLU(tnn::LeakyReLUOptions().negative_slope(0.01)));
  }
  return s;
}

torch::Tensor upsample(const torch::Tensor& x, const DipDecoderOptions& o, std::size_t level) {
  namespace F = torch::nn::functional;
  if (o.upsampling == Upsampling::Gaussian) return nn::gaussian_upsample(x, o.sigmas.at(level));
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .scale_factor(std::vector<double>{2.0, 2.0})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

}  // namespace

DipDecoderImpl::DipDecoderImpl(const DipDecoderOptions& options) : options_(options) {
  check(options.levels >= 1 && options.width >= 1 && options.out_channels >= 1, "",
        "DipDecoder: levels, width and out_channels must be >= 1");
  check(options.upsampling == Upsampling::Bilinear ||
            options.sigmas.size() >= static_cast<std::size_t>(options.levels),
        "", "DipDecoder: one Gaussian σ per level");
  for (int i = 0; i <= options.levels; ++i)
    blocks_.push_back(register_module(
        "block" + std::to_string(i),
        unet_conv2(i == 0 ? options.input_channels : options.width, options.width, options)));
  head_ = register_module("head",
                          tnn::Conv2d(tnn::Conv2dOptions(options.width, options.out_channels, 1)));
  // He (kaiming-uniform, a = 0) weights like every other layer (thesis §2.5; the authors' conv()):
  // LibTorch's default bound 1/√fan_in started the output 2.45× weaker.
  torch::NoGradGuard no_grad;
  const double fan_in = options.width;
  head_->weight.uniform_(-std::sqrt(6.0 / fan_in), std::sqrt(6.0 / fan_in));
}

torch::Tensor DipDecoderImpl::forward(const torch::Tensor& z) {
  auto x = z.to(options_.compute_dtype);
  if (options_.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  x = blocks_[0]->forward(x);
  for (std::size_t level = 1; level < blocks_.size(); ++level)
    x = blocks_[level]->forward(upsample(x, options_, level - 1));
  return torch::sigmoid(head_->forward(x.to(torch::kFloat32)));
}

torch::Tensor fourier_input(std::int64_t h, std::int64_t w, int channels, std::uint64_t seed) {
  check(channels >= 2 && channels % 2 == 0 && h >= 1 && w >= 1, "",
        "fourier_input: an even channel count and a positive size");
  auto gen = at::detail::createCPUGenerator(seed);
  const auto u = torch::rand({1, channels / 2, h, w}, gen, torch::TensorOptions());
  return torch::cat({torch::sin(2.0 * M_PI * u), torch::cos(2.0 * M_PI * u)}, 1);
}

}  // namespace strata::models
