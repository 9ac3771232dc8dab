// Torch-free timing of the fused CUDA filter kernels on the GPU's own clock: the guided filter's
// coefficients and apply stages alone and together, and the box filter, at 1080p RGB (r 8,
// eps 0.01, gray and colour guide), each the median of 15 timings of 50 back-to-back calls by
// CUDA events. Calls the kernels' torch-free API (src/filter/cuda/kernels.hpp) on buffers of
// exactly the image's size, so out-of-bounds accesses show under compute-sanitizer.
// Run: probe_filter_kernels [fp32|fp16] [TAG]; with STRATA_PROBE_DUMP=DIR it also writes each
// filtered image to DIR/q_TAG_PRECISION_COLOUR.bin (raw values) to compare builds bit for bit.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "filter/cuda/kernels.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace strata::filter::cuda;

namespace {

Tensor4 dense(void* d, Scalar s, int n, int c, int h, int w) {
  Tensor4 t;
  t.data = d;
  t.scalar = s;
  std::int64_t sz[4] = {n, c, h, w};
  for (int i = 0; i < 4; ++i) t.size[i] = sz[i];
  t.stride[3] = 1;
  t.stride[2] = w;
  t.stride[1] = static_cast<std::int64_t>(h) * w;
  t.stride[0] = t.stride[1] * c;
  return t;
}

/// The coefficient buffer's N×C×H×W view of `per`-float tuples (kernels.hpp).
Tensor4 coef_view(void* d, int n, int c, int h, int w, int per) {
  Tensor4 t = dense(d, Scalar::Float32, n, c, h, w);
  for (int i = 0; i < 4; ++i) t.stride[i] *= per;
  return t;
}

#define CHECK_CUDA(x)                                                       \
  do {                                                                      \
    cudaError_t e = (x);                                                    \
    if (e != cudaSuccess) {                                                 \
      std::printf("%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e)); \
      std::exit(1);                                                         \
    }                                                                       \
  } while (0)
#define CHECK_KERNEL(x)               \
  do {                                \
    const char* e = (x);              \
    if (e) {                          \
      std::printf("kernel: %s\n", e); \
      std::exit(1);                   \
    }                                 \
  } while (0)

template <class F>
float median_us(F f, cudaStream_t s, int reps = 15, int calls = 50) {
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  for (int i = 0; i < 5; ++i) f();
  CHECK_CUDA(cudaStreamSynchronize(s));
  std::vector<float> t;
  for (int rep = 0; rep < reps; ++rep) {
    CHECK_CUDA(cudaEventRecord(a, s));
    for (int i = 0; i < calls; ++i) f();
    CHECK_CUDA(cudaEventRecord(b, s));
    CHECK_CUDA(cudaEventSynchronize(b));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms * 1000.f / calls);
  }
  CHECK_CUDA(cudaEventDestroy(a));
  CHECK_CUDA(cudaEventDestroy(b));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

/// Writes `bytes` of device memory at `data` to DIR/q_TAG_PRECISION_COLOUR.bin; false on failure.
bool write_raw(const char* dir, const char* tag, bool half, int colour, const void* data,
               std::size_t bytes) {
  std::vector<char> out(bytes);
  CHECK_CUDA(cudaMemcpy(out.data(), data, bytes, cudaMemcpyDeviceToHost));
  char name[512];
  std::snprintf(name, sizeof name, "%s/q_%s_%s_%d.bin", dir, tag, half ? "fp16" : "fp32", colour);
  FILE* f = std::fopen(name, "wb");
  const bool ok = f && std::fwrite(out.data(), 1, bytes, f) == bytes;
  if (f && std::fclose(f) != 0) return false;
  if (!ok) std::printf("cannot write %s\n", name);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "fp16") != 0 && std::strcmp(argv[1], "fp32") != 0) {
    std::printf("usage: probe_filter_kernels [fp32|fp16] [TAG]\n");
    return 2;
  }
  const bool half = argc > 1 && std::strcmp(argv[1], "fp16") == 0;
  const char* tag = argc > 2 ? argv[2] : "x";
  const int n = 1, c = 3, h = 1080, w = 1920, r = 8;
  const float eps = 0.01f;
  const size_t plane = static_cast<size_t>(h) * w;
  const Scalar sc = half ? Scalar::Float16 : Scalar::Float32;
  const size_t es = half ? 2 : 4;
  std::vector<float> hp(c * plane), hg(plane);
  unsigned s = 12345;
  for (auto& v : hp) {
    s = s * 1664525u + 1013904223u;
    v = static_cast<float>(s >> 8) / 16777216.f;
  }
  for (size_t i = 0; i < plane; ++i) hg[i] = (hp[i] + hp[plane + i] + hp[2 * plane + i]) / 3.f;
  auto upload = [&](const std::vector<float>& v) {
    void* d;
    CHECK_CUDA(cudaMalloc(&d, v.size() * es));
    if (half) {
      std::vector<__half> hv(v.size());
      for (size_t i = 0; i < v.size(); ++i) hv[i] = __float2half(v[i]);
      CHECK_CUDA(cudaMemcpy(d, hv.data(), v.size() * 2, cudaMemcpyHostToDevice));
    } else {
      CHECK_CUDA(cudaMemcpy(d, v.data(), v.size() * 4, cudaMemcpyHostToDevice));
    }
    return d;
  };
  void* dp = upload(hp);
  void* dg = upload(hg);
  void *dq, *db;
  CHECK_CUDA(cudaMalloc(&dq, c * plane * es));
  CHECK_CUDA(cudaMalloc(&db, c * plane * es));
  cudaStream_t st;
  CHECK_CUDA(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  const Tensor4 P = dense(dp, sc, n, c, h, w), Q = dense(dq, sc, n, c, h, w),
                B = dense(db, sc, n, c, h, w), none{};
  for (int colour = 0; colour < 2; ++colour) {
    const Tensor4 G = colour ? P : dense(dg, sc, n, 1, h, w);
    const int per = colour ? 4 : 2;  // exactly the coefficients' size, for compute-sanitizer
    void* dcoef = nullptr;
    CHECK_CUDA(cudaMalloc(&dcoef, c * plane * per * sizeof(float)));
    const Tensor4 C = coef_view(dcoef, n, c, h, w, per);
    auto coefs = [&] { CHECK_KERNEL(guided_coefficients(P, G, none, eps, r, colour, C, st)); };
    auto apply = [&] { CHECK_KERNEL(guided_apply(C, G, r, colour, Q, st)); };
    const float tc = median_us(coefs, st), ta = median_us(apply, st);
    const float tg = median_us(
        [&] {
          coefs();
          apply();
        },
        st);
    std::printf("%s %s %s: coefficients %.1f apply %.1f guided %.1f us\n", tag,
                half ? "fp16" : "fp32", colour ? "colour" : "gray", tc, ta, tg);
    if (const char* dump = std::getenv("STRATA_PROBE_DUMP")) {
      coefs();
      apply();
      CHECK_CUDA(cudaStreamSynchronize(st));
      if (!write_raw(dump, tag, half, colour, dq, c * plane * es)) return 1;
    }
    CHECK_CUDA(cudaFree(dcoef));
  }
  const float tb = median_us([&] { CHECK_KERNEL(box_mean(P, B, r, st)); }, st);
  std::printf("%s %s box %.1f us\n", tag, half ? "fp16" : "fp32", tb);
  return 0;
}
