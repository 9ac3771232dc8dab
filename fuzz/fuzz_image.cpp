// libFuzzer target for one image decoder, chosen at build time by STRATA_FUZZ_DECODER (e.g.
// decode_png): the decoder must either return a consistent image or throw strata::Error.
#include <cstddef>
#include <cstdint>

#include "strata/core/error.hpp"
#include "strata/image/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  strata::image::DecodeLimits limits;
  limits.max_pixels = std::uint64_t{1} << 22;  // keep single inputs fast; the cap logic is tested
  try {
    const auto img = strata::image::STRATA_FUZZ_DECODER(data, size, limits, "fuzz");
    if (img.bytes.size() != img.num_samples() * strata::image::sample_size(img.type))
      __builtin_trap();
  } catch (const strata::Error&) {
  }
  return 0;
}
