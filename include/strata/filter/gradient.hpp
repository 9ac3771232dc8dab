// The image gradient magnitude HIPe's losses and GCC use (docs/hipe.md).
#pragma once

#include <torch/types.h>

namespace strata::filter {

/// ∇x = |x[i,j] − x[i−1,j]| + |x[i,j] − x[i,j−1]| per channel: backward differences along both
/// axes, absolute values summed, a missing neighbour (first row / column) contributing 0.
/// Any ...×H×W floating tensor; differentiable.
torch::Tensor gradient_l1(const torch::Tensor& x);

}  // namespace strata::filter
