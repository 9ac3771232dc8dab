// strata eval ...: benchmarks on data sets, printed as tables (or JSON with --json).
#include <torch/torch.h>

#include <iomanip>
#include <memory>
#include <sstream>

#include "cli/app.hpp"
#include "strata/core/error.hpp"
#include "strata/eval/filter_denoise.hpp"
#include "strata/image/codec.hpp"

namespace strata::cli {

namespace {

struct FilterDenoiseCommand {
  std::string images;
  std::vector<double> sigmas = {15, 25, 50};
  std::vector<std::string> methods = {"gf", "umgf-gf", "wgf", "umgf-wgf"};
  std::vector<int> radii;
  std::vector<double> eps_sqrt;
  int limit = 0;
  int batch = 16;
};

std::string markdown_table(const std::vector<eval::FilterDenoiseRow>& rows) {
  std::ostringstream t;
  t << std::fixed << std::setprecision(2) << "| method |";
  for (const auto& r : rows) t << " σ = " << r.sigma << " |";
  t << "\n|---|";
  for (std::size_t i = 0; i < rows.size(); ++i) t << "---|";
  t << "\n| Input |";
  for (const auto& r : rows) t << ' ' << r.input_psnr << " |";
  for (std::size_t m = 0; m < rows.front().methods.size(); ++m) {
    t << "\n| " << eval::method_name(rows.front().methods[m]) << " |";
    for (const auto& r : rows)
      t << ' ' << r.best[m].psnr << " (r " << r.best[m].radius << ", " << std::setprecision(4)
        << std::sqrt(r.best[m].eps) << "²)" << std::setprecision(2) << " |";
  }
  return t.str();
}

nlohmann::json rows_json(const std::vector<eval::FilterDenoiseRow>& rows) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json methods = nlohmann::json::object();
    for (std::size_t m = 0; m < r.methods.size(); ++m)
      methods[eval::method_name(r.methods[m])] = {
          {"psnr", r.best[m].psnr}, {"radius", r.best[m].radius}, {"eps", r.best[m].eps}};
    j.push_back({{"sigma", r.sigma}, {"input_psnr", r.input_psnr}, {"methods", methods}});
  }
  return j;
}

void run_filter_denoise(Context& ctx, const FilterDenoiseCommand& c) {
  std::vector<std::string> paths = image::list_images(c.images);
  check(!paths.empty(), c.images, "no images in folder");
  if (c.limit > 0 && static_cast<std::size_t>(c.limit) < paths.size()) paths.resize(c.limit);
  eval::FilterDenoiseConfig config;
  config.sigmas = c.sigmas;
  config.methods.clear();
  for (const auto& m : c.methods) config.methods.push_back(eval::parse_denoise_method(m));
  if (!c.radii.empty()) config.radii = c.radii;
  if (!c.eps_sqrt.empty()) config.eps_sqrt = c.eps_sqrt;
  config.seed = ctx.options().seed;
  config.batch = c.batch;
  ctx.log("filter denoising on " + std::to_string(paths.size()) + " images, device " +
          ctx.device().str());
  const auto rows = eval::run_filter_denoise(paths, config, ctx.device(),
                                             [&](const std::string& line) { ctx.log(line); });
  ctx.result({{"command", "eval filter-denoise"},
              {"images", paths.size()},
              {"seed", config.seed},
              {"rows", rows_json(rows)}},
             markdown_table(rows));
}

void add_filter_denoise(CLI::App& eval) {
  auto c = std::make_shared<FilterDenoiseCommand>();
  CLI::App* sub = add_command(
      eval, "filter-denoise",
      "Thesis Table 6 (denoising): GF, UMGF+GF, WGF, UMGF+WGF with a grid search over r and ε",
      [c](Context& ctx) { run_filter_denoise(ctx, *c); });
  sub->add_option("--images", c->images, "folder of clean images (e.g. bsds500/images/test)")
      ->required();
  sub->add_option("--sigmas", c->sigmas, "noise σ values (0–255 scale)")->delimiter(',');
  sub->add_option("--methods", c->methods, "gf, umgf-gf, wgf, umgf-wgf")->delimiter(',');
  sub->add_option("--radii", c->radii, "radius grid")->delimiter(',');
  sub->add_option("--eps-sqrt", c->eps_sqrt, "ε/λ grid as square roots (ε = s²)")->delimiter(',');
  sub->add_option("--limit", c->limit, "use only the first N images");
  sub->add_option("--batch", c->batch, "images filtered at once")->check(CLI::Range(1, 4096));
}

}  // namespace

void register_eval(CLI::App& app) {
  CLI::App* eval = app.add_subcommand("eval", "Benchmarks on data sets");
  eval->require_subcommand(1);
  add_filter_denoise(*eval);
}

}  // namespace strata::cli
