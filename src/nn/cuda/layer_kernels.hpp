// strata's CUDA kernels for the nn layers on channels-last (NHWC) activations: instance-norm
// statistics and one "normalise, activate, reflect-pad" pass; the deep-image-prior decoder's
// "mean-only norm, LeakyReLU, (×2 bilinear upsampling,) reflect-pad" step with its backward pass.
// Torch-free on purpose: compiled by nvcc without LibTorch headers, called from src/nn/layers.cpp,
// which owns the tensors. Built only when LibTorch has CUDA (CMake option STRATA_CUDA_KERNELS).
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
/// Every `affine` (float32 N×C×2 per-plane pairs) must be 16-byte aligned: kernels read it by
/// float4.

/// Floats of the workspace `partials` that plane_affine, mean_norm_act_pad and
/// mean_act_pad_backward take for x (or y).
std::int64_t plane_partials_floats(const Nhwc& x);

/// Per sample and channel, the plane's (scale, offset) into affine (float32 N×C×2): the instance
/// norm's (rstd, −mean·rstd) with eps (biased variance), or, given beta (float32 per channel), the
/// mean-only norm's (1, β − mean). From the plane's sums of (x − s) and (x − s)², s = its first
/// value (the shift keeps float accumulation accurate when |mean| ≫ std): per-block sums in
/// partials (float32 workspace of plane_partials_floats(x)), then added up in float64 in a fixed
/// order (deterministic, no atomics) by a kernel that also computes the affine.
const char* plane_affine(const Nhwc& x, float eps, const float* beta, float* partials,
                         float* affine, void* stream);

/// out = act(x · scale + offset) + r with the planes' (scale, offset) from plane_affine (or x
/// itself when affine is null) and r the same pixel of `residual` (0 when null; else an Nhwc of
/// x's shape and scalar, 16-byte aligned like x and out), written reflect-padded by `pad` (out is
/// N×(H+2pad)×(W+2pad)×C, same scalar); act(v) = v for v > 0, slope · v otherwise (slope 1: none,
/// 0: ReLU). Refuses outputs with N·(H+2pad) or (W+2pad)·C at 2³¹ or more.
const char* normalize_pad(const Nhwc& x, const float* affine, const void* residual, float slope,
                          int pad, const Nhwc& out, void* stream);

/// The DIP decoder's step after a convolution (forward): out = pad(up(act(y − mean(y) + β))) with
/// β float32 per channel, act as in normalize_pad, up a ×2 bilinear upsampling (align_corners
/// false, as torch's interpolate) when `upsample`, pad a reflection by `pad`; affine (float32
/// N×C×2) receives (1, β − mean) per plane for the backward pass, partials is plane_affine's
/// workspace. out is N×(s·H + 2pad)×(s·W + 2pad)×C, s = 2 when upsampling. Small planes take one
/// launch (each way), larger ones three (sums, reduction, pass).
const char* mean_norm_act_pad(const Nhwc& y, const float* beta, float* partials, float* affine,
                              float slope, int pad, bool upsample, const Nhwc& out, void* stream);

/// Backward of mean_norm_act_pad: grad_y (y's shape and scalar) = g − mean_plane(g) with
/// g = act'(a) · (the gradient of out folded back through the padding and the upsampling), and
/// sums (float64 N×C) = Σ_plane g (per-block sums in the float32 workspace partials of
/// plane_partials_floats(y), added up in a fixed order), also in float32 into sums_f unless null
/// (added to what it holds when `accumulate`).
const char* mean_act_pad_backward(const Nhwc& grad_out, const Nhwc& y, const float* affine,
                                  float slope, int pad, bool upsample, const Nhwc& grad_y,
                                  float* partials, double* sums, float* sums_f, bool accumulate,
                                  void* stream);

/// 1×1 convolution to a few float32 outputs (the deep-image-prior decoder's head): out (float32,
/// N×outputs×H×W, NCHW) = W·x + b per pixel, accumulated in float32; weight float32 outputs×C,
/// bias float32 (outputs). Takes C ≤ kMaxPointwiseChannels, 1 ≤ outputs ≤ 4 and N ≤ 65535.
constexpr std::int64_t kMaxPointwiseChannels = 128;
const char* pointwise_conv(const Nhwc& x, const float* weight, const float* bias, int outputs,
                           float* out, void* stream);

/// The number of blocks, B, the pointwise kernels (both ways, with or without the mean-only step)
/// launch for x.
int pointwise_conv_blocks(const Nhwc& x);

/// Backward of pointwise_conv: grad_x (x's shape and scalar) = Wᵀ·g per pixel with g = grad_out
/// (float32 NCHW), and partials (float32, B × outputs × (C + 1)) = each block's Σ g·x per output
/// and channel, then Σ g per output: summed over the blocks, the gradients of W and b.
const char* pointwise_conv_backward(const Nhwc& x, const float* weight, int outputs,
                                    const float* grad_out, const Nhwc& grad_x, float* partials,
                                    void* stream);

/// pointwise_conv of mean_norm_act_pad's unpadded output a = act(y · scale + offset) (affine from
/// plane_affine with β, a rounded to y's scalar as mean_norm_act_pad stores it) without storing a:
/// one pass over y.
const char* mean_act_pointwise(const Nhwc& y, const float* affine, float slope, const float* weight,
                               const float* bias, int outputs, float* out, void* stream);

/// Backward of mean_act_pointwise: grad_y = g − mean_plane(g) with g = act'(a) · (Wᵀ·grad_out)
/// (each rounded to y's scalar, as the unfused pair would store them); partials as
/// pointwise_conv_backward's (Σ g·a); sums and sums_f as mean_act_pad_backward's, from the float32
/// workspace input_partials of B × C floats.
const char* mean_act_pointwise_backward(const Nhwc& y, const float* affine, float slope,
                                        const float* weight, int outputs, const float* grad_out,
                                        const Nhwc& grad_y, float* partials, float* input_partials,
                                        double* sums, float* sums_f, bool accumulate, void* stream);

}  // namespace strata::nn::cuda
