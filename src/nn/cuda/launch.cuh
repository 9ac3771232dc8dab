// Launch helpers shared by the nn layer's CUDA kernels.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "layer_kernels.hpp"

namespace strata::nn::cuda {

/// nullptr when the last launch went through, else CUDA's error string.
inline const char* launched() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

/// f(T{}) for the scalar type T of `scalar`.
template <class F>
const char* dispatch(Scalar scalar, F&& f) {
  switch (scalar) {
    case Scalar::Float16: return f(__half{});
    case Scalar::BFloat16: return f(__nv_bfloat16{});
    default: return f(float{});
  }
}

}  // namespace strata::nn::cuda
