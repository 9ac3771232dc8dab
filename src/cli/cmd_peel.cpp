// strata peel IN -o OUTDIR: HIPe hierarchical image peeling with the shipped (or given) weights.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "cli/app.hpp"
#include "cli/model_files.hpp"
#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/models/hipe.hpp"
#include "strata/nn/layout.hpp"

namespace strata::cli {

namespace {

struct PeelCommand {
  std::string input, out_dir, model_dir;
  int levels = 4;
  std::vector<std::string> guides;
  bool sheet = false;
  std::string precision = "fp32";
  int tile = 0;
};

// One PNG of the input and every level (row 1), guidance (row 2), details (row 3).
torch::Tensor contact_sheet(const torch::Tensor& input, const models::Peeling& p) {
  const auto blank = torch::ones_like(input);
  std::vector<torch::Tensor> rows[3] = {{input}, {blank}, {blank}};
  for (std::size_t t = 0; t < p.levels.size(); ++t) {
    rows[0].push_back(p.levels[t]);
    rows[1].push_back(p.guidance[t].expand_as(input));
    rows[2].push_back(p.components[t] + 0.5);
  }
  std::vector<torch::Tensor> cat;
  for (auto& row : rows) cat.push_back(torch::cat(row, 2));
  return torch::cat(cat, 1).clamp(0.0, 1.0);
}

void run_peel(Context& ctx, const PeelCommand& c) {
  check(c.levels >= 1 && c.levels <= 64, "", "--levels must be in 1..64");
  std::vector<std::string> inputs = {c.input};
  inputs.insert(inputs.end(), c.guides.begin(), c.guides.end());
  const auto device = ctx.device();
  const auto image = image::read_image(c.input, ctx.read_options(image::ChannelMode::Rgb));
  models::PeelOptions options;
  options.levels = c.levels;
  options.tile = c.tile;
  for (const auto& g : c.guides)
    options.guidance.push_back(image::read_image(g, ctx.read_options(image::ChannelMode::Gray)));
  const std::string dir = model_dir(c.model_dir);
  models::HipeGuider guider{nullptr};
  if (options.guidance.empty()) guider = load_hipe_guider(dir, device);
  auto peeler = load_hipe_peeler(dir, device);
  if (c.precision != "fp32") {
    check(device.is_cuda(), "", "--precision " + c.precision + " needs a CUDA device");
    options.dtype = c.precision == "fp16" ? torch::kFloat16 : torch::kBFloat16;
    if (!guider.is_empty()) guider->to(options.dtype);
    peeler->to(options.dtype);
  }
  // channels-last on CUDA: strata's fused kernels and cuDNN's NHWC convolutions (1080p on an
  // H100: fp32 31.5 ms per recurrence against 66.2 in NCHW, fp16 16.5 against 47.7;
  // docs/benchmarks.md)
  if (device.is_cuda()) {
    options.channels_last = true;
    if (!guider.is_empty()) nn::to_channels_last(*guider);
    nn::to_channels_last(*peeler);
  }
  // Tiled, the image and every activation stay in host memory; only tiles go to the device.
  const auto input = c.tile > 0 ? image : image.to(device);
  const auto result = models::hipe_peel(guider, peeler, input, options);

  make_directories(c.out_dir);
  std::vector<std::string> written;
  const auto write = [&](const std::string& name, const torch::Tensor& t) {
    const std::string path = c.out_dir + "/" + name;
    check_output_path(path, inputs, ctx.options().force);
    image::write_image(path, t.cpu());
    written.push_back(path);
  };
  for (std::size_t i = 0; i < result.levels.size(); ++i) {
    const std::string t = std::to_string(i + 1);
    write("I_" + t + ".png", result.levels[i]);
    write("I_" + t + ".pfm", result.levels[i]);
    write("G_" + t + ".png", result.guidance[i]);
    write("P_" + t + ".png", result.components[i] + 0.5);  // detail, offset to mid-grey
    write("C_" + t + ".pfm", result.components[i]);
  }
  if (c.sheet) write("sheet.png", contact_sheet(input, result));
  ctx.log("wrote " + std::to_string(written.size()) + " files to " + c.out_dir);
  ctx.result({{"command", "peel"},
              {"input", c.input},
              {"levels", c.levels},
              {"guidance", c.guides.empty() ? "guider" : "user"},
              {"tile", c.tile},
              {"model", dir},
              {"files", written},
              {"device", device.str()}},
             "");
}

}  // namespace

void register_peel(CLI::App& app) {
  auto c = std::make_shared<PeelCommand>();
  CLI::App* sub = add_command(app, "peel", "Hierarchical image peeling (HIPe) into levels",
                              [c](Context& ctx) { run_peel(ctx, *c); });
  sub->add_option("input", c->input, "input image")->required();
  sub->add_option("-o,--out", c->out_dir, "output folder")->required();
  sub->add_option("--levels", c->levels, "number of levels")->capture_default_str();
  sub->add_option("--guide", c->guides,
                  "guidance map (any size; one for all levels or one per level)");
  sub->add_option("--model", c->model_dir, "folder with hipe-guider/hipe-peeler.safetensors");
  sub->add_flag("--sheet", c->sheet, "also write sheet.png: levels, guidance and details");
  sub->add_option("--precision", c->precision,
                  "network precision on CUDA (the recurrence stays float32)")
      ->check(CLI::IsMember({"fp32", "fp16", "bf16"}))
      ->capture_default_str();
  add_tile_option(sub, c->tile);
}

}  // namespace strata::cli
