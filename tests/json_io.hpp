// tests/json_io.hpp -- numbers in and out of the helper programs that the Python reference
// checks drive: JSON text that Python's json module reads (NaN, Infinity and -Infinity
// included, shortest round-trip digits), and numbers read as strtod reads them.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <istream>
#include <string>

namespace misd_test {

inline std::string json_number(double x) {
  if (std::isnan(x))
    return "NaN";
  if (std::isinf(x))
    return x > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

/// A JSON array of any vector with size() and operator[] (std::vector, Eigen vectors).
template <class V>
std::string json_array(const V& xs) {
  std::string s = "[";
  for (decltype(xs.size()) i = 0; i < xs.size(); ++i) {
    if (i)
      s += ',';
    s += json_number(static_cast<double>(xs[i]));
  }
  return s + "]";
}

/// The next whitespace-separated number: strtod reads "inf" and "nan", unlike >> double.
inline double read_double(std::istream& in) {
  std::string t;
  in >> t;
  return std::strtod(t.c_str(), nullptr);
}

} // namespace misd_test
