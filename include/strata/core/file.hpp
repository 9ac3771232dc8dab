// File helpers: whole-file reads with a size cap, and atomic writes (temp file + rename) so that
// a failed or interrupted run never leaves a partial output, and inputs are never overwritten.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata {

/// Reads a whole file. Throws strata::Error if it cannot be opened or exceeds `max_bytes`.
std::vector<std::uint8_t> read_file(const std::string& path,
                                    std::uint64_t max_bytes = std::uint64_t{1} << 32);

/// Writes `size` bytes to `path` atomically: a temp file in the same folder, flushed, then
/// renamed over `path`. On any failure the temp file is removed and strata::Error is thrown.
void write_file_atomic(const std::string& path, const void* data, std::size_t size);
void write_file_atomic(const std::string& path, const std::vector<std::uint8_t>& bytes);

/// True when `a` and `b` name the same existing file (hard links and symlinks included).
bool same_file(const std::string& a, const std::string& b);

/// Throws strata::Error unless writing `output` is safe: it must not be one of `inputs` (unless
/// `force`), its folder must exist, and it must not be a directory.
void check_output_path(const std::string& output, const std::vector<std::string>& inputs,
                       bool force);

/// Lower-case extension without the dot ("photo.JPG" -> "jpg"); empty if none.
std::string extension_of(const std::string& path);

}  // namespace strata
