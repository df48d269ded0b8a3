// examples/misd/gnuplot.hpp -- PNG plots for the demo, drawn by gnuplot (Debian package
// gnuplot-nox). Data and script go to a scratch directory; the PNG is written under a
// temporary name, its signature checked, then renamed into place.
#pragma once

#include "misd/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace misd_cli {

struct series {
  std::string title;
  std::vector<double> x, y;
};

struct plot_spec {
  std::string title, xlabel, ylabel;
  bool logx = false;
  bool steps = false; ///< draw as a histogram outline
};

namespace detail {
inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += (c == '\'') ? std::string("''") : std::string(1, c);
  return out + "'";
}
} // namespace detail

/// Draws `data` as lines into `png`. Throws misd::data_error when gnuplot fails.
inline void plot_png(const std::filesystem::path& png, const plot_spec& spec,
                     const std::vector<series>& data) {
  namespace fs = std::filesystem;
  const fs::path dir = png.parent_path().empty() ? fs::path(".") : png.parent_path();
  const fs::path scratch = dir / (".plot." + png.filename().string() + ".tmp");
  fs::remove_all(scratch);
  fs::create_directories(scratch);
  const fs::path tmp_png = scratch / "out.png";
  std::ofstream script(scratch / "plot.gp");
  script << "set terminal pngcairo size 900,600 noenhanced font 'sans,11'\n"
         << "set output " << detail::quote(tmp_png.string()) << "\n"
         << "set title " << detail::quote(spec.title) << "\n"
         << "set xlabel " << detail::quote(spec.xlabel) << "\n"
         << "set ylabel " << detail::quote(spec.ylabel) << "\n"
         << "set key outside right\nset grid\n";
  if (spec.logx)
    script << "set logscale x\n";
  script << "plot ";
  for (std::size_t s = 0; s < data.size(); ++s) {
    const fs::path file = scratch / ("series" + std::to_string(s) + ".dat");
    std::ofstream out(file);
    out.precision(10);
    for (std::size_t i = 0; i < data[s].x.size(); ++i)
      if (std::isfinite(data[s].x[i]) && std::isfinite(data[s].y[i]) &&
          (!spec.logx || data[s].x[i] > 0))
        out << data[s].x[i] << ' ' << data[s].y[i] << '\n';
    script << (s ? ", " : "") << detail::quote(file.string()) << " using 1:2 with "
           << (spec.steps ? "steps" : "lines") << " lw 2 title " << detail::quote(data[s].title);
  }
  script << "\n";
  script.close();
  const std::string cmd =
      "gnuplot " + detail::quote((scratch / "plot.gp").string()) + " 2>" +
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
  fs::rename(tmp_png, png);
  fs::remove_all(scratch);
}

/// Density histogram of `values` over log10-spaced bins (for radii), as a series.
inline series log_histogram(const std::string& title, const std::vector<double>& values, double lo,
                            double hi, int bins) {
  series s{title, {}, {}};
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
