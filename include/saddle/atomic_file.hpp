#pragma once
/// \file atomic_file.hpp
/// Writing a file so that a reader (or a later run) sees either the old file or the whole
/// new one, never a part: the bytes go to a temporary file next to the target
/// (`<path>.tmp`, same folder, so same file system), which is fsync'ed and renamed over the
/// target; the folder is then fsync'ed so that the rename survives a crash. A process killed
/// at any moment leaves the previous file (and at most a stale `<path>.tmp`).
///
/// Every file the `saddle` command line writes as a whole goes through write_file_atomically
/// (checkpoints, summaries, configuration files, tables, plot data, exports).

#include <stdexcept>
#include <string>

#include "saddle/types.hpp"

namespace saddle {

/// A file could not be written (full disk, missing or unwritable folder, a folder in the
/// way, ...). The message is one line, `cannot write FILE: REASON`. Derives from InputError
/// so that code catching InputError keeps working; the command line maps it to its own exit
/// code (docs/cli.md).
class WriteError : public InputError {
 public:
  /// `path`: the file the caller meant to write; `reason`: e.g. strerror(errno).
  WriteError(const std::string& path, const std::string& reason);
  /// The file the caller meant to write.
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

/// Writes `bytes` to `path` atomically (see the file comment). Throws WriteError naming
/// `path` and the reason; on failure the temporary file is removed and `path` is unchanged.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace saddle
