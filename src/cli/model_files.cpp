#include "cli/model_files.hpp"

#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/nn/weights.hpp"
#include "strata/train/hipe_trainer.hpp"

namespace strata::cli {

namespace {

std::string executable_dir() {
  std::vector<char> buf(4096);
  const auto n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  return n > 0 ? parent_of(std::string(buf.data(), static_cast<std::size_t>(n))) : ".";
}

template <class Module>
Module load_file(const std::string& path, const torch::Device& device) {
  Module m;
  nn::load_module_weights(*m, nn::load_safetensors(path), path);
  m->to(device);
  m->eval();
  return m;
}

template <class Module>
Module load(const std::string& dir, train::HipeStage stage, const torch::Device& device) {
  const std::string name = train::hipe_model_name(stage);
  const std::string path = dir + "/" + name + ".safetensors";
  check(path_exists(path), path,
        "no HIPe weights here (give --model DIR, or train them with strata train " + name + ")");
  return load_file<Module>(path, device);
}

}  // namespace

std::string model_dir(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("STRATA_MODELS")) return env;
  const std::string exe = executable_dir();
  for (const auto& dir : {exe + "/../models", exe + "/../share/strata/models"})
    if (is_directory(dir)) return dir;
  return exe + "/../models";
}

models::HipeGuider load_hipe_guider(const std::string& dir, const torch::Device& device) {
  return load<models::HipeGuider>(dir, train::HipeStage::Guider, device);
}

models::HipeGuider load_hipe_edge_guider(const std::string& dir, const torch::Device& device) {
  for (const char* name : {"/hipe-edges.safetensors", "/hipe-guider.safetensors"})
    if (path_exists(dir + name)) return load_file<models::HipeGuider>(dir + name, device);
  throw Error(dir,
              "no hipe-edges.safetensors or hipe-guider.safetensors here (give --model DIR or "
              "--weights FILE)");
}

models::HipeGuider load_hipe_guider_file(const std::string& path, const torch::Device& device) {
  check(path_exists(path), path, "no such weights file");
  return load_file<models::HipeGuider>(path, device);
}

models::HipePeeler load_hipe_peeler(const std::string& dir, const torch::Device& device) {
  return load<models::HipePeeler>(dir, train::HipeStage::Peeler, device);
}

void add_tile_option(CLI::App* command, int& tile) {
  command
      ->add_option("--tile", tile,
                   "tiled inference: run each layer in N×N tiles on the device, keeping the "
                   "full activations in host memory (exact; for images larger than device "
                   "memory); 0 = whole image")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

}  // namespace strata::cli
