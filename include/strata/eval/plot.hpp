// Small line plots without any plotting library: named series of (x, y) points with axes, ticks,
// a legend and labelled marks, rendered as SVG text or as an RGB image (anti-aliased lines,
// built-in 5×7 bitmap font) that is written as PNG. Torch-free; used for the PR curves of the
// boundary benchmark and for curves over iterations (e.g. PSNR per step).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "strata/image/codec.hpp"

namespace strata::eval {

/// One curve: the points (x[i], y[i]) joined in the given order. Points with a non-finite
/// coordinate are left out (the line goes on from the previous finite point).
struct Series {
  std::string name;  ///< shown in the legend (series without a name are not listed)
  std::vector<double> x, y;
};

/// A labelled point, drawn as a dot in the colour of series `series` (black when -1).
struct Mark {
  double x = 0.0, y = 0.0;
  std::string label;
  int series = -1;
};

/// An axis range, min < max.
struct Range {
  double min = 0.0, max = 1.0;
};

struct Plot {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  std::vector<Mark> marks;
  std::optional<Range> x_range, y_range;  ///< unset: from the data, widened to whole ticks
};

/// Where the axes of a plot land in an image of width × height pixels: the plot area (pixel
/// edges, left < right, top < bottom) and the data ranges it shows.
struct PlotFrame {
  double left = 0.0, top = 0.0, right = 0.0, bottom = 0.0;
  Range x, y;

  /// Pixel coordinates of a data point (y grows downwards).
  double px(double x_value) const;
  double py(double y_value) const;
};

/// The frame of `plot` at a given size; throws strata::Error for inconsistent input (series x
/// and y of different lengths, a range with min >= max, a size too small for the axes).
PlotFrame plot_frame(const Plot& plot, int width, int height);

/// The plot as an SVG document.
std::string to_svg(const Plot& plot, int width = 640, int height = 480);

/// The plot as an 8-bit RGB image.
image::RawImage to_raster(const Plot& plot, int width = 640, int height = 480);

/// Throws strata::Error unless `path` ends in .png or .svg (any case): call it before long work.
void check_plot_path(const std::string& path);

/// Writes the plot as PNG or SVG, chosen by the extension of `path`, atomically (temp + rename).
void write_plot(const Plot& plot, const std::string& path, int width = 640, int height = 480);

}  // namespace strata::eval
