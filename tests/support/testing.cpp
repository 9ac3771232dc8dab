#include "testing.hpp"

#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include <sys/wait.h>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"

namespace strata::testing {

std::string data_root() {
  const char* env = std::getenv("STRATA_DATA");
  return env && *env ? env : STRATA_DEFAULT_DATA;
}

std::string data_path(const std::string& relative) { return data_root() + "/" + relative; }

bool exists(const std::string& path) { return path_exists(path); }

TempDir::TempDir() : path_(make_temp_directory("strata-test-")) {}

TempDir::~TempDir() {
  try {
    remove_tree(path_);
  } catch (const Error&) {
  }
}

std::vector<std::string> TempDir::list() const { return list_directory(path_); }

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(f), {});
}

bool cuda_available() { return torch::cuda::is_available(); }

std::int64_t parameter_count(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kCPU, torch::kFloat64) - b.to(torch::kCPU, torch::kFloat64))
      .abs()
      .max()
      .item<double>();
}

namespace {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

RunResult run_strata(const std::vector<std::string>& args) {
  TempDir tmp;
  std::string cmd = shell_quote(STRATA_EXE);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " </dev/null >" + shell_quote(tmp.file("out")) + " 2>" + shell_quote(tmp.file("err"));
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(tmp.file("out"));
  r.err = slurp(tmp.file("err"));
  return r;
}

}  // namespace strata::testing
