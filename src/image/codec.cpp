#include "strata/image/codec.hpp"

#include <cstring>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"

namespace strata::image {

std::size_t sample_size(SampleType t) {
  switch (t) {
    case SampleType::U8: return 1;
    case SampleType::U16: return 2;
    case SampleType::F32: return 4;
  }
  return 1;
}

const char* sample_type_name(SampleType t) {
  switch (t) {
    case SampleType::U8: return "u8";
    case SampleType::U16: return "u16";
    case SampleType::F32: return "f32";
  }
  return "?";
}

const char* format_name(Format f) {
  switch (f) {
    case Format::Png: return "png";
    case Format::Jpeg: return "jpeg";
    case Format::Pfm: return "pfm";
    case Format::Flo: return "flo";
    case Format::Unknown: break;
  }
  return "unknown";
}

RawImage::RawImage(int w, int h, int c, SampleType t)
    : width(w),
      height(h),
      channels(c),
      type(t),
      bytes(static_cast<std::size_t>(w) * h * c * sample_size(t)) {}

Format sniff_format(const std::uint8_t* d, std::size_t n) {
  static const std::uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n >= 8 && std::memcmp(d, png_sig, 8) == 0) return Format::Png;
  if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff) return Format::Jpeg;
  if (n >= 4 && std::memcmp(d, "PIEH", 4) == 0) return Format::Flo;
  if (n >= 3 && d[0] == 'P' && (d[1] == 'F' || d[1] == 'f') &&
      (d[2] == '\n' || d[2] == '\r' || d[2] == ' ' || d[2] == '\t'))
    return Format::Pfm;
  return Format::Unknown;
}

Format format_from_path(const std::string& path) {
  const std::string ext = extension_of(path);
  if (ext == "png") return Format::Png;
  if (ext == "jpg" || ext == "jpeg") return Format::Jpeg;
  if (ext == "pfm") return Format::Pfm;
  if (ext == "flo") return Format::Flo;
  return Format::Unknown;
}

void check_dimensions(std::uint64_t width, std::uint64_t height, const DecodeLimits& limits,
                      const std::string& name) {
  check(width > 0 && height > 0, name,
        "zero image dimension (" + std::to_string(width) + "x" + std::to_string(height) + ")");
  check(width <= (std::uint64_t{1} << 31) && height <= (std::uint64_t{1} << 31) &&
            width * height <= limits.max_pixels,
        name,
        "image of " + std::to_string(width) + "x" + std::to_string(height) +
            " pixels exceeds the limit of " + std::to_string(limits.max_pixels) + " pixels");
}

RawImage decode(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits,
                const std::string& name) {
  check(size > 0, name, "empty file");
  switch (sniff_format(data, size)) {
    case Format::Png: return decode_png(data, size, limits, name);
    case Format::Jpeg: return decode_jpeg(data, size, limits, name);
    case Format::Pfm: return decode_pfm(data, size, limits, name);
    case Format::Flo: return decode_flo(data, size, limits, name);
    case Format::Unknown: break;
  }
  throw Error(name, "unrecognised image format (not PNG, JPEG, PFM or FLO)");
}

std::vector<std::string> list_images(const std::string& dir) {
  std::vector<std::string> paths;
  for (const auto& name : list_directory(dir))
    if (format_from_path(name) != Format::Unknown) paths.push_back(dir + "/" + name);
  return paths;
}

RawImage read_raw(const std::string& path, const DecodeLimits& limits) {
  const auto bytes = read_file(path, limits.max_file_bytes);
  return decode(bytes.data(), bytes.size(), limits, path);
}

std::vector<std::uint8_t> encode(const RawImage& img, Format format, const EncodeOptions& options) {
  check(img.width > 0 && img.height > 0 &&
            img.bytes.size() == img.num_samples() * sample_size(img.type),
        "", "cannot encode an empty or inconsistent image");
  switch (format) {
    case Format::Png: return encode_png(img, options.png_compression);
    case Format::Jpeg: return encode_jpeg(img, options.jpeg_quality);
    case Format::Pfm: return encode_pfm(img);
    case Format::Flo: return encode_flo(img);
    case Format::Unknown: break;
  }
  throw Error("", "unknown output format");
}

void write_raw(const std::string& path, const RawImage& img, const EncodeOptions& options) {
  const Format f = format_from_path(path);
  check(f != Format::Unknown, path,
        "unknown output format (use a .png, .jpg, .jpeg, .pfm or .flo file name)");
  std::vector<std::uint8_t> bytes;
  try {
    bytes = encode(img, f, options);
  } catch (const Error& e) {
    throw Error(path, e.reason());
  }
  write_file_atomic(path, bytes);
}

}  // namespace strata::image
