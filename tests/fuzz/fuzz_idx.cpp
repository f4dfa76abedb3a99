// libFuzzer target: the IDX readers of MNIST files (read_idx_images, read_idx_labels), plain
// and gzip. The readers take a path: the input is written to a temporary file and read as
// images and as labels; the first byte chooses whether the rest is stored as it is or
// gzip-compressed first (so that the fuzzer also explores the decompressed header and
// lengths). Bad input must end in saddle::InputError.

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_util.hpp"
#include "saddle/problems/l0/idx.hpp"
#include "saddle/types.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static saddle::fuzz::TempFile file("idx");
  if (size == 0) return 0;
  const bool compress = (data[0] & 1u) != 0;
  const std::uint8_t* body = data + 1;
  const std::size_t body_size = size - 1;
  if (compress) {
    std::vector<std::uint8_t> gz(compressBound(static_cast<uLong>(body_size)) + 64);
    // A gzip stream (deflateInit2 with windowBits 16 + 15), as gzopen/gzread expect.
    z_stream zs{};
    if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      return 0;
    zs.next_in = const_cast<Bytef*>(body);
    zs.avail_in = static_cast<uInt>(body_size);
    zs.next_out = gz.data();
    zs.avail_out = static_cast<uInt>(gz.size());
    const int rc = deflate(&zs, Z_FINISH);
    const std::size_t out = gz.size() - zs.avail_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) return 0;
    file.write(gz.data(), out);
  } else {
    file.write(body, body_size);
  }
  try {
    (void)saddle::l0::read_idx_images(file.path());
  } catch (const saddle::InputError&) {
  }
  try {
    (void)saddle::l0::read_idx_labels(file.path());
  } catch (const saddle::InputError&) {
  }
  return 0;
}
