#pragma once
/// \file checkpoint.hpp
/// The checkpoint file of a training run (written by saddle::l0::train every epoch, read by
/// --resume, `saddle eval` and `saddle export`). One definition of the format:
///
///   magic "SADLCKPT" (8 bytes) | u32 format version | u64 payload bytes | u32 CRC32(payload)
///   (the framed file of framed_file.hpp, shared with the exported network)
///   payload = run state (below) | solver state (saddle::Solver<float>::save_state)
///
/// run state = string fingerprint | f64 best test error | u64 best epoch |
///             u64 epochs, then per epoch an EpochMetrics record |
///             u64 steps, f64 loss sum, f64 error sum of the partial epoch (version 2; 0 at
///             an epoch end) | u8 EMA started | u64 EMA length, then the EMA parameters (float32)
/// Version 1 files (no partial-epoch sums) are still read.
/// Integers and floats are little-endian as in memory; strings and vectors are prefixed by
/// their u64 length.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "saddle/problems/l0/experiment.hpp"
#include "saddle/types.hpp"

namespace saddle::l0 {

/// Everything of a checkpoint before the solver state.
struct RunState {
  std::string fingerprint;  ///< configuration that must match on resume
  double best_test_error = 1.0;
  std::uint64_t best_epoch = 0;
  std::vector<EpochMetrics> history;
  /// Running sums of the epoch in progress (a checkpoint written when a run is stopped
  /// mid-epoch); 0 at an epoch end. The error sum is over all ranks of a data-parallel run.
  std::uint64_t epoch_steps = 0;
  double epoch_loss_sum = 0.0;
  double epoch_error_sum = 0.0;
  bool ema_started = false;
  Vector<float> ema;  ///< [n] or empty
};

/// Writes magic, version, size, CRC32 and payload to `path` atomically (write_framed_file:
/// a temporary file, fsync, rename). Throws WriteError (an InputError) naming the path on
/// failure.
void write_checkpoint_file(const std::string& path, const std::string& payload);
/// Reads and checks a checkpoint file; returns its payload. Throws InputError naming the
/// path and the problem: cannot open, bad magic, truncated header or payload, other format
/// version, trailing bytes, checksum mismatch (read_framed_file).
std::string read_checkpoint_file(const std::string& path);

void write_run_state(std::ostream& out, const RunState& state);
/// Reads the run state from a payload stream; `path` names the file in error messages.
RunState read_run_state(std::istream& in, const std::string& path);

}  // namespace saddle::l0
