// JPEG decoding/encoding with libjpeg-turbo. As with libpng, errors arrive by longjmp, so libjpeg
// calls sit in functions with trivially destructible locals only.
// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>

#include <jerror.h>
#include <jpeglib.h>

#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <string>

#include "strata/core/error.hpp"
#include "strata/image/codec.hpp"

namespace strata::image {

namespace {

constexpr int kMaxScans = 1000;  // progressive files with more scans are rejected (DoS guard)

struct JpegErrorManager {
  jpeg_error_mgr base;  // must be first: libjpeg sees a jpeg_error_mgr*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

void on_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void on_message(j_common_ptr cinfo, int level) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) err->truncated = true;
}

void on_progress(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxScans) {
    auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
    std::snprintf(err->message, sizeof err->message, "more than %d progressive scans", kMaxScans);
    std::longjmp(err->jump, 1);
  }
}

void init_error_manager(JpegErrorManager* err) {
  jpeg_std_error(&err->base);
  err->base.error_exit = on_error_exit;
  err->base.emit_message = on_message;
  err->message[0] = '\0';
  err->truncated = false;
}

// Adobe CMYK/YCCK JPEGs store inverted CMYK; convert to RGB in place (4 -> 3 channels).
void cmyk_to_rgb_row(const JSAMPLE* src, std::uint8_t* dst, int width, bool inverted) {
  for (int x = 0; x < width; ++x) {
    int c = src[4 * x], m = src[4 * x + 1], y = src[4 * x + 2], k = src[4 * x + 3];
    if (!inverted) {
      c = 255 - c;
      m = 255 - m;
      y = 255 - y;
      k = 255 - k;
    }
    dst[3 * x] = static_cast<std::uint8_t>((c * k + 127) / 255);
    dst[3 * x + 1] = static_cast<std::uint8_t>((m * k + 127) / 255);
    dst[3 * x + 2] = static_cast<std::uint8_t>((y * k + 127) / 255);
  }
}

bool read_jpeg(jpeg_decompress_struct* cinfo, JpegErrorManager* err, const std::uint8_t* data,
               std::size_t size, const DecodeLimits* limits, const std::string* name, RawImage* img,
               std::string* scratch) {
  if (setjmp(err->jump)) return false;
  jpeg_create_decompress(cinfo);
  jpeg_progress_mgr progress;
  progress.progress_monitor = on_progress;
  cinfo->progress = &progress;
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  check_dimensions(cinfo->image_width, cinfo->image_height, *limits, *name);
  const bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
  cinfo->out_color_space = cinfo->num_components == 1 ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(cinfo);
  const int w = static_cast<int>(cinfo->output_width);
  const int c = cmyk ? 3 : cinfo->output_components;
  *img = RawImage(w, static_cast<int>(cinfo->output_height), c, SampleType::U8);
  if (cmyk) scratch->resize(static_cast<std::size_t>(w) * 4);
  while (cinfo->output_scanline < cinfo->output_height) {
    std::uint8_t* row =
        img->bytes.data() + static_cast<std::size_t>(cinfo->output_scanline) * w * c;
    JSAMPROW target = cmyk ? reinterpret_cast<JSAMPROW>(&(*scratch)[0]) : row;
    jpeg_read_scanlines(cinfo, &target, 1);
    if (cmyk) cmyk_to_rgb_row(target, row, w, cinfo->saw_Adobe_marker != 0);
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

bool write_jpeg(jpeg_compress_struct* cinfo, JpegErrorManager* err, const RawImage* img,
                int quality, unsigned char** buffer, unsigned long* length) {
  if (setjmp(err->jump)) return false;
  jpeg_create_compress(cinfo);
  jpeg_mem_dest(cinfo, buffer, length);
  cinfo->image_width = static_cast<JDIMENSION>(img->width);
  cinfo->image_height = static_cast<JDIMENSION>(img->height);
  cinfo->input_components = img->channels;
  cinfo->in_color_space = img->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(cinfo);
  jpeg_set_quality(cinfo, quality, TRUE);
  cinfo->optimize_coding = TRUE;
  jpeg_start_compress(cinfo, TRUE);
  const std::size_t stride = static_cast<std::size_t>(img->width) * img->channels;
  while (cinfo->next_scanline < cinfo->image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(img->bytes.data() + cinfo->next_scanline * stride);
    jpeg_write_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_compress(cinfo);
  return true;
}

}  // namespace

RawImage decode_jpeg(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits,
                     const std::string& name) {
  jpeg_decompress_struct cinfo;
  std::memset(&cinfo, 0, sizeof cinfo);
  JpegErrorManager err;
  init_error_manager(&err);
  cinfo.err = &err.base;
  RawImage img;
  std::string scratch;
  bool ok = false;
  try {
    ok = read_jpeg(&cinfo, &err, data, size, &limits, &name, &img, &scratch);
  } catch (...) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  jpeg_destroy_decompress(&cinfo);
  if (!ok) throw Error(name, std::string("corrupt JPEG: ") + err.message);
  if (err.truncated) throw Error(name, "truncated JPEG data");
  return img;
}

std::vector<std::uint8_t> encode_jpeg(const RawImage& img, int quality) {
  check(img.type == SampleType::U8, "", "JPEG stores 8-bit samples only");
  check(img.channels == 1 || img.channels == 3, "",
        "JPEG takes 1 or 3 channels, got " + std::to_string(img.channels));
  check(quality >= 1 && quality <= 100, "", "JPEG quality must be 1..100");
  jpeg_compress_struct cinfo;
  std::memset(&cinfo, 0, sizeof cinfo);
  JpegErrorManager err;
  init_error_manager(&err);
  cinfo.err = &err.base;
  unsigned char* buffer = nullptr;
  unsigned long length = 0;
  const bool ok = write_jpeg(&cinfo, &err, &img, quality, &buffer, &length);
  jpeg_destroy_compress(&cinfo);
  std::vector<std::uint8_t> out;
  if (ok) out.assign(buffer, buffer + length);
  std::free(buffer);
  if (!ok) throw Error("", std::string("JPEG encoding failed: ") + err.message);
  return out;
}

}  // namespace strata::image
