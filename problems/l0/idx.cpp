#include "saddle/problems/l0/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "saddle/types.hpp"

namespace saddle::l0 {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw InputError(path + ": " + what);
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(v));
  return buf;
}

std::string hex8(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", v & 0xFFu);
  return buf;
}

/// Name of an IDX element type code (the third magic byte), for error messages.
const char* idx_type_name(unsigned type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "short";
    case 0x0C:
      return "int";
    case 0x0D:
      return "float";
    case 0x0E:
      return "double";
    default:
      return "unknown";
  }
}

/// Sequential reader over a plain or gzip file. `read` returns the number of bytes read
/// (less than asked only at end of data) and throws on I/O or gzip stream errors.
class ByteSource {
 public:
  explicit ByteSource(const std::string& path) : path_(path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) fail(path, std::string("cannot open: ") + std::strerror(errno));
    unsigned char magic[2] = {0, 0};
    const std::size_t got = std::fread(magic, 1, 2, f);
    gzip_ = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    if (!gzip_) {
      std::rewind(f);
      file_ = f;
      return;
    }
    std::fclose(f);
    gz_ = gzopen(path.c_str(), "rb");
    if (gz_ == nullptr) fail(path, "cannot open gzip stream");
    gzbuffer(gz_, 1u << 17);
  }
  ~ByteSource() {
    if (file_ != nullptr) std::fclose(file_);
    if (gz_ != nullptr) gzclose(gz_);
  }
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  bool gzip() const { return gzip_; }

  /// Size of a plain file in bytes (not available for gzip).
  std::uint64_t plain_size() {
    const long pos = std::ftell(file_);
    if (std::fseek(file_, 0, SEEK_END) != 0) fail(path_, "cannot seek");
    const long size = std::ftell(file_);
    if (size < 0 || std::fseek(file_, pos, SEEK_SET) != 0) fail(path_, "cannot seek");
    return static_cast<std::uint64_t>(size);
  }

  std::size_t read(std::uint8_t* dst, std::size_t n) {
    if (!gzip_) {
      const std::size_t got = std::fread(dst, 1, n, file_);
      if (got < n && std::ferror(file_)) fail(path_, "read error");
      return got;
    }
    std::size_t total = 0;
    while (total < n) {
      // gzread takes an unsigned length: read in chunks of at most 1 GiB.
      const std::size_t chunk = std::min<std::size_t>(n - total, std::size_t{1} << 30);
      const int got = gzread(gz_, dst + total, static_cast<unsigned>(chunk));
      if (got < 0) gz_fail();
      total += static_cast<std::size_t>(got);
      if (static_cast<std::size_t>(got) < chunk) {
        // Short read: end of data, or a truncated compressed stream (Z_BUF_ERROR).
        int errnum = Z_OK;
        gzerror(gz_, &errnum);
        if (errnum == Z_BUF_ERROR) {
          cut_off_ = true;
        } else if (errnum != Z_OK) {
          gz_fail();
        }
        break;
      }
    }
    return total;
  }

  /// Text appended to a truncation message: says whether the gzip stream itself was cut.
  const char* note() const { return cut_off_ ? " (gzip stream cut off)" : ""; }

  /// Reads and counts everything left.
  std::uint64_t count_remaining() {
    std::vector<std::uint8_t> scratch(1u << 16);
    std::uint64_t total = 0;
    for (;;) {
      const std::size_t got = read(scratch.data(), scratch.size());
      total += got;
      if (got < scratch.size()) return total;
    }
  }

 private:
  [[noreturn]] void gz_fail() {
    int errnum = Z_OK;
    std::string msg = gzerror(gz_, &errnum);
    // zlib prefixes its message with the path; drop it, fail() adds the path once.
    if (msg.compare(0, path_.size() + 2, path_ + ": ") == 0) msg.erase(0, path_.size() + 2);
    fail(path_, "corrupt gzip stream: " + (msg.empty() ? std::string("unknown error") : msg));
  }

  std::string path_;
  bool gzip_ = false;
  std::FILE* file_ = nullptr;
  gzFile gz_ = nullptr;
  bool cut_off_ = false;  // the compressed data ended before the gzip trailer
};

std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

void store_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

/// Reads an unsigned-byte IDX file with `expected_magic` (its low byte = number of dims).
/// Returns the dims and fills `data` with exactly product(dims) bytes.
std::vector<std::size_t> read_idx(const std::string& path, std::uint32_t expected_magic,
                                  const char* kind, std::vector<std::uint8_t>& data) {
  ByteSource src(path);
  const char* const len_what = src.gzip() ? " decompressed bytes" : " bytes";
  const unsigned ndims = expected_magic & 0xFFu;
  const std::uint64_t header = 4 + 4 * std::uint64_t{ndims};

  std::uint8_t head[4 + 4 * 255];
  std::size_t got = src.read(head, 4);
  if (got < 4) {
    fail(path, "truncated: " + std::to_string(got) + len_what + ", too short for an IDX header" +
                   src.note());
  }
  const std::uint32_t magic = load_be32(head);
  const std::string expected =
      std::string(" (expected ") + hex32(expected_magic) + " for " + kind + ")";
  if (head[0] != 0 || head[1] != 0) fail(path, "bad magic " + hex32(magic) + expected);
  if (head[2] != 0x08) {
    fail(path, "element type " + hex8(head[2]) + " (" + idx_type_name(head[2]) + ") in magic " +
                   hex32(magic) + ", expected 0x08 (unsigned byte)" + expected);
  }
  if (head[3] != ndims) {
    fail(path, "bad magic " + hex32(magic) + expected + ": " + std::to_string(head[3]) +
                   " dimension(s) instead of " + std::to_string(ndims));
  }
  got = src.read(head + 4, header - 4);
  if (got < header - 4) {
    fail(path, "truncated: expected at least " + std::to_string(header) + len_what +
                   " of header, got " + std::to_string(4 + got) + src.note());
  }

  std::vector<std::size_t> dims(ndims);
  std::uint64_t elements = 1;
  static const char* const kImageDimNames[] = {"count", "rows", "cols"};
  for (unsigned i = 0; i < ndims; ++i) {
    const std::uint32_t d = load_be32(head + 4 + 4 * i);
    const std::string name = ndims == 3 ? kImageDimNames[i] : "count";
    if (d == 0) fail(path, "dimension " + std::to_string(i) + " (" + name + ") is 0");
    if (d > kIdxMaxDim) {
      fail(path, "dimension " + std::to_string(i) + " (" + name + ") = " + std::to_string(d) +
                     " is too large (max " + std::to_string(kIdxMaxDim) + "; corrupt header?)");
    }
    dims[i] = d;
    elements *= d;
    if (elements > kIdxMaxElements) {
      fail(path, "too many elements (> " + std::to_string(kIdxMaxElements) + "; corrupt header?)");
    }
  }
  const std::uint64_t expected_len = header + elements;

  if (!src.gzip()) {
    // Plain file: compare the size before allocating anything.
    const std::uint64_t size = src.plain_size();
    if (size < expected_len) {
      fail(path, "truncated: expected " + std::to_string(expected_len) + " bytes, got " +
                     std::to_string(size));
    }
    if (size > expected_len) {
      fail(path, "trailing bytes: expected " + std::to_string(expected_len) + " bytes, got " +
                     std::to_string(size) + " (" + std::to_string(size - expected_len) + " extra)");
    }
  }
  if (!src.gzip()) {
    data.resize(static_cast<std::size_t>(elements));
    got = src.read(data.data(), data.size());
  } else {
    // The size of a gzip file does not bound its decompressed length: grow the buffer as
    // the data arrives (1 MiB, then doubling) so that a corrupt header claiming up to
    // kIdxMaxElements does not allocate a gigabyte for a few bytes of input.
    data.clear();
    got = 0;
    while (got < elements) {
      const std::size_t step =
          static_cast<std::size_t>(std::min<std::uint64_t>(elements - got, std::max<std::size_t>(got, 1u << 20)));
      data.resize(got + step);
      const std::size_t n = src.read(data.data() + got, step);
      got += n;
      if (n < step) break;
    }
  }
  if (got < elements) {
    fail(path, "truncated: expected " + std::to_string(expected_len) + len_what + ", got " +
                   std::to_string(header + got) + src.note());
  }
  if (src.gzip()) {
    const std::uint64_t extra = src.count_remaining();
    if (extra == 0 && src.note()[0] != '\0') {
      fail(path, "truncated: all " + std::to_string(expected_len) + len_what +
                     " present but the gzip stream is cut off before its trailer");
    }
    if (extra > 0) {
      fail(path, "trailing bytes: expected " + std::to_string(expected_len) + len_what + ", got " +
                     std::to_string(expected_len + extra) + " (" + std::to_string(extra) +
                     " extra)");
    }
  }
  return dims;
}

void check_u32(std::size_t v, const char* what) {
  if (v > 0xFFFFFFFFu) {
    throw InputError(std::string("IDX writer: ") + what + " = " + std::to_string(v) +
                     " does not fit in uint32");
  }
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  IdxImages out;
  const std::vector<std::size_t> dims = read_idx(path, kIdxImagesMagic, "images", out.pixels);
  out.count = dims[0];
  out.rows = dims[1];
  out.cols = dims[2];
  return out;
}

IdxLabels read_idx_labels(const std::string& path) {
  IdxLabels out;
  read_idx(path, kIdxLabelsMagic, "labels", out.labels);
  return out;
}

std::vector<std::uint8_t> encode_idx_images(const IdxImages& images) {
  check_u32(images.count, "count");
  check_u32(images.rows, "rows");
  check_u32(images.cols, "cols");
  const std::uint64_t n = std::uint64_t{images.count} * images.rows * images.cols;
  if (images.pixels.size() != n) {
    throw InputError("IDX writer: pixels.size() = " + std::to_string(images.pixels.size()) +
                     ", expected count*rows*cols = " + std::to_string(n));
  }
  std::vector<std::uint8_t> out(16 + images.pixels.size());
  store_be32(out.data(), kIdxImagesMagic);
  store_be32(out.data() + 4, static_cast<std::uint32_t>(images.count));
  store_be32(out.data() + 8, static_cast<std::uint32_t>(images.rows));
  store_be32(out.data() + 12, static_cast<std::uint32_t>(images.cols));
  std::copy(images.pixels.begin(), images.pixels.end(), out.begin() + 16);
  return out;
}

std::vector<std::uint8_t> encode_idx_labels(const IdxLabels& labels) {
  check_u32(labels.labels.size(), "count");
  std::vector<std::uint8_t> out(8 + labels.labels.size());
  store_be32(out.data(), kIdxLabelsMagic);
  store_be32(out.data() + 4, static_cast<std::uint32_t>(labels.labels.size()));
  std::copy(labels.labels.begin(), labels.labels.end(), out.begin() + 8);
  return out;
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes, bool gzip) {
  if (!gzip) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) fail(path, std::string("cannot write: ") + std::strerror(errno));
    const std::size_t put = bytes.empty() ? 0 : std::fwrite(bytes.data(), 1, bytes.size(), f);
    const bool ok = std::fclose(f) == 0 && put == bytes.size();
    if (!ok) fail(path, "write error");
    return;
  }
  gzFile gz = gzopen(path.c_str(), "wb");
  if (gz == nullptr) fail(path, std::string("cannot write: ") + std::strerror(errno));
  std::size_t done = 0;
  bool ok = true;
  while (ok && done < bytes.size()) {
    const std::size_t chunk = std::min<std::size_t>(bytes.size() - done, std::size_t{1} << 30);
    ok = gzwrite(gz, bytes.data() + done, static_cast<unsigned>(chunk)) == static_cast<int>(chunk);
    done += chunk;
  }
  if (gzclose(gz) != Z_OK || !ok) fail(path, "gzip write error");
}

void write_idx_images(const std::string& path, const IdxImages& images, bool gzip) {
  write_bytes(path, encode_idx_images(images), gzip);
}

void write_idx_labels(const std::string& path, const IdxLabels& labels, bool gzip) {
  write_bytes(path, encode_idx_labels(labels), gzip);
}

}  // namespace saddle::l0
