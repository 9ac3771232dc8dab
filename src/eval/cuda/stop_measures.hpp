// strata's CUDA kernels for the deep-image-prior stopping measures (thesis Eq. 2.8): the blur
// effect (Crété-Roffet et al. 2007), the MLV sharpness (Bahrami & Kot 2014) and their ratio: one
// kernel for the per-pixel work, CUB's radix sort of the MLV values, one block for the sums, where
// the LibTorch ops take about a hundred small kernels (the top-k above all) every iteration of a
// restoration. Torch-free on purpose: compiled by nvcc without LibTorch headers,
// called from src/eval/dip_measures.cpp, which owns the tensors and keeps the LibTorch-op path
// (the definition of the measures) for CPU builds and every other case.
#pragma once

#include <cstddef>

namespace strata::eval::cuda {

/// Sizes the kernels take: 12 ≤ H, W, H·W < 2²⁹ and H ≤ 524,280.
bool stop_measures_supported(long long height, long long width);

/// Bytes of device scratch memory stop_measures needs for an H×W image (256-byte aligned base).
std::size_t stop_measures_scratch(int height, int width);

/// The measures of a C×H×W float32 image (contiguous, device memory; C = 1 or 3, the gray
/// image as eval::dip_gray) written as float64 to out[0] (blur effect), out[1] (MLV sharpness)
/// and out[2] (blur / max(sharpness, 1e-12), computed in float32 as the LibTorch ops on CUDA).
/// Deterministic (fixed summation order). nullptr on success or CUDA's error string; `stream` is
/// a cudaStream_t.
const char* stop_measures(const float* image, int channels, int height, int width, void* scratch,
                          double* out, void* stream);

}  // namespace strata::eval::cuda
