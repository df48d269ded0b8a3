// Tests of misd/data/npy.hpp: round trips, files written by NumPy, files read by NumPy, and
// malformed files, each with the message it must produce.
//
// NumPy is run as /usr/bin/python3 (Debian's python3-numpy). The two NumPy interoperability
// cases (doctest suite "numpy", CTest test test_data_npy_numpy) are skipped -- exit 77, shown
// as skipped by CTest, never passed -- where it lacks NumPy or MISD_TEST_SKIP_PYTHON=1 is set.
#include "misd/data/npy.hpp"

#include "skip.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <xtensor/xbuilder.hpp>
#include <xtensor/xio.hpp>
#include <xtensor/xview.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace md = misd::data;

namespace {

using misd_test::temp_dir;

void put(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out);
}

/// Skips the calling case (tests/skip.hpp) where NumPy cannot be run.
void require_numpy() {
  const char* s = std::getenv("MISD_TEST_SKIP_PYTHON");
  if (s != nullptr && std::string(s) == "1")
    misd_test::skip_test("MISD_TEST_SKIP_PYTHON=1: the NumPy cases are not run");
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    misd_test::skip_test("/usr/bin/python3 with numpy not found (install python3-numpy)");
}

/// Runs a Python script with NumPy; returns its exit status.
int run_python(const fs::path& dir, const std::string& code) {
  const fs::path script = dir / "script.py";
  put(script, "import sys, numpy as np\nd = sys.argv[1]\n" + code);
  const std::string cmd = "/usr/bin/python3 '" + script.string() + "' '" + dir.string() + "'";
  const int rc = std::system(cmd.c_str());
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/// An NPY file built by hand: magic, version, header length, dictionary padded to 64, data.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  const std::size_t prefix = major == 1 ? 10 : 12;
  std::string h = dict;
  h.append((64 - (prefix + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (std::size_t k = 0; k < prefix - 8; ++k)
    out += static_cast<char>((h.size() >> (8 * k)) & 0xff);
  return out + h + data;
}

template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string s;
  for (T v : values)
    s.append(reinterpret_cast<const char*>(&v), sizeof v);
  return s;
}

/// Asserts that f throws misd::data_error whose message contains every one of `parts`.
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

template <class T>
void round_trip(const fs::path& dir, const std::string& name, const xt::xarray<T>& a,
                const std::string& descr) {
  INFO("dtype " << descr);
  const fs::path f = dir / name;
  md::write_npy(f, a);
  const md::npy_header h = md::read_npy_header(f);
  CHECK(h.descr == descr);
  CHECK(h.data_offset % 64 == 0);
  CHECK(h.version_major == 1);
  CHECK(std::vector<std::size_t>(a.shape().begin(), a.shape().end()) == h.shape);
  CHECK(fs::file_size(f) == h.data_offset + a.size() * sizeof(T));
  const xt::xarray<T> b = md::read_npy<T>(f);
  CHECK(b.shape() == a.shape());
  CHECK(std::equal(a.begin(), a.end(), b.begin()));
}

} // namespace

TEST_CASE("NPY round trip for every written dtype") {
  temp_dir tmp{"misd-test-npy-"};
  round_trip<float>(tmp.path(), "f4.npy",
                    xt::xarray<float>{{1.5f, -0.0f, std::numeric_limits<float>::max()},
                                      {std::numeric_limits<float>::denorm_min(), 3e-20f, -7.25f}},
                    "<f4");
  round_trip<double>(tmp.path(), "f8.npy", xt::xarray<double>{0.1, -1e300, 4.9e-324, M_PI}, "<f8");
  round_trip<std::int64_t>(tmp.path(), "i8.npy",
                           xt::xarray<std::int64_t>{{std::numeric_limits<std::int64_t>::min(), -1},
                                                    {0, std::numeric_limits<std::int64_t>::max()}},
                           "<i8");
  round_trip<std::uint8_t>(tmp.path(), "u1.npy", xt::xarray<std::uint8_t>{0, 1, 127, 128, 255},
                           "|u1");
  round_trip<bool>(tmp.path(), "b1.npy", xt::xarray<bool>{true, false, false, true}, "|b1");
  round_trip<std::int32_t>(tmp.path(), "i4.npy", xt::xarray<std::int32_t>{-5, 70000}, "<i4");
  round_trip<std::int16_t>(tmp.path(), "i2.npy", xt::xarray<std::int16_t>{-300, 300}, "<i2");
  round_trip<std::int8_t>(tmp.path(), "i1.npy", xt::xarray<std::int8_t>{-128, 127}, "|i1");
  round_trip<std::uint16_t>(tmp.path(), "u2.npy", xt::xarray<std::uint16_t>{65535, 1}, "<u2");
  round_trip<std::uint32_t>(tmp.path(), "u4.npy", xt::xarray<std::uint32_t>{4000000000u}, "<u4");
  round_trip<std::uint64_t>(tmp.path(), "u8.npy", xt::xarray<std::uint64_t>{~std::uint64_t{0}},
                            "<u8");
  // 4-D, empty and 0-D shapes.
  xt::xarray<float> nchw = xt::xarray<float>::from_shape({2, 3, 4, 5});
  for (std::size_t k = 0; k < nchw.size(); ++k)
    nchw.data()[k] = static_cast<float>(k) * 0.25f;
  round_trip<float>(tmp.path(), "nchw.npy", nchw, "<f4");
  round_trip<float>(tmp.path(), "empty.npy", xt::xarray<float>::from_shape({0, 7}), "<f4");
  round_trip<double>(tmp.path(), "scalar.npy", xt::xarray<double>(2.5), "<f8");

  // The span overload; a size that does not match the shape is misuse.
  const std::vector<double> v = {1, 2, 3, 4, 5, 6};
  const std::vector<std::size_t> shape = {2, 3};
  md::write_npy<double>(tmp.path() / "span.npy", v, shape);
  const auto m = md::read_npy_matrix<double>(tmp.path() / "span.npy");
  CHECK(m.values == xt::xtensor<double, 2>{{1, 2, 3}, {4, 5, 6}});
  const std::vector<std::size_t> bad_shape = {4, 2};
  CHECK_THROWS_AS(md::write_npy<double>(tmp.path() / "bad.npy", v, bad_shape),
                  misd::invalid_argument);
  CHECK_FALSE(fs::exists(tmp.path() / "bad.npy"));
}

TEST_CASE("read_npy_matrix flattens N x C x H x W in NCHW order and converts dtypes") {
  temp_dir tmp{"misd-test-npy-"};
  xt::xarray<double> a = xt::xarray<double>::from_shape({2, 3, 4, 5});
  for (std::size_t n = 0; n < 2; ++n)
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t h = 0; h < 4; ++h)
        for (std::size_t w = 0; w < 5; ++w)
          a(n, c, h, w) = static_cast<double>(n * 1000 + c * 100 + h * 10 + w);
  md::write_npy(tmp.path() / "x.npy", a);
  const auto m = md::read_npy_matrix<float>(tmp.path() / "x.npy");
  CHECK(m.shape == std::vector<std::size_t>{2, 3, 4, 5});
  REQUIRE(m.values.shape()[0] == 2);
  REQUIRE(m.values.shape()[1] == 60);
  for (std::size_t n = 0; n < 2; ++n)
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t h = 0; h < 4; ++h)
        for (std::size_t w = 0; w < 5; ++w)
          CHECK(m.values(n, c * 20 + h * 5 + w) ==
                static_cast<float>(n * 1000 + c * 100 + h * 10 + w));

  // Integers read into float; bool into double.
  md::write_npy(tmp.path() / "i.npy", xt::xarray<std::int64_t>{{-3, 4}, {5, 6}});
  CHECK(md::read_npy_matrix<float>(tmp.path() / "i.npy").values ==
        xt::xtensor<float, 2>{{-3, 4}, {5, 6}});
  md::write_npy(tmp.path() / "b.npy", xt::xarray<bool>{true, false});
  CHECK(md::read_npy_vector<double>(tmp.path() / "b.npy") == xt::xtensor<double, 1>{1.0, 0.0});

  // Labels and correctness helpers.
  md::write_npy(tmp.path() / "labels.npy", xt::xarray<std::int64_t>{3, 0, 9, 2});
  CHECK(md::read_npy_labels(tmp.path() / "labels.npy") == std::vector<int>{3, 0, 9, 2});
  md::write_npy(tmp.path() / "labels_u1.npy", xt::xarray<std::uint8_t>{7, 255});
  CHECK(md::read_npy_labels(tmp.path() / "labels_u1.npy") == std::vector<int>{7, 255});
  md::write_npy(tmp.path() / "c_b1.npy", xt::xarray<bool>{true, false, true});
  CHECK(md::read_npy_correctness(tmp.path() / "c_b1.npy") == std::vector<std::uint8_t>{1, 0, 1});
  md::write_npy(tmp.path() / "c_u1.npy", xt::xarray<std::uint8_t>{0, 1, 1});
  CHECK(md::read_npy_correctness(tmp.path() / "c_u1.npy") == std::vector<std::uint8_t>{0, 1, 1});
  md::write_npy(tmp.path() / "c_i8.npy", xt::xarray<std::int64_t>{1, 1, 0});
  CHECK(md::read_npy_correctness(tmp.path() / "c_i8.npy") == std::vector<std::uint8_t>{1, 1, 0});
}

TEST_CASE("files written by NumPy read back exactly" * doctest::test_suite("numpy")) {
  require_numpy();
  temp_dir tmp{"misd-test-npy-"};
  REQUIRE(run_python(tmp.path(), R"PY(
import os
j = lambda n: os.path.join(d, n)
np.save(j('f4.npy'), (np.arange(12, dtype=np.float32).reshape(3, 4) * np.float32(0.5) - 1))
np.save(j('f8.npy'), np.array([[1e-300, np.pi], [-2.5, 1e300]], dtype='<f8'))
x = np.fromfunction(lambda n, c, h, w: n * 1000 + c * 100 + h * 10 + w, (2, 3, 4, 5))
np.save(j('nchw.npy'), x.astype(np.float32))
np.save(j('labels.npy'), np.array([3, 1, 4, 1, 5, 9], dtype=np.int64))
np.save(j('labels_i4.npy'), np.array([2, 7], dtype=np.int32))
np.save(j('correct_b1.npy'), np.array([True, False, True, True]))
np.save(j('correct_u1.npy'), np.array([1, 0, 0], dtype=np.uint8))
np.save(j('correct_i4.npy'), np.array([0, 1, 2, 1], dtype=np.int32))
np.save(j('big.npy'), np.arange(4, dtype='>f4'))
np.save(j('fortran.npy'), np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.save(j('f2.npy'), np.arange(3, dtype=np.float16))
np.save(j('empty.npy'), np.zeros((0, 5), dtype=np.float32))
with open(j('v2.npy'), 'wb') as f:
    np.lib.format.write_array(f, np.array([1.0, 2.0], dtype=np.float64), version=(2, 0))
with open(j('v3.npy'), 'wb') as f:
    np.lib.format.write_array(f, np.array([[5, 6]], dtype=np.uint16), version=(3, 0))
)PY") == 0);
  const fs::path d = tmp.path();

  const auto f4 = md::read_npy_matrix<float>(d / "f4.npy");
  REQUIRE(f4.values.shape()[0] == 3);
  REQUIRE(f4.values.shape()[1] == 4);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t k = 0; k < 4; ++k)
      CHECK(f4.values(i, k) == static_cast<float>(i * 4 + k) * 0.5f - 1.0f);

  const auto f8 = md::read_npy_matrix<double>(d / "f8.npy");
  CHECK(f8.values == xt::xtensor<double, 2>{{1e-300, M_PI}, {-2.5, 1e300}});

  const auto x = md::read_npy_matrix<float>(d / "nchw.npy");
  CHECK(x.shape == std::vector<std::size_t>{2, 3, 4, 5});
  REQUIRE(x.values.shape()[1] == 60);
  for (std::size_t n = 0; n < 2; ++n)
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t h = 0; h < 4; ++h)
        for (std::size_t w = 0; w < 5; ++w)
          CHECK(x.values(n, c * 20 + h * 5 + w) ==
                static_cast<float>(n * 1000 + c * 100 + h * 10 + w));

  CHECK(md::read_npy_labels(d / "labels.npy") == std::vector<int>{3, 1, 4, 1, 5, 9});
  CHECK(md::read_npy_labels(d / "labels_i4.npy") == std::vector<int>{2, 7});
  CHECK(md::read_npy_correctness(d / "correct_b1.npy") == std::vector<std::uint8_t>{1, 0, 1, 1});
  CHECK(md::read_npy_correctness(d / "correct_u1.npy") == std::vector<std::uint8_t>{1, 0, 0});
  check_data_error([&] { md::read_npy_correctness(d / "correct_i4.npy"); },
                   {"correct_i4.npy", "expected 0 or 1 at index 2, found 2"});
  check_data_error([&] { md::read_npy_vector<float>(d / "big.npy"); },
                   {"big.npy", "big-endian dtype '>f4' is not supported", "astype('<f4')"});
  check_data_error([&] { md::read_npy_matrix<float>(d / "fortran.npy"); },
                   {"fortran.npy", "fortran_order True is not supported"});
  check_data_error([&] { md::read_npy_vector<float>(d / "f2.npy"); },
                   {"f2.npy", "unsupported dtype '<f2'"});
  const auto empty = md::read_npy_matrix<float>(d / "empty.npy");
  CHECK(empty.values.shape()[0] == 0);
  CHECK(empty.values.shape()[1] == 5);
  CHECK(md::read_npy_vector<double>(d / "v2.npy") == xt::xtensor<double, 1>{1.0, 2.0});
  CHECK(md::read_npy_header(d / "v2.npy").version_major == 2);
  CHECK(md::read_npy_matrix<double>(d / "v3.npy").values == xt::xtensor<double, 2>{{5, 6}});
  CHECK(md::read_npy_header(d / "v3.npy").version_major == 3);
}

TEST_CASE("NumPy reads the files misd writes" * doctest::test_suite("numpy")) {
  require_numpy();
  temp_dir tmp{"misd-test-npy-"};
  const fs::path d = tmp.path();
  xt::xarray<float> nchw = xt::xarray<float>::from_shape({2, 3, 4, 5});
  for (std::size_t k = 0; k < nchw.size(); ++k)
    nchw.data()[k] = static_cast<float>(k) / 8.0f;
  md::write_npy(d / "f4.npy", nchw);
  md::write_npy(d / "f8.npy", xt::xarray<double>{{0.1, -2.0, 1e300}});
  md::write_npy(d / "i8.npy", xt::xarray<std::int64_t>{-1, 0, 9000000000});
  md::write_npy(d / "u1.npy", xt::xarray<std::uint8_t>{{0, 255}, {7, 128}});
  md::write_npy(d / "b1.npy", xt::xarray<bool>{false, true});
  md::write_npy(d / "scalar.npy", xt::xarray<float>(3.5f));
  md::write_npy(d / "empty.npy", xt::xarray<double>::from_shape({0}));
  // A long shape still gives a header NumPy accepts.
  md::write_npy(d / "many_dims.npy",
                xt::xarray<float>(xt::zeros<float>(std::vector<std::size_t>(30, 1))));
  CHECK(run_python(d, R"PY(
import os
j = lambda n: os.path.join(d, n)
def check(name, expected):
    a = np.load(j(name), allow_pickle=False)
    assert a.dtype == expected.dtype, (name, a.dtype, expected.dtype)
    assert a.shape == expected.shape, (name, a.shape, expected.shape)
    assert np.array_equal(a, expected), (name, a, expected)
    with open(j(name), 'rb') as f:
        major, minor = np.lib.format.read_magic(f)
        assert (major, minor) == (1, 0), (name, major, minor)
        np.lib.format.read_array_header_1_0(f)
        assert f.tell() % 64 == 0, (name, f.tell())
check('f4.npy', (np.arange(120, dtype=np.float32) / np.float32(8)).reshape(2, 3, 4, 5))
check('f8.npy', np.array([[0.1, -2.0, 1e300]], dtype=np.float64))
check('i8.npy', np.array([-1, 0, 9000000000], dtype=np.int64))
check('u1.npy', np.array([[0, 255], [7, 128]], dtype=np.uint8))
check('b1.npy', np.array([False, True]))
check('scalar.npy', np.array(3.5, dtype=np.float32))
check('empty.npy', np.zeros((0,), dtype=np.float64))
check('many_dims.npy', np.zeros((1,) * 30, dtype=np.float32))
print('numpy read all files')
)PY") == 0);
}

TEST_CASE("malformed NPY files throw data_error with the offset and what was expected") {
  temp_dir tmp{"misd-test-npy-"};
  const fs::path d = tmp.path();
  const std::string f4x4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }";
  const std::string four_floats = raw<float>({1, 2, 3, 4});

  // A valid file first, so that the failures below are about what each one changes.
  put(d / "good.npy", npy_bytes(f4x4, four_floats));
  CHECK(md::read_npy_vector<float>(d / "good.npy") == xt::xtensor<float, 1>{1, 2, 3, 4});

  put(d / "magic.npy", "PK\x03\x04 this is a zip file, not an NPY file");
  check_data_error([&] { md::read_npy_vector<float>(d / "magic.npy"); },
                   {"magic.npy", "bad magic at byte offset 0", "expected \"\\x93NUMPY\"",
                    "found \"PK\\x03\\x04 t\""});
  put(d / "short.npy", "\x93NU");
  check_data_error([&] { md::read_npy_vector<float>(d / "short.npy"); },
                   {"bad magic at byte offset 0", "file too short"});

  const std::string good = npy_bytes(f4x4, four_floats);
  put(d / "trunc_header.npy", good.substr(0, 40));
  check_data_error([&] { md::read_npy_vector<float>(d / "trunc_header.npy"); },
                   {"trunc_header.npy", "truncated header: header length 118",
                    "ends at byte 128 but the file has only 40 bytes"});
  put(d / "trunc_len.npy", good.substr(0, 9));
  check_data_error([&] { md::read_npy_vector<float>(d / "trunc_len.npy"); },
                   {"truncated header", "header length field at byte offset 8"});

  put(d / "trunc_data.npy", npy_bytes(f4x4, four_floats.substr(0, 12)));
  check_data_error(
      [&] { md::read_npy_vector<float>(d / "trunc_data.npy"); },
      {"trunc_data.npy", "truncated data: expected 16 bytes", "from byte offset 128, found 12"});
  put(d / "trailing.npy", npy_bytes(f4x4, four_floats + "XYZW"));
  check_data_error([&] { md::read_npy_vector<float>(d / "trailing.npy"); },
                   {"trailing.npy", "trailing bytes: expected 16 bytes", "found 20 (4 extra)"});

  put(d / "f2.npy", npy_bytes("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", "abcd"));
  check_data_error([&] { md::read_npy_vector<float>(d / "f2.npy"); },
                   {"unsupported dtype '<f2'", "supported: <f4, <f8"});
  put(d / "obj.npy",
      npy_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", "abcdefgh"));
  check_data_error([&] { md::read_npy_vector<float>(d / "obj.npy"); }, {"unsupported dtype '|O'"});
  put(d / "struct.npy",
      npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "abcd"));
  check_data_error([&] { md::read_npy_vector<float>(d / "struct.npy"); },
                   {"unsupported dtype", "structured"});
  put(d / "big.npy",
      npy_bytes("{'descr': '>i8', 'fortran_order': False, 'shape': (1,), }", "abcdefgh"));
  check_data_error([&] { md::read_npy_vector<float>(d / "big.npy"); },
                   {"big-endian dtype '>i8' is not supported", "expected little-endian '<i8'"});

  put(d / "fortran.npy",
      npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", four_floats));
  check_data_error([&] { md::read_npy_matrix<float>(d / "fortran.npy"); },
                   {"fortran.npy", "fortran_order True is not supported for a 2-D array"});
  // 1-D Fortran order is the same bytes and accepted.
  put(d / "fortran1.npy",
      npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (4,), }", four_floats));
  CHECK(md::read_npy_vector<float>(d / "fortran1.npy") == xt::xtensor<float, 1>{1, 2, 3, 4});

  std::string v4 = good;
  v4[6] = 4;
  put(d / "v4.npy", v4);
  check_data_error([&] { md::read_npy_vector<float>(d / "v4.npy"); },
                   {"unsupported NPY format version 4.0 at byte offset 6"});

  put(d / "nokey.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, }", four_floats));
  check_data_error([&] { md::read_npy_vector<float>(d / "nokey.npy"); }, {"lacks key 'shape'"});
  put(d / "extra.npy",
      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1, }", four_floats));
  check_data_error([&] { md::read_npy_vector<float>(d / "extra.npy"); }, {"unexpected key 'x'"});
  put(d / "garbage.npy",
      npy_bytes("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (4,), }", four_floats));
  check_data_error([&] { md::read_npy_vector<float>(d / "garbage.npy"); },
                   {"malformed header at byte offset 44", "expected a value, found \"M\""});
  put(d / "negshape.npy",
      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", four_floats));
  check_data_error([&] { md::read_npy_vector<float>(d / "negshape.npy"); },
                   {"expected a non-negative integer in 'shape'"});
  put(d / "overflow.npy",
      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
                four_floats));
  check_data_error([&] { md::read_npy_matrix<float>(d / "overflow.npy"); }, {"shape overflows"});
  put(d / "overflow2.npy",
      npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }",
                four_floats));
  check_data_error([&] { md::read_npy_vector<float>(d / "overflow2.npy"); }, {"shape overflows"});

  // Shapes the matrix and vector readers do not take.
  put(d / "three.npy",
      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }", four_floats));
  check_data_error([&] { md::read_npy_matrix<float>(d / "three.npy"); },
                   {"expected a 2-D (N x D) or 4-D (N x C x H x W) array, found shape (1, 2, 2)"});
  check_data_error([&] { md::read_npy_vector<float>(d / "three.npy"); },
                   {"expected a 1-D array, found a 3-D array"});

  // Value checks of the conversions and helpers.
  put(d / "corr.npy", npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }",
                                raw<std::int32_t>({1, 0, 7, 1})));
  check_data_error([&] { md::read_npy_correctness(d / "corr.npy"); },
                   {"corr.npy", "expected 0 or 1 at index 2, found 7"});
  put(d / "corr_f.npy", npy_bytes(f4x4, raw<float>({1, 0, 1, 1})));
  check_data_error([&] { md::read_npy_correctness(d / "corr_f.npy"); },
                   {"correctness must have a bool, uint8 or integer dtype, found '<f4'"});
  put(d / "badbool.npy", npy_bytes("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
                                   std::string("\1\0\2", 3)));
  check_data_error([&] { md::read_npy_correctness(d / "badbool.npy"); },
                   {"invalid bool byte 2 at index 2"});
  put(d / "neg.npy", npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
                               raw<std::int64_t>({3, 0, -1})));
  check_data_error([&] { md::read_npy_labels(d / "neg.npy"); },
                   {"neg.npy", "negative label -1 at index 2"});
  put(d / "huge.npy", npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
                                raw<std::int64_t>({1, 3000000000})));
  check_data_error([&] { md::read_npy_labels(d / "huge.npy"); },
                   {"label 3000000000 at index 1 is too large"});
  check_data_error([&] { md::read_npy_labels(d / "good.npy"); },
                   {"labels must have an integer dtype, found '<f4'"});
  check_data_error([&] { md::read_npy_vector<int>(d / "good.npy"); },
                   {"expected an integer or bool dtype for integer values, found '<f4'"});
  put(d / "i2.npy", npy_bytes("{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }",
                              raw<std::int16_t>({5, 300})));
  check_data_error([&] { md::read_npy_vector<std::uint8_t>(d / "i2.npy"); },
                   {"value 300 at index 1 does not fit in the unsigned 8-bit integer type"});

  check_data_error([&] { md::read_npy_vector<float>(d / "absent.npy"); },
                   {"absent.npy", "cannot open: No such file or directory"});
}

TEST_CASE("write_npy replaces the target atomically and leaves nothing on failure") {
  temp_dir tmp{"misd-test-npy-"};
  const fs::path f = tmp.path() / "scores.npy";
  md::write_npy(f, xt::xarray<float>{1, 2, 3});
  md::write_npy(f, xt::xarray<float>{4, 5});
  CHECK(md::read_npy_vector<float>(f) == xt::xtensor<float, 1>{4, 5});
  check_data_error([&] { md::write_npy(tmp.path() / "missing" / "x.npy", xt::xarray<float>{1}); },
                   {"missing/x.npy", "No such file or directory"});
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp.path()))
    ++entries;
  CHECK(entries == 1);
}
