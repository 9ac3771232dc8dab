// strata eval ...: benchmarks on data sets, printed as tables (or JSON with --json).
#include <torch/torch.h>

#include <iomanip>
#include <memory>
#include <sstream>

#include "cli/app.hpp"
#include "cli/model_files.hpp"
#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/eval/boundary.hpp"
#include "strata/eval/filter_denoise.hpp"
#include "strata/eval/gcc.hpp"
#include "strata/eval/plot.hpp"
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
  std::vector<int> umgf_lowpass_boxes = {2};
  std::vector<std::string> umgf_amounts = {"smooth"};
};

// ", F_L 1 box, raw ā" for a UMGF method's best grid point, nothing otherwise.
std::string umgf_variant(eval::DenoiseMethod m, const eval::GridResult& best) {
  if (m != eval::DenoiseMethod::UmgfGuided && m != eval::DenoiseMethod::UmgfWeighted) return "";
  const int boxes = best.umgf.lowpass_boxes;
  return ", F_L " + std::to_string(boxes) + (boxes == 1 ? " box" : " boxes") +
         (best.umgf.smooth_amount ? ", box(a)" : ", raw a");
}

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
        << std::sqrt(r.best[m].eps) << "²" << umgf_variant(rows.front().methods[m], r.best[m])
        << ")" << std::setprecision(2) << " |";
  }
  return t.str();
}

nlohmann::json rows_json(const std::vector<eval::FilterDenoiseRow>& rows) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json methods = nlohmann::json::object();
    for (std::size_t m = 0; m < r.methods.size(); ++m)
      methods[eval::method_name(r.methods[m])] = {{"psnr", r.best[m].psnr},
                                                  {"radius", r.best[m].radius},
                                                  {"eps", r.best[m].eps},
                                                  {"lowpass_boxes", r.best[m].umgf.lowpass_boxes},
                                                  {"smooth_amount", r.best[m].umgf.smooth_amount}};
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
  config.umgf_lowpass_boxes = c.umgf_lowpass_boxes;
  config.umgf_smooth_amount.clear();
  for (const auto& a : c.umgf_amounts) config.umgf_smooth_amount.push_back(a == "smooth");
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
  sub->add_option("--umgf-lowpass-boxes", c->umgf_lowpass_boxes,
                  "UMGF grid: F_L = this many cascaded boxes of radius r")
      ->delimiter(',')
      ->check(CLI::Range(1, 8))
      ->capture_default_str();
  sub->add_option("--umgf-amount", c->umgf_amounts,
                  "UMGF grid: smooth (ā = box mean of a), raw (a itself)")
      ->delimiter(',')
      ->check(CLI::IsMember({"smooth", "raw"}))
      ->capture_default_str();
}

struct GccCommand {
  std::string images, model_dir;
  eval::GccConfig config;
  int limit = 0;
};

void run_gcc(Context& ctx, const GccCommand& c) {
  std::vector<std::string> paths = image::list_images(c.images);
  check(!paths.empty(), c.images, "no images in folder");
  if (c.limit > 0 && static_cast<std::size_t>(c.limit) < paths.size()) paths.resize(c.limit);
  const std::string dir = model_dir(c.model_dir);
  auto guider = load_hipe_guider(dir, ctx.device());
  auto peeler = load_hipe_peeler(dir, ctx.device());
  ctx.log("GCC on " + std::to_string(paths.size()) + " images, device " + ctx.device().str());
  const auto report = eval::run_gcc(paths, guider, peeler, c.config, ctx.device(),
                                    [&](const std::string& line) { ctx.log(line); });
  std::ostringstream t;
  t << "| method | parameter | smoothing degree | GCC (×10⁻²) |\n|---|---|---|---|\n" << std::fixed;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : report.rows) {
    t << "| " << r.method << " | " << r.parameter << " | " << std::setprecision(3) << r.smoothing
      << " | " << std::setprecision(3) << 100.0 * r.gcc << " |\n";
    rows.push_back({{"method", r.method},
                    {"parameter", r.parameter},
                    {"smoothing", r.smoothing},
                    {"gcc", r.gcc}});
  }
  ctx.result({{"command", "eval gcc"},
              {"images", report.images},
              {"level", c.config.level},
              {"target_smoothing", report.target_smoothing},
              {"rows", rows}},
             t.str());
}

void add_gcc(CLI::App& eval) {
  auto c = std::make_shared<GccCommand>();
  CLI::App* sub = add_command(
      eval, "gcc",
      "HIPe paper Table 1: GCC of HIPe and L0, RTV, RGF, muGIF, GF at the same smoothing degree",
      [c](Context& ctx) { run_gcc(ctx, *c); });
  sub->add_option("--images", c->images, "folder of images (e.g. bsds500/images/test)")->required();
  sub->add_option("--level", c->config.level, "HIPe level whose smoothing the filters match")
      ->capture_default_str();
  sub->add_option("--tune-images", c->config.tune_images, "images used to tune each filter")
      ->capture_default_str();
  sub->add_option("--tune-steps", c->config.tune_steps, "bisection steps per filter")
      ->capture_default_str();
  sub->add_option("--limit", c->limit, "use only the first N images");
  sub->add_option("--model", c->model_dir, "folder with the HIPe weights");
}

struct EdgesEvalCommand {
  std::string pred, gt, out_dir, plot;
  eval::BoundaryOptions options;
};

// The PR curve: recall on x, precision on y, the ODS point marked.
eval::Plot pr_plot(const eval::BoundaryReport& r) {
  std::ostringstream title, ods;
  title << std::fixed << std::setprecision(3) << "ODS F " << r.ods.f << ", OIS F " << r.ois.f
        << ", AP " << r.ap;
  ods << std::fixed << std::setprecision(3) << "ODS F=" << r.ods.f;
  eval::Series curve{"", {}, {}};
  for (const auto& p : r.curve) {
    curve.x.push_back(p.recall);
    curve.y.push_back(p.precision);
  }
  eval::Plot plot;
  plot.title = title.str();
  plot.x_label = "Recall";
  plot.y_label = "Precision";
  plot.x_range = plot.y_range = eval::Range{0.0, 1.0};
  plot.series = {curve};
  plot.marks = {{r.ods.recall, r.ods.precision, ods.str(), 0}};
  return plot;
}

void write_text(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

void run_edges_eval(Context& ctx, const EdgesEvalCommand& c) {
  if (!c.plot.empty()) {  // before the long run
    eval::check_plot_path(c.plot);
    check_output_path(c.plot, {}, ctx.options().force);
  }
  eval::BoundaryOptions options = c.options;
  options.threads = ctx.options().threads;  // --threads (0: every core)
  ctx.log("boundary benchmark: " + c.pred + " against " + c.gt);
  const auto r = eval::evaluate_boundaries(c.pred, c.gt, options);
  if (!c.out_dir.empty()) {
    make_directories(c.out_dir);
    write_text(c.out_dir + "/eval_bdry.txt", eval::format_eval_bdry(r));
    write_text(c.out_dir + "/eval_bdry_thr.txt", eval::format_eval_bdry_thr(r));
    write_text(c.out_dir + "/eval_bdry_img.txt", eval::format_eval_bdry_img(r));
  }
  if (!c.plot.empty()) eval::write_plot(pr_plot(r), c.plot);
  nlohmann::json curve = nlohmann::json::array();
  for (const auto& p : r.curve)
    curve.push_back({{"threshold", p.threshold}, {"recall", p.recall}, {"precision", p.precision}});
  std::ostringstream human;
  human << std::fixed << std::setprecision(3) << "images " << r.ids.size() << "\nODS F " << r.ods.f
        << " (R " << r.ods.recall << ", P " << r.ods.precision << ", threshold " << r.ods.threshold
        << ")\nOIS F " << r.ois.f << "\nAP    " << r.ap;
  ctx.result({{"command", "eval edges"},
              {"images", r.ids.size()},
              {"ods",
               {{"f", r.ods.f},
                {"recall", r.ods.recall},
                {"precision", r.ods.precision},
                {"threshold", r.ods.threshold}}},
              {"ois", {{"f", r.ois.f}, {"recall", r.ois.recall}, {"precision", r.ois.precision}}},
              {"ap", r.ap},
              {"curve", curve}},
             human.str());
}

void add_edges_eval(CLI::App& eval) {
  auto c = std::make_shared<EdgesEvalCommand>();
  CLI::App* sub =
      add_command(eval, "edges", "BSDS500 boundary benchmark: ODS, OIS, AP of soft edge maps",
                  [c](Context& ctx) { run_edges_eval(ctx, *c); });
  sub->add_option("--pred", c->pred, "folder of soft edge maps <id>.png")->required();
  sub->add_option("--gt", c->gt, "folder of annotations <id>_<k>.png")->required();
  sub->add_option("--thresholds", c->options.thresholds, "number of thresholds")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  sub->add_option("--max-dist", c->options.max_dist, "match tolerance (fraction of the diagonal)")
      ->capture_default_str();
  sub->add_option("--out", c->out_dir, "write eval_bdry.txt, eval_bdry_thr.txt, eval_bdry_img.txt");
  sub->add_option("--plot", c->plot, "write the PR curve: FILE.png or FILE.svg");
}

}  // namespace

void register_eval(CLI::App& app) {
  CLI::App* eval = app.add_subcommand("eval", "Benchmarks on data sets");
  eval->require_subcommand(1);
  add_filter_denoise(*eval);
  add_gcc(*eval);
  add_edges_eval(*eval);
  register_eval_restore(*eval);
}

}  // namespace strata::cli
