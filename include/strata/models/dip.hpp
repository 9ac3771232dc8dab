// The deep-image-prior decoder with controlled spectral bias (thesis ch. 2; reference-facts §3.2):
// a fixed Fourier-feature input, unetConv2(32→128), five ×2 upsamplings each followed by
// unetConv2(128→128), a 1×1 output convolution and a sigmoid; no skips, no encoder.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "strata/nn/lipschitz.hpp"

namespace strata::models {

enum class Upsampling { Bilinear, Gaussian };

struct DipDecoderOptions {
  int out_channels = 3;
  int width = 128;
  int input_channels = 32;
  int levels = 5;       ///< ×2 upsamplings: the output is 2^levels times the input size
  double lambda = 1.4;  ///< Lipschitz bound of every 3×3 convolution (0: none)
  nn::SpectralNorm spectral_norm = nn::SpectralNorm::Power;
  Upsampling upsampling = Upsampling::Bilinear;
  std::vector<double> sigmas = {0.1, 0.1, 0.1, 0.5, 0.5};  ///< Gaussian σ per level
  /// Dtype of the activations and convolutions (float32, or bfloat16/float16 on CUDA); the
  /// parameters, the Lipschitz normalisation and the 1×1 output layer stay float32.
  torch::Dtype compute_dtype = torch::kFloat32;
  bool channels_last = false;  ///< activations in channels-last memory format
};

/// 1,662,339 trainable parameters for 3 output channels (1,662,081 for 1), as published.
class DipDecoderImpl : public torch::nn::Module {
 public:
  explicit DipDecoderImpl(const DipDecoderOptions& options = {});
  /// z: N×input_channels×h×w → N×out_channels×(h·2^levels)×(w·2^levels) in (0, 1).
  torch::Tensor forward(const torch::Tensor& z);

 private:
  DipDecoderOptions options_;
  std::vector<torch::nn::Sequential> blocks_;  // unetConv2 per level (block 0 before upsampling)
  torch::nn::Conv2d head_{nullptr};
  // The width→width 3×3 layers, normalised together (nn::batched_effective_weights) from the
  // power-iteration vectors in the buffer lipschitz_u.
  torch::Tensor group_u_;
  bool group_warm_ = false;
  std::vector<nn::LipschitzConv2dImpl*> grouped_layers() const;
  std::vector<torch::Tensor> effective_weights();
  nn::LipschitzConv2dImpl* conv(std::size_t level, std::size_t j) const;
};
TORCH_MODULE(DipDecoder);

/// The fixed 'fourier' input: u ~ U[0, 1) of shape (channels/2)×h×w, z = [sin 2πu, cos 2πu]
/// (1×channels×h×w), from `generator_seed`.
torch::Tensor fourier_input(std::int64_t h, std::int64_t w, int channels, std::uint64_t seed);

}  // namespace strata::models
