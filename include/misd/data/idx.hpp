// misd/data/idx.hpp -- MNIST-family IDX files (images and labels), raw or gzip-compressed.
//
// An IDX file is a big-endian header followed by unsigned bytes:
//   images: 0x00000803, count, rows, cols, then count*rows*cols pixels (row-major)
//   labels: 0x00000801, count, then count labels
// A file that starts with the gzip magic 1f 8b is decompressed with zlib while reading. The
// magic, the element type (0x08, unsigned byte), the dimensions and the exact payload size
// (neither truncated nor followed by trailing bytes) are checked; any problem throws
// misd::data_error naming the file and what was expected and found.
//
// load_fashion_mnist reads the Fashion-MNIST files that Debian's package dataset-fashion-mnist
// installs under /usr/share/datasets/fashion-mnist (another directory can be given as an
// argument or by the environment variable MISD_FASHION_MNIST_DIR).
#pragma once

#include "misd/error.hpp"

#include <Eigen/Core>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace misd::data {

/// Row-major float matrix: one example per row.
using image_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Images from an IDX file: N x (rows*cols) pixels scaled to [0, 1] (byte / 255).
struct idx_images {
  image_matrix pixels;
  std::size_t rows = 0;
  std::size_t cols = 0;
};

/// A labelled image set: images N x (rows*cols) in [0, 1], labels N.
struct dataset {
  image_matrix images;
  std::vector<int> labels;
  std::size_t rows = 0;
  std::size_t cols = 0;
};

/// Which half of a dataset.
enum class split { train, test };

} // namespace misd::data

namespace misd::detail {

template <class... Args>
[[noreturn]] void idx_fail(const std::filesystem::path& path, Args&&... args) {
  throw data_error(
      detail::message("IDX file '", path.string(), "': ", std::forward<Args>(args)...));
}

inline std::string idx_hex32(std::uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(v));
  return buf;
}

/// Sequential reader over a raw or gzip-compressed file.
class idx_byte_source {
public:
  explicit idx_byte_source(const std::filesystem::path& path) : path_(path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
      const int err = errno;
      idx_fail(path, "cannot open: ", std::error_code(err, std::generic_category()).message());
    }
    unsigned char m[2] = {0, 0};
    const std::size_t got = std::fread(m, 1, 2, f);
    gzip_ = got == 2 && m[0] == 0x1f && m[1] == 0x8b;
    if (gzip_) {
      std::fclose(f);
      gz_ = ::gzopen(path.c_str(), "rb");
      if (gz_ == nullptr)
        idx_fail(path, "cannot open as gzip");
      ::gzbuffer(gz_, 1u << 18);
    } else {
      std::rewind(f);
      file_ = f;
    }
  }
  idx_byte_source(const idx_byte_source&) = delete;
  idx_byte_source& operator=(const idx_byte_source&) = delete;
  ~idx_byte_source() {
    if (gz_ != nullptr)
      ::gzclose(gz_);
    if (file_ != nullptr)
      std::fclose(file_);
  }

  bool gzip() const { return gzip_; }
  /// Bytes of (decompressed) content read so far.
  std::uint64_t position() const { return pos_; }

  /// Reads up to n bytes; fewer only at the end of the content. Throws on read or gzip errors.
  std::size_t read(void* dst, std::size_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    std::size_t total = 0;
    while (total < n) {
      std::size_t got = 0;
      if (gzip_) {
        const unsigned want =
            static_cast<unsigned>(std::min<std::size_t>(n - total, std::size_t{1} << 30));
        const int r = ::gzread(gz_, out + total, want);
        if (r < 0) {
          int errnum = 0;
          const char* msg = ::gzerror(gz_, &errnum);
          idx_fail(path_, "gzip error after ", pos_ + total,
                   " decompressed bytes: ", msg ? msg : "?");
        }
        got = static_cast<std::size_t>(r);
        if (got == 0) {
          int errnum = 0;
          const char* msg = ::gzerror(gz_, &errnum);
          if (errnum != Z_OK)
            idx_fail(path_, "gzip error after ", pos_ + total,
                     " decompressed bytes: ", msg ? msg : "?");
        }
      } else {
        got = std::fread(out + total, 1, n - total, file_);
        if (got == 0 && std::ferror(file_))
          idx_fail(path_, "read error at byte offset ", pos_ + total);
      }
      if (got == 0)
        break;
      total += got;
    }
    pos_ += total;
    return total;
  }

  /// Bytes left in a raw file (unknown, returned as -1, for gzip).
  long long remaining_raw() {
    if (gzip_)
      return -1;
    std::error_code ec;
    const auto size = std::filesystem::file_size(path_, ec);
    if (ec)
      return -1;
    return static_cast<long long>(size) - static_cast<long long>(pos_);
  }

private:
  std::filesystem::path path_;
  bool gzip_ = false;
  gzFile gz_ = nullptr;
  std::FILE* file_ = nullptr;
  std::uint64_t pos_ = 0;
};

inline std::uint32_t idx_be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

/// Reads and checks the header; returns the dimensions.
inline std::vector<std::uint32_t> read_idx_header(const std::filesystem::path& path,
                                                  idx_byte_source& src, unsigned expected_dims,
                                                  const char* what) {
  unsigned char head[4];
  const std::size_t got = src.read(head, 4);
  const std::uint32_t expected_magic = 0x00000800u | expected_dims;
  if (got < 4)
    idx_fail(path, "truncated header: expected the 4-byte magic ", idx_hex32(expected_magic), " (",
             what, "), found only ", got, " bytes");
  const std::uint32_t magic = idx_be32(head);
  if (head[0] != 0 || head[1] != 0)
    idx_fail(path, "bad magic at byte offset 0: expected ", idx_hex32(expected_magic), " (", what,
             "), found ", idx_hex32(magic), src.gzip() ? " (after gzip decompression)" : "");
  if (head[2] != 0x08)
    idx_fail(path, "unsupported element type 0x", idx_hex32(head[2]).substr(8),
             " at byte offset 2 (expected 0x08, unsigned byte)");
  if (head[3] != expected_dims)
    idx_fail(path, "bad magic at byte offset 0: expected ", idx_hex32(expected_magic), " (", what,
             "), found ", idx_hex32(magic), " (", unsigned{head[3]}, " dimensions)");
  std::vector<std::uint32_t> dims(expected_dims);
  unsigned char buf[12];
  const std::size_t need = 4 * std::size_t{expected_dims};
  const std::size_t got_dims = src.read(buf, need);
  if (got_dims < need)
    idx_fail(path, "truncated header: expected ", need,
             " bytes of dimensions at byte offset 4, found ", got_dims);
  for (unsigned k = 0; k < expected_dims; ++k)
    dims[k] = idx_be32(buf + 4 * k);
  return dims;
}

/// Reads exactly n payload bytes after the header, then checks that nothing follows.
inline std::vector<unsigned char> read_idx_payload(const std::filesystem::path& path,
                                                   idx_byte_source& src, std::uint64_t n,
                                                   const std::string& shape_text) {
  const std::uint64_t offset = src.position();
  const long long left = src.remaining_raw();
  if (left >= 0 && static_cast<std::uint64_t>(left) < n)
    idx_fail(path, "truncated payload: expected ", n, " bytes (", shape_text, ") from byte offset ",
             offset, ", found ", left);
  std::vector<unsigned char> data;
  // Grow in chunks so that a corrupt gzip header cannot make us allocate a huge buffer up front.
  constexpr std::uint64_t chunk = std::uint64_t{1} << 24;
  while (data.size() < n) {
    const std::size_t before = data.size();
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, n - before));
    data.resize(before + want);
    const std::size_t got = src.read(data.data() + before, want);
    if (got < want)
      idx_fail(path, "truncated payload: expected ", n, " bytes (", shape_text,
               ") from byte offset ", offset, src.gzip() ? " of the decompressed content" : "",
               ", found ", before + got);
  }
  unsigned char extra[4096];
  std::uint64_t trailing = 0;
  for (std::size_t got; (got = src.read(extra, sizeof extra)) > 0;)
    trailing += got;
  if (trailing > 0)
    idx_fail(path, "trailing bytes: expected ", n, " bytes (", shape_text, ") from byte offset ",
             offset, ", found ", n + trailing, " (", trailing, " extra)");
  return data;
}

[[noreturn]] inline void idx_missing(const std::filesystem::path& what, bool directory) {
  throw data_error(detail::message(
      "Fashion-MNIST ", directory ? "directory '" : "file '", what.string(),
      "' does not exist; Debian's package dataset-fashion-mnist provides it "
      "(apt-get install dataset-fashion-mnist), or give another directory (argument or "
      "MISD_FASHION_MNIST_DIR)"));
}

} // namespace misd::detail

namespace misd::data {

/// Reads an IDX image file (magic 0x00000803): N x (rows*cols) pixels in [0, 1].
inline idx_images read_idx_images(const std::filesystem::path& path) {
  misd::detail::idx_byte_source src(path);
  const auto dims = misd::detail::read_idx_header(path, src, 3, "images");
  const std::uint64_t n = dims[0], rows = dims[1], cols = dims[2];
  const std::uint64_t per = rows * cols; // < 2^64: both < 2^32
  std::uint64_t total = 0;
  // `per` is checked too: with n = 0 the total is 0 however large rows x cols is (fuzzing).
  if (__builtin_mul_overflow(n, per, &total) ||
      total > static_cast<std::uint64_t>(std::numeric_limits<Eigen::Index>::max()) ||
      per > static_cast<std::uint64_t>(std::numeric_limits<Eigen::Index>::max()))
    misd::detail::idx_fail(path, "dimensions ", n, " x ", rows, " x ", cols, " overflow");
  const auto bytes = misd::detail::read_idx_payload(
      path, src, total,
      std::to_string(n) + " x " + std::to_string(rows) + " x " + std::to_string(cols));
  idx_images out;
  out.rows = static_cast<std::size_t>(rows);
  out.cols = static_cast<std::size_t>(cols);
  out.pixels.resize(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(per));
  float table[256]; // byte / 255, correctly rounded: 0 -> 0 and 255 -> 1 exactly
  for (int b = 0; b < 256; ++b)
    table[b] = static_cast<float>(b) / 255.0f;
  float* dst = out.pixels.data();
  for (std::size_t k = 0; k < bytes.size(); ++k)
    dst[k] = table[bytes[k]];
  return out;
}

/// Reads an IDX label file (magic 0x00000801): N labels 0..255.
inline std::vector<int> read_idx_labels(const std::filesystem::path& path) {
  misd::detail::idx_byte_source src(path);
  const auto dims = misd::detail::read_idx_header(path, src, 1, "labels");
  const auto bytes =
      misd::detail::read_idx_payload(path, src, dims[0], std::to_string(dims[0]) + " labels");
  return std::vector<int>(bytes.begin(), bytes.end());
}

/// Reads images and labels and checks that their counts agree. If `num_classes` > 0, every
/// label must be below it (else data_error naming the index and value).
inline dataset read_idx_dataset(const std::filesystem::path& images_path,
                                const std::filesystem::path& labels_path, int num_classes = 0) {
  idx_images im = read_idx_images(images_path);
  std::vector<int> labels = read_idx_labels(labels_path);
  if (static_cast<std::size_t>(im.pixels.rows()) != labels.size())
    throw data_error(detail::message("IDX files disagree: '", images_path.string(), "' holds ",
                                     im.pixels.rows(), " images but '", labels_path.string(),
                                     "' holds ", labels.size(), " labels"));
  if (num_classes > 0)
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] >= num_classes)
        throw data_error(detail::message("IDX file '", labels_path.string(), "': label ", labels[i],
                                         " at index ", i, " is out of range (expected 0..",
                                         num_classes - 1, ")"));
  return dataset{std::move(im.pixels), std::move(labels), im.rows, im.cols};
}

/// The Fashion-MNIST directory used when none is given: $MISD_FASHION_MNIST_DIR if set and
/// non-empty, else /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).
inline std::filesystem::path default_fashion_mnist_dir() {
  if (const char* env = std::getenv("MISD_FASHION_MNIST_DIR"); env != nullptr && *env != '\0')
    return env;
  return "/usr/share/datasets/fashion-mnist";
}

/// "train" or "test" (misd::invalid_argument otherwise).
inline split parse_split(std::string_view s) {
  if (s == "train")
    return split::train;
  if (s == "test")
    return split::test;
  throw invalid_argument(detail::message("unknown split '", s, "' (expected train or test)"));
}

/// Loads Fashion-MNIST's train (60000) or test (10000) split, 28 x 28, labels 0..9, from
/// `dir` ({train,t10k}-{images-idx3,labels-idx1}-ubyte, with ".gz" or without).
inline dataset load_fashion_mnist(const std::filesystem::path& dir, split which) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    misd::detail::idx_missing(dir, true);
  const std::string prefix = which == split::train ? "train" : "t10k";
  auto find = [&](const std::string& stem) {
    const fs::path gz = dir / (stem + ".gz");
    if (fs::exists(gz, ec))
      return gz;
    const fs::path raw = dir / stem;
    if (fs::exists(raw, ec))
      return raw;
    misd::detail::idx_missing(gz, false);
  };
  const fs::path images = find(prefix + "-images-idx3-ubyte");
  const fs::path labels = find(prefix + "-labels-idx1-ubyte");
  return read_idx_dataset(images, labels, 10);
}

/// load_fashion_mnist(default_fashion_mnist_dir(), which).
inline dataset load_fashion_mnist(split which = split::train) {
  return load_fashion_mnist(default_fashion_mnist_dir(), which);
}

} // namespace misd::data
