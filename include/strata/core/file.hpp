// File helpers: whole-file reads with a size cap, and atomic writes (temp file + rename) so that
// a failed or interrupted run never leaves a partial output, and inputs are never overwritten.
//
// strata does not use std::filesystem: the pip builds of LibTorch export broken copies of some
// std::filesystem symbols (remove_all calls a null pointer there), which interpose the real ones
// in any program that links libtorch.so. These POSIX-based helpers cover what we need.
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

/// The folder part of a path ("a/b/c.png" -> "a/b", "c.png" -> "").
std::string parent_of(const std::string& path);
/// The last component of a path ("a/b/c.png" -> "c.png").
std::string basename_of(const std::string& path);
/// The last component without its extension ("a/b/c.png" -> "c", "a/b.x/c" -> "c").
std::string stem_of(const std::string& path);

bool path_exists(const std::string& path);
bool is_directory(const std::string& path);

/// Creates a folder and its missing parents (like mkdir -p); throws strata::Error on failure.
void make_directories(const std::string& path);
/// Creates a fresh, uniquely named folder inside `parent` (default: $TMPDIR or /tmp).
std::string make_temp_directory(const std::string& prefix, const std::string& parent = "");
/// Removes a file or a folder tree; missing paths are fine. Throws strata::Error on failure.
void remove_tree(const std::string& path);
/// Names of the entries of a folder (no "." or ".."), sorted.
std::vector<std::string> list_directory(const std::string& path);

}  // namespace strata
