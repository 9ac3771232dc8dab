// Torch-free safetensors format: header parsing with full validation, and serialisation.
// Layout: u64 little-endian header length N, N bytes of JSON header, then the raw data section.
// Tensor data is little-endian and C-contiguous; offsets in the header are relative to the data
// section, which the tensors must cover exactly (no gaps, no overlaps, no trailing bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace strata::nn {

/// Element types of the safetensors format that strata reads and writes.
enum class DType : std::uint8_t { F32, F16, BF16, I64, F64, I32, U8, BOOL };

/// Name used in the header ("F32", "BF16", ...).
const char* dtype_name(DType t);
/// Bytes per element.
std::size_t dtype_size(DType t);
/// Parses a header dtype string; throws strata::Error(name_for_errors, ...) naming unknown ones.
DType parse_dtype(const std::string& text, const std::string& name_for_errors);

/// "[16,3,3,3]" (used in error messages).
std::string shape_to_string(const std::vector<std::int64_t>& shape);

/// Largest header (JSON) length accepted, as in the reference implementation.
constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

/// One tensor of a file: where its bytes lie, relative to the start of the data section.
struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;

  std::uint64_t bytes() const { return end - begin; }
};

/// A parsed and validated header.
struct SafetensorsHeader {
  std::vector<TensorEntry> tensors;  ///< sorted by begin (then end, then name)
  std::map<std::string, std::string> metadata;
  std::uint64_t data_offset = 0;  ///< start of the data section in the file: 8 + N
};

/// Parses and validates the header of an in-memory safetensors file of `size` bytes. Every
/// problem (truncation, bad JSON, bad fields, overlapping or missing data) throws
/// strata::Error(name_for_errors, reason); no other exception escapes.
SafetensorsHeader parse_safetensors_header(const std::uint8_t* data, std::size_t size,
                                           const std::string& name_for_errors);

/// A tensor to serialise: `bytes` little-endian, C-contiguous bytes at `data`.
struct RawTensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;
  std::size_t bytes = 0;
};

/// Builds a whole safetensors file. Tensors are stored in the given order; the header is padded
/// with spaces to a multiple of 8 bytes. Throws strata::Error on empty or duplicate names,
/// negative dimensions, or `bytes` differing from numel × dtype size.
std::vector<std::uint8_t> serialize_safetensors(const std::vector<RawTensorView>& tensors,
                                                const std::map<std::string, std::string>& metadata);

}  // namespace strata::nn
