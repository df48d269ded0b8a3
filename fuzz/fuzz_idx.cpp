// fuzz/fuzz_idx.cpp -- libFuzzer target: the IDX reader (misd/data/idx.hpp), raw and gzip.
// Byte 0 picks the mode: bit 0 = gzip-compress the rest before reading (so that the fuzzer
// explores the decompressed content), bit 1 = read as labels instead of images. Without
// bit 0 the rest is read as it is, so raw files and malformed gzip streams are covered too.
#include "fuzz_support.hpp"

#include "misd/data/idx.hpp"

#include <zlib.h>

#include <cstdint>
#include <string>

namespace {
std::string gzip(std::string_view in) {
  z_stream s{};
  if (deflateInit2(&s, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    std::abort();
  std::string out(deflateBound(&s, static_cast<uLong>(in.size())) + 32, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  if (deflate(&s, Z_FINISH) != Z_STREAM_END)
    std::abort();
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  const std::uint8_t mode = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto path = misd_fuzz::scratch() / ((mode & 1) ? "input-idx.gz" : "input-idx");
  misd_fuzz::write_bytes(path, (mode & 1) ? gzip(rest) : std::string(rest));
  try {
    if (mode & 2)
      (void)misd::data::read_idx_labels(path);
    else
      (void)misd::data::read_idx_images(path);
  } catch (const misd::data_error&) {
  }
  return 0;
}
