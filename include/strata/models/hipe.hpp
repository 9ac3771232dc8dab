// HIPe: hierarchical image peeling (seed 000, §2.2; reference-facts §1.2-1.3). The guider G
// predicts edge guidance maps G^1..G^n from an image by a recurrence in feature space, the peeler
// P maps (I^{t-1}, G^t) to the component C^t, and I^t = I^{t-1} - C^t, so that
// I = C^1 + ... + C^n + I^n.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <vector>

namespace strata::nn {
class StageGraphs;
}

namespace strata::models {

/// How a network runs one of its stages (a Sequential) on an input: its own forward on whole
/// tensors, or layer streaming in tiles (hipe_peel with PeelOptions::tile).
using StageRunner = std::function<torch::Tensor(torch::nn::Sequential&, const torch::Tensor&)>;

/// The guider (246,113 parameters): head ConvBlock 3→32, 4 residual blocks, a shared recurrent
/// cell S of 9 residual blocks with dilations 1,1,2,2,4,4,8,8,1, a shared mask head M 32→16→1
/// with a sigmoid; reflection padding, instance norm without affine parameters.
/// F^0 = body(head(I)), F^t = S(F^{t-1}), G^t = M(F^t).
class HipeGuiderImpl : public torch::nn::Module {
 public:
  HipeGuiderImpl();

  /// G^1..G^levels (each N×1×H×W in (0, 1)) of an N×3×H×W image in [0, 1]; any H, W >= 9.
  std::vector<torch::Tensor> forward(const torch::Tensor& image, int levels);
  /// The same with every stage run by `run`.
  std::vector<torch::Tensor> forward(const torch::Tensor& image, int levels,
                                     const StageRunner& run);

 private:
  torch::nn::Sequential head_, body_, state_, mask_;
};
TORCH_MODULE(HipeGuider);

/// The peeler (920,195 parameters): 6→64 and 64→64 convolutions, a stride-2 convolution, 10
/// dilated residual blocks (2,2,4,4,8,8,16,16,1,1), a transposed convolution back to full
/// resolution, a convolution and a linear 64→3 output; instance norm, 64 channels.
class HipePeelerImpl : public torch::nn::Module {
 public:
  HipePeelerImpl();

  /// The component C^t (N×3×H×W) peeled from I^{t-1} (N×3×H×W) under guidance G^t (N×1×H×W);
  /// H and W must be even (hipe_peel pads any size).
  torch::Tensor forward(const torch::Tensor& image, const torch::Tensor& guidance);
  /// The same with the network run by `run`.
  torch::Tensor forward(const torch::Tensor& image, const torch::Tensor& guidance,
                        const StageRunner& run);

 private:
  torch::nn::Sequential net_;
};
TORCH_MODULE(HipePeeler);

struct PeelOptions {
  int levels = 4;
  /// User guidance instead of the guider's: empty (use the guider), one map for every level or
  /// one per level; each C×h×w or N×C×h×w (C = 1, or 3 averaged to one), any size (resized
  /// bilinearly to the image), values in [0, 1].
  std::vector<torch::Tensor> guidance;
  /// The dtype the networks run in (the modules must already have it, e.g. module->to(kHalf));
  /// the recurrence I^t = I^{t-1} - C^t and every output stay float32.
  torch::ScalarType dtype = torch::kFloat32;
  /// Feed the networks channels-last tensors (convert the modules with nn::to_channels_last).
  bool channels_last = false;
  /// Tiled inference (layer streaming, docs/hipe.md): > 0 keeps every full-size activation
  /// float32 in host memory and computes each layer in tiles of tile×tile output pixels on the
  /// modules' device, which then holds one tile of one layer; the results equal the untiled ones
  /// up to float rounding. 0: whole tensors on the image's device.
  int tile = 0;
  /// CUDA graphs (untiled, on CUDA; nn::StageGraphs): with a cache, every network stage is
  /// recorded on its second call with an input shape and replayed after, with the same results.
  /// Worth it for many calls on images of one size (give the same cache to each call on the same
  /// modules, in eval() mode); null: every stage runs eagerly.
  std::shared_ptr<nn::StageGraphs> graphs{};
  /// Let cuDNN time its algorithms for every convolution shape first met in this call (CUDA; see
  /// CudnnTuning): a one-off cost per shape, then faster where its heuristics choose badly (the
  /// guider's 32-channel float16 convolutions at 480×320). Worth it for many images of one size.
  bool tune_convolutions = false;
};

struct Peeling {
  std::vector<torch::Tensor> levels;      ///< I^1..I^n, each N×3×H×W
  std::vector<torch::Tensor> components;  ///< C^1..C^n, I^{t-1} = I^t + C^t
  std::vector<torch::Tensor> guidance;    ///< G^1..G^n, each N×1×H×W
};

/// Peels an N×3×H×W (or 3×H×W) image of any size (inference, no autograd): reflect-pads it to
/// even sides of at least 32 pixels, runs the recurrence there and crops every result back
/// (3×H×W in, 3×H×W / 1×H×W out). The guider runs only when no user guidance is given; it may
/// then be an empty holder (`HipeGuider{nullptr}`). Modules and image must share a device, unless
/// options.tile > 0: the image may then be anywhere (it is peeled in host memory, the results are
/// returned on its device).
Peeling hipe_peel(HipeGuider& guider, HipePeeler& peeler, const torch::Tensor& image,
                  const PeelOptions& options = {});

/// How hipe_edges combines the guider's maps over recurrences and scales.
enum class EdgeCombine {
  Mean,   ///< the mean of the maps G^t (the paper)
  Logit,  ///< sigmoid(mean of logit(G^t) / 6), logits clamped at ±13.8: saturated maps keep
          ///< more of their ranking
};

/// Settings of hipe_edges. The defaults are the best measured on the BSDS500 test set (ODS 0.752;
/// flips = 1 runs the guider a quarter as often and scores 0.740; docs/benchmarks.md); the paper's
/// recipe is {24, {1}, EdgeCombine::Mean, 0, 1}.
struct EdgeOptions {
  int recurrences = 6;                       ///< G^1..G^recurrences at every scale
  std::vector<double> scales{0.5, 0.75, 1};  ///< image scales (bilinear), maps resized back
  EdgeCombine combine = EdgeCombine::Logit;
  int tile = 0;   ///< > 0: tiled inference as PeelOptions::tile
  int flips = 4;  ///< 1, 2 (and left-right mirrored) or 4 (and up-down, both): maps averaged
  std::shared_ptr<nn::StageGraphs> graphs{};  ///< as PeelOptions::graphs
  bool tune_convolutions = false;             ///< as PeelOptions::tune_convolutions
};

/// The guider's edge-confidence map (paper §3.2) of an N×3×H×W (or 3×H×W) image of any size:
/// the guider's maps at every scale and recurrence, combined as options.combine, N×1×H×W (or
/// 1×H×W) in (0, 1); inference, no autograd.
torch::Tensor hipe_edges(HipeGuider& guider, const torch::Tensor& image,
                         const EdgeOptions& options = {});

}  // namespace strata::models
