// Tests of the line-plot module: frame and ranges, the raster (size, where the lines and marks
// land, text), the SVG (well-formed tags, one polyline point per finite data point), and files.
#include "strata/eval/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/image/codec.hpp"
#include "testing.hpp"

namespace strata::eval {
namespace {

constexpr std::uint8_t kBlue[3] = {31, 119, 180};  // colour of the first series

Plot diagonal_plot() {
  Plot p;
  p.title = "y = x";
  p.x_label = "x";
  p.y_label = "y";
  p.x_range = p.y_range = Range{0.0, 1.0};
  p.series.push_back({"diagonal", {0.0, 0.25, 0.5, 0.75, 1.0}, {0.0, 0.25, 0.5, 0.75, 1.0}});
  return p;
}

const std::uint8_t* pixel(const image::RawImage& img, double x, double y) {
  const int ix = static_cast<int>(x), iy = static_cast<int>(y);
  return img.data<std::uint8_t>() + (static_cast<std::size_t>(iy) * img.width + ix) * 3;
}

bool is_colour(const std::uint8_t* p, const std::uint8_t* c, int tolerance = 8) {
  for (int k = 0; k < 3; ++k)
    if (std::abs(p[k] - c[k]) > tolerance) return false;
  return true;
}

// Whether a pixel within one pixel of (x, y) has colour c (lines are anti-aliased: the pixel
// nearest a point of the line need not be fully covered).
bool near_colour(const image::RawImage& img, double x, double y, const std::uint8_t* c) {
  for (int dy = -1; dy <= 1; ++dy)
    for (int dx = -1; dx <= 1; ++dx)
      if (is_colour(pixel(img, x + dx, y + dy), c, 30)) return true;
  return false;
}

// Dark pixels (text, axes) in [x0, x1) × [y0, y1).
int dark_pixels(const image::RawImage& img, int x0, int y0, int x1, int y1) {
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) n += pixel(img, x, y)[0] < 100;
  return n;
}

TEST(Plot, RasterSizeAndLinePosition) {
  const Plot p = diagonal_plot();
  const image::RawImage img = to_raster(p, 400, 300);
  ASSERT_EQ(img.width, 400);
  ASSERT_EQ(img.height, 300);
  ASSERT_EQ(img.channels, 3);
  ASSERT_EQ(img.type, image::SampleType::U8);
  const PlotFrame f = plot_frame(p, 400, 300);
  EXPECT_LT(f.left, f.right);
  EXPECT_LT(f.top, f.bottom);
  EXPECT_DOUBLE_EQ(f.px(0.0), f.left);
  EXPECT_DOUBLE_EQ(f.py(1.0), f.top);
  // The line y = x crosses the centre of the plot area, and stays off the other diagonal.
  EXPECT_TRUE(near_colour(img, f.px(0.5), f.py(0.5), kBlue));
  EXPECT_TRUE(near_colour(img, f.px(0.2), f.py(0.2), kBlue));
  EXPECT_FALSE(near_colour(img, f.px(0.25), f.py(0.75), kBlue));
  EXPECT_FALSE(near_colour(img, f.px(0.8), f.py(0.3), kBlue));
  const std::uint8_t white[3] = {255, 255, 255};
  EXPECT_TRUE(is_colour(pixel(img, 0, 0), white));  // background
  // Anti-aliasing: some pixels next to the line are between white and the line colour.
  int partial = 0;
  for (int y = static_cast<int>(f.top) + 2; y < f.bottom - 2; ++y)
    for (int x = static_cast<int>(f.left) + 2; x < f.right - 2; ++x) {
      const std::uint8_t* q = pixel(img, x, y);
      partial += q[0] > kBlue[0] + 20 && q[0] < 235 && q[2] > q[0];
    }
  EXPECT_GT(partial, 50);
}

TEST(Plot, TextAxesAndMarks) {
  Plot p = diagonal_plot();
  p.marks.push_back({0.5, 0.25, "best", 0});
  const image::RawImage img = to_raster(p, 400, 300);
  const PlotFrame f = plot_frame(p, 400, 300);
  EXPECT_TRUE(is_colour(pixel(img, f.px(0.5), f.py(0.25)), kBlue));              // the mark's dot
  EXPECT_GT(dark_pixels(img, 0, 0, 400, static_cast<int>(f.top) - 2), 10);       // title
  EXPECT_GT(dark_pixels(img, 0, static_cast<int>(f.bottom) + 2, 400, 300), 30);  // x ticks
  EXPECT_GT(dark_pixels(img, 0, 0, static_cast<int>(f.left) - 2, 300), 30);      // y ticks
  // Without a title the band above the plot area stays empty.
  p.title.clear();
  const PlotFrame g = plot_frame(p, 400, 300);
  EXPECT_EQ(dark_pixels(to_raster(p, 400, 300), 0, 0, 400, static_cast<int>(g.top) - 8), 0);
}

TEST(Plot, AutomaticRangesEndOnTicks) {
  Plot p;
  p.series.push_back({"a", {0.3, 1.0, 2.7}, {10.0, 12.5, 11.0}});
  p.series.push_back({"b", {0.5, 1.5}, {NAN, 14.2}});
  const PlotFrame f = plot_frame(p, 640, 480);
  EXPECT_DOUBLE_EQ(f.x.min, 0.0);
  EXPECT_DOUBLE_EQ(f.x.max, 3.0);
  EXPECT_DOUBLE_EQ(f.y.min, 10.0);
  EXPECT_DOUBLE_EQ(f.y.max, 15.0);
  p.x_range = Range{-1.0, 5.0};
  EXPECT_DOUBLE_EQ(plot_frame(p, 640, 480).x.max, 5.0);
  // A single value still gets a range around it.
  Plot one;
  one.series.push_back({"", {2.0}, {7.0}});
  const PlotFrame g = plot_frame(one, 640, 480);
  EXPECT_LT(g.x.min, 2.0);
  EXPECT_GT(g.x.max, 2.0);
}

// Checks that every tag is closed in order (self-closing or with its end tag).
bool well_formed(const std::string& xml) {
  std::vector<std::string> open;
  for (std::size_t i = xml.find('<'); i != std::string::npos; i = xml.find('<', i + 1)) {
    const std::size_t end = xml.find('>', i);
    if (end == std::string::npos) return false;
    const std::string tag = xml.substr(i + 1, end - i - 1);
    const std::string name =
        tag.substr(tag[0] == '/', tag.find_first_of(" />", 1) - (tag[0] == '/'));
    if (tag[0] == '/') {
      if (open.empty() || open.back() != name) return false;
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(name);
    }
  }
  return open.empty();
}

// The `points` of the polylines drawn in colour `stroke`, each as its number of points.
std::vector<int> polylines(const std::string& svg, const std::string& stroke) {
  std::vector<int> counts;
  for (std::size_t i = svg.find("<polyline"); i != std::string::npos;
       i = svg.find("<polyline", i + 1)) {
    const std::string tag = svg.substr(i, svg.find("/>", i) - i);
    if (tag.find("stroke=\"" + stroke + "\"") == std::string::npos) continue;
    const std::size_t start = tag.find("points=\"") + 8;
    const std::string points = tag.substr(start, tag.find('"', start) - start);
    counts.push_back(static_cast<int>(std::count(points.begin(), points.end(), ',')));
  }
  return counts;
}

TEST(Plot, SvgIsWellFormedWithOnePointPerValue) {
  Plot p = diagonal_plot();
  p.title = "a < b & \"c\"";  // escaped
  p.series.push_back({"with a gap", {0.0, 0.5, 1.0}, {1.0, NAN, 0.0}});
  p.marks.push_back({0.5, 0.5, "centre", 1});
  const std::string svg = to_svg(p, 640, 480);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_TRUE(well_formed(svg)) << svg;
  EXPECT_NE(svg.find("a &lt; b &amp; &quot;c&quot;"), std::string::npos);
  // Each series: its data polyline (clipped to the plot area) and its legend sample.
  const std::vector<int> blue = polylines(svg, "#1f77b4");
  ASSERT_EQ(blue.size(), 2u);
  EXPECT_EQ(blue[0], 5);
  const std::vector<int> orange = polylines(svg, "#ff7f0e");
  ASSERT_EQ(orange.size(), 2u);
  EXPECT_EQ(orange[0], 2);  // the NaN point is left out
  EXPECT_NE(svg.find("<circle"), std::string::npos);
  EXPECT_NE(svg.find(">centre</text>"), std::string::npos);
  EXPECT_NE(svg.find(">with a gap</text>"), std::string::npos);
}

TEST(Plot, InvalidInput) {
  Plot p = diagonal_plot();
  p.series[0].y.pop_back();
  EXPECT_THROW(to_svg(p), Error);
  p = diagonal_plot();
  p.x_range = Range{1.0, 1.0};
  EXPECT_THROW(to_raster(p), Error);
  EXPECT_THROW(to_raster(diagonal_plot(), 20, 20), Error);  // no room for the axes
  EXPECT_THROW(check_plot_path("plot.pdf"), Error);
  EXPECT_THROW(check_plot_path("plot"), Error);
  EXPECT_NO_THROW(check_plot_path("dir.x/plot.SVG"));
}

TEST(Plot, WritesPngAndSvgByExtension) {
  testing::TempDir dir;
  const Plot p = diagonal_plot();
  write_plot(p, dir.file("a.png"), 320, 240);
  const image::RawImage img = image::read_raw(dir.file("a.png"));
  EXPECT_EQ(img.width, 320);
  EXPECT_EQ(img.height, 240);
  EXPECT_EQ(img.channels, 3);
  write_plot(p, dir.file("a.svg"));
  const auto bytes = read_file(dir.file("a.svg"));
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), to_svg(p));
  EXPECT_THROW(write_plot(p, dir.file("a.jpg")), Error);
  EXPECT_EQ(dir.list(), (std::vector<std::string>{"a.png", "a.svg"}));
}

}  // namespace
}  // namespace strata::eval
