#include "strata/filter/common.hpp"

#include <torch/torch.h>

#include "strata/core/error.hpp"

namespace strata::filter {

torch::Tensor Batched::restore(const torch::Tensor& y) const {
  torch::Tensor out = squeezed ? y.squeeze(0) : y;
  return out.scalar_type() == dtype ? out : out.to(dtype);
}

void check_image(const torch::Tensor& t, const std::string& what) {
  check(t.defined(), "", what + " is undefined");
  check(t.dim() == 3 || t.dim() == 4, "",
        what + " must be C×H×W or N×C×H×W, got " + std::to_string(t.dim()) + " dims");
  check(torch::isFloatingType(t.scalar_type()), "", what + " must be a floating-point tensor");
  check(t.numel() > 0, "", what + " is empty");
}

Batched as_batched(const torch::Tensor& t, const std::string& what) {
  check_image(t, what);
  Batched b;
  b.squeezed = t.dim() == 3;
  b.dtype = t.scalar_type();
  torch::Tensor x = b.squeezed ? t.unsqueeze(0) : t;
  if (x.scalar_type() != torch::kFloat64) x = x.to(torch::kFloat32);
  b.x = x.contiguous();
  return b;
}

void check_guide(const torch::Tensor& input, const torch::Tensor& guide) {
  check(guide.defined(), "", "guide is undefined");
  check(guide.dim() == input.dim(), "", "guide and input must both be 3-D or both 4-D");
  const auto n = input.dim();
  check(guide.size(n - 1) == input.size(n - 1) && guide.size(n - 2) == input.size(n - 2), "",
        "guide and input must have the same height and width");
  check(n == 3 || guide.size(0) == input.size(0), "", "guide and input batch sizes differ");
  check(guide.device() == input.device(), "", "guide and input are on different devices");
}

}  // namespace strata::filter
