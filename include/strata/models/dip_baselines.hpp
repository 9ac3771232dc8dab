// The two deep-image-prior baselines of thesis ch. 2, built like the authors' published code:
// the original deep image prior's "skip" encoder-decoder (Ulyanov, Vedaldi & Lempitsky, CVPR 2018
// / IJCV 2020; models/skip.py with the denoising/inpainting settings) and the Deep Decoder (Heckel
// & Hand, ICLR 2019; include/decoder.py, decodernw). Both use BatchNorm with batch statistics in
// training and eval mode alike, as the authors' code (always in training mode) does.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/upsampling.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace strata::models {

struct DipSkipOptions {
  int in_channels = 32;
  int out_channels = 3;
  int levels = 5;           ///< ×2 downsamplings (and upsamplings)
  int down_channels = 128;  ///< per level
  int up_channels = 128;
  int skip_channels = 4;
};

/// The original deep image prior's encoder-decoder with skip connections. Level i of `levels`:
///   skip  = conv1×1(→ skip) → BN → LeakyReLU(0.2)
///   down  = conv3×3 stride 2 → BN → LeakyReLU → conv3×3 → BN → LeakyReLU → [level i+1]
///           → bilinear ×2
///   level = BN(concat(skip, down)) → conv3×3(→ up) → BN → LeakyReLU → conv1×1 → BN → LeakyReLU
/// then conv1×1(→ out) and a sigmoid. Every convolution has a bias and reflection padding.
/// 2,217,831 trainable parameters for 3 output channels (2,217,573 for 1), as published.
class DipSkipImpl : public torch::nn::Module {
 public:
  explicit DipSkipImpl(const DipSkipOptions& options = {});
  /// z: N×in_channels×H×W → N×out_channels×H×W in (0, 1). Sizes that are no multiple of
  /// 2^levels are centre-cropped where the branches meet (the Concat of models/common.py); the
  /// deepest level needs H, W > 2^levels.
  torch::Tensor forward(const torch::Tensor& z);

 private:
  std::vector<torch::nn::Sequential> skip_, down_, up_;
  torch::nn::Upsample upsample_{nullptr};
  torch::nn::Conv2d head_{nullptr};
  torch::Tensor level(std::size_t i, const torch::Tensor& x);
};
TORCH_MODULE(DipSkip);

struct DeepDecoderOptions {
  int out_channels = 3;
  int width = 128;      ///< k, channels of every layer (and of the input)
  int upsamplings = 5;  ///< layers = upsamplings + 1
};

/// The Deep Decoder: `upsamplings` layers of conv1×1 → bilinear ×2 → ReLU → BN (affine), one more
/// layer without the upsampling, then conv1×1(→ out) and a sigmoid. No convolution has a bias.
/// 100,224 trainable parameters for 3 output channels (99,968 for 1), as published for k = 128.
class DeepDecoderImpl : public torch::nn::Module {
 public:
  explicit DeepDecoderImpl(const DeepDecoderOptions& options = {});
  /// z: N×width×h×w → N×out_channels×(h·2^upsamplings)×(w·2^upsamplings) in (0, 1).
  torch::Tensor forward(const torch::Tensor& z);

 private:
  torch::nn::Sequential body_;
};
TORCH_MODULE(DeepDecoder);

/// The baselines' fixed input: 1×channels×h×w uniform noise in [0, scale), from `seed`.
torch::Tensor uniform_input(int channels, std::int64_t h, std::int64_t w, double scale,
                            std::uint64_t seed);

}  // namespace strata::models
