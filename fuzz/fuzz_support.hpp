// fuzz/fuzz_support.hpp -- what the libFuzzer targets share: a private scratch directory,
// writing the fuzz input (or parts of it) to files there, and the exception policy.
//
// Policy checked by every target: a malformed file makes misd throw misd::data_error (and
// nothing else); any other exception escapes the target, which libFuzzer reports as a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace misd_fuzz {

/// A directory private to this process, created on first use and removed at exit.
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "misd-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("misd fuzz: mkdtemp");
      std::abort();
    }
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch(), ec);
    });
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

/// Writes `bytes` to `path` (truncating).
inline void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::perror("misd fuzz: write");
    std::abort();
  }
}

/// The separator between the files packed into one fuzz input (see the .dict files).
inline constexpr std::string_view part_separator = "\n--misd-fuzz-part--\n";

/// Splits the input at every part_separator.
inline std::vector<std::string_view> split_parts(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  for (;;) {
    const auto at = rest.find(part_separator);
    parts.push_back(rest.substr(0, at));
    if (at == std::string_view::npos)
      return parts;
    rest.remove_prefix(at + part_separator.size());
  }
}

/// An empty subdirectory of scratch() named `name` (emptied if it exists).
inline std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = scratch() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directory(dir);
  return dir;
}

} // namespace misd_fuzz
