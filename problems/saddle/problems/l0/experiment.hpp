#pragma once
/// \file experiment.hpp
/// One density-target training run of a gated network: the library function behind
/// `saddle train` (and the building block of `compare` and `sweep`).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "saddle/callbacks.hpp"
#include "saddle/data_parallel.hpp"
#include "saddle/options.hpp"
#include "saddle/problems/l0/dataset.hpp"
#include "saddle/problems/l0/density_problem.hpp"
#include "saddle/summary.hpp"
#include "saddle/thread_parallel.hpp"

namespace saddle::l0 {

/// How the threads of one run (TrainConfig::threads > 1) share a minibatch.
enum class ThreadSplit {
  automatic,  ///< layers for the MLP, batch for LeNet5 (the faster of the two, measured:
              ///< docs/performance.md, "Two cores")
  batch,      ///< data parallel: N replicas of the problem, each evaluates a share of the rows
              ///< (ThreadParallelProblem); gradients summed over the replicas in a fixed order
  layers,     ///< one problem whose dense layers split their work over the team
              ///< (DensityProblem::set_runner): nothing is repeated per thread and no
              ///< gradient is summed, but convolutions and element-wise stages stay serial
};
/// "auto", "batch" or "layers".
const char* to_string(ThreadSplit split);
/// Parses the names of to_string; throws InvalidOption listing the choices.
ThreadSplit parse_thread_split(const std::string& name);
/// The split `automatic` stands for with this architecture (batch or layers).
ThreadSplit resolve_thread_split(ThreadSplit split, Architecture architecture);

/// Everything that defines a run. Defaults are the constrained-L0 paper's MNIST settings
/// ([GP] configs/defaults/mnist_defaults.yml): Adam 7e-4, dual gradient ascent 1e-4, dual
/// restarts on, batch 128, 200 epochs, inputs normalised with MNIST mean/std, median gates.
struct TrainConfig {
  Architecture architecture = Architecture::mlp;
  /// Model-level target in (0, 1]; used when layer_targets and penalties are empty.
  double target_density = 0.33;
  /// One target per gated layer (layer-level constraints).
  std::vector<double> layer_targets;
  /// Penalized L0 (fixed multipliers): one lambda (model level) or one per layer.
  std::vector<double> penalties;
  DensityMeasure penalty_measure = DensityMeasure::density;
  /// Scale of the density constraints for the dual update (DensityProblemOptions::dual_scale).
  /// The library default is the paper's (one); `saddle train` defaults to target.
  DualScale dual_scale = DualScale::one;
  std::string solver = "gda";
  SolverOptions solver_options = default_solver_options();
  std::size_t batch = 128;
  std::size_t epochs = 200;
  /// The last `fixed_gate_epochs` of the `epochs` train the weights under fixed gates
  /// (DensityProblem::fix_gates): log_alpha is held where it is at the start of the phase,
  /// the training forward uses the deterministic test-time gates, so the network trained is
  /// the one evaluated; densities and constraint values no longer move. 0 = off; < epochs.
  std::size_t fixed_gate_epochs = 0;
  std::uint64_t seed = 1;
  double weight_decay = 0.0;
  /// Lower bound of log_alpha (DensityProblemOptions::log_alpha_min); the library keeps the
  /// reference codes' ln 0.01.
  double log_alpha_min = kLogAlphaMin;
  /// Parameter moving average ([LZ] EMA, initialised to the initial point); 0 = off.
  double ema_beta = 0.0;
  TestGate test_gate = TestGate::median;
  /// Weight init. Default lz: measured on MNIST, the [GP] init (std sqrt(2/out), W/(1-d))
  /// starts with huge logits (LeNet5: 70.6% test error after one epoch, lz: 4.5%).
  InitScheme init = InitScheme::lz;
  std::size_t eval_batch = 500;
  /// Evaluate on the test split every `eval_every` epochs (and always after the last).
  std::size_t eval_every = 1;
  /// Write a checkpoint here after every epoch, and when a callback stops the run in the
  /// middle of an epoch (Termination::user_stop; resuming it continues after that step),
  /// atomically: temp file + fsync + rename; empty = none.
  std::string checkpoint_path;
  /// Continue from this checkpoint (written by a run with the same configuration); the
  /// continued run reaches the same final metrics as an uninterrupted one.
  std::string resume_from;
  /// Extra callbacks (non-owning, may be empty) added to the solver after the epoch
  /// watcher: they see every step, e.g. a per-step CSV log or a progress display. After a
  /// resume they see the steps from the checkpoint on. Not part of the checkpoint.
  std::vector<Callback<float>*> callbacks;
  /// Data-parallel training (non-owning; nullptr or size 1 = one process): every rank runs
  /// train() with the same configuration, evaluates its share of each minibatch
  /// (DataParallelProblem: gradients and constraint values summed over the ranks, same step
  /// on every rank, same model). Rank 0 alone writes checkpoint_path.
  Communicator* communicator = nullptr;
  /// Threads of this process (>= 1; 1 = the unsplit problem, today's path bit for bit).
  /// With N > 1 every minibatch and the test set are split over N threads, as thread_split
  /// says: over N replicas of the problem (ThreadParallelProblem, thread_parallel.hpp) or
  /// inside the dense layers of one (DensityProblem::set_runner). Same seed and N, same
  /// result bit for bit; another N gives the same run up to rounding. OpenBLAS runs one
  /// thread per team thread during the run (its thread count is restored afterwards).
  /// Composes with `communicator`: each rank splits its share of the batch over its threads.
  std::size_t threads = 1;
  ThreadBackend thread_backend = ThreadBackend::automatic;
  /// How the threads split each minibatch (ignored for threads = 1). Both splits give, for
  /// the same seed and thread count, the same run bit for bit, and the one-thread run up to
  /// rounding.
  ThreadSplit thread_split = ThreadSplit::automatic;

  static SolverOptions default_solver_options();
  /// Throws InvalidOption with a message naming the field.
  void validate() const;
};

/// Metrics after one epoch.
struct EpochMetrics {
  std::size_t epoch = 0;            ///< 1-based
  double train_loss = 0.0;          ///< mean minibatch loss over the epoch
  double train_error = 0.0;         ///< mean minibatch error over the epoch (sampled gates)
  double test_loss = 0.0;
  double test_error = 0.0;          ///< test-time gates; NaN when not evaluated this epoch
  double expected_density = 0.0;    ///< model level
  std::vector<double> layer_densities;
  std::vector<double> constraint_values;  ///< measure - target per group
  double test_time_density = 0.0;
  std::string pruned_architecture;
  std::size_t purged_params = 0;
  std::size_t purged_macs = 0;
  std::vector<double> multipliers;
  double seconds = 0.0;             ///< wall time since the start of the run
  /// Wall time of this epoch's training alone: from the end of the previous epoch's
  /// bookkeeping (or the start of the solve) to the end of its last step — shuffle, steps and
  /// per-step callbacks, without the test evaluation, densities, purge counts and
  /// checkpoint. After a resume the first epoch counts only its resumed part; epochs
  /// restored from a checkpoint have NaN (not saved in checkpoints).
  double train_seconds = 0.0;
};

struct TrainResult {
  std::vector<EpochMetrics> history;
  EpochMetrics final_metrics;
  double best_test_error = 1.0;
  std::size_t best_epoch = 0;
  std::vector<std::string> group_names;
  std::vector<double> group_targets;
  std::vector<std::string> layer_names;
  std::size_t dense_params = 0, dense_macs = 0;
  Summary<float> summary;
};

/// Checkpoint file format version written by this build.
inline constexpr std::uint32_t kCheckpointVersion = 2;  ///< 2: partial-epoch sums (version 1 is read too)

/// Runs the experiment on `data`. `on_epoch` sees every epoch's metrics as they come;
/// returning false stops the run (Termination::user_stop).
/// With config.resume_from set, `on_restore` first receives the epochs restored from the
/// checkpoint.
TrainResult train(const TrainConfig& config, const Dataset& data,
                  const std::function<bool(const EpochMetrics&)>& on_epoch = {},
                  const std::function<void(const std::vector<EpochMetrics>&)>& on_restore = {});

}  // namespace saddle::l0
