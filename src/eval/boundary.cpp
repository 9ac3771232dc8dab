// The BSDS500 boundary benchmark: evaluation_bdry_image.m (counts per image and threshold) and
// collect_eval_bdry.m (ODS, OIS, AP) of BIDS/BSDS500 bench/benchmarks, re-implemented.
#include "strata/eval/boundary.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>

#include "boundary_detail.hpp"
#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/image/codec.hpp"

namespace strata::eval {

long BinaryMap::count() const {
  return static_cast<long>(std::count_if(data.begin(), data.end(), [](auto v) { return v != 0; }));
}

std::vector<double> benchmark_thresholds(int n) {
  check(n >= 1, "", "the number of thresholds must be positive");
  // nthresh scalar: linspace(1/(n+1), 1-1/(n+1), n); MATLAB: d1 + k*(d2-d1)/(n-1), last = d2.
  const double d1 = 1.0 / (n + 1), d2 = 1.0 - 1.0 / (n + 1);
  std::vector<double> t(n);
  for (int k = 0; k + 1 < n; ++k) t[k] = d1 + (k * (d2 - d1)) / (n - 1);
  t[n - 1] = d2;
  return t;
}

namespace {

// One image against its annotations, threshold after threshold, with every buffer reused: the
// annotations' pixel sets are built once; the machine pixels `pb >= t` are filtered from those
// of the previous threshold when t does not decrease (the sets are nested); a threshold that
// leaves the set unchanged repeats the previous counts.
class ImageEvaluator {
 public:
  ImageEvaluator(const SoftMap& pb, const std::vector<BinaryMap>& gts, double max_dist_px,
                 bool thin_pb)
      : pb_(pb),
        thin_(thin_pb),
        grid_(pb.width, pb.height, std::max(0, detail::window_radius(max_dist_px))),
        window_(detail::make_window(max_dist_px, grid_)),
        machine_(grid_),
        thinner_(pb.width, pb.height) {
    for (const auto& gt : gts) add_annotation(gt);
    for (std::size_t i = 0; i < pb.data.size(); ++i)  // NaN pixels are never >= t: left out
      if (!std::isnan(pb.data[i])) all_.push_back(static_cast<int>(i));
  }

  BoundaryCounts counts(double t) {
    const std::size_t before = above_.size();
    const bool nested = computed_ && t >= threshold_;
    select_above(t, nested ? above_ : all_);
    threshold_ = t;
    if (computed_ && above_.size() == before) {  // the same set: the sets are nested
      last_.threshold = t;
      return last_;
    }
    computed_ = true;
    last_ = match_all(t);
    return last_;
  }

 private:
  void add_annotation(const BinaryMap& gt) {
    gts_.emplace_back(grid_);
    gts_.back().assign(detail::on_pixels(gt));
    sum_r_ += gts_.back().size();  // sumR: all annotators' boundary pixels
  }

  // above_ = the pixels of `from` (increasing) with pb >= t, increasing.
  void select_above(double t, const std::vector<int>& from) {
    std::size_t n = 0;
    scratch_.resize(from.size());
    for (const int i : from)
      if (pb_.data[i] >= t) scratch_[n++] = i;
    scratch_.resize(n);
    above_.swap(scratch_);
  }

  BoundaryCounts match_all(double t) {
    pixels_ = above_;  // bmap = (pb >= t), then bwmorph(bmap, 'thin', inf) when thin_
    if (thin_) thinner_.thin(pixels_);
    machine_.assign(pixels_);
    BoundaryCounts c;
    c.threshold = t;
    c.sum_r = sum_r_;
    c.sum_p = machine_.size();                         // sumP: machine pixels
    matched_.assign(machine_.size(), 0);               // accP: matched to any annotator
    for (const auto& gt : gts_) c.cnt_r += match(gt);  // cntR: matched annotator pixels
    c.cnt_p = static_cast<long>(std::count(matched_.begin(), matched_.end(), 1));
    return c;
  }

  // correspond_pixels(bmap, gt): the smaller side is the left one (machine on ties).
  long match(const detail::PixelSet& gt) {
    const bool machine_left = machine_.size() <= gt.size();
    matcher_.match(machine_left ? machine_ : gt, machine_left ? gt : machine_, window_);
    const std::vector<int>& mates = matcher_.mates();
    for (std::size_t u = 0; u < mates.size(); ++u)
      if (mates[u] >= 0) matched_[machine_left ? static_cast<int>(u) : mates[u]] = 1;
    return matcher_.count();
  }

  const SoftMap& pb_;
  const bool thin_;
  const detail::PaddedGrid grid_;
  const detail::Window window_;
  std::vector<detail::PixelSet> gts_;
  long sum_r_ = 0;
  detail::PixelSet machine_;
  detail::Thinner thinner_;
  detail::PixelMatcher matcher_;
  std::vector<int> all_, above_, scratch_, pixels_;
  std::vector<std::uint8_t> matched_;
  bool computed_ = false;
  double threshold_ = 0.0;
  BoundaryCounts last_;
};

}  // namespace

std::vector<BoundaryCounts> evaluate_image(const SoftMap& pb, const std::vector<BinaryMap>& gts,
                                           const std::vector<double>& thresholds, double max_dist,
                                           bool thin_pb) {
  for (const auto& gt : gts)
    check(gt.width == pb.width && gt.height == pb.height, "",
          "boundary map and annotation differ in size");
  ImageEvaluator image(pb, gts, max_distance_px(pb.width, pb.height, max_dist), thin_pb);
  std::vector<BoundaryCounts> out;
  for (const double t : thresholds) out.push_back(image.counts(t));
  return out;
}

double f_measure(double r, double p) { return r + p == 0 ? 0.0 : 2 * p * r / (p + r); }

PrPoint best_interpolated(const std::vector<double>& t, const std::vector<double>& r,
                          const std::vector<double>& p) {
  PrPoint best{t[0], r[0], p[0], f_measure(r[0], p[0])};
  // maxF: 100 points d = linspace(0, 1) between neighbouring thresholds, strict improvement.
  for (std::size_t i = 1; i < t.size(); ++i)
    for (int k = 0; k < 100; ++k) {
      const double d = k / 99.0;
      const double ti = t[i] * d + t[i - 1] * (1 - d);
      const double ri = r[i] * d + r[i - 1] * (1 - d);
      const double pi = p[i] * d + p[i - 1] * (1 - d);
      const double f = f_measure(ri, pi);
      if (f > best.f) best = {ti, ri, pi, f};
    }
  return best;
}

namespace {

double ratio(long cnt, long sum) { return static_cast<double>(cnt) / (sum == 0 ? 1 : sum); }

struct Curve {
  std::vector<double> t, r, p;
};

Curve curve_of(const std::vector<BoundaryCounts>& c) {
  Curve k;
  for (const auto& x : c) {
    k.t.push_back(x.threshold);
    k.r.push_back(ratio(x.cnt_r, x.sum_r));
    k.p.push_back(ratio(x.cnt_p, x.sum_p));
  }
  return k;
}

// AP: P interpolated over the unique R values at R = 0:0.01:1, 0 outside their range.
double average_precision(const std::vector<double>& r, const std::vector<double>& p) {
  // unique(R) sorted; legacy MATLAB unique (the benchmark's era) keeps the last occurrence.
  std::vector<std::pair<double, double>> rp;
  for (std::size_t i = 0; i < r.size(); ++i) rp.emplace_back(r[i], p[i]);
  std::stable_sort(rp.begin(), rp.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<double, double>> u;
  for (const auto& x : rp) {
    if (!u.empty() && u.back().first == x.first)
      u.back() = x;
    else
      u.push_back(x);
  }
  if (u.size() < 2) return 0.0;
  double sum = 0.0;
  for (int k = 0; k <= 100; ++k) {
    const double ri = k / 100.0;
    if (ri < u.front().first || ri > u.back().first) continue;
    std::size_t j = 1;
    while (j + 1 < u.size() && u[j].first < ri) ++j;
    const double w = (ri - u[j - 1].first) / (u[j].first - u[j - 1].first);
    sum += u[j - 1].second + w * (u[j].second - u[j - 1].second);
  }
  return sum * 0.01;
}

}  // namespace

BoundaryReport summarize_boundaries(const std::vector<std::string>& ids,
                                    std::vector<std::vector<BoundaryCounts>> counts) {
  check(!counts.empty() && ids.size() == counts.size(), "", "no images to summarise");
  const std::size_t nt = counts[0].size();
  BoundaryReport rep;
  rep.ids = ids;
  std::vector<BoundaryCounts> total(counts[0]);
  for (auto& c : total) c.cnt_r = c.sum_r = c.cnt_p = c.sum_p = 0;
  BoundaryCounts ois;
  for (const auto& img : counts) {
    check(img.size() == nt, "", "images have different numbers of thresholds");
    const Curve k = curve_of(img);
    rep.images.push_back(best_interpolated(k.t, k.r, k.p));
    // OIS: counts at the image's first threshold of highest F (no interpolation).
    std::size_t best = 0;
    for (std::size_t i = 1; i < nt; ++i)
      if (f_measure(k.r[i], k.p[i]) > f_measure(k.r[best], k.p[best])) best = i;
    ois.cnt_r += img[best].cnt_r;
    ois.sum_r += img[best].sum_r;
    ois.cnt_p += img[best].cnt_p;
    ois.sum_p += img[best].sum_p;
    for (std::size_t i = 0; i < nt; ++i) {
      total[i].cnt_r += img[i].cnt_r;
      total[i].sum_r += img[i].sum_r;
      total[i].cnt_p += img[i].cnt_p;
      total[i].sum_p += img[i].sum_p;
    }
  }
  const Curve k = curve_of(total);
  for (std::size_t i = 0; i < nt; ++i)
    rep.curve.push_back({k.t[i], k.r[i], k.p[i], f_measure(k.r[i], k.p[i])});
  rep.ods = best_interpolated(k.t, k.r, k.p);
  rep.ois.recall = ratio(ois.cnt_r, ois.sum_r);
  rep.ois.precision = ratio(ois.cnt_p, ois.sum_p);
  rep.ois.f = f_measure(rep.ois.recall, rep.ois.precision);
  rep.ap = average_precision(k.r, k.p);
  rep.counts = std::move(counts);
  return rep;
}

SoftMap read_soft_map(const std::string& path) {
  const image::RawImage img = image::read_raw(path);
  check(img.channels == 1 || img.channels == 2, path, "boundary map must be greyscale");
  SoftMap m{img.width, img.height,
            std::vector<double>(static_cast<std::size_t>(img.width) * img.height)};
  for (std::size_t i = 0; i < m.data.size(); ++i) {
    const std::size_t s = i * img.channels;
    switch (img.type) {
      case image::SampleType::U8: m.data[i] = img.data<std::uint8_t>()[s] / 255.0; break;
      case image::SampleType::U16: m.data[i] = img.data<std::uint16_t>()[s] / 65535.0; break;
      case image::SampleType::F32: m.data[i] = img.data<float>()[s]; break;
    }
  }
  return m;
}

BinaryMap read_boundary_map(const std::string& path) {
  const SoftMap s = read_soft_map(path);
  BinaryMap m(s.width, s.height);
  for (std::size_t i = 0; i < s.data.size(); ++i) m.data[i] = s.data[i] > 0;
  return m;
}

namespace {

struct Job {
  std::string id, pred;
  std::vector<std::string> gts;
};

// Pairs `pred_dir/<id>.<ext>` with `gt_dir/<id>_<k>.png`, k = 1, 2, ... (ids sorted).
std::vector<Job> collect_jobs(const std::string& pred_dir, const std::string& gt_dir) {
  std::vector<Job> jobs;
  for (const auto& path : image::list_images(pred_dir)) {
    Job j{stem_of(path), path, {}};
    for (int k = 1;; ++k) {
      const std::string gt = gt_dir + "/" + j.id + "_" + std::to_string(k) + ".png";
      if (!path_exists(gt)) break;
      j.gts.push_back(gt);
    }
    check(!j.gts.empty(), gt_dir, "no annotation " + j.id + "_1.png");
    jobs.push_back(std::move(j));
  }
  check(!jobs.empty(), pred_dir, "no boundary maps found");
  return jobs;
}

std::vector<BoundaryCounts> run_job(const Job& job, const std::vector<double>& thresholds,
                                    const BoundaryOptions& o) {
  std::vector<BinaryMap> gts;
  for (const auto& g : job.gts) gts.push_back(read_boundary_map(g));
  return evaluate_image(read_soft_map(job.pred), gts, thresholds, o.max_dist, o.thin);
}

}  // namespace

BoundaryReport evaluate_boundaries(const std::string& pred_dir, const std::string& gt_dir,
                                   const BoundaryOptions& options) {
  const std::vector<Job> jobs = collect_jobs(pred_dir, gt_dir);
  const std::vector<double> thresholds = benchmark_thresholds(options.thresholds);
  std::vector<std::vector<BoundaryCounts>> counts(jobs.size());
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (std::size_t i = next++; i < jobs.size(); i = next++) {
      try {
        counts[i] = run_job(jobs[i], thresholds, options);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  unsigned n = options.threads > 0 ? static_cast<unsigned>(options.threads)
                                   : std::max(1u, std::thread::hardware_concurrency());
  n = std::min<unsigned>(n, static_cast<unsigned>(jobs.size()));
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < n; ++i) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  std::vector<std::string> ids;
  for (const auto& j : jobs) ids.push_back(j.id);
  return summarize_boundaries(ids, std::move(counts));
}

namespace {

// MATLAB fprintf '%10g' fields joined by spaces, one row.
std::string row(const std::vector<double>& values) {
  std::string s;
  char buf[64];
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%10g", values[i]);
    s += (i ? " " : "") + std::string(buf);
  }
  return s + "\n";
}

}  // namespace

std::string format_eval_bdry(const BoundaryReport& r) {
  return row({r.ods.threshold, r.ods.recall, r.ods.precision, r.ods.f, r.ois.recall,
              r.ois.precision, r.ois.f, r.ap});
}

std::string format_eval_bdry_thr(const BoundaryReport& r) {
  std::string s;
  for (const auto& p : r.curve) s += row({p.threshold, p.recall, p.precision, p.f});
  return s;
}

std::string format_eval_bdry_img(const BoundaryReport& r) {
  std::string s;
  for (std::size_t i = 0; i < r.images.size(); ++i) {
    const auto& p = r.images[i];
    s += row({static_cast<double>(i + 1), p.threshold, p.recall, p.precision, p.f});
  }
  return s;
}

}  // namespace strata::eval
