// examples/misd/gnuplot.hpp -- PNG plots for the demo, drawn by gnuplot (Debian package
// gnuplot-nox). Each figure is written with the gnuplot script that draws it (NAME.gp beside
// NAME.png, its data inline), so a reader can restyle or re-plot it; both files are written
// under temporary names and renamed into place once gnuplot has produced a valid PNG.
//
// Every series gets a style of its own within its figure: a colour from a palette that stays
// distinct for colour-blind readers, and, per group, either a dash pattern (group 0) or a solid
// line with a point type (group 1), so that curves can be told apart in black and white too.
// The key lists group 0 under its heading, then group 1 under its own.
#pragma once

#include "misd/error.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace misd_cli {

struct series {
  std::string title;
  std::vector<double> x, y;
  int group = 0; ///< 0 or 1: drawn dashed or solid with points, listed under plot_spec's heading
};

struct plot_spec {
  std::string title, xlabel, ylabel;
  bool logx = false;
  bool steps = false;                  ///< draw as a histogram outline
  std::array<std::string, 2> groups{}; ///< key headings of groups 0 and 1 ("" for none)
};

/// Styles available per figure: at most this many series.
inline constexpr std::size_t max_series_per_plot = 12;

namespace detail {
inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += (c == '\'') ? std::string("''") : std::string(1, c);
  return out + "'";
}

// Okabe & Ito's colour-blind-safe palette, then four darker tones for figures with more
// series than it has.
inline constexpr std::array<const char*, max_series_per_plot> palette{
    "#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2",
    "#CC79A7", "#8C6D00", "#7F7F7F", "#5D3A9B", "#1B5E20", "#B2182B"};
// Group 0: one dash pattern each (none solid); group 1: solid lines, one point type each.
inline constexpr std::array<const char*, max_series_per_plot> dashes{
    "(8,4)",     "(2,3)",      "(12,4,2,4)", "(4,4)",          "(12,6)", "(2,3,8,3)",
    "(6,2,2,2)", "(16,4,4,4)", "(1,2)",      "(10,2,2,2,2,2)", "(6,6)",  "(20,5)"};
inline constexpr std::array<int, max_series_per_plot> points{4, 6, 8, 10, 12, 14, 1, 2, 3, 5, 7, 9};

/// The gnuplot commands of one figure, its data inline (datablocks $s0, $s1, ...); the
/// output file is the variable `outfile`, defaulting to `png_name`.
inline std::string plot_script(const std::string& png_name, const plot_spec& spec,
                               std::vector<series> data) {
  if (data.size() > max_series_per_plot)
    throw misd::invalid_argument(misd::detail::message("plot '", spec.title, "': ", data.size(),
                                                       " series, at most ", max_series_per_plot,
                                                       " have distinct styles"));
  std::stable_sort(data.begin(), data.end(),
                   [](const series& a, const series& b) { return a.group < b.group; });
  std::ostringstream gp;
  gp.precision(10);
  gp << "# " << spec.title << "\n# re-plot: gnuplot " << png_name.substr(0, png_name.size() - 4)
     << ".gp (writes " << png_name << ")\n"
     << "if (!exists(\"outfile\")) outfile = " << quote(png_name) << "\n"
     << "set terminal pngcairo size 1000,620 noenhanced font 'sans,11'\n"
     << "set output outfile\n"
     << "set title " << quote(spec.title) << "\n"
     << "set xlabel " << quote(spec.xlabel) << "\n"
     << "set ylabel " << quote(spec.ylabel) << "\n"
     << "set key outside right top Left reverse samplen 5 spacing 1.2\nset grid\n";
  if (spec.logx)
    gp << "set logscale x\n";
  std::vector<std::size_t> rows_of(data.size(), 0);
  for (std::size_t s = 0; s < data.size(); ++s) {
    gp << "$s" << s << " << EOD\n";
    std::size_t& rows = rows_of[s];
    for (std::size_t i = 0; i < data[s].x.size(); ++i)
      if (std::isfinite(data[s].x[i]) && std::isfinite(data[s].y[i]) &&
          (!spec.logx || data[s].x[i] > 0)) {
        gp << data[s].x[i] << ' ' << data[s].y[i] << '\n';
        ++rows;
      }
    if (rows == 0) // gnuplot refuses an empty datablock; a point off every axis is drawn as nothing
      gp << "NaN NaN\n";
    gp << "EOD\n";
  }
  gp << "plot ";
  int last_group = -1;
  bool first = true, solid_taken = false;
  for (std::size_t s = 0; s < data.size(); ++s) {
    const int g = std::clamp(data[s].group, 0, 1);
    if (g != last_group && !spec.groups[static_cast<std::size_t>(g)].empty()) {
      gp << (first ? "" : ", ") << "keyentry with lines lc rgb '#FFFFFF' title "
         << quote(spec.groups[static_cast<std::size_t>(g)]);
      first = false;
    }
    last_group = g;
    gp << (first ? "" : ", \\\n     ") << "$s" << s << " using 1:2 with "
       << (spec.steps ? "steps" : (g == 1 ? "linespoints" : "lines")) << " lw "
       << (g == 1 ? "2.5" : "2") << " lc rgb '" << palette[s] << "'";
    if (g == 0 || (spec.steps && solid_taken)) {
      gp << " dt " << dashes[s]; // steps draw no points: a dash pattern of its own instead
    } else if (spec.steps) {
      gp << " dt solid";
      solid_taken = true;
    } else {
      // About a dozen markers along each curve, whatever its number of points.
      gp << " dt solid pt " << points[s] << " ps 1.3 pointinterval -"
         << std::max<std::size_t>(1, rows_of[s] / 12);
    }
    gp << " title " << quote(data[s].title);
    first = false;
  }
  gp << "\n";
  return gp.str();
}
} // namespace detail

/// Draws `data` into `png` and writes the script that does it beside it (same stem, .gp).
/// Throws misd::data_error when gnuplot fails.
inline void plot_png(const std::filesystem::path& png, const plot_spec& spec,
                     const std::vector<series>& data) {
  namespace fs = std::filesystem;
  const fs::path dir = png.parent_path().empty() ? fs::path(".") : png.parent_path();
  const fs::path scratch = dir / (".plot." + png.filename().string() + ".tmp");
  fs::remove_all(scratch);
  fs::create_directories(scratch);
  const fs::path tmp_png = scratch / "out.png", tmp_gp = scratch / "plot.gp";
  {
    std::ofstream script(tmp_gp);
    script << detail::plot_script(png.filename().string(), spec, data);
    if (!script.flush())
      throw misd::data_error(misd::detail::message("cannot write ", tmp_gp.string()));
  }
  {
    // The figure's script draws into `outfile` when it is set: here, the temporary PNG.
    std::ofstream run(scratch / "run.gp");
    run << "outfile = " << detail::quote(tmp_png.string()) << "\nload "
        << detail::quote(tmp_gp.string()) << "\n";
  }
  const std::string cmd = "gnuplot " + detail::quote((scratch / "run.gp").string()) + " 2>" +
                          detail::quote((scratch / "gnuplot.err").string());
  const int rc = std::system(cmd.c_str());
  char sig[8] = {};
  std::ifstream check(tmp_png, std::ios::binary);
  check.read(sig, 8);
  const bool ok = rc == 0 && check.gcount() == 8 && std::string(sig + 1, 3) == "PNG";
  check.close();
  if (!ok) {
    std::ifstream err(scratch / "gnuplot.err");
    std::string why((std::istreambuf_iterator<char>(err)), {});
    fs::remove_all(scratch);
    throw misd::data_error(misd::detail::message(
        "gnuplot failed to draw ", png.string(),
        rc != 0 && why.empty() ? " (is gnuplot installed? apt-get install gnuplot-nox)" : "",
        why.empty() ? "" : ": ", why));
  }
  fs::path gp = png;
  gp.replace_extension(".gp");
  fs::rename(tmp_gp, gp);
  fs::rename(tmp_png, png);
  fs::remove_all(scratch);
}

/// Density histogram of `values` over log10-spaced bins (for radii), as a series.
inline series log_histogram(const std::string& title, const std::vector<double>& values, double lo,
                            double hi, int bins, int group = 0) {
  series s{title, {}, {}, group};
  std::vector<double> count(static_cast<std::size_t>(bins), 0.0);
  const double a = std::log10(lo), b = std::log10(hi);
  std::size_t used = 0;
  for (double v : values) {
    if (!(v > 0) || !std::isfinite(v))
      continue;
    const double t = (std::log10(v) - a) / (b - a);
    const auto k = static_cast<long>(std::floor(t * bins));
    count[static_cast<std::size_t>(std::clamp<long>(k, 0, bins - 1))] += 1;
    ++used;
  }
  for (int k = 0; k <= bins; ++k) {
    s.x.push_back(std::pow(10.0, a + (b - a) * k / bins));
    const double c = count[static_cast<std::size_t>(std::min(k, bins - 1))];
    s.y.push_back(used ? c / double(used) : 0.0);
  }
  return s;
}

} // namespace misd_cli
