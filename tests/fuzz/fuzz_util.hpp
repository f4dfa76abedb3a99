#pragma once
/// \file fuzz_util.hpp
/// Helpers shared by the libFuzzer targets of this folder.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace saddle::fuzz {

/// A file of this process under $TMPDIR (default /tmp), named after `tag` and the process
/// id, removed at exit; `write` replaces its content with the fuzz input. For readers that
/// take a path.
class TempFile {
 public:
  explicit TempFile(const std::string& tag) {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/saddle-fuzz-" + tag +
            "-" + std::to_string(::getpid());
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  /// Writes `size` bytes of `data` to the file (aborts if it cannot: the run would be void).
  const std::string& write(const std::uint8_t* data, std::size_t size) {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (f == nullptr) std::abort();
    if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
    if (std::fclose(f) != 0) std::abort();
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace saddle::fuzz
