// strata edges IN -o OUT.png: the HIPe guider's edge-confidence map (paper §3.2) or a baseline;
// IN may be a folder (then OUT is one), as the boundary benchmark reads them.
#include <torch/torch.h>

#include <algorithm>
#include <memory>
#include <sstream>

#include "cli/app.hpp"
#include "cli/model_files.hpp"
#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/filter/edges.hpp"
#include "strata/image/codec.hpp"
#include "strata/models/hipe.hpp"

namespace strata::cli {

namespace {

struct EdgesCommand {
  std::string input, output, model_dir, weights, method = "hipe", combine = "logit";
  models::EdgeOptions hipe;
  bool nms = false;
  double sigma = 1.0, low = 0.1, high = 0.0;
};

// The edge map of `method`, 1×H×W: hipe (the guider's maps combined over recurrences, scales
// and flips), sobel (gradient magnitude) or canny (0/1 with --high > 0, else the suppressed
// magnitude); sobel and canny soft maps are scaled to a maximum of 1.
torch::Tensor edge_map(Context& ctx, const EdgesCommand& c, const torch::Tensor& image,
                       models::HipeGuider& guider) {
  if (c.method == "hipe") {  // tiled, the image stays in host memory
    auto options = c.hipe;
    options.combine = c.combine == "mean" ? models::EdgeCombine::Mean : models::EdgeCombine::Logit;
    return models::hipe_edges(guider, options.tile > 0 ? image : image.to(ctx.device()), options);
  }
  const auto soft = c.method == "sobel" ? filter::sobel_magnitude(image)
                                        : filter::canny(image, c.sigma, c.low, c.high);
  if (c.method == "canny" && c.high > 0.0) return soft;
  return soft / std::max(soft.max().item<double>(), 1e-12);
}

void write_edges(Context& ctx, const EdgesCommand& c, models::HipeGuider& guider,
                 const std::string& input, const std::string& output) {
  const auto image = image::read_image(input, ctx.read_options(image::ChannelMode::Rgb));
  auto edges = edge_map(ctx, c, image, guider)[0];
  if (c.nms) edges = filter::edge_nms(edges, filter::edge_orientation(edges));
  image::write_image(output, edges.unsqueeze(0).cpu());
  ctx.log("wrote " + output);
}

void run_edges(Context& ctx, const EdgesCommand& c) {
  check(c.hipe.recurrences >= 1 && c.hipe.recurrences <= 256, "",
        "--recurrences must be in 1..256");
  for (const double s : c.hipe.scales) {
    std::ostringstream value;
    value << s;
    check(s > 0.0 && s <= 4.0, "", "--scales must be in (0, 4], not " + value.str());
  }
  models::HipeGuider guider{nullptr};
  if (c.method == "hipe")
    guider = c.weights.empty() ? load_hipe_edge_guider(model_dir(c.model_dir), ctx.device())
                               : load_hipe_guider_file(c.weights, ctx.device());
  std::size_t count = 1;
  if (is_directory(c.input)) {  // a folder in, a folder of <stem>.png out (the benchmark's layout)
    const auto inputs = image::list_images(c.input);
    check(!inputs.empty(), c.input, "no images");
    check(!path_exists(c.output) || is_directory(c.output), c.output,
          "with a folder of inputs, -o must be a folder");
    make_directories(c.output);
    for (const auto& input : inputs) {
      const auto output = c.output + "/" + stem_of(input) + ".png";
      check_output_path(output, {input}, ctx.options().force);  // never over an input
      write_edges(ctx, c, guider, input, output);
    }
    count = inputs.size();
  } else {
    check_output_path(c.output, {c.input}, ctx.options().force);
    write_edges(ctx, c, guider, c.input, c.output);
  }
  ctx.result({{"command", "edges"},
              {"input", c.input},
              {"output", c.output},
              {"images", count},
              {"method", c.method},
              {"recurrences", c.hipe.recurrences},
              {"scales", c.hipe.scales},
              {"combine", c.combine},
              {"flips", c.hipe.flips},
              {"nms", c.nms},
              {"device", ctx.device().str()}},
             "");
}

}  // namespace

void register_edges(CLI::App& app) {
  auto c = std::make_shared<EdgesCommand>();
  CLI::App* sub = add_command(
      app, "edges", "Edge maps: the HIPe guider's edge confidence, or Sobel / Canny baselines",
      [c](Context& ctx) { run_edges(ctx, *c); });
  sub->add_option("input", c->input, "input image, or a folder of images")->required();
  sub->add_option("-o,--out", c->output,
                  "output image (.png, .pfm for float), or a folder (<stem>.png per input image)")
      ->required();
  sub->add_option("--recurrences", c->hipe.recurrences, "guider recurrences combined (paper: 24)")
      ->capture_default_str();
  sub->add_option("--scales", c->hipe.scales,
                  "image scales the guider runs at, maps resized back and combined (paper: 1)")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--combine", c->combine,
                  "logit: sigmoid of the mean logit of the maps; mean: their mean (paper)")
      ->check(CLI::IsMember({"logit", "mean"}))
      ->capture_default_str();
  sub->add_flag("--nms", c->nms, "thin by non-maximum suppression (structured-edges style)");
  sub->add_option("--method", c->method, "hipe (the guider), sobel or canny")
      ->check(CLI::IsMember({"hipe", "sobel", "canny"}))
      ->capture_default_str();
  sub->add_option("--sigma", c->sigma, "canny: Gaussian σ")->capture_default_str();
  sub->add_option("--low", c->low, "canny: low threshold")->capture_default_str();
  sub->add_option("--high", c->high, "canny: high threshold (0: soft map)")->capture_default_str();
  sub->add_option("--flips", c->hipe.flips,
                  "test-time mirroring: 1 (none), 2 (left-right) or 4 (and up-down, both)")
      ->check(CLI::IsMember({1, 2, 4}))
      ->capture_default_str();
  sub->add_option("--model", c->model_dir,
                  "folder with hipe-edges.safetensors (else hipe-guider.safetensors)");
  sub->add_option("--weights", c->weights,
                  "a guider weights file (e.g. models/hipe-guider.safetensors); overrides --model");
  add_tile_option(sub, c->hipe.tile);
}

}  // namespace strata::cli
