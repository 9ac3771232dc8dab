#include "strata/image/tensor.hpp"

#include <torch/torch.h>

#include "strata/core/error.hpp"
#include "strata/image/color.hpp"

namespace strata::image {

namespace {

torch::Tensor as_chw(const torch::Tensor& t) {
  check(t.defined(), "", "undefined tensor");
  if (t.dim() == 4) {
    check(t.size(0) == 1, "",
          "expected a single image, got a batch of " + std::to_string(t.size(0)));
    return t[0];
  }
  if (t.dim() == 2) return t.unsqueeze(0);
  check(t.dim() == 3, "", "expected a C×H×W tensor, got " + std::to_string(t.dim()) + " dims");
  return t;
}

template <class T>
torch::Tensor wrap_hwc(const RawImage& img, torch::ScalarType st) {
  return torch::from_blob(const_cast<T*>(img.data<T>()), {img.height, img.width, img.channels}, st);
}

}  // namespace

torch::Tensor to_tensor(const RawImage& img) {
  check(img.width > 0 && img.height > 0 && img.channels > 0, "", "empty image");
  torch::Tensor hwc;
  switch (img.type) {
    case SampleType::U8:
      hwc = wrap_hwc<std::uint8_t>(img, torch::kUInt8).to(torch::kFloat32).div_(255.0);
      break;
    case SampleType::U16:
      // LibTorch 1.13 has no uint16 dtype: widen to int32 first.
      hwc = torch::from_blob(const_cast<std::uint16_t*>(img.data<std::uint16_t>()),
                             {img.height, img.width, img.channels}, torch::kInt16)
                .to(torch::kInt32)
                .bitwise_and_(0xffff)
                .to(torch::kFloat32)
                .div_(65535.0);
      break;
    case SampleType::F32: hwc = wrap_hwc<float>(img, torch::kFloat32).clone(); break;
  }
  return hwc.permute({2, 0, 1}).contiguous();
}

RawImage from_tensor(const torch::Tensor& input, SampleType type) {
  const torch::Tensor chw = as_chw(input);
  const auto c = chw.size(0), h = chw.size(1), w = chw.size(2);
  check(c >= 1 && h >= 1 && w >= 1, "", "cannot store an empty tensor as an image");
  torch::Tensor hwc = chw.detach().to(torch::kCPU, torch::kFloat32).permute({1, 2, 0});
  RawImage img(static_cast<int>(w), static_cast<int>(h), static_cast<int>(c), type);
  if (type == SampleType::F32) {
    torch::from_blob(img.data<float>(), {h, w, c}, torch::kFloat32).copy_(hwc);
    return img;
  }
  const double scale = type == SampleType::U8 ? 255.0 : 65535.0;
  // nan_to_num maps NaN to 0; +-inf are clamped by clamp().
  torch::Tensor q = torch::nan_to_num(hwc, 0.0).clamp(0.0, 1.0).mul(scale).add(0.5).floor();
  if (type == SampleType::U8) {
    torch::from_blob(img.data<std::uint8_t>(), {h, w, c}, torch::kUInt8).copy_(q);
  } else {
    torch::Tensor as_i32 = q.to(torch::kInt32);
    // Values above 32767 wrap to the same 16 bits when narrowed to int16.
    torch::from_blob(img.data<std::uint16_t>(), {h, w, c}, torch::kInt16)
        .copy_(torch::where(as_i32 > 32767, as_i32 - 65536, as_i32).to(torch::kInt16));
  }
  return img;
}

torch::Tensor convert_channels(const torch::Tensor& chw, ChannelMode mode) {
  if (mode == ChannelMode::Unchanged) return chw;
  const auto c = chw.size(0);
  // Drop alpha: 2 -> 1, 4 -> 3.
  torch::Tensor color = (c == 2 || c == 4) ? chw.narrow(0, 0, c - 1) : chw;
  if (mode == ChannelMode::Gray)
    return color.size(0) == 1 ? color.contiguous() : rgb_to_gray(color);
  return color.size(0) == 3 ? color.contiguous() : gray_to_rgb(color);
}

torch::Tensor read_image(const std::string& path, const ReadOptions& options) {
  const RawImage raw = read_raw(path, options.limits);
  torch::Tensor t = to_tensor(raw);
  const auto c = t.size(0);
  check(options.mode == ChannelMode::Unchanged || c <= 4, path,
        "cannot convert a " + std::to_string(c) + "-channel image to gray or RGB");
  return convert_channels(t, options.mode);
}

void write_image(const std::string& path, const torch::Tensor& chw, const WriteOptions& options) {
  const Format f = format_from_path(path);
  check(f != Format::Unknown, path,
        "unknown output format (use a .png, .jpg, .jpeg, .pfm or .flo file name)");
  SampleType type = SampleType::U8;
  if (f == Format::Pfm || f == Format::Flo)
    type = SampleType::F32;
  else if (f == Format::Png && options.depth == BitDepth::U16)
    type = SampleType::U16;
  RawImage img;
  try {
    img = from_tensor(chw, type);
  } catch (const Error& e) {
    throw Error(path, e.reason());
  }
  EncodeOptions enc;
  enc.jpeg_quality = options.jpeg_quality;
  enc.png_compression = options.png_compression;
  write_raw(path, img, enc);
}

}  // namespace strata::image
