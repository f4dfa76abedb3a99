#pragma once
// Shared helpers of the command-line tests: run the built `saddle` binary with arguments,
// capture exit code, stdout and stderr; a per-process scratch folder.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <random>

#include "saddle/problems/l0/idx.hpp"

namespace cli_test {

namespace fs = std::filesystem;

struct RunResult {
  int code = -1;  // exit code; -1 if the process did not exit normally (signal, abort)
  std::string out;
  std::string err;
};

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A summary.json without its "seconds" lines (wall times differ between two equal runs).
inline std::string without_seconds(const std::string& json) {
  std::string out;
  std::istringstream in(json);
  for (std::string line; std::getline(in, line);)
    if (line.find("\"seconds\"") == std::string::npos) out += line + "\n";
  return out;
}

inline std::string shell_quote(const std::string& arg) {
  std::string q = "'";
  for (const char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// A scratch directory unique to this process (ctest runs tests in parallel processes),
/// removed at exit.
struct ScratchDir {
  fs::path path;
  ScratchDir() : path(fs::temp_directory_path() / ("saddle_cli_test_" + std::to_string(::getpid()))) {
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

inline fs::path scratch_dir() {
  static const ScratchDir dir;
  return dir.path;
}

#ifdef SADDLE_EXE
inline RunResult run(const std::vector<std::string>& args) {
  static std::atomic<int> counter{0};
  const int id = counter++;
  const fs::path out_path = scratch_dir() / ("out" + std::to_string(id));
  const fs::path err_path = scratch_dir() / ("err" + std::to_string(id));
  std::string command = shell_quote(SADDLE_EXE);
  for (const auto& a : args) command += " " + shell_quote(a);
  command += " >" + shell_quote(out_path.string()) + " 2>" + shell_quote(err_path.string());
  const int status = std::system(command.c_str());
  RunResult r;
  if (status != -1 && WIFEXITED(status)) r.code = WEXITSTATUS(status);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  fs::remove(out_path);
  fs::remove(err_path);
  return r;
}
#define REQUIRE_EXE() (void)0
#else
inline RunResult run(const std::vector<std::string>&) { return {}; }
#define REQUIRE_EXE() GTEST_SKIP() << "the saddle executable was not built (SADDLE_BUILD_APPS=OFF)"
#endif

inline std::string describe(const std::vector<std::string>& args, const RunResult& r) {
  std::string s = "saddle";
  for (const auto& a : args) s += " " + a;
  return s + "\n  exit " + std::to_string(r.code) + "\n  stdout: " + r.out.substr(0, 2000) + "\n  stderr: " + r.err;
}


/// Writes a small MNIST-like data set into scratch_dir()/name (the four IDX files) and
/// returns the folder: 28x28 images whose label is drawn as a bright 4x4 block at a
/// label-dependent place, plus noise — learnable in a few epochs.
inline fs::path write_tiny_mnist(const std::string& name, std::size_t n_train, std::size_t n_test,
                                 std::uint64_t seed) {
  const fs::path d = scratch_dir() / name;
  fs::create_directories(d);
  std::mt19937_64 rng(seed);
  auto make = [&](std::size_t n, const std::string& images, const std::string& labels) {
    saddle::l0::IdxImages im;
    im.count = n;
    im.rows = im.cols = 28;
    im.pixels.resize(n * 784);
    saddle::l0::IdxLabels lb;
    lb.labels.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const int y = static_cast<int>(rng() % 10);
      lb.labels[i] = static_cast<std::uint8_t>(y);
      for (std::size_t p = 0; p < 784; ++p) im.pixels[i * 784 + p] = static_cast<std::uint8_t>(rng() % 40);
      const std::size_t r0 = 2 + 2 * static_cast<std::size_t>(y), c0 = 4 + static_cast<std::size_t>(y);
      for (std::size_t r = r0; r < r0 + 4; ++r)
        for (std::size_t c = c0; c < c0 + 4; ++c) im.pixels[i * 784 + r * 28 + c] = 250;
    }
    saddle::l0::write_idx_images((d / images).string(), im);
    saddle::l0::write_idx_labels((d / labels).string(), lb);
  };
  make(n_train, "train-images-idx3-ubyte", "train-labels-idx1-ubyte");
  make(n_test, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");
  return d;
}

}  // namespace cli_test
