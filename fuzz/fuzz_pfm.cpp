// libFuzzer target: the PFM decoder must either decode or throw strata::Error, nothing else.
#include <cstddef>
#include <cstdint>

#include "strata/core/error.hpp"
#include "strata/image/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  strata::image::DecodeLimits limits;
  limits.max_pixels = std::uint64_t{1} << 22;  // keep single inputs fast; the cap logic is tested
  try {
    const auto img = strata::image::decode_pfm(data, size, limits, "fuzz");
    if (img.bytes.size() != img.num_samples() * strata::image::sample_size(img.type)) __builtin_trap();
  } catch (const strata::Error&) {
  }
  return 0;
}
