// Layers whose LibTorch counterparts are slow on large single images or lose the channels-last
// layout: instance normalisation and reflection padding. Same results as torch::nn's
// InstanceNorm2d (no affine, no running statistics) and ReflectionPad2d, with autograd.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace strata::nn {

/// (x − mean) / sqrt(var + eps) with the mean and biased variance of every (sample, channel)
/// plane. LibTorch's instance_norm runs one thread block per plane, so an N = 1 image with 32
/// planes of 1080p uses 32 of 132 SMs (3.3 ms in fp32 on an H200). On CUDA: for channels-last
/// inference strata's NHWC kernels (one read for the statistics, one pass to normalise), else one
/// var_mean and one elementwise pass; on the CPU LibTorch's kernel. Keeps the dtype, and on CUDA
/// the memory format.
torch::Tensor instance_norm(const torch::Tensor& x, double eps = 1e-5);

/// Reflection padding of the last two dims by `pad` on every side (pad < H and pad < W). A
/// channels-last input gives a channels-last output (ReflectionPad2d returns NCHW, and cuDNN then
/// converts layouts around every convolution).
torch::Tensor reflection_pad(const torch::Tensor& x, std::int64_t pad);

/// reflection_pad(act(instance_norm(x, eps)), pad) with act(v) = v > 0 ? v : slope·v (slope 0:
/// ReLU, 1: none); one pass over the activation for CUDA channels-last inference.
torch::Tensor instance_norm_act_pad(const torch::Tensor& x, double slope, std::int64_t pad,
                                    double eps = 1e-5);

/// reflection_pad(up(act(y − mean(y) + β)), pad): the deep-image-prior decoder's step after a
/// convolution: mean-only norm (the mean of every (sample, channel) plane, β per channel), act(v) =
/// v > 0 ? v : slope·v, a ×2 bilinear upsampling (align_corners false) when `upsample`, and the
/// next convolution's reflection padding (pad < the upsampled size). With autograd (y and β). On
/// CUDA channels-last activations in float32/float16/bfloat16 with C % 4 == 0, strata's NHWC
/// kernels: the plane means, then one pass each way (the backward folds the padding and the
/// upsampling back in one gather, then subtracts the plane means); elsewhere LibTorch ops.
/// `add_into_grad` (the kernels, one sample, a float32 leaf β): β's gradient is added straight
/// into β.grad by the backward kernel instead of being returned (two kernels fewer per call, but
/// invisible to torch::autograd::grad, backward(inputs) and gradient hooks on β).
torch::Tensor mean_norm_act_pad(const torch::Tensor& y, const torch::Tensor& beta, double slope,
                                std::int64_t pad, bool upsample, bool add_into_grad = false);

/// A 1×1 convolution with float32 output: conv2d(x in float32, weight (O×C×1×1), bias (O)), the
/// deep-image-prior decoder's head. With autograd (x, weight, bias). On CUDA channels-last x in
/// float32/float16/bfloat16 with C % 4 == 0, C <= 128, 1 <= O <= 4 and float32 weight and bias,
/// strata's NHWC kernels (float32 arithmetic, one pass over x each way; no float32 copy of x);
/// elsewhere LibTorch ops.
torch::Tensor pointwise_conv(const torch::Tensor& x, const torch::Tensor& weight,
                             const torch::Tensor& bias);

/// pointwise_conv(mean_norm_act_pad(y, β, slope, 0, false, add_into_grad), weight, bias): the
/// deep-image-prior decoder's last mean-only step and its 1×1 head. With autograd (y, β, weight,
/// bias). Where both ops take strata's kernels, the activation is never stored: the plane means,
/// then one pass over y each way (the backward recomputes the activation for the weight's
/// gradient and subtracts the plane means after); the same arithmetic as the two ops, up to the
/// order of the sums (and, on planes of up to 4,096 pixels, where mean_norm_act_pad's one-launch
/// kernel sums without a shift, the plane means' last bits).
torch::Tensor mean_norm_act_pointwise(const torch::Tensor& y, const torch::Tensor& beta,
                                      double slope, const torch::Tensor& weight,
                                      const torch::Tensor& bias, bool add_into_grad = false);

class InstanceNormImpl : public torch::nn::Module {
 public:
  explicit InstanceNormImpl(double eps = 1e-5) : eps_(eps) {}
  torch::Tensor forward(const torch::Tensor& x) { return instance_norm(x, eps_); }
  double eps() const { return eps_; }

 private:
  double eps_;
};
TORCH_MODULE(InstanceNorm);

class ReflectionPadImpl : public torch::nn::Module {
 public:
  explicit ReflectionPadImpl(std::int64_t pad) : pad_(pad) {}
  torch::Tensor forward(const torch::Tensor& x) { return reflection_pad(x, pad_); }
  std::int64_t pad() const { return pad_; }

 private:
  std::int64_t pad_;
};
TORCH_MODULE(ReflectionPad);

/// Whether a transposed convolution's output is stride × its input on both axes: kernel = stride +
/// 2·padding (zero padding), no output padding, dilation 1, one group; e.g. the HIPe peeler's 4×4,
/// stride 2, padding 1.
bool on_stride_grid(const torch::nn::ConvTranspose2dImpl& conv);

/// conv->forward(x), without the bias when `with_bias` is false (inference with zero padding only:
/// otherwise always conv->forward, with the bias). On the CPU without autograd, a transposed
/// convolution on_stride_grid runs as stride² ordinary convolutions, one per output phase with that
/// phase's taps (2×2 for the peeler), interleaved: LibTorch's CPU transposed convolution goes
/// through the system BLAS (1.5 s for the peeler's layer at 481×321 with Debian's reference BLAS)
/// where oneDNN runs the equivalent convolution.
torch::Tensor conv_transpose(torch::nn::ConvTranspose2dImpl& conv, const torch::Tensor& x,
                             bool with_bias = true);

/// conv->forward(x) for zero-padded convolutions without autograd, without the bias when
/// `with_bias` is false; 16-bit channels-last CUDA inputs with C % 8 != 0 (one group) get zero
/// channels up to a multiple of 8 (with zero weights), which cuDNN runs 3× faster. Other padding
/// modes, and autograd, take conv->forward(x) as it is (with the bias).
torch::Tensor conv_forward(torch::nn::Conv2dImpl& conv, const torch::Tensor& x,
                           bool with_bias = true);

/// sequence->forward(x), with every run InstanceNorm [→ ReLU | LeakyReLU] [→ ReflectionPad] done
/// by one instance_norm_act_pad (one pass over the activation on CUDA channels-last inference),
/// convolutions by conv_forward and transposed convolutions by conv_transpose, leaving out (in
/// inference) the bias of those right before an instance norm, which cancels it; the same result
/// as the plain forward up to rounding.
torch::Tensor forward_fused(torch::nn::Sequential& sequence, const torch::Tensor& x);

/// x + forward_fused(block, x). For CUDA channels-last inference on strata's kernels, a block that
/// ends in an instance norm or in a convolution with a bias adds x in the same pass as that norm
/// (or bias).
torch::Tensor residual_forward(torch::nn::Sequential& block, const torch::Tensor& x);

}  // namespace strata::nn
