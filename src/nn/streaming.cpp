// Layer streaming (docs/hipe.md, "Tiled inference"): each layer's full activation lives in host
// memory and the layer runs tile by tile on the device; convolutions read their tile's halo from
// the full input and instance norm gathers its statistics over all tiles before normalising, so
// the result is the untiled one up to float rounding, whatever the receptive field.
#include "strata/nn/streaming.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/nn/layers.hpp"
#include "strata/nn/residual.hpp"

namespace strata::nn {

namespace {

namespace tnn = torch::nn;
namespace F = torch::nn::functional;
using std::int64_t;

constexpr const char* kWhere = "stream_forward: ";

struct Context {
  StreamOptions options;
  torch::Device device;  // where tiles are computed: the module's parameters' device
};

// The pointwise layers that follow a layer, applied to each of its output tiles on the device.
using Epilogue = std::vector<tnn::AnyModule>;

// A half-open range [begin, end) of rows or columns.
struct Span {
  int64_t begin, end;
  int64_t size() const { return end - begin; }
};

// The rows × cols region of an N×C×H×W tensor (a view).
torch::Tensor region(const torch::Tensor& x, Span rows, Span cols) {
  return x.narrow(2, rows.begin, rows.size()).narrow(3, cols.begin, cols.size());
}

// Calls fn(rows, cols) for the tiles of an h×w plane, row by row.
void for_each_tile(int64_t h, int64_t w, int64_t tile, const std::function<void(Span, Span)>& fn) {
  for (int64_t y = 0; y < h; y += tile)
    for (int64_t x = 0; x < w; x += tile)
      fn({y, std::min(y + tile, h)}, {x, std::min(x + tile, w)});
}

// A host region on the device in `dtype`, zero-padded by {left, right, top, bottom}, in the
// options' memory layout; always a copy, so in-place layers cannot touch the host tensor.
torch::Tensor upload(const torch::Tensor& host, const Context& ctx, torch::ScalarType dtype,
                     const std::vector<int64_t>& zeros = {}) {
  auto t = host.to(ctx.device, dtype, /*non_blocking=*/false, /*copy=*/true);
  if (std::any_of(zeros.begin(), zeros.end(), [](int64_t z) { return z > 0; }))
    t = F::pad(t, F::PadFuncOptions(zeros));
  return ctx.options.channels_last ? t.contiguous(torch::MemoryFormat::ChannelsLast) : t;
}

// The float32 host output of N×C×h×w, each tile computed on the device by compute(rows, cols)
// and passed through the epilogue.
torch::Tensor map_tiles(const std::vector<int64_t>& shape,
                        const std::function<torch::Tensor(Span, Span)>& compute, Epilogue& epilogue,
                        const Context& ctx) {
  auto out = torch::empty(shape, torch::kFloat32);
  for_each_tile(shape[2], shape[3], ctx.options.tile, [&](Span rows, Span cols) {
    auto t = compute(rows, cols);
    for (auto& layer : epilogue) t = layer.forward(t);
    region(out, rows, cols).copy_(t);
  });
  return out;
}

// The epilogue on every tile of x (x itself when it is empty).
torch::Tensor pointwise(const torch::Tensor& x, Epilogue& epilogue, const Context& ctx) {
  if (epilogue.empty()) return x;
  return map_tiles(
      x.sizes().vec(),
      [&](Span rows, Span cols) { return upload(region(x, rows, cols), ctx, ctx.options.dtype); },
      epilogue, ctx);
}

// ---- convolutions ------------------------------------------------------------------------------

// One spatial axis of a convolution.
struct ConvAxis {
  int64_t kernel, stride, padding, dilation, output_padding;
  int64_t extent() const { return dilation * (kernel - 1) + 1; }  // the kernel's span in pixels
};

ConvAxis conv_axis(const tnn::detail::ConvNdOptions<2>& o, std::size_t i) {
  // The options' variants are c10::variant in LibTorch 1.13 and std::variant in 2.x: ordinary
  // lookup finds std::get_if, argument-dependent lookup adds c10::get_if where it exists.
  using std::get_if;
  const auto* padding = get_if<torch::ExpandingArray<2>>(&o.padding());
  check(padding != nullptr, "", std::string(kWhere) + "'same'/'valid' padding is not supported");
  check(get_if<torch::enumtype::kZeros>(&o.padding_mode()) != nullptr, "",
        std::string(kWhere) + "only zero-padded convolutions are supported");
  return {(*o.kernel_size())[i], (*o.stride())[i], (**padding)[i], (*o.dilation())[i],
          (*o.output_padding())[i]};
}

// The input rows of a convolution that output rows `out` read, with the zero rows of its padding
// before and after them.
struct Window {
  Span in;
  int64_t zeros_before, zeros_after;
};

Window conv_window(Span out, const ConvAxis& a, int64_t size) {
  const int64_t first = out.begin * a.stride - a.padding;
  const int64_t last = (out.end - 1) * a.stride - a.padding + a.extent();  // exclusive
  const int64_t begin = std::max<int64_t>(first, 0), end = std::min(last, size);
  if (begin >= end) return {{0, 0}, last - first, 0};
  return {{begin, end}, begin - first, last - end};
}

// One output tile of a convolution: its input tile with the halo, padded, convolved unpadded.
torch::Tensor conv_tile(tnn::Conv2dImpl& conv, const torch::Tensor& x, Span rows, Span cols,
                        const Context& ctx) {
  const auto& o = conv.options;
  const auto wy = conv_window(rows, conv_axis(o, 0), x.size(2));
  const auto wx = conv_window(cols, conv_axis(o, 1), x.size(3));
  const auto in = upload(region(x, wy.in, wx.in), ctx, ctx.options.dtype,
                         {wx.zeros_before, wx.zeros_after, wy.zeros_before, wy.zeros_after});
  return torch::conv2d(in, conv.weight, conv.bias, *o.stride(), torch::IntArrayRef(0),
                       *o.dilation(), o.groups());
}

torch::Tensor conv2d(tnn::Conv2dImpl& conv, const torch::Tensor& x, Epilogue& epilogue,
                     const Context& ctx) {
  const auto size = [&](std::size_t i) {
    const auto a = conv_axis(conv.options, i);
    return (x.size(2 + i) + 2 * a.padding - a.extent()) / a.stride + 1;
  };
  return map_tiles(
      {x.size(0), conv.options.out_channels(), size(0), size(1)},
      [&](Span rows, Span cols) { return conv_tile(conv, x, rows, cols, ctx); }, epilogue, ctx);
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The input rows of a transposed convolution that reach output rows `out`, and where out.begin
// falls in the output of those rows alone (computed without padding).
struct TransposedWindow {
  Span in;
  int64_t offset;
};

TransposedWindow transposed_window(Span out, const ConvAxis& a, int64_t size) {
  // Input row i reaches uncropped output rows i·stride … i·stride + extent - 1.
  const int64_t first = out.begin + a.padding, last = out.end - 1 + a.padding;
  const int64_t begin = std::max<int64_t>(-floor_div(a.extent() - 1 - first, a.stride), 0);
  const int64_t end = std::min(floor_div(last, a.stride) + 1, size);
  const int64_t offset = first - begin * a.stride;
  check(begin < end && offset >= 0 && last < (end - 1) * a.stride + a.extent(), "",
        std::string(kWhere) + "transposed convolution with gaps between its input's reach");
  return {{begin, end}, offset};
}

// One output tile of a transposed convolution, from the input rows and columns that reach it.
torch::Tensor conv_transpose_tile(tnn::ConvTranspose2dImpl& conv, const torch::Tensor& x, Span rows,
                                  Span cols, const Context& ctx) {
  const auto& o = conv.options;
  const auto ay = conv_axis(o, 0), ax = conv_axis(o, 1);
  const auto wy = transposed_window(rows, ay, x.size(2));
  const auto wx = transposed_window(cols, ax, x.size(3));
  const auto in = upload(region(x, wy.in, wx.in), ctx, ctx.options.dtype);
  // On the stride grid the layer's own padding crops no row that the tile needs (the offsets are
  // at least the padding), so the layer runs as it is, on the CPU by conv_transpose's per-phase
  // convolutions.
  if (on_stride_grid(conv))
    return conv_transpose(conv, in)
        .narrow(2, wy.offset - ay.padding, rows.size())
        .narrow(3, wx.offset - ax.padding, cols.size());
  const auto full = torch::conv_transpose2d(in, conv.weight, conv.bias, *o.stride(), 0, 0,
                                            o.groups(), *o.dilation());
  return full.narrow(2, wy.offset, rows.size()).narrow(3, wx.offset, cols.size());
}

torch::Tensor conv_transpose2d(tnn::ConvTranspose2dImpl& conv, const torch::Tensor& x,
                               Epilogue& epilogue, const Context& ctx) {
  const auto size = [&](std::size_t i) {
    const auto a = conv_axis(conv.options, i);
    return (x.size(2 + i) - 1) * a.stride - 2 * a.padding + a.extent() + a.output_padding;
  };
  return map_tiles(
      {x.size(0), conv.options.out_channels(), size(0), size(1)},
      [&](Span rows, Span cols) { return conv_transpose_tile(conv, x, rows, cols, ctx); }, epilogue,
      ctx);
}

// ---- instance norm -----------------------------------------------------------------------------

// Per-(n, c) mean and 1/sqrt(var + eps) over the whole plane (biased variance, as
// InstanceNorm2d), from float64 sums over the tiles; N×C×1×1 float32 on the device.
std::pair<torch::Tensor, torch::Tensor> plane_statistics(const torch::Tensor& x, double eps,
                                                         const Context& ctx) {
  const auto f64 = torch::TensorOptions(torch::kFloat64).device(ctx.device);
  auto sum = torch::zeros({x.size(0), x.size(1)}, f64), squares = torch::zeros_like(sum);
  for_each_tile(x.size(2), x.size(3), ctx.options.tile, [&](Span rows, Span cols) {
    const auto t = region(x, rows, cols).to(ctx.device, torch::kFloat64);
    sum += t.sum({2, 3});
    squares += t.square().sum({2, 3});
  });
  const double count = static_cast<double>(x.size(2) * x.size(3));
  const auto mean = sum / count;
  const auto var = (squares / count - mean.square()).clamp_min(0.0);
  const auto as_map = [](const torch::Tensor& t) {
    return t.to(torch::kFloat32).unsqueeze(-1).unsqueeze(-1);
  };
  return {as_map(mean), as_map((var + eps).rsqrt())};
}

// An instance norm: eps, and the per-channel weight and bias when it has them (affine).
struct Norm {
  double eps;
  torch::Tensor weight, bias;
};

Norm norm_of(const tnn::InstanceNorm2dImpl& norm) {
  const auto& o = norm.options;
  check(!o.track_running_stats(), "",
        std::string(kWhere) + "instance norm with running statistics is not supported");
  return o.affine() ? Norm{o.eps(), norm.weight, norm.bias} : Norm{o.eps(), {}, {}};
}

torch::Tensor instance_norm(const Norm& norm, const torch::Tensor& x, Epilogue& epilogue,
                            const Context& ctx) {
  const auto statistics = plane_statistics(x, norm.eps, ctx);  // mean, 1/std
  const auto channel = [](const torch::Tensor& t) {
    return t.to(torch::kFloat32).view({1, -1, 1, 1});
  };
  return map_tiles(
      x.sizes().vec(),
      [&](Span rows, Span cols) {
        auto t = (upload(region(x, rows, cols), ctx, torch::kFloat32) - statistics.first) *
                 statistics.second;
        if (norm.weight.defined()) t = t * channel(norm.weight) + channel(norm.bias);
        return t.to(ctx.options.dtype);
      },
      epilogue, ctx);
}

// ---- the walk over a Sequential ----------------------------------------------------------------

bool is_pointwise(const tnn::AnyModule& layer) {
  const auto& m = layer.ptr();
  return m->as<tnn::ReLUImpl>() || m->as<tnn::LeakyReLUImpl>() || m->as<tnn::SigmoidImpl>() ||
         m->as<tnn::TanhImpl>();
}

torch::Tensor run_sequential(tnn::Sequential& net, torch::Tensor x, const Context& ctx);

// x padded by {left, right, top, bottom}.
torch::Tensor pad(const torch::Tensor& x, const torch::ExpandingArray<4>& padding,
                  F::PadFuncOptions::mode_t mode) {
  return F::pad(
      x, F::PadFuncOptions(std::vector<int64_t>(padding->begin(), padding->end())).mode(mode));
}

// A layer that runs on the whole host tensor: padding (a copy with the border added) or a
// residual block (its Sequential streamed, then the sum).
torch::Tensor host_layer(const tnn::AnyModule& layer, const torch::Tensor& x, const Context& ctx) {
  const auto& m = layer.ptr();
  if (auto* p = m->as<tnn::ReflectionPad2dImpl>())
    return pad(x, p->options.padding(), torch::kReflect);
  if (auto* p = m->as<ReflectionPadImpl>()) return pad(x, p->pad(), torch::kReflect);
  if (auto* p = m->as<tnn::ReplicationPad2dImpl>())
    return pad(x, p->options.padding(), torch::kReplicate);
  if (auto* r = m->as<ResidualImpl>()) return x + run_sequential(r->block(), x, ctx);
  throw Error("", std::string(kWhere) + "layer " + m->name() + " is not supported");
}

torch::Tensor run_layer(const tnn::AnyModule& layer, const torch::Tensor& x, Epilogue& epilogue,
                        const Context& ctx) {
  const auto& m = layer.ptr();
  if (auto* c = m->as<tnn::Conv2dImpl>()) return conv2d(*c, x, epilogue, ctx);
  if (auto* c = m->as<tnn::ConvTranspose2dImpl>()) return conv_transpose2d(*c, x, epilogue, ctx);
  if (auto* n = m->as<tnn::InstanceNorm2dImpl>())
    return instance_norm(norm_of(*n), x, epilogue, ctx);
  if (auto* n = m->as<InstanceNormImpl>())
    return instance_norm({n->eps(), {}, {}}, x, epilogue, ctx);
  if (is_pointwise(layer)) {
    epilogue.insert(epilogue.begin(), layer);
    return pointwise(x, epilogue, ctx);
  }
  return pointwise(host_layer(layer, x, ctx), epilogue, ctx);
}

torch::Tensor run_sequential(tnn::Sequential& net, torch::Tensor x, const Context& ctx) {
  const std::vector<tnn::AnyModule> layers(net->begin(), net->end());
  for (std::size_t i = 0; i < layers.size();) {
    const auto& layer = layers[i++];
    Epilogue epilogue;  // the pointwise layers after it run on its tiles
    while (i < layers.size() && is_pointwise(layers[i])) epilogue.push_back(layers[i++]);
    x = run_layer(layer, x, epilogue, ctx);
  }
  return x;
}

torch::Device parameter_device(const torch::nn::Module& m) {
  const auto parameters = m.parameters();
  return parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device();
}

}  // namespace

torch::Tensor stream_forward(torch::nn::Sequential& net, const torch::Tensor& x,
                             const StreamOptions& options) {
  check(options.tile >= 1, "", std::string(kWhere) + "tile must be >= 1");
  check(x.defined() && x.dim() == 4, "", std::string(kWhere) + "input must be N×C×H×W");
  torch::NoGradGuard no_grad;
  const Context ctx{options, parameter_device(*net)};
  return run_sequential(net, x.to(torch::kCPU, torch::kFloat32).contiguous(), ctx);
}

}  // namespace strata::nn
