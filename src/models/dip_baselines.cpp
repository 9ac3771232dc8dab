#include "strata/models/dip_baselines.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "strata/core/error.hpp"
#include "strata/nn/layers.hpp"

namespace strata::models {

namespace {

namespace tnn = torch::nn;

// BatchNorm2d (affine) that always normalises with the batch statistics.
tnn::BatchNorm2d batch_norm(int channels) {
  return tnn::BatchNorm2d(tnn::BatchNorm2dOptions(channels).track_running_stats(false));
}

tnn::Upsample bilinear_x2() {
  return tnn::Upsample(tnn::UpsampleOptions()
                           .scale_factor(std::vector<double>{2.0, 2.0})
                           .mode(torch::kBilinear)
                           .align_corners(false));
}

// The `conv` of the authors' code: reflection padding (k−1)/2, then a k×k convolution.
void add_conv(tnn::Sequential& s, int in, int out, int kernel, int stride, bool bias) {
  if (kernel > 1) s->push_back(nn::ReflectionPad((kernel - 1) / 2));
  s->push_back(tnn::Conv2d(tnn::Conv2dOptions(in, out, kernel).stride(stride).bias(bias)));
}

// conv (with bias) → BN → LeakyReLU(0.2), the unit of models/skip.py.
void add_conv_bn_act(tnn::Sequential& s, int in, int out, int kernel, int stride = 1) {
  add_conv(s, in, out, kernel, stride, true);
  s->push_back(batch_norm(out));
  s->push_back(tnn::LeakyReLU(tnn::LeakyReLUOptions().negative_slope(0.2)));
}

// Centre crop to h×w (the Concat of models/common.py when the branch sizes differ).
torch::Tensor centre_crop(const torch::Tensor& x, std::int64_t h, std::int64_t w) {
  return x.narrow(2, (x.size(2) - h) / 2, h).narrow(3, (x.size(3) - w) / 2, w);
}

}  // namespace

DipSkipImpl::DipSkipImpl(const DipSkipOptions& o) {
  check(o.levels >= 1 && o.in_channels >= 1 && o.out_channels >= 1 && o.down_channels >= 1 &&
            o.up_channels >= 1 && o.skip_channels >= 1,
        "", "DipSkip: levels and channel counts must be >= 1");
  for (int i = 0; i < o.levels; ++i) {
    const int in = i == 0 ? o.in_channels : o.down_channels;
    const int deeper = i + 1 < o.levels ? o.up_channels : o.down_channels;
    tnn::Sequential skip, down, up;
    add_conv_bn_act(skip, in, o.skip_channels, 1);
    add_conv_bn_act(down, in, o.down_channels, 3, 2);
    add_conv_bn_act(down, o.down_channels, o.down_channels, 3);
    up->push_back(batch_norm(o.skip_channels + deeper));
    add_conv_bn_act(up, o.skip_channels + deeper, o.up_channels, 3);
    add_conv_bn_act(up, o.up_channels, o.up_channels, 1);  // need1x1_up = True
    const auto n = std::to_string(i);
    skip_.push_back(register_module("skip" + n, skip));
    down_.push_back(register_module("down" + n, down));
    up_.push_back(register_module("up" + n, up));
  }
  upsample_ = register_module("upsample", bilinear_x2());
  head_ =
      register_module("head", tnn::Conv2d(tnn::Conv2dOptions(o.up_channels, o.out_channels, 1)));
}

torch::Tensor DipSkipImpl::level(std::size_t i, const torch::Tensor& x) {
  auto deeper = down_[i]->forward(x);
  if (i + 1 < down_.size()) deeper = level(i + 1, deeper);
  deeper = upsample_->forward(deeper);
  auto skip = skip_[i]->forward(x);
  const auto h = std::min(skip.size(2), deeper.size(2)), w = std::min(skip.size(3), deeper.size(3));
  return up_[i]->forward(torch::cat({centre_crop(skip, h, w), centre_crop(deeper, h, w)}, 1));
}

torch::Tensor DipSkipImpl::forward(const torch::Tensor& z) {
  return torch::sigmoid(head_->forward(level(0, z)));
}

DeepDecoderImpl::DeepDecoderImpl(const DeepDecoderOptions& o) {
  check(o.upsamplings >= 0 && o.width >= 1 && o.out_channels >= 1, "",
        "DeepDecoder: width and out_channels must be >= 1, upsamplings >= 0");
  for (int i = 0; i <= o.upsamplings; ++i) {
    add_conv(body_, o.width, o.width, 1, 1, false);
    if (i < o.upsamplings) body_->push_back(bilinear_x2());
    body_->push_back(tnn::ReLU());
    body_->push_back(batch_norm(o.width));
  }
  add_conv(body_, o.width, o.out_channels, 1, 1, false);
  register_module("body", body_);
}

torch::Tensor DeepDecoderImpl::forward(const torch::Tensor& z) {
  return torch::sigmoid(body_->forward(z));
}

torch::Tensor uniform_input(int channels, std::int64_t h, std::int64_t w, double scale,
                            std::uint64_t seed) {
  check(channels >= 1 && h >= 1 && w >= 1 && scale > 0.0, "",
        "uniform_input: positive channels, size and scale");
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::rand({1, channels, h, w}, gen, torch::TensorOptions()) * scale;
}

}  // namespace strata::models
