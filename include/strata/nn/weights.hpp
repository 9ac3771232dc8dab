// LibTorch side of safetensors: load/save tensor maps and copy weights into and out of modules.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace strata::nn {

/// The contents of a safetensors file: CPU tensors that own their memory, and the metadata.
struct Weights {
  std::map<std::string, torch::Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

/// Reads and decodes a safetensors file. Throws strata::Error on any problem.
Weights load_safetensors(const std::string& path);
/// Decodes an in-memory safetensors file; `name` is used in error messages only.
Weights decode_safetensors(const std::vector<std::uint8_t>& bytes, const std::string& name);

/// Writes `tensors` (moved to CPU, made contiguous) atomically to `path`. Supported dtypes: Float,
/// Half, BFloat16, Long, Double, Int, Byte, Bool; anything else throws strata::Error.
void save_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Parameters and buffers of `m` and its submodules by dotted name ("0.weight", "bn.running_var").
/// The tensors alias the module's own.
std::map<std::string, torch::Tensor> module_state(const torch::nn::Module& m);

/// Copies `w` into the parameters and buffers of `m`, converting to each destination's dtype and
/// keeping its device. Every name must match in both directions and every shape must agree;
/// otherwise one strata::Error(source_name, ...) lists all missing, unexpected and mis-shaped
/// tensors, and `m` is left unchanged.
void load_module_weights(torch::nn::Module& m, const Weights& w, const std::string& source_name);

/// Saves module_state(m) with `metadata` to `path`.
void save_module_weights(const std::string& path, const torch::nn::Module& m,
                         const std::map<std::string, std::string>& metadata = {});

}  // namespace strata::nn
