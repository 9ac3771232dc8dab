// bwmorph(bw, 'thin', Inf): Lam, Lee & Suen, "Thinning methodologies — a comprehensive survey"
// (PAMI 1992), algorithm 1 (p. 879), the algorithm MATLAB documents for 'thin'.
#include <array>
#include <cstddef>
#include <vector>

#include "strata/eval/boundary.hpp"

namespace strata::eval {

namespace {

// Neighbour k (x1..x8 of the paper: E, NE, N, NW, W, SW, S, SE; y grows downwards) is bit k-1.
constexpr std::array<int, 8> kDx = {1, 1, 0, -1, -1, -1, 0, 1};
constexpr std::array<int, 8> kDy = {0, -1, -1, -1, 0, 1, 1, 1};

// x_k for k = 1..9 (x9 = x1) from the neighbour code.
bool nb(int code, int k) { return ((code >> ((k - 1) % 8)) & 1) != 0; }

// G1: the crossing number X_H(p) = 1.
bool condition_g1(int c) {
  int xh = 0;
  for (int i = 1; i <= 4; ++i) xh += !nb(c, 2 * i - 1) && (nb(c, 2 * i) || nb(c, 2 * i + 1));
  return xh == 1;
}

// G2: 2 <= min(n1(p), n2(p)) <= 3.
bool condition_g2(int c) {
  int n1 = 0, n2 = 0;
  for (int k = 1; k <= 4; ++k) {
    n1 += nb(c, 2 * k - 1) || nb(c, 2 * k);
    n2 += nb(c, 2 * k) || nb(c, 2 * k + 1);
  }
  const int m = n1 < n2 ? n1 : n2;
  return m >= 2 && m <= 3;
}

// G3 (first subiteration): (x2 | x3 | !x8) & x1 == 0; G3' (second): (x6 | x7 | !x4) & x5 == 0.
bool condition_g3(int c, int sub) {
  if (sub == 0) return !((nb(c, 2) || nb(c, 3) || !nb(c, 8)) && nb(c, 1));
  return !((nb(c, 6) || nb(c, 7) || !nb(c, 4)) && nb(c, 5));
}

using Lut = std::array<std::array<std::uint8_t, 256>, 2>;

// Deletion tables for both subiterations, indexed by the neighbour code.
Lut make_luts() {
  Lut lut{};
  for (int sub = 0; sub < 2; ++sub)
    for (int c = 0; c < 256; ++c)
      lut[sub][c] = condition_g1(c) && condition_g2(c) && condition_g3(c, sub);
  return lut;
}

const Lut& luts() {
  static const Lut lut = make_luts();
  return lut;
}

int neighbour_code(const BinaryMap& m, int x, int y) {
  int code = 0;
  for (int k = 0; k < 8; ++k) {
    const int u = x + kDx[k], v = y + kDy[k];
    if (u >= 0 && v >= 0 && u < m.width && v < m.height && m.at(u, v)) code |= 1 << k;
  }
  return code;
}

// Work lists: a pixel is re-examined in a subiteration only if its 3×3 neighbourhood changed
// since it was last examined in that subiteration (otherwise the parallel rule gives the same
// answer), so the result equals the full parallel sweep.
struct Thinner {
  BinaryMap& map;
  std::array<std::vector<int>, 2> todo;
  std::array<std::vector<std::uint8_t>, 2> queued;

  explicit Thinner(BinaryMap& m) : map(m) {
    for (int s = 0; s < 2; ++s) queued[s].assign(m.data.size(), 0);
    for (std::size_t i = 0; i < m.data.size(); ++i)
      if (m.data[i]) enqueue_both(static_cast<int>(i));
  }

  void enqueue_both(int i) {
    for (int s = 0; s < 2; ++s)
      if (!queued[s][i]) {
        queued[s][i] = 1;
        todo[s].push_back(i);
      }
  }

  // One parallel subiteration; returns the number of deleted pixels.
  std::size_t subiteration(int sub) {
    std::vector<int> list;
    list.swap(todo[sub]);
    std::vector<int> removed;
    for (const int i : list) {
      queued[sub][i] = 0;
      if (!map.data[i]) continue;
      const int x = i % map.width, y = i / map.width;
      if (luts()[sub][neighbour_code(map, x, y)]) removed.push_back(i);
    }
    for (const int i : removed) map.data[i] = 0;
    for (const int i : removed) mark_neighbours(i);
    return removed.size();
  }

  void mark_neighbours(int i) {
    const int x = i % map.width, y = i / map.width;
    for (int k = 0; k < 8; ++k) {
      const int u = x + kDx[k], v = y + kDy[k];
      if (u >= 0 && v >= 0 && u < map.width && v < map.height && map.at(u, v))
        enqueue_both(v * map.width + u);
    }
  }
};

}  // namespace

void thin(BinaryMap& map) {
  Thinner t(map);
  // 'thin' with n = Inf: repeat both subiterations until an iteration changes nothing.
  for (;;) {
    const std::size_t a = t.subiteration(0);
    const std::size_t b = t.subiteration(1);
    if (a + b == 0) break;
  }
}

}  // namespace strata::eval
