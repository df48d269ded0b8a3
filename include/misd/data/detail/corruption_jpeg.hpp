// misd/data/detail/corruption_jpeg.hpp -- the JPEG corruption: an 8-bit grey image through
// libjpeg's baseline encoder at a quality and back, in memory. Needs <jpeglib.h> and linking
// libjpeg (the CMake component misd::corruption). Not for direct inclusion.
#pragma once

#include "misd/error.hpp"

#include <csetjmp>
#include <cstddef>
#include <cstdio> // jpeglib.h uses FILE and size_t without including their headers
#include <cstdlib>
#include <vector>

#include <jpeglib.h>

namespace misd::detail::corruption {

struct jpeg_error_jump {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
};

// libjpeg's default error handler ends the process; this one returns to the setjmp in
// jpeg_round_trip_c. C++ objects never live between that setjmp and a longjmp.
extern "C" inline void misd_jpeg_error_exit(j_common_ptr info) {
  std::longjmp(reinterpret_cast<jpeg_error_jump*>(info->err)->jump, 1);
}

/// Encodes the h x w grey image `pixels` at `quality` and decodes it into `out` (h * w
/// bytes). Returns false on a libjpeg error. Plain C data only, because of setjmp.
inline bool jpeg_round_trip_c(const unsigned char* pixels, unsigned char* out, unsigned h,
                              unsigned w, int quality) {
  jpeg_error_jump err;
  jpeg_compress_struct enc;
  jpeg_decompress_struct dec;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  volatile bool enc_made = false, dec_made = false; // read after a longjmp
  enc.err = jpeg_std_error(&err.mgr);
  dec.err = enc.err;
  err.mgr.error_exit = misd_jpeg_error_exit;
  if (setjmp(err.jump)) {
    if (enc_made)
      jpeg_destroy_compress(&enc);
    if (dec_made)
      jpeg_destroy_decompress(&dec);
    std::free(buffer);
    return false;
  }
  jpeg_create_compress(&enc);
  enc_made = true;
  jpeg_mem_dest(&enc, &buffer, &size);
  enc.image_width = w;
  enc.image_height = h;
  enc.input_components = 1;
  enc.in_color_space = JCS_GRAYSCALE;
  jpeg_set_defaults(&enc);
  jpeg_set_quality(&enc, quality, TRUE); // baseline tables, as PIL saves them
  jpeg_start_compress(&enc, TRUE);
  while (enc.next_scanline < h) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels + std::size_t(enc.next_scanline) * w);
    jpeg_write_scanlines(&enc, &row, 1);
  }
  jpeg_finish_compress(&enc);
  jpeg_destroy_compress(&enc);
  enc_made = false;

  jpeg_create_decompress(&dec);
  dec_made = true;
  jpeg_mem_src(&dec, buffer, size);
  jpeg_read_header(&dec, TRUE);
  dec.out_color_space = JCS_GRAYSCALE;
  jpeg_start_decompress(&dec);
  while (dec.output_scanline < h) {
    JSAMPROW row = out + std::size_t(dec.output_scanline) * w;
    jpeg_read_scanlines(&dec, &row, 1);
  }
  jpeg_finish_decompress(&dec);
  jpeg_destroy_decompress(&dec);
  std::free(buffer);
  return true;
}

/// The 8-bit image after a JPEG round trip at `quality` (1-100).
inline std::vector<unsigned char> jpeg_round_trip(const std::vector<unsigned char>& pixels,
                                                  std::size_t h, std::size_t w, int quality) {
  std::vector<unsigned char> out(h * w);
  if (!jpeg_round_trip_c(pixels.data(), out.data(), unsigned(h), unsigned(w), quality))
    throw misd::error(misd::detail::message("jpeg corruption: libjpeg failed on a ", h, " x ", w,
                                            " image at quality ", quality));
  return out;
}

} // namespace misd::detail::corruption
