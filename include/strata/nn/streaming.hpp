// Layer streaming: exact tiled inference of a Sequential whose layers need whole-image statistics
// (instance norm) or have receptive fields far larger than a tile, so that overlapping patches
// cannot reproduce the untiled result.
#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

#include <cstdint>

namespace strata::nn {

struct StreamOptions {
  /// Side of the output tiles of every layer, in pixels (> 0).
  std::int64_t tile = 256;
  /// The dtype each tile is computed in (the module's parameters must have it); the full
  /// activations stay float32.
  torch::ScalarType dtype = torch::kFloat32;
  /// Feed the layers channels-last tiles (convert the module with to_channels_last).
  bool channels_last = false;
};

/// `net` applied to the N×C×H×W tensor `x` one layer at a time (inference, no autograd): each
/// layer's full output is kept float32 in host (CPU) memory and computed tile by tile on the device
/// of the module's parameters, from input tiles with the halo the layer needs, so that the device
/// holds one tile of one layer. Returns the float32 CPU result, equal to net->forward(x) up to
/// float rounding. Layers: Conv2d and ConvTranspose2d (zero padding), ReflectionPad2d,
/// nn::ReflectionPad, ReplicationPad2d, InstanceNorm2d and nn::InstanceNorm (whole-image
/// statistics gathered over the tiles first; no running statistics), ReLU, LeakyReLU, Sigmoid,
/// Tanh and nn::Residual around such a Sequential; any other layer is a strata::Error.
torch::Tensor stream_forward(torch::nn::Sequential& net, const torch::Tensor& x,
                             const StreamOptions& options);

}  // namespace strata::nn
