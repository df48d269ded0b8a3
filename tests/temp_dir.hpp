// tests/temp_dir.hpp -- a unique scratch directory for one test, removed with its contents
// at the end of the scope. Deliberately light: no misd or doctest headers.
#pragma once

#include <cerrno>
#include <cstdlib> // ::mkdtemp (POSIX, declared by glibc's <stdlib.h>)
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace misd_test {

/// A fresh directory `<temp_directory_path()>/<prefix>XXXXXX` made by mkdtemp (so tests
/// run in parallel, or a killed earlier run, never share one), removed recursively by the
/// destructor, which never throws.
class temp_dir {
public:
  explicit temp_dir(const std::string& prefix) {
    const std::string tmpl =
        (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
    std::string name = tmpl; // mkdtemp overwrites the X's
    if (::mkdtemp(name.data()) == nullptr) {
      const int err = errno;
      throw std::runtime_error("temp_dir: mkdtemp(\"" + tmpl +
                               "\") failed: " + std::generic_category().message(err));
    }
    path_ = name;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

} // namespace misd_test
