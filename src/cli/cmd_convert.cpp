// strata convert: read any supported image, optionally change channels or size, write any format.
#include <torch/torch.h>

#include <cstdio>
#include <memory>

#include "cli/app.hpp"
#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/image/resize.hpp"
#include "strata/image/tensor.hpp"

namespace strata::cli {

namespace {

struct ConvertOptions {
  std::string input, output;
  bool gray = false, rgb = false, no_antialias = false;
  std::string size;  // "WxH"
  double scale = 0.0;
  std::string method = "bicubic";
  int depth = 8;
  int quality = 95;
};

// Parses "WxH" into (height, width).
std::pair<std::int64_t, std::int64_t> parse_size(const std::string& s) {
  int w = 0, h = 0;
  char x = 0, extra = 0;
  const int n = std::sscanf(s.c_str(), "%d%c%d%c", &w, &x, &h, &extra);
  check(n == 3 && (x == 'x' || x == 'X') && w > 0 && h > 0, "",
        "bad --size '" + s + "' (use WxH, e.g. 640x480)");
  return {h, w};
}

torch::Tensor apply_resize(const torch::Tensor& img, const ConvertOptions& o) {
  image::ResizeOptions ro;
  ro.method = image::parse_interpolation(o.method);
  ro.antialias = !o.no_antialias;
  if (!o.size.empty()) {
    const auto [h, w] = parse_size(o.size);
    return image::resize(img, h, w, ro);
  }
  return o.scale > 0 ? image::resize_by(img, o.scale, ro) : img;
}

void run_convert(Context& ctx, const ConvertOptions& o) {
  check_output_path(o.output, {o.input}, ctx.options().force);
  const auto mode = o.gray  ? image::ChannelMode::Gray
                    : o.rgb ? image::ChannelMode::Rgb
                            : image::ChannelMode::Unchanged;
  torch::Tensor img = image::read_image(o.input, ctx.read_options(mode));
  img = apply_resize(img.to(ctx.device()), o);
  image::WriteOptions wo;
  wo.depth = o.depth == 16 ? image::BitDepth::U16 : image::BitDepth::U8;
  wo.jpeg_quality = o.quality;
  image::write_image(o.output, img, wo);
  const nlohmann::json j = {{"command", "convert"},        {"input", o.input},
                            {"output", o.output},          {"width", img.size(2)},
                            {"height", img.size(1)},       {"channels", img.size(0)},
                            {"device", ctx.device().str()}};
  ctx.log("wrote " + o.output + " (" + std::to_string(img.size(2)) + "x" +
          std::to_string(img.size(1)) + ", " + std::to_string(img.size(0)) + " channels)");
  ctx.result(j, "");
}

}  // namespace

void register_convert(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* sub = add_command(app, "convert",
                              "Convert between PNG (8/16-bit), JPEG, PFM and FLO; optionally "
                              "change channels or resize",
                              [o](Context& ctx) { run_convert(ctx, *o); });
  sub->add_option("input", o->input, "input image")->required();
  sub->add_option("output", o->output, "output image (.png, .jpg, .pfm, .flo)")->required();
  auto* gray = sub->add_flag("--gray", o->gray, "convert to one gray channel (BT.601 luma)");
  sub->add_flag("--rgb", o->rgb, "convert to three RGB channels")->excludes(gray);
  auto* size = sub->add_option("--size", o->size, "output size WxH");
  sub->add_option("--scale", o->scale, "resize factor (output = ceil(input × scale))")
      ->check(CLI::PositiveNumber)
      ->excludes(size);
  sub->add_option("--method", o->method, "nearest | bilinear | bicubic | lanczos3")
      ->capture_default_str();
  sub->add_flag("--no-antialias", o->no_antialias, "no low-pass filter when downscaling");
  sub->add_option("--depth", o->depth, "PNG bit depth")
      ->check(CLI::IsMember({8, 16}))
      ->capture_default_str();
  sub->add_option("--quality", o->quality, "JPEG quality")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
}

}  // namespace strata::cli
