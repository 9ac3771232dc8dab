#include "strata/filter/gradient.hpp"

#include <torch/torch.h>

#include "strata/core/error.hpp"

namespace strata::filter {

torch::Tensor gradient_l1(const torch::Tensor& x) {
  check(x.defined() && x.dim() >= 2 && torch::isFloatingType(x.scalar_type()), "",
        "gradient_l1: expected a floating ...×H×W tensor");
  const auto h = x.size(-2), w = x.size(-1);
  // Differences with a zero first row / column, where the neighbour is missing.
  const auto dy =
      torch::constant_pad_nd(x.narrow(-2, 1, h - 1) - x.narrow(-2, 0, h - 1), {0, 0, 1, 0});
  const auto dx = torch::constant_pad_nd(x.narrow(-1, 1, w - 1) - x.narrow(-1, 0, w - 1), {1, 0});
  return dy.abs() + dx.abs();
}

}  // namespace strata::filter
