#include "strata/core/file.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include <fcntl.h>
#include <unistd.h>

#include "strata/core/error.hpp"

namespace strata {

namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

// Closes a POSIX file descriptor on scope exit.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

std::string temp_name_for(const std::string& path) {
  std::random_device rd;
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".tmp.%08x", static_cast<unsigned>(rd()));
  return path + suffix;
}

void write_all(int fd, const std::uint8_t* p, std::size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(path, "write failed: " + errno_text());
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

std::vector<std::uint8_t> read_file(const std::string& path, std::uint64_t max_bytes) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error(path, "is a directory, not a file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path, "cannot open: " + errno_text());
  FdCloser closer{fd};
  std::vector<std::uint8_t> bytes;
  std::uint8_t chunk[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fd, chunk, sizeof chunk);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(path, "read failed: " + errno_text());
    }
    if (r == 0) break;
    if (bytes.size() + static_cast<std::size_t>(r) > max_bytes)
      throw Error(path, "file larger than the limit of " + std::to_string(max_bytes) + " bytes");
    bytes.insert(bytes.end(), chunk, chunk + r);
  }
  return bytes;
}

void write_file_atomic(const std::string& path, const void* data, std::size_t size) {
  const std::string tmp = temp_name_for(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path, "cannot create output: " + errno_text());
  try {
    FdCloser closer{fd};
    write_all(fd, static_cast<const std::uint8_t*>(data), size, path);
    if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
      throw Error(path, "fsync failed: " + errno_text());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw Error(path, "cannot rename temp file into place: " + why);
  }
}

void write_file_atomic(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  write_file_atomic(path, bytes.data(), bytes.size());
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::exists(a, ec) && fs::exists(b, ec) && fs::equivalent(a, b, ec);
}

void check_output_path(const std::string& output, const std::vector<std::string>& inputs,
                       bool force) {
  check(!output.empty(), output, "empty output path");
  std::error_code ec;
  if (fs::is_directory(output, ec)) throw Error(output, "output is a directory");
  for (const auto& in : inputs)
    if (!force && same_file(output, in))
      throw Error(output, "output would overwrite input " + in + " (use --force to allow)");
  const fs::path parent = fs::path(output).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw Error(output, "output folder " + parent.string() + " does not exist");
}

std::string extension_of(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  if (!ext.empty() && ext[0] == '.') ext.erase(0, 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

}  // namespace strata
