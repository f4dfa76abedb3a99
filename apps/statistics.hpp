#pragma once
/// \file statistics.hpp
/// Statistics over the seeds of an experiment (saddle compare, saddle sweep): mean and 95 %
/// confidence half-width with Student's t, and the aggregation of the runs of one group
/// (variant or sweep point) that excludes the failed runs.

#include <cstddef>
#include <string>
#include <vector>

namespace saddle::cli::experiments {

/// Two-sided 97.5 % quantile of Student's t with `dof` degrees of freedom (exact table for
/// 1..30, then interpolation in 1/dof towards the normal 1.959964). dof 0 gives NaN.
double student_t975(std::size_t dof);

/// Mean and 95 % confidence half-width t(0.975, n-1) * s / sqrt(n) (NaN for n < 2) of the
/// finite values of `values`; `n` counts them.
struct MeanCi {
  double mean = 0.0;
  double ci95 = 0.0;
  std::size_t n = 0;
};
MeanCi mean_ci(const std::vector<double>& values);

/// One run of a group as the aggregation sees it: whether it finished, its status line and
/// the value of each metric (the same metrics, in the same order, for every run).
struct RunValues {
  bool ok = false;
  std::string status;          ///< "ok", "exit 2: ...", "numerical failure", ...
  std::vector<double> values;  ///< one per metric; NaN when not measured
};

/// Statistics of the runs of one group.
struct RunStats {
  std::size_t runs = 0, ok = 0;
  std::vector<MeanCi> metrics;  ///< mean_ci of each metric over the runs that finished
  std::string status;           ///< "ok", or "<k> failed: <status of the first failure>"
};

/// Aggregates the finished runs (ok = true) of `runs` metric by metric (`metrics` of them);
/// failed runs only count in `runs` and `status`.
RunStats aggregate_runs(const std::vector<RunValues>& runs, std::size_t metrics);

}  // namespace saddle::cli::experiments
