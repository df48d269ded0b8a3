// misd/error.hpp -- the exceptions misd throws.
//
// Policy: misuse (wrong shapes, bad options) throws misd::invalid_argument; bad data
// (non-finite values, malformed or unreadable files) throws misd::data_error. Every
// message starts with "misd: " and names the example index, sizes or file involved,
// so that it can be searched for.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace misd {

/// Base of every exception misd throws.
class error : public std::runtime_error {
public:
  explicit error(const std::string& what) : std::runtime_error(what) {}
};

/// Misuse: shapes that do not agree, options out of range, unknown names.
class invalid_argument : public error {
public:
  using error::error;
};

/// Bad data: non-finite inputs or logits, malformed or unreadable files.
class data_error : public error {
public:
  using error::error;
};

/// A metric asked for on data where it is undefined (no errors, or no correct examples).
class undefined_metric : public error {
public:
  using error::error;
};

namespace detail {
/// Builds "misd: " + the streamed arguments.
template <class... Args>
std::string message(Args&&... args) {
  std::ostringstream os;
  os << "misd: ";
  (os << ... << std::forward<Args>(args));
  return os.str();
}
} // namespace detail

} // namespace misd
