// Internal: border padding for any pad width, including pads of the image size or more (the
// pattern repeats): reflect-101 (OpenCV BORDER_REFLECT_101: … 2 1 | 0 1 2 … n-1 | n-2 …) and
// symmetric (MATLAB/Piotr's 'symmetric': … 1 0 | 0 1 2 … n-1 | n-1 …); and the separable
// symmetric-kernel convolutions built on them.
#pragma once

#include <torch/types.h>

#include <vector>

namespace strata::filter {

/// `x` padded by `pad` positions on both sides of `dim`. Only the borders are gathered
/// (index_select over a whole dim is slow on CPU); the body is copied by cat.
torch::Tensor pad_reflect101(const torch::Tensor& x, std::int64_t dim, std::int64_t pad);

/// Reflect-101 padding by `pad` of the last two dims of an N×C×H×W tensor, contiguous.
torch::Tensor pad_reflect101_2d(const torch::Tensor& x, std::int64_t pad);

enum class Border { Reflect101, Symmetric };

/// `x` padded by `pad` positions on both sides of `dim` with the given border.
torch::Tensor pad_border(const torch::Tensor& x, std::int64_t dim, std::int64_t pad, Border border);

/// 1-D convolution along `dim` with the symmetric kernel w[-r..r] given by its half
/// `taps` = w[0..r], borders padded by `border`.
torch::Tensor convolve_symmetric(const torch::Tensor& x, std::int64_t dim,
                                 const std::vector<double>& taps, Border border);

/// convolve_symmetric along the last two dims (rows, then columns) of a ...×H×W tensor. CPU float
/// tensors that need no gradient take a one-pass kernel (each output row from 2r + 1 input rows,
/// parallel over rows); everything else the tensor ops of convolve_symmetric.
torch::Tensor convolve_separable(const torch::Tensor& x, const std::vector<double>& taps,
                                 Border border);

}  // namespace strata::filter
