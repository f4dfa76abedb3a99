#pragma once
/// \file serialize.hpp
/// Little binary helpers for checkpoint state: scalars and vectors with their length.
/// Readers throw InputError naming what they expected when the stream is short or a
/// length does not match.

#include <cstddef>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string>

#include "saddle/types.hpp"

namespace saddle::io {

template <class S>
void write_scalar(std::ostream& out, const S& value) {
  out.write(reinterpret_cast<const char*>(&value), sizeof(S));
}

template <class S>
S read_scalar(std::istream& in, const char* what) {
  S value{};
  in.read(reinterpret_cast<char*>(&value), sizeof(S));
  if (!in) throw InputError(std::string("state truncated while reading ") + what);
  return value;
}

template <class T>
void write_vector(std::ostream& out, const Vector<T>& v) {
  write_scalar<std::uint64_t>(out, v.size());
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
}

/// False when `in` is seekable and fewer than `bytes` bytes follow its read position, true
/// otherwise (also for streams that cannot seek). Readers call it before allocating a
/// buffer for a length read from the stream, so that a corrupt length fails as a
/// truncation instead of allocating gigabytes. Leaves the read position where it was.
inline bool stream_holds(std::istream& in, std::uint64_t bytes) {
  const std::istream::pos_type here = in.tellg();
  if (here == std::istream::pos_type(-1)) return true;
  in.seekg(0, std::ios::end);
  const std::istream::pos_type end = in.tellg();
  in.seekg(here);
  if (end == std::istream::pos_type(-1) || !in) {
    in.clear();
    in.seekg(here);
    return true;
  }
  return static_cast<std::uint64_t>(end - here) >= bytes;
}

/// Reads into v, which must already have the stored length.
template <class T>
void read_vector(std::istream& in, Vector<T>& v, const char* what) {
  const auto n = read_scalar<std::uint64_t>(in, what);
  if (n != v.size())
    throw InputError(std::string("state mismatch for ") + what + ": stored length " + std::to_string(n) +
                     ", expected " + std::to_string(v.size()));
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(T)));
  if (!in) throw InputError(std::string("state truncated while reading ") + what);
}

}  // namespace saddle::io
