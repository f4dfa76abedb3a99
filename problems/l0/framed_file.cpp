// The framed binary file of checkpoints and exported networks (framed_file.hpp).
#include "saddle/problems/l0/framed_file.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include <zlib.h>

#include "saddle/atomic_file.hpp"
#include "saddle/types.hpp"

namespace saddle::l0 {
namespace {

template <class U>
void append_le(std::string& out, U value) {
  char bytes[sizeof(U)];
  std::memcpy(bytes, &value, sizeof(U));
  out.append(bytes, sizeof(U));
}

template <class U>
U load_le(const char* p) {
  U value;
  std::memcpy(&value, p, sizeof(U));
  return value;
}

std::string file_name(const FrameFormat& format, const std::string& path) {  // "checkpoint 'a/b'"
  return std::string(format.noun) + " '" + path + "'";
}

}  // namespace

std::uint32_t frame_crc32(const std::string& bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = reinterpret_cast<const Bytef*>(bytes.data());
  std::size_t left = bytes.size();
  // zlib's length is a uInt: feed it in chunks so that payloads over 4 GiB are covered.
  constexpr std::size_t kChunk = std::size_t{1} << 30;
  while (left > 0) {
    const std::size_t n = std::min(left, kChunk);
    crc = crc32(crc, p, static_cast<uInt>(n));
    p += n;
    left -= n;
  }
  return static_cast<std::uint32_t>(crc);
}

std::string frame(const FrameFormat& format, const std::string& payload) {
  std::string out;
  out.reserve(kFrameHeaderBytes + payload.size());
  out.append(format.magic, 8);
  append_le<std::uint32_t>(out, format.version);
  append_le<std::uint64_t>(out, payload.size());
  append_le<std::uint32_t>(out, frame_crc32(payload));
  out += payload;
  return out;
}

std::string unframe(const FrameFormat& format, const std::string& bytes, const std::string& name,
                    std::uint32_t* version_read) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), format.magic, 8) != 0)
    throw InputError(name + ": not a saddle " + format.noun + " (bad magic)");
  if (bytes.size() < kFrameHeaderBytes) throw InputError(name + ": truncated header");
  const auto version = load_le<std::uint32_t>(bytes.data() + 8);
  const auto size = load_le<std::uint64_t>(bytes.data() + 12);
  const auto crc = load_le<std::uint32_t>(bytes.data() + 20);
  const std::uint32_t oldest = format.oldest_version == 0 ? format.version : format.oldest_version;
  if (version < oldest || version > format.version)
    throw InputError(name + ": format version " + std::to_string(version) +
                     " is not supported (this build reads version " +
                     std::to_string(format.version) + ")");
  const std::uint64_t have = bytes.size() - kFrameHeaderBytes;
  if (size > have)
    throw InputError(name + ": truncated (" + std::to_string(have) + " of " + std::to_string(size) +
                     " payload bytes)");
  if (size < have)
    throw InputError(name + ": " + std::to_string(have - size) +
                     " trailing bytes after the payload");
  std::string payload = bytes.substr(kFrameHeaderBytes);
  if (frame_crc32(payload) != crc) throw InputError(name + ": checksum mismatch (file corrupted)");
  if (version_read != nullptr) *version_read = version;
  return payload;
}

void write_framed_file(const FrameFormat& format, const std::string& path,
                       const std::string& payload) {
  write_file_atomically(path, frame(format, payload));
}

std::string read_framed_file(const FrameFormat& format, const std::string& path,
                             std::uint32_t* version_read) {
  const std::string name = file_name(format, path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open " + name);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError("cannot read " + name);
  return unframe(format, bytes, name, version_read);
}

bool has_frame_magic(const FrameFormat& format, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8];
  in.read(magic, sizeof(magic));
  return in && std::memcmp(magic, format.magic, sizeof(magic)) == 0;
}

}  // namespace saddle::l0
