// Fused CUDA kernels of the box-window filters: an Op per filter stage, run by the tile (tile.cuh)
// for small radii and by the sweep (sweep.cuh) otherwise.
#include <atomic>
#include <type_traits>

#include "kernels.hpp"
#include "sweep.cuh"
#include "tile.cuh"

namespace strata::filter::cuda {

namespace {

std::atomic<Schedule> schedule{Schedule::Auto};

/// Runs op over `slices` slices of height × width by the tile when it takes radius r (and the
/// schedule allows), else by the sweep.
template <class Op>
const char* run(const Op& op, int slices, int height, int width, int r, cudaStream_t s) {
  const int rows =
      schedule.load() == Schedule::Sweep ? 0 : tile_rows<Op>(r, max_block_shared_memory());
  if (rows > 0) return tile(op, slices, height, width, r, rows, s);
  return sweep(op, slices, height, width, r, s);
}

template <class T>
View<T> view(const Tensor4& t) {  // strides fit in int: checked by the caller (fused.cpp)
  return {static_cast<T*>(t.data), static_cast<int>(t.stride[0]), static_cast<int>(t.stride[1]),
          static_cast<int>(t.stride[2]), static_cast<int>(t.stride[3])};
}

int dim(const Tensor4& t, int i) { return static_cast<int>(t.size[i]); }

// ---- box mean ----------------------------------------------------------------------------------

template <class T>
struct BoxOp {
  static constexpr int R = 1, K = 1, kColumnsPerThread = 1, kRun = 16;
  static constexpr bool kAsync = std::is_same_v<T, float>;
  static constexpr int kCenter = 0;
  static constexpr bool kRecentFirst = false;
  static constexpr bool kPacked = false;
  static constexpr bool kInterleaved = false;
  View<const T> in;
  View<T> out;
  int channels;

  __device__ Slice slice(int z) const { return {z / channels, z % channels}; }
  __device__ const T* address(const Slice& s, int, int y, int x) const {
    return in.at(s.n, s.c, y, x);
  }
  __device__ void raw(const Slice& s, int y, int x, float (&v)[R]) const {
    v[0] = in.get(s.n, s.c, y, x);
  }
  __device__ static void quantities(const float (&v)[R], float (&q)[K]) { q[0] = v[0]; }
  __device__ void emit(const Slice& s, int y, int x, const float (&m)[K],
                       const float (&)[R]) const {
    out.set(s.n, s.c, y, x, m[0]);
  }
};

// ---- guided filter, gray model: one slice per (image, block of B input channels) ----------------
// B > 1 only with a one-channel guide, whose quantities the B channels then share.

template <class T, int B>
struct GrayCoefficientsOp {
  // raw I, p_0..B-1; quantities I, I², then p_j and I·p_j per input channel
  static constexpr int R = 1 + B, K = 2 + 2 * B, kColumnsPerThread = 1;
  static constexpr int kRun = 16;  // 8: 55.4 → 57.0 µs (1080p, r 8, H100)
  static constexpr bool kAsync = std::is_same_v<T, float>;
  static constexpr int kCenter = 0;
  static constexpr bool kRecentFirst = false;
  static constexpr bool kPacked = false;
  // A half image's four raw values side by side: one 16-byte shared store and load per pixel
  // (1080p, r 8, H100: 59.9 → 57.4 µs); for float32 the four 4-byte cp.async copies into one
  // 16 bytes conflict in shared memory (55.4 → 57.4 µs).
  static constexpr bool kInterleaved = B == 3 && !kAsync;
  View<const T> p, g;
  View<const float> reg;
  float eps;
  View<float> coef;
  int blocks, guide_channels, reg_channels;

  __device__ int guide_channel(int c) const { return guide_channels == 1 ? 0 : c; }

  __device__ Slice slice(int z) const { return {z / blocks, (z % blocks) * B}; }
  __device__ const T* address(const Slice& s, int k, int y, int x) const {
    return k == 0 ? g.at(s.n, guide_channel(s.c), y, x) : p.at(s.n, s.c + k - 1, y, x);
  }
  __device__ void raw(const Slice& s, int y, int x, float (&v)[R]) const {
    v[0] = g.get(s.n, guide_channel(s.c), y, x);
#pragma unroll
    for (int j = 0; j < B; ++j) v[1 + j] = p.get(s.n, s.c + j, y, x);
  }
  __device__ static void quantities(const float (&v)[R], float (&q)[K]) {
    q[0] = v[0];
    q[1] = v[0] * v[0];
#pragma unroll
    for (int j = 0; j < B; ++j) {
      q[2 + j] = v[1 + j];
      q[2 + B + j] = v[0] * v[1 + j];
    }
  }
  __device__ void emit(const Slice& s, int y, int x, const float (&m)[K],
                       const float (&)[R]) const {
    const int n = s.n, c0 = s.c;
    const float e = reg.data ? reg.get(n, reg_channels == 1 ? 0 : guide_channel(c0), y, x) : eps;
    const float inv = __fdividef(1.f, m[1] - m[0] * m[0] + e);
#pragma unroll
    for (int j = 0; j < B; ++j) {
      const float a = (m[2 + B + j] - m[0] * m[2 + j]) * inv;  // He et al. Eq. 5
      *reinterpret_cast<float2*>(coef.at(n, c0 + j, y, x)) = {a, m[2 + j] - a * m[0]};  // Eq. 6
    }
  }
};

// ---- guided filter, colour model: one slice per (image, block of B input channels) --------------

template <class T, int B>
struct ColourCoefficientsOp {
  // I_0..2, the 6 products I_i I_j (i <= j), then per input channel p and I_0..2 · p
  static constexpr int R = 3 + B, K = 9 + 4 * B, kColumnsPerThread = 1;  // raw I_0..2, p_0..B-1
  static constexpr int kRun = 8;  // 16: 128.2 → 131.2 µs (1080p, r 8, H100)
  static constexpr bool kAsync = std::is_same_v<T, float>;
  static constexpr int kCenter = 0;
  static constexpr bool kRecentFirst = false;
  static constexpr bool kPacked = false;
  static constexpr bool kInterleaved = false;
  View<const T> p, g;
  View<const float> reg;
  float eps;
  View<float> coef;
  int blocks;

  __device__ Slice slice(int z) const { return {z / blocks, (z % blocks) * B}; }
  __device__ const T* address(const Slice& s, int k, int y, int x) const {
    return k < 3 ? g.at(s.n, k, y, x) : p.at(s.n, s.c + k - 3, y, x);
  }
  __device__ void raw(const Slice& s, int y, int x, float (&v)[R]) const {
#pragma unroll
    for (int k = 0; k < 3; ++k) v[k] = g.get(s.n, k, y, x);
#pragma unroll
    for (int j = 0; j < B; ++j) v[3 + j] = p.get(s.n, s.c + j, y, x);
  }
  __device__ static void quantities(const float (&v)[R], float (&q)[K]) {
    const float i0 = v[0], i1 = v[1], i2 = v[2];
    q[0] = i0;
    q[1] = i1;
    q[2] = i2;
    q[3] = i0 * i0;
    q[4] = i0 * i1;
    q[5] = i0 * i2;
    q[6] = i1 * i1;
    q[7] = i1 * i2;
    q[8] = i2 * i2;
#pragma unroll
    for (int j = 0; j < B; ++j) {
      const float pj = v[3 + j];
      q[9 + j] = pj;
      q[9 + B + 3 * j] = i0 * pj;
      q[9 + B + 3 * j + 1] = i1 * pj;
      q[9 + B + 3 * j + 2] = i2 * pj;
    }
  }

  // a = (Σ + reg·U)⁻¹ cov (He et al. Eq. 14) with the symmetric inverse adj(Σ) / det(Σ),
  // b = mean(p) − a · mean(I) (Eq. 15).
  __device__ void emit(const Slice& s, int y, int x, const float (&m)[K],
                       const float (&)[R]) const {
    const int n = s.n, c0 = s.c;
    const float e = reg.data ? reg.get(n, 0, y, x) : eps;
    const float s00 = m[3] - m[0] * m[0] + e, s01 = m[4] - m[0] * m[1], s02 = m[5] - m[0] * m[2];
    const float s11 = m[6] - m[1] * m[1] + e, s12 = m[7] - m[1] * m[2],
                s22 = m[8] - m[2] * m[2] + e;
    const float c00 = s11 * s22 - s12 * s12, c01 = s02 * s12 - s01 * s22,
                c02 = s01 * s12 - s02 * s11, c11 = s00 * s22 - s02 * s02,
                c12 = s01 * s02 - s00 * s12, c22 = s00 * s11 - s01 * s01;
    const float inv_det = 1.f / (s00 * c00 + s01 * c01 + s02 * c02);
#pragma unroll
    for (int j = 0; j < B; ++j) {
      const float mp = m[9 + j];
      const float v0 = m[9 + B + 3 * j] - m[0] * mp, v1 = m[9 + B + 3 * j + 1] - m[1] * mp,
                  v2 = m[9 + B + 3 * j + 2] - m[2] * mp;
      const float a0 = (v0 * c00 + v1 * c01 + v2 * c02) * inv_det;
      const float a1 = (v0 * c01 + v1 * c11 + v2 * c12) * inv_det;
      const float a2 = (v0 * c02 + v1 * c12 + v2 * c22) * inv_det;
      *reinterpret_cast<float4*>(coef.at(n, c0 + j, y, x)) = {
          a0, a1, a2, mp - a0 * m[0] - a1 * m[1] - a2 * m[2]};
    }
  }
};

// ---- q = Σ_k ā_k I_k + b̄: one slice per (image, channel); G guide channels in the model -------

template <class T, int G>
struct ApplyOp {
  // raw: the K = G + 1 coefficients (averaged), then the G guide values (for the epilogue only)
  static constexpr int K = G + 1, R = K + G, kColumnsPerThread = 1;
  // 1080p, r 8, H100, 8 against 16 columns: gray 52.0 against 47.6 µs, colour 96.9 against 99.3
  static constexpr int kRun = G == 3 ? 8 : 16;
  static constexpr bool kAsync = true;  // the coefficients are float32 whatever T
  static constexpr bool kAsyncCenter = std::is_same_v<T, float>;
  static constexpr int kCenter = G;           // the guide, staged for the tile's own pixels only
  static constexpr bool kRecentFirst = true;  // reads the coefficients just written
  static constexpr bool kPacked = true;       // a pixel's K coefficients side by side
  static constexpr bool kInterleaved = true;
  View<const float> coef;
  View<const T> g;
  View<T> q;
  int channels, guide_channels;

  __device__ Slice slice(int z) const { return {z / channels, z % channels}; }
  __device__ int guide_channel(int c, int k) const {
    return G == 3 ? k : (guide_channels == 1 ? 0 : c);
  }
  __device__ const float* address(const Slice& s, int k, int y, int x) const {  // guide: T = float
    return k < K ? coef.at(s.n, s.c, y, x) + k
                 : reinterpret_cast<const float*>(g.at(s.n, guide_channel(s.c, k - K), y, x));
  }
  __device__ float center_value(const Slice& s, int k, int y, int x) const {
    return g.get(s.n, guide_channel(s.c, k - K), y, x);
  }
  __device__ void raw(const Slice& s, int y, int x, float (&v)[R]) const {
#pragma unroll
    for (int k = 0; k < K; ++k) v[k] = coef.at(s.n, s.c, y, x)[k];
#pragma unroll
    for (int k = 0; k < G; ++k) v[K + k] = g.get(s.n, guide_channel(s.c, k), y, x);
  }
  __device__ static void quantities(const float (&v)[R], float (&q)[K]) {
#pragma unroll
    for (int k = 0; k < K; ++k) q[k] = v[k];
  }
  __device__ void emit(const Slice& s, int y, int x, const float (&m)[K],
                       const float (&center)[R]) const {
    float out = m[G];
#pragma unroll
    for (int k = 0; k < G; ++k) out = fmaf(m[k], center[K + k], out);
    q.set(s.n, s.c, y, x, out);
  }
};

template <class T>
const char* box_typed(const Tensor4& in, const Tensor4& out, int r, cudaStream_t s) {
  const BoxOp<T> op{view<const T>(in), view<T>(out), dim(in, 1)};
  return run(op, dim(in, 0) * dim(in, 1), dim(in, 2), dim(in, 3), r, s);
}

template <class T>
const char* coefficients_typed(const Tensor4& p, const Tensor4& g, const Tensor4& reg, float eps,
                               int r, bool colour, const Tensor4& coef, cudaStream_t s) {
  const int n = dim(p, 0), c = dim(p, 1), h = dim(p, 2), w = dim(p, 3);
  if (!colour) {
    // Three channels per slice share a one-channel guide's quantities (8 instead of 12; measured
    // 59 against 67 µs at 1080p on an H100).
    if (dim(g, 1) == 1 && c % 3 == 0) {
      const GrayCoefficientsOp<T, 3> op{view<const T>(p),
                                        view<const T>(g),
                                        view<const float>(reg),
                                        eps,
                                        view<float>(coef),
                                        c / 3,
                                        1,
                                        dim(reg, 1)};
      return run(op, n * (c / 3), h, w, r, s);
    }
    const GrayCoefficientsOp<T, 1> op{
        view<const T>(p), view<const T>(g), view<const float>(reg), eps, view<float>(coef), c,
        dim(g, 1),        dim(reg, 1)};
    return run(op, n * c, h, w, r, s);
  }
  // Three input channels per slice share the guide's quantities (measured faster in the sweep
  // than one channel per slice in the tile).
  if (c % 3 == 0) {
    const ColourCoefficientsOp<T, 3> op{
        view<const T>(p), view<const T>(g), view<const float>(reg), eps, view<float>(coef), c / 3};
    return run(op, n * (c / 3), h, w, r, s);
  }
  const ColourCoefficientsOp<T, 1> op{
      view<const T>(p), view<const T>(g), view<const float>(reg), eps, view<float>(coef), c};
  return run(op, n * c, h, w, r, s);
}

template <class T>
const char* apply_typed(const Tensor4& coef, const Tensor4& g, int r, bool colour, const Tensor4& q,
                        cudaStream_t s) {
  const int n = dim(q, 0), c = dim(q, 1), h = dim(q, 2), w = dim(q, 3);
  if (colour) {
    const ApplyOp<T, 3> op{view<const float>(coef), view<const T>(g), view<T>(q), c, dim(g, 1)};
    return run(op, n * c, h, w, r, s);
  }
  const ApplyOp<T, 1> op{view<const float>(coef), view<const T>(g), view<T>(q), c, dim(g, 1)};
  return run(op, n * c, h, w, r, s);
}

cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

}  // namespace

void set_schedule(Schedule s) { schedule = s; }

const char* box_mean(const Tensor4& in, const Tensor4& out, int radius, void* stream) {
  return in.scalar == Scalar::Float16 ? box_typed<__half>(in, out, radius, as_stream(stream))
                                      : box_typed<float>(in, out, radius, as_stream(stream));
}

const char* guided_coefficients(const Tensor4& p, const Tensor4& g, const Tensor4& reg, float eps,
                                int radius, bool colour, const Tensor4& coef, void* stream) {
  return p.scalar == Scalar::Float16
             ? coefficients_typed<__half>(p, g, reg, eps, radius, colour, coef, as_stream(stream))
             : coefficients_typed<float>(p, g, reg, eps, radius, colour, coef, as_stream(stream));
}

const char* guided_apply(const Tensor4& coef, const Tensor4& g, int radius, bool colour,
                         const Tensor4& q, void* stream) {
  return q.scalar == Scalar::Float16
             ? apply_typed<__half>(coef, g, radius, colour, q, as_stream(stream))
             : apply_typed<float>(coef, g, radius, colour, q, as_stream(stream));
}

}  // namespace strata::filter::cuda
