#include "strata/nn/lipschitz.hpp"

#include <torch/torch.h>

#include <cmath>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/nn/layers.hpp"

#ifdef STRATA_HAVE_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "../core/kernel_support.hpp"
#include "cuda/lipschitz_kernels.hpp"
#include "kernel_scalar.hpp"
#endif

namespace strata::nn {

namespace F = torch::nn::functional;

namespace {

// The (C_out, C_in·k·k) matrix of a weight with its columns in memory order: a view, no copy,
// for channels-last weights too (the singular values do not depend on the columns' order).
bool channels_last(const torch::Tensor& weight) {
  return weight.dim() == 4 && !weight.is_contiguous() &&
         weight.is_contiguous(torch::MemoryFormat::ChannelsLast);
}

torch::Tensor as_matrix(const torch::Tensor& weight) {
  if (channels_last(weight)) return weight.permute({0, 2, 3, 1}).reshape({weight.size(0), -1});
  return weight.reshape({weight.size(0), -1});
}

// The weight of `like`'s shape and memory format from its as_matrix() form m.
torch::Tensor from_matrix(const torch::Tensor& m, const torch::Tensor& like) {
  const auto o = like.size(0), i = like.size(1), kh = like.size(2), kw = like.size(3);
  if (channels_last(like)) return m.view({o, kh, kw, i}).permute({0, 3, 1, 2});
  return m.view({o, i, kh, kw});
}

// Largest singular value of the (C_out, C_in·k·k) matrix, in float64, as a 0-dim tensor.
torch::Tensor top_singular_value(const torch::Tensor& weight) {
  return at::linalg_svdvals(as_matrix(weight.detach().to(torch::kFloat64)))[0];
}

}  // namespace

double spectral_norm_exact(const torch::Tensor& weight) {
  torch::NoGradGuard no_grad;
  return top_singular_value(weight).item<double>();
}

LipschitzConv2dImpl::LipschitzConv2dImpl(const LipschitzConvOptions& options) : options_(options) {
  check(options.in >= 1 && options.out >= 1 && options.kernel >= 1 && options.kernel % 2 == 1, "",
        "LipschitzConv2d: channels >= 1 and an odd kernel size");
  check(options.lambda >= 0.0 && options.power_iterations >= 1, "",
        "LipschitzConv2d: lambda >= 0 and power_iterations >= 1");
  const int k = options.kernel;
  const double fan_in = static_cast<double>(options.in * k * k);
  weight_ = register_parameter("weight", torch::empty({options.out, options.in, k, k}));
  bias_ = register_parameter("bias", torch::empty({options.out}));
  u_ = register_buffer("u", torch::randn({options.out}));
  torch::NoGradGuard no_grad;
  const double w_bound = std::sqrt(6.0 / fan_in);  // kaiming-uniform, a = 0
  weight_.uniform_(-w_bound, w_bound);
  bias_.uniform_(-1.0 / std::sqrt(fan_in), 1.0 / std::sqrt(fan_in));
}

namespace {

// The top left singular vectors of a stack of L matrices w (L, C_out, n), exactly: per matrix
// the eigenvector of W Wᵀ (C_out × C_out, float64, on the CPU) with the largest eigenvalue.
torch::Tensor top_left_singular_vectors(const torch::Tensor& w) {
  torch::NoGradGuard no_grad;
  const auto w64 = w.detach().to(torch::kCPU, torch::kFloat64);
  const auto gram = torch::bmm(w64, w64.transpose(1, 2));
  const auto vectors = std::get<1>(torch::linalg_eigh(gram, "L"));  // ascending eigenvalues
  return vectors.select(2, -1).to(w.device(), w.scalar_type());
}

// Power iteration on W Wᵀ for a stack of L weight matrices w (L, C_out, n) from the vectors u
// (L, C_out), `steps` steps; when `cold`, u starts from the exact top singular vectors instead
// (an eigendecomposition of the small C_out × C_out Gram matrices: iterating to convergence
// took up to 2,000 steps with a host sync every 10: 0.6-0.9 s of a 300-iteration DIP run, 1.8-2.1
// s before against 1.22 s after, for the decoder's 12 layers):
// σ (L), the ‖W v‖ that approach σ_max from below, and the new u.
std::pair<torch::Tensor, torch::Tensor> power_iteration(const torch::Tensor& w, torch::Tensor u,
                                                        int steps, bool cold) {
  torch::NoGradGuard no_grad;
  const auto normalize = [](const torch::Tensor& x) {
    return F::normalize(x, F::NormalizeFuncOptions().dim(1).eps(1e-12));
  };
  if (cold) u = top_left_singular_vectors(w);
  torch::Tensor sigma;
  for (int i = 0; i < std::max(steps, 1); ++i) {
    const auto v = normalize(torch::bmm(w.transpose(1, 2), u.unsqueeze(2)).squeeze(2));
    const auto wv = torch::bmm(w, v.unsqueeze(2)).squeeze(2);
    u = normalize(wv);
    sigma = wv.norm(2, 1);
  }
  return {sigma, u};
}

}  // namespace

// Eq. 2.5's ‖W‖_sn (no gradient): a 0-dim tensor on the weight's device; after the first call
// (whose cold start decomposes on the host), no host synchronisation.
torch::Tensor LipschitzConv2dImpl::spectral_norm() {
  torch::NoGradGuard no_grad;
  const auto w = as_matrix(weight_.detach());
  if (options_.method == SpectralNorm::Exact) return top_singular_value(w).to(w.dtype());
  auto [sigma, u] = power_iteration(w.unsqueeze(0), u_.to(w.dtype()).unsqueeze(0),
                                    options_.power_iterations, !warm_);
  u_.copy_(u[0]);
  warm_ = true;
  return sigma[0];
}

std::vector<torch::Tensor> batched_effective_weights(
    const std::vector<LipschitzConv2dImpl*>& layers, torch::Tensor& u, bool& warm,
    torch::Dtype dtype) {
  check(!layers.empty() && u.dim() == 2 && u.size(0) == static_cast<std::int64_t>(layers.size()),
        "", "batched_effective_weights: one vector of u per layer");
  const auto& o = layers.front()->options_;
  std::vector<torch::Tensor> matrices;
  for (const auto* layer : layers) {
    const auto& lo = layer->options_;
    check(lo.in == o.in && lo.out == o.out && lo.kernel == o.kernel && lo.lambda == o.lambda &&
              lo.method == SpectralNorm::Power && lo.power_iterations == o.power_iterations &&
              channels_last(layer->weight_) == channels_last(layers.front()->weight_),
          "", "batched_effective_weights: layers of one shape and layout, one λ, power iteration");
    matrices.push_back(as_matrix(layer->weight_));
  }
  auto w = torch::stack(matrices);  // (L, C_out, C_in·k·k), with autograd
  if (o.lambda > 0.0) {
    torch::Tensor sigma;
    {
      torch::NoGradGuard no_grad;
      if (!warm) u.copy_(top_left_singular_vectors(w));  // cold start: exact vectors
      auto [s, next] = power_iteration(w.detach(), u.to(w.dtype()), o.power_iterations, false);
      u.copy_(next);
      sigma = s;
    }
    warm = true;
    for (std::size_t i = 0; i < layers.size(); ++i) layers[i]->last_norm_ = sigma[i];
    w = w / (sigma / o.lambda).clamp_min(1.0).view({-1, 1, 1});  // Eq. 2.5
  }
  std::vector<torch::Tensor> weights;
  for (const auto& m : w.to(dtype).unbind(0))
    weights.push_back(from_matrix(m, layers.front()->weight_));
  return weights;
}

#ifdef STRATA_HAVE_CUDA_KERNELS
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The batch's weights normalised by the kernels (Eq. 2.5), with a backward pass that scales the
// gradients by the same 1 / max(1, σ/λ) (no gradient through σ) in one kernel. Outputs: the
// effective weights in `dtype` (each in its weight's memory format), then a non-differentiable
// 2 × L float32 tensor of (σ, scale) per layer. The gradients of leaf weights are added straight
// into their .grad (as AccumulateGrad would, without a kernel per weight); others are returned.
class FusedLipschitz : public torch::autograd::Function<FusedLipschitz> {
 public:
  static variable_list forward(AutogradContext* ctx, torch::TensorList weights,
                               torch::TensorList us, double lambda, std::int64_t dtype,
                               bool add_into_grad) {
    const auto& first = weights.front();
    const c10::cuda::CUDAGuard guard(first.device());
    const auto count = static_cast<std::int64_t>(weights.size());
    cuda::LipschitzBatch batch;
    batch.count = static_cast<int>(count);
    batch.lambda = static_cast<float>(lambda);
    batch.scalar = kernel_scalar(static_cast<torch::ScalarType>(dtype));
    auto norms = torch::empty({2, count}, first.options());
    variable_list out;
    for (std::int64_t i = 0; i < count; ++i) {
      const auto& w = weights[static_cast<std::size_t>(i)];
      out.push_back(torch::empty_like(w, w.options().dtype(static_cast<torch::ScalarType>(dtype))));
      auto& layer = batch.layer[i];
      layer.weight = w.data_ptr<float>();
      layer.u = us[static_cast<std::size_t>(i)].data_ptr<float>();
      layer.effective = out.back().data_ptr();
      layer.sigma = norms.data_ptr<float>() + i;
      layer.scale = norms.data_ptr<float>() + count + i;
      layer.rows = static_cast<int>(w.size(0));
      layer.cols = static_cast<int>(w.numel() / w.size(0));
    }
    const auto workspace = torch::empty({cuda::lipschitz_workspace_floats(batch)}, first.options());
    check_launch(cuda::lipschitz_weights(batch, workspace.data_ptr<float>(),
                                         c10::cuda::getCurrentCUDAStream().stream()),
                 "Lipschitz normalisation");
    ctx->save_for_backward({norms});
    ctx->saved_data["weights"] = weights.vec();
    ctx->saved_data["dtype"] = dtype;
    ctx->saved_data["add_into_grad"] = add_into_grad;
    ctx->mark_non_differentiable({norms});
    out.push_back(norms);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto norms = ctx->get_saved_variables()[0];
    const auto weights = ctx->saved_data["weights"].toTensorVector();
    const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt());
    const auto count = static_cast<std::int64_t>(weights.size());
    const c10::cuda::CUDAGuard guard(norms.device());
    const bool add_into_grad = ctx->saved_data["add_into_grad"].toBool();
    variable_list result(2 * weights.size() + 3);  // weights, us, lambda, dtype, add_into_grad
    cuda::LipschitzGradBatch batch;
    batch.scalar = kernel_scalar(dtype);
    std::vector<torch::Tensor> keep;  // gradients made contiguous, alive until the launch
    for (std::int64_t i = 0; i < count; ++i) {
      const auto& w = weights[static_cast<std::size_t>(i)];
      const auto& g = grads[static_cast<std::size_t>(i)];
      if (!g.defined()) continue;
      keep.push_back(g.to(dtype).contiguous(w.suggest_memory_format()));
      auto& layer = batch.layer[batch.count++];
      layer.grad_effective = keep.back().data_ptr();
      layer.scale = norms.data_ptr<float>() + count + i;
      layer.count = w.numel();
      if (const auto grad = add_into_grad ? grad_to_add_into(w) : torch::Tensor(); grad.defined()) {
        layer.grad_weight = grad.data_ptr<float>();
        layer.accumulate = true;
      } else {
        result[static_cast<std::size_t>(i)] = torch::empty_like(w, torch::MemoryFormat::Preserve);
        layer.grad_weight = result[static_cast<std::size_t>(i)].data_ptr<float>();
      }
    }
    if (batch.count == 0) return result;
    check_launch(
        cuda::lipschitz_weights_backward(batch, c10::cuda::getCurrentCUDAStream().stream()),
        "Lipschitz normalisation backward");
    return result;
  }
};

}  // namespace
#endif

std::vector<torch::Tensor> fused_effective_weights(const std::vector<LipschitzConv2dImpl*>& layers,
                                                   const std::vector<torch::Tensor>& us,
                                                   torch::Dtype dtype, bool add_into_grad) {
#ifdef STRATA_HAVE_CUDA_KERNELS
  if (layers.empty() || layers.size() > cuda::kMaxLipschitzLayers || us.size() != layers.size())
    return {};
  if (dtype != torch::kFloat32 && dtype != torch::kFloat16 && dtype != torch::kBFloat16) return {};
  const auto& first = layers.front()->weight_;
  std::vector<torch::Tensor> weights, vectors;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto* layer = layers[i];
    const auto& w = layer->weight_;
    const auto& u = us[i].defined() ? us[i] : layer->u_;
    const bool fits =
        w.is_cuda() && w.device() == first.device() && w.scalar_type() == torch::kFloat32 &&
        (w.is_contiguous() || channels_last(w)) &&  // as_matrix() a view the kernels can read
        w.numel() / w.size(0) <= cuda::kMaxLipschitzColumns &&
        layer->options_.method == SpectralNorm::Power && layer->options_.power_iterations == 1 &&
        layer->options_.lambda == layers.front()->options_.lambda && layer->options_.lambda > 0.0 &&
        (us[i].defined() || layer->warm_) && u.device() == w.device() &&
        u.scalar_type() == torch::kFloat32 && u.is_contiguous() && u.numel() == w.size(0);
    if (!fits) return {};
    weights.push_back(w);
    vectors.push_back(u);
  }
  auto out = FusedLipschitz::apply(torch::TensorList(weights), torch::TensorList(vectors),
                                   layers.front()->options_.lambda,
                                   static_cast<std::int64_t>(dtype), add_into_grad);
  const auto norms = out.back();
  out.pop_back();
  for (std::size_t i = 0; i < layers.size(); ++i)
    layers[i]->last_norm_ = norms[0][static_cast<std::int64_t>(i)];
  return out;
#else
  (void)layers;
  (void)us;
  (void)dtype;
  return {};
#endif
}

double LipschitzConv2dImpl::last_spectral_norm() const {
  return last_norm_.defined() ? last_norm_.item<double>() : 0.0;
}

torch::Tensor LipschitzConv2dImpl::effective_weight() {
  if (options_.lambda <= 0.0) return weight_;
  last_norm_ = spectral_norm();
  return weight_ / (last_norm_ / options_.lambda).clamp_min(1.0);  // Eq. 2.5
}

torch::Tensor LipschitzConv2dImpl::forward(const torch::Tensor& x) {
  return convolve(reflection_pad(x, (options_.kernel - 1) / 2));
}

torch::Tensor LipschitzConv2dImpl::convolve(const torch::Tensor& padded, bool bias,
                                            const torch::Tensor& weight) {
  const auto dtype = padded.scalar_type();  // the compute dtype; parameters stay float32
  auto options = F::Conv2dFuncOptions();
  if (bias) options.bias(bias_.to(dtype));
  return F::conv2d(padded, weight.defined() ? weight : effective_weight().to(dtype), options);
}

MeanOnlyNormImpl::MeanOnlyNormImpl(int channels)
    : beta_(register_parameter("beta", torch::zeros({channels}))) {}

torch::Tensor MeanOnlyNormImpl::forward(const torch::Tensor& x) {
  return mean_norm_act_pad(x, beta_, 1.0, 0, false);
}

torch::Tensor gaussian_upsampling_taps(double sigma) {
  check(std::isfinite(sigma) && sigma > 0.0, "", "gaussian upsampling: sigma must be > 0");
  const auto d = (torch::arange(5, torch::kFloat64) - 2.0) / 2.0;
  const auto g =
      torch::exp(-(d.view({5, 1}).square() + d.view({1, 5}).square()) / (2.0 * sigma * sigma));
  return (g / g.sum()).to(torch::kFloat32);
}

torch::Tensor gaussian_upsample(const torch::Tensor& x, double sigma) {
  check(x.dim() == 4, "", "gaussian_upsample: expected N×C×H×W");
  const auto c = x.size(1);
  // Bed of nails: x at even positions, zeros elsewhere (Eq. 2.6), then the Gaussian.
  auto nails = torch::zeros({x.size(0), c, 2 * x.size(2), 2 * x.size(3)}, x.options());
  nails.index_put_({torch::indexing::Slice(), torch::indexing::Slice(),
                    torch::indexing::Slice(0, torch::indexing::None, 2),
                    torch::indexing::Slice(0, torch::indexing::None, 2)},
                   x);
  const auto taps = gaussian_upsampling_taps(sigma).to(x.options()).view({1, 1, 5, 5});
  return F::conv2d(nails, taps.expand({c, 1, 5, 5}), F::Conv2dFuncOptions().padding(2).groups(c));
}

}  // namespace strata::nn
