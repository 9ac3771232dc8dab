// correspondPixels of the BSDS benchmark: one-to-one matching of boundary pixels within a distance
// tolerance. Berkeley solves it as a min-cost perfect assignment with expensive outlier edges,
// which amounts to a maximum-cardinality matching of minimum total (rounded) distance; we solve
// that directly with a primal-dual successive-shortest-path method on the sparse pixel graph.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/eval/boundary.hpp"

namespace strata::eval {

namespace {

constexpr long kInf = std::numeric_limits<long>::max() / 4;

// Sparse bipartite graph: left vertices 0..nl-1 (map 1 pixels), right 0..nr-1 (map 2 pixels).
struct Graph {
  int nl = 0, nr = 0;
  std::vector<int> first;  // CSR offsets per left vertex (nl + 1)
  std::vector<int> to;     // right vertex per edge
  std::vector<int> cost;   // round(100 × distance) per edge
};

struct Offset {
  int dx, dy, cost;
};

// The window of the matcher: integer offsets with dx² + dy² <= max_dist², cost = rint(100 d).
std::vector<Offset> window(double max_dist) {
  const int r = static_cast<int>(std::ceil(max_dist));
  std::vector<Offset> out;
  for (int dy = -r; dy <= r; ++dy)
    for (int dx = -r; dx <= r; ++dx) {
      const double d2 = dx * dx + dy * dy;
      if (d2 > max_dist * max_dist) continue;
      out.push_back({dx, dy, static_cast<int>(std::nearbyint(std::sqrt(d2) * 100.0))});
    }
  return out;
}

// Pixel index -> vertex id (-1 for background).
std::vector<int> vertex_ids(const BinaryMap& m, std::vector<int>& pixels) {
  std::vector<int> id(m.data.size(), -1);
  for (std::size_t i = 0; i < m.data.size(); ++i)
    if (m.data[i]) {
      id[i] = static_cast<int>(pixels.size());
      pixels.push_back(static_cast<int>(i));
    }
  return id;
}

Graph build_graph(const BinaryMap& a, const std::vector<int>& pix_a, const BinaryMap& b,
                  const std::vector<int>& id_b, int nr, const std::vector<Offset>& win) {
  Graph g;
  g.nl = static_cast<int>(pix_a.size());
  g.nr = nr;
  g.first.reserve(g.nl + 1);
  g.first.push_back(0);
  for (const int p : pix_a) {
    const int x = p % a.width, y = p / a.width;
    for (const Offset& o : win) {
      const int u = x + o.dx, v = y + o.dy;
      if (u < 0 || v < 0 || u >= b.width || v >= b.height) continue;
      const int j = id_b[static_cast<std::size_t>(v) * b.width + u];
      if (j < 0) continue;
      g.to.push_back(j);
      g.cost.push_back(o.cost);
    }
    g.first.push_back(static_cast<int>(g.to.size()));
  }
  return g;
}

int find_root(std::vector<int>& parent, int x) {
  while (parent[x] != x) x = parent[x] = parent[parent[x]];
  return x;
}

// Left vertices grouped by connected component (isolated ones dropped), as CSR: the lefts of
// component c are order[start[c] .. start[c + 1]).
struct Components {
  std::vector<int> order, start;
};

Components components(const Graph& g) {
  std::vector<int> parent(g.nl + g.nr);
  std::iota(parent.begin(), parent.end(), 0);
  for (int u = 0; u < g.nl; ++u)
    for (int e = g.first[u]; e < g.first[u + 1]; ++e)
      parent[find_root(parent, u)] = find_root(parent, g.nl + g.to[e]);
  std::vector<int> slot(g.nl + g.nr, -1), comp_of(g.nl, -1), size;
  for (int u = 0; u < g.nl; ++u) {
    if (g.first[u] == g.first[u + 1]) continue;
    const int r = find_root(parent, u);
    if (slot[r] < 0) {
      slot[r] = static_cast<int>(size.size());
      size.push_back(0);
    }
    comp_of[u] = slot[r];
    ++size[slot[r]];
  }
  Components c;
  c.start.assign(size.size() + 1, 0);
  for (std::size_t i = 0; i < size.size(); ++i) c.start[i + 1] = c.start[i] + size[i];
  c.order.resize(c.start.back());
  std::vector<int> fill(c.start.begin(), c.start.end() - 1);
  for (int u = 0; u < g.nl; ++u)
    if (comp_of[u] >= 0) c.order[fill[comp_of[u]]++] = u;
  return c;
}

// Min-cost maximum-cardinality matching. Each phase: a Dijkstra on reduced costs from all free
// left vertices, stopped at the distance D of the nearest free right vertex; potentials moved so
// that every shortest augmenting path has reduced cost 0; then a set of vertex-disjoint
// zero-cost augmenting paths is augmented (Hungarian method with several augmentations per
// phase). Vertex x < nl is left vertex x, x >= nl is right vertex x - nl.
class Matcher {
 public:
  explicit Matcher(const Graph& g)
      : g_(g),
        mate_l_(g.nl, -1),
        mate_r_(g.nr, -1),
        mate_cost_(g.nr, 0),
        pot_(g.nl + g.nr, 0),
        dist_(g.nl + g.nr, kInf),
        done_(g.nl + g.nr, 0),
        seen_(g.nr, 0),
        it_(g.nl, 0) {}

  // Solves the component whose left vertices are [begin, end).
  void solve(const int* begin, const int* end) {
    if (end - begin == 1) return match_single_left(*begin);
    if (match_single_right(begin, end)) return;
    std::vector<int>& free_left = free_;
    free_left.assign(begin, end);
    for (;;) {
      const long d = shortest_paths(free_left);
      if (d < 0) break;
      for (const int x : popped_) pot_[x] += dist_[x] - d;
      augment(free_left);
      reset_phase();
    }
    reset_phase();
  }

  const std::vector<int>& mate_left() const { return mate_l_; }
  const std::vector<int>& mate_right() const { return mate_r_; }
  long total_cost() const {
    long c = 0;
    for (int v = 0; v < g_.nr; ++v)
      if (mate_r_[v] >= 0) c += mate_cost_[v];
    return c;
  }

 private:
  void set_mate(int u, int v, int cost) {
    mate_l_[u] = v;
    mate_r_[v] = u;
    mate_cost_[v] = cost;
  }

  // One left vertex: its cheapest edge (the first one on ties).
  void match_single_left(int u) {
    int best = g_.first[u];
    for (int e = g_.first[u] + 1; e < g_.first[u + 1]; ++e)
      if (g_.cost[e] < g_.cost[best]) best = e;
    set_mate(u, g_.to[best], g_.cost[best]);
  }

  // One right vertex: the cheapest left (the first one on ties). False if several rights.
  bool match_single_right(const int* begin, const int* end) {
    const int v = g_.to[g_.first[*begin]];
    int best_u = -1, best_cost = 0;
    for (const int* p = begin; p != end; ++p)
      for (int e = g_.first[*p]; e < g_.first[*p + 1]; ++e) {
        if (g_.to[e] != v) return false;
        if (best_u < 0 || g_.cost[e] < best_cost) {
          best_u = *p;
          best_cost = g_.cost[e];
        }
      }
    set_mate(best_u, v, best_cost);
    return true;
  }

  // Heap entries pack (distance << 32 | vertex): distances stay far below 2^31 (pixel paths).
  void relax(int y, long d) {
    if (d >= dist_[y]) return;
    check(d < (long{1} << 31), "", "matching distances overflow");
    if (dist_[y] == kInf) touched_.push_back(y);
    dist_[y] = d;
    heap_.push_back(static_cast<std::uint64_t>(d) << 32 | static_cast<std::uint32_t>(y));
    std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
  }

  // Dijkstra from the free left vertices; returns D (or -1 if no free right is reachable).
  long shortest_paths(const std::vector<int>& free_left) {
    heap_.clear();
    for (const int u : free_left) relax(u, 0);
    long D = -1;
    while (!heap_.empty()) {
      const long d = static_cast<long>(heap_.front() >> 32);
      const int x = static_cast<int>(heap_.front() & 0xffffffffu);
      if (D >= 0 && d > D) break;
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
      heap_.pop_back();
      if (done_[x] || d > dist_[x]) continue;
      done_[x] = 1;
      popped_.push_back(x);
      if (x < g_.nl) {
        for (int e = g_.first[x]; e < g_.first[x + 1]; ++e) {
          const int v = g_.to[e];
          if (v == mate_l_[x]) continue;
          relax(g_.nl + v, d + g_.cost[e] + pot_[x] - pot_[g_.nl + v]);
        }
      } else {
        const int v = x - g_.nl, u = mate_r_[v];
        if (u < 0) {
          if (D < 0) D = d;
          continue;
        }
        relax(u, d - mate_cost_[v] + pot_[x] - pot_[u]);
      }
    }
    return D;
  }

  bool admissible(int u, int e) const {
    const int v = g_.to[e], y = g_.nl + v;
    return v != mate_l_[u] && !seen_[v] && done_[y] && g_.cost[e] + pot_[u] - pot_[y] == 0;
  }

  // Depth-first search for zero-reduced-cost augmenting paths from each free left vertex.
  void augment(std::vector<int>& free_left) {
    std::size_t kept = 0;
    for (const int s : free_left)
      if (!augment_from(s)) free_left[kept++] = s;
    free_left.resize(kept);
  }

  bool augment_from(int s) {
    std::vector<int>&lefts = lefts_, &rights = rights_, &costs = costs_;
    lefts.assign(1, s);
    rights.clear();
    costs.clear();
    it_[s] = g_.first[s];
    while (!lefts.empty()) {
      const int u = lefts.back();
      bool advanced = false;
      while (it_[u] < g_.first[u + 1]) {
        const int e = it_[u]++;
        if (!admissible(u, e)) continue;
        const int v = g_.to[e];
        seen_[v] = 1;
        rights.push_back(v);
        costs.push_back(g_.cost[e]);
        if (mate_r_[v] < 0) {
          flip(lefts, rights, costs);
          return true;
        }
        const int next = mate_r_[v];
        it_[next] = g_.first[next];
        lefts.push_back(next);
        advanced = true;
        break;
      }
      if (advanced) continue;
      lefts.pop_back();
      if (!rights.empty()) {
        rights.pop_back();
        costs.pop_back();
      }
    }
    return false;
  }

  void flip(const std::vector<int>& lefts, const std::vector<int>& rights,
            const std::vector<int>& costs) {
    for (std::size_t i = 0; i < lefts.size(); ++i) set_mate(lefts[i], rights[i], costs[i]);
  }

  void reset_phase() {
    for (const int x : touched_) {
      dist_[x] = kInf;
      done_[x] = 0;
      if (x >= g_.nl) seen_[x - g_.nl] = 0;
    }
    touched_.clear();
    popped_.clear();
  }

  const Graph& g_;
  std::vector<int> mate_l_, mate_r_, mate_cost_;
  std::vector<long> pot_, dist_;
  std::vector<std::uint8_t> done_, seen_;
  std::vector<int> it_, touched_, popped_;
  std::vector<std::uint64_t> heap_;
  std::vector<int> lefts_, rights_, costs_;  // the current DFS path
  std::vector<int> free_;                    // free left vertices of the component
};

}  // namespace

double max_distance_px(int width, int height, double max_dist) {
  return max_dist *
         std::sqrt(static_cast<double>(width) * width + static_cast<double>(height) * height);
}

namespace {

// The matching with the pixels of map1 as the left side (the search sources).
Correspondence match_from(const BinaryMap& map1, const BinaryMap& map2, double max_dist_px) {
  std::vector<int> pix1, pix2;
  for (std::size_t i = 0; i < map1.data.size(); ++i)
    if (map1.data[i]) pix1.push_back(static_cast<int>(i));
  const std::vector<int> id2 = vertex_ids(map2, pix2);
  // Graph of the pixel pairs within max_dist (Berkeley's matchEdgeMaps).
  const Graph g =
      build_graph(map1, pix1, map2, id2, static_cast<int>(pix2.size()), window(max_dist_px));
  Matcher matcher(g);
  const Components comps = components(g);
  for (std::size_t c = 0; c + 1 < comps.start.size(); ++c)
    matcher.solve(comps.order.data() + comps.start[c], comps.order.data() + comps.start[c + 1]);
  Correspondence out;
  out.matched1.assign(map1.data.size(), 0);
  out.matched2.assign(map2.data.size(), 0);
  for (int u = 0; u < g.nl; ++u) {
    const int v = matcher.mate_left()[u];
    if (v < 0) continue;
    out.matched1[pix1[u]] = 1;
    out.matched2[pix2[v]] = 1;
    ++out.count;
  }
  out.cost = matcher.total_cost();
  return out;
}

}  // namespace

Correspondence correspond_pixels(const BinaryMap& map1, const BinaryMap& map2, double max_dist_px) {
  check(map1.width == map2.width && map1.height == map2.height, "", "boundary maps differ in size");
  // Searches start from the free vertices of the left side: the smaller side keeps them few.
  if (map1.count() <= map2.count()) return match_from(map1, map2, max_dist_px);
  Correspondence c = match_from(map2, map1, max_dist_px);
  std::swap(c.matched1, c.matched2);
  return c;
}

}  // namespace strata::eval
