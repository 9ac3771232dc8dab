// strata filter NAME IN OUT [--guide G] [--radius r] ...: any classical filter on an image file.
#include <torch/torch.h>

#include <iomanip>
#include <memory>
#include <set>
#include <sstream>

#include "cli/app.hpp"
#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/filter/registry.hpp"
#include "strata/image/tensor.hpp"

namespace strata::cli {

namespace {

struct FilterCommand {
  bool list = false;
  std::string name, input, output, guide;
  int depth = 8;
  std::map<std::string, double> values;         // one slot per parameter name
  std::map<std::string, CLI::Option*> options;  // to see which were given
};

std::string format_value(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

void print_list(const Context& ctx) {
  nlohmann::json j = nlohmann::json::array();
  std::ostringstream human;
  for (const auto& f : filter::filter_catalogue()) {
    nlohmann::json params = nlohmann::json::object();
    human << f.name << (f.guide == filter::GuideUse::Optional ? " [--guide G]" : "")
          << (f.guide == filter::GuideUse::Required ? " --guide G" : "") << "\n    "
          << f.description << '\n';
    for (const auto& p : f.params) {
      params[p.name] = p.default_value;
      human << "    --" << std::left << std::setw(12) << p.name << " " << std::setw(8)
            << format_value(p.default_value) << " " << p.help << '\n';
    }
    j.push_back({{"name", f.name},
                 {"description", f.description},
                 {"params", params},
                 {"guide", f.guide == filter::GuideUse::None       ? "none"
                           : f.guide == filter::GuideUse::Optional ? "optional"
                                                                   : "required"}});
  }
  ctx.result(j, human.str());
}

void run_filter_command(Context& ctx, const FilterCommand& c) {
  if (c.list) return print_list(ctx);
  check(!c.name.empty() && !c.input.empty() && !c.output.empty(), "",
        "usage: strata filter NAME IN OUT [options] (strata filter --list shows the filters)");
  const filter::FilterSpec& spec = filter::find_filter(c.name);
  std::vector<std::string> inputs = {c.input};
  if (!c.guide.empty()) inputs.push_back(c.guide);
  check_output_path(c.output, inputs, ctx.options().force);
  filter::ParamValues values;
  for (const auto& [name, opt] : c.options)
    if (opt->count() > 0) values[name] = c.values.at(name);
  const torch::Tensor input = image::read_image(c.input, ctx.read_options()).to(ctx.device());
  torch::Tensor guide;
  if (!c.guide.empty()) guide = image::read_image(c.guide, ctx.read_options()).to(ctx.device());
  const torch::Tensor out = filter::run_filter(spec, input, guide, values);
  image::WriteOptions wo;
  wo.depth = c.depth == 16 ? image::BitDepth::U16 : image::BitDepth::U8;
  image::write_image(c.output, out, wo);
  ctx.log("wrote " + c.output);
  nlohmann::json params = values;
  ctx.result({{"command", "filter"},
              {"filter", spec.name},
              {"input", c.input},
              {"output", c.output},
              {"params", params},
              {"device", ctx.device().str()}},
             "");
}

}  // namespace

void register_filter(CLI::App& app) {
  auto c = std::make_shared<FilterCommand>();
  CLI::App* sub =
      add_command(app, "filter", "Run a classical filter (strata filter --list shows them all)",
                  [c](Context& ctx) { run_filter_command(ctx, *c); });
  sub->add_flag("--list", c->list, "list the filters, their parameters and defaults");
  sub->add_option("name", c->name, "filter name");
  sub->add_option("input", c->input, "input image");
  sub->add_option("output", c->output, "output image (.png 8/16-bit, .jpg, .pfm float)");
  sub->add_option("--guide", c->guide, "guide image (joint/guided filters)");
  sub->add_option("--depth", c->depth, "PNG bit depth")->check(CLI::IsMember({8, 16}));
  std::set<std::string> seen;
  for (const auto& f : filter::filter_catalogue())
    for (const auto& p : f.params)
      if (seen.insert(p.name).second)
        c->options[p.name] =
            sub->add_option("--" + p.name, c->values[p.name], p.help + " (see --list)");
}

}  // namespace strata::cli
