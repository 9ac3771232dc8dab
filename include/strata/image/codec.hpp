// Torch-free image codecs: PNG (libpng), JPEG (libjpeg-turbo), PFM and Middlebury .flo.
// Decoders validate everything before allocating (pixel cap, truncation, magic numbers) and report
// problems as strata::Error; they never crash on hostile input (each has a fuzz target).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace strata::image {

/// Storage type of one sample.
enum class SampleType : std::uint8_t { U8, U16, F32 };

std::size_t sample_size(SampleType t);
const char* sample_type_name(SampleType t);

/// File formats strata reads and writes.
enum class Format : std::uint8_t { Unknown, Png, Jpeg, Pfm, Flo };

const char* format_name(Format f);

/// A decoded image: interleaved samples (HWC), rows top to bottom, native byte order.
struct RawImage {
  int width = 0;
  int height = 0;
  int channels = 0;
  SampleType type = SampleType::U8;
  std::vector<std::uint8_t> bytes;

  RawImage() = default;
  /// Allocates a zero-filled image (no size checks: decoders check limits before calling this).
  RawImage(int w, int h, int c, SampleType t);

  std::size_t num_samples() const { return static_cast<std::size_t>(width) * height * channels; }
  template <class T>
  T* data() {
    return reinterpret_cast<T*>(bytes.data());
  }
  template <class T>
  const T* data() const {
    return reinterpret_cast<const T*>(bytes.data());
  }
};

/// Limits applied while decoding, checked against the header before any pixel memory is taken.
struct DecodeLimits {
  std::uint64_t max_pixels = std::uint64_t{1} << 28;  ///< width × height cap (default 2^28)
  std::uint64_t max_file_bytes = std::uint64_t{1} << 32;
};

/// Guesses the format from the first bytes (magic numbers); Unknown if none matches.
Format sniff_format(const std::uint8_t* data, std::size_t size);
/// Format implied by a file name's extension (png, jpg/jpeg, pfm, flo); Unknown otherwise.
Format format_from_path(const std::string& path);

/// Decodes an in-memory file of any supported format. `name` is used in error messages only.
RawImage decode(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits = {},
                const std::string& name = "<memory>");

RawImage decode_png(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits,
                    const std::string& name);
RawImage decode_jpeg(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits,
                     const std::string& name);
RawImage decode_pfm(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits,
                    const std::string& name);
RawImage decode_flo(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits,
                    const std::string& name);

/// The image files (png, jpg/jpeg, pfm, flo by extension) directly inside `dir`, sorted by
/// name, as paths "dir/name". Throws strata::Error if the folder cannot be read.
std::vector<std::string> list_images(const std::string& dir);

/// Reads and decodes a file (format from its content, not its name).
RawImage read_raw(const std::string& path, const DecodeLimits& limits = {});

/// Options for encoding. PNG takes U8 or U16 with 1–4 channels; JPEG takes U8 with 1 or 3
/// channels; PFM takes F32 with 1 or 3 channels; FLO takes F32 with 2 channels.
struct EncodeOptions {
  int jpeg_quality = 95;    ///< 1..100
  int png_compression = 6;  ///< zlib level 0..9
};

std::vector<std::uint8_t> encode(const RawImage& img, Format format,
                                 const EncodeOptions& options = {});
std::vector<std::uint8_t> encode_png(const RawImage& img, int compression);
std::vector<std::uint8_t> encode_jpeg(const RawImage& img, int quality);
std::vector<std::uint8_t> encode_pfm(const RawImage& img);
std::vector<std::uint8_t> encode_flo(const RawImage& img);

/// Encodes by the extension of `path` and writes atomically (temp file + rename).
void write_raw(const std::string& path, const RawImage& img, const EncodeOptions& options = {});

/// Throws strata::Error unless width, height > 0 and width × height <= limits.max_pixels.
void check_dimensions(std::uint64_t width, std::uint64_t height, const DecodeLimits& limits,
                      const std::string& name);

}  // namespace strata::image
