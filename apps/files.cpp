// Whole-file reading and writing (files.hpp).
#include "files.hpp"

#include <fstream>
#include <sstream>

#include "saddle/atomic_file.hpp"

namespace saddle::cli {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const std::string& path, const std::string& text) {
  saddle::write_file_atomically(path, text);  // temp file + fsync + rename; WriteError: exit 4
}

}  // namespace saddle::cli
