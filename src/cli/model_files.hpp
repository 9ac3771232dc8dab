// Where the CLI finds shipped weights, loading them, and the options the HIPe commands share.
#pragma once

#include <torch/types.h>
#include <CLI/CLI.hpp>

#include <string>

#include "strata/models/hipe.hpp"

namespace strata::cli {

/// `given` (--model), else $STRATA_MODELS, else models/ next to the build tree (build/../models)
/// or the installed share/strata/models.
std::string model_dir(const std::string& given);

/// DIR/hipe-guider.safetensors or DIR/hipe-peeler.safetensors on `device`, in eval mode; a missing
/// file is a strata::Error that says how to get one.
models::HipeGuider load_hipe_guider(const std::string& dir, const torch::Device& device);
models::HipePeeler load_hipe_peeler(const std::string& dir, const torch::Device& device);
/// The guider for edge maps: `dir`/hipe-edges.safetensors (a guider trained longer, shipped for
/// `strata edges`) when present, else `dir`/hipe-guider.safetensors.
models::HipeGuider load_hipe_edge_guider(const std::string& dir, const torch::Device& device);
/// A guider from any weights file (a strata::Error when missing or not a guider).
models::HipeGuider load_hipe_guider_file(const std::string& path, const torch::Device& device);

/// --tile N (tiled inference, models::PeelOptions::tile) on a HIPe command.
void add_tile_option(CLI::App* command, int& tile);

}  // namespace strata::cli
