// The BSDS500 boundary benchmark (Arbeláez et al., BIDS/BSDS500 bench/): threshold a soft boundary
// map, thin it, match it pixel to pixel against every human annotation within a distance
// tolerance, and summarise precision/recall as ODS, OIS and AP. Torch-free; plain CPU buffers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata::eval {

/// A binary map, row-major, 0 or 1 per pixel.
struct BinaryMap {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> data;

  BinaryMap() = default;
  BinaryMap(int w, int h) : width(w), height(h), data(static_cast<std::size_t>(w) * h, 0) {}
  std::uint8_t& at(int x, int y) { return data[static_cast<std::size_t>(y) * width + x]; }
  std::uint8_t at(int x, int y) const { return data[static_cast<std::size_t>(y) * width + x]; }
  long count() const;
};

/// MATLAB bwmorph(bw, 'thin', Inf): Lam, Lee & Suen (1992) algorithm 1, two parallel
/// subiterations repeated until nothing changes. Pixels outside the map count as 0.
void thin(BinaryMap& map);

/// Result of matching two boundary maps.
struct Correspondence {
  std::vector<std::uint8_t> matched1;  ///< per pixel of map 1: 1 if matched
  std::vector<std::uint8_t> matched2;  ///< per pixel of map 2: 1 if matched
  long count = 0;                      ///< number of matched pairs
  long cost = 0;                       ///< total cost, in 1/100 pixel units (rounded per pair)
};

/// correspondPixels: a one-to-one matching of the pixels of `map1` and `map2` at distance
/// <= `max_dist_px`, of maximum cardinality and, among those, of minimum total distance (each
/// pair costs round(100 × distance), as Berkeley's matcher).
Correspondence correspond_pixels(const BinaryMap& map1, const BinaryMap& map2, double max_dist_px);

/// Benchmark tolerance in pixels: `max_dist` × the image diagonal.
double max_distance_px(int width, int height, double max_dist);

/// The benchmark's thresholds: linspace(1/(n+1), 1 - 1/(n+1), n), as MATLAB computes it.
std::vector<double> benchmark_thresholds(int n);

/// Counts of one image at one threshold (evaluation_bdry_image.m).
struct BoundaryCounts {
  double threshold = 0.0;
  long cnt_r = 0;  ///< human pixels matched, summed over annotators
  long sum_r = 0;  ///< human pixels, summed over annotators
  long cnt_p = 0;  ///< machine pixels matched to at least one annotator
  long sum_p = 0;  ///< machine pixels (after thinning)
};

/// A soft boundary map in [0, 1], row-major.
struct SoftMap {
  int width = 0;
  int height = 0;
  std::vector<double> data;
};

/// Counts at every threshold of one image against its annotations (all the same size).
std::vector<BoundaryCounts> evaluate_image(const SoftMap& pb, const std::vector<BinaryMap>& gts,
                                           const std::vector<double>& thresholds, double max_dist,
                                           bool thin_pb = true);

struct PrPoint {
  double threshold = 0.0, recall = 0.0, precision = 0.0, f = 0.0;
};

struct BoundaryReport {
  std::vector<std::string> ids;                     ///< image ids, sorted
  std::vector<std::vector<BoundaryCounts>> counts;  ///< per image, per threshold
  std::vector<PrPoint> curve;                       ///< dataset PR curve, per threshold
  std::vector<PrPoint> images;                      ///< each image's best (interpolated) point
  PrPoint ods;                                      ///< optimal dataset scale (interpolated)
  PrPoint ois;                                      ///< optimal image scale (threshold unused)
  double ap = 0.0;                                  ///< area under the PR curve
};

/// collect_eval_bdry.m: sums the counts, then ODS, OIS, AP, the curve and per-image bests.
BoundaryReport summarize_boundaries(const std::vector<std::string>& ids,
                                    std::vector<std::vector<BoundaryCounts>> counts);

/// F-measure 2PR/(P+R), 0 when P+R = 0.
double f_measure(double recall, double precision);

/// maxF of collect_eval_bdry.m: the best F with R, P and the threshold linearly interpolated at
/// 100 points between neighbouring thresholds. Inputs are per threshold.
PrPoint best_interpolated(const std::vector<double>& thresholds, const std::vector<double>& r,
                          const std::vector<double>& p);

struct BoundaryOptions {
  int thresholds = 99;       ///< k/(n+1), k = 1..n
  double max_dist = 0.0075;  ///< fraction of the image diagonal
  bool thin = true;          ///< thin the thresholded map (the benchmark does)
  int threads = 0;           ///< 0: std::thread::hardware_concurrency()
};

/// Loads a soft map (8- or 16-bit greyscale image; value / max) or a binary annotation.
SoftMap read_soft_map(const std::string& path);
BinaryMap read_boundary_map(const std::string& path);

/// Evaluates every prediction `pred_dir/<id>.png` against `gt_dir/<id>_<k>.png`, k = 1, 2, ...
BoundaryReport evaluate_boundaries(const std::string& pred_dir, const std::string& gt_dir,
                                   const BoundaryOptions& options = {});

/// The benchmark's output files, formatted as MATLAB's %10g: eval_bdry.txt, eval_bdry_thr.txt,
/// eval_bdry_img.txt.
std::string format_eval_bdry(const BoundaryReport& report);
std::string format_eval_bdry_thr(const BoundaryReport& report);
std::string format_eval_bdry_img(const BoundaryReport& report);

}  // namespace strata::eval
