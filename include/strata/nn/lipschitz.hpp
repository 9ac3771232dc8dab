// Layers of the deep-image-prior decoder with controlled spectral bias (thesis ch. 2):
// Lipschitz-normalised convolution (Eq. 2.5), mean-only batch norm and the Gaussian-controlled
// upsampling (Eq. 2.6).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <vector>

namespace strata::nn {

/// How the top singular value ‖W‖_sn of a (C_out, C_in·k·k) weight is obtained.
enum class SpectralNorm {
  Exact,  ///< singular values of the weight matrix every forward pass
  Power   ///< power iteration warm-started from the previous pass's vector
};

/// ‖W‖_sn of a conv weight reshaped to (C_out, C_in·k·k), exactly (largest singular value).
double spectral_norm_exact(const torch::Tensor& weight);

struct LipschitzConvOptions {
  int in = 1, out = 1, kernel = 3;
  double lambda = 0.0;  ///< Lipschitz bound λ; 0 disables the normalisation
  SpectralNorm method = SpectralNorm::Power;
  /// per forward pass (the first pass starts from the exact top singular vector)
  int power_iterations = 1;
};

/// Reflection padding (k−1)/2 and a k×k convolution, computed in the input's dtype (float32
/// parameters are cast, e.g. to bfloat16, so gradients reach them in float32), whose weight is
/// used as
/// W / max(1, ‖W‖_sn / λ) (thesis Eq. 2.5), with no gradient through ‖W‖_sn. Initialisation:
/// kaiming-uniform (a = 0, fan_in) weights, default bias.
class LipschitzConv2dImpl : public torch::nn::Module {
 public:
  explicit LipschitzConv2dImpl(const LipschitzConvOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  /// The convolution alone, on an input already reflect-padded by (k−1)/2 (e.g. by
  /// mean_norm_act_pad); without the bias when !bias; with `weight` (in the input's dtype, e.g.
  /// from batched_effective_weights) instead of effective_weight() when given.
  torch::Tensor convolve(const torch::Tensor& padded, bool bias = true,
                         const torch::Tensor& weight = {});
  /// The ‖W‖_sn estimate of the last forward pass (0 before any or with λ = 0).
  double last_spectral_norm() const;
  /// The weight actually used: W / max(1, ‖W‖_sn / λ).
  torch::Tensor effective_weight();

 private:
  LipschitzConvOptions options_;
  torch::Tensor weight_, bias_, u_;  // u_: power-iteration vector (C_out), a buffer
  torch::Tensor last_norm_;          // 0-dim, on the weight's device
  bool warm_ = false;
  torch::Tensor spectral_norm();
  friend std::vector<torch::Tensor> batched_effective_weights(
      const std::vector<LipschitzConv2dImpl*>& layers, torch::Tensor& u, bool& warm,
      torch::Dtype dtype);
  friend std::vector<torch::Tensor> fused_effective_weights(
      const std::vector<LipschitzConv2dImpl*>& layers, const std::vector<torch::Tensor>& us,
      torch::Dtype dtype, bool add_into_grad);
};
TORCH_MODULE(LipschitzConv2d);

/// The effective weights (Eq. 2.5) of LipschitzConv2d layers of one shape and one λ (power
/// iteration) computed together, cast to `dtype`: one batched power iteration per call for all of
/// them on the stacked weights, instead of ~15 small kernels per layer. The vectors live in `u`
/// (layers × C_out, updated in place; e.g. a buffer of the parent module), not in the layers;
/// while `warm` is false the vectors first start from the exact top singular vectors (an
/// eigendecomposition of W Wᵀ; then `warm` is set). Sets each
/// layer's last_spectral_norm(). Differentiable with respect to the weights (not through ‖W‖_sn).
std::vector<torch::Tensor> batched_effective_weights(
    const std::vector<LipschitzConv2dImpl*>& layers, torch::Tensor& u, bool& warm,
    torch::Dtype dtype);

/// One warm power-iteration step and the effective weights (Eq. 2.5) of up to 16 LipschitzConv2d
/// layers of any shapes (one λ > 0, power iteration, one iteration per pass, float32 CUDA
/// weights, contiguous or channels-last) by strata's CUDA kernels: three kernels for all of them
/// instead of ~15 small ones per layer, the weights written in `dtype` in their own memory format,
/// and one kernel for the backward pass. `add_into_grad`: it adds the leaf weights' gradients
/// straight into their .grad instead of returning them (as nn::mean_norm_act_pad's β; invisible to
/// torch::autograd::grad, backward(inputs) and gradient hooks). us[i]: layer i's vector (C_out,
/// float32, contiguous, updated in place), or undefined for the layer's own, which must be warm (a
/// previous forward pass). Sets each layer's last_spectral_norm(). Returns an empty vector where
/// the kernels do not apply (CPU, a build without the CUDA kernels, other layers or options): the
/// caller then takes the other paths.
std::vector<torch::Tensor> fused_effective_weights(const std::vector<LipschitzConv2dImpl*>& layers,
                                                   const std::vector<torch::Tensor>& us,
                                                   torch::Dtype dtype, bool add_into_grad = false);

/// Mean-only batch norm: y = x − mean_{H,W}(x) per sample and channel, + β_c (β starts at 0);
/// no scale, no running statistics.
class MeanOnlyNormImpl : public torch::nn::Module {
 public:
  explicit MeanOnlyNormImpl(int channels);
  torch::Tensor forward(const torch::Tensor& x);
  const torch::Tensor& beta() const { return beta_; }

 private:
  torch::Tensor beta_;
};
TORCH_MODULE(MeanOnlyNorm);

/// The 5×5 taps of the Gaussian-controlled upsampling: g(i, j) ∝ exp(−(dᵢ² + dⱼ²) / (2σ²)),
/// dᵢ = (i − 2)/2 for i = 0..4 (distances in input-pixel units), normalised to sum 1.
torch::Tensor gaussian_upsampling_taps(double sigma);

/// ×2 upsampling by bed-of-nails expansion (zeros between samples) followed by the Gaussian of
/// gaussian_upsampling_taps(σ) (thesis Eq. 2.6), per channel; output 2H × 2W. DC gain is 1/4, as
/// in the authors' code (the mean-only norm that follows removes the mean anyway).
torch::Tensor gaussian_upsample(const torch::Tensor& x, double sigma);

}  // namespace strata::nn
