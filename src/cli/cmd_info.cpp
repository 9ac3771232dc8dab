// strata info: versions, devices and threads.
#include <torch/torch.h>

#include <sstream>

#include "cli/app.hpp"
#include "strata/core/device.hpp"
#include "strata/filter/common.hpp"

namespace strata::cli {

namespace {

nlohmann::json device_list(const RuntimeInfo& info) {
  nlohmann::json devices = nlohmann::json::array({"cpu"});
  for (int i = 0; i < info.cuda_device_count; ++i) devices.push_back("cuda:" + std::to_string(i));
  return devices;
}

void run_info(Context& ctx) {
  const RuntimeInfo info = runtime_info();
  const std::string chosen = ctx.device().str();
  nlohmann::json j = {{"strata_version", info.strata_version},
                      {"torch_version", info.torch_version},
                      {"cuda_available", info.cuda_available},
                      {"cudnn_available", info.cudnn_available},
                      {"fused_cuda_kernels", filter::fused_kernels_built()},
                      {"cuda_device_count", info.cuda_device_count},
                      {"devices", device_list(info)},
                      {"device", chosen},
                      {"threads", info.threads}};
  std::ostringstream human;
  human << "strata          " << info.strata_version << '\n'
        << "LibTorch        " << info.torch_version << '\n'
        << "CUDA            " << (info.cuda_available ? "available" : "not available") << '\n'
        << "cuDNN           " << (info.cudnn_available ? "available" : "not available") << '\n'
        << "fused kernels   " << (filter::fused_kernels_built() ? "built" : "not built") << '\n'
        << "devices         " << device_list(info).dump() << '\n'
        << "selected device " << chosen << '\n'
        << "CPU threads     " << info.threads;
  ctx.result(j, human.str());
}

}  // namespace

void register_info(CLI::App& app) {
  add_command(app, "info", "Show LibTorch version, CUDA/cuDNN availability, devices and threads",
              run_info);
}

}  // namespace strata::cli
