// Internal: the reusable parts of the boundary benchmark (boundary.cpp, correspond.cpp,
// thinning.cpp). Boundary pixels live on a grid padded on every side, so that neighbourhood and
// window lookups need no bounds checks, and every buffer is kept from one threshold (or one
// annotator) to the next instead of being allocated per call.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "strata/eval/boundary.hpp"

namespace strata::eval::detail {

/// A width × height map with a border of `pad` pixels on every side: pixel i = y·width + x of
/// the map is at position (y + pad)·stride + x + pad.
struct PaddedGrid {
  int width = 0, height = 0, pad = 0, stride = 0;

  PaddedGrid() = default;
  PaddedGrid(int w, int h, int p) : width(w), height(h), pad(p), stride(w + 2 * p) {}
  std::size_t size() const { return static_cast<std::size_t>(stride) * (height + 2 * pad); }
  /// The positions of map pixels (one division per row for increasing pixels).
  void positions(const std::vector<int>& pixels, std::vector<int>& out) const {
    out.resize(pixels.size());
    int row = 0, row_start = 0;
    for (std::size_t k = 0; k < pixels.size(); ++k) {
      const int p = pixels[k];
      if (p < row_start || p >= row_start + width) {
        row = p / width;
        row_start = row * width;
      }
      out[k] = (row + pad) * stride + p - row_start + pad;
    }
  }
};

/// The indices of the on pixels of a map, increasing.
std::vector<int> on_pixels(const BinaryMap& map);

/// The matcher's candidate offsets: every (dx, dy) with dx² + dy² <= max_dist², dy then dx
/// ascending (the order of Berkeley's matchEdgeMaps), as linear offsets on `grid`, with their
/// costs round(100 × distance).
struct Window {
  std::vector<int> offset, cost;
};

/// Half-width of the window: ceil(max_dist) (the pad a grid needs for it).
int window_radius(double max_dist);
Window make_window(double max_dist, const PaddedGrid& grid);

/// The on pixels of a boundary map as matching vertices: vertex k is the k-th pixel in raster
/// order, and id() gives the vertex at a grid position (-1 elsewhere, borders included).
class PixelSet {
 public:
  explicit PixelSet(const PaddedGrid& grid);
  /// Replaces the pixels: map indices, increasing.
  void assign(const std::vector<int>& pixels);
  int size() const { return static_cast<int>(positions_.size()); }
  const std::vector<int>& pixels() const { return pixels_; }
  const std::vector<int>& positions() const { return positions_; }
  int id(int position) const { return id_[static_cast<std::size_t>(position)]; }

 private:
  PaddedGrid grid_;
  std::vector<int> pixels_, positions_, id_;
};

/// correspondPixels on two pixel sets of one grid: a one-to-one matching within the window, of
/// maximum cardinality and minimum total cost (correspond.cpp). Buffers are reused by later calls.
class PixelMatcher {
 public:
  PixelMatcher();
  ~PixelMatcher();
  PixelMatcher(const PixelMatcher&) = delete;
  PixelMatcher& operator=(const PixelMatcher&) = delete;

  /// Matches `left` (the side the searches start from) with `right`.
  void match(const PixelSet& left, const PixelSet& right, const Window& window);
  /// After match(): the right vertex of left vertex u, or -1.
  const std::vector<int>& mates() const;
  long count() const;
  long cost() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// bwmorph(…, 'thin', Inf) for maps of one size with buffers reused (thinning.cpp).
class Thinner {
 public:
  Thinner(int width, int height);
  /// `pixels`: the on pixels (map indices, increasing); left holding the pixels that remain.
  void thin(std::vector<int>& pixels);

 private:
  int neighbour_code(int position) const;
  void enqueue_both(int position);
  void mark_neighbours(int position);
  std::size_t subiteration(int sub);

  PaddedGrid grid_;
  std::array<int, 8> neighbour_;  // neighbour k (thinning.cpp) as a position offset
  const std::array<std::array<std::uint8_t, 256>, 2>& lut_;  // deletion tables per subiteration
  std::vector<std::uint8_t> on_;
  std::vector<std::uint8_t> queued_[2];
  std::vector<int> positions_, todo_[2], current_, removed_;
};

}  // namespace strata::eval::detail
