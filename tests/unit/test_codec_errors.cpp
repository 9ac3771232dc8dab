// The corpus of broken files: each must give a strata::Error with a clear reason, never a crash,
// another exception type or a huge allocation.
#include <zlib.h>

#include <cstring>

#include "strata/core/error.hpp"
#include "strata/image/codec.hpp"
#include "testing.hpp"

namespace strata::image {
namespace {

using Bytes = std::vector<std::uint8_t>;

// Decodes and returns the error reason; fails the test if decoding succeeds.
std::string decode_error(const Bytes& b, const DecodeLimits& limits = {}) {
  try {
    decode(b.data(), b.size(), limits, "case");
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), "case");
    return e.reason();
  }
  ADD_FAILURE() << "decoding succeeded";
  return "";
}

#define EXPECT_DECODE_ERROR(bytes, substring) \
  EXPECT_NE(decode_error(bytes).find(substring), std::string::npos) << decode_error(bytes)

Bytes valid_png() {
  RawImage img(37, 23, 3, SampleType::U8);
  for (std::size_t i = 0; i < img.bytes.size(); ++i)
    img.bytes[i] = static_cast<std::uint8_t>(i * 7);
  return encode_png(img, 6);
}

Bytes valid_jpeg() {
  RawImage img(64, 64, 3, SampleType::U8);
  for (std::size_t i = 0; i < img.bytes.size(); ++i)
    img.bytes[i] = static_cast<std::uint8_t>(i % 251);
  return encode_jpeg(img, 90);
}

void put_be32(Bytes& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}

// Rewrites the IHDR fields (PNG offsets: IHDR data at 16..28, CRC at 29..32) and fixes its CRC.
Bytes png_with_ihdr(std::uint32_t w, std::uint32_t h, std::uint8_t depth) {
  Bytes b = valid_png();
  put_be32(b, 16, w);
  put_be32(b, 20, h);
  b[24] = depth;
  put_be32(b, 29, static_cast<std::uint32_t>(crc32(0, b.data() + 12, 17)));
  return b;
}

std::size_t find_marker(const Bytes& b, std::uint8_t marker) {
  for (std::size_t i = 2; i + 1 < b.size(); ++i)
    if (b[i] == 0xff && b[i + 1] == marker) return i;
  return 0;
}

TEST(BrokenFiles, EmptyAndUnknown) {
  EXPECT_DECODE_ERROR(Bytes{}, "empty file");
  EXPECT_DECODE_ERROR((Bytes{'G', 'I', 'F', '8', '9', 'a', 0, 0}), "unrecognised image format");
}

TEST(BrokenFiles, PngTruncatedAtEveryLength) {
  const Bytes b = valid_png();
  for (std::size_t n = 1; n < b.size(); ++n) {
    const Bytes cut(b.begin(), b.begin() + static_cast<long>(n));
    try {
      decode(cut.data(), cut.size());
      // Only a cut inside the trailing IEND chunk may still decode (the pixels are complete).
      EXPECT_GE(n, b.size() - 12) << "length " << n;
    } catch (const Error&) {
    }
  }
  const Bytes cut(b.begin(), b.begin() + static_cast<long>(b.size() / 2));
  EXPECT_DECODE_ERROR(cut, "truncated");
}

TEST(BrokenFiles, PngBadCrcAndBadHeader) {
  Bytes b = valid_png();
  b[20] ^= 0x01;  // change the height without fixing the CRC
  EXPECT_DECODE_ERROR(b, "CRC");
  EXPECT_DECODE_ERROR(png_with_ihdr(0, 23, 8), "corrupt PNG");
  EXPECT_DECODE_ERROR(png_with_ihdr(37, 23, 7), "corrupt PNG");  // no such bit depth
  Bytes magic = valid_png();
  magic[1] = 'Q';
  EXPECT_DECODE_ERROR(magic, "unrecognised");
}

TEST(BrokenFiles, PngHugeDeclaredSizeIsRejectedBeforeAllocating) {
  EXPECT_DECODE_ERROR(png_with_ihdr(100000, 100000, 8), "exceeds the limit");
  DecodeLimits small;
  small.max_pixels = 100;
  const Bytes ok = valid_png();
  EXPECT_NE(decode_error(ok, small).find("exceeds the limit of 100 pixels"), std::string::npos);
}

TEST(BrokenFiles, PngCorruptPixelData) {
  Bytes b = valid_png();
  const std::size_t idat = 33 + 8;  // IDAT data follows IHDR (33 bytes) and its 8-byte header
  for (std::size_t i = idat + 2; i < idat + 40; ++i) b[i] ^= 0x5a;
  EXPECT_DECODE_ERROR(b, "corrupt PNG");
}

TEST(BrokenFiles, JpegTruncated) {
  const Bytes b = valid_jpeg();
  const Bytes half(b.begin(), b.begin() + static_cast<long>(b.size() / 2));
  EXPECT_DECODE_ERROR(half, "truncated JPEG");
  const Bytes header_only(b.begin(), b.begin() + 20);
  EXPECT_DECODE_ERROR(header_only, "JPEG");
  for (std::size_t n = 3; n < b.size(); n += 97) {
    const Bytes cut(b.begin(), b.begin() + static_cast<long>(n));
    EXPECT_THROW(decode(cut.data(), cut.size()), Error) << "length " << n;
  }
}

TEST(BrokenFiles, JpegBadFrameHeader) {
  const Bytes good = valid_jpeg();
  const std::size_t sof = find_marker(good, 0xc0);  // baseline SOF0 (optimised Huffman: still SOF0)
  ASSERT_GT(sof, 0u);
  // SOF layout: FF C0, length(2), precision(1), height(2), width(2), components(1) ...
  Bytes precision = good;
  precision[sof + 4] = 12;
  EXPECT_DECODE_ERROR(precision, "corrupt JPEG");
  Bytes zero = good;
  zero[sof + 5] = zero[sof + 6] = 0;
  EXPECT_DECODE_ERROR(zero, "corrupt JPEG");
  Bytes huge = good;
  huge[sof + 5] = huge[sof + 7] = 0xea;  // 60000 x 60000: within JPEG's 65500 but over the cap
  huge[sof + 6] = huge[sof + 8] = 0x60;
  EXPECT_DECODE_ERROR(huge, "exceeds the limit");
  Bytes garbage = good;
  for (std::size_t i = 3; i < 40; ++i) garbage[i] = 0x00;
  EXPECT_DECODE_ERROR(garbage, "corrupt JPEG");
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

TEST(BrokenFiles, PfmHeaderAndData) {
  EXPECT_DECODE_ERROR(text("PF\n"), "truncated PFM header");
  EXPECT_DECODE_ERROR(text("PF\n2 x\n-1\n"), "bad dimension");
  EXPECT_DECODE_ERROR(text("PF\n-2 2\n-1\n"), "bad dimension");
  EXPECT_DECODE_ERROR(text("Pf\n2 2\nabc\n"), "bad scale");
  EXPECT_DECODE_ERROR(text("Pf\n2 2\n0\n"), "bad scale");
  EXPECT_DECODE_ERROR(text("Pf\n2 2\nnan\n"), "bad scale");
  EXPECT_DECODE_ERROR(text("Pf\n0 2\n-1\n"), "zero image dimension");
  EXPECT_DECODE_ERROR(text("Pf\n99999 99999\n-1\n"), "exceeds the limit");
  EXPECT_DECODE_ERROR(text("Pf\n99999999999 1\n-1\n"), "bad dimension");
  EXPECT_DECODE_ERROR(text("Pf\n2 2\n-1\n" + std::string(15, 'x')), "truncated PFM data");
  EXPECT_DECODE_ERROR(text("Pf\n2 2\n-1"), "truncated PFM header");
}

Bytes flo(std::int32_t w, std::int32_t h, std::size_t payload) {
  Bytes b = text("PIEH");
  b.resize(12 + payload);
  std::memcpy(b.data() + 4, &w, 4);
  std::memcpy(b.data() + 8, &h, 4);
  return b;
}

TEST(BrokenFiles, FloHeaderAndData) {
  EXPECT_DECODE_ERROR(text("PIEH"), "truncated FLO header");
  Bytes tag = flo(1, 1, 8);
  tag[3] = 'I';  // "PIEI" is not the float 202021.25 (and sniffs as unknown)
  EXPECT_DECODE_ERROR(tag, "unrecognised");
  EXPECT_DECODE_ERROR(flo(-1, 4, 0), "bad FLO dimensions");
  EXPECT_DECODE_ERROR(flo(0, 4, 0), "bad FLO dimensions");
  EXPECT_DECODE_ERROR(flo(2, 2, 31), "truncated FLO data");
  EXPECT_DECODE_ERROR(flo(2, 2, 33), "trailing bytes");
  EXPECT_DECODE_ERROR(flo(100000, 100000, 0), "exceeds the limit");
  Bytes ok = flo(2, 2, 32);
  EXPECT_NO_THROW(decode(ok.data(), ok.size()));
}

TEST(BrokenFiles, MissingFileNamesThePath) {
  try {
    read_raw("/nonexistent/dir/x.png");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), "/nonexistent/dir/x.png");
    EXPECT_NE(e.reason().find("cannot open"), std::string::npos);
  }
}

}  // namespace
}  // namespace strata::image
