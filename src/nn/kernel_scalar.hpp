// Internal, for builds with the CUDA kernels: the nn kernels' scalar type of a LibTorch dtype.
#pragma once

#include <torch/types.h>

#include "cuda/layer_kernels.hpp"

namespace strata::nn {

/// Float16 and BFloat16 as they are, every other dtype as Float32.
inline cuda::Scalar kernel_scalar(torch::ScalarType t) {
  return t == torch::kFloat16    ? cuda::Scalar::Float16
         : t == torch::kBFloat16 ? cuda::Scalar::BFloat16
                                 : cuda::Scalar::Float32;
}

}  // namespace strata::nn
