// PNG decoding/encoding with libpng. libpng reports errors by longjmp, so every libpng call sits
// in a function whose frame holds only trivially destructible locals; C++ state lives in a
// context object owned by the caller.
#include <png.h>

#include <csetjmp>
#include <cstring>
#include <string>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/image/codec.hpp"

namespace strata::image {

namespace {

constexpr std::size_t kMaxChunkBytes = std::size_t{64}
                                       << 20;  // cap on decompressed ancillary chunks

struct PngContext {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  std::size_t pos = 0;
  std::string error;
  std::vector<png_bytep> rows;
  std::vector<std::uint8_t>* out = nullptr;  // encoder output
};

PngContext* context_of(png_structp png) { return static_cast<PngContext*>(png_get_error_ptr(png)); }

void on_error(png_structp png, png_const_charp msg) {
  context_of(png)->error = msg ? msg : "libpng error";
  std::longjmp(png_jmpbuf(png), 1);
}

void on_warning(png_structp, png_const_charp) {}

void on_read(png_structp png, png_bytep dst, png_size_t n) {
  auto* ctx = static_cast<PngContext*>(png_get_io_ptr(png));
  if (n > ctx->size - ctx->pos) png_error(png, "truncated PNG data");
  std::memcpy(dst, ctx->data + ctx->pos, n);
  ctx->pos += n;
}

void on_write(png_structp png, png_bytep src, png_size_t n) {
  auto* ctx = static_cast<PngContext*>(png_get_io_ptr(png));
  ctx->out->insert(ctx->out->end(), src, src + n);
}

void on_flush(png_structp) {}

void set_read_transforms(png_structp png, png_infop info) {
  const int color = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_swap(png);  // to host (little-endian) order
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
}

// Returns false on a libpng error (message in ctx->error).
bool read_png(png_structp png, png_infop info, PngContext* ctx, const DecodeLimits* limits,
              const std::string* name, RawImage* img) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, ctx, on_read);
  png_set_user_limits(png, 0x7fffffffu, 0x7fffffffu);
  png_set_chunk_malloc_max(png, kMaxChunkBytes);
  png_read_info(png, info);
  check_dimensions(png_get_image_width(png, info), png_get_image_height(png, info), *limits, *name);
  set_read_transforms(png, info);
  const int w = static_cast<int>(png_get_image_width(png, info));
  const int h = static_cast<int>(png_get_image_height(png, info));
  const int c = png_get_channels(png, info);
  const int depth = png_get_bit_depth(png, info);
  *img = RawImage(w, h, c, depth == 16 ? SampleType::U16 : SampleType::U8);
  const std::size_t stride = static_cast<std::size_t>(w) * c * (depth == 16 ? 2 : 1);
  if (png_get_rowbytes(png, info) != stride) png_error(png, "unexpected PNG row size");
  ctx->rows.resize(static_cast<std::size_t>(h));
  for (int y = 0; y < h; ++y)
    ctx->rows[static_cast<std::size_t>(y)] = img->bytes.data() + y * stride;
  png_read_image(png, ctx->rows.data());
  png_read_end(png, nullptr);
  return true;
}

int png_color_type(int channels) {
  switch (channels) {
    case 1: return PNG_COLOR_TYPE_GRAY;
    case 2: return PNG_COLOR_TYPE_GRAY_ALPHA;
    case 3: return PNG_COLOR_TYPE_RGB;
    default: return PNG_COLOR_TYPE_RGB_ALPHA;
  }
}

bool write_png(png_structp png, png_infop info, PngContext* ctx, const RawImage* img,
               int compression) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_write_fn(png, ctx, on_write, on_flush);
  png_set_compression_level(png, compression);
  const int depth = img->type == SampleType::U16 ? 16 : 8;
  png_set_IHDR(png, info, static_cast<png_uint_32>(img->width),
               static_cast<png_uint_32>(img->height), depth, png_color_type(img->channels),
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  if (depth == 16) png_set_swap(png);
  const std::size_t stride = static_cast<std::size_t>(img->width) * img->channels * (depth / 8);
  ctx->rows.resize(static_cast<std::size_t>(img->height));
  for (int y = 0; y < img->height; ++y)
    ctx->rows[static_cast<std::size_t>(y)] = const_cast<png_bytep>(img->bytes.data() + y * stride);
  png_write_image(png, ctx->rows.data());
  png_write_end(png, nullptr);
  return true;
}

}  // namespace

RawImage decode_png(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits,
                    const std::string& name) {
  PngContext ctx;
  ctx.data = data;
  ctx.size = size;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  check(png != nullptr, name, "out of memory creating PNG reader");
  png_infop info = png_create_info_struct(png);
  RawImage img;
  bool ok = false;
  try {
    ok = info != nullptr && read_png(png, info, &ctx, &limits, &name, &img);
  } catch (...) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw;
  }
  png_destroy_read_struct(&png, &info, nullptr);
  if (!ok) throw Error(name, "corrupt PNG: " + (ctx.error.empty() ? "out of memory" : ctx.error));
  return img;
}

std::vector<std::uint8_t> encode_png(const RawImage& img, int compression) {
  check(img.type != SampleType::F32, "", "PNG stores 8- or 16-bit samples, not float");
  check(img.channels >= 1 && img.channels <= 4, "",
        "PNG takes 1 to 4 channels, got " + std::to_string(img.channels));
  check(compression >= 0 && compression <= 9, "", "PNG compression level must be 0..9");
  std::vector<std::uint8_t> out;
  PngContext ctx;
  ctx.out = &out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  check(png != nullptr, "", "out of memory creating PNG writer");
  png_infop info = png_create_info_struct(png);
  const bool ok = info != nullptr && write_png(png, info, &ctx, &img, compression);
  png_destroy_write_struct(&png, &info);
  if (!ok) throw Error("", "PNG encoding failed: " + ctx.error);
  return out;
}

}  // namespace strata::image
