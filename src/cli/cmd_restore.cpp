// strata restore TASK IN -o OUT: deep-image-prior restoration with controlled spectral bias (or
// with a baseline network: the original deep image prior, the Deep Decoder).
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "cli/app.hpp"
#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/eval/metrics.hpp"
#include "strata/eval/plot.hpp"
#include "strata/image/codec.hpp"
#include "strata/train/dip_benchmark.hpp"
#include "strata/train/dip_restore.hpp"

namespace strata::cli {

namespace {

// The fitting options shared by `strata restore` and `strata eval restore`.
struct FitFlags {
  std::string net = "decoder", upsampling = "bilinear", spectral_norm = "power", precision = "fp32",
              decoder_input = "fourier";
  std::vector<double> gaussian_sigmas;
  int max_iters = 3000;
  double lambda = 0.0, lr = 0.0;
  bool no_auto_stop = false, nchw = false, no_cuda_graph = false;
};

struct RestoreCommand {
  std::string task, input, output, reference, mask, log, plot;
  FitFlags fit;
  int scale = 4;
  double sigma = 0.0;
  bool fbc = false;
};

torch::Dtype parse_precision(const std::string& name) {
  if (name == "bf16") return torch::kBFloat16;
  return torch::kFloat32;
}

void apply_fit_flags(const FitFlags& f, Context& ctx, train::RestoreOptions& o) {
  o.network = train::parse_dip_network(f.net);
  o.max_iterations = f.max_iters;
  o.lambda = f.lambda;
  o.lr = f.lr;
  o.upsampling =
      f.upsampling == "gaussian" ? models::Upsampling::Gaussian : models::Upsampling::Bilinear;
  o.gaussian_sigmas = f.gaussian_sigmas;
  o.decoder_input =
      f.decoder_input == "uniform" ? train::DecoderInput::Uniform : train::DecoderInput::Fourier;
  o.spectral_norm = f.spectral_norm == "exact" ? nn::SpectralNorm::Exact : nn::SpectralNorm::Power;
  o.compute_dtype = parse_precision(f.precision);
  o.channels_last = !f.nchw;
  o.auto_stop = !f.no_auto_stop;
  o.cuda_graph = !f.no_cuda_graph;
  o.seed = ctx.options().seed;
  o.device = ctx.device();
}

void add_fit_flags(CLI::App* sub, FitFlags& f) {
  sub->add_option("--max-iters", f.max_iters, "iteration cap")->capture_default_str();
  sub->add_option("--net", f.net,
                  "network: decoder (the thesis's, default), dip (the original deep image prior's "
                  "skip encoder-decoder, Adam lr 0.01, input noise 1/30) or deep-decoder (Heckel & "
                  "Hand, k = 128, Adam lr 0.01)")
      ->check(CLI::IsMember({"decoder", "dip", "deep-decoder"}));
  sub->add_option("--lambda", f.lambda,
                  "Lipschitz bound λ (0: the task's default: denoise 1.6-1.2 from the noise level "
                  "estimated in the image, deblock 1.8, sr 1.4, inpaint 1.6, enhance 1.0; --net "
                  "decoder only)");
  sub->add_option("--lr", f.lr,
                  "Adam's learning rate (0: the network's default: decoder 0.001, dip and "
                  "deep-decoder 0.01)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--upsampling", f.upsampling, "bilinear | gaussian (--net decoder only)")
      ->check(CLI::IsMember({"bilinear", "gaussian"}));
  sub->add_option("--gaussian-sigma", f.gaussian_sigmas,
                  "Gaussian upsampling σ: one for every level or one per level (5); default "
                  "0.1,0.1,0.1,0.5,0.5 (the authors' code; the thesis text: 0.5; with "
                  "--upsampling gaussian only)")
      ->delimiter(',')
      ->check(CLI::Range(0.01, 10.0));
  sub->add_option("--decoder-input", f.decoder_input,
                  "the decoder's fixed input: fourier (sin/cos of U[0,1), the authors' code) or "
                  "uniform (U[0,0.1), the thesis text; --net decoder only)")
      ->check(CLI::IsMember({"fourier", "uniform"}))
      ->capture_default_str();
  sub->add_option("--spectral-norm", f.spectral_norm,
                  "‖W‖ for the Lipschitz bound: power (iteration, default) or exact (SVD)")
      ->check(CLI::IsMember({"power", "exact"}));
  sub->add_option("--precision", f.precision,
                  "fp32 | bf16: the decoder's activations and convolutions (bf16 on "
                  "CUDA only; parameters and the optimiser stay fp32)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  sub->add_flag("--nchw", f.nchw,
                "on CUDA, NCHW activations instead of channels-last (--net decoder; for "
                "comparison: channels-last runs strata's NHWC kernels, about twice as fast)");
  sub->add_flag("--no-auto-stop", f.no_auto_stop, "run to the iteration cap");
  sub->add_flag("--no-cuda-graph", f.no_cuda_graph,
                "on CUDA, launch every kernel of every iteration instead of replaying a recorded "
                "CUDA graph of one (for comparison; same results)");
}

void write_log(const std::string& path, const train::RestoreResult& r) {
  std::ostringstream out;
  out << "iteration,loss,psnr,ratio";
  const std::size_t bands = r.history.empty() ? 0 : r.history.front().fbc.size();
  for (std::size_t b = 0; b < bands; ++b) out << ",fbc" << b + 1;
  out << '\n';
  for (const auto& p : r.history) {
    out << p.iteration << ',' << p.loss << ',' << p.psnr << ',' << p.ratio;
    for (const double v : p.fbc) out << ',' << v;
    out << '\n';
  }
  const std::string text = out.str();
  write_file_atomic(path, text.data(), text.size());
}

// `path` with "-suffix" before its extension.
std::string sibling(const std::string& path, const std::string& suffix) {
  const auto ext = extension_of(path);  // without the dot
  if (ext.empty()) return path + "-" + suffix;
  return path.substr(0, path.size() - ext.size() - 1) + "-" + suffix + "." + ext;
}

// One series over the iterations of the run.
eval::Series over_iterations(const train::RestoreResult& r, const std::string& name,
                             const std::function<double(const train::RestoreProgress&)>& value) {
  eval::Series s{name, {}, {}};
  for (const auto& p : r.history) {
    s.x.push_back(p.iteration);
    s.y.push_back(value(p));
  }
  return s;
}

// The thesis's Fig. 9 / Fig. 5 views of a run: PLOT (PSNR with a reference, else the loss),
// PLOT-ratio (the stop ratio of Eq. 2.8, the stop marked) and, with --fbc, PLOT-fbc (Eq. 2.1).
void write_restore_plots(const std::string& path, const train::RestoreResult& r, bool reference) {
  const std::string stop = r.auto_stopped ? "automatic stop" : "iteration cap";
  eval::Plot main{reference ? "PSNR against the reference" : "training loss",
                  "iteration",
                  reference ? "PSNR (dB)" : "MSE loss",
                  {},
                  {},
                  {},
                  {}};
  main.series.push_back(over_iterations(
      r, "", [reference](const train::RestoreProgress& p) { return reference ? p.psnr : p.loss; }));
  main.marks.push_back({static_cast<double>(r.iterations), main.series[0].y.back(), stop, 0});
  eval::write_plot(main, path);
  eval::Plot ratio{"stop ratio blur / sharpness (Eq. 2.8)", "iteration", "ratio", {}, {}, {}, {}};
  ratio.series.push_back(
      over_iterations(r, "", [](const train::RestoreProgress& p) { return p.ratio; }));
  ratio.marks.push_back({static_cast<double>(r.iterations), ratio.series[0].y.back(), stop, 0});
  eval::write_plot(ratio, sibling(path, "ratio"));
  if (r.history.empty() || r.history.front().fbc.empty()) return;
  eval::Plot fbc{"frequency-band correspondence (Eq. 2.1)",
                 "iteration",
                 "FBC",
                 {},
                 {},
                 {},
                 eval::Range{0.0, 1.0}};
  for (std::size_t b = 0; b < r.history.front().fbc.size(); ++b)
    fbc.series.push_back(
        over_iterations(r, "band " + std::to_string(b + 1),
                        [b](const train::RestoreProgress& p) { return p.fbc[b]; }));
  eval::write_plot(fbc, sibling(path, "fbc"));
}

// A positive number, or null where it does not apply (0).
nlohmann::json optional_number(double v) { return v > 0.0 ? nlohmann::json(v) : nlohmann::json(); }

// The value, or null where there is none.
nlohmann::json optional_number(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json();
}

// ", λ 1.40" and where it came from an estimated noise level, " (noise σ ≈ 24.3)"
// (scripts/dip-bench-merge.py reads both back from `eval restore` logs).
std::string lambda_text(double lambda, const std::optional<double>& noise_sigma) {
  if (lambda <= 0.0) return "";
  char text[64];
  std::snprintf(text, sizeof text, ", λ %.2f", lambda);
  std::string s = text;
  if (noise_sigma) {
    std::snprintf(text, sizeof text, " (noise σ ≈ %.1f)", *noise_sigma);
    s += text;
  }
  return s;
}

void run_restore(Context& ctx, const RestoreCommand& c) {
  if (!c.plot.empty()) eval::check_plot_path(c.plot);
  train::RestoreOptions o;
  o.task = train::parse_restore_task(c.task);
  std::vector<std::string> inputs = {c.input};
  for (const auto* extra : {&c.reference, &c.mask})
    if (!extra->empty()) inputs.push_back(*extra);
  check_output_path(c.output, inputs, ctx.options().force);
  if (!c.plot.empty())
    for (const auto& plot : {c.plot, sibling(c.plot, "ratio"), sibling(c.plot, "fbc")})
      check_output_path(plot, inputs, ctx.options().force);
  auto degraded = image::read_image(c.input, ctx.read_options());
  check(degraded.size(0) == 1 || degraded.size(0) == 3, c.input, "needs a gray or RGB image");
  if (c.sigma > 0.0) {  // benchmarks: add the noise here, N(0, (σ/255)²)
    torch::manual_seed(static_cast<std::int64_t>(ctx.options().seed));
    degraded = (degraded + torch::randn_like(degraded) * (c.sigma / 255.0)).clamp(0.0, 1.0);
  }
  if (!c.mask.empty())
    o.mask = image::read_image(c.mask, ctx.read_options(image::ChannelMode::Gray))
                 .gt(0.5)
                 .to(torch::kFloat32);
  if (!c.reference.empty())
    o.reference = image::read_image(
        c.reference, ctx.read_options(degraded.size(0) == 1 ? image::ChannelMode::Gray
                                                            : image::ChannelMode::Rgb));
  o.scale = c.scale;
  apply_fit_flags(c.fit, ctx, o);
  o.frequency_bands = c.fbc;
  const bool tty = isatty(STDERR_FILENO) != 0;
  if (!ctx.options().quiet)
    o.on_progress = [tty, &o](const train::RestoreProgress& p) {
      if (!tty && p.iteration % 100 != 0) return;
      std::fprintf(stderr, "%s[restore] iter %d/%d loss %.6f psnr %.2f ratio %.4f%s",
                   tty ? "\r" : "", p.iteration, o.max_iterations, p.loss, p.psnr, p.ratio,
                   tty ? "   " : "\n");
    };
  const auto r = train::dip_restore(degraded, o);
  if (!ctx.options().quiet && tty) std::fputc('\n', stderr);
  image::write_image(c.output, r.image);
  if (!c.log.empty()) write_log(c.log, r);
  if (!c.plot.empty()) write_restore_plots(c.plot, r, o.reference.defined());
  const double psnr = r.history.empty() ? NAN : r.history.back().psnr;
  // super-resolution: also on Y with `scale` border pixels left out, as the thesis's tables
  const bool luma = o.task == train::RestoreTask::SuperResolution && o.reference.defined();
  const double luma_psnr = luma ? eval::luma_psnr(r.image, o.reference, o.scale) : NAN;
  nlohmann::json j = {{"command", "restore"},
                      {"task", c.task},
                      {"network", c.fit.net},
                      {"input", c.input},
                      {"output", c.output},
                      {"iterations", r.iterations},
                      {"auto_stopped", r.auto_stopped},
                      {"psnr", std::isnan(psnr) ? nlohmann::json() : nlohmann::json(psnr)},
                      {"lambda", optional_number(r.lambda)},
                      {"noise_sigma", optional_number(r.noise_sigma)},
                      {"device", ctx.device().str()}};
  if (luma) j["luma_psnr"] = luma_psnr;
  ctx.result(j, "restored in " + std::to_string(r.iterations) + " iterations" +
                    (r.auto_stopped ? " (automatic stop)" : " (iteration cap)") +
                    (std::isnan(psnr) ? "" : ", PSNR " + std::to_string(psnr) + " dB") +
                    (luma ? ", on Y " + std::to_string(luma_psnr) + " dB" : "") +
                    lambda_text(r.lambda, r.noise_sigma));
}

struct EvalRestoreCommand {
  std::string task, images;
  FitFlags fit;
  int limit = 0, skip = 0, quality = 10, scale = 4;
  double sigma = 25.0, ratio = 0.25;
};

nlohmann::json row_json(const train::DipBenchmarkRow& r, bool luma) {
  nlohmann::json j = {{"id", r.id},
                      {"degraded_psnr", r.degraded_psnr},
                      {"psnr", r.psnr},
                      {"best_psnr", r.best_psnr},
                      {"best_iteration", r.best_iteration},
                      {"iterations", r.iterations},
                      {"auto_stopped", r.auto_stopped},
                      {"seconds", r.seconds},
                      {"lambda", optional_number(r.lambda)},
                      {"noise_sigma", optional_number(r.noise_sigma)}};
  if (luma) {
    j["degraded_luma_psnr"] = r.degraded_luma_psnr;
    j["luma_psnr"] = r.luma_psnr;
  }
  return j;
}

void run_eval_restore(Context& ctx, const EvalRestoreCommand& c) {
  train::DipBenchmarkOptions o;
  o.restore.task = train::parse_restore_task(c.task);
  apply_fit_flags(c.fit, ctx, o.restore);
  o.restore.scale = c.scale;
  o.sigma = c.sigma;
  o.quality = c.quality;
  o.hole_ratio = c.ratio;
  o.max_pixels = static_cast<std::int64_t>(ctx.read_options().limits.max_pixels);
  o.images = image::list_images(c.images);
  check(!o.images.empty(), c.images, "no images");
  check(static_cast<std::size_t>(c.skip) < o.images.size(), c.images,
        "--skip " + std::to_string(c.skip) + " leaves no images (the folder has " +
            std::to_string(o.images.size()) + ")");
  o.images.erase(o.images.begin(), o.images.begin() + c.skip);
  o.first_place = static_cast<std::size_t>(c.skip);
  if (c.limit > 0 && static_cast<std::size_t>(c.limit) < o.images.size())
    o.images.resize(static_cast<std::size_t>(c.limit));
  const bool quiet = ctx.options().quiet;
  const bool luma = o.restore.task == train::RestoreTask::SuperResolution;
  // One line per image (scripts/dip-bench-merge.py reads it back from runs cut short).
  const auto rows = train::dip_benchmark(o, [quiet, luma](const train::DipBenchmarkRow& r) {
    if (quiet) return;
    std::fprintf(stderr,
                 "[eval restore] %s: input %.2f dB -> %.2f dB after %d iterations%s (best %.2f "
                 "at %d), %.1f s",
                 r.id.c_str(), r.degraded_psnr, r.psnr, r.iterations,
                 r.auto_stopped ? " (auto stop)" : "", r.best_psnr, r.best_iteration, r.seconds);
    if (luma) std::fprintf(stderr, ", on Y %.2f -> %.2f dB", r.degraded_luma_psnr, r.luma_psnr);
    std::fprintf(stderr, "%s\n", lambda_text(r.lambda, r.noise_sigma).c_str());
  });
  double input = 0, psnr = 0, best = 0, iterations = 0, seconds = 0, input_y = 0, psnr_y = 0;
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : rows) {
    input += r.degraded_psnr;
    psnr += r.psnr;
    best += r.best_psnr;
    iterations += r.iterations;
    seconds += r.seconds;
    input_y += r.degraded_luma_psnr;
    psnr_y += r.luma_psnr;
    j.push_back(row_json(r, luma));
  }
  const double n = static_cast<double>(rows.size());
  std::ostringstream text;
  text.setf(std::ios::fixed);
  text.precision(2);
  text << c.task << " on " << rows.size() << " images, net " << c.fit.net << ": input " << input / n
       << " dB, restored " << psnr / n << " dB (best seen " << best / n << " dB), ";
  if (luma) text << "on Y " << input_y / n << " -> " << psnr_y / n << " dB, ";
  text << "mean " << iterations / n << " iterations, " << seconds / n << " s per image, "
       << 1000.0 * seconds / iterations << " ms per iteration";
  nlohmann::json result = {{"command", "eval restore"},
                           {"task", c.task},
                           {"network", c.fit.net},
                           {"images", rows.size()},
                           {"input_psnr", input / n},
                           {"psnr", psnr / n},
                           {"best_psnr", best / n},
                           {"iterations", iterations / n},
                           {"seconds", seconds / n},
                           {"ms_per_iteration", 1000.0 * seconds / iterations},
                           {"rows", j},
                           {"device", ctx.device().str()}};
  if (luma) {
    result["input_luma_psnr"] = input_y / n;
    result["luma_psnr"] = psnr_y / n;
  }
  ctx.result(result, text.str());
}

}  // namespace

void register_eval_restore(CLI::App& eval) {
  auto c = std::make_shared<EvalRestoreCommand>();
  CLI::App* sub = add_command(eval, "restore",
                              "Deep-image-prior restoration benchmark: degrade each clean image as "
                              "the thesis does, restore it, report PSNR and time",
                              [c](Context& ctx) { run_eval_restore(ctx, *c); });
  sub->add_option("task", c->task, "denoise | deblock | inpaint | sr")
      ->required()
      ->check(CLI::IsMember({"denoise", "deblock", "inpaint", "sr"}));
  sub->add_option("--images", c->images, "folder of clean images")->required();
  sub->add_option("--limit", c->limit, "first N images only (sorted by name; after --skip)");
  sub->add_option("--skip", c->skip,
                  "leave out the first N images (sorted by name), e.g. to split a set across "
                  "GPUs; noise seeds follow each image's place in the whole set")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--sigma", c->sigma, "denoise: noise σ (0-255)")->capture_default_str();
  sub->add_option("--quality", c->quality, "deblock: JPEG quality")->capture_default_str();
  sub->add_option("--ratio", c->ratio, "inpaint: centred hole area / image area")
      ->capture_default_str();
  sub->add_option("--scale", c->scale, "sr: factor")->check(CLI::IsMember({2, 4, 8}));
  add_fit_flags(sub, c->fit);
}

void register_restore(CLI::App& app) {
  auto c = std::make_shared<RestoreCommand>();
  CLI::App* sub = add_command(app, "restore",
                              "Deep-image-prior restoration that stops by itself (denoise, "
                              "deblock, inpaint, sr, enhance)",
                              [c](Context& ctx) { run_restore(ctx, *c); });
  sub->add_option("task", c->task, "denoise | deblock | inpaint | sr | enhance")
      ->required()
      ->check(CLI::IsMember({"denoise", "deblock", "inpaint", "sr", "enhance"}));
  sub->add_option("input", c->input, "degraded image")->required();
  sub->add_option("-o,--out", c->output, "restored image")->required();
  sub->add_option("--reference", c->reference, "clean image: PSNR in the progress and log");
  sub->add_option("--mask", c->mask, "inpainting mask (0 = missing pixel)");
  sub->add_option("--scale", c->scale, "super-resolution factor")->check(CLI::IsMember({2, 4, 8}));
  sub->add_option("--sigma", c->sigma, "add Gaussian noise of this σ (0-255) first (benchmarks)");
  add_fit_flags(sub, c->fit);
  sub->add_flag("--fbc", c->fbc, "log the frequency-band correspondence (Eq. 2.1)");
  sub->add_option("--log", c->log, "CSV of loss, PSNR, stop ratio (and FBC) per iteration");
  sub->add_option("--plot", c->plot,
                  "curves as .png or .svg: PSNR (with --reference, else the loss) over the "
                  "iterations in PLOT, the stop ratio in PLOT-ratio, with --fbc the five bands in "
                  "PLOT-fbc");
}

}  // namespace strata::cli
