// Stand-alone check and timing of the fused CUDA box / guided kernels (src/filter/cuda), without
// LibTorch: a double-precision CPU reference on small images (NCHW and channels-last, fp32 and
// fp16, gray and colour guides, per-pixel regulariser), then 1080p RGB timings of the sweep pair
// against the one-pass strip walk for several launch shapes. Build and run:
//   nvcc -O3 -std=c++17 -arch=native -Isrc/filter/cuda bench/cuda/strip_check.cu \
//        src/filter/cuda/kernels.cu -o strip_check && ./strip_check
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels.hpp"

namespace cu = strata::filter::cuda;

namespace {

int failures = 0;

void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::printf("CUDA error %s: %s\n", what, cudaGetErrorString(e));
    std::exit(2);
  }
}

void kernel_ok(const char* e, const char* what) {
  if (e) {
    std::printf("kernel error %s: %s\n", what, e);
    std::exit(2);
  }
}

struct Host {  // N×C×H×W double
  int n, c, h, w;
  std::vector<double> v;
  Host(int n_, int c_, int h_, int w_) : n(n_), c(c_), h(h_), w(w_), v(size_t(n_) * c_ * h_ * w_) {}
  double& at(int a, int b, int y, int x) { return v[((size_t(a) * c + b) * h + y) * w + x]; }
  double at(int a, int b, int y, int x) const { return v[((size_t(a) * c + b) * h + y) * w + x]; }
};

Host random_image(int n, int c, int h, int w, std::uint64_t seed) {
  Host img(n, c, h, w);
  std::uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (auto& x : img.v) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x = double(s >> 11) / double(1ULL << 53);
  }
  // add a smooth ramp so that windows are not pure noise
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < c; ++b)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          img.at(a, b, y, x) =
              0.5 * img.at(a, b, y, x) + 0.5 * (0.5 + 0.5 * std::sin(0.05 * x + 0.07 * y + b));
  return img;
}

// Border-clipped box mean of one plane (double).
std::vector<double> box_plane(const std::vector<double>& p, int h, int w, int r) {
  std::vector<double> out(size_t(h) * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double s = 0;
      int count = 0;
      for (int yy = std::max(0, y - r); yy <= std::min(h - 1, y + r); ++yy)
        for (int xx = std::max(0, x - r); xx <= std::min(w - 1, x + r); ++xx) {
          s += p[size_t(yy) * w + xx];
          ++count;
        }
      out[size_t(y) * w + x] = s / count;
    }
  return out;
}

std::vector<double> plane(const Host& img, int a, int b) {
  std::vector<double> p(size_t(img.h) * img.w);
  for (int y = 0; y < img.h; ++y)
    for (int x = 0; x < img.w; ++x) p[size_t(y) * img.w + x] = img.at(a, b, y, x);
  return p;
}

std::vector<double> mul(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> o(a.size());
  for (size_t i = 0; i < a.size(); ++i) o[i] = a[i] * b[i];
  return o;
}

// Reference guided filter: gray model (guide channel 0 or c) or colour model (3-channel guide).
Host reference_guided(const Host& p, const Host& g, double eps, int r, bool colour) {
  Host q(p.n, p.c, p.h, p.w);
  const int h = p.h, w = p.w;
  for (int a = 0; a < p.n; ++a)
    for (int c = 0; c < p.c; ++c) {
      const auto pp = plane(p, a, c);
      const auto mp = box_plane(pp, h, w, r);
      if (!colour) {
        const auto gi = plane(g, a, g.c == 1 ? 0 : c);
        const auto mi = box_plane(gi, h, w, r), mii = box_plane(mul(gi, gi), h, w, r),
                   mip = box_plane(mul(gi, pp), h, w, r);
        std::vector<double> A(h * size_t(w)), B(h * size_t(w));
        for (size_t i = 0; i < A.size(); ++i) {
          A[i] = (mip[i] - mi[i] * mp[i]) / (mii[i] - mi[i] * mi[i] + eps);
          B[i] = mp[i] - A[i] * mi[i];
        }
        const auto ma = box_plane(A, h, w, r), mb = box_plane(B, h, w, r);
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x)
            q.at(a, c, y, x) =
                ma[size_t(y) * w + x] * gi[size_t(y) * w + x] + mb[size_t(y) * w + x];
        continue;
      }
      std::vector<double> I[3], mI[3], mIp[3], mII[3][3];
      for (int k = 0; k < 3; ++k) {
        I[k] = plane(g, a, k);
        mI[k] = box_plane(I[k], h, w, r);
        mIp[k] = box_plane(mul(I[k], pp), h, w, r);
      }
      for (int k = 0; k < 3; ++k)
        for (int l = k; l < 3; ++l) mII[k][l] = mII[l][k] = box_plane(mul(I[k], I[l]), h, w, r);
      std::vector<double> A[4];
      for (auto& x : A) x.resize(size_t(h) * w);
      for (size_t i = 0; i < A[0].size(); ++i) {
        double S[3][3], v[3];
        for (int k = 0; k < 3; ++k) {
          v[k] = mIp[k][i] - mI[k][i] * mp[i];
          for (int l = 0; l < 3; ++l)
            S[k][l] = mII[k][l][i] - mI[k][i] * mI[l][i] + (k == l ? eps : 0);
        }
        // Cramer
        const double det = S[0][0] * (S[1][1] * S[2][2] - S[1][2] * S[2][1]) -
                           S[0][1] * (S[1][0] * S[2][2] - S[1][2] * S[2][0]) +
                           S[0][2] * (S[1][0] * S[2][1] - S[1][1] * S[2][0]);
        for (int k = 0; k < 3; ++k) {
          double M[3][3];
          for (int u = 0; u < 3; ++u)
            for (int t = 0; t < 3; ++t) M[u][t] = t == k ? v[u] : S[u][t];
          const double dk = M[0][0] * (M[1][1] * M[2][2] - M[1][2] * M[2][1]) -
                            M[0][1] * (M[1][0] * M[2][2] - M[1][2] * M[2][0]) +
                            M[0][2] * (M[1][0] * M[2][1] - M[1][1] * M[2][0]);
          A[k][i] = dk / det;
        }
        A[3][i] = mp[i] - A[0][i] * mI[0][i] - A[1][i] * mI[1][i] - A[2][i] * mI[2][i];
      }
      std::vector<double> mA[4];
      for (int k = 0; k < 4; ++k) mA[k] = box_plane(A[k], h, w, r);
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          const size_t i = size_t(y) * w + x;
          q.at(a, c, y, x) =
              mA[0][i] * I[0][i] + mA[1][i] * I[1][i] + mA[2][i] * I[2][i] + mA[3][i];
        }
    }
  return q;
}

// Device copy of a Host image in fp32 or fp16, NCHW or channels-last.
struct Dev {
  cu::Tensor4 t;
  Dev(const Host& img, bool half, bool channels_last) {
    t.scalar = half ? cu::Scalar::Float16 : cu::Scalar::Float32;
    t.size[0] = img.n;
    t.size[1] = img.c;
    t.size[2] = img.h;
    t.size[3] = img.w;
    if (channels_last) {
      t.stride[1] = 1;
      t.stride[3] = img.c;
      t.stride[2] = std::int64_t(img.c) * img.w;
      t.stride[0] = std::int64_t(img.c) * img.w * img.h;
    } else {
      t.stride[3] = 1;
      t.stride[2] = img.w;
      t.stride[1] = std::int64_t(img.w) * img.h;
      t.stride[0] = std::int64_t(img.c) * img.w * img.h;
    }
    const size_t count = img.v.size(), bytes = count * (half ? 2 : 4);
    cuda_ok(cudaMalloc(&t.data, bytes), "malloc");
    std::vector<float> f(count);
    std::vector<__half> hv(count);
    for (int a = 0; a < img.n; ++a)
      for (int b = 0; b < img.c; ++b)
        for (int y = 0; y < img.h; ++y)
          for (int x = 0; x < img.w; ++x) {
            const size_t o = a * t.stride[0] + b * t.stride[1] + y * t.stride[2] + x * t.stride[3];
            f[o] = float(img.at(a, b, y, x));
            hv[o] = __float2half_rn(f[o]);
          }
    cuda_ok(cudaMemcpy(t.data, half ? (void*)hv.data() : (void*)f.data(), bytes,
                       cudaMemcpyHostToDevice),
            "copy");
  }
  Dev(const Dev&) = delete;
  ~Dev() { cudaFree(t.data); }
  Host read() const {
    Host img(int(t.size[0]), int(t.size[1]), int(t.size[2]), int(t.size[3]));
    const bool half = t.scalar == cu::Scalar::Float16;
    const size_t count = img.v.size();
    std::vector<float> f(count);
    std::vector<__half> hv(count);
    cuda_ok(cudaMemcpy(half ? (void*)hv.data() : (void*)f.data(), t.data, count * (half ? 2 : 4),
                       cudaMemcpyDeviceToHost),
            "read");
    for (int a = 0; a < img.n; ++a)
      for (int b = 0; b < img.c; ++b)
        for (int y = 0; y < img.h; ++y)
          for (int x = 0; x < img.w; ++x) {
            const size_t o = a * t.stride[0] + b * t.stride[1] + y * t.stride[2] + x * t.stride[3];
            img.at(a, b, y, x) = half ? __half2float(hv[o]) : f[o];
          }
    return img;
  }
};

double max_diff(const Host& a, const Host& b) {
  double m = 0;
  for (size_t i = 0; i < a.v.size(); ++i) m = std::max(m, std::fabs(a.v[i] - b.v[i]));
  return m;
}

void expect(bool ok, const char* what, double err) {
  std::printf("%s %-70s max err %.3g\n", ok ? "ok  " : "FAIL", what, err);
  if (!ok) ++failures;
}

void check_guided(int n, int c, int h, int w, int r, double eps, int guide_channels, bool half,
                  bool channels_last, bool one_pass) {
  const bool colour = guide_channels == 3;
  const Host p = random_image(n, c, h, w, 7 + h * 31 + w);
  const Host g = guide_channels == 0 ? p : random_image(n, guide_channels, h, w, 11 + w);
  const Host ref = reference_guided(p, g, eps, r, colour);
  Dev dp(p, half, channels_last), dg(g, half, channels_last), dq(p, half, channels_last);
  cu::Tensor4 none;
  if (one_pass) {
    kernel_ok(cu::guided_filter(dp.t, dg.t, none, float(eps), r, colour, dq.t, nullptr), "guided");
  } else {
    Host coef_shape(n, c * (colour ? 4 : 2), h, w);
    Dev coef(coef_shape, false, false);
    kernel_ok(cu::guided_coefficients(dp.t, dg.t, none, float(eps), r, colour, coef.t, nullptr),
              "coef");
    kernel_ok(cu::guided_apply(coef.t, dg.t, r, colour, dq.t, nullptr), "apply");
  }
  cuda_ok(cudaDeviceSynchronize(), "sync");
  const double err = max_diff(dq.read(), ref);
  char what[200];
  std::snprintf(what, sizeof what, "guided %s n%d c%d %dx%d r%d eps%g g%d %s%s",
                one_pass ? "1p" : "2p", n, c, h, w, r, eps, guide_channels, half ? "fp16" : "fp32",
                channels_last ? " cl" : "");
  expect(err < (half ? 2e-2 : 2e-4), what, err);
}

void check_box(int n, int c, int h, int w, int r, bool half, bool channels_last) {
  const Host p = random_image(n, c, h, w, 3 + h + w);
  Host ref(n, c, h, w);
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < c; ++b) {
      const auto m = box_plane(plane(p, a, b), h, w, r);
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) ref.at(a, b, y, x) = m[size_t(y) * w + x];
    }
  Dev dp(p, half, channels_last), dq(p, half, channels_last);
  kernel_ok(cu::box_mean(dp.t, dq.t, r, nullptr), "box");
  cuda_ok(cudaDeviceSynchronize(), "sync");
  const double err = max_diff(dq.read(), ref);
  char what[200];
  std::snprintf(what, sizeof what, "box n%d c%d %dx%d r%d %s%s", n, c, h, w, r,
                half ? "fp16" : "fp32", channels_last ? " cl" : "");
  expect(err < (half ? 4e-3 : 1e-5), what, err);
}

template <class F>
double time_us(F f, int reps = 50) {
  for (int i = 0; i < 5; ++i) f();
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a);
  for (int i = 0; i < reps; ++i) f();
  cudaEventRecord(b);
  cuda_ok(cudaEventSynchronize(b), "time");
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  return 1000.0 * ms / reps;
}

void timings(bool half, bool channels_last) {
  const int h = 1080, w = 1920, r = 8;
  const float eps = 0.01f;
  const Host p = random_image(1, 3, h, w, 5);
  const Host gray = random_image(1, 1, h, w, 6);
  Dev dp(p, half, channels_last), dg(gray, half, channels_last), dq(p, half, channels_last);
  Host coef_shape(1, 12, h, w);
  Dev coef(coef_shape, false, false);
  cu::Tensor4 none;
  const char* tag =
      half ? (channels_last ? "fp16 cl" : "fp16") : (channels_last ? "fp32 cl" : "fp32");
  for (int colour = 0; colour < 2; ++colour) {
    const cu::Tensor4& g = colour ? dp.t : dg.t;
    cu::set_strip_tuning(0, 0);
    const double two = time_us([&] {
      kernel_ok(cu::guided_coefficients(dp.t, g, none, eps, r, colour, coef.t, nullptr), "c");
      kernel_ok(cu::guided_apply(coef.t, g, r, colour, dq.t, nullptr), "a");
    });
    std::printf("TIME guided %s %-7s two-pass sweep          %8.1f us\n",
                colour ? "colour" : "gray  ", tag, two);
    for (int c : {2, 4})
      for (int rows : {0, 32, 64, 128, 256}) {
        cu::set_strip_tuning(c, rows);
        if (!cu::guided_one_pass(r)) continue;
        const double one = time_us([&] {
          kernel_ok(cu::guided_filter(dp.t, g, none, eps, r, colour, dq.t, nullptr), "g");
        });
        std::printf("TIME guided %s %-7s strip C%d rows %-4d      %8.1f us\n",
                    colour ? "colour" : "gray  ", tag, c, rows, one);
      }
  }
  cu::set_strip_tuning(0, 0);
  std::printf("TIME box %-7s sweep                     %8.1f us\n", tag,
              time_us([&] { kernel_ok(cu::box_mean(dp.t, dq.t, r, nullptr), "b"); }));
  for (int c : {2, 4})
    for (int rows : {0, 32, 64, 128}) {
      cu::set_strip_tuning(c, rows);
      std::printf("TIME box %-7s strip C%d rows %-4d         %8.1f us\n", tag, c, rows,
                  time_us([&] { kernel_ok(cu::box_mean(dp.t, dq.t, r, nullptr), "b"); }));
    }
  cu::set_strip_tuning(4, 0);
}

}  // namespace

int main(int argc, char** argv) {
  const bool only_time = argc > 1 && std::string(argv[1]) == "--time";
  if (!only_time) {
    for (int c : {4, 2}) {
      cu::set_strip_tuning(c, 0);
      std::printf("-- strip C%d\n", c);
      const int radii[] = {1, 2, 5, 8};
      for (int r : radii) {
        check_box(2, 3, 37, 150, r, false, false);
        check_guided(2, 3, 37, 150, r, 1e-2, 1, false, false, true);
        check_guided(1, 3, 61, 90, r, 1e-3, 3, false, false, true);
        check_guided(1, 2, 45, 77, r, 1e-2, 0, false, false, true);
      }
      check_guided(1, 1, 1, 1, 1, 1e-2, 1, false, false, true);
      check_guided(1, 1, 3, 200, 2, 1e-2, 1, false, false, true);
      check_guided(1, 1, 200, 3, 2, 1e-2, 1, false, false, true);
      check_guided(1, 3, 150, 333, 8, 1e-2, 3, false, true, true);
      check_guided(1, 3, 150, 333, 8, 1e-2, 3, true, false, true);
      check_guided(1, 3, 150, 333, 3, 1e-2, 1, true, true, true);
      check_box(1, 3, 150, 333, 30, false, true);
      check_box(1, 1, 1, 1, 3, false, false);
      cu::set_strip_tuning(c, 16);
      check_guided(1, 3, 160, 100, 4, 1e-2, 3, false, false, true);
      check_guided(1, 3, 160, 100, 4, 1e-2, 1, false, false, true);
      if (c == 4) {
        cu::set_strip_tuning(c, 0);
        check_guided(1, 3, 120, 300, 20, 1e-2, 3, false, false, true);
        check_box(1, 2, 120, 300, 45, false, false);
      }
    }
    cu::set_strip_tuning(0, 0);
    std::printf("-- sweep\n");
    check_guided(1, 3, 61, 90, 5, 1e-3, 3, false, false, false);
    check_guided(2, 3, 37, 150, 5, 1e-2, 1, false, false, false);
    check_box(2, 3, 37, 150, 5, false, false);
    std::printf("%d failures\n", failures);
  }
  timings(false, false);
  timings(true, false);
  timings(true, true);
  return failures == 0 ? 0 : 1;
}
