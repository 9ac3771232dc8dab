// Bridge between decoded images and LibTorch tensors. Convention throughout strata: an image is a
// float32 tensor C×H×W (or N×C×H×W in batches), values in [0,1] for 8/16-bit sources (x/255,
// x/65535), raw values for float sources, channels in RGB(A) order.
#pragma once

#include <torch/types.h>

#include <string>

#include "strata/image/codec.hpp"

namespace strata::image {

/// Channel handling when reading.
enum class ChannelMode {
  Unchanged,  ///< as stored: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
  Gray,       ///< 1 channel (alpha dropped, colour converted with BT.601 luma weights)
  Rgb,        ///< 3 channels (alpha dropped, gray replicated)
};

struct ReadOptions {
  DecodeLimits limits;
  ChannelMode mode = ChannelMode::Unchanged;
};

/// Bit depth of integer outputs.
enum class BitDepth { U8 = 8, U16 = 16 };

struct WriteOptions {
  BitDepth depth = BitDepth::U8;  ///< PNG only; JPEG is always 8-bit; PFM/FLO are float
  int jpeg_quality = 95;
  int png_compression = 6;
};

/// Converts a decoded image to a float C×H×W CPU tensor (see the file comment for scaling).
torch::Tensor to_tensor(const RawImage& img);

/// Converts a C×H×W (or 1×C×H×W) tensor on any device to a RawImage of sample type `type`.
/// Integer types: clamp to [0,1], scale by 255/65535 and round half away from zero.
/// NaN maps to 0. F32: values copied unchanged.
RawImage from_tensor(const torch::Tensor& chw, SampleType type);

/// Reads an image file into a float C×H×W CPU tensor.
torch::Tensor read_image(const std::string& path, const ReadOptions& options = {});

/// Writes a C×H×W tensor; the format follows the extension (.png, .jpg/.jpeg, .pfm, .flo) and the
/// file is written atomically.
void write_image(const std::string& path, const torch::Tensor& chw,
                 const WriteOptions& options = {});

/// Applies a ChannelMode to a float C×H×W tensor.
torch::Tensor convert_channels(const torch::Tensor& chw, ChannelMode mode);

}  // namespace strata::image
