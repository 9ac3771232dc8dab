// strata train hipe-guider|hipe-peeler: the HIPe training stages (train/hipe_trainer.hpp).
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>

#include "cli/app.hpp"
#include "strata/core/device.hpp"
#include "strata/train/hipe_trainer.hpp"

namespace strata::cli {

namespace {

struct TrainCommand {
  train::HipeTrainOptions options;
  double max_minutes = 0.0;
};

std::string clock_text(double seconds) {
  const auto s = static_cast<long long>(seconds);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

// A progress bar on a terminal (redrawn in place), a line every 30 s otherwise.
std::function<void(const train::TrainProgress&)> progress_printer(const Context& ctx,
                                                                  const std::string& name) {
  if (ctx.options().quiet) return {};
  const bool tty = isatty(STDERR_FILENO) != 0;
  auto last = std::make_shared<std::pair<double, std::int64_t>>(-1e9, -1);
  return [tty, last, name](const train::TrainProgress& p) {
    if (p.iteration == last->second) return;
    if (!tty && p.seconds - last->first < 30.0 && p.iteration < p.iterations) return;
    *last = {p.seconds, p.iteration};
    const double rate = p.seconds > 0 ? static_cast<double>(p.run_iterations) / p.seconds : 0.0;
    const double eta = rate > 0 ? static_cast<double>(p.iterations - p.iteration) / rate : 0.0;
    std::fprintf(stderr, "%s[%s] %lld/%lld (%.1f%%) loss %.5f lr %.2e %.2f it/s ETA %s%s",
                 tty ? "\r" : "", name.c_str(), static_cast<long long>(p.iteration),
                 static_cast<long long>(p.iterations),
                 100.0 * static_cast<double>(p.iteration) / static_cast<double>(p.iterations),
                 p.loss, p.lr, rate, clock_text(eta).c_str(), tty ? "   " : "\n");
    std::fflush(stderr);
  };
}

void run_train(Context& ctx, TrainCommand& c, train::HipeStage stage) {
  auto o = c.options;
  o.stage = stage;
  o.seed = ctx.options().seed;
  o.device = ctx.device();
  o.max_seconds = 60.0 * c.max_minutes;
  const std::string name = train::hipe_model_name(stage);
  o.on_progress = progress_printer(ctx, name);
  if (!ctx.options().quiet && !o.teacher.empty())
    o.on_teacher = [teacher = o.teacher](std::size_t done, std::size_t total) {
      std::fprintf(stderr, "[%s teacher] levels of %zu/%zu training images\n", teacher.c_str(),
                   done, total);
    };
  o.metadata = {{"training_command", ctx.options().command_line},
                {"strata_version", runtime_info().strata_version},
                {"torch_version", runtime_info().torch_version},
                {"device", o.device.str()}};
  const auto summary = train::train_hipe(o);
  if (!ctx.options().quiet) std::fputc('\n', stderr);
  std::ostringstream human;
  human << name << ": " << summary.iteration << "/" << o.iterations << " iterations, loss "
        << summary.last_loss
        << (summary.finished ? ", weights " + summary.weights_path
                             : ", checkpoint saved (run again with --resume to continue)");
  ctx.result({{"command", "train"},
              {"model", name},
              {"iteration", summary.iteration},
              {"iterations", o.iterations},
              {"finished", summary.finished},
              {"loss", summary.last_loss},
              {"weights", summary.finished ? summary.weights_path : ""},
              {"out", o.out_dir}},
             human.str());
}

void add_common_options(CLI::App* sub, TrainCommand& c) {
  auto& o = c.options;
  sub->add_option("--data", o.image_dirs, "training image folder (repeatable)")->required();
  sub->add_option("--out", o.out_dir, "output folder (checkpoint, log.csv, weights)")->required();
  sub->add_option("--iters", o.iterations, "training iterations")->capture_default_str();
  sub->add_option("--batch", o.batch, "batch size")->capture_default_str();
  sub->add_option("--crop", o.crop, "square training crop size")->capture_default_str();
  sub->add_option("--levels", o.levels, "recurrences per sample")->capture_default_str();
  sub->add_option("--lr", o.lr, "initial RMSprop learning rate (linear decay to 0)")
      ->capture_default_str();
  sub->add_option("--checkpoint-every", o.checkpoint_seconds, "seconds between checkpoints")
      ->capture_default_str();
  sub->add_option("--max-minutes", c.max_minutes,
                  "stop after this many minutes with a checkpoint (0: run to the end)");
  sub->add_flag("--resume", o.resume, "continue from OUT/checkpoint.safetensors when present");
  sub->add_option("--teacher", o.teacher,
                  "supervised mode (Ours-S): targets from the levels of this filter (mugif, rtv "
                  "or l0) of every whole training image, computed when training starts");
  sub->add_option("--teacher-alpha", o.teacher_alpha,
                  "teacher parameter of level 1 (mugif alpha-t, rtv/l0 lambda; 0: its default)");
  sub->add_option("--teacher-eta", o.teacher_eta, "growth of the teacher parameter per level")
      ->capture_default_str();
}

}  // namespace

void register_train(CLI::App& app) {
  CLI::App* train = app.add_subcommand("train", "Train a model (hipe-guider, then hipe-peeler)");
  train->require_subcommand(1);
  auto guider = std::make_shared<TrainCommand>();
  CLI::App* g =
      add_command(*train, "hipe-guider", "Train the HIPe guider on images + boundaries",
                  [guider](Context& ctx) { run_train(ctx, *guider, train::HipeStage::Guider); });
  add_common_options(g, *guider);
  g->add_option("--gt", guider->options.gt_dirs,
                "boundary folder with <id>_<k>.png per image folder (repeatable; unsupervised)");
  auto peeler = std::make_shared<TrainCommand>();
  CLI::App* p =
      add_command(*train, "hipe-peeler", "Train the HIPe peeler with a frozen guider",
                  [peeler](Context& ctx) { run_train(ctx, *peeler, train::HipeStage::Peeler); });
  add_common_options(p, *peeler);
  p->add_option("--guider", peeler->options.guider_weights, "trained guider weights")->required();
}

}  // namespace strata::cli
