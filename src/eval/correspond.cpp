// correspondPixels of the BSDS benchmark: one-to-one matching of boundary pixels within a distance
// tolerance. Berkeley solves it as a min-cost perfect assignment with expensive outlier edges,
// which amounts to a maximum-cardinality matching of minimum total (rounded) distance; we solve
// that directly with a primal-dual successive-shortest-path method on the sparse pixel graph.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "boundary_detail.hpp"
#include "strata/core/error.hpp"
#include "strata/eval/boundary.hpp"

namespace strata::eval {

namespace detail {

std::vector<int> on_pixels(const BinaryMap& map) {
  std::vector<int> pixels;
  for (std::size_t i = 0; i < map.data.size(); ++i)
    if (map.data[i]) pixels.push_back(static_cast<int>(i));
  return pixels;
}

int window_radius(double max_dist) { return static_cast<int>(std::ceil(max_dist)); }

Window make_window(double max_dist, const PaddedGrid& grid) {
  const int r = window_radius(max_dist);
  Window w;
  for (int dy = -r; dy <= r; ++dy)
    for (int dx = -r; dx <= r; ++dx) {
      const double d2 = dx * dx + dy * dy;
      if (d2 > max_dist * max_dist) continue;
      w.offset.push_back(dy * grid.stride + dx);
      w.cost.push_back(static_cast<int>(std::nearbyint(std::sqrt(d2) * 100.0)));
    }
  return w;
}

PixelSet::PixelSet(const PaddedGrid& grid) : grid_(grid), id_(grid.size(), -1) {}

void PixelSet::assign(const std::vector<int>& pixels) {
  for (const int p : positions_) id_[p] = -1;
  pixels_ = pixels;
  grid_.positions(pixels, positions_);
  for (std::size_t k = 0; k < positions_.size(); ++k) id_[positions_[k]] = static_cast<int>(k);
}

}  // namespace detail

namespace {

using detail::PixelSet;
using detail::Window;

constexpr long kInf = std::numeric_limits<long>::max() / 4;
constexpr long kMaxKey = long{1} << 32;  // reduced distances must fit the queue's keys

// Sparse bipartite graph: left vertices 0..nl-1, right 0..nr-1 (pixels in raster order); the
// edges of a left vertex are its window's candidates in window order.
struct Edge {
  int to;    // right vertex
  int cost;  // round(100 × distance)
};

struct Graph {
  int nl = 0, nr = 0;
  std::vector<int> first;   // CSR offsets per left vertex (nl + 1)
  std::vector<Edge> edges;  // the first first[nl] are used (the vector only grows)

  void build(const PixelSet& left, const PixelSet& right, const Window& w) {
    nl = left.size();
    nr = right.size();
    const std::size_t n = nr > 0 ? w.offset.size() : 0;
    if (edges.size() < n * nl) edges.resize(n * nl);
    first.assign(1, 0);
    Edge* out = edges.data();
    for (const int p : left.positions()) {
      for (std::size_t i = 0; i < n; ++i) {  // branch-free: keep the slot only for a pixel
        const int j = right.id(p + w.offset[i]);
        *out = {j, w.cost[i]};
        out += j >= 0;
      }
      first.push_back(static_cast<int>(out - edges.data()));
    }
  }
};

int find_root(std::vector<int>& parent, int x) {
  while (parent[x] != x) x = parent[x] = parent[parent[x]];
  return x;
}

// Left vertices grouped by connected component (isolated ones dropped), as CSR: the lefts of
// component c are order[start[c] .. start[c + 1]), increasing.
struct Components {
  std::vector<int> order, start;

  void build(const Graph& g) {
    parent_.resize(g.nl + g.nr);
    std::iota(parent_.begin(), parent_.end(), 0);
    for (int u = 0; u < g.nl; ++u)
      for (int e = g.first[u]; e < g.first[u + 1]; ++e)
        parent_[find_root(parent_, u)] = find_root(parent_, g.nl + g.edges[e].to);
    number(g);
    start.assign(size_.size() + 1, 0);
    for (std::size_t i = 0; i < size_.size(); ++i) start[i + 1] = start[i] + size_[i];
    order.resize(start.back());
    fill_.assign(start.begin(), start.end() - 1);
    for (int u = 0; u < g.nl; ++u)
      if (comp_of_[u] >= 0) order[fill_[comp_of_[u]]++] = u;
  }

 private:
  // Numbers the components in the order of their first left vertex.
  void number(const Graph& g) {
    slot_.assign(g.nl + g.nr, -1);
    comp_of_.assign(g.nl, -1);
    size_.clear();
    for (int u = 0; u < g.nl; ++u) {
      if (g.first[u] == g.first[u + 1]) continue;
      const int r = find_root(parent_, u);
      if (slot_[r] < 0) {
        slot_[r] = static_cast<int>(size_.size());
        size_.push_back(0);
      }
      comp_of_[u] = slot_[r];
      ++size_[slot_[r]];
    }
  }

  std::vector<int> parent_, slot_, comp_of_, size_, fill_;
};

// Monotone priority queue (radix heap) of (key, vertex), key < 2^32: a key pushed is never below
// the last key popped, as in Dijkstra. Entries pack key << 32 | vertex. Bucket 0 holds keys
// equal to the last popped key, bucket b > 0 the keys whose highest bit differing from it is
// bit b - 1.
class RadixHeap {
 public:
  void clear() {
    for (auto& b : buckets_) b.clear();
    last_ = 0;
    size_ = 0;
  }
  bool empty() const { return size_ == 0; }
  void push(std::uint64_t key, int vertex) {
    buckets_[bucket(key)].push_back(key << 32 | static_cast<std::uint32_t>(vertex));
    ++size_;
  }
  std::pair<std::uint64_t, int> pop() {
    if (buckets_[0].empty()) redistribute();
    const std::uint64_t e = buckets_[0].back();
    buckets_[0].pop_back();
    --size_;
    return {e >> 32, static_cast<int>(e & 0xffffffffu)};
  }

 private:
  int bucket(std::uint64_t key) const {
    return key == last_ ? 0 : 64 - __builtin_clzll(key ^ last_);
  }

  // Moves the first non-empty bucket into lower ones, relative to its smallest key.
  void redistribute() {
    std::size_t b = 1;
    while (buckets_[b].empty()) ++b;
    std::vector<std::uint64_t>& from = buckets_[b];
    last_ = *std::min_element(from.begin(), from.end()) >> 32;
    for (const std::uint64_t e : from) buckets_[bucket(e >> 32)].push_back(e);  // all below b
    from.clear();
  }

  std::array<std::vector<std::uint64_t>, 33> buckets_;
  std::uint64_t last_ = 0;
  std::size_t size_ = 0;
};

// Min-cost maximum-cardinality matching. Each phase: a Dijkstra on reduced costs from all free
// left vertices, stopped at the distance D of the nearest free right vertex; potentials moved so
// that every shortest augmenting path has reduced cost 0; then a set of vertex-disjoint
// zero-cost augmenting paths is augmented (Hungarian method with several augmentations per
// phase). Vertex x < nl is left vertex x, x >= nl is right vertex x - nl.
//
// The result of a phase does not depend on the order in which the Dijkstra settles vertices of
// equal distance: it settles exactly the vertices at distance <= D, with their exact distances,
// and the augmentation only looks at those. So the queue is free to break ties in any order.
class Matcher {
 public:
  void reset(const Graph& g) {
    g_ = &g;
    mate_l_.assign(g.nl, -1);
    mate_r_.assign(g.nr, -1);
    mate_cost_.assign(g.nr, 0);
    pot_.assign(g.nl + g.nr, 0);
    dist_.assign(g.nl + g.nr, kInf);
    done_.assign(g.nl + g.nr, 0);
    seen_.assign(g.nr, 0);
    it_.assign(g.nl, 0);
  }

  // Solves the component whose left vertices are [begin, end).
  void solve(const int* begin, const int* end) {
    if (end - begin == 1) return match_single_left(*begin);
    if (match_single_right(begin, end)) return;
    free_.assign(begin, end);
    for (;;) {
      const long d = shortest_paths();
      if (d < 0) break;
      for (const int x : popped_) pot_[x] += dist_[x] - d;
      augment();
      reset_phase();
    }
    reset_phase();
  }

  const std::vector<int>& mate_left() const { return mate_l_; }
  long total_cost() const {
    long c = 0;
    for (int v = 0; v < g_->nr; ++v)
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
    int best = g_->first[u];
    for (int e = g_->first[u] + 1; e < g_->first[u + 1]; ++e)
      if (g_->edges[e].cost < g_->edges[best].cost) best = e;
    set_mate(u, g_->edges[best].to, g_->edges[best].cost);
  }

  // One right vertex: the cheapest left (the first one on ties). False if several rights.
  bool match_single_right(const int* begin, const int* end) {
    const int v = g_->edges[g_->first[*begin]].to;
    int best_u = -1, best_cost = 0;
    for (const int* p = begin; p != end; ++p)
      for (int e = g_->first[*p]; e < g_->first[*p + 1]; ++e) {
        if (g_->edges[e].to != v) return false;
        if (best_u < 0 || g_->edges[e].cost < best_cost) {
          best_u = *p;
          best_cost = g_->edges[e].cost;
        }
      }
    set_mate(best_u, v, best_cost);
    return true;
  }

  void touch(int x, long d) {
    if (dist_[x] == kInf) touched_.push_back(x);
    dist_[x] = d;
  }

  void relax(int y, long d) {
    if (d >= dist_[y]) return;
    if (d >= kMaxKey) throw Error("", "matching distances overflow");
    touch(y, d);
    heap_.push(static_cast<std::uint64_t>(d), y);
  }

  // Settles left vertex u at distance d and relaxes its non-matching edges.
  void settle_left(int u, long d) {
    touch(u, d);
    done_[u] = 1;
    popped_.push_back(u);
    const int mate = mate_l_[u], nl = g_->nl;
    const long base = d + pot_[u];
    const long* pot_right = pot_.data() + nl;
    const Edge* end = g_->edges.data() + g_->first[u + 1];
    for (const Edge* e = g_->edges.data() + g_->first[u]; e != end; ++e)
      if (e->to != mate) relax(nl + e->to, base + e->cost - pot_right[e->to]);
  }

  // Dijkstra from the free left vertices; returns D (or -1 if no free right is reachable). Only
  // right vertices enter the queue: a matched left is reached only through its mate, over an
  // arc of reduced cost 0 (matched edges stay tight), so it is settled together with it.
  long shortest_paths() {
    heap_.clear();
    for (const int u : free_) settle_left(u, 0);
    long D = -1;
    while (!heap_.empty()) {
      const auto [key, y] = heap_.pop();
      const long d = static_cast<long>(key);
      if (D >= 0 && d > D) break;
      if (done_[y] || d > dist_[y]) continue;
      done_[y] = 1;
      popped_.push_back(y);
      const int u = mate_r_[y - g_->nl];
      if (u >= 0)
        settle_left(u, d);
      else if (D < 0)
        D = d;
    }
    return D;
  }

  // Depth-first search for zero-reduced-cost augmenting paths from each free left vertex.
  void augment() {
    std::size_t kept = 0;
    for (const int s : free_)
      if (!augment_from(s)) free_[kept++] = s;
    free_.resize(kept);
  }

  bool augment_from(int s) {
    lefts_.assign(1, s);
    rights_.clear();
    costs_.clear();
    it_[s] = g_->first[s];
    while (!lefts_.empty()) {
      const int u = lefts_.back();
      const int e = next_admissible(u);
      if (e < 0) {
        lefts_.pop_back();
        if (!rights_.empty()) {
          rights_.pop_back();
          costs_.pop_back();
        }
        continue;
      }
      const int v = g_->edges[e].to;
      seen_[v] = 1;
      rights_.push_back(v);
      costs_.push_back(g_->edges[e].cost);
      if (mate_r_[v] < 0) {
        flip();
        return true;
      }
      const int next = mate_r_[v];
      it_[next] = g_->first[next];
      lefts_.push_back(next);
    }
    return false;
  }

  // The next admissible edge of u in its edge order (a non-matching edge of reduced cost 0 to a
  // settled right vertex not yet visited in this phase), or -1.
  int next_admissible(int u) {
    const int end = g_->first[u + 1], mate = mate_l_[u], nl = g_->nl;
    const long pu = pot_[u];
    for (int e = it_[u]; e < end; ++e) {
      const Edge& edge = g_->edges[e];
      const int y = nl + edge.to;
      if (edge.cost + pu != pot_[y] || !done_[y] || seen_[edge.to] || edge.to == mate) continue;
      it_[u] = e + 1;
      return e;
    }
    it_[u] = end;
    return -1;
  }

  void flip() {
    for (std::size_t i = 0; i < lefts_.size(); ++i) set_mate(lefts_[i], rights_[i], costs_[i]);
  }

  void reset_phase() {
    for (const int x : touched_) {
      dist_[x] = kInf;
      done_[x] = 0;
      if (x >= g_->nl) seen_[x - g_->nl] = 0;
    }
    touched_.clear();
    popped_.clear();
  }

  const Graph* g_ = nullptr;
  std::vector<int> mate_l_, mate_r_, mate_cost_;
  std::vector<long> pot_, dist_;
  std::vector<std::uint8_t> done_, seen_;
  std::vector<int> it_, touched_, popped_;
  RadixHeap heap_;
  std::vector<int> lefts_, rights_, costs_;  // the current DFS path
  std::vector<int> free_;                    // free left vertices of the component
};

}  // namespace

namespace detail {

struct PixelMatcher::Impl {
  Graph graph;
  Components components;
  Matcher matcher;
};

PixelMatcher::PixelMatcher() : impl_(std::make_unique<Impl>()) {}
PixelMatcher::~PixelMatcher() = default;

void PixelMatcher::match(const PixelSet& left, const PixelSet& right, const Window& window) {
  Impl& m = *impl_;
  // Graph of the pixel pairs within max_dist (Berkeley's matchEdgeMaps), solved per component.
  m.graph.build(left, right, window);
  m.components.build(m.graph);
  m.matcher.reset(m.graph);
  const Components& c = m.components;
  for (std::size_t k = 0; k + 1 < c.start.size(); ++k)
    m.matcher.solve(c.order.data() + c.start[k], c.order.data() + c.start[k + 1]);
}

const std::vector<int>& PixelMatcher::mates() const { return impl_->matcher.mate_left(); }

long PixelMatcher::count() const {
  const auto& mates = impl_->matcher.mate_left();
  return static_cast<long>(mates.size()) - std::count(mates.begin(), mates.end(), -1);
}

long PixelMatcher::cost() const { return impl_->matcher.total_cost(); }

}  // namespace detail

double max_distance_px(int width, int height, double max_dist) {
  return max_dist *
         std::sqrt(static_cast<double>(width) * width + static_cast<double>(height) * height);
}

namespace {

detail::PixelSet pixel_set(const BinaryMap& m, const detail::PaddedGrid& grid) {
  detail::PixelSet set(grid);
  set.assign(detail::on_pixels(m));
  return set;
}

}  // namespace

Correspondence correspond_pixels(const BinaryMap& map1, const BinaryMap& map2, double max_dist_px) {
  check(map1.width == map2.width && map1.height == map2.height, "", "boundary maps differ in size");
  const detail::PaddedGrid grid(map1.width, map1.height,
                                std::max(0, detail::window_radius(max_dist_px)));
  const PixelSet a = pixel_set(map1, grid), b = pixel_set(map2, grid);
  // Searches start from the free vertices of the left side: the smaller side keeps them few.
  const bool swap = a.size() > b.size();
  const PixelSet &left = swap ? b : a, &right = swap ? a : b;
  detail::PixelMatcher matcher;
  matcher.match(left, right, detail::make_window(max_dist_px, grid));
  Correspondence out;
  out.matched1.assign(map1.data.size(), 0);
  out.matched2.assign(map2.data.size(), 0);
  auto& on_left = swap ? out.matched2 : out.matched1;
  auto& on_right = swap ? out.matched1 : out.matched2;
  for (int u = 0; u < left.size(); ++u) {
    const int v = matcher.mates()[u];
    if (v < 0) continue;
    on_left[left.pixels()[u]] = 1;
    on_right[right.pixels()[v]] = 1;
  }
  out.count = matcher.count();
  out.cost = matcher.cost();
  return out;
}

}  // namespace strata::eval
