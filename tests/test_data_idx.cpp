// Tests of misd/data/idx.hpp: IDX files written here (raw and gzip), the Fashion-MNIST files of
// Debian's dataset-fashion-mnist, and malformed files.
#include "misd/data/idx.hpp"

#include "skip.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace md = misd::data;

namespace {

using misd_test::temp_dir;

void put_raw(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out);
}

void put_gzip(const fs::path& p, const std::string& bytes) {
  gzFile f = gzopen(p.c_str(), "wb9");
  REQUIRE(f != nullptr);
  if (!bytes.empty())
    REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
            static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

void be32(std::string& s, std::uint32_t v) {
  for (int k = 3; k >= 0; --k)
    s += static_cast<char>((v >> (8 * k)) & 0xff);
}

std::string images_file(std::uint32_t n, std::uint32_t rows, std::uint32_t cols,
                        const std::vector<unsigned char>& pixels) {
  std::string s;
  be32(s, 0x00000803);
  be32(s, n);
  be32(s, rows);
  be32(s, cols);
  s.append(pixels.begin(), pixels.end());
  return s;
}

std::string labels_file(const std::vector<unsigned char>& labels) {
  std::string s;
  be32(s, 0x00000801);
  be32(s, static_cast<std::uint32_t>(labels.size()));
  s.append(labels.begin(), labels.end());
  return s;
}

/// 3 images of 2 x 4 pixels, covering 0 and 255.
std::vector<unsigned char> known_pixels() {
  std::vector<unsigned char> p(3 * 2 * 4);
  for (std::size_t k = 0; k < p.size(); ++k)
    p[k] = static_cast<unsigned char>((k * 37 + 11) % 256);
  p[0] = 0;
  p[5] = 255;
  p[23] = 128;
  return p;
}

void check_data_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
    FAIL("expected misd::data_error containing '" << *parts.begin() << "'");
  } catch (const misd::data_error& e) {
    const std::string what = e.what();
    INFO("message: " << what);
    CHECK(what.rfind("misd: ", 0) == 0);
    for (const auto& p : parts)
      CHECK_MESSAGE(what.find(p) != std::string::npos, "missing '" << p << "'");
  }
}

void check_known_images(const md::idx_images& im) {
  const auto p = known_pixels();
  CHECK(im.rows == 2);
  CHECK(im.cols == 4);
  REQUIRE(im.pixels.rows() == 3);
  REQUIRE(im.pixels.cols() == 8);
  for (Eigen::Index i = 0; i < 3; ++i)
    for (Eigen::Index j = 0; j < 8; ++j)
      CHECK(im.pixels(i, j) == static_cast<float>(p[static_cast<std::size_t>(i * 8 + j)]) / 255.0f);
  CHECK(im.pixels(0, 0) == 0.0f);
  CHECK(im.pixels(0, 5) == 1.0f);
  CHECK(im.pixels(2, 7) == 128.0f / 255.0f);
}

/// Restores an environment variable on scope exit.
struct env_guard {
  std::string name;
  bool had;
  std::string old;
  explicit env_guard(std::string n) : name(std::move(n)) {
    const char* v = std::getenv(name.c_str());
    had = v != nullptr;
    if (had)
      old = v;
  }
  ~env_guard() {
    if (had)
      ::setenv(name.c_str(), old.c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

} // namespace

TEST_CASE("IDX images and labels read pixel-exact, raw and gzip") {
  temp_dir tmp{"misd-test-idx-"};
  const auto pixels = known_pixels();
  put_raw(tmp.path() / "images.idx", images_file(3, 2, 4, pixels));
  put_gzip(tmp.path() / "images.idx.gz", images_file(3, 2, 4, pixels));
  put_raw(tmp.path() / "labels.idx", labels_file({0, 9, 5}));
  put_gzip(tmp.path() / "labels.idx.gz", labels_file({0, 9, 5}));

  // The gzip file really is compressed (starts with 1f 8b) and differs from the raw one.
  {
    std::ifstream in(tmp.path() / "images.idx.gz", std::ios::binary);
    CHECK(in.get() == 0x1f);
    CHECK(in.get() == 0x8b);
  }
  check_known_images(md::read_idx_images(tmp.path() / "images.idx"));
  check_known_images(md::read_idx_images(tmp.path() / "images.idx.gz"));
  CHECK(md::read_idx_labels(tmp.path() / "labels.idx") == std::vector<int>{0, 9, 5});
  CHECK(md::read_idx_labels(tmp.path() / "labels.idx.gz") == std::vector<int>{0, 9, 5});

  const md::dataset ds =
      md::read_idx_dataset(tmp.path() / "images.idx.gz", tmp.path() / "labels.idx", 10);
  CHECK(ds.images.rows() == 3);
  CHECK(ds.labels == std::vector<int>{0, 9, 5});
  CHECK(ds.rows == 2);
  CHECK(ds.cols == 4);

  // Zero images is a valid file.
  put_gzip(tmp.path() / "none.gz", images_file(0, 28, 28, {}));
  const auto none = md::read_idx_images(tmp.path() / "none.gz");
  CHECK(none.pixels.rows() == 0);
  CHECK(none.pixels.cols() == 784);
}

// CTest test test_data_idx_fashion_mnist: skipped (exit 77), never passed, without the dataset.
TEST_CASE("load_fashion_mnist reads the files of Debian's dataset-fashion-mnist" *
          doctest::test_suite("fashion_mnist")) {
  const auto dir = md::default_fashion_mnist_dir();
  if (!std::filesystem::exists(dir / "train-images-idx3-ubyte.gz") &&
      !std::filesystem::exists(dir / "train-images-idx3-ubyte"))
    misd_test::skip_test("Fashion-MNIST not found under " + dir.string() +
                         " (install dataset-fashion-mnist)");
  const auto t0 = std::chrono::steady_clock::now();
  const md::dataset train = md::load_fashion_mnist(md::split::train);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("60000 training images read in " << seconds << " s");
  CHECK(seconds < 5.0); // ~0.5 s in a Release build; generous for Debug/sanitizer builds
  CHECK(train.rows == 28);
  CHECK(train.cols == 28);
  CHECK(train.images.rows() == 60000);
  CHECK(train.images.cols() == 784);
  REQUIRE(train.labels.size() == 60000);
  CHECK(train.images.minCoeff() == 0.0f);
  CHECK(train.images.maxCoeff() == 1.0f);
  std::vector<int> per_class(10, 0);
  std::size_t out_of_range = 0;
  for (int y : train.labels) {
    if (y < 0 || y > 9)
      ++out_of_range;
    else
      ++per_class[static_cast<std::size_t>(y)];
  }
  CHECK(out_of_range == 0);
  for (int c = 0; c < 10; ++c)
    CHECK(per_class[static_cast<std::size_t>(c)] == 6000); // Fashion-MNIST is balanced

  const md::dataset test =
      md::load_fashion_mnist("/usr/share/datasets/fashion-mnist", md::split::test);
  CHECK(test.images.rows() == 10000);
  CHECK(test.labels.size() == 10000);
  CHECK(test.rows == 28);
  CHECK(test.cols == 28);
  std::set<int> classes(test.labels.begin(), test.labels.end());
  CHECK(classes == std::set<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});

  CHECK(md::parse_split("test") == md::split::test);
  CHECK_THROWS_AS(md::parse_split("validation"), misd::invalid_argument);
}

TEST_CASE("MISD_FASHION_MNIST_DIR and the directory argument select the files") {
  temp_dir tmp{"misd-test-idx-"};
  const auto pixels = known_pixels();
  put_gzip(tmp.path() / "train-images-idx3-ubyte.gz", images_file(3, 2, 4, pixels));
  put_gzip(tmp.path() / "train-labels-idx1-ubyte.gz", labels_file({1, 2, 3}));
  put_raw(tmp.path() / "t10k-images-idx3-ubyte", images_file(3, 2, 4, pixels)); // no .gz
  put_raw(tmp.path() / "t10k-labels-idx1-ubyte", labels_file({4, 5, 6}));

  env_guard guard("MISD_FASHION_MNIST_DIR");
  ::setenv("MISD_FASHION_MNIST_DIR", tmp.path().c_str(), 1);
  CHECK(md::default_fashion_mnist_dir() == tmp.path());
  const md::dataset train = md::load_fashion_mnist(md::split::train);
  CHECK(train.labels == std::vector<int>{1, 2, 3});
  const md::dataset test = md::load_fashion_mnist(md::split::test);
  CHECK(test.labels == std::vector<int>{4, 5, 6});
  check_known_images(md::idx_images{test.images, test.rows, test.cols});

  // An explicit directory wins over the environment.
  check_data_error([&] { md::load_fashion_mnist(tmp.path() / "elsewhere", md::split::train); },
                   {"elsewhere", "dataset-fashion-mnist"});
}

TEST_CASE("malformed IDX files throw data_error naming the file and the problem") {
  temp_dir tmp{"misd-test-idx-"};
  const fs::path d = tmp.path();
  const auto pixels = known_pixels();

  // Labels passed as images: wrong magic.
  put_raw(d / "labels.idx", labels_file({0, 1, 2}));
  check_data_error([&] { md::read_idx_images(d / "labels.idx"); },
                   {"labels.idx", "bad magic at byte offset 0", "expected 0x00000803 (images)",
                    "found 0x00000801"});
  put_gzip(d / "images.gz", images_file(3, 2, 4, pixels));
  check_data_error([&] { md::read_idx_labels(d / "images.gz"); },
                   {"images.gz", "expected 0x00000801 (labels)", "found 0x00000803"});
  put_raw(d / "text.idx", "hello world, not IDX");
  check_data_error([&] { md::read_idx_images(d / "text.idx"); },
                   {"bad magic at byte offset 0", "found 0x68656c6c"});
  std::string int_type = images_file(3, 2, 4, pixels);
  int_type[2] = 0x0c;
  put_raw(d / "int_type.idx", int_type);
  check_data_error([&] { md::read_idx_images(d / "int_type.idx"); },
                   {"unsupported element type 0x0c", "expected 0x08, unsigned byte"});
  put_raw(d / "tiny.idx", std::string("\0\0", 2));
  check_data_error([&] { md::read_idx_images(d / "tiny.idx"); },
                   {"truncated header", "found only 2 bytes"});
  put_raw(d / "nodims.idx", images_file(3, 2, 4, pixels).substr(0, 10));
  check_data_error([&] { md::read_idx_images(d / "nodims.idx"); },
                   {"truncated header: expected 12 bytes of dimensions at byte offset 4, found 6"});

  // Payload one image short, raw and gzip; trailing bytes.
  const std::string short_payload = images_file(3, 2, 4, pixels).substr(0, 16 + 20);
  put_raw(d / "short.idx", short_payload);
  check_data_error([&] { md::read_idx_images(d / "short.idx"); },
                   {"short.idx", "truncated payload: expected 24 bytes (3 x 2 x 4)",
                    "from byte offset 16, found 20"});
  put_gzip(d / "short.gz", short_payload);
  check_data_error([&] { md::read_idx_images(d / "short.gz"); },
                   {"short.gz", "truncated payload: expected 24 bytes (3 x 2 x 4)", "found 20"});
  put_raw(d / "long.idx", images_file(3, 2, 4, pixels) + "xyz");
  check_data_error([&] { md::read_idx_images(d / "long.idx"); },
                   {"trailing bytes: expected 24 bytes", "found 27 (3 extra)"});
  put_raw(d / "labels_short.idx", labels_file({1, 2, 3}).substr(0, 10));
  check_data_error([&] { md::read_idx_labels(d / "labels_short.idx"); },
                   {"truncated payload: expected 3 bytes (3 labels)", "found 2"});

  // A gzip stream cut in the middle.
  std::vector<unsigned char> big(5 * 28 * 28);
  for (std::size_t k = 0; k < big.size(); ++k)
    big[k] = static_cast<unsigned char>((k * 7919) % 251);
  put_gzip(d / "big.gz", images_file(5, 28, 28, big));
  const auto gz_size = fs::file_size(d / "big.gz");
  fs::resize_file(d / "big.gz", gz_size / 2);
  check_data_error([&] { md::read_idx_images(d / "big.gz"); }, {"big.gz", "gzip"});

  // Image and label counts that differ: both files named.
  put_raw(d / "imgs3.idx", images_file(3, 2, 4, pixels));
  put_raw(d / "labels2.idx", labels_file({1, 2}));
  check_data_error([&] { md::read_idx_dataset(d / "imgs3.idx", d / "labels2.idx"); },
                   {"imgs3.idx' holds 3 images", "labels2.idx' holds 2 labels"});
  // A label outside Fashion-MNIST's ten classes.
  put_gzip(d / "train-images-idx3-ubyte.gz", images_file(3, 2, 4, pixels));
  put_gzip(d / "train-labels-idx1-ubyte.gz", labels_file({1, 10, 2}));
  check_data_error(
      [&] { md::load_fashion_mnist(d, md::split::train); },
      {"train-labels-idx1-ubyte.gz", "label 10 at index 1 is out of range (expected 0..9)"});

  // Missing directory and missing file name Debian's package.
  check_data_error([&] { md::load_fashion_mnist(d / "no-such-dir", md::split::train); },
                   {"no-such-dir", "does not exist",
                    "Debian's package dataset-fashion-mnist provides it",
                    "apt-get install dataset-fashion-mnist"});
  check_data_error([&] { md::load_fashion_mnist(d, md::split::test); },
                   {"t10k-images-idx3-ubyte.gz", "dataset-fashion-mnist"});
  check_data_error([&] { md::read_idx_images(d / "absent.idx"); },
                   {"absent.idx", "cannot open: No such file or directory"});
}
