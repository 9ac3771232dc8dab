// Tests of the core layer: errors, atomic file output, output-path safety, device parsing.
#include <torch/torch.h>

#include <unistd.h>

#include "strata/core/cuda_graph.hpp"
#include "strata/core/device.hpp"
#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "testing.hpp"

namespace strata {
namespace {

using testing::TempDir;

TEST(Error, CarriesPathAndReason) {
  const Error e("a/b.png", "truncated PNG data");
  EXPECT_EQ(e.path(), "a/b.png");
  EXPECT_EQ(e.reason(), "truncated PNG data");
  EXPECT_STREQ(e.what(), "a/b.png: truncated PNG data");
  EXPECT_STREQ(Error("", "bad option").what(), "bad option");
}

TEST(File, AtomicWriteLeavesNoTempFile) {
  TempDir dir;
  const std::vector<std::uint8_t> bytes = {1, 2, 3, 4};
  write_file_atomic(dir.file("x.bin"), bytes);
  EXPECT_EQ(read_file(dir.file("x.bin")), bytes);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"x.bin"});
}

TEST(File, AtomicWriteReplacesExistingFileWhole) {
  TempDir dir;
  write_file_atomic(dir.file("x.bin"), std::vector<std::uint8_t>(1000, 7));
  write_file_atomic(dir.file("x.bin"), std::vector<std::uint8_t>{9});
  EXPECT_EQ(read_file(dir.file("x.bin")), std::vector<std::uint8_t>{9});
}

TEST(File, AtomicWriteIntoMissingFolderFailsCleanly) {
  TempDir dir;
  EXPECT_THROW(write_file_atomic(dir.file("nope/x.bin"), std::vector<std::uint8_t>{1}), Error);
  EXPECT_TRUE(dir.list().empty());
}

TEST(File, ReadFileErrors) {
  TempDir dir;
  EXPECT_THROW(read_file(dir.file("missing.png")), Error);
  EXPECT_THROW(read_file(dir.path()), Error);
  write_file_atomic(dir.file("big"), std::vector<std::uint8_t>(100, 0));
  try {
    read_file(dir.file("big"), 10);
    FAIL() << "expected a size-limit error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.reason()).find("limit"), std::string::npos);
  }
}

TEST(File, OutputMustNotOverwriteInput) {
  TempDir dir;
  const std::string in = dir.file("in.png");
  write_file_atomic(in, std::vector<std::uint8_t>{1});
  EXPECT_THROW(check_output_path(in, {in}, false), Error);
  EXPECT_NO_THROW(check_output_path(in, {in}, true));
  // The same file through another spelling of its path.
  EXPECT_THROW(check_output_path(dir.path() + "/./in.png", {in}, false), Error);
  ASSERT_EQ(::link(in.c_str(), dir.file("link.png").c_str()), 0);
  EXPECT_THROW(check_output_path(dir.file("link.png"), {in}, false), Error);
  EXPECT_NO_THROW(check_output_path(dir.file("out.png"), {in}, false));
  EXPECT_THROW(check_output_path(dir.file("no/out.png"), {in}, false), Error);
  EXPECT_THROW(check_output_path(dir.path(), {in}, false), Error);
}

TEST(File, PathParts) {
  EXPECT_EQ(extension_of("a/b/Photo.JPG"), "jpg");
  EXPECT_EQ(extension_of("x.tar.gz"), "gz");
  EXPECT_EQ(extension_of("noext"), "");
  EXPECT_EQ(extension_of("dir.d/noext"), "");
  EXPECT_EQ(extension_of(".hidden"), "");
  EXPECT_EQ(parent_of("a/b/c.png"), "a/b");
  EXPECT_EQ(parent_of("c.png"), "");
  EXPECT_EQ(parent_of("/c.png"), "/");
  EXPECT_EQ(basename_of("a/b/c.png"), "c.png");
}

TEST(File, DirectoriesAreMadeListedAndRemoved) {
  TempDir dir;
  const std::string deep = dir.file("x/y/z");
  make_directories(deep);
  EXPECT_TRUE(is_directory(deep));
  make_directories(deep);  // idempotent
  write_file_atomic(deep + "/f.bin", std::vector<std::uint8_t>{1});
  EXPECT_EQ(list_directory(dir.file("x/y")), std::vector<std::string>{"z"});
  EXPECT_TRUE(path_exists(deep + "/f.bin"));
  EXPECT_FALSE(is_directory(deep + "/f.bin"));
  EXPECT_THROW(make_directories(deep + "/f.bin/sub"), Error);
  remove_tree(dir.file("x"));
  EXPECT_FALSE(path_exists(dir.file("x")));
  EXPECT_NO_THROW(remove_tree(dir.file("x")));
  EXPECT_THROW(list_directory(dir.file("x")), Error);
}

TEST(Device, ParsesSpecs) {
  EXPECT_EQ(parse_device("cpu"), torch::Device(torch::kCPU));
  const torch::Device a = parse_device("auto");
  EXPECT_EQ(a.is_cuda(), torch::cuda::is_available());
  for (const char* bad : {"gpu", "cuda:x", "cuda:-1", "", "cuda:99999"})
    EXPECT_THROW(parse_device(bad), Error) << bad;
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(parse_device("cuda"), Error);
    EXPECT_THROW(parse_device("cuda:0"), Error);
  } else {
    EXPECT_EQ(parse_device("cuda:0"), torch::Device(torch::kCUDA, 0));
  }
}

TEST(Device, SeedMakesRandomnessReproducible) {
  set_seed(42);
  const auto a = torch::rand({8});
  set_seed(42);
  const auto b = torch::rand({8});
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_THROW(set_threads(0), Error);
}

TEST(Device, CudnnTuningIsScopedAndNests) {
  const bool before = at::globalContext().benchmarkCuDNN();
  {
    const CudnnTuning on(true);
    EXPECT_TRUE(at::globalContext().benchmarkCuDNN());
    {
      const CudnnTuning off(false);  // does nothing
      EXPECT_TRUE(at::globalContext().benchmarkCuDNN());
      const CudnnTuning again(true);
    }
    EXPECT_TRUE(at::globalContext().benchmarkCuDNN());
  }
  EXPECT_EQ(at::globalContext().benchmarkCuDNN(), before);
}

TEST(Device, RuntimeInfoIsConsistent) {
  const RuntimeInfo info = runtime_info();
  EXPECT_EQ(info.strata_version, STRATA_VERSION);
  EXPECT_FALSE(info.torch_version.empty());
  EXPECT_EQ(info.cuda_available, info.cuda_device_count > 0);
  EXPECT_GT(info.threads, 0);
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

// A recorded step replays the eager computation: x ← tanh(A x)/2 + 0.1, in place, 10 times.
TEST(StepGraph, ReplayEqualsEagerSteps) {
  if (!StepGraph::supported()) {
    EXPECT_THROW(StepGraph(torch::Device(torch::kCUDA)), Error);
    return;
  }
  STRATA_REQUIRE_CUDA();
  torch::manual_seed(0);
  const auto a = (torch::randn({64, 64}) * 0.3).to(torch::kCUDA);
  const auto start = torch::randn({64, 1}).to(torch::kCUDA);
  auto eager = start.clone();
  for (int i = 0; i < 10; ++i) eager.copy_(torch::tanh(a.matmul(eager)) * 0.5 + 0.1);
  auto x = start.clone();
  const auto step = [&] { x.copy_(torch::tanh(a.matmul(x)) * 0.5 + 0.1); };
  StepGraph graph(torch::Device(torch::kCUDA));
  graph.warm_up(step);  // step 1
  graph.capture(step);  // recorded, not run
  for (int i = 0; i < 9; ++i) graph.replay();
  EXPECT_LE(testing::max_abs_diff(x, eager), 1e-5);
  EXPECT_GT(testing::max_abs_diff(x, start), 0.1);  // it moved
}

// A branch's work reads the step's state beside the main stream's update of other state, eagerly
// and inside a recorded step: y ← sum(x)·v on the branch while x ← x/2 + 1 on the main stream
// (which joins before reading y).
TEST(StreamBranch, RunsBesideTheStreamEagerlyAndInAGraph) {
  StreamBranch inline_branch(torch::Device(torch::kCPU));  // CPU: runs at once
  int ran = 0;
  inline_branch.run([&] { ++ran; });
  inline_branch.join();
  EXPECT_EQ(ran, 1);
  if (!StepGraph::supported()) return;
  STRATA_REQUIRE_CUDA();
  const auto v = torch::arange(1 << 20, torch::kFloat32).to(torch::kCUDA) * 1e-6;
  auto x = torch::ones({1 << 20}, torch::kCUDA);
  auto total = torch::zeros({}, torch::kCUDA);
  StreamBranch branch(torch::Device(torch::kCUDA));
  double expected_total = 0.0;
  const auto step = [&] {
    torch::Tensor y;
    const auto sum = x.sum();
    branch.run([&] { y = (sum * v).sum(); });
    x.mul_(0.5).add_(1.0);
    branch.join();
    total.add_(y);
  };
  const double v_sum = v.sum().item<double>();
  double x_value = 1.0;
  StepGraph graph(torch::Device(torch::kCUDA));
  const auto expect_step = [&] {  // what one step adds to total, and x after it
    expected_total += x_value * (1 << 20) * v_sum;
    x_value = x_value * 0.5 + 1.0;
  };
  graph.warm_up(step);  // one eager step
  expect_step();
  graph.capture(step);
  for (int i = 0; i < 5; ++i) {
    graph.replay();
    expect_step();
  }
  EXPECT_NEAR(total.item<double>() / expected_total, 1.0, 1e-4);
  EXPECT_NEAR(x[12345].item<double>(), x_value, 1e-6);
}

}  // namespace
}  // namespace strata
