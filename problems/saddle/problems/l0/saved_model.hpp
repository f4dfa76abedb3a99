#pragma once
/// \file saved_model.hpp
/// Reading a trained gated network back from a `saddle train --out DIR` run folder (or from
/// its checkpoint file): the configuration that rebuilds the model and its data, and the
/// parameter vector to evaluate (the EMA of the iterates when the run used --ema, else the
/// last iterate). The library function behind `saddle eval` and `saddle export`.
///
/// The checkpoint layout read here is the one written by experiment.cpp (version 1):
///   "SADLCKPT" | u32 version | u64 payload bytes | u32 crc32(payload) | payload,
///   payload = watcher state (u64-length fingerprint string, f64 best error, u64 best epoch,
///             u64 epochs, per epoch the EpochMetrics record, u8 EMA flag, u64 EMA length,
///             f32 EMA[...]) then Solver<float>::save_state (u64 magic "SADLST01",
///             u32 version 1, u32 scalar size 4, u64 n, u64 m, 6 x u64 counters,
///             f64 elapsed seconds, u64 length + f32 x[n], ...).
/// Everything is little-endian (host order of every platform saddle builds on).

#include <cstddef>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "saddle/problems/l0/dataset.hpp"
#include "saddle/problems/l0/experiment.hpp"
#include "saddle/problems/l0/hard_concrete.hpp"
#include "saddle/problems/l0/model.hpp"

namespace saddle::l0 {

/// A trained gated network and what is needed to evaluate it.
struct SavedModel {
  std::string checkpoint_path;   ///< the checkpoint file that was read
  std::string run_dir;           ///< folder whose args.txt was read; empty if there was none
  Architecture architecture = Architecture::mlp;
  std::string dataset = "mnist";  ///< --dataset of the run
  std::string data_dir;           ///< --data-dir of the run as typed (may be relative); empty if not given
  InputScaling scaling = InputScaling::standardize;  ///< --input-scaling of the run
  TestGate test_gate = TestGate::median;             ///< --test-gate of the run
  std::size_t rows = 28, cols = 28;  ///< input image size (inferred from the parameter count)
  std::size_t classes = kNumClasses;
  bool ema = false;                  ///< params is the parameter EMA (the run used --ema)
  std::vector<EpochMetrics> history; ///< per-epoch metrics recorded by the run
  xt::xtensor<float, 1> params;      ///< params: [GatedModel(architecture, rows, cols).num_parameters()]
};

/// Reads `path`: a run folder holding checkpoint.bin (and args.txt), or a checkpoint file
/// (args.txt is then looked for next to it; without one, the architecture comes from the
/// checkpoint and the scaling, test gate and dataset take the `saddle train` defaults).
/// Allocates the parameter vector. Throws InputError naming the file for: a missing file or
/// folder, a bad magic, an unsupported version, a truncated or corrupted (CRC32) file, or a
/// parameter count that no model of the recorded architecture has.
SavedModel load_saved_model(const std::string& path);

/// The fields a `saddle train` argument list (args.txt, one token per entry) sets in a
/// SavedModel: --model, --dataset, --data-dir, --input-scaling, --test-gate, --ema
/// (`--name value` and `--name=value`). Other options are ignored. Throws InvalidOption for
/// an unknown model, scaling or gate name.
void apply_train_arguments(const std::vector<std::string>& args, SavedModel& model);

}  // namespace saddle::l0
