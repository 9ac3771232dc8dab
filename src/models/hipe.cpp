// HIPe guider and peeler (seed 000 §2.2, Fig. 3; layer tables in reference-facts §1.2-1.3).
// Deliberate differences from the authors' code (docs/hipe.md): the guider pads by reflection
// only (the code mixes one reflected pixel with d - 1 zeros for dilation d), and every layer is
// trained (the code never trains the guider's head and body).
#include "strata/models/hipe.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include "strata/core/device.hpp"
#include "strata/core/error.hpp"
#include "strata/nn/layers.hpp"
#include "strata/nn/residual.hpp"
#include "strata/nn/stage_graphs.hpp"
#include "strata/nn/streaming.hpp"

namespace strata::models {

namespace {

namespace nn = torch::nn;

constexpr int kGuiderWidth = 32;
constexpr int kPeelerWidth = 64;
constexpr std::array<int, 9> kStateDilations = {1, 1, 2, 2, 4, 4, 8, 8, 1};
constexpr std::array<int, 10> kPeelerDilations = {2, 2, 4, 4, 8, 8, 16, 16, 1, 1};

nn::Conv2d conv(int in, int out, int dilation = 1, int padding = 0, int stride = 1) {
  return nn::Conv2d(
      nn::Conv2dOptions(in, out, 3).dilation(dilation).padding(padding).stride(stride));
}

// Instance norm without affine parameters or running statistics (as InstanceNorm2d(channels)).
strata::nn::InstanceNorm instance_norm() { return strata::nn::InstanceNorm(); }

strata::nn::ReflectionPad reflect(int pad) { return strata::nn::ReflectionPad(pad); }

nn::LeakyReLU leaky() { return nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)); }

// x + block(x), a module the layer streaming of tiled inference recognises.
using Residual = strata::nn::Residual;

// Guider residual block: pad, dilated conv, IN, ReLU, pad, conv (no norm after it, as Fig. 3).
Residual guider_block(int dilation) {
  return Residual(nn::Sequential(reflect(dilation), conv(kGuiderWidth, kGuiderWidth, dilation),
                                 instance_norm(), nn::ReLU(), reflect(1),
                                 conv(kGuiderWidth, kGuiderWidth)));
}

// Peeler residual block: two dilated convs with zero padding, IN after each, ReLU between.
Residual peeler_block(int dilation) {
  return Residual(nn::Sequential(
      conv(kPeelerWidth, kPeelerWidth, dilation, dilation), instance_norm(), nn::ReLU(),
      conv(kPeelerWidth, kPeelerWidth, dilation, dilation), instance_norm()));
}

torch::Tensor whole(nn::Sequential& stage, const torch::Tensor& x) {
  return strata::nn::forward_fused(stage, x);
}

void check_image(const torch::Tensor& x, const std::string& what) {
  check(x.dim() == 4 && x.size(1) == 3, "",
        what + ": expected an N×3×H×W image, got " + std::to_string(x.dim()) + " dims");
}

}  // namespace

// ---- guider ------------------------------------------------------------------------------------

HipeGuiderImpl::HipeGuiderImpl() {
  head_ = register_module(
      "head", nn::Sequential(reflect(1), conv(3, kGuiderWidth), instance_norm(), leaky()));
  body_ = register_module("body", nn::Sequential());
  for (int i = 0; i < 4; ++i) body_->push_back(guider_block(1));
  state_ = register_module("state", nn::Sequential());
  for (const int d : kStateDilations) state_->push_back(guider_block(d));
  mask_ =
      register_module("mask", nn::Sequential(reflect(1), conv(kGuiderWidth, 16), instance_norm(),
                                             leaky(), reflect(1), conv(16, 1), nn::Sigmoid()));
}

std::vector<torch::Tensor> HipeGuiderImpl::forward(const torch::Tensor& image, int levels) {
  return forward(image, levels, whole);
}

std::vector<torch::Tensor> HipeGuiderImpl::forward(const torch::Tensor& image, int levels,
                                                   const StageRunner& run) {
  check_image(image, "HIPe guider");
  check(levels >= 1, "", "HIPe guider: levels must be >= 1");
  check(image.size(2) >= 9 && image.size(3) >= 9, "", "HIPe guider: image must be at least 9×9");
  auto features = run(body_, run(head_, image));  // F^0
  std::vector<torch::Tensor> maps;
  for (int t = 0; t < levels; ++t) {
    features = run(state_, features);      // F^t = S(F^{t-1})
    maps.push_back(run(mask_, features));  // G^t = M(F^t)
  }
  return maps;
}

// ---- peeler ------------------------------------------------------------------------------------

HipePeelerImpl::HipePeelerImpl() {
  net_ = register_module("net", nn::Sequential());
  // A convolution-like layer followed by IN and ReLU.
  const auto stage = [this](auto layer) {
    net_->push_back(std::move(layer));
    net_->push_back(instance_norm());
    net_->push_back(nn::ReLU());
  };
  stage(conv(6, kPeelerWidth, 1, 1));
  stage(conv(kPeelerWidth, kPeelerWidth, 1, 1));
  stage(conv(kPeelerWidth, kPeelerWidth, 1, 1, 2));  // to half resolution
  for (const int d : kPeelerDilations) net_->push_back(peeler_block(d));
  stage(nn::ConvTranspose2d(
      nn::ConvTranspose2dOptions(kPeelerWidth, kPeelerWidth, 4).stride(2).padding(1)));
  stage(conv(kPeelerWidth, kPeelerWidth, 1, 1));
  net_->push_back(conv(kPeelerWidth, 3, 1, 1));  // linear output
}

torch::Tensor HipePeelerImpl::forward(const torch::Tensor& image, const torch::Tensor& guidance) {
  return forward(image, guidance, whole);
}

torch::Tensor HipePeelerImpl::forward(const torch::Tensor& image, const torch::Tensor& guidance,
                                      const StageRunner& run) {
  check_image(image, "HIPe peeler");
  check(guidance.dim() == 4 && guidance.size(1) == 1, "", "HIPe peeler: guidance must be N×1×H×W");
  check(image.size(2) % 2 == 0 && image.size(3) % 2 == 0, "",
        "HIPe peeler: height and width must be even");
  // The guidance enters as three identical channels (the published 6-channel input).
  return run(net_, torch::cat({image, guidance.expand({-1, 3, -1, -1})}, 1));
}

// ---- peeling -----------------------------------------------------------------------------------

namespace {

constexpr std::int64_t kMinSide = 32;

// Reflect-pads (replicating first when the image is too small to reflect) to even sides of at
// least kMinSide; returns the padded tensor.
torch::Tensor pad_for_peeling(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  const auto target = [](std::int64_t n) {
    const std::int64_t m = std::max(n, kMinSide);
    return m + (m % 2);
  };
  const std::int64_t h = x.size(2), w = x.size(3);
  const std::int64_t ph = target(h) - h, pw = target(w) - w;
  if (ph == 0 && pw == 0) return x;
  const bool can_reflect = ph < h && pw < w;
  auto options = F::PadFuncOptions({0, pw, 0, ph});
  if (can_reflect)
    options.mode(torch::kReflect);
  else
    options.mode(torch::kReplicate);
  return F::pad(x, options);
}

torch::Tensor crop(const torch::Tensor& x, std::int64_t h, std::int64_t w) {
  return x.narrow(2, 0, h).narrow(3, 0, w).contiguous();
}

// Bilinear resize of N×C×H×W to h × w (no corner alignment).
torch::Tensor resize_bilinear(const torch::Tensor& x, std::int64_t h, std::int64_t w) {
  namespace F = torch::nn::functional;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<std::int64_t>{h, w})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

// A user map as N×1×h×w resized to h×w and padded like the image.
torch::Tensor user_map(const torch::Tensor& map, const torch::Tensor& image) {
  check(map.dim() == 3 || map.dim() == 4, "", "guidance map must be C×H×W or N×C×H×W");
  auto m = (map.dim() == 3 ? map.unsqueeze(0) : map).to(image.device(), torch::kFloat32);
  check(m.size(1) == 1 || m.size(1) == 3, "", "guidance map must have 1 or 3 channels");
  if (m.size(1) == 3) m = m.mean(1, true);
  const std::int64_t h = image.size(2), w = image.size(3);
  if (m.size(2) != h || m.size(3) != w) m = resize_bilinear(m, h, w);
  if (m.size(0) == 1 && image.size(0) > 1) m = m.expand({image.size(0), -1, -1, -1});
  check(m.size(0) == image.size(0), "", "guidance map batch size differs from the image's");
  return pad_for_peeling(m.clamp(0.0, 1.0));
}

// A 3×H×W or N×3×H×W image as an N×3×H×W float32 batch.
torch::Tensor image_batch(const torch::Tensor& image, const std::string& fn) {
  check(image.defined() && (image.dim() == 3 || image.dim() == 4), "",
        fn + ": image must be 3×H×W or N×3×H×W");
  const auto x = (image.dim() == 3 ? image.unsqueeze(0) : image).to(torch::kFloat32);
  check_image(x, fn);
  return x;
}

// How the networks run: whole tensors in the options' dtype and layout on their device (stages
// replayed from CUDA graphs when `graphs` is set), or layer streaming from host memory in tiles
// (exact tiled inference, docs/hipe.md).
StageRunner stage_runner(const PeelOptions& options,
                         const std::shared_ptr<strata::nn::StageGraphs>& graphs) {
  if (options.tile > 0) {
    const strata::nn::StreamOptions stream{options.tile, options.dtype, options.channels_last};
    return [stream](nn::Sequential& stage, const torch::Tensor& x) {
      return strata::nn::stream_forward(stage, x, stream);
    };
  }
  return [dtype = options.dtype, channels_last = options.channels_last, graphs](
             nn::Sequential& stage, const torch::Tensor& t) {
    auto x = t.to(dtype);
    if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    return graphs ? graphs->run(stage, x) : strata::nn::forward_fused(stage, x);
  };
}

// The CUDA graph cache a call uses: the caller's, unless tiled or off CUDA.
std::shared_ptr<strata::nn::StageGraphs> graph_cache(
    const std::shared_ptr<strata::nn::StageGraphs>& given, int tile, const torch::Tensor& image) {
  return tile > 0 || !image.is_cuda() ? nullptr : given;
}

void check_tile(int tile, const std::string& fn) {
  check(tile >= 0, "", fn + ": tile must be >= 0 (0: untiled), got " + std::to_string(tile));
}

// Where the image is processed: tiled inference keeps it, and every activation, in host memory.
torch::Tensor working_copy(const torch::Tensor& x, int tile) { return tile > 0 ? x.cpu() : x; }

std::vector<torch::Tensor> guidance_maps(HipeGuider& guider, const torch::Tensor& padded,
                                         const torch::Tensor& image, const PeelOptions& options,
                                         const StageRunner& run) {
  const auto n = static_cast<std::size_t>(options.levels);
  const auto& user = options.guidance;
  if (user.empty()) {
    check(!guider.is_empty(), "", "hipe_peel: no guider and no guidance maps");
    return guider->forward(padded, options.levels, run);
  }
  check(user.size() == 1 || user.size() == n, "",
        "hipe_peel: give one guidance map or one per level (" + std::to_string(n) + "), got " +
            std::to_string(user.size()));
  std::vector<torch::Tensor> maps;
  for (std::size_t t = 0; t < n; ++t)
    maps.push_back(user_map(user[user.size() == 1 ? 0 : t], image));
  return maps;
}

}  // namespace

Peeling hipe_peel(HipeGuider& guider, HipePeeler& peeler, const torch::Tensor& image,
                  const PeelOptions& options) {
  check(options.levels >= 1, "", "hipe_peel: levels must be >= 1");
  check_tile(options.tile, "hipe_peel");
  torch::NoGradGuard no_grad;
  const bool squeezed = image.defined() && image.dim() == 3;
  const auto x = working_copy(image_batch(image, "hipe_peel"), options.tile);
  const std::int64_t h = x.size(2), w = x.size(3);
  const CudnnTuning tuning(options.tune_convolutions && x.is_cuda());
  const auto run = stage_runner(options, graph_cache(options.graphs, options.tile, x));
  auto current = pad_for_peeling(x);  // I^0
  const auto maps = guidance_maps(guider, current, x, options, run);
  Peeling out;
  const auto keep = [&](std::vector<torch::Tensor>& list, const torch::Tensor& t) {
    const auto c = crop(t, h, w).to(image.device());
    list.push_back(squeezed ? c.squeeze(0) : c);
  };
  for (const auto& map : maps) {
    const auto g = map.to(torch::kFloat32);
    // C^t = P(I^{t-1}, G^t), I^t = I^{t-1} - C^t (in float32 whatever the network's dtype)
    const auto component = peeler->forward(current, g, run).to(torch::kFloat32);
    current = current - component;
    keep(out.components, component);
    keep(out.levels, current);
    keep(out.guidance, g);
  }
  return out;
}

namespace {

// The guider's maps of x, combined over the recurrences: a mean of the maps or of their logits.
torch::Tensor level_score(HipeGuider& guider, const torch::Tensor& x, const EdgeOptions& o) {
  PeelOptions peel;
  peel.tile = o.tile;
  const auto maps =
      torch::stack(guider->forward(pad_for_peeling(x), o.recurrences, stage_runner(peel, o.graphs)))
          .to(torch::kFloat32);
  return crop(o.combine == EdgeCombine::Logit ? torch::logit(maps, 1e-6).mean(0) : maps.mean(0),
              x.size(2), x.size(3));
}

// level_score of x at one scale, averaged over o.flips mirror images of it (test-time
// augmentation: as is, left-right, up-down, both), at x's size.
torch::Tensor edge_score(HipeGuider& guider, const torch::Tensor& x, double scale,
                         const EdgeOptions& o) {
  const std::int64_t h = x.size(2), w = x.size(3);
  const std::int64_t hs = std::max<std::int64_t>(1, std::lround(static_cast<double>(h) * scale));
  const std::int64_t ws = std::max<std::int64_t>(1, std::lround(static_cast<double>(w) * scale));
  const auto xs = hs == h && ws == w ? x : resize_bilinear(x, hs, ws);
  static const std::vector<std::vector<std::int64_t>> mirrors{{}, {3}, {2}, {2, 3}};
  torch::Tensor score;
  for (int k = 0; k < o.flips; ++k) {
    const auto& dims = mirrors[static_cast<std::size_t>(k)];
    const auto s = dims.empty() ? level_score(guider, xs, o)
                                : level_score(guider, xs.flip(dims), o).flip(dims);
    score = score.defined() ? score + s : s;
  }
  score = score / static_cast<double>(o.flips);
  return hs == h && ws == w ? score : resize_bilinear(score, h, w);
}

}  // namespace

torch::Tensor hipe_edges(HipeGuider& guider, const torch::Tensor& image, const EdgeOptions& o) {
  check(o.recurrences >= 1, "", "hipe_edges: recurrences must be >= 1");
  check(o.flips == 1 || o.flips == 2 || o.flips == 4, "", "hipe_edges: flips must be 1, 2 or 4");
  check(!o.scales.empty(), "", "hipe_edges: no scales");
  for (const double s : o.scales)
    check(s > 0.0 && s <= 4.0, "", "hipe_edges: scales must be in (0, 4]");
  check_tile(o.tile, "hipe_edges");
  torch::NoGradGuard no_grad;
  const bool squeezed = image.defined() && image.dim() == 3;
  const auto x = working_copy(image_batch(image, "hipe_edges"), o.tile);
  const CudnnTuning tuning(o.tune_convolutions && x.is_cuda());
  auto with_graphs = o;
  with_graphs.graphs = graph_cache(o.graphs, o.tile, x);
  torch::Tensor sum;
  for (const double s : o.scales) {
    const auto score = edge_score(guider, x, s, with_graphs);
    sum = sum.defined() ? sum + score : score;
  }
  auto edges = sum / static_cast<double>(o.scales.size());
  // A monotone squash of the mean logit into (0, 1); 6 spreads it over the benchmark's thresholds.
  if (o.combine == EdgeCombine::Logit) edges = torch::sigmoid(edges / 6.0);
  edges = edges.to(image.device());
  return squeezed ? edges.squeeze(0) : edges;
}

}  // namespace strata::models
