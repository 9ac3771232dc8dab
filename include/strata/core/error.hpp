// The one exception type of the project: every failure a user can cause (bad file, bad option,
// bad weights) is reported as a strata::Error carrying the path involved and a reason.
#pragma once

#include <stdexcept>
#include <string>

namespace strata {

class Error : public std::runtime_error {
 public:
  /// `path` may be empty when no file is involved; `reason` is a short lower-case phrase.
  Error(std::string path, std::string reason);

  const std::string& path() const noexcept { return path_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string path_;
  std::string reason_;
};

/// Throws strata::Error(path, reason) when `condition` is false.
inline void check(bool condition, const std::string& path, const std::string& reason) {
  if (!condition) throw Error(path, reason);
}

}  // namespace strata
