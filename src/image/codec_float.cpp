// Float formats: PFM (Portable Float Map, gray "Pf" or colour "PF") and Middlebury .flo flow.
#include <cmath>
#include <cstring>
#include <string>

#include "strata/core/error.hpp"
#include "strata/image/codec.hpp"

namespace strata::image {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "strata assumes a little-endian host");

namespace {

constexpr float kFloTag = 202021.25f;

bool is_space(std::uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Reads one whitespace-delimited ASCII token of at most 32 characters starting at `pos`.
std::string next_token(const std::uint8_t* d, std::size_t n, std::size_t& pos,
                       const std::string& name) {
  while (pos < n && is_space(d[pos])) ++pos;
  std::string tok;
  while (pos < n && !is_space(d[pos])) {
    check(tok.size() < 32, name, "corrupt PFM header: token too long");
    tok.push_back(static_cast<char>(d[pos++]));
  }
  check(!tok.empty(), name, "truncated PFM header");
  return tok;
}

std::uint64_t parse_dimension(const std::string& tok, const std::string& name) {
  check(tok.size() <= 10 && tok.find_first_not_of("0123456789") == std::string::npos, name,
        "corrupt PFM header: bad dimension '" + tok + "'");
  return std::stoull(tok);
}

double parse_scale(const std::string& tok, const std::string& name) {
  char* end = nullptr;
  const double v = std::strtod(tok.c_str(), &end);
  check(end == tok.c_str() + tok.size() && std::isfinite(v) && v != 0.0, name,
        "corrupt PFM header: bad scale '" + tok + "'");
  return v;
}

void byteswap32(std::uint8_t* p, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i, p += 4) {
    std::swap(p[0], p[3]);
    std::swap(p[1], p[2]);
  }
}

std::int32_t read_i32(const std::uint8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

RawImage decode_pfm(const std::uint8_t* d, std::size_t n, const DecodeLimits& limits,
                    const std::string& name) {
  check(n >= 3 && d[0] == 'P' && (d[1] == 'F' || d[1] == 'f'), name, "not a PFM file");
  const int channels = d[1] == 'F' ? 3 : 1;
  std::size_t pos = 2;
  const std::uint64_t w = parse_dimension(next_token(d, n, pos, name), name);
  const std::uint64_t h = parse_dimension(next_token(d, n, pos, name), name);
  const double scale = parse_scale(next_token(d, n, pos, name), name);
  check(pos < n && is_space(d[pos]), name, "truncated PFM header");
  ++pos;  // exactly one whitespace character separates the header from the data
  check_dimensions(w, h, limits, name);
  const std::size_t row_bytes = static_cast<std::size_t>(w) * channels * 4;
  check(n - pos >= row_bytes * h, name,
        "truncated PFM data: need " + std::to_string(row_bytes * h) + " bytes, have " +
            std::to_string(n - pos));
  RawImage img(static_cast<int>(w), static_cast<int>(h), channels, SampleType::F32);
  for (std::uint64_t y = 0; y < h; ++y)  // PFM rows run bottom to top
    std::memcpy(img.bytes.data() + (h - 1 - y) * row_bytes, d + pos + y * row_bytes, row_bytes);
  if (scale > 0) byteswap32(img.bytes.data(), img.num_samples());  // positive scale: big-endian
  return img;
}

RawImage decode_flo(const std::uint8_t* d, std::size_t n, const DecodeLimits& limits,
                    const std::string& name) {
  check(n >= 12, name, "truncated FLO header");
  float tag;
  std::memcpy(&tag, d, 4);
  check(tag == kFloTag, name, "not a Middlebury .flo file (bad tag)");
  const std::int32_t w = read_i32(d + 4), h = read_i32(d + 8);
  check(w > 0 && h > 0, name, "bad FLO dimensions " + std::to_string(w) + "x" + std::to_string(h));
  check_dimensions(static_cast<std::uint64_t>(w), static_cast<std::uint64_t>(h), limits, name);
  const std::size_t bytes = static_cast<std::size_t>(w) * h * 2 * 4;
  check(n - 12 >= bytes, name, "truncated FLO data");
  check(n - 12 == bytes, name, "trailing bytes after FLO data");
  RawImage img(w, h, 2, SampleType::F32);
  std::memcpy(img.bytes.data(), d + 12, bytes);
  return img;
}

std::vector<std::uint8_t> encode_pfm(const RawImage& img) {
  check(img.type == SampleType::F32, "", "PFM stores float samples only");
  check(img.channels == 1 || img.channels == 3, "",
        "PFM takes 1 or 3 channels, got " + std::to_string(img.channels));
  const std::string header = std::string(img.channels == 3 ? "PF" : "Pf") + "\n" +
                             std::to_string(img.width) + " " + std::to_string(img.height) +
                             "\n-1.0\n";
  const std::size_t row_bytes = static_cast<std::size_t>(img.width) * img.channels * 4;
  std::vector<std::uint8_t> out(header.begin(), header.end());
  out.resize(header.size() + row_bytes * img.height);
  for (int y = 0; y < img.height; ++y)
    std::memcpy(out.data() + header.size() + static_cast<std::size_t>(y) * row_bytes,
                img.bytes.data() + static_cast<std::size_t>(img.height - 1 - y) * row_bytes,
                row_bytes);
  return out;
}

std::vector<std::uint8_t> encode_flo(const RawImage& img) {
  check(img.type == SampleType::F32 && img.channels == 2, "",
        "FLO stores 2-channel float (u, v) flow only");
  std::vector<std::uint8_t> out(12 + img.bytes.size());
  const std::int32_t w = img.width, h = img.height;
  std::memcpy(out.data(), &kFloTag, 4);
  std::memcpy(out.data() + 4, &w, 4);
  std::memcpy(out.data() + 8, &h, 4);
  std::memcpy(out.data() + 12, img.bytes.data(), img.bytes.size());
  return out;
}

}  // namespace strata::image
