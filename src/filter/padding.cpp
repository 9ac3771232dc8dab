#include "padding.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../core/kernel_support.hpp"
#include "../core/parallel.hpp"

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

// The source index of position i on an axis of n positions (any i: the pattern repeats); the
// scalar form of the index tensors above.
std::int64_t fold(std::int64_t i, std::int64_t n, Border border) {
  return border == Border::Reflect101 ? fold_reflect101(i, n) : fold_symmetric(i, n);
}

// Source indices of positions -r .. n + r - 1.
std::vector<std::int64_t> folded(std::int64_t n, std::int64_t r, Border border) {
  std::vector<std::int64_t> index(static_cast<std::size_t>(n + 2 * r));
  for (std::int64_t i = -r; i < n + r; ++i)
    index[static_cast<std::size_t>(i + r)] = fold(i, n, border);
  return index;
}

// One output row: the column pass over 2r + 1 input rows into `line` (at offset r, its border
// filled through `cols`), then the row pass into `out`. w = taps w[0..r].
template <typename T>
void separable_row(const T* plane, std::int64_t width, const std::int64_t* rows, std::int64_t y,
                   const std::vector<T>& w, const std::int64_t* cols, T* line, T* out) {
  const auto r = static_cast<std::int64_t>(w.size()) - 1;
  T* mid = line + r;
  const T* center = plane + rows[y + r] * width;
  for (std::int64_t x = 0; x < width; ++x) mid[x] = w[0] * center[x];
  for (std::int64_t k = 1; k <= r; ++k) {
    const T* above = plane + rows[y + r - k] * width;
    const T* below = plane + rows[y + r + k] * width;
    const T wk = w[static_cast<std::size_t>(k)];
    for (std::int64_t x = 0; x < width; ++x) mid[x] += wk * (above[x] + below[x]);
  }
  for (std::int64_t j = 0; j < r; ++j) {
    line[j] = mid[cols[j]];
    mid[width + j] = mid[cols[width + r + j]];
  }
  for (std::int64_t x = 0; x < width; ++x) out[x] = w[0] * mid[x];
  for (std::int64_t k = 1; k <= r; ++k) {
    const T wk = w[static_cast<std::size_t>(k)];
    for (std::int64_t x = 0; x < width; ++x) out[x] += wk * (mid[x - k] + mid[x + k]);
  }
}

template <typename T>
void separable_cpu(const torch::Tensor& x, torch::Tensor& y, const std::vector<double>& taps,
                   Border border) {
  const std::int64_t h = x.size(-2), w = x.size(-1), r = static_cast<std::int64_t>(taps.size()) - 1;
  const std::vector<T> weights(taps.begin(), taps.end());
  const auto rows = folded(h, r, border), cols = folded(w, r, border);
  const T* in = x.data_ptr<T>();
  T* out = y.data_ptr<T>();
  ParallelRanges::run(x.numel() / w, 64, [&](std::int64_t begin, std::int64_t end) {
    std::vector<T> line(static_cast<std::size_t>(w + 2 * r));
    for (std::int64_t row = begin; row < end; ++row) {
      const std::int64_t plane = row / h;
      separable_row(in + plane * h * w, w, rows.data(), row % h, weights, cols.data(), line.data(),
                    out + row * w);
    }
  });
}

}  // namespace

torch::Tensor convolve_separable(const torch::Tensor& x, const std::vector<double>& taps,
                                 Border border) {
  const bool kernel = x.device().is_cpu() && x.dim() >= 2 && x.numel() > 0 &&
                      (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64) &&
                      !records_grad(x);
  if (!kernel)
    return convolve_symmetric(convolve_symmetric(x, x.dim() - 2, taps, border), x.dim() - 1, taps,
                              border);
  const auto in = x.contiguous();
  auto y = torch::empty(in.sizes(), in.options());
  if (in.scalar_type() == torch::kFloat64)
    separable_cpu<double>(in, y, taps, border);
  else
    separable_cpu<float>(in, y, taps, border);
  return y;
}

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
