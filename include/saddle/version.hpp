#pragma once
/// \file version.hpp
/// The saddle version (the same as the CMake project version; a test checks that).

namespace saddle {

/// "major.minor.patch" of this saddle.
inline constexpr const char* kVersion = "0.1.0";

}  // namespace saddle
