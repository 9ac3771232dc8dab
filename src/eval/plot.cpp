// Line plots rendered twice from one display list (plot.hpp): as SVG elements and into an RGB
// image with coverage-based anti-aliasing and a built-in 5×7 bitmap font.
#include "strata/eval/plot.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <utility>
#include <variant>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"

namespace strata::eval {

namespace {

// ---- font -------------------------------------------------------------------------------------

// ASCII 32..126, 7 rows of 5 pixels each (bit 4 = leftmost column).
constexpr std::uint8_t kFont[95][7] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // ' '
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04},  // '!'
    {0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00},  // '"'
    {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a},  // '#'
    {0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04},  // '$'
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03},  // '%'
    {0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d},  // '&'
    {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00},  // "'"
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02},  // '('
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08},  // ')'
    {0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00},  // '*'
    {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00},  // '+'
    {0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08},  // ','
    {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00},  // '-'
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c},  // '.'
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00},  // '/'
    {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e},  // '0'
    {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e},  // '1'
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f},  // '2'
    {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e},  // '3'
    {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02},  // '4'
    {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e},  // '5'
    {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e},  // '6'
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},  // '7'
    {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e},  // '8'
    {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c},  // '9'
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00},  // ':'
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x04, 0x08},  // ';'
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02},  // '<'
    {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00},  // '='
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08},  // '>'
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04},  // '?'
    {0x0e, 0x11, 0x01, 0x0d, 0x15, 0x15, 0x0e},  // '@'
    {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11},  // 'A'
    {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e},  // 'B'
    {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e},  // 'C'
    {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c},  // 'D'
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f},  // 'E'
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10},  // 'F'
    {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f},  // 'G'
    {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11},  // 'H'
    {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e},  // 'I'
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c},  // 'J'
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11},  // 'K'
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f},  // 'L'
    {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11},  // 'M'
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},  // 'N'
    {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e},  // 'O'
    {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10},  // 'P'
    {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d},  // 'Q'
    {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11},  // 'R'
    {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e},  // 'S'
    {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},  // 'T'
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e},  // 'U'
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04},  // 'V'
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a},  // 'W'
    {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11},  // 'X'
    {0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04},  // 'Y'
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f},  // 'Z'
    {0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e},  // '['
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00},  // '\\'
    {0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e},  // ']'
    {0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00},  // '^'
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f},  // '_'
    {0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00},  // '`'
    {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f},  // 'a'
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e},  // 'b'
    {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e},  // 'c'
    {0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f},  // 'd'
    {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e},  // 'e'
    {0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08},  // 'f'
    {0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e},  // 'g'
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11},  // 'h'
    {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e},  // 'i'
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0c},  // 'j'
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12},  // 'k'
    {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e},  // 'l'
    {0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11},  // 'm'
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11},  // 'n'
    {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e},  // 'o'
    {0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10},  // 'p'
    {0x00, 0x00, 0x0d, 0x13, 0x0f, 0x01, 0x01},  // 'q'
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10},  // 'r'
    {0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e},  // 's'
    {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06},  // 't'
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d},  // 'u'
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04},  // 'v'
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a},  // 'w'
    {0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11},  // 'x'
    {0x00, 0x00, 0x11, 0x11, 0x0f, 0x01, 0x0e},  // 'y'
    {0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f},  // 'z'
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02},  // '{'
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},  // '|'
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08},  // '}'
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00},  // '~'
};

constexpr int kGlyphWidth = 5, kGlyphHeight = 7, kAdvance = 6;

// The rows of a character's glyph; characters outside ASCII 32..126 show as '?'.
const std::uint8_t* glyph(char c) {
  const int code = static_cast<unsigned char>(c);
  return kFont[code >= 32 && code <= 126 ? code - 32 : '?' - 32];
}

// ---- display list -------------------------------------------------------------------------------

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};

constexpr Rgb kBlack{0, 0, 0}, kWhite{255, 255, 255}, kGrid{225, 225, 225}, kBorder{160, 160, 160};

// Matplotlib's "tab10" colours, series after series.
Rgb series_colour(int k) {
  static constexpr std::array<Rgb, 10> kPalette = {{{31, 119, 180},
                                                    {255, 127, 14},
                                                    {44, 160, 44},
                                                    {214, 39, 40},
                                                    {148, 103, 189},
                                                    {140, 86, 75},
                                                    {227, 119, 194},
                                                    {127, 127, 127},
                                                    {188, 189, 34},
                                                    {23, 190, 207}}};
  return k < 0 ? kBlack : kPalette[static_cast<std::size_t>(k) % kPalette.size()];
}

struct Point {
  double x = 0.0, y = 0.0;
};

// A polyline; `clip` keeps it inside the plot area.
struct Line {
  std::vector<Point> points;
  Rgb colour;
  double width = 1.0;
  bool clip = false;
};

struct Disc {
  Point centre;
  double radius = 0.0;
  Rgb colour;
};

struct Box {
  double left = 0.0, top = 0.0, right = 0.0, bottom = 0.0;
  Rgb fill, stroke;
};

// Text centred vertically on `at`; anchor -1, 0, 1: `at` is its start, middle or end. Vertical
// text reads upwards (rotated 90° counter-clockwise).
struct Text {
  Point at;
  std::string text;
  int anchor = -1;
  bool vertical = false;
};

using Item = std::variant<Box, Line, Disc, Text>;

struct Axis {
  Range range;
  std::vector<double> ticks;
  int decimals = 0;
};

struct Scene {
  int width = 0, height = 0, scale = 1;  // scale: device pixels per font pixel
  PlotFrame frame;
  std::vector<Item> items;  // drawn in order
};

// ---- axes -------------------------------------------------------------------------------------

// 1, 2 or 5 × 10^k: the smallest such step giving at most about `target` intervals.
double nice_step(double span, int target) {
  const double raw = span / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0})
    if (m * magnitude >= raw) return m * magnitude;
  return 10.0 * magnitude;
}

void check_range(const Range& r, const char* axis) {
  check(std::isfinite(r.min) && std::isfinite(r.max) && r.min < r.max, "",
        std::string("plot ") + axis + " range must have min < max");
}

// The data's extent (finite values only), [0, 1] without data, widened when it is a point.
Range data_range(const std::vector<double>& values) {
  Range r{INFINITY, -INFINITY};
  for (const double v : values)
    if (std::isfinite(v)) r = {std::min(r.min, v), std::max(r.max, v)};
  if (r.min > r.max) return {0.0, 1.0};
  const double grow = r.min == r.max ? std::max(0.5, 0.05 * std::fabs(r.min)) : 0.0;
  return {r.min - grow, r.max + grow};
}

Axis make_axis(const std::optional<Range>& fixed, const std::vector<double>& values,
               const char* name) {
  Axis a;
  a.range = fixed ? *fixed : data_range(values);
  check_range(a.range, name);
  const double step = nice_step(a.range.max - a.range.min, 5);
  if (!fixed)  // whole ticks at both ends
    a.range = {std::floor(a.range.min / step + 1e-9) * step,
               std::ceil(a.range.max / step - 1e-9) * step};
  const double first = std::ceil(a.range.min / step - 1e-9);
  for (double k = first; k * step <= a.range.max + 1e-9 * step; ++k)
    a.ticks.push_back(std::fabs(k) < 0.5 ? 0.0 : k * step);
  a.decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 9);
  return a;
}

std::string tick_label(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::size_t widest_label(const Axis& a) {
  std::size_t n = 0;
  for (const double t : a.ticks) n = std::max(n, tick_label(t, a.decimals).size());
  return n;
}

std::vector<double> values_of(const Plot& plot, bool x) {
  std::vector<double> v;
  for (const auto& s : plot.series)
    v.insert(v.end(), (x ? s.x : s.y).begin(), (x ? s.x : s.y).end());
  for (const auto& m : plot.marks) v.push_back(x ? m.x : m.y);
  return v;
}

// ---- layout -----------------------------------------------------------------------------------

struct Metrics {
  int scale, tick, pad, line;  // font scale, tick length, padding, text line height
};

Metrics metrics(int width, int height) {
  const int s = std::max(1, (std::min(width, height) + 120) / 240);
  return {s, 4 * s, 4 * s, 10 * s};
}

double text_width(const std::string& text, int scale) {
  return text.empty() ? 0.0 : static_cast<double>(text.size() * kAdvance - 1) * scale;
}

PlotFrame frame_of(const Plot& plot, const Axis& x, const Axis& y, int width, int height) {
  const Metrics m = metrics(width, height);
  const double y_labels = static_cast<double>(widest_label(y) * kAdvance * m.scale);
  const double last_x =
      text_width(tick_label(x.ticks.empty() ? 0 : x.ticks.back(), x.decimals), m.scale);
  PlotFrame f;
  f.left =
      std::round(m.pad + (plot.y_label.empty() ? 0 : m.line + m.pad) + y_labels + m.pad + m.tick);
  f.top = std::round(plot.title.empty() ? 3 * m.pad : m.line + 3 * m.pad);
  f.right = std::round(width - std::max(3.0 * m.pad, last_x / 2 + m.pad));
  f.bottom = std::round(
      height - (m.tick + 2 * m.pad + m.line + (plot.x_label.empty() ? 0 : m.line + m.pad)));
  f.x = x.range;
  f.y = y.range;
  check(f.right - f.left >= 16 && f.bottom - f.top >= 16, "", "plot size too small for its axes");
  return f;
}

void check_plot(const Plot& plot, int width, int height) {
  check(width > 0 && height > 0 && width <= 16384 && height <= 16384, "",
        "plot size must be 1..16384 pixels");
  for (const auto& s : plot.series)
    check(s.x.size() == s.y.size(), "",
          "plot series '" + s.name + "' has x and y of different lengths");
}

}  // namespace

double PlotFrame::px(double v) const {
  return left + (v - x.min) / (x.max - x.min) * (right - left);
}
double PlotFrame::py(double v) const {
  return bottom - (v - y.min) / (y.max - y.min) * (bottom - top);
}

PlotFrame plot_frame(const Plot& plot, int width, int height) {
  check_plot(plot, width, height);
  return frame_of(plot, make_axis(plot.x_range, values_of(plot, true), "x"),
                  make_axis(plot.y_range, values_of(plot, false), "y"), width, height);
}

namespace {

// ---- scene ------------------------------------------------------------------------------------

// A 1-pixel line on pixel centres (crisp in both renderers).
Line rule(double x0, double y0, double x1, double y1, Rgb colour) {
  return {{{x0 + 0.5, y0 + 0.5}, {x1 + 0.5, y1 + 0.5}}, colour, 1.0, false};
}

void add_axes(Scene& s, const Axis& x, const Axis& y) {
  const PlotFrame& f = s.frame;
  const Metrics m = metrics(s.width, s.height);
  for (const double t : x.ticks) {
    const double px = std::round(f.px(t));
    s.items.push_back(rule(px, f.top, px, f.bottom, kGrid));
    s.items.push_back(rule(px, f.bottom, px, f.bottom + m.tick, kBlack));
    s.items.push_back(
        Text{{px, f.bottom + m.tick + m.pad + m.line / 2.0}, tick_label(t, x.decimals), 0});
  }
  for (const double t : y.ticks) {
    const double py = std::round(f.py(t));
    s.items.push_back(rule(f.left, py, f.right, py, kGrid));
    s.items.push_back(rule(f.left - m.tick, py, f.left, py, kBlack));
    s.items.push_back(Text{{f.left - m.tick - m.pad, py}, tick_label(t, y.decimals), 1});
  }
  s.items.push_back(Line{{{f.left + 0.5, f.top + 0.5},
                          {f.right + 0.5, f.top + 0.5},
                          {f.right + 0.5, f.bottom + 0.5},
                          {f.left + 0.5, f.bottom + 0.5},
                          {f.left + 0.5, f.top + 0.5}},
                         kBlack,
                         1.0,
                         false});
}

void add_labels(Scene& s, const Plot& plot) {
  const PlotFrame& f = s.frame;
  const Metrics m = metrics(s.width, s.height);
  const double mid_x = (f.left + f.right) / 2, mid_y = (f.top + f.bottom) / 2;
  if (!plot.title.empty()) s.items.push_back(Text{{mid_x, m.pad + m.line / 2.0}, plot.title, 0});
  if (!plot.x_label.empty())
    s.items.push_back(Text{{mid_x, s.height - m.pad - m.line / 2.0}, plot.x_label, 0});
  if (!plot.y_label.empty())
    s.items.push_back(Text{{m.pad + m.line / 2.0, mid_y}, plot.y_label, 0, true});
}

void add_series(Scene& s, const Plot& plot) {
  const Metrics m = metrics(s.width, s.height);
  for (std::size_t k = 0; k < plot.series.size(); ++k) {
    const Series& series = plot.series[k];
    Line line{{}, series_colour(static_cast<int>(k)), 1.5 * m.scale, true};
    for (std::size_t i = 0; i < series.x.size(); ++i)
      if (std::isfinite(series.x[i]) && std::isfinite(series.y[i]))
        line.points.push_back({s.frame.px(series.x[i]), s.frame.py(series.y[i])});
    s.items.push_back(std::move(line));
  }
}

// How many of the scene's line points (lines sampled every few pixels) and dots fall in `b`.
int points_inside(const Scene& s, const Box& b) {
  int n = 0;
  const auto inside = [&](Point p) {
    return p.x >= b.left && p.x <= b.right && p.y >= b.top && p.y <= b.bottom;
  };
  for (const Item& item : s.items) {
    if (const auto* d = std::get_if<Disc>(&item)) n += inside(d->centre);
    const auto* l = std::get_if<Line>(&item);
    if (!l || !l->clip) continue;
    for (std::size_t i = 0; i + 1 < l->points.size(); ++i) {
      const Point a = l->points[i], c = l->points[i + 1];
      const int steps = 1 + static_cast<int>(std::hypot(c.x - a.x, c.y - a.y) / 4);
      for (int k = 0; k < steps; ++k)
        n += inside({a.x + (c.x - a.x) * k / steps, a.y + (c.y - a.y) * k / steps});
    }
  }
  return n;
}

// The candidate box inside the plot area that covers the fewest points (the first on ties).
std::size_t emptiest(const Scene& s, const std::vector<Box>& boxes) {
  const PlotFrame& f = s.frame;
  std::size_t best = 0;
  long fewest = -1;
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    const Box& b = boxes[i];
    const bool inside =
        b.left >= f.left && b.right <= f.right && b.top >= f.top && b.bottom <= f.bottom;
    const long n = points_inside(s, b) + (inside ? 0L : 1L << 30);
    if (fewest < 0 || n < fewest) {
      best = i;
      fewest = n;
    }
  }
  return best;
}

// A mark's label, beside its dot: above right, above left, below right or below left, whichever
// stays in the plot area and covers the fewest points.
Text mark_label(const Scene& s, Point c, double r, const std::string& label) {
  const Metrics m = metrics(s.width, s.height);
  const double gap = r + m.pad, w = text_width(label, m.scale), h = m.line;
  std::vector<Text> texts;
  std::vector<Box> boxes;
  for (int side = 0; side < 4; ++side) {
    const bool left = side % 2 != 0, below = side >= 2;
    const Point at{left ? c.x - gap : c.x + gap, below ? c.y + gap : c.y - gap};
    texts.push_back({at, label, left ? 1 : -1});
    boxes.push_back({left ? at.x - w : at.x, at.y - h / 2, left ? at.x : at.x + w, at.y + h / 2,
                     kWhite, kWhite});
  }
  return texts[emptiest(s, boxes)];
}

void add_marks(Scene& s, const Plot& plot) {
  const double r = 2.5 * s.scale;
  for (const Mark& mark : plot.marks) {
    if (!std::isfinite(mark.x) || !std::isfinite(mark.y)) continue;
    const Point c{s.frame.px(mark.x), s.frame.py(mark.y)};
    s.items.push_back(Disc{c, r, series_colour(mark.series)});
    if (!mark.label.empty()) s.items.push_back(mark_label(s, c, r, mark.label));
  }
}

// A w × h legend box in the corner of the plot area that covers the fewest points (top right,
// top left, bottom right, bottom left on ties).
Box legend_box(const Scene& s, double w, double h) {
  const double pad = metrics(s.width, s.height).pad;
  const PlotFrame& f = s.frame;
  std::vector<Box> corners;
  for (int corner = 0; corner < 4; ++corner) {
    const double left = corner % 2 ? f.left + pad : f.right - pad - w;
    const double top = corner < 2 ? f.top + pad : f.bottom - pad - h;
    corners.push_back({left, top, left + w, top + h, kWhite, kBorder});
  }
  return corners[emptiest(s, corners)];
}

// The legend: one entry per named series, in the emptiest corner of the plot area, drawn before
// the items from `below` on (the marks stay visible).
void add_legend(Scene& s, const Plot& plot, std::size_t below) {
  std::vector<std::size_t> named;
  std::size_t chars = 0;
  for (std::size_t k = 0; k < plot.series.size(); ++k)
    if (!plot.series[k].name.empty()) {
      named.push_back(k);
      chars = std::max(chars, plot.series[k].name.size());
    }
  if (named.empty()) return;
  const Metrics m = metrics(s.width, s.height);
  const double sample = 2.0 * m.line;
  const Box box = legend_box(s, 3.0 * m.pad + sample + text_width(std::string(chars, 'x'), m.scale),
                             m.pad + static_cast<double>(named.size()) * m.line);
  std::vector<Item> legend = {box};
  for (std::size_t i = 0; i < named.size(); ++i) {
    const double y = box.top + m.pad / 2.0 + (i + 0.5) * m.line;
    const double x = box.left + m.pad;
    const Rgb colour = series_colour(static_cast<int>(named[i]));
    legend.push_back(Line{{{x, y}, {x + sample, y}}, colour, 1.5 * m.scale, false});
    legend.push_back(Text{{x + sample + m.pad, y}, plot.series[named[i]].name, -1});
  }
  s.items.insert(s.items.begin() + static_cast<std::ptrdiff_t>(below), legend.begin(),
                 legend.end());
}

Scene make_scene(const Plot& plot, int width, int height) {
  check_plot(plot, width, height);
  const Axis x = make_axis(plot.x_range, values_of(plot, true), "x");
  const Axis y = make_axis(plot.y_range, values_of(plot, false), "y");
  Scene s{width, height, metrics(width, height).scale, frame_of(plot, x, y, width, height), {}};
  s.items.push_back(
      Box{0, 0, static_cast<double>(width), static_cast<double>(height), kWhite, kWhite});
  add_axes(s, x, y);
  add_series(s, plot);
  const std::size_t marks = s.items.size();
  add_marks(s, plot);
  add_legend(s, plot, marks);
  add_labels(s, plot);
  return s;
}

// ---- SVG --------------------------------------------------------------------------------------

std::string xml_escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string css(Rgb c) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

class SvgWriter {
 public:
  explicit SvgWriter(const Scene& s) : s_(s) {
    out_ << std::fixed;
    out_.precision(2);
  }

  std::string document() {
    const PlotFrame& f = s_.frame;
    out_ << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << s_.width << "\" height=\""
         << s_.height << "\" viewBox=\"0 0 " << s_.width << ' ' << s_.height
         << "\" font-family=\"sans-serif\" font-size=\"" << 10 * s_.scale << "\">\n"
         << "<clipPath id=\"area\"><rect x=\"" << f.left << "\" y=\"" << f.top << "\" width=\""
         << f.right - f.left + 1 << "\" height=\"" << f.bottom - f.top + 1 << "\"/></clipPath>\n";
    for (const Item& item : s_.items) std::visit(*this, item);
    out_ << "</svg>\n";
    return out_.str();
  }

  void operator()(const Box& b) {
    out_ << "<rect x=\"" << b.left << "\" y=\"" << b.top << "\" width=\"" << b.right - b.left
         << "\" height=\"" << b.bottom - b.top << "\" fill=\"" << css(b.fill) << "\" stroke=\""
         << css(b.stroke) << "\"/>\n";
  }
  void operator()(const Line& l) {
    out_ << "<polyline fill=\"none\" stroke=\"" << css(l.colour) << "\" stroke-width=\"" << l.width
         << "\" stroke-linejoin=\"round\"" << (l.clip ? " clip-path=\"url(#area)\"" : "")
         << " points=\"";
    for (std::size_t i = 0; i < l.points.size(); ++i)
      out_ << (i ? " " : "") << l.points[i].x << ',' << l.points[i].y;
    out_ << "\"/>\n";
  }
  void operator()(const Disc& d) {
    out_ << "<circle cx=\"" << d.centre.x << "\" cy=\"" << d.centre.y << "\" r=\"" << d.radius
         << "\" fill=\"" << css(d.colour) << "\"/>\n";
  }
  void operator()(const Text& t) {
    static const char* const kAnchor[] = {"start", "middle", "end"};
    const double baseline = 3.5 * s_.scale;  // half the cap height below the centre line
    out_ << "<text x=\"" << t.at.x + (t.vertical ? baseline : 0) << "\" y=\""
         << t.at.y + (t.vertical ? 0 : baseline) << "\" text-anchor=\"" << kAnchor[t.anchor + 1]
         << '"';
    if (t.vertical)
      out_ << " transform=\"rotate(-90 " << t.at.x + baseline << ' ' << t.at.y << ")\"";
    out_ << '>' << xml_escape(t.text) << "</text>\n";
  }

 private:
  const Scene& s_;
  std::ostringstream out_;
};

// ---- raster -----------------------------------------------------------------------------------

class Canvas {
 public:
  explicit Canvas(const Scene& s) : s_(s), img_(s.width, s.height, 3, image::SampleType::U8) {}

  image::RawImage take() { return std::move(img_); }

  void operator()(const Box& b) {
    fill(b.left, b.top, b.right, b.bottom, b.stroke);
    fill(b.left + 1, b.top + 1, b.right - 1, b.bottom - 1, b.fill);
  }
  void operator()(const Line& l);
  void operator()(const Disc& d);
  void operator()(const Text& t);

 private:
  // Blends `c` over pixel (x, y) with opacity a in [0, 1]; outside the image: nothing.
  void blend(int x, int y, Rgb c, double a) {
    if (x < 0 || y < 0 || x >= s_.width || y >= s_.height || a <= 0) return;
    std::uint8_t* p = img_.data<std::uint8_t>() + (static_cast<std::size_t>(y) * s_.width + x) * 3;
    const std::uint8_t rgb[3] = {c.r, c.g, c.b};
    for (int k = 0; k < 3; ++k)
      p[k] = static_cast<std::uint8_t>(std::lround(p[k] + a * (rgb[k] - p[k])));
  }

  // Pixels whose centres lie in [x0, x1) × [y0, y1).
  void fill(double x0, double y0, double x1, double y1, Rgb c) {
    for (int y = static_cast<int>(std::ceil(y0 - 0.5)); y + 0.5 < y1; ++y)
      for (int x = static_cast<int>(std::ceil(x0 - 0.5)); x + 0.5 < x1; ++x) blend(x, y, c, 1.0);
  }

  void glyph_at(char c, double x, double y, bool vertical);

  const Scene& s_;
  image::RawImage img_;
};

double segment_distance(Point p, Point a, Point b) {
  const double dx = b.x - a.x, dy = b.y - a.y, len2 = dx * dx + dy * dy;
  const double t =
      len2 > 0 ? std::clamp(((p.x - a.x) * dx + (p.y - a.y) * dy) / len2, 0.0, 1.0) : 0.0;
  return std::hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

// Pixel bounds [x0, x1] × [y0, y1] of a polyline widened by `margin`, within `limit`.
struct PixelBox {
  int x0, y0, x1, y1;
};

PixelBox bounds(const std::vector<Point>& pts, double margin, PixelBox limit) {
  PixelBox b{limit.x1, limit.y1, limit.x0, limit.y0};
  for (const Point& p : pts) {
    b.x0 = std::min(b.x0, static_cast<int>(std::floor(p.x - margin)));
    b.y0 = std::min(b.y0, static_cast<int>(std::floor(p.y - margin)));
    b.x1 = std::max(b.x1, static_cast<int>(std::ceil(p.x + margin)));
    b.y1 = std::max(b.y1, static_cast<int>(std::ceil(p.y + margin)));
  }
  return {std::max(b.x0, limit.x0), std::max(b.y0, limit.y0), std::min(b.x1, limit.x1),
          std::min(b.y1, limit.y1)};
}

// Each pixel takes the line's colour with the largest coverage any segment gives it, so that
// joints are not drawn twice: coverage = how far the pixel centre lies inside the stroke.
void Canvas::operator()(const Line& l) {
  const double half = l.width / 2;
  const PlotFrame& f = s_.frame;
  const PixelBox limit = l.clip ? PixelBox{static_cast<int>(f.left), static_cast<int>(f.top),
                                           static_cast<int>(f.right), static_cast<int>(f.bottom)}
                                : PixelBox{0, 0, s_.width - 1, s_.height - 1};
  const PixelBox b = bounds(l.points, half + 1, limit);
  if (b.x0 > b.x1 || b.y0 > b.y1) return;
  const int w = b.x1 - b.x0 + 1;
  std::vector<float> cover(static_cast<std::size_t>(w) * (b.y1 - b.y0 + 1), 0.f);
  for (std::size_t i = 0; i < l.points.size(); ++i) {
    const Point a = l.points[i], c = l.points[i + 1 < l.points.size() ? i + 1 : i];
    const PixelBox sb = bounds({a, c}, half + 1, b);
    for (int y = sb.y0; y <= sb.y1; ++y)
      for (int x = sb.x0; x <= sb.x1; ++x) {
        const double d = segment_distance({x + 0.5, y + 0.5}, a, c);
        float& v = cover[static_cast<std::size_t>(y - b.y0) * w + (x - b.x0)];
        v = std::max(v, static_cast<float>(std::clamp(half + 0.5 - d, 0.0, 1.0)));
      }
  }
  for (int y = b.y0; y <= b.y1; ++y)
    for (int x = b.x0; x <= b.x1; ++x)
      blend(x, y, l.colour, cover[static_cast<std::size_t>(y - b.y0) * w + (x - b.x0)]);
}

void Canvas::operator()(const Disc& d) {
  const PixelBox b = bounds({d.centre}, d.radius + 1, {0, 0, s_.width - 1, s_.height - 1});
  for (int y = b.y0; y <= b.y1; ++y)
    for (int x = b.x0; x <= b.x1; ++x) {
      const double r = std::hypot(x + 0.5 - d.centre.x, y + 0.5 - d.centre.y);
      blend(x, y, d.colour, std::clamp(d.radius + 0.5 - r, 0.0, 1.0));
    }
}

// One glyph whose top-left corner (before rotation) is at (x, y); vertical glyphs are rotated
// 90° counter-clockwise about that corner, so the text runs upwards from (x, y).
void Canvas::glyph_at(char c, double x, double y, bool vertical) {
  const std::uint8_t* rows = glyph(c);
  const int s = s_.scale;
  for (int gy = 0; gy < kGlyphHeight; ++gy)
    for (int gx = 0; gx < kGlyphWidth; ++gx) {
      if (!((rows[gy] >> (kGlyphWidth - 1 - gx)) & 1)) continue;
      const double px = vertical ? x + gy * s : x + gx * s;
      const double py = vertical ? y - (gx + 1) * s : y + gy * s;
      fill(px, py, px + s, py + s, kBlack);
    }
}

void Canvas::operator()(const Text& t) {
  const int s = s_.scale;
  const double length = text_width(t.text, s);
  const double start = -(t.anchor + 1) * length / 2;  // offset of the first glyph along the text
  for (std::size_t i = 0; i < t.text.size(); ++i) {
    const double along = std::round(start + static_cast<double>(i * kAdvance * s));
    if (t.vertical)
      glyph_at(t.text[i], std::round(t.at.x - 3.5 * s), std::round(t.at.y) - along, true);
    else
      glyph_at(t.text[i], std::round(t.at.x) + along, std::round(t.at.y - 3.5 * s), false);
  }
}

}  // namespace

std::string to_svg(const Plot& plot, int width, int height) {
  return SvgWriter(make_scene(plot, width, height)).document();
}

image::RawImage to_raster(const Plot& plot, int width, int height) {
  const Scene scene = make_scene(plot, width, height);
  Canvas canvas(scene);
  for (const Item& item : scene.items) std::visit(canvas, item);
  return canvas.take();
}

void check_plot_path(const std::string& path) {
  const std::string ext = extension_of(path);
  check(ext == "png" || ext == "svg", path, "plot format must be .png or .svg");
}

void write_plot(const Plot& plot, const std::string& path, int width, int height) {
  check_plot_path(path);
  if (extension_of(path) == "png") return image::write_raw(path, to_raster(plot, width, height));
  const std::string svg = to_svg(plot, width, height);
  write_file_atomic(path, svg.data(), svg.size());
}

}  // namespace strata::eval
