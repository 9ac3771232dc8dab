#include "strata/nn/layers.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "../core/kernel_support.hpp"
#include "strata/core/error.hpp"

#ifdef STRATA_HAVE_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "cuda/layer_kernels.hpp"
#include "kernel_scalar.hpp"
#endif

namespace strata::nn {

namespace F = torch::nn::functional;

namespace {

bool channels_last(const torch::Tensor& x) {
  return x.dim() == 4 && x.suggest_memory_format() == torch::MemoryFormat::ChannelsLast;
}

// Whether autograd records m's operations on x: grad mode is on and x or a parameter of m
// requires a gradient.
bool records(const torch::nn::Module& m, const torch::Tensor& x) {
  if (!c10::GradMode::is_enabled()) return false;
  if (x.requires_grad()) return true;
  const auto parameters = m.parameters();
  return std::any_of(parameters.begin(), parameters.end(),
                     [](const torch::Tensor& p) { return p.requires_grad(); });
}

#ifdef STRATA_HAVE_CUDA_KERNELS

// The NHWC kernels take contiguous channels-last CUDA activations in float32/float16/bfloat16
// with C % 4 == 0.
bool nhwc_layout(const torch::Tensor& x) {
  const auto t = x.scalar_type();
  return x.is_cuda() && x.dim() == 4 && x.numel() > 0 &&
         x.is_contiguous(torch::MemoryFormat::ChannelsLast) &&
         (t == torch::kFloat32 || t == torch::kFloat16 || t == torch::kBFloat16) &&
         x.size(1) % 4 == 0 && x.size(1) <= cuda::kMaxChannels &&
         4 * x.size(2) * x.size(3) < (std::int64_t{1} << 31) &&
         reinterpret_cast<std::uintptr_t>(x.data_ptr()) % 16 == 0;  // vector accesses
}

// ... for inference (no autograd): instance norm and reflection padding.
bool nhwc_kernels(const torch::Tensor& x) { return nhwc_layout(x) && !records_grad(x); }

cuda::Nhwc describe(const torch::Tensor& t) {
  cuda::Nhwc d;
  d.data = t.data_ptr();
  d.scalar = kernel_scalar(t.scalar_type());
  d.n = t.size(0);
  d.c = t.size(1);
  d.h = t.size(2);
  d.w = t.size(3);
  return d;
}

// The per-block workspace of the kernels' plane reductions over x.
torch::Tensor plane_partials(const torch::Tensor& x) {
  return torch::empty({cuda::plane_partials_floats(describe(x))},
                      x.options().dtype(torch::kFloat32));
}

// The per-plane (scale, offset) of x (float32 N×C×2) by the kernels: the instance norm's
// (rstd, −mean·rstd) with eps, or with beta (float32 per channel) the mean-only norm's (1, β −
// mean).
torch::Tensor plane_affine(const torch::Tensor& x, double eps, const torch::Tensor& beta,
                           void* stream) {
  auto affine = torch::empty({x.size(0), x.size(1), 2}, x.options().dtype(torch::kFloat32));
  const auto partials = plane_partials(x);
  check_launch(cuda::plane_affine(describe(x), static_cast<float>(eps),
                                  beta.defined() ? beta.data_ptr<float>() : nullptr,
                                  partials.data_ptr<float>(), affine.data_ptr<float>(), stream),
               "plane statistics");
  return affine;
}

// act(x · scale + offset) (+ residual) reflect-padded by `pad` in one pass, with the per-plane
// (scale, offset) of `affine` (float32 N×C×2; undefined: act(x)); residual: x's shape, or
// undefined.
torch::Tensor nhwc_pass(const torch::Tensor& x, const torch::Tensor& affine, double slope,
                        std::int64_t pad, const torch::Tensor& residual, void* stream) {
  auto out = torch::empty({x.size(0), x.size(1), x.size(2) + 2 * pad, x.size(3) + 2 * pad},
                          x.options().memory_format(torch::MemoryFormat::ChannelsLast));
  check_launch(
      cuda::normalize_pad(describe(x), affine.defined() ? affine.data_ptr<float>() : nullptr,
                          residual.defined() ? residual.data_ptr() : nullptr,
                          static_cast<float>(slope), static_cast<int>(pad), describe(out), stream),
      "instance_norm");
  return out;
}

// act(normalise(x)) reflect-padded by `pad` in one pass (statistics first when `normalise`).
torch::Tensor nhwc_normalize_pad(const torch::Tensor& x, bool normalise, double eps, double slope,
                                 std::int64_t pad) {
  const c10::cuda::CUDAGuard guard(x.device());
  void* stream = c10::cuda::getCurrentCUDAStream().stream();
  const auto affine = normalise ? plane_affine(x, eps, torch::Tensor(), stream) : torch::Tensor();
  return nhwc_pass(x, affine, slope, pad, torch::Tensor(), stream);
}

// x + instance_norm(y, eps) (bias undefined), or x + y + bias (per channel), in one pass; x and y
// of one shape and dtype on the NHWC kernels. Undefined where they are not.
torch::Tensor nhwc_residual(const torch::Tensor& x, const torch::Tensor& y, double eps,
                            const torch::Tensor& bias) {
  if (!nhwc_kernels(y) || y.sizes() != x.sizes() || y.scalar_type() != x.scalar_type()) return {};
  const c10::cuda::CUDAGuard guard(x.device());
  void* stream = c10::cuda::getCurrentCUDAStream().stream();
  const auto affine =
      bias.defined()
          ? torch::stack({torch::ones({y.size(1)}, bias.options().dtype(torch::kFloat32)),
                          bias.to(torch::kFloat32)},
                         1)
                .expand({y.size(0), y.size(1), 2})
                .contiguous()
          : plane_affine(y, eps, torch::Tensor(), stream);
  return nhwc_pass(y, affine, 1.0, 0, x, stream);
}

torch::Tensor channels_last_empty(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                                  const torch::Tensor& like) {
  return torch::empty({n, c, h, w},
                      like.options().memory_format(torch::MemoryFormat::ChannelsLast));
}

// β of a mean-only norm: saved by the forward pass (its dtype; the leaf itself with
// add_into_grad), and where its gradient goes in the backward pass.
void save_beta(torch::autograd::AutogradContext* ctx, const torch::Tensor& beta,
               bool add_into_grad) {
  ctx->saved_data["beta_dtype"] = static_cast<std::int64_t>(beta.scalar_type());
  ctx->saved_data["add_into_grad"] = add_into_grad;
  if (add_into_grad) ctx->saved_data["beta"] = beta;  // the leaf itself, whose .grad is added to
}

// One sample and a float32 β: its gradient straight from the kernel (grad: float32 per channel),
// and with add_into_grad added into a leaf β's .grad (accumulate; as AccumulateGrad would, without
// two more kernels). Otherwise grad is undefined and β's gradient is summed from the per-sample
// sums.
struct BetaGradient {
  torch::Tensor grad;
  bool accumulate = false;
  torch::ScalarType dtype = torch::kFloat32;

  BetaGradient(torch::autograd::AutogradContext* ctx, const torch::Tensor& y)
      : dtype(static_cast<torch::ScalarType>(ctx->saved_data["beta_dtype"].toInt())) {
    const bool direct = y.size(0) == 1 && dtype == torch::kFloat32;
    const auto beta = ctx->saved_data["add_into_grad"].toBool() ? ctx->saved_data["beta"].toTensor()
                                                                : torch::Tensor();
    if (direct && beta.defined() && beta.device() == y.device() && beta.is_contiguous())
      grad = grad_to_add_into(beta);
    accumulate = grad.defined();
    if (direct && !accumulate) grad = torch::empty({y.size(1)}, y.options().dtype(torch::kFloat32));
  }
  float* kernel_output() const { return grad.defined() ? grad.data_ptr<float>() : nullptr; }
  // What the backward pass returns for β, given the float64 per-sample sums.
  torch::Tensor returned(const torch::Tensor& sums) const {
    if (accumulate) return {};
    return grad.defined() ? grad : sums.sum(0).to(dtype);
  }
};

// The outputs of a mean-only norm's backward kernels: y's gradient (channels-last), the
// float64 per-sample, per-channel sums of the gradient at the norm's output, and β's gradient.
struct MeanNormBackward {
  torch::Tensor grad_y, sums;
  BetaGradient beta;

  MeanNormBackward(torch::autograd::AutogradContext* ctx, const torch::Tensor& y)
      : grad_y(channels_last_empty(y.size(0), y.size(1), y.size(2), y.size(3), y)),
        sums(torch::empty({y.size(0), y.size(1)}, y.options().dtype(torch::kFloat64))),
        beta(ctx, y) {}
  torch::Tensor beta_grad() const { return beta.returned(sums); }
};

// mean_norm_act_pad by the NHWC kernels, with its backward pass.
class MeanActPad : public torch::autograd::Function<MeanActPad> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& y,
                               const torch::Tensor& beta, double slope, std::int64_t pad,
                               bool upsample, bool add_into_grad) {
    const c10::cuda::CUDAGuard guard(y.device());
    void* stream = c10::cuda::getCurrentCUDAStream().stream();
    const std::int64_t n = y.size(0), c = y.size(1), s = upsample ? 2 : 1;
    const auto b = beta.to(y.device(), torch::kFloat32).contiguous();
    auto affine = torch::empty({n, c, 2}, y.options().dtype(torch::kFloat32));
    const auto partials = plane_partials(y);
    auto out = channels_last_empty(n, c, s * y.size(2) + 2 * pad, s * y.size(3) + 2 * pad, y);
    check_launch(
        cuda::mean_norm_act_pad(describe(y), b.data_ptr<float>(), partials.data_ptr<float>(),
                                affine.data_ptr<float>(), static_cast<float>(slope),
                                static_cast<int>(pad), upsample, describe(out), stream),
        "mean_norm");
    ctx->save_for_backward({y, affine});
    ctx->saved_data["slope"] = slope;
    ctx->saved_data["pad"] = pad;
    ctx->saved_data["upsample"] = upsample;
    save_beta(ctx, beta, add_into_grad);
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& y = saved[0];
    const auto& affine = saved[1];
    if (!grads[0].defined()) return {torch::Tensor(), torch::Tensor(), {}, {}, {}, {}};
    const c10::cuda::CUDAGuard guard(y.device());
    void* stream = c10::cuda::getCurrentCUDAStream().stream();
    const auto grad_out =
        grads[0].to(y.scalar_type()).contiguous(torch::MemoryFormat::ChannelsLast);
    const MeanNormBackward g(ctx, y);
    const auto partials = plane_partials(y);
    check_launch(
        cuda::mean_act_pad_backward(describe(grad_out), describe(y), affine.data_ptr<float>(),
                                    static_cast<float>(ctx->saved_data["slope"].toDouble()),
                                    static_cast<int>(ctx->saved_data["pad"].toInt()),
                                    ctx->saved_data["upsample"].toBool(), describe(g.grad_y),
                                    partials.data_ptr<float>(), g.sums.data_ptr<double>(),
                                    g.beta.kernel_output(), g.beta.accumulate, stream),
        "mean_norm backward");
    return {g.grad_y, g.beta_grad(), {}, {}, {}, {}};
  }
};

// (the kernels' grids take up to 65535 samples, the upsampling kernel's up to 65535 output rows,
// the other's up to 65535 runs of a row)
bool mean_act_pad_kernels(const torch::Tensor& y, const torch::Tensor& beta, std::int64_t pad,
                          bool upsample) {
  return nhwc_layout(y) && beta.is_cuda() && y.size(0) <= 65535 &&
         (upsample ? 2 * y.size(2) + 2 * pad <= 65535
                   : y.size(3) <= 4 * 65535);  // runs of at least 4 pixels per block
}

// The float32 output (N × O × H × W) of a pointwise kernel, its per-block workspace (B × O ×
// (C + 1)) and, from that, the gradients of the weight (O × C × 1 × 1) and the bias.
torch::Tensor pointwise_output(const torch::Tensor& x, const torch::Tensor& weight) {
  return torch::empty({x.size(0), weight.size(0), x.size(2), x.size(3)},
                      x.options().dtype(torch::kFloat32));
}
torch::Tensor pointwise_partials(const torch::Tensor& x, const torch::Tensor& weight) {
  return torch::empty({cuda::pointwise_conv_blocks(describe(x)), weight.size(0), x.size(1) + 1},
                      x.options().dtype(torch::kFloat32));
}
std::pair<torch::Tensor, torch::Tensor> pointwise_parameter_grads(const torch::Tensor& partials,
                                                                  const torch::Tensor& weight) {
  const auto sums = partials.sum(0);  // (O, C + 1)
  const std::int64_t c = weight.size(1);
  return {sums.narrow(1, 0, c).reshape(weight.sizes()), sums.select(1, c).contiguous()};
}

// pointwise_conv by the NHWC kernels, with its backward pass.
class PointwiseConv : public torch::autograd::Function<PointwiseConv> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias) {
    const c10::cuda::CUDAGuard guard(x.device());
    const auto w = weight.contiguous();
    auto out = pointwise_output(x, w);
    check_launch(cuda::pointwise_conv(describe(x), w.data_ptr<float>(), bias.data_ptr<float>(),
                                      static_cast<int>(w.size(0)), out.data_ptr<float>(),
                                      c10::cuda::getCurrentCUDAStream().stream()),
                 "pointwise_conv");
    ctx->save_for_backward({x, w});
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& w = saved[1];
    if (!grads[0].defined()) return {torch::Tensor(), torch::Tensor(), torch::Tensor()};
    const c10::cuda::CUDAGuard guard(x.device());
    const auto grad_out = grads[0].to(torch::kFloat32).contiguous();
    auto grad_x = channels_last_empty(x.size(0), x.size(1), x.size(2), x.size(3), x);
    auto partials = pointwise_partials(x, w);
    check_launch(cuda::pointwise_conv_backward(
                     describe(x), w.data_ptr<float>(), static_cast<int>(w.size(0)),
                     grad_out.data_ptr<float>(), describe(grad_x), partials.data_ptr<float>(),
                     c10::cuda::getCurrentCUDAStream().stream()),
                 "pointwise_conv backward");
    const auto [grad_w, grad_b] = pointwise_parameter_grads(partials, w);
    return {grad_x, grad_w, grad_b};
  }
};

bool pointwise_conv_kernels(const torch::Tensor& x, const torch::Tensor& weight,
                            const torch::Tensor& bias) {
  const auto float_cuda = [&](const torch::Tensor& t) {
    return t.is_cuda() && t.scalar_type() == torch::kFloat32 && t.device() == x.device();
  };
  return nhwc_layout(x) && x.size(1) <= cuda::kMaxPointwiseChannels && x.size(0) <= 65535 &&
         float_cuda(weight) && float_cuda(bias) && weight.size(0) >= 1 && weight.size(0) <= 4 &&
         bias.is_contiguous();
}

// mean_norm_act_pointwise by the NHWC kernels (the plane means, then one pass each way over y),
// with its backward pass.
class MeanActPointwise : public torch::autograd::Function<MeanActPointwise> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& y,
                               const torch::Tensor& beta, const torch::Tensor& weight,
                               const torch::Tensor& bias, double slope, bool add_into_grad) {
    const c10::cuda::CUDAGuard guard(y.device());
    void* stream = c10::cuda::getCurrentCUDAStream().stream();
    const auto b = beta.to(y.device(), torch::kFloat32).contiguous();
    const auto affine = plane_affine(y, 0.0, b, stream);
    const auto d = describe(y);
    const auto w = weight.contiguous();
    auto out = pointwise_output(y, w);
    check_launch(
        cuda::mean_act_pointwise(d, affine.data_ptr<float>(), static_cast<float>(slope),
                                 w.data_ptr<float>(), bias.data_ptr<float>(),
                                 static_cast<int>(w.size(0)), out.data_ptr<float>(), stream),
        "mean_norm_act_pointwise");
    ctx->save_for_backward({y, affine, w});
    ctx->saved_data["slope"] = slope;
    save_beta(ctx, beta, add_into_grad);
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& y = saved[0];
    const auto& affine = saved[1];
    const auto& w = saved[2];
    if (!grads[0].defined())
      return {torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), {}, {}};
    const c10::cuda::CUDAGuard guard(y.device());
    const auto d = describe(y);
    const auto grad_out = grads[0].to(torch::kFloat32).contiguous();
    const MeanNormBackward g(ctx, y);
    auto partials = pointwise_partials(y, w);
    const auto input_partials = torch::empty({cuda::pointwise_conv_blocks(d) * y.size(1)},
                                             y.options().dtype(torch::kFloat32));
    check_launch(
        cuda::mean_act_pointwise_backward(
            d, affine.data_ptr<float>(), static_cast<float>(ctx->saved_data["slope"].toDouble()),
            w.data_ptr<float>(), static_cast<int>(w.size(0)), grad_out.data_ptr<float>(),
            describe(g.grad_y), partials.data_ptr<float>(), input_partials.data_ptr<float>(),
            g.sums.data_ptr<double>(), g.beta.kernel_output(), g.beta.accumulate,
            c10::cuda::getCurrentCUDAStream().stream()),
        "mean_norm_act_pointwise backward");
    const auto [grad_w, grad_b] = pointwise_parameter_grads(partials, w);
    return {g.grad_y, g.beta_grad(), grad_w, grad_b, {}, {}};
  }
};

#else
bool mean_act_pad_kernels(const torch::Tensor&, const torch::Tensor&, std::int64_t, bool) {
  return false;
}
bool pointwise_conv_kernels(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&) {
  return false;
}
struct PointwiseConv {  // never called: pointwise_conv_kernels() is false
  static torch::Tensor apply(const torch::Tensor& x, const torch::Tensor&, const torch::Tensor&) {
    return x;
  }
};
struct MeanActPointwise {  // never called: mean_act_pad_kernels() is false
  static torch::Tensor apply(const torch::Tensor& y, const torch::Tensor&, const torch::Tensor&,
                             const torch::Tensor&, double, bool) {
    return y;
  }
};
struct MeanActPad {  // never called: mean_act_pad_kernels() is false
  static torch::Tensor apply(const torch::Tensor& y, const torch::Tensor&, double, std::int64_t,
                             bool, bool) {
    return y;
  }
};
bool nhwc_kernels(const torch::Tensor&) { return false; }
torch::Tensor nhwc_normalize_pad(const torch::Tensor& x, bool, double, double, std::int64_t) {
  return x;  // never called: nhwc_kernels() is false
}
torch::Tensor nhwc_residual(const torch::Tensor&, const torch::Tensor&, double,
                            const torch::Tensor&) {
  return {};  // the caller's unfused path
}
#endif

void check_pad(const torch::Tensor& x, std::int64_t pad) {
  check(x.dim() == 4, "", "reflection_pad: expected N×C×H×W");
  check(pad >= 0 && pad < x.size(2) && pad < x.size(3), "",
        "reflection_pad: the pad must be smaller than the image");
}

// act(x) for act(v) = v > 0 ? v : slope·v; in place on `fresh` (a tensor no one else holds) when
// autograd does not record.
torch::Tensor leaky(torch::Tensor fresh, double slope) {
  if (slope == 1.0) return fresh;
  if (records_grad(fresh))
    return slope == 0.0 ? torch::relu(fresh) : torch::leaky_relu(fresh, slope);
  return slope == 0.0 ? fresh.relu_() : torch::leaky_relu_(fresh, slope);
}

}  // namespace

torch::Tensor instance_norm(const torch::Tensor& x, double eps) {
  check(x.dim() >= 3, "", "instance_norm: expected N×C×spatial");
  if (nhwc_kernels(x)) return nhwc_normalize_pad(x, true, eps, 1.0, 0);
  // LibTorch's CPU kernel is the fastest there (var_mean is 2-5× slower on the CPU).
  if (!x.is_cuda()) return torch::instance_norm(x, {}, {}, {}, {}, true, 0.0, eps, false);
  std::vector<std::int64_t> dims;
  for (std::int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  const auto [var, mean] = torch::var_mean(x, dims, /*unbiased=*/false, /*keepdim=*/true);
  return (x - mean) * torch::rsqrt(var + eps);
}

torch::Tensor reflection_pad(const torch::Tensor& x, std::int64_t pad) {
  check_pad(x, pad);
  if (pad == 0) return x;
  if (nhwc_kernels(x)) return nhwc_normalize_pad(x, false, 0.0, 1.0, pad);
  if (!channels_last(x))
    return F::pad(x, F::PadFuncOptions({pad, pad, pad, pad}).mode(torch::kReflect));
  // Channels-last: the memory is N×H×W×C; as a 5-D N×1×H×W×C tensor a 3-D reflection pad of
  // (H, W, C) by (pad, pad, 0) pads H and W and writes NHWC memory again.
  const auto nhwc = x.permute({0, 2, 3, 1}).unsqueeze(1);
  const auto padded =
      F::pad(nhwc, F::PadFuncOptions({0, 0, pad, pad, pad, pad}).mode(torch::kReflect));
  return padded.squeeze(1).permute({0, 3, 1, 2});
}

torch::Tensor instance_norm_act_pad(const torch::Tensor& x, double slope, std::int64_t pad,
                                    double eps) {
  check_pad(x, pad);
  if (nhwc_kernels(x)) return nhwc_normalize_pad(x, true, eps, slope, pad);
  const auto y = leaky(instance_norm(x, eps), slope);
  return pad > 0 ? reflection_pad(y, pad) : y;
}

namespace {

void check_mean_norm(const torch::Tensor& y, const torch::Tensor& beta, const char* what) {
  check(y.dim() == 4 && beta.dim() == 1 && beta.size(0) == y.size(1), "",
        std::string(what) + ": expected N×C×H×W and C values of beta");
}

void check_pointwise(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                     const char* what) {
  check(x.dim() == 4 && weight.dim() == 4 && weight.size(1) == x.size(1) && weight.size(2) == 1 &&
            weight.size(3) == 1 && bias.dim() == 1 && bias.size(0) == weight.size(0),
        "", std::string(what) + ": expected N×C×H×W, an O×C×1×1 weight and O biases");
}

}  // namespace

torch::Tensor mean_norm_act_pad(const torch::Tensor& y, const torch::Tensor& beta, double slope,
                                std::int64_t pad, bool upsample, bool add_into_grad) {
  check_mean_norm(y, beta, "mean_norm_act_pad");
  const std::int64_t s = upsample ? 2 : 1;
  check(pad >= 0 && pad < s * y.size(2) && pad < s * y.size(3), "",
        "mean_norm_act_pad: the pad must be smaller than the image");
  if (mean_act_pad_kernels(y, beta, pad, upsample))
    return MeanActPad::apply(y, beta, slope, pad, upsample, add_into_grad);
  auto a = y - y.mean({2, 3}, true) + beta.to(y.scalar_type()).view({1, -1, 1, 1});
  if (slope != 1.0) a = torch::leaky_relu(a, slope);
  if (upsample)
    a = F::interpolate(a, F::InterpolateFuncOptions()
                              .scale_factor(std::vector<double>{2.0, 2.0})
                              .mode(torch::kBilinear)
                              .align_corners(false));
  return pad > 0 ? reflection_pad(a, pad) : a;
}

torch::Tensor pointwise_conv(const torch::Tensor& x, const torch::Tensor& weight,
                             const torch::Tensor& bias) {
  check_pointwise(x, weight, bias, "pointwise_conv");
  if (pointwise_conv_kernels(x, weight, bias)) return PointwiseConv::apply(x, weight, bias);
  return F::conv2d(x.to(torch::kFloat32), weight.to(torch::kFloat32),
                   F::Conv2dFuncOptions().bias(bias.to(torch::kFloat32)));
}

torch::Tensor mean_norm_act_pointwise(const torch::Tensor& y, const torch::Tensor& beta,
                                      double slope, const torch::Tensor& weight,
                                      const torch::Tensor& bias, bool add_into_grad) {
  check_mean_norm(y, beta, "mean_norm_act_pointwise");
  check_pointwise(y, weight, bias, "mean_norm_act_pointwise");
  // One launch shape, the pointwise kernels' (mean_act_pad's row limits do not apply).
  if (beta.is_cuda() && pointwise_conv_kernels(y, weight, bias))
    return MeanActPointwise::apply(y, beta, weight, bias, slope, add_into_grad);
  return pointwise_conv(mean_norm_act_pad(y, beta, slope, 0, false, add_into_grad), weight, bias);
}

namespace {

// The activation slope of module m if it is a ReLU (0) or a LeakyReLU, else nothing.
std::optional<double> activation_slope(const torch::nn::Module& m) {
  if (dynamic_cast<const torch::nn::ReLUImpl*>(&m) != nullptr) return 0.0;
  if (const auto* l = dynamic_cast<const torch::nn::LeakyReLUImpl*>(&m))
    return l->options.negative_slope();
  return std::nullopt;
}

}  // namespace

namespace {

// One axis of a transposed convolution as ordinary correlations, one per output phase φ (output
// position s·m + φ): out[s·m + φ] = Σ_t x[m + d] w[t] over the taps t ≡ φ + p (mod s), with
// d = (φ + p − t) / s. Phase φ's taps span offsets d = lo[φ] .. hi[φ]; all phases lo .. hi.
struct PhaseTaps {
  std::int64_t stride = 1, lo = 0, hi = 0;
  std::vector<std::int64_t> phase_lo, phase_hi;
  std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> taps;  // per φ: (t, d)
};

PhaseTaps phase_taps(std::int64_t kernel, std::int64_t stride, std::int64_t padding) {
  PhaseTaps a;
  a.stride = stride;
  a.taps.resize(static_cast<std::size_t>(stride));
  for (std::int64_t phi = 0; phi < stride; ++phi) {
    for (std::int64_t t = 0; t < kernel; ++t)
      if ((phi + padding - t) % stride == 0)
        a.taps[static_cast<std::size_t>(phi)].emplace_back(t, (phi + padding - t) / stride);
    const auto& taps = a.taps[static_cast<std::size_t>(phi)];  // d falls as t grows
    a.phase_lo.push_back(taps.back().second);
    a.phase_hi.push_back(taps.front().second);
  }
  a.lo = *std::min_element(a.phase_lo.begin(), a.phase_lo.end());
  a.hi = *std::max_element(a.phase_hi.begin(), a.phase_hi.end());
  return a;
}

// The per-axis zero padding of o, or nothing for 'same'/'valid' padding. (The options' variants
// are c10::variant in LibTorch 1.13 and std::variant in 2.x: ordinary lookup finds std::get_if,
// argument-dependent lookup adds c10::get_if where it exists.)
const torch::ExpandingArray<2>* zero_padding(const torch::nn::detail::ConvNdOptions<2>& o) {
  using std::get_if;
  if (get_if<torch::enumtype::kZeros>(&o.padding_mode()) == nullptr) return nullptr;
  return get_if<torch::ExpandingArray<2>>(&o.padding());
}

}  // namespace

bool on_stride_grid(const torch::nn::ConvTranspose2dImpl& conv) {
  const auto& o = conv.options;
  const auto* padding = zero_padding(o);
  if (o.groups() != 1 || padding == nullptr) return false;
  for (std::size_t i = 0; i < 2; ++i)
    if ((*o.dilation())[i] != 1 || (*o.output_padding())[i] != 0 ||
        (*o.kernel_size())[i] != (*o.stride())[i] + 2 * (**padding)[i])
      return false;
  return true;
}

namespace {

// The correlation weights (Cout × Cin × taps per axis) of output phase (py, px) of a transposed
// convolution's weights w (Cin × Cout × ky × kx).
torch::Tensor phase_weights(const torch::Tensor& w, const PhaseTaps& ay, std::int64_t py,
                            const PhaseTaps& ax, std::int64_t px) {
  const auto y = static_cast<std::size_t>(py), x = static_cast<std::size_t>(px);
  auto k = torch::empty({w.size(1), w.size(0), ay.phase_hi[y] - ay.phase_lo[y] + 1,
                         ax.phase_hi[x] - ax.phase_lo[x] + 1},
                        w.options());
  const auto wt = w.transpose(0, 1);  // Cout × Cin × ky × kx
  for (const auto& [ty, dy] : ay.taps[y])
    for (const auto& [tx, dx] : ax.taps[x])
      k.select(2, dy - ay.phase_lo[y])
          .select(2, dx - ax.phase_lo[x])
          .copy_(wt.select(2, ty).select(2, tx));
  return k;
}

}  // namespace

torch::Tensor conv_transpose(torch::nn::ConvTranspose2dImpl& conv, const torch::Tensor& x,
                             bool with_bias) {
  const auto& o = conv.options;
  const auto bias = with_bias ? conv.bias : torch::Tensor();
  const auto* zeros = zero_padding(o);
  if (x.dim() != 4 || records(conv, x) || zeros == nullptr) return conv.forward(x);
  const auto& padding = **zeros;
  if (!x.device().is_cpu() || !on_stride_grid(conv))
    return torch::conv_transpose2d(x, conv.weight, bias, *o.stride(), padding, *o.output_padding(),
                                   o.groups(), *o.dilation());
  const auto ay = phase_taps((*o.kernel_size())[0], (*o.stride())[0], padding[0]);
  const auto ax = phase_taps((*o.kernel_size())[1], (*o.stride())[1], padding[1]);
  const std::int64_t h = x.size(2), w = x.size(3);
  // Row m + d of x is row m + d - lo of `padded`; phase (py, px) correlates its window of taps.
  const auto padded =
      F::pad(x, F::PadFuncOptions({-ax.lo, ax.hi, -ay.lo, ay.hi}).mode(torch::kConstant));
  // Output row s·m + φy, column s·m' + φx is element (m, φy, m', φx) of an H × sy × W × sx grid.
  auto out = torch::empty({x.size(0), o.out_channels(), h, ay.stride, w, ax.stride}, x.options());
  for (std::int64_t py = 0; py < ay.stride; ++py)
    for (std::int64_t px = 0; px < ax.stride; ++px) {
      const auto k = phase_weights(conv.weight, ay, py, ax, px);
      const auto window =
          padded.narrow(2, ay.phase_lo[static_cast<std::size_t>(py)] - ay.lo, h + k.size(2) - 1)
              .narrow(3, ax.phase_lo[static_cast<std::size_t>(px)] - ax.lo, w + k.size(3) - 1)
              .contiguous();  // oneDNN is slower on the strided view
      out.select(3, py).select(4, px).copy_(torch::conv2d(window, k, bias));
    }
  return out.view({x.size(0), o.out_channels(), h * ay.stride, w * ax.stride});
}

namespace {

// cuDNN's 16-bit channels-last convolutions run a generic kernel below 8 input channels: the HIPe
// peeler's 6 → 64 took 874 µs at 1080p on an H100, the same layer with 8 (2 zero) channels 289.
bool pad_input_channels(const torch::Tensor& x, std::int64_t groups) {
  const auto t = x.scalar_type();
  return x.is_cuda() && groups == 1 && x.size(1) % 8 != 0 && channels_last(x) &&
         (t == torch::kFloat16 || t == torch::kBFloat16);
}

template <class M>
M* as(const torch::nn::AnyModule& m) {
  return dynamic_cast<M*>(m.ptr().get());
}

using Step = std::vector<torch::nn::AnyModule>::iterator;

// An instance norm removes every per-channel constant of its input, so the bias of a convolution
// right before one cannot change the result: inference leaves it out (a whole pass over the
// activation on CUDA, where LibTorch adds it after cuDNN's convolution). With autograd,
// conv_forward and conv_transpose keep it whatever this says.
bool bias_cancels(Step it, Step end) {
  return it + 1 != end && as<InstanceNormImpl>(*(it + 1)) != nullptr;
}

// The modules [it, stop) of a sequence that ends at `end`, fused as forward_fused says.
torch::Tensor forward_range(Step it, Step stop, Step end, torch::Tensor y) {
  for (; it != stop; ++it) {
    if (auto* transposed = as<torch::nn::ConvTranspose2dImpl>(*it)) {
      y = conv_transpose(*transposed, y, !bias_cancels(it, end));
      continue;
    }
    if (auto* conv = as<torch::nn::Conv2dImpl>(*it)) {
      y = conv_forward(*conv, y, !bias_cancels(it, end));
      continue;
    }
    const auto* norm = as<InstanceNormImpl>(*it);
    if (norm == nullptr) {
      y = it->forward(y);
      continue;
    }
    double slope = 1.0;
    std::int64_t pad = 0;
    if (it + 1 != stop)
      if (const auto s = activation_slope(*(it + 1)->ptr())) {
        slope = *s;
        ++it;
      }
    if (it + 1 != stop)
      if (const auto* p = as<ReflectionPadImpl>(*(it + 1))) {
        pad = p->pad();
        ++it;
      }
    y = instance_norm_act_pad(y, slope, pad, norm->eps());
  }
  return y;
}

}  // namespace

torch::Tensor conv_forward(torch::nn::Conv2dImpl& conv, const torch::Tensor& x, bool with_bias) {
  const auto& o = conv.options;
  const auto* padding = zero_padding(o);
  if (x.dim() != 4 || records(conv, x) || padding == nullptr) return conv.forward(x);
  auto input = x;
  auto weight = conv.weight;
  if (pad_input_channels(x, o.groups())) {
    const std::int64_t c = x.size(1), c8 = (c + 7) / 8 * 8;
    input = torch::zeros({x.size(0), c8, x.size(2), x.size(3)},
                         x.options().memory_format(torch::MemoryFormat::ChannelsLast));
    input.narrow(1, 0, c).copy_(x);
    weight = F::pad(weight, F::PadFuncOptions({0, 0, 0, 0, 0, c8 - c}));
  }
  return torch::conv2d(input, weight, with_bias ? conv.bias : torch::Tensor(), *o.stride(),
                       *padding, *o.dilation(), o.groups());
}

torch::Tensor forward_fused(torch::nn::Sequential& sequence, const torch::Tensor& x) {
  return forward_range(sequence->begin(), sequence->end(), sequence->end(), x);
}

torch::Tensor residual_forward(torch::nn::Sequential& block, const torch::Tensor& x) {
  if (block->size() >= 2 && nhwc_kernels(x) && !records(*block, x)) {
    const auto last = block->begin() + static_cast<std::ptrdiff_t>(block->size() - 1);
    if (const auto* norm = as<InstanceNormImpl>(*last)) {  // x + IN(y)
      const auto y = forward_range(block->begin(), last, block->end(), x);
      const auto out = nhwc_residual(x, y, norm->eps(), torch::Tensor());
      return out.defined() ? out : x + instance_norm(y, norm->eps());
    }
    auto* conv = as<torch::nn::Conv2dImpl>(*last);
    // x + conv(h) + bias: the bias rides along (conv_forward leaves it out for zero padding only)
    if (conv != nullptr && conv->bias.defined() && zero_padding(conv->options) != nullptr) {
      const auto y =
          conv_forward(*conv, forward_range(block->begin(), last, block->end(), x), false);
      const auto out = nhwc_residual(x, y, 0.0, conv->bias);
      return out.defined() ? out : x + (y + conv->bias.view({1, -1, 1, 1}));
    }
  }
  return x + forward_fused(block, x);
}

}  // namespace strata::nn
