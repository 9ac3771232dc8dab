// correspondPixels of the BSDS benchmark: one-to-one matching of boundary pixels within a distance
// tolerance. Berkeley solves it as a min-cost perfect assignment with expensive outlier edges,
// which amounts to a maximum-cardinality matching of minimum total (rounded) distance; we solve
// that directly by successive shortest paths on the sparse pixel graph, one pixel at a time.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
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

// Sparse bipartite graph: left vertices 0..nl-1, right 0..nr-1 (pixels in raster order); the
// edges of a left vertex are its window's candidates in window order.
struct Edge {
  int to;    // right vertex
  int cost;  // round(100 × distance)
};

struct Graph {
  int nl = 0, nr = 0;
  int max_cost = 0;         // of the window
  std::vector<int> first;   // CSR offsets per left vertex (nl + 1)
  std::vector<Edge> edges;  // the first first[nl] are used (the vector only grows)

  void build(const PixelSet& left, const PixelSet& right, const Window& w) {
    nl = left.size();
    max_cost = w.cost.empty() ? 0 : *std::max_element(w.cost.begin(), w.cost.end());
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

// Monotone priority queue (radix heap) of (key, vertex): a key pushed is never below the last key
// popped, as in Dijkstra. Bucket 0 holds keys equal to the last popped key, bucket b > 0 the
// keys whose highest bit differing from it is bit b - 1.
class RadixHeap {
 public:
  using Entry = std::pair<std::uint64_t, int>;

  void clear() {
    for (int b = 0; b <= top_; ++b) buckets_[b].clear();
    top_ = 0;
    last_ = 0;
    size_ = 0;
  }
  bool empty() const { return size_ == 0; }
  void push(std::uint64_t key, int vertex) {
    const int b = bucket(key);
    buckets_[b].emplace_back(key, vertex);
    top_ = std::max(top_, b);
    ++size_;
  }
  Entry pop() {
    if (buckets_[0].empty()) redistribute();
    const Entry e = buckets_[0].back();
    buckets_[0].pop_back();
    --size_;
    return e;
  }

 private:
  int bucket(std::uint64_t key) const {
    return key == last_ ? 0 : 64 - __builtin_clzll(key ^ last_);
  }

  // Moves the first non-empty bucket into lower ones, relative to its smallest key.
  void redistribute() {
    int b = 1;
    while (buckets_[b].empty()) ++b;
    std::vector<Entry>& from = buckets_[b];
    last_ = std::min_element(from.begin(), from.end())->first;
    for (const Entry& e : from) buckets_[bucket(e.first)].push_back(e);  // all below b
    from.clear();
  }

  std::array<std::vector<Entry>, 65> buckets_;
  int top_ = 0;
  std::uint64_t last_ = 0;
  std::size_t size_ = 0;
};

// Min-cost maximum-cardinality matching, solved as a rectangular assignment problem: every left
// vertex is assigned to a right vertex or to a dummy of its own at the cost `unmatched_` (the left
// stays unmatched), which exceeds the cost difference of any two matchings, so that cardinality
// comes first; right vertices may stay free. Lefts are added one at a time, in any order
// (successive shortest paths, exact for the rectangular problem): a Dijkstra on reduced costs
// from the new left, stopped at the first free right it settles or at the nearest dummy of the
// lefts it settled, whichever is nearer; the potentials of the settled vertices are moved so that
// the path becomes tight, and the path is flipped. A search stays near its source while free
// rights are near, and a left assigned to its dummy is never reached again (only its mate, the
// dummy, leads to it).
//
// Vertex x < nl is left vertex x, x >= nl is right vertex x - nl; the dummy of left u is
// nl + nr + u. Reduced costs c + pot(left) - pot(right) stay >= 0: a new left starts at
// potential 0, rights start at 0 and only decrease, and dummies keep potential 0 while free.
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
    pred_.assign(g.nr, -1);
    pred_cost_.assign(g.nr, 0);
    // Potentials and distances stay within nl searches of at most unmatched_ + nl·max_cost each.
    const long double bound = 4.0L * g.nl * (static_cast<long double>(g.nl) * g.max_cost + 1);
    if (bound >= static_cast<long double>(kInf))
      throw Error("", "boundary maps too large to match");
    unmatched_ = static_cast<long>(g.nl) * g.max_cost + 1;
  }

  void solve() {
    for (int u = 0; u < g_->nl; ++u)
      if (g_->first[u] < g_->first[u + 1]) add_left(u);
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

  // Assigns left s by a shortest augmenting path to a free right or to a dummy.
  void add_left(int s) {
    const int nl = g_->nl;
    heap_.clear();
    best_dummy_ = kInf;
    settle_left(s, 0);
    int terminal = -1;
    long D = 0;
    while (!heap_.empty()) {
      const auto [key, x] = heap_.pop();
      const long d = static_cast<long>(key);
      if (d > best_dummy_) break;              // the nearest dummy comes first
      if (done_[x] || d > dist_[x]) continue;  // a stale entry
      if (mate_r_[x - nl] < 0) {
        terminal = x;
        D = d;
        break;
      }
      done_[x] = 1;
      popped_.push_back(x);
      settle_left(mate_r_[x - nl], d);
    }
    if (terminal < 0) {
      terminal = nl + g_->nr + dummy_of_;
      D = best_dummy_;
    }
    for (const int x : popped_) pot_[x] += dist_[x] - D;
    flip(terminal);
    reset_search();
  }

  void touch(int x, long d) {
    if (dist_[x] == kInf) touched_.push_back(x);
    dist_[x] = d;
  }

  // Settles left vertex u at distance d: relaxes its non-matching edges and notes its dummy.
  void settle_left(int u, long d) {
    touch(u, d);
    done_[u] = 1;
    popped_.push_back(u);
    const int mate = mate_l_[u], nl = g_->nl;
    const long base = d + pot_[u];
    const long* pot_right = pot_.data() + nl;
    const Edge* end = g_->edges.data() + g_->first[u + 1];
    for (const Edge* e = g_->edges.data() + g_->first[u]; e != end; ++e) {
      const long dy = base + e->cost - pot_right[e->to];
      const int y = nl + e->to;
      if (e->to == mate || dy >= dist_[y]) continue;
      touch(y, dy);
      pred_[e->to] = u;
      pred_cost_[e->to] = e->cost;
      heap_.push(static_cast<std::uint64_t>(dy), y);
    }
    if (base + unmatched_ < best_dummy_) {
      best_dummy_ = base + unmatched_;
      dummy_of_ = u;
    }
  }

  // Flips the path found by add_left: ends at free right `terminal`, or at the dummy of a left
  // z, which gives up its mate and stays unmatched.
  void flip(int terminal) {
    const int nl = g_->nl, nr = g_->nr;
    int y = terminal - nl;
    if (terminal >= nl + nr) {
      const int z = terminal - nl - nr;
      y = mate_l_[z];
      mate_l_[z] = -1;
    }
    while (y >= 0) {
      const int u = pred_[y], next = mate_l_[u];
      set_mate(u, y, pred_cost_[y]);
      y = next;
    }
  }

  void reset_search() {
    for (const int x : touched_) {
      dist_[x] = kInf;
      done_[x] = 0;
    }
    touched_.clear();
    popped_.clear();
  }

  const Graph* g_ = nullptr;
  std::vector<int> mate_l_, mate_r_, mate_cost_;
  std::vector<long> pot_, dist_;
  std::vector<std::uint8_t> done_;
  std::vector<int> pred_, pred_cost_;  // per right: the left it was reached from, the edge's cost
  std::vector<int> touched_, popped_;
  RadixHeap heap_;
  long unmatched_ = 0;      // the cost of a dummy
  long best_dummy_ = kInf;  // the nearest dummy of the search's settled lefts
  int dummy_of_ = -1;
};

}  // namespace

namespace detail {

struct PixelMatcher::Impl {
  Graph graph;
  Matcher matcher;
};

PixelMatcher::PixelMatcher() : impl_(std::make_unique<Impl>()) {}
PixelMatcher::~PixelMatcher() = default;

void PixelMatcher::match(const PixelSet& left, const PixelSet& right, const Window& window) {
  Impl& m = *impl_;
  // Graph of the pixel pairs within max_dist (Berkeley's matchEdgeMaps).
  m.graph.build(left, right, window);
  m.matcher.reset(m.graph);
  m.matcher.solve();
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
