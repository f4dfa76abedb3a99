#pragma once
/// \file experiments.hpp
/// Machinery shared by `saddle compare` and `saddle sweep`: the experiment flags passed
/// through to `saddle train`, running many child `saddle train` processes (at most --jobs at
/// once), reading their run folders, mean and 95 % confidence intervals over seeds, tables
/// (terminal, markdown, CSV) and gnuplot plots.
///
/// Every child is `/proc/self/exe train <args> --out <run folder> --quiet`, so a compare or
/// sweep runs exactly what `saddle train` runs; its stdout and stderr go to `<run folder>.log`.
///
/// This header declares the flags, settings and solver variants (experiments.cpp) and the
/// start and execution of the runs (run_state.cpp), and includes the rest: the child runs
/// (jobs.hpp), what is read of a train run (train_runs.hpp), statistics (statistics.hpp),
/// tables (tables.hpp), files (files.hpp) and plots (gnuplot.hpp).

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "files.hpp"
#include "gnuplot.hpp"
#include "jobs.hpp"
#include "statistics.hpp"
#include "tables.hpp"
#include "train_runs.hpp"

namespace saddle::cli::experiments {

// --- flags shared by compare and sweep ---

/// The flags of the experiment (--model, --dataset, --data-dir, --epochs, --batch,
/// --primal-lr, --dual-lr, --penalty, --eval-every), the seeds (--seeds, --num-seeds), the
/// process count (--jobs) and the output (--out, --overwrite, --quiet, --help).
po::options_description shared_options();

/// The "Runs and output" part of shared_options() alone (--seeds, --num-seeds, --jobs, --out,
/// --overwrite, --quiet, --help), for comparisons that do not run `saddle train`.
po::options_description run_options();

/// The settings read from shared_options().
struct SharedSettings {
  std::vector<std::string> train_args;  ///< passed to every child, e.g. {"--model", "mlp", ...}
  std::vector<std::uint64_t> seeds;     ///< one run per seed and configuration
  std::size_t jobs = 1;                 ///< child processes at once, >= 1
  std::string out_dir;                  ///< required
  bool overwrite = false;
  bool resume = false;  ///< --resume: keep the finished runs, continue the others
  bool quiet = false;
  std::size_t gated_layers = 3;         ///< of --model (mlp: 3, lenet5: 4)
};

/// Validates and reads the shared flags. Throws UsageError naming the flag: --out missing,
/// --jobs 0, malformed numbers, repeated seeds, both --seeds and --num-seeds, unknown model.
SharedSettings read_shared(const po::variables_map& vm);

/// Reads the run_options() part into `s` (seeds, jobs, out_dir, overwrite, quiet); throws
/// UsageError as read_shared does.
void read_runs(const po::variables_map& vm, SharedSettings& s);

/// Creates `dir`; refuses (UsageError) a folder that exists and is not empty unless
/// `overwrite` (nothing is deleted: the runs are redone over their old folders, which the
/// caller allows by passing --overwrite to the children).
void prepare_out_dir(const std::string& dir, bool overwrite);

/// Parses "A,B,C;D,E,F" (sets separated by ';' or '/') into lists of `per_set` densities in
/// (0, 1]. Throws UsageError naming `flag`.
std::vector<std::vector<double>> parse_density_sets(const std::string& flag, const std::string& text,
                                                    std::size_t per_set);

/// Checks that every value is a density in (0, 1]; throws UsageError naming `flag`.
void check_densities(const std::string& flag, const std::vector<double>& values);

// --- solver variants ---

/// A built-in solver variant of compare and sweep: the `saddle train` flags that select it.
struct Variant {
  const char* name;
  const char* description;
  std::vector<std::string> flags;  ///< train flags; empty for the penalized baseline
  bool penalized;                  ///< fixed L0 penalty (train --l0-penalty), no constraint
};

/// gda, gda-no-restarts, alternating-primal-dual, alternating-dual-primal, extragradient,
/// extrapolation-from-the-past, augmented-lagrangian, penalized.
const std::vector<Variant>& variants();
/// Their names, in that order.
std::vector<std::string> variant_names();

// --- the runs of an experiment (run_state.cpp) ---

/// Before the jobs: on rank 0 (or the only process), prepares the output folder — a new one
/// (prepare_out_dir) with experiment.txt, the arguments that define the experiment; with
/// --resume, checks that the folder holds the same experiment — and writes command.txt; then
/// agrees with the other ranks of an MPI launch that every one is ready (UsageError if not).
void start_runs(const SharedSettings& s, const std::string& subcommand, const std::vector<std::string>& args);

/// The jobs, after start_runs: restores finished runs with --resume (rank 0), runs the rest
/// (run_jobs; progress lines on rank 0 only). Returns true on rank 0 (or the only process),
/// which then tabulates; false on the other ranks of an MPI launch.
bool execute_runs(std::vector<Job>& jobs, const SharedSettings& s, std::ostream* progress);

}  // namespace saddle::cli::experiments
