#pragma once
/// \file files.hpp
/// Whole-file reading and writing for the command line's output folders.

#include <filesystem>
#include <string>

namespace saddle::cli {

/// The bytes of `path` ("" when it cannot be read).
std::string read_all(const std::filesystem::path& path);

/// Writes `text` to `path` atomically (saddle::write_file_atomically: a temporary file next
/// to it, written and fsync'ed, then renamed over it); throws saddle::WriteError (exit code
/// 4) if the file cannot be written.
void write_text(const std::string& path, const std::string& text);

}  // namespace saddle::cli
