// Fused CUDA kernels of the box-window filters: an Op per filter stage, run by the tile (tile.cuh)
// for small radii and by the sweep (sweep.cuh) otherwise.
#include <atomic>

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
  const int rows = schedule.load() == Schedule::Sweep ? 0 : tile_rows<Op>(r);
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
  static constexpr int R = 1, K = 1, kColumnsPerThread = 1;
  View<const T> in;
  View<T> out;
  int channels;

  __device__ Slice slice(int z) const { return {z / channels, z % channels}; }
  __device__ void raw(const Slice& s, int y, int x, float (&v)[R]) const {
    v[0] = in.get(s.n, s.c, y, x);
  }
  __device__ static void quantities(const float (&v)[R], float (&q)[K]) { q[0] = v[0]; }
  __device__ void emit(const Slice& s, int y, int x, const float (&m)[K]) const {
    out.set(s.n, s.c, y, x, m[0]);
  }
};

// ---- guided filter, gray model: one slice per (image, channel) ---------------------------------

template <class T>
struct GrayCoefficientsOp {
  static constexpr int R = 2, K = 4, kColumnsPerThread = 1;  // raw I, p; I, I², p, I·p
  View<const T> p, g;
  View<const float> reg;
  float eps;
  View<float> coef;
  int channels, guide_channels, reg_channels;

  __device__ int guide_channel(int c) const { return guide_channels == 1 ? 0 : c; }

  __device__ Slice slice(int z) const { return {z / channels, z % channels}; }
  __device__ void raw(const Slice& s, int y, int x, float (&v)[R]) const {
    v[0] = g.get(s.n, guide_channel(s.c), y, x);
    v[1] = p.get(s.n, s.c, y, x);
  }
  __device__ static void quantities(const float (&v)[R], float (&q)[K]) {
    q[0] = v[0];
    q[1] = v[0] * v[0];
    q[2] = v[1];
    q[3] = v[0] * v[1];
  }
  __device__ void emit(const Slice& s, int y, int x, const float (&m)[K]) const {
    const int n = s.n, c = s.c;
    const float var = m[1] - m[0] * m[0], cov = m[3] - m[0] * m[2];
    const float e = reg.data ? reg.get(n, reg_channels == 1 ? 0 : guide_channel(c), y, x) : eps;
    const float a = __fdividef(cov, var + e);  // He et al. Eq. 5
    coef.set(n, 2 * c, y, x, a);
    coef.set(n, 2 * c + 1, y, x, m[2] - a * m[0]);  // Eq. 6
  }
};

// ---- guided filter, colour model: one slice per (image, block of B input channels) --------------

template <class T, int B>
struct ColourCoefficientsOp {
  // I_0..2, the 6 products I_i I_j (i <= j), then per input channel p and I_0..2 · p
  static constexpr int R = 3 + B, K = 9 + 4 * B, kColumnsPerThread = 1;  // raw I_0..2, p_0..B-1
  View<const T> p, g;
  View<const float> reg;
  float eps;
  View<float> coef;
  int blocks;

  __device__ Slice slice(int z) const { return {z / blocks, (z % blocks) * B}; }
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
  __device__ void emit(const Slice& s, int y, int x, const float (&m)[K]) const {
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
      const int c = 4 * (c0 + j);
      coef.set(n, c, y, x, a0);
      coef.set(n, c + 1, y, x, a1);
      coef.set(n, c + 2, y, x, a2);
      coef.set(n, c + 3, y, x, mp - a0 * m[0] - a1 * m[1] - a2 * m[2]);
    }
  }
};

// ---- q = Σ_k ā_k I_k + b̄: one slice per (image, channel); G guide channels in the model -------

template <class T, int G>
struct ApplyOp {
  static constexpr int R = G + 1, K = G + 1, kColumnsPerThread = 1;
  View<const float> coef;
  View<const T> g;
  View<T> q;
  int channels, guide_channels;

  __device__ Slice slice(int z) const { return {z / channels, z % channels}; }
  __device__ void raw(const Slice& s, int y, int x, float (&v)[R]) const {
#pragma unroll
    for (int k = 0; k < K; ++k) v[k] = coef.get(s.n, K * s.c + k, y, x);
  }
  __device__ static void quantities(const float (&v)[R], float (&q)[K]) {
#pragma unroll
    for (int k = 0; k < K; ++k) q[k] = v[k];
  }
  __device__ void emit(const Slice& s, int y, int x, const float (&m)[K]) const {
    const int n = s.n, c = s.c;
    float out = m[G];
#pragma unroll
    for (int k = 0; k < G; ++k) {
      const int gc = G == 3 ? k : (guide_channels == 1 ? 0 : c);
      out = fmaf(m[k], g.get(n, gc, y, x), out);
    }
    q.set(n, c, y, x, out);
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
    const GrayCoefficientsOp<T> op{
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
