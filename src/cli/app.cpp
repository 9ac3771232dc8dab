#include "cli/app.hpp"

#include <iostream>
#include <map>
#include <memory>

#include "strata/core/device.hpp"
#include "strata/core/error.hpp"

namespace strata::cli {

namespace {

std::map<const CLI::App*, CommandFn>& registry() {
  static std::map<const CLI::App*, CommandFn> commands;
  return commands;
}

void add_global_options(CLI::App& app, GlobalOptions& g) {
  app.add_option("--device", g.device, "auto | cpu | cuda | cuda:N (auto: CUDA if present)")
      ->capture_default_str();
  app.add_option("--threads", g.threads,
                 "CPU threads for LibTorch (0: every core, unless OMP_NUM_THREADS is set)")
      ->check(CLI::Range(0, 4096));
  app.add_option("--seed", g.seed, "random seed")->capture_default_str();
  app.add_flag("-q,--quiet", g.quiet, "no progress or log text on stderr");
  app.add_flag("--json", g.json, "machine-readable results on stdout (log text on stderr)");
  app.add_flag("--force", g.force, "allow an output file to replace an input file");
  app.add_option("--max-pixels", g.max_pixels, "refuse images with more pixels (width × height)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40))
      ->capture_default_str();
}

std::string version_text() {
  const RuntimeInfo info = runtime_info();
  return "strata " + info.strata_version + " (LibTorch " + info.torch_version + ")";
}

}  // namespace

Context::Context(const GlobalOptions& options) : options_(options) {}

torch::Device Context::device() {
  if (!device_resolved_) {
    device_ = parse_device(options_.device);
    device_resolved_ = true;
  }
  return device_;
}

image::ReadOptions Context::read_options(image::ChannelMode mode) const {
  image::ReadOptions ro;
  ro.limits.max_pixels = options_.max_pixels;
  ro.mode = mode;
  return ro;
}

void Context::log(const std::string& line) const {
  if (!options_.quiet) std::cerr << line << '\n';
}

void Context::result(const nlohmann::json& json, const std::string& human) const {
  if (options_.json)
    std::cout << json.dump(2) << '\n';
  else if (!human.empty())
    std::cout << human << (human.back() == '\n' ? "" : "\n");
  std::cout.flush();
}

CLI::App* add_command(CLI::App& app, const std::string& name, const std::string& description,
                      CommandFn run) {
  CLI::App* sub = app.add_subcommand(name, description);
  registry()[sub] = std::move(run);
  return sub;
}

int run(int argc, char** argv) {
  CLI::App app{"strata: hierarchical image peeling, guided filtering and image priors"};
  app.name("strata");
  app.set_version_flag("--version", version_text());
  app.require_subcommand(0, 1);
  app.fallthrough();
  GlobalOptions g;
  add_global_options(app, g);
  register_info(app);
  register_convert(app);
  register_filter(app);
  register_eval(app);
  register_peel(app);
  register_edges(app);
  register_restore(app);
  register_train(app);
  for (int i = 0; i < argc; ++i) g.command_line += (i ? " " : "") + std::string(argv[i]);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "strata: error: " << e.what() << " (see strata --help)\n";
    return 2;
  }
  if (app.get_subcommands().empty()) {
    std::cerr << "strata: error: no command given (see strata --help)\n";
    return 2;
  }
  try {
    keep_freed_memory();
    if (g.threads > 0)
      set_threads(g.threads);
    else
      use_all_cores();
    set_seed(g.seed);
    Context ctx(g);
    // Run the deepest chosen command (e.g. "eval filter-denoise").
    const CLI::App* chosen = app.get_subcommands().front();
    while (!chosen->get_subcommands().empty()) chosen = chosen->get_subcommands().front();
    registry().at(chosen)(ctx);
    return 0;
  } catch (const strata::Error& e) {
    std::cerr << "strata: error: " << e.what() << '\n';
  } catch (const c10::Error& e) {
    std::cerr << "strata: error: " << e.what_without_backtrace() << '\n';
  } catch (const std::exception& e) {
    std::cerr << "strata: error: " << e.what() << '\n';
  }
  return 1;
}

}  // namespace strata::cli
