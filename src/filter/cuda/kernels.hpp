// strata's fused CUDA kernels for the box-window filters (box mean, guided filter family).
// Torch-free on purpose: compiled by nvcc without LibTorch headers, called from fused.cpp, which
// owns the tensors. Built only when LibTorch has CUDA (CMake option STRATA_CUDA_KERNELS).
//
// Every kernel computes box-window means of K per-pixel quantities and hands them to an epilogue,
// with float accumulation and any strides (NCHW or channels-last), in one of two ways:
// - the tile (tile.cuh, radius ≤ 16): a block stages an output tile plus its border in shared
//   memory and takes separable sliding-window sums, fully parallel;
// - the sweep (sweep.cuh, any radius up to kMaxRadius): a block owns a strip of columns and walks
//   down its rows keeping running column sums, taking each row's window sums by a block-wide
//   prefix sum. O(1) per pixel whatever the radius, but a serial walk.
#pragma once

#include <cstdint>

namespace strata::filter::cuda {

enum class Scalar { Float32, Float16 };

/// A strided N×C×H×W view of device memory; strides in elements.
struct Tensor4 {
  void* data = nullptr;
  Scalar scalar = Scalar::Float32;
  std::int64_t size[4] = {0, 0, 0, 0};
  std::int64_t stride[4] = {0, 0, 0, 0};
};

/// The largest window radius the sweep kernels take (blocks are at most 1024 columns wide).
constexpr int kMaxRadius = 128;

/// Which kernel runs: Auto = the tile where it takes the radius, else the sweep; Sweep = always the
/// sweep (to compare). Process-wide.
enum class Schedule { Auto, Sweep };
void set_schedule(Schedule s);

/// Each returns nullptr on success or CUDA's error string. `stream` is a cudaStream_t.

/// out = box mean of `in` (border-clipped, count-normalised windows); same size, any scalars.
const char* box_mean(const Tensor4& in, const Tensor4& out, int radius, void* stream);

/// Guided-filter coefficients (He et al. 2010 Eq. 5-6 / 14-15) of input p (N×C×H×W) and guide g.
/// colour = false: gray model, guide channel (Cg == 1 ? 0 : c) guides input channel c, and a
/// pixel's coefficients are (a, b); colour = true: g has 3 channels and they are (a_0, a_1, a_2,
/// b). coef is an N×C×H×W view of float32 P-tuples (P = 2 or 4; strides in floats, all
/// multiples of P, the last one P; data 4P-byte aligned): the pixel's coefficients are the P floats
/// from its element on (packed, so the apply stage copies them at once). The regulariser is `eps`,
/// or the per-pixel float32 map `reg` (N×1×H×W, or N×Cg×H×W in the gray model) when reg.data is not
/// null (the weighted guided filter's λ/Γ).
const char* guided_coefficients(const Tensor4& p, const Tensor4& g, const Tensor4& reg, float eps,
                                int radius, bool colour, const Tensor4& coef, void* stream);

/// q = Σ_k ā_k I_k + b̄ (He et al. Eq. 8 / 16): the coefficients' box means (radius) applied to
/// the guide; q has the input's N×C×H×W.
const char* guided_apply(const Tensor4& coef, const Tensor4& g, int radius, bool colour,
                         const Tensor4& q, void* stream);

}  // namespace strata::filter::cuda
