// tests/linf_projection_cli.cpp -- misd's L∞ projection on instances read from stdin, for
// tests/python/check_linf_projection.py (which checks them against scipy's linprog).
//
// Input, per instance: D b has_box, then u (D numbers), w (D), and with a box lo (D), hi (D).
// Output, per instance, one line: reachable step d_1 ... d_D. An argument N sets the
// projection's Newton steps (0: the selection alone).
#include "misd/radius/linf_projection.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <vector>

int main(int argc, char** argv) {
  std::size_t n = 0;
  double b = 0;
  int has_box = 0;
  misd::detail::linf_projection_workspace ws;
  if (argc > 1)
    ws.newton_steps = std::atoi(argv[1]);
  auto read = [](std::vector<double>& v, std::size_t n) {
    v.resize(n);
    for (auto& e : v)
      std::cin >> e;
  };
  std::vector<double> u, w, lo, hi, d;
  while (std::cin >> n >> b >> has_box) {
    read(u, n);
    read(w, n);
    if (has_box) {
      read(lo, n);
      read(hi, n);
    } else {
      lo.clear();
      hi.clear();
    }
    d.assign(n, 0.0);
    const auto r = misd::detail::linf_projection(u, w, b, lo, hi, d, ws);
    std::printf("%d %.17g", r.reachable ? 1 : 0, r.step);
    for (double e : d)
      std::printf(" %.17g", e);
    std::printf("\n");
  }
  if (!std::cin.eof()) {
    std::fprintf(stderr, "linf_projection_cli: malformed input\n");
    return 2;
  }
  return 0;
}
