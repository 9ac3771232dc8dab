#include "strata/core/device.hpp"

#include <torch/torch.h>
#include <torch/version.h>

#include <cstdlib>
#include <limits>
#include <thread>
#ifdef __linux__
#include <sched.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "strata/core/error.hpp"

namespace strata {

torch::Device parse_device(const std::string& spec) {
  if (spec == "auto")
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::kCPU;
  if (spec == "cpu") return torch::kCPU;
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (spec.size() > 5) {
      const std::string num = spec.substr(5);
      check(num.size() <= 3 && num.find_first_not_of("0123456789") == std::string::npos, "",
            "bad device '" + spec + "' (use auto, cpu, cuda or cuda:N)");
      index = std::stoi(num);
    }
    check(torch::cuda::is_available(), "",
          "device '" + spec + "' requested but CUDA is not available");
    const int count = static_cast<int>(torch::cuda::device_count());
    check(index < count, "",
          "device '" + spec + "' requested but only " + std::to_string(count) +
              " CUDA device(s) exist");
    return torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(index));
  }
  throw Error("", "bad device '" + spec + "' (use auto, cpu, cuda or cuda:N)");
}

void set_threads(int n) {
  check(n > 0, "", "thread count must be positive");
  torch::set_num_threads(n);
}

void use_all_cores() {
  if (std::getenv("OMP_NUM_THREADS") != nullptr) return;
  int cores = static_cast<int>(std::thread::hardware_concurrency());
#ifdef __linux__
  cpu_set_t allowed;  // the CPUs this process may run on (taskset, cgroup cpusets)
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) cores = CPU_COUNT(&allowed);
#endif
  if (cores > torch::get_num_threads()) torch::set_num_threads(cores);
}

void set_seed(std::uint64_t seed) { torch::manual_seed(seed); }

void keep_freed_memory() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  mallopt(M_TOP_PAD, 256 << 20);
#endif
}

CudnnTuning::CudnnTuning(bool on) : on_(on) {
  if (!on_) return;
  before_ = at::globalContext().benchmarkCuDNN();
  at::globalContext().setBenchmarkCuDNN(true);
}

CudnnTuning::~CudnnTuning() {
  if (on_) at::globalContext().setBenchmarkCuDNN(before_);
}

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.strata_version = STRATA_VERSION;
  info.torch_version = TORCH_VERSION;
  info.cuda_available = torch::cuda::is_available();
  info.cudnn_available = torch::cuda::cudnn_is_available();
  info.cuda_device_count = static_cast<int>(torch::cuda::device_count());
  info.threads = torch::get_num_threads();
  return info;
}

}  // namespace strata
