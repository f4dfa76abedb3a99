// Checkpoint format 2 (running sums of a partial epoch, written when a run is stopped by a
// signal) and the reading of format-1 files of earlier builds (saddle/problems/l0/checkpoint.hpp).
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "saddle/atomic_file.hpp"
#include "saddle/problems/l0/checkpoint.hpp"
#include "saddle/serialize.hpp"

namespace l0 = saddle::l0;
namespace fs = std::filesystem;

namespace {

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() /
         ("saddle_ckpt_format_" + std::to_string(::getpid()) + "_" + name);
}

l0::RunState sample_state() {
  l0::RunState s;
  s.fingerprint = "mlp params=3 seed=1";
  s.best_test_error = 0.25;
  s.best_epoch = 1;
  l0::EpochMetrics m;
  m.epoch = 1;
  m.train_loss = 0.5;
  m.layer_densities = {0.9, 0.8};
  m.multipliers = {0.1};
  m.pruned_architecture = "784-3";
  s.history.push_back(m);
  return s;
}

}  // namespace

TEST(CheckpointFormat, PartialEpochSumsRoundTrip) {
  auto s = sample_state();
  s.epoch_steps = 7;
  s.epoch_loss_sum = 3.25;
  s.epoch_error_sum = 1.5;
  std::ostringstream out;
  l0::write_run_state(out, s);
  std::istringstream in(out.str());
  const auto r = l0::read_run_state(in, "ck");
  EXPECT_EQ(r.epoch_steps, 7u);
  EXPECT_EQ(r.epoch_loss_sum, 3.25);
  EXPECT_EQ(r.epoch_error_sum, 1.5);
  ASSERT_EQ(r.history.size(), 1u);
  EXPECT_EQ(r.history[0].pruned_architecture, "784-3");
}

// A format-1 file (no partial-epoch sums) reads as format 2 with zero sums; the solver state
// after the run state is passed on unchanged.
TEST(CheckpointFormat, VersionOneFilesAreStillRead) {
  const auto s = sample_state();
  std::ostringstream v2;
  l0::write_run_state(v2, s);
  // Format 1 = format 2 without the 24 bytes of sums before the EMA flag (u8) and the EMA
  // length (u64, the EMA being empty).
  std::string v1 = v2.str();
  v1.erase(v1.size() - 9 - 24, 24);
  const std::string solver_state = "solver-state-bytes";
  const std::string payload = v1 + solver_state;
  std::ostringstream file;
  file.write("SADLCKPT", 8);
  saddle::io::write_scalar<std::uint32_t>(file, 1);
  saddle::io::write_scalar<std::uint64_t>(file, payload.size());
  saddle::io::write_scalar<std::uint32_t>(
      file, static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(payload.data()),
                                             static_cast<uInt>(payload.size()))));
  file << payload;
  const fs::path path = temp_file("v1");
  saddle::write_file_atomically(path.string(), file.str());
  const std::string read = l0::read_checkpoint_file(path.string());
  fs::remove(path);
  EXPECT_EQ(read, v2.str() + solver_state);
  std::istringstream in(read);
  const auto r = l0::read_run_state(in, "ck");
  EXPECT_EQ(r.epoch_steps, 0u);
  EXPECT_EQ(r.fingerprint, s.fingerprint);
}

// write_checkpoint_file writes the current version; a folder in the way is a WriteError
// naming the file, and the previous checkpoint is kept.
TEST(CheckpointFormat, WriteFailureIsAWriteErrorAndKeepsTheOldFile) {
  const fs::path path = temp_file("kept");
  l0::write_checkpoint_file(path.string(), "first");
  EXPECT_EQ(l0::read_checkpoint_file(path.string()), "first");
  fs::create_directories(path.string() + ".tmp/x");  // the temporary file cannot be created
  try {
    l0::write_checkpoint_file(path.string(), "second");
    ADD_FAILURE() << "no WriteError";
  } catch (const saddle::WriteError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot write " + path.string() + ": Is a directory");
  }
  EXPECT_EQ(l0::read_checkpoint_file(path.string()), "first");
  fs::remove_all(path.string() + ".tmp");
  fs::remove(path);
}
