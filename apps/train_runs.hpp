#pragma once
/// \file train_runs.hpp
/// What saddle compare and saddle sweep read of a finished child `saddle train` run
/// (summary.json, metrics.jsonl) and its statistics over the seeds of a group.

#include <cstddef>
#include <string>
#include <vector>

#include "jobs.hpp"
#include "statistics.hpp"

namespace saddle::cli::experiments {

/// One point of a run's learning curve (metrics.jsonl).
struct EpochPoint {
  double epoch = 0.0;
  double expected_density = 0.0;
  double max_multiplier = 0.0;  ///< largest multiplier over the groups (fixed for penalized)
  double test_error = 0.0;      ///< NaN when not evaluated that epoch
};

/// What compare and sweep need of one finished run.
struct RunOutcome {
  bool ok = false;
  std::string status;             ///< "ok", "exit 2: <first error line>", "numerical failure", ...
  double test_error = 0.0;        ///< final, fraction
  double expected_density = 0.0;  ///< final, model level
  double worst_violation = 0.0;   ///< max over the targets of max(0, density - target)
  double forwards_per_step = 0.0;
  double backwards_per_step = 0.0;
  double seconds = 0.0;  ///< training wall time (summary.json "seconds")
  std::vector<EpochPoint> curve;
};

/// Reads `job`'s summary.json and metrics.jsonl. `model_target` > 0 measures the violation
/// against the model-level density; otherwise `layer_targets` (one per gated layer) against
/// the layer densities. Never throws: a missing or malformed file gives ok = false.
RunOutcome read_outcome(const Job& job, double model_target,
                        const std::vector<double>& layer_targets);

/// Mean curve over runs: per epoch present in every curve, the mean of each field (test
/// error over the runs that evaluated it).
std::vector<EpochPoint> mean_curve(const std::vector<const std::vector<EpochPoint>*>& curves);

/// Statistics of the runs of one variant or sweep point.
struct GroupStats {
  std::size_t runs = 0, ok = 0;
  MeanCi test_error, expected_density, worst_violation, forwards_per_step, backwards_per_step,
      seconds;
  std::string status;             ///< "ok", or "<k> failed: <status of the first failure>"
  std::vector<EpochPoint> curve;  ///< mean_curve of the runs that finished
};
/// Aggregates the finished runs (ok = true) of `outcomes` (aggregate_runs); failed runs only
/// count in `runs` and `status`.
GroupStats aggregate(const std::vector<RunOutcome>& outcomes);

}  // namespace saddle::cli::experiments
