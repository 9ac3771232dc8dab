#include "strata/core/file.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/core/error.hpp"

namespace strata {

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
  if (is_directory(path)) throw Error(path, "is a directory, not a file");
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
  struct stat sa, sb;
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

void check_output_path(const std::string& output, const std::vector<std::string>& inputs,
                       bool force) {
  check(!output.empty(), output, "empty output path");
  if (is_directory(output)) throw Error(output, "output is a directory");
  for (const auto& in : inputs)
    if (!force && same_file(output, in))
      throw Error(output, "output would overwrite input " + in + " (use --force to allow)");
  const std::string parent = parent_of(output);
  if (!parent.empty() && !is_directory(parent))
    throw Error(output, "output folder " + parent + " does not exist");
}

std::string parent_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string basename_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string stem_of(const std::string& path) {
  const std::string base = basename_of(path);
  const auto dot = base.rfind('.');
  return dot == std::string::npos ? base : base.substr(0, dot);
}

std::string extension_of(const std::string& path) {
  const std::string base = basename_of(path);
  const auto dot = base.find_last_of('.');
  std::string ext = dot == std::string::npos || dot == 0 ? "" : base.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void make_directories(const std::string& path) {
  check(!path.empty(), path, "empty folder name");
  if (is_directory(path)) return;
  const std::string parent = parent_of(path);
  if (!parent.empty() && parent != path) make_directories(parent);
  if (::mkdir(path.c_str(), 0755) != 0 && !(errno == EEXIST && is_directory(path)))
    throw Error(path, "cannot create folder: " + errno_text());
}

std::string make_temp_directory(const std::string& prefix, const std::string& parent) {
  std::string base = parent;
  if (base.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    base = tmp && *tmp ? tmp : "/tmp";
  }
  std::string templ = base + "/" + prefix + "XXXXXX";
  if (::mkdtemp(&templ[0]) == nullptr)
    throw Error(base, "cannot create a temporary folder: " + errno_text());
  return templ;
}

namespace {
int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }
}  // namespace

void remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  if (::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
    throw Error(path, "cannot remove: " + errno_text());
}

std::vector<std::string> list_directory(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) throw Error(path, "cannot list folder: " + errno_text());
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace strata
