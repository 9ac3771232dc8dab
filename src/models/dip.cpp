#include "strata/models/dip.hpp"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "strata/core/error.hpp"
#include "strata/nn/layers.hpp"

namespace strata::models {

namespace {

namespace tnn = torch::nn;

constexpr double kSlope = 0.01;  // LeakyReLU

// unetConv2: [3×3 Lipschitz conv, mean-only norm, LeakyReLU 0.01] × 2.
tnn::Sequential unet_conv2(int in, int out, const DipDecoderOptions& o) {
  tnn::Sequential s;
  for (const int c_in : {in, out}) {
    s->push_back(
        nn::LipschitzConv2d(nn::LipschitzConvOptions{c_in, out, 3, o.lambda, o.spectral_norm, 1}));
    s->push_back(nn::MeanOnlyNorm(out));
    s->push_back(tnn::LeakyReLU(tnn::LeakyReLUOptions().negative_slope(kSlope)));
  }
  return s;
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
  {
    std::vector<torch::Tensor> u;
    for (auto* layer : grouped_layers()) u.push_back(layer->named_buffers()["u"]);
    if (!u.empty()) group_u_ = register_buffer("lipschitz_u", torch::stack(u));
  }
  head_ = register_module("head",
                          tnn::Conv2d(tnn::Conv2dOptions(options.width, options.out_channels, 1)));
  // He (kaiming-uniform, a = 0) weights like every other layer (thesis §2.5; the authors' conv()):
  // LibTorch's default bound 1/√fan_in started the output 2.45× weaker.
  torch::NoGradGuard no_grad;
  for (std::size_t level = 0; level < blocks_.size(); ++level)
    for (std::size_t j = 0; j < 2; ++j) {
      auto parameters = conv(level, j)->named_parameters();
      parameters["bias"].requires_grad_(false);  // unused in forward(): cancelled by the norm
      // Channels-last activations: channels-last weights, which cuDNN takes as they are (no
      // layout conversion of each weight before the forward and the backward convolutions, and
      // of its gradient after); their normalisation reads them as (C_out, k·k·C_in) matrices.
      if (options.channels_last)
        parameters["weight"].set_data(
            parameters["weight"].contiguous(torch::MemoryFormat::ChannelsLast));
    }
  const double fan_in = options.width;
  head_->weight.uniform_(-std::sqrt(6.0 / fan_in), std::sqrt(6.0 / fan_in));
}

nn::LipschitzConv2dImpl* DipDecoderImpl::conv(std::size_t level, std::size_t j) const {
  return blocks_[level]->ptr(3 * j)->as<nn::LipschitzConv2dImpl>();
}

// Every 3×3 layer but a first one whose input width differs; with power iteration and λ > 0 only.
std::vector<nn::LipschitzConv2dImpl*> DipDecoderImpl::grouped_layers() const {
  std::vector<nn::LipschitzConv2dImpl*> layers;
  if (options_.spectral_norm != nn::SpectralNorm::Power || options_.lambda <= 0.0) return layers;
  for (std::size_t level = 0; level < blocks_.size(); ++level)
    for (std::size_t j = 0; j < 2; ++j)
      if (level > 0 || j > 0 || options_.input_channels == options_.width)
        layers.push_back(conv(level, j));
  return layers;
}

namespace {

// values[g] of the g-th grouped layer at that layer's place among all `layers` (grouped is a
// subsequence of layers); undefined at the other places.
std::vector<torch::Tensor> in_layer_order(const std::vector<nn::LipschitzConv2dImpl*>& layers,
                                          const std::vector<nn::LipschitzConv2dImpl*>& grouped,
                                          const std::vector<torch::Tensor>& values) {
  std::vector<torch::Tensor> out(layers.size());
  for (std::size_t i = 0, g = 0; i < layers.size() && g < grouped.size(); ++i)
    if (grouped[g] == layers[i]) out[i] = values[g++];
  return out;
}

}  // namespace

// The 3×3 layers' weights in the compute dtype, in order (undefined: the layer's own
// normalisation): once every vector is warm all in one go by the CUDA kernels
// (nn::fused_effective_weights), else the grouped width→width layers in one batched
// normalisation (a few kernels instead of ~15 each).
std::vector<torch::Tensor> DipDecoderImpl::effective_weights() {
  std::vector<nn::LipschitzConv2dImpl*> layers;
  for (std::size_t level = 0; level < blocks_.size(); ++level)
    for (std::size_t j = 0; j < 2; ++j) layers.push_back(conv(level, j));
  const auto grouped = grouped_layers();
  if (group_warm_) {  // the group's vectors (views of group_u_, updated in place)
    const auto us = in_layer_order(layers, grouped, group_u_.unbind(0));
    if (auto fused = nn::fused_effective_weights(layers, us, options_.compute_dtype, true);
        !fused.empty())
      return fused;
  }
  if (grouped.empty()) return std::vector<torch::Tensor>(layers.size());
  return in_layer_order(
      layers, grouped,
      nn::batched_effective_weights(grouped, group_u_, group_warm_, options_.compute_dtype));
}

// The unetConv2 blocks run layer by layer: each convolution takes an input already padded, and
// its mean-only norm, LeakyReLU, the ×2 upsampling after the block's second layer and the next
// layer's padding are one nn::mean_norm_act_pad (one pass each way on CUDA channels-last); the
// last one and the 1×1 head are one nn::mean_norm_act_pointwise. The
// convolutions skip their biases: the mean-only norm right after subtracts every plane's mean,
// so a per-channel constant cancels exactly (its gradient is exactly zero; the biases are frozen
// in the constructor).
torch::Tensor DipDecoderImpl::forward(const torch::Tensor& z) {
  auto x = z.to(options_.compute_dtype);
  if (options_.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  const auto weights = effective_weights();
  std::size_t k = 0;
  auto padded = nn::reflection_pad(x, 1);
  const std::size_t last = blocks_.size() - 1;
  for (std::size_t level = 0;; ++level)
    for (std::size_t j = 0; j < 2; ++j) {
      const auto y = conv(level, j)->convolve(padded, false, weights[k++]);
      const auto& beta = blocks_[level]->ptr(3 * j + 1)->as<nn::MeanOnlyNormImpl>()->beta();
      if (level == last && j == 1)  // the last norm and the 1×1 head, without the activation stored
        return torch::sigmoid(
            nn::mean_norm_act_pointwise(y, beta, kSlope, head_->weight, head_->bias, true));
      if (j == 0 || options_.upsampling == Upsampling::Bilinear) {
        padded = nn::mean_norm_act_pad(y, beta, kSlope, 1, j == 1, true);
      } else {  // Gaussian-controlled upsampling (Eq. 2.6) between the norm and the padding
        const auto a = nn::mean_norm_act_pad(y, beta, kSlope, 0, false, true);
        padded = nn::reflection_pad(nn::gaussian_upsample(a, options_.sigmas.at(level)), 1);
      }
    }
}

torch::Tensor fourier_input(std::int64_t h, std::int64_t w, int channels, std::uint64_t seed) {
  check(channels >= 2 && channels % 2 == 0 && h >= 1 && w >= 1, "",
        "fourier_input: an even channel count and a positive size");
  auto gen = at::detail::createCPUGenerator(seed);
  const auto u = torch::rand({1, channels / 2, h, w}, gen, torch::TensorOptions());
  return torch::cat({torch::sin(2.0 * M_PI * u), torch::cos(2.0 * M_PI * u)}, 1);
}

}  // namespace strata::models
