#include "padding.hpp"

#include <torch/torch.h>

namespace strata::filter {

namespace {

// Reflect-101 source indices of positions [from, to), folded with period 2(n - 1).
torch::Tensor reflect101_index(std::int64_t n, std::int64_t from, std::int64_t to,
                               const torch::Device& device) {
  const auto i = torch::arange(from, to, torch::TensorOptions(torch::kLong).device(device));
  if (n == 1) return torch::zeros_like(i);
  const std::int64_t period = 2 * (n - 1);
  const auto m = torch::remainder(i, period);
  return torch::where(m < n, m, period - m);
}

// Symmetric source indices of positions [from, to), folded with period 2n.
torch::Tensor symmetric_index(std::int64_t n, std::int64_t from, std::int64_t to,
                              const torch::Device& device) {
  const auto i = torch::arange(from, to, torch::TensorOptions(torch::kLong).device(device));
  const auto m = torch::remainder(i, 2 * n);
  return torch::where(m < n, m, 2 * n - 1 - m);
}

}  // namespace

torch::Tensor pad_border(const torch::Tensor& x, std::int64_t dim, std::int64_t pad,
                         Border border) {
  if (border == Border::Reflect101) return pad_reflect101(x, dim, pad);
  const std::int64_t n = x.size(dim);
  return torch::cat({x.index_select(dim, symmetric_index(n, -pad, 0, x.device())), x,
                     x.index_select(dim, symmetric_index(n, n, n + pad, x.device()))},
                    dim);
}

torch::Tensor convolve_symmetric(const torch::Tensor& x, std::int64_t dim,
                                 const std::vector<double>& taps, Border border) {
  const auto radius = static_cast<std::int64_t>(taps.size()) - 1;
  const std::int64_t n = x.size(dim);
  const auto padded = pad_border(x, dim, radius, border);
  auto out = padded.narrow(dim, radius, n) * taps[0];
  for (std::int64_t k = 1; k <= radius; ++k) {
    out.add_(padded.narrow(dim, radius - k, n), taps[static_cast<std::size_t>(k)]);
    out.add_(padded.narrow(dim, radius + k, n), taps[static_cast<std::size_t>(k)]);
  }
  return out;
}

torch::Tensor pad_reflect101(const torch::Tensor& x, std::int64_t dim, std::int64_t pad) {
  const std::int64_t n = x.size(dim);
  return torch::cat({x.index_select(dim, reflect101_index(n, -pad, 0, x.device())), x,
                     x.index_select(dim, reflect101_index(n, n, n + pad, x.device()))},
                    dim);
}

torch::Tensor pad_reflect101_2d(const torch::Tensor& x, std::int64_t pad) {
  // torch's "reflect" mode is reflect-101 where it applies (pad smaller than the size).
  if (pad < x.size(2) && pad < x.size(3)) return at::reflection_pad2d(x, {pad, pad, pad, pad});
  return pad_reflect101(pad_reflect101(x, 2, pad), 3, pad).contiguous();
}

}  // namespace strata::filter
