// bwmorph(bw, 'thin', Inf): Lam, Lee & Suen, "Thinning methodologies — a comprehensive survey"
// (PAMI 1992), algorithm 1 (p. 879), the algorithm MATLAB documents for 'thin'.
#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

#include "boundary_detail.hpp"
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

// Neighbour k as a linear offset on a grid of the given stride.
std::array<int, 8> neighbour_offsets(int stride) {
  std::array<int, 8> off{};
  for (int k = 0; k < 8; ++k) off[k] = kDy[k] * stride + kDx[k];
  return off;
}

}  // namespace

namespace detail {

// Work lists: a pixel is re-examined in a subiteration only if its 3×3 neighbourhood changed
// since it was last examined in that subiteration (otherwise the parallel rule gives the same
// answer), so the result equals the full parallel sweep. The grid has a 1-pixel border of 0s.
Thinner::Thinner(int width, int height)
    : grid_(width, height, 1),
      neighbour_(neighbour_offsets(grid_.stride)),
      lut_(luts()),
      on_(grid_.size(), 0) {
  for (auto& q : queued_) q.assign(grid_.size(), 0);
}

void Thinner::thin(std::vector<int>& pixels) {
  grid_.positions(pixels, positions_);
  for (const int pos : positions_) on_[pos] = 1;
  for (const int pos : positions_) enqueue_both(pos);
  // 'thin' with n = Inf: repeat both subiterations until an iteration changes nothing. Both work
  // lists and all queued flags are empty again afterwards.
  for (;;) {
    const std::size_t a = subiteration(0);
    const std::size_t b = subiteration(1);
    if (a + b == 0) break;
  }
  std::size_t kept = 0;
  for (std::size_t k = 0; k < pixels.size(); ++k) {
    if (!on_[positions_[k]]) continue;
    on_[positions_[k]] = 0;
    pixels[kept++] = pixels[k];
  }
  pixels.resize(kept);
}

int Thinner::neighbour_code(int position) const {
  int code = 0;
  for (int k = 0; k < 8; ++k) code |= on_[position + neighbour_[k]] << k;
  return code;
}

void Thinner::enqueue_both(int position) {
  for (int s = 0; s < 2; ++s)
    if (!queued_[s][position]) {
      queued_[s][position] = 1;
      todo_[s].push_back(position);
    }
}

// One parallel subiteration; returns the number of deleted pixels.
std::size_t Thinner::subiteration(int sub) {
  current_.swap(todo_[sub]);
  todo_[sub].clear();
  removed_.clear();
  for (const int pos : current_) {
    queued_[sub][pos] = 0;
    if (on_[pos] && lut_[sub][neighbour_code(pos)]) removed_.push_back(pos);
  }
  for (const int pos : removed_) on_[pos] = 0;
  for (const int pos : removed_) mark_neighbours(pos);
  return removed_.size();
}

void Thinner::mark_neighbours(int position) {
  for (int k = 0; k < 8; ++k) {
    const int q = position + neighbour_[k];
    if (on_[q]) enqueue_both(q);
  }
}

}  // namespace detail

void thin(BinaryMap& map) {
  std::vector<int> pixels = detail::on_pixels(map);
  detail::Thinner(map.width, map.height).thin(pixels);
  std::fill(map.data.begin(), map.data.end(), 0);
  for (const int p : pixels) map.data[p] = 1;
}

}  // namespace strata::eval
