#pragma once
/// \file idx.hpp
/// Reader and writer for the IDX format of MNIST and Fashion-MNIST (LeCun et al.,
/// http://yann.lecun.com/exdb/mnist/): a big-endian header followed by raw elements.
///
/// Header: 4-byte magic `0x00 0x00 TYPE NDIMS`, then NDIMS big-endian uint32 dimensions.
/// Only TYPE = 0x08 (unsigned byte) is supported. Images are `0x00000803` (3 dims:
/// count, rows, cols), labels are `0x00000801` (1 dim: count).
///
/// Files may be plain or gzip-compressed; gzip is detected by its magic bytes `1f 8b`, not
/// by the file name. The reader is strict: the (decompressed) length must equal
/// header + product(dims) exactly, so truncated files and trailing bytes are both errors.
/// Every error is a `saddle::InputError` with one line `"<path>: <what is wrong>"`.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace saddle::l0 {

/// Magic number of an IDX image file (unsigned bytes, 3 dimensions).
inline constexpr std::uint32_t kIdxImagesMagic = 0x00000803;
/// Magic number of an IDX label file (unsigned bytes, 1 dimension).
inline constexpr std::uint32_t kIdxLabelsMagic = 0x00000801;
/// Largest accepted single dimension (sanity bound against corrupt headers).
inline constexpr std::uint32_t kIdxMaxDim = 1u << 24;
/// Largest accepted number of elements in one file (1 GiB of pixels).
inline constexpr std::uint64_t kIdxMaxElements = std::uint64_t{1} << 30;

/// The content of an image file: `count` images of `rows x cols` unsigned-byte pixels.
struct IdxImages {
  std::size_t count = 0;
  std::size_t rows = 0;
  std::size_t cols = 0;
  /// pixels: [count * rows * cols], image-major then row-major (as stored in the file).
  std::vector<std::uint8_t> pixels;
};

/// The content of a label file.
struct IdxLabels {
  /// labels: [count], one unsigned byte per sample.
  std::vector<std::uint8_t> labels;
};

/// Reads an image file (plain or gzip). Allocates the pixel buffer.
/// Throws InputError naming `path` for: missing/unreadable file, bad magic, element type
/// other than 0x08, wrong number of dimensions, a zero or oversized dimension, a truncated
/// file, trailing bytes, a corrupt gzip stream.
IdxImages read_idx_images(const std::string& path);

/// Reads a label file (plain or gzip); same checks as read_idx_images, with 1 dimension.
/// Label values are not range-checked here (see load_dataset).
IdxLabels read_idx_labels(const std::string& path);

/// Serializes images to IDX bytes (header + pixels). Throws InputError if
/// `pixels.size() != count * rows * cols` or a dimension does not fit in uint32.
std::vector<std::uint8_t> encode_idx_images(const IdxImages& images);

/// Serializes labels to IDX bytes (header + labels).
std::vector<std::uint8_t> encode_idx_labels(const IdxLabels& labels);

/// Writes `bytes` to `path`, gzip-compressed if `gzip` (overwrites). Throws InputError if
/// the file cannot be written. Meant for tests that need corrupt files.
void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes,
                 bool gzip = false);

/// `write_bytes(path, encode_idx_images(images), gzip)`.
void write_idx_images(const std::string& path, const IdxImages& images, bool gzip = false);

/// `write_bytes(path, encode_idx_labels(labels), gzip)`.
void write_idx_labels(const std::string& path, const IdxLabels& labels, bool gzip = false);

}  // namespace saddle::l0
