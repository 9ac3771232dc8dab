// libFuzzer target for the safetensors header parser: only strata::Error may come out of it.
#include <cstddef>
#include <cstdint>

#include "strata/core/error.hpp"
#include "strata/nn/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const strata::nn::SafetensorsHeader header =
        strata::nn::parse_safetensors_header(data, size, "fuzz");
    // Everything the parser accepted must lie inside the input.
    for (const auto& t : header.tensors) {
      if (t.end < t.begin || header.data_offset + t.end > size) __builtin_trap();
    }
  } catch (const strata::Error&) {
  }
  return 0;
}
