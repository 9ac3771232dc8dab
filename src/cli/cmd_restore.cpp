// strata restore TASK IN -o OUT: deep-image-prior restoration with controlled spectral bias.
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>

#include "cli/app.hpp"
#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/train/dip_restore.hpp"

namespace strata::cli {

namespace {

struct RestoreCommand {
  std::string task, input, output, reference, mask, log, upsampling = "bilinear",
                                                         spectral_norm = "power";
  int max_iters = 3000, scale = 4;
  double lambda = 0.0, sigma = 0.0;
  bool no_auto_stop = false, fbc = false;
};

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

void run_restore(Context& ctx, const RestoreCommand& c) {
  train::RestoreOptions o;
  o.task = train::parse_restore_task(c.task);
  std::vector<std::string> inputs = {c.input};
  for (const auto* extra : {&c.reference, &c.mask})
    if (!extra->empty()) inputs.push_back(*extra);
  check_output_path(c.output, inputs, ctx.options().force);
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
  o.max_iterations = c.max_iters;
  o.lambda = c.lambda;
  o.upsampling =
      c.upsampling == "gaussian" ? models::Upsampling::Gaussian : models::Upsampling::Bilinear;
  o.spectral_norm = c.spectral_norm == "exact" ? nn::SpectralNorm::Exact : nn::SpectralNorm::Power;
  o.auto_stop = !c.no_auto_stop;
  o.frequency_bands = c.fbc;
  o.seed = ctx.options().seed;
  o.device = ctx.device();
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
  const double psnr = r.history.empty() ? NAN : r.history.back().psnr;
  ctx.result({{"command", "restore"},
              {"task", c.task},
              {"input", c.input},
              {"output", c.output},
              {"iterations", r.iterations},
              {"auto_stopped", r.auto_stopped},
              {"psnr", std::isnan(psnr) ? nlohmann::json() : nlohmann::json(psnr)},
              {"device", ctx.device().str()}},
             "restored in " + std::to_string(r.iterations) + " iterations" +
                 (r.auto_stopped ? " (automatic stop)" : " (iteration cap)") +
                 (std::isnan(psnr) ? "" : ", PSNR " + std::to_string(psnr) + " dB"));
}

}  // namespace

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
  sub->add_option("--max-iters", c->max_iters, "iteration cap")->capture_default_str();
  sub->add_option("--lambda", c->lambda, "Lipschitz bound λ (0: the task's default)");
  sub->add_option("--sigma", c->sigma, "add Gaussian noise of this σ (0-255) first (benchmarks)");
  sub->add_option("--upsampling", c->upsampling, "bilinear | gaussian")
      ->check(CLI::IsMember({"bilinear", "gaussian"}));
  sub->add_option("--spectral-norm", c->spectral_norm,
                  "‖W‖ for the Lipschitz bound: power (iteration, default) or exact (SVD)")
      ->check(CLI::IsMember({"power", "exact"}));
  sub->add_flag("--no-auto-stop", c->no_auto_stop, "run to the iteration cap");
  sub->add_flag("--fbc", c->fbc, "log the frequency-band correspondence (Eq. 2.1)");
  sub->add_option("--log", c->log, "CSV of loss, PSNR, stop ratio (and FBC) per iteration");
}

}  // namespace strata::cli
