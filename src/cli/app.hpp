// The strata command-line tool: global options and the command registry. Each command lives in
// its own cmd_*.cpp and only parses options and calls the library; the CLI holds no algorithms.
#pragma once

#include <torch/types.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>

#include "strata/image/tensor.hpp"

namespace strata::cli {

/// Options every command accepts (before or after the command name).
struct GlobalOptions {
  std::string device = "auto";
  int threads = 0;  ///< 0 = LibTorch's default
  std::uint64_t seed = 0;
  bool quiet = false;
  bool json = false;
  bool force = false;                                 ///< allow an output to replace an input
  std::uint64_t max_pixels = std::uint64_t{1} << 28;  ///< decode cap (width × height)
  std::string command_line;                           ///< argv joined by spaces (for metadata)
};

/// What a running command sees: resolved settings plus the two output channels.
class Context {
 public:
  explicit Context(const GlobalOptions& options);

  const GlobalOptions& options() const { return options_; }
  /// The device from --device, resolved on first use (so commands that need none never touch CUDA).
  torch::Device device();
  /// Decoding options for input files: the --max-pixels cap and the given channel mode.
  image::ReadOptions read_options(image::ChannelMode mode = image::ChannelMode::Unchanged) const;
  /// Human progress/log text on stderr, suppressed by --quiet.
  void log(const std::string& line) const;
  /// The command's result: JSON on stdout with --json, else `human` on stdout.
  void result(const nlohmann::json& json, const std::string& human) const;

 private:
  GlobalOptions options_;
  bool device_resolved_ = false;
  torch::Device device_{torch::kCPU};
};

using CommandFn = std::function<void(Context&)>;

/// Adds a subcommand and the function that runs it when chosen.
CLI::App* add_command(CLI::App& app, const std::string& name, const std::string& description,
                      CommandFn run);

// One registration function per command file.
void register_info(CLI::App& app);
void register_convert(CLI::App& app);
void register_filter(CLI::App& app);
void register_eval(CLI::App& app);
void register_peel(CLI::App& app);
void register_edges(CLI::App& app);
void register_restore(CLI::App& app);
void register_eval_restore(CLI::App& eval);  ///< `strata eval restore` (cmd_restore.cpp)
void register_train(CLI::App& app);

/// Entry point: parses argv, runs the command, maps errors to a one-line message and exit code
/// (1 for a failed run, 2 for bad usage).
int run(int argc, char** argv);

}  // namespace strata::cli
