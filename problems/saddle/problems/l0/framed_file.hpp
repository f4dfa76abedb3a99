#pragma once
/// \file framed_file.hpp
/// The one reader and writer of saddle's framed binary files: the checkpoint of a training
/// run (checkpoint.hpp, magic "SADLCKPT") and the exported purged network
/// (purged_network.hpp, magic "SADLPNET", docs/export-format.md). Layout:
///
///   offset 0   8 bytes  magic
///   offset 8   u32      format version
///   offset 12  u64      payload size in bytes (the file is exactly 24 + this long)
///   offset 20  u32      CRC-32 of the payload (zlib crc32: polynomial 0xEDB88320, init 0)
///   offset 24  ...      payload
///
/// Integers are little-endian (as in memory on the supported x86-64/arm64 targets).

#include <cstddef>
#include <cstdint>
#include <string>

namespace saddle::l0 {

/// Size of the header in front of the payload: magic, version, size, CRC-32.
inline constexpr std::size_t kFrameHeaderBytes = 8 + 4 + 8 + 4;

/// What distinguishes one framed format from another.
struct FrameFormat {
  const char* magic;      ///< exactly 8 bytes (not NUL-terminated)
  std::uint32_t version;  ///< the version this build writes (and the newest it reads)
  const char* noun;       ///< "checkpoint", "exported network": used in error messages
  std::uint32_t oldest_version = 0;  ///< oldest version still read; 0 = only `version`
};

/// CRC-32 of `bytes` (zlib crc32, any length).
std::uint32_t frame_crc32(const std::string& bytes);

/// Header + payload: the bytes of a framed file.
std::string frame(const FrameFormat& format, const std::string& payload);

/// Checks the header of `bytes` and returns the payload. `name` (e.g. "checkpoint 'a/b'")
/// starts every message. Throws InputError with one line for: a bad magic (also a file of
/// fewer than 8 bytes), a truncated header, another format version, a truncated payload,
/// trailing bytes after the payload, a CRC-32 mismatch. A version outside
/// [oldest_version, version] is refused; `version_read`, when given, receives the file's.
std::string unframe(const FrameFormat& format, const std::string& bytes, const std::string& name,
                    std::uint32_t* version_read = nullptr);

/// Writes frame(format, payload) to `path` atomically (saddle::write_file_atomically: a
/// temporary file in the same folder, fsync, rename, folder fsync). Throws WriteError (an
/// InputError) naming the file on failure.
void write_framed_file(const FrameFormat& format, const std::string& path,
                       const std::string& payload);

/// Reads the file at `path` and returns unframe(format, bytes, "<noun> '<path>'"). Throws
/// InputError if it cannot be opened or read, or for any problem unframe() reports.
std::string read_framed_file(const FrameFormat& format, const std::string& path,
                             std::uint32_t* version_read = nullptr);

/// True if the file at `path` starts with the format's magic (false for a missing or short
/// file).
bool has_frame_magic(const FrameFormat& format, const std::string& path);

}  // namespace saddle::l0
