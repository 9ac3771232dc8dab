// Restoration with the deep image prior and controlled spectral bias (thesis ch. 2): a
// DipDecoder (or one of the baselines: the original deep image prior, the Deep Decoder) fitted to
// one degraded image through the task's forward model, stopped automatically by the
// blur/sharpness ratio (Eq. 2.8) or an iteration cap.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "strata/models/dip.hpp"

namespace strata::train {

enum class RestoreTask { Denoise, Deblock, Inpaint, SuperResolution, Enhance };

/// "denoise", "deblock", "inpaint", "sr", "enhance"; throws strata::Error otherwise.
RestoreTask parse_restore_task(const std::string& name);

/// The network fitted to the image: the thesis's Decoder ("ours"), the original deep image
/// prior's skip encoder-decoder, or the Deep Decoder.
enum class DipNetwork { Decoder, Original, DeepDecoder };

/// The Decoder's fixed input (1/32 of the output size, 32 channels).
enum class DecoderInput {
  Fourier,  ///< [sin 2πu, cos 2πu], u ~ U[0, 1) (the authors' code)
  Uniform,  ///< U[0, 0.1) (the thesis, §2.5)
};

/// "decoder", "dip", "deep-decoder"; throws strata::Error otherwise.
DipNetwork parse_dip_network(const std::string& name);

struct RestoreProgress {
  int iteration = 0;
  double loss = 0.0;
  double psnr = 0.0;        ///< against the reference, NaN without one
  double ratio = 0.0;       ///< blur / sharpness of the output (Eq. 2.8)
  std::vector<double> fbc;  ///< frequency-band correspondence (Eq. 2.1) when requested
};

struct RestoreOptions {
  RestoreTask task = RestoreTask::Denoise;
  int scale = 4;       ///< super-resolution factor
  torch::Tensor mask;  ///< inpainting: 1×H×W, 1 = known pixel, 0 = missing
  int max_iterations = 3000;
  DipNetwork network = DipNetwork::Decoder;
  /// Adam's learning rate; 0: the network's default (Decoder 1e-3, Original and DeepDecoder 0.01).
  double lr = 0.0;
  /// σ of the Gaussian perturbation added to the fixed input every iteration (reg_noise_std);
  /// unset: the network's default (Original 1/30, the others 0).
  std::optional<double> input_noise;
  /// Decoder only: the Lipschitz bound; 0: the task's default (denoise: denoise_lambda of the
  /// noise σ estimated from the image; deblock 1.8, sr 1.4, inpainting 1.6, enhance 1.0).
  double lambda = 0.0;
  models::Upsampling upsampling = models::Upsampling::Bilinear;  ///< Decoder only
  /// Decoder only, Gaussian upsampling: σ per level (5 values) or one for every level; empty:
  /// the authors' code's 0.1, 0.1, 0.1, 0.5, 0.5.
  std::vector<double> gaussian_sigmas;
  DecoderInput decoder_input = DecoderInput::Fourier;        ///< Decoder only
  nn::SpectralNorm spectral_norm = nn::SpectralNorm::Power;  ///< Decoder only
  /// Decoder only: activations and convolutions in bfloat16 (CUDA) or float32 (float16
  /// overflows: the fit turned to NaN within 300 iterations on a 512² image).
  torch::Dtype compute_dtype = torch::kFloat32;
  /// Decoder on CUDA: channels-last activations, so that the mean-only norm, LeakyReLU,
  /// upsampling and padding run as strata's NHWC kernels (ignored on the CPU and by the
  /// baselines).
  bool channels_last = true;
  bool auto_stop = true;
  /// On CUDA, record one iteration as a CUDA graph and replay it (builds with the CUDA kernels;
  /// not for sr, Gaussian upsampling or input noise). Same arithmetic as the eager loop.
  bool cuda_graph = true;
  int stop_window = 100;         ///< n of Eq. 2.8
  double stop_epsilon = 0.01;    ///< ε of Eq. 2.8
  torch::Tensor reference;       ///< clean image (C×H_out×W_out) for PSNR, optional
  bool frequency_bands = false;  ///< log FBC every iteration (costs an FFT)
  std::uint64_t seed = 0;
  torch::Device device = torch::kCPU;
  /// Every iteration, in order; on CUDA the calls come in batches of up to 25 (one host sync).
  std::function<void(const RestoreProgress&)> on_progress;
};

struct RestoreResult {
  torch::Tensor image;  ///< C×H_out×W_out in [0, 1] (H_out = scale·H for sr)
  int iterations = 0;
  bool auto_stopped = false;
  std::vector<RestoreProgress> history;
  double lambda = 0.0;  ///< the Lipschitz bound used (Decoder; 0 for the baselines)
  std::optional<double>
      noise_sigma;  ///< denoise with the default λ: the estimated σ (0-255) it came from
};

/// The Decoder's default λ for denoising an image whose estimated noise σ (eval::
/// estimate_noise_sigma, 0-255 scale) is `noise_sigma`: 1.6 up to σ 15, 1.4 at 24, 1.2 from 45 on,
/// linear in between. Measured on CBSD68 (docs/benchmarks.md): the best of the λ tried at σ 15, 25
/// and 50 was 1.6, 1.4 and 1.2, where the estimate reads 15.4, 24.3 and 44.9 on average.
double denoise_lambda(double noise_sigma);

/// Restores a degraded C×H×W image in [0, 1] (C = 1 or 3). The network output covers the image
/// padded up to a multiple of 32, at least 64, and is cropped back (no pixels dropped).
RestoreResult dip_restore(const torch::Tensor& degraded, const RestoreOptions& options);

}  // namespace strata::train
