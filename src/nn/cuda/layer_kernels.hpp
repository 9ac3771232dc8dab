// strata's CUDA kernels for the nn layers on channels-last (NHWC) activations: instance-norm
// statistics and one "normalise, activate, reflect-pad" pass. Torch-free on purpose: compiled by
// nvcc without LibTorch headers, called from src/nn/layers.cpp, which owns the tensors. Built only
// when LibTorch has CUDA (CMake option STRATA_CUDA_KERNELS).
#pragma once

#include <cstdint>

namespace strata::nn::cuda {

enum class Scalar { Float32, Float16, BFloat16 };

/// A contiguous N×H×W×C activation in device memory (a channels-last N×C×H×W tensor).
struct Nhwc {
  void* data = nullptr;
  Scalar scalar = Scalar::Float32;
  std::int64_t n = 0, h = 0, w = 0, c = 0;
};

/// Channel counts the kernels take: C % 4 == 0 and C <= kMaxChannels.
constexpr std::int64_t kMaxChannels = 1024;

/// Each returns nullptr on success or CUDA's error string. `stream` is a cudaStream_t.

/// Instance-norm statistics: stats (float64, N×C×2, zeroed by the caller) receives, per sample
/// and channel, the sums of (x − s) and (x − s)² over the plane, s = the plane's first value
/// (the shift keeps float accumulation accurate when |mean| ≫ std).
const char* plane_sums(const Nhwc& x, double* stats, void* stream);

/// out = act((x − mean) · rstd) with the plane statistics from plane_sums (or x itself when
/// stats is null), written reflect-padded by `pad` (out is N×(H+2pad)×(W+2pad)×C, same scalar);
/// act(v) = v for v > 0, slope · v otherwise (slope 1: none, 0: ReLU). `affine` is a float32
/// workspace of N×C×2 values (rstd, −mean·rstd), unused when stats is null.
const char* normalize_pad(const Nhwc& x, const double* stats, float eps, float* affine, float slope,
                          int pad, const Nhwc& out, void* stream);

}  // namespace strata::nn::cuda
