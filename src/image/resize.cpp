#include "strata/image/resize.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "../core/kernel_support.hpp"
#include "../core/parallel.hpp"
#include "strata/core/error.hpp"

namespace strata::image {

namespace {

constexpr double kPi = 3.14159265358979323846;

using Taps = std::vector<std::pair<std::int64_t, double>>;  // (input index, weight)

struct Kernel {
  double (*f)(double);
  double support;  // f(x) = 0 for |x| >= support
};

// Bilinear: triangle, f(x) = max(0, 1 - |x|).
double triangle(double x) { return std::max(0.0, 1.0 - std::abs(x)); }

// Bicubic: Keys (1981) with a = -0.5: (a+2)|x|^3 - (a+3)|x|^2 + 1 on [0,1],
// a|x|^3 - 5a|x|^2 + 8a|x| - 4a on (1,2).
double keys_cubic(double x) {
  const double t = std::abs(x);
  if (t <= 1.0) return (1.5 * t - 2.5) * t * t + 1.0;
  if (t < 2.0) return ((-0.5 * t + 2.5) * t - 4.0) * t + 2.0;
  return 0.0;
}

// Lanczos3: sinc(x) sinc(x/3) for |x| < 3, with sinc(x) = sin(pi x) / (pi x).
double lanczos3(double x) {
  const double t = std::abs(x);
  if (t >= 3.0) return 0.0;
  if (t < 1e-12) return 1.0;
  const double p = kPi * t;
  return 3.0 * std::sin(p) * std::sin(p / 3.0) / (p * p);
}

Kernel kernel_for(Interpolation method) {
  switch (method) {
    case Interpolation::Bilinear: return {triangle, 1.0};
    case Interpolation::Lanczos3: return {lanczos3, 3.0};
    default: return {keys_cubic, 2.0};
  }
}

// Sorts taps by index, merges those that fold onto the same pixel, drops zero weights and
// normalises the weights to sum 1.
Taps normalise(Taps taps) {
  std::sort(taps.begin(), taps.end());
  Taps merged;
  for (const auto& [i, w] : taps) {
    if (!merged.empty() && merged.back().first == i)
      merged.back().second += w;
    else
      merged.emplace_back(i, w);
  }
  merged.erase(
      std::remove_if(merged.begin(), merged.end(), [](const auto& t) { return t.second == 0.0; }),
      merged.end());
  double sum = 0.0;
  for (const auto& t : merged) sum += t.second;
  for (auto& t : merged) t.second /= sum;
  return merged;
}

// Nearest: output j takes input floor((j + 0.5) * in / out), in exact integer arithmetic.
std::vector<Taps> nearest_taps(std::int64_t in, std::int64_t out) {
  std::vector<Taps> rows(static_cast<std::size_t>(out));
  for (std::int64_t j = 0; j < out; ++j)
    rows[static_cast<std::size_t>(j)] = {{std::min((2 * j + 1) * in / (2 * out), in - 1), 1.0}};
  return rows;
}

// Half-pixel aligned filter taps; when downscaling with antialias the kernel is stretched by
// in / out (the support widens, the normalisation absorbs the 1/stretch amplitude).
std::vector<Taps> filter_taps(std::int64_t in, std::int64_t out, const Kernel& kernel,
                              bool antialias) {
  const double stretch = antialias && out < in ? static_cast<double>(in) / out : 1.0;
  const double half = kernel.support * stretch;
  std::vector<Taps> rows(static_cast<std::size_t>(out));
  for (std::int64_t j = 0; j < out; ++j) {
    const double u = static_cast<double>(2 * j + 1) * in / (2.0 * out) - 0.5;
    Taps taps;
    const auto hi = static_cast<std::int64_t>(std::ceil(u + half));
    for (auto i = static_cast<std::int64_t>(std::floor(u - half)); i <= hi; ++i) {
      const double w = kernel.f((u - i) / stretch);
      if (w != 0.0) taps.emplace_back(fold_symmetric(i, in), w);
    }
    rows[static_cast<std::size_t>(j)] = normalise(std::move(taps));
  }
  return rows;
}

std::vector<Taps> make_taps(std::int64_t in, std::int64_t out, const ResizeOptions& options) {
  if (options.method == Interpolation::Nearest) return nearest_taps(in, out);
  return filter_taps(in, out, kernel_for(options.method), options.antialias);
}

// The (out × in) resampling matrix of one axis, sparse: row j holds the taps of output j.
torch::Tensor sparse_matrix(const std::vector<Taps>& rows, std::int64_t in,
                            const torch::TensorOptions& options) {
  std::vector<std::int64_t> row_index, col_index;
  std::vector<double> weight;
  for (std::size_t j = 0; j < rows.size(); ++j)
    for (const auto& [i, w] : rows[j]) {
      row_index.push_back(static_cast<std::int64_t>(j));
      col_index.push_back(i);
      weight.push_back(w);
    }
  const auto indices = torch::stack({torch::tensor(row_index), torch::tensor(col_index)});
  const auto values = torch::tensor(weight, torch::kFloat64);
  const std::vector<std::int64_t> size = {static_cast<std::int64_t>(rows.size()), in};
  return torch::sparse_coo_tensor(indices.to(options.device()), values.to(options), size)
      .coalesce();
}

// Resamples dim -2 of x (B × H × W): one sparse (out × H) @ (H × W) product per image.
torch::Tensor resample_rows(const torch::Tensor& x, const torch::Tensor& matrix) {
  auto out = torch::empty({x.size(0), matrix.size(0), x.size(2)}, x.options());
  for (std::int64_t b = 0; b < x.size(0); ++b) {
    auto slice = out[b];
    torch::mm_out(slice, matrix, x[b]);
  }
  return out;
}

// Resamples dim -1 of x (B × H × W): the sparse matrix multiplies from the left, so the columns
// are brought to the front as (W × B·H) and the (out × B·H) result is transposed back.
torch::Tensor resample_cols(const torch::Tensor& x, const torch::Tensor& matrix) {
  const auto columns = x.reshape({-1, x.size(2)}).t().contiguous();
  return torch::mm(matrix, columns).t().contiguous().view({x.size(0), x.size(1), -1});
}

// Resamples dim `dim` (-2 or -1) of x, viewed as B × H × W.
torch::Tensor resample(const torch::Tensor& x, std::int64_t dim, std::int64_t out,
                       const ResizeOptions& options) {
  const std::int64_t in = x.size(dim);
  const auto matrix = sparse_matrix(make_taps(in, out, options), in, x.options());
  const auto images = x.reshape({-1, x.size(-2), x.size(-1)});
  auto sizes = x.sizes().vec();
  sizes[static_cast<std::size_t>(x.dim() + dim)] = out;
  if (records_grad(x)) {
    // Differentiable path (the sparse products above have no autograd in LibTorch 1.13).
    const auto dense = matrix.to_dense();
    return (dim == -2 ? torch::matmul(dense, images) : torch::matmul(images, dense.t()))
        .reshape(sizes);
  }
  return (dim == -2 ? resample_rows(images, matrix) : resample_cols(images, matrix)).view(sizes);
}

// ---- CPU kernel: one pass per output row ----------------------------------------------------

// One axis's taps as flat arrays of `width` taps per output (the widest output's count; shorter
// ones padded with zero weights): output j reads index[j·width ..] with weight[j·width ..].
template <typename T>
struct FlatTaps {
  std::size_t outputs = 0, width = 0;
  std::vector<std::int64_t> index;
  std::vector<T> weight;

  explicit FlatTaps(const std::vector<Taps>& rows) : outputs(rows.size()) {
    for (const auto& taps : rows) width = std::max(width, taps.size());
    index.assign(outputs * width, 0);
    weight.assign(outputs * width, T(0));
    for (std::size_t j = 0; j < outputs; ++j)
      for (std::size_t k = 0; k < rows[j].size(); ++k) {
        index[j * width + k] = rows[j][k].first;
        weight[j * width + k] = static_cast<T>(rows[j][k].second);
      }
  }
};

// out[j] = Σ_k weight · line[index] over the taps of output j.
template <typename T>
void resample_line(const T* line, const FlatTaps<T>& taps, T* out) {
  const std::int64_t* index = taps.index.data();
  const T* weight = taps.weight.data();
  for (std::size_t j = 0; j < taps.outputs; ++j, index += taps.width, weight += taps.width) {
    T sum = 0;
    for (std::size_t k = 0; k < taps.width; ++k) sum += weight[k] * line[index[k]];
    out[j] = sum;
  }
}

// out[x] = Σ_k weight_k · row_k[x] over output row i's taps, rows given by `row_of(input row)`.
template <typename T, class RowOf>
void combine_rows(const FlatTaps<T>& taps, std::size_t i, std::int64_t width, const RowOf& row_of,
                  T* out) {
  std::fill(out, out + width, T(0));
  for (std::size_t k = i * taps.width; k < (i + 1) * taps.width; ++k) {
    if (taps.weight[k] == T(0)) continue;  // padding
    const T* src = row_of(taps.index[k]);
    const T w = taps.weight[k];
    for (std::int64_t x = 0; x < width; ++x) out[x] += w * src[x];
  }
}

// Input rows resampled along x, kept for the next output rows (consecutive output rows share most
// of their input rows): `slots` rows, replaced in turn.
template <typename T>
class ResampledRows {
 public:
  ResampledRows(std::size_t slots, std::int64_t width)
      : key_(slots, -1), data_(slots * static_cast<std::size_t>(width)), width_(width) {}

  // Input row y of plane p (`plane` = its first element), resampled by `cols`.
  const T* get(std::int64_t p, std::int64_t y, const T* plane, std::int64_t in_w,
               const FlatTaps<T>& cols) {
    const std::int64_t key = p * (std::int64_t{1} << 32) + y;
    for (std::size_t s = 0; s < key_.size(); ++s)
      if (key_[s] == key) return row(s);
    const std::size_t s = next_;
    next_ = (next_ + 1) % key_.size();
    key_[s] = key;
    resample_line(plane + y * in_w, cols, row(s));
    return row(s);
  }

 private:
  T* row(std::size_t s) { return data_.data() + s * static_cast<std::size_t>(width_); }
  std::vector<std::int64_t> key_;
  std::vector<T> data_;
  std::int64_t width_;
  std::size_t next_ = 0;
};

// x (contiguous, ...×H×W) resized to out_h × out_w into y, parallel over output rows. The
// gathers (the column taps) go where there are fewer rows: on the input rows when the image grows
// vertically (each resampled once, cached), else on each output row after its row taps.
template <typename T>
void resize_cpu(const torch::Tensor& x, torch::Tensor& y, const ResizeOptions& options) {
  const std::int64_t in_h = x.size(-2), in_w = x.size(-1), out_h = y.size(-2), out_w = y.size(-1);
  const FlatTaps<T> rows(make_taps(in_h, out_h, options)), cols(make_taps(in_w, out_w, options));
  const T* in = x.data_ptr<T>();
  T* out = y.data_ptr<T>();
  const bool columns_first = out_h > in_h;
  ParallelRanges::run(y.numel() / out_w, 16, [&](std::int64_t begin, std::int64_t end) {
    if (columns_first) {
      ResampledRows<T> cache(2 * rows.width, out_w);
      for (std::int64_t r = begin; r < end; ++r) {
        const std::int64_t p = r / out_h;
        const T* plane = in + p * in_h * in_w;
        combine_rows(
            rows, static_cast<std::size_t>(r % out_h), out_w,
            [&](std::int64_t row) { return cache.get(p, row, plane, in_w, cols); },
            out + r * out_w);
      }
      return;
    }
    std::vector<T> line(static_cast<std::size_t>(in_w));
    for (std::int64_t r = begin; r < end; ++r) {
      const T* plane = in + (r / out_h) * in_h * in_w;
      combine_rows(
          rows, static_cast<std::size_t>(r % out_h), in_w,
          [&](std::int64_t row) { return plane + row * in_w; }, line.data());
      resample_line(line.data(), cols, out + r * out_w);
    }
  });
}

torch::ScalarType compute_type(torch::ScalarType t) {
  return t == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

void check_image(const torch::Tensor& image) {
  check(image.defined(), "", "resize: undefined tensor");
  check(image.dim() >= 2, "",
        "resize expects an H×W, C×H×W or N×C×H×W tensor, got " + std::to_string(image.dim()) +
            " dims");
  check(image.is_floating_point(), "",
        "resize expects a floating-point tensor (float16/32/64), got " +
            std::string(c10::toString(image.scalar_type())));
  check(image.size(-1) >= 1 && image.size(-2) >= 1, "", "resize: empty input image");
}

}  // namespace

torch::Tensor resize(const torch::Tensor& image, std::int64_t out_height, std::int64_t out_width,
                     const ResizeOptions& options) {
  check_image(image);
  check(out_height >= 1 && out_width >= 1, "",
        "resize: output size must be at least 1×1, got " + std::to_string(out_height) + "×" +
            std::to_string(out_width));
  const std::int64_t in_h = image.size(-2), in_w = image.size(-1);
  if (in_h == out_height && in_w == out_width) return image.clone();
  auto sizes = image.sizes().vec();
  sizes[sizes.size() - 2] = out_height;
  sizes[sizes.size() - 1] = out_width;
  if (image.numel() == 0) return torch::empty(sizes, image.options());
  torch::Tensor x = image.to(compute_type(image.scalar_type()));
  if (x.device().is_cpu() && !records_grad(x)) {
    x = x.contiguous();
    auto y = torch::empty(sizes, x.options());
    if (x.scalar_type() == torch::kFloat64)
      resize_cpu<double>(x, y, options);
    else
      resize_cpu<float>(x, y, options);
    return y.to(image.scalar_type());
  }
  // The column pass transposes its input and output, so run it on the smaller image: before the
  // row pass when that enlarges the image, after it otherwise.
  const bool columns_first = out_height > in_h;
  if (columns_first && in_w != out_width) x = resample(x, -1, out_width, options);
  if (in_h != out_height) x = resample(x, -2, out_height, options);
  if (!columns_first && in_w != out_width) x = resample(x, -1, out_width, options);
  return x.to(image.scalar_type());
}

torch::Tensor resize_by(const torch::Tensor& image, double scale, const ResizeOptions& options) {
  check_image(image);
  check(std::isfinite(scale) && scale > 0.0, "",
        "resize: scale must be finite and > 0, got " + std::to_string(scale));
  // ceil(in × scale), with a relative tolerance so that e.g. 300 × (1/3) gives 100, not 101.
  const auto out_size = [scale](std::int64_t in) {
    const double exact = static_cast<double>(in) * scale;
    check(exact < 9.0e15, "", "resize: output size too large");
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(exact * (1.0 - 1e-12))));
  };
  return resize(image, out_size(image.size(-2)), out_size(image.size(-1)), options);
}

Interpolation parse_interpolation(const std::string& name) {
  if (name == "nearest") return Interpolation::Nearest;
  if (name == "bilinear") return Interpolation::Bilinear;
  if (name == "bicubic") return Interpolation::Bicubic;
  if (name == "lanczos3") return Interpolation::Lanczos3;
  throw Error(
      "", "unknown interpolation '" + name + "' (expected nearest, bilinear, bicubic or lanczos3)");
}

}  // namespace strata::image
