// Internal: reflect-101 border padding (OpenCV BORDER_REFLECT_101: … 2 1 | 0 1 2 … n-1 | n-2 …)
// for any pad width, including pads of the image size or more (the pattern repeats).
#pragma once

#include <torch/types.h>

namespace strata::filter {

/// `x` padded by `pad` positions on both sides of `dim`. Only the borders are gathered
/// (index_select over a whole dim is slow on CPU); the body is copied by cat.
torch::Tensor pad_reflect101(const torch::Tensor& x, std::int64_t dim, std::int64_t pad);

/// Reflect-101 padding by `pad` of the last two dims of an N×C×H×W tensor, contiguous.
torch::Tensor pad_reflect101_2d(const torch::Tensor& x, std::int64_t pad);

}  // namespace strata::filter
