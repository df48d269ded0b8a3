// misd/data/npy.hpp -- NPY arrays (NumPy's .npy format) read into and written from xtensor.
//
// Reading validates the whole file before any data is trusted: the magic string, the format
// version (1.0, 2.0 or 3.0), that the header fits in the file, the header dictionary (exactly
// the keys 'descr', 'fortran_order' and 'shape'), the dtype, that the shape's byte size does
// not overflow, and that the data is exactly product(shape) * itemsize bytes (no truncation,
// no trailing bytes). Anything else throws misd::data_error naming the file, the byte offset
// and what was expected and found.
//
// Supported dtypes: <f4 <f8 |u1 |b1 |i1 <i2 <i4 <i8 <u2 <u4 <u8 (one-byte types may also be
// written with '<' or '='). Big-endian ('>') multi-byte dtypes are rejected with a message
// that says how to convert them. fortran_order True is rejected for arrays of two or more
// dimensions (save with np.ascontiguousarray); for 0-D and 1-D arrays the two orders are the
// same bytes and the file is accepted.
//
// Conversion on reading: to a floating-point T from any dtype (bool reads as 0/1); to an
// integral T from bool or integer dtypes only, every value checked to fit (else data_error
// naming the flat index and value); to bool from bool or integer dtypes whose values are 0/1.
//
// Writing (write_npy) produces NumPy's own layout: format 1.0 (2.0 if the header needs it),
// C order, little-endian, header padded so the data starts at a multiple of 64 bytes, and the
// file is replaced atomically (misd/detail/atomic_write.hpp).
#pragma once

#include "misd/detail/atomic_write.hpp"
#include "misd/error.hpp"

#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace misd::data {

/// The element types an NPY file may hold here.
enum class npy_dtype {
  float32,
  float64,
  uint8,
  bool8,
  int8,
  int16,
  int32,
  int64,
  uint16,
  uint32,
  uint64
};

/// NumPy's little-endian descr for a dtype ("<f4", "|u1", ...).
inline std::string_view npy_descr(npy_dtype d) {
  switch (d) {
  case npy_dtype::float32:
    return "<f4";
  case npy_dtype::float64:
    return "<f8";
  case npy_dtype::uint8:
    return "|u1";
  case npy_dtype::bool8:
    return "|b1";
  case npy_dtype::int8:
    return "|i1";
  case npy_dtype::int16:
    return "<i2";
  case npy_dtype::int32:
    return "<i4";
  case npy_dtype::int64:
    return "<i8";
  case npy_dtype::uint16:
    return "<u2";
  case npy_dtype::uint32:
    return "<u4";
  case npy_dtype::uint64:
    return "<u8";
  }
  return "?";
}

/// A validated NPY header.
struct npy_header {
  npy_dtype dtype;
  std::string descr;              ///< as written in the file, e.g. "<f4"
  std::vector<std::size_t> shape; ///< row-major (C order)
  bool fortran_order = false;     ///< only ever true for 0-D/1-D arrays (same bytes)
  int version_major = 1;
  int version_minor = 0;
  std::size_t data_offset = 0; ///< byte offset of the first element
  std::size_t item_size = 0;   ///< bytes per element
  std::size_t count = 0;       ///< product(shape)
};

/// An N x D matrix read from an N x D or N x C x H x W file (flattened to N x C·H·W, row-major,
/// so each row is one example in NCHW order), with the file's own shape.
template <class T>
struct npy_matrix {
  xt::xtensor<T, 2> values;
  std::vector<std::size_t> shape; ///< the shape in the file: {N, D} or {N, C, H, W}
};

} // namespace misd::data

namespace misd::detail {

template <class... Args>
[[noreturn]] void npy_fail(const std::filesystem::path& path, Args&&... args) {
  throw data_error(
      detail::message("NPY file '", path.string(), "': ", std::forward<Args>(args)...));
}

/// Printable form of raw bytes for messages: "\x93NUMPY" style.
inline std::string npy_printable(std::string_view bytes) {
  std::string out;
  static const char* hex = "0123456789abcdef";
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return "\"" + out + "\"";
}

inline bool checked_mul(std::size_t a, std::size_t b, std::size_t& out) {
  return !__builtin_mul_overflow(a, b, &out);
}

/// A Python-literal npy_value as NumPy writes it in a header: string, bool, or tuple of ints.
struct npy_value {
  enum kind_t { string, boolean, tuple, other } kind = other;
  std::string text;
  bool flag = false;
  std::vector<std::size_t> items;
};

/// Parser of the header dictionary; `base` is the file offset of the header's first byte.
class npy_header_parser {
public:
  npy_header_parser(const std::filesystem::path& path, std::string_view text, std::size_t base)
      : path_(path), s_(text), base_(base) {}

  data::npy_header parse() {
    data::npy_header h{};
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_ws();
    expect('{', "'{' opening the header dictionary");
    for (;;) {
      skip_ws();
      if (peek() == '}') {
        ++i_;
        break;
      }
      const std::size_t key_at = i_;
      npy_value key = parse_value();
      if (key.kind != npy_value::string)
        error_at(key_at, "expected a quoted key in the header dictionary");
      skip_ws();
      expect(':', "':' after key '" + key.text + "'");
      skip_ws();
      if (key.text != "descr" && key.text != "fortran_order" && key.text != "shape")
        error_at(key_at, "unexpected key '", key.text,
                 "' in the header dictionary (expected 'descr', 'fortran_order', 'shape')");
      const std::size_t val_at = i_;
      if (key.text == "descr" && peek() != '\'' && peek() != '"')
        error_at(val_at, "unsupported dtype: 'descr' is not a simple type string (structured "
                         "and sub-array dtypes are not supported)");
      npy_value v = parse_value();
      if (key.text == "descr") {
        if (have_descr)
          error_at(key_at, "duplicate key 'descr'");
        have_descr = true;
        if (v.kind != npy_value::string)
          error_at(val_at, "unsupported dtype: 'descr' is not a simple type string (structured "
                           "and sub-array dtypes are not supported)");
        h.descr = v.text;
      } else if (key.text == "fortran_order") {
        if (have_fortran)
          error_at(key_at, "duplicate key 'fortran_order'");
        have_fortran = true;
        if (v.kind != npy_value::boolean)
          error_at(val_at, "expected True or False for 'fortran_order'");
        h.fortran_order = v.flag;
      } else { // "shape"
        if (have_shape)
          error_at(key_at, "duplicate key 'shape'");
        have_shape = true;
        if (v.kind != npy_value::tuple)
          error_at(val_at, "expected a tuple of non-negative integers for 'shape'");
        h.shape = std::move(v.items);
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_ws();
      if (peek() == '}') {
        ++i_;
        break;
      }
      error_at(i_, "expected ',' or '}' in the header dictionary, found ", found());
    }
    skip_ws();
    if (i_ != s_.size())
      error_at(i_, "unexpected ", found(), " after the header dictionary");
    if (!have_descr || !have_fortran || !have_shape)
      error_at(0, "header dictionary lacks key '",
               !have_descr ? "descr" : (!have_fortran ? "fortran_order" : "shape"),
               "' (expected 'descr', 'fortran_order' and 'shape')");
    return h;
  }

private:
  template <class... Args>
  [[noreturn]] void error_at(std::size_t at, Args&&... args) const {
    npy_fail(path_, "malformed header at byte offset ", base_ + at, ": ",
             std::forward<Args>(args)...);
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  std::string found() const {
    if (i_ >= s_.size())
      return "the end of the header";
    return npy_printable(s_.substr(i_, 1));
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  void expect(char c, const std::string& what) {
    if (peek() != c || i_ >= s_.size())
      error_at(i_, "expected ", what, ", found ", found());
    ++i_;
  }
  std::size_t parse_uint() {
    const std::size_t at = i_;
    std::size_t v = 0;
    if (!(peek() >= '0' && peek() <= '9'))
      error_at(at, "expected a non-negative integer in 'shape', found ", found());
    while (peek() >= '0' && peek() <= '9') {
      const auto digit = static_cast<std::size_t>(peek() - '0');
      if (!checked_mul(v, 10, v) || __builtin_add_overflow(v, digit, &v) ||
          v > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max()))
        error_at(at, "dimension in 'shape' is too large");
      ++i_;
    }
    if (peek() == 'L') // Python 2's long suffix
      ++i_;
    return v;
  }
  npy_value parse_value() {
    npy_value v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      ++i_;
      const std::size_t end = s_.find(c, i_);
      if (end == std::string_view::npos)
        error_at(i_ - 1, "unterminated string");
      v.kind = npy_value::string;
      v.text = std::string(s_.substr(i_, end - i_));
      i_ = end + 1;
    } else if (s_.substr(i_, 4) == "True") {
      v.kind = npy_value::boolean;
      v.flag = true;
      i_ += 4;
    } else if (s_.substr(i_, 5) == "False") {
      v.kind = npy_value::boolean;
      v.flag = false;
      i_ += 5;
    } else if (c == '(') {
      ++i_;
      v.kind = npy_value::tuple;
      skip_ws();
      bool trailing_comma = false;
      while (peek() != ')') {
        v.items.push_back(parse_uint());
        skip_ws();
        trailing_comma = false;
        if (peek() == ',') {
          ++i_;
          trailing_comma = true;
          skip_ws();
        } else if (peek() != ')') {
          error_at(i_, "expected ',' or ')' in 'shape', found ", found());
        }
      }
      ++i_;
      if (v.items.size() == 1 && !trailing_comma)
        error_at(i_ - 1, "a one-element 'shape' must be written '(n,)'");
    } else if (c == '[' || c == '{') {
      v.kind = npy_value::other; // a list (structured dtype) or dict: skip to its balanced end
      int depth = 0;
      do {
        if (peek() == '[' || peek() == '{' || peek() == '(')
          ++depth;
        else if (peek() == ']' || peek() == '}' || peek() == ')')
          --depth;
        else if (i_ >= s_.size())
          error_at(i_, "unterminated value");
        ++i_;
      } while (depth > 0);
    } else {
      error_at(i_, "expected a value, found ", found());
    }
    return v;
  }

  const std::filesystem::path& path_;
  std::string_view s_;
  std::size_t base_;
  std::size_t i_ = 0;
};

inline std::uint64_t read_le(const unsigned char* p, int n) {
  std::uint64_t v = 0;
  for (int k = n - 1; k >= 0; --k)
    v = (v << 8) | p[k];
  return v;
}

/// Maps a descr to a supported dtype or throws.
inline data::npy_dtype parse_npy_descr(const std::filesystem::path& path,
                                       const std::string& descr) {
  static constexpr std::array<data::npy_dtype, 11> all = {
      data::npy_dtype::float32, data::npy_dtype::float64, data::npy_dtype::uint8,
      data::npy_dtype::bool8,   data::npy_dtype::int8,    data::npy_dtype::int16,
      data::npy_dtype::int32,   data::npy_dtype::int64,   data::npy_dtype::uint16,
      data::npy_dtype::uint32,  data::npy_dtype::uint64};
  const char* supported = "<f4, <f8, |u1, |b1, |i1, <i2, <i4, <i8, <u2, <u4, <u8";
  if (descr.size() >= 2) {
    const char order = descr[0];
    const std::string rest = descr.substr(1);
    for (data::npy_dtype d : all) {
      const std::string_view canon = npy_descr(d);
      if (rest != canon.substr(1))
        continue;
      const bool one_byte = canon[0] == '|';
      if (order == '<' || order == '|' || order == '=' || (one_byte && order == '>'))
        return d;
      if (order == '>')
        npy_fail(path, "big-endian dtype '", descr, "' is not supported (expected little-endian '<",
                 rest, "'; convert with array.astype('<", rest, "'))");
    }
  }
  npy_fail(path, "unsupported dtype '", descr, "' (supported: ", supported, ")");
}

inline std::size_t npy_item_size(data::npy_dtype d) {
  switch (d) {
  case data::npy_dtype::float64:
  case data::npy_dtype::int64:
  case data::npy_dtype::uint64:
    return 8;
  case data::npy_dtype::float32:
  case data::npy_dtype::int32:
  case data::npy_dtype::uint32:
    return 4;
  case data::npy_dtype::int16:
  case data::npy_dtype::uint16:
    return 2;
  default:
    return 1;
  }
}

template <class T>
struct npy_tag {
  using type = T;
};

/// Calls f(npy_tag<S>{}) with S the C++ type of dtype d (bool8 -> std::uint8_t, checked as 0/1).
template <class F>
decltype(auto) visit_npy_dtype(data::npy_dtype d, F&& f) {
  switch (d) {
  case data::npy_dtype::float32:
    return f(npy_tag<float>{});
  case data::npy_dtype::float64:
    return f(npy_tag<double>{});
  case data::npy_dtype::uint8:
    return f(npy_tag<std::uint8_t>{});
  case data::npy_dtype::bool8:
    return f(npy_tag<std::uint8_t>{});
  case data::npy_dtype::int8:
    return f(npy_tag<std::int8_t>{});
  case data::npy_dtype::int16:
    return f(npy_tag<std::int16_t>{});
  case data::npy_dtype::int32:
    return f(npy_tag<std::int32_t>{});
  case data::npy_dtype::int64:
    return f(npy_tag<std::int64_t>{});
  case data::npy_dtype::uint16:
    return f(npy_tag<std::uint16_t>{});
  case data::npy_dtype::uint32:
    return f(npy_tag<std::uint32_t>{});
  case data::npy_dtype::uint64:
    return f(npy_tag<std::uint64_t>{});
  }
  return f(npy_tag<std::uint8_t>{});
}

template <class S>
S byteswap_value(S v) {
  unsigned char b[sizeof(S)];
  std::memcpy(b, &v, sizeof(S));
  std::reverse(b, b + sizeof(S));
  std::memcpy(&v, b, sizeof(S));
  return v;
}

template <class T>
inline constexpr bool npy_readable_type = std::is_same_v<T, bool> || std::is_floating_point_v<T> ||
                                          (std::is_integral_v<T> && !std::is_same_v<T, char>);

/// Opens `path` and validates its header against the file size; leaves `in` at the data.
inline data::npy_header open_npy(const std::filesystem::path& path, std::ifstream& in) {
  in.open(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    npy_fail(path, "cannot open: ", misd::detail::errno_text(err));
  }
  in.seekg(0, std::ios::end);
  const auto end = in.tellg();
  in.seekg(0, std::ios::beg);
  if (end < 0)
    npy_fail(path, "cannot determine the file size");
  const auto file_size = static_cast<std::uint64_t>(end);

  unsigned char pre[12] = {};
  const std::size_t pre_n = static_cast<std::size_t>(std::min<std::uint64_t>(file_size, 10));
  in.read(reinterpret_cast<char*>(pre), static_cast<std::streamsize>(pre_n));
  static constexpr unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (pre_n < 6 || std::memcmp(pre, magic, 6) != 0)
    npy_fail(path, "not an NPY file: bad magic at byte offset 0: expected \"\\x93NUMPY\", found ",
             npy_printable(std::string_view(reinterpret_cast<const char*>(pre),
                                            std::min<std::size_t>(pre_n, 6))),
             pre_n < 6 ? " (file too short)" : "");
  if (pre_n < 8)
    npy_fail(path, "truncated header: file ends at byte ", file_size,
             " before the format version at byte offset 6");
  const int major = pre[6], minor = pre[7];
  if (!((major == 1 || major == 2 || major == 3) && minor == 0))
    npy_fail(path, "unsupported NPY format version ", major, ".", minor,
             " at byte offset 6 (expected 1.0, 2.0 or 3.0)");
  const int len_bytes = major == 1 ? 2 : 4;
  const std::size_t header_start = 8 + static_cast<std::size_t>(len_bytes);
  if (file_size < header_start)
    npy_fail(path, "truncated header: file ends at byte ", file_size,
             " before the header length field at byte offset 8 (", len_bytes, " bytes)");
  if (len_bytes == 4)
    in.read(reinterpret_cast<char*>(pre + 10), 2);
  const std::uint64_t header_len = read_le(pre + 8, len_bytes);
  if (header_start + header_len > file_size)
    npy_fail(path, "truncated header: header length ", header_len,
             " (from byte offset 8) ends at byte ", header_start + header_len,
             " but the file has only ", file_size, " bytes");

  std::string text(static_cast<std::size_t>(header_len), '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  if (!in)
    npy_fail(path, "read error in the header");
  if (major < 3) {
    for (std::size_t k = 0; k < text.size(); ++k)
      if (static_cast<unsigned char>(text[k]) >= 0x80)
        npy_fail(path, "malformed header at byte offset ", header_start + k,
                 ": non-ASCII byte in a version ", major, ".0 header");
  }

  data::npy_header h = npy_header_parser(path, text, header_start).parse();
  h.version_major = major;
  h.version_minor = minor;
  h.dtype = parse_npy_descr(path, h.descr);
  h.item_size = npy_item_size(h.dtype);
  h.data_offset = header_start + static_cast<std::size_t>(header_len);
  if (h.fortran_order && h.shape.size() >= 2)
    npy_fail(path, "fortran_order True is not supported for a ", h.shape.size(),
             "-D array (expected C order; save with np.save(f, np.ascontiguousarray(a)))");

  std::size_t count = 1;
  for (std::size_t d : h.shape)
    if (!checked_mul(count, d, count))
      npy_fail(path, "shape overflows: the product of its dimensions does not fit in 64 bits");
  // With a 0 dimension the count is 0 however large the others are, but strides and
  // flattened widths still multiply them (signed): they must fit too (found by fuzzing).
  std::size_t nonzero = 1;
  for (std::size_t d : h.shape)
    if (!checked_mul(nonzero, std::max<std::size_t>(d, 1), nonzero) ||
        nonzero > static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()))
      npy_fail(path,
               "shape overflows: the product of its non-zero dimensions does not fit in 63 bits");
  std::size_t bytes = 0;
  if (!checked_mul(count, h.item_size, bytes))
    npy_fail(path, "shape overflows: ", count, " elements of ", h.item_size,
             " bytes do not fit in 64 bits");
  h.count = count;
  const std::uint64_t actual = file_size - h.data_offset;
  if (actual < bytes)
    npy_fail(path, "truncated data: expected ", bytes, " bytes (", count, " x '", h.descr,
             "') from byte offset ", h.data_offset, ", found ", actual);
  if (actual > bytes)
    npy_fail(path, "trailing bytes: expected ", bytes, " bytes of data (", count, " x '", h.descr,
             "') from byte offset ", h.data_offset, ", found ", actual, " (", actual - bytes,
             " extra)");
  return h;
}

/// Reads the h.count elements at the stream position into out[0..count), converted to T.
template <class T>
void read_npy_data(const std::filesystem::path& path, std::ifstream& in, const data::npy_header& h,
                   T* out) {
  static_assert(npy_readable_type<T>,
                "misd::data: NPY elements read into bool, integer or floating types");
  const bool source_is_bool = h.dtype == data::npy_dtype::bool8;
  visit_npy_dtype(h.dtype, [&](auto t) {
    using S = typename decltype(t)::type;
    if constexpr (std::is_integral_v<T> && std::is_floating_point_v<S>) {
      npy_fail(path, "expected an integer or bool dtype for ",
               std::is_same_v<T, bool> ? "bool" : "integer", " values, found '", h.descr, "'");
    } else {
      constexpr std::size_t chunk = std::size_t{1} << 16;
      std::vector<S> buf(std::min(chunk, h.count));
      for (std::size_t base = 0; base < h.count; base += chunk) {
        const std::size_t n = std::min(chunk, h.count - base);
        in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n * sizeof(S)));
        if (static_cast<std::size_t>(in.gcount()) != n * sizeof(S))
          npy_fail(path, "truncated data: read failed at element ", base + in.gcount() / sizeof(S),
                   " of ", h.count, " (file changed while reading?)");
        for (std::size_t k = 0; k < n; ++k) {
          S v = buf[k];
          if constexpr (sizeof(S) > 1 && std::endian::native == std::endian::big)
            v = byteswap_value(v);
          if constexpr (std::is_integral_v<S>) {
            if (source_is_bool && v > 1)
              npy_fail(path, "invalid bool byte ", static_cast<unsigned>(v), " at index ", base + k,
                       " (byte offset ", h.data_offset + base + k, "; expected 0 or 1)");
          }
          if constexpr (std::is_same_v<T, bool>) {
            if (v != S(0) && v != S(1))
              npy_fail(path, "expected 0 or 1 at index ", base + k, ", found ", +v);
            out[base + k] = v != S(0);
          } else if constexpr (std::is_floating_point_v<T>) {
            out[base + k] = static_cast<T>(v);
          } else {
            if (!std::in_range<T>(v))
              npy_fail(path, "value ", +v, " at index ", base + k, " does not fit in the ",
                       std::numeric_limits<T>::is_signed ? "signed" : "unsigned", " ",
                       sizeof(T) * CHAR_BIT, "-bit integer type requested");
            out[base + k] = static_cast<T>(v);
          }
        }
      }
    }
  });
}

template <class T>
std::string_view npy_descr_for() {
  static_assert(!std::is_same_v<T, char>,
                "misd::data::write_npy: use signed char or unsigned char");
  if constexpr (std::is_same_v<T, bool>)
    return "|b1";
  else if constexpr (std::is_floating_point_v<T>) {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "misd::data::write_npy: float or double");
    return sizeof(T) == 4 ? "<f4" : "<f8";
  } else {
    static_assert(std::is_integral_v<T>, "misd::data::write_npy: arithmetic element types only");
    if constexpr (std::is_signed_v<T>) {
      switch (sizeof(T)) {
      case 1:
        return "|i1";
      case 2:
        return "<i2";
      case 4:
        return "<i4";
      default:
        return "<i8";
      }
    } else {
      switch (sizeof(T)) {
      case 1:
        return "|u1";
      case 2:
        return "<u2";
      case 4:
        return "<u4";
      default:
        return "<u8";
      }
    }
  }
}

} // namespace misd::detail

namespace misd::data {

/// Reads and validates the header of `path` (including that the data size matches).
inline npy_header read_npy_header(const std::filesystem::path& path) {
  std::ifstream in;
  return misd::detail::open_npy(path, in);
}

/// Reads an array of any shape, converted to T (see the conversion rules above).
template <class T>
xt::xarray<T> read_npy(const std::filesystem::path& path) {
  std::ifstream in;
  const npy_header h = misd::detail::open_npy(path, in);
  xt::xarray<T> a = xt::xarray<T>::from_shape(h.shape);
  misd::detail::read_npy_data<T>(path, in, h, a.data());
  return a;
}

/// Reads an N x D or N x C x H x W array as an N x D (D = C·H·W) matrix of T.
template <class T>
npy_matrix<T> read_npy_matrix(const std::filesystem::path& path) {
  std::ifstream in;
  const npy_header h = misd::detail::open_npy(path, in);
  if (h.shape.size() != 2 && h.shape.size() != 4) {
    std::string s = "(";
    for (std::size_t k = 0; k < h.shape.size(); ++k)
      s.append(k ? ", " : "").append(std::to_string(h.shape[k]));
    misd::detail::npy_fail(path,
                           "expected a 2-D (N x D) or 4-D (N x C x H x W) array, found shape ", s,
                           h.shape.size() == 1 ? ",)" : ")");
  }
  const std::size_t n = h.shape[0];
  std::size_t d = 1;
  for (std::size_t k = 1; k < h.shape.size(); ++k) // can overflow only when N == 0
    if (!misd::detail::checked_mul(d, h.shape[k], d))
      misd::detail::npy_fail(path,
                             "shape overflows: the product of its trailing dimensions does not "
                             "fit in 64 bits");
  npy_matrix<T> m;
  m.shape = h.shape;
  m.values = xt::xtensor<T, 2>::from_shape({n, d});
  misd::detail::read_npy_data<T>(path, in, h, m.values.data());
  return m;
}

/// Reads a 1-D array of length N as T.
template <class T>
xt::xtensor<T, 1> read_npy_vector(const std::filesystem::path& path) {
  std::ifstream in;
  const npy_header h = misd::detail::open_npy(path, in);
  if (h.shape.size() != 1)
    misd::detail::npy_fail(path, "expected a 1-D array, found a ", h.shape.size(), "-D array");
  xt::xtensor<T, 1> v = xt::xtensor<T, 1>::from_shape({h.shape[0]});
  misd::detail::read_npy_data<T>(path, in, h, v.data());
  return v;
}

/// Reads class labels: a 1-D integer array (any supported integer dtype) of values in
/// 0 .. INT_MAX. Floating-point or bool dtypes, negative or too large values throw
/// misd::data_error naming the index.
inline std::vector<int> read_npy_labels(const std::filesystem::path& path) {
  const npy_header h = read_npy_header(path);
  if (h.dtype == npy_dtype::float32 || h.dtype == npy_dtype::float64 || h.dtype == npy_dtype::bool8)
    misd::detail::npy_fail(path, "labels must have an integer dtype, found '", h.descr, "'");
  const xt::xtensor<std::int64_t, 1> raw = [&] {
    if (h.dtype == npy_dtype::uint64) { // values above INT64_MAX are out of range anyway
      const auto u = read_npy_vector<std::uint64_t>(path);
      for (std::size_t i = 0; i < u.size(); ++i)
        if (u(i) > static_cast<std::uint64_t>(INT_MAX))
          misd::detail::npy_fail(path, "label ", u(i), " at index ", i, " is too large (max ",
                                 INT_MAX, ")");
      return xt::xtensor<std::int64_t, 1>(xt::cast<std::int64_t>(u));
    }
    return read_npy_vector<std::int64_t>(path);
  }();
  std::vector<int> labels(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw(i) < 0)
      misd::detail::npy_fail(path, "negative label ", raw(i), " at index ", i);
    if (raw(i) > INT_MAX)
      misd::detail::npy_fail(path, "label ", raw(i), " at index ", i, " is too large (max ",
                             INT_MAX, ")");
    labels[i] = static_cast<int>(raw(i));
  }
  return labels;
}

/// Reads a correctness vector (1 = the prediction was correct): a 1-D bool, uint8 or integer
/// array whose values are 0 or 1. Returns 0/1 bytes. Another dtype or value throws
/// misd::data_error naming the index and value.
inline std::vector<std::uint8_t> read_npy_correctness(const std::filesystem::path& path) {
  const npy_header h = read_npy_header(path);
  if (h.dtype == npy_dtype::float32 || h.dtype == npy_dtype::float64)
    misd::detail::npy_fail(path, "correctness must have a bool, uint8 or integer dtype, found '",
                           h.descr, "'");
  const auto v = read_npy_vector<bool>(path); // checks every value is 0 or 1
  return std::vector<std::uint8_t>(v.begin(), v.end());
}

/// NumPy's header for a C-order little-endian array (magic .. padding and newline).
inline std::string npy_header_bytes(std::string_view descr, std::span<const std::size_t> shape) {
  std::string dict = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': (";
  for (std::size_t k = 0; k < shape.size(); ++k)
    dict.append(k ? ", " : "").append(std::to_string(shape[k]));
  dict += shape.size() == 1 ? ",), }" : "), }";
  int major = 1;
  std::size_t prefix = 10;
  std::size_t total = prefix + dict.size() + 1;
  std::size_t pad = (64 - total % 64) % 64;
  if (dict.size() + pad + 1 > 0xffff) {
    major = 2;
    prefix = 12;
    total = prefix + dict.size() + 1;
    pad = (64 - total % 64) % 64;
  }
  dict.append(pad, ' ');
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const std::size_t len = dict.size();
  for (int k = 0; k < (major == 1 ? 2 : 4); ++k)
    out += static_cast<char>((len >> (8 * k)) & 0xff);
  return out + dict;
}

/// Writes `data` (row-major, product(shape) elements) as an NPY file, atomically. T: float,
/// double, bool, or a signed/unsigned 8/16/32/64-bit integer (float32, float64, int64 and
/// uint8 are the types misd itself writes).
template <class T>
void write_npy(const std::filesystem::path& path, std::span<const T> data,
               std::span<const std::size_t> shape) {
  const std::string_view descr = misd::detail::npy_descr_for<T>();
  std::size_t count = 1;
  for (std::size_t d : shape)
    if (!misd::detail::checked_mul(count, d, count))
      throw invalid_argument(detail::message("write_npy '", path.string(), "': shape overflows"));
  if (count != data.size())
    throw invalid_argument(detail::message("write_npy '", path.string(), "': shape holds ", count,
                                           " elements but ", data.size(), " were given"));
  const std::string header = npy_header_bytes(descr, shape);
  detail::write_file_atomically(path, [&](std::ostream& os) {
    os.write(header.data(), static_cast<std::streamsize>(header.size()));
    if constexpr (sizeof(T) > 1 && std::endian::native == std::endian::big) {
      for (const T& x : data) {
        const T s = misd::detail::byteswap_value(x);
        os.write(reinterpret_cast<const char*>(&s), sizeof(T));
      }
    } else {
      os.write(reinterpret_cast<const char*>(data.data()),
               static_cast<std::streamsize>(data.size() * sizeof(T)));
    }
  });
}

/// Writes an xtensor expression (any shape) as an NPY file in C order, atomically.
template <class E>
void write_npy(const std::filesystem::path& path, const xt::xexpression<E>& e) {
  using T = std::decay_t<typename E::value_type>;
  const xt::xarray<T, xt::layout_type::row_major> a = e.derived_cast();
  const std::vector<std::size_t> shape(a.shape().begin(), a.shape().end());
  write_npy<T>(path, std::span<const T>(a.data(), a.size()), std::span<const std::size_t>(shape));
}

} // namespace misd::data
