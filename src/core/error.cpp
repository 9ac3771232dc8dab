#include "strata/core/error.hpp"

namespace strata {

namespace {
std::string format_message(const std::string& path, const std::string& reason) {
  return path.empty() ? reason : path + ": " + reason;
}
}  // namespace

Error::Error(std::string path, std::string reason)
    : std::runtime_error(format_message(path, reason)),
      path_(std::move(path)),
      reason_(std::move(reason)) {}

}  // namespace strata
