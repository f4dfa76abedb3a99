#pragma once
/// \file experiments.hpp
/// Machinery shared by `saddle compare` and `saddle sweep`: the experiment flags passed
/// through to `saddle train`, running many child `saddle train` processes (at most --jobs at
/// once), reading their run folders, mean and 95 % confidence intervals over seeds, tables
/// (terminal, markdown, CSV) and gnuplot plots.
///
/// Every child is `/proc/self/exe train <args> --out <run folder> --quiet`, so a compare or
/// sweep runs exactly what `saddle train` runs; its stdout and stderr go to `<run folder>.log`.

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "cli_common.hpp"

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

// --- child runs ---

/// One child `saddle train` run.
struct Job {
  std::string group;              ///< variant or sweep point the run belongs to
  std::uint64_t seed = 0;
  std::vector<std::string> args;  ///< after "saddle": {"train", ..., "--out", dir, "--quiet"}
  std::string out_dir;            ///< the child's run folder
  std::string log_path;           ///< the child's stdout and stderr
  /// Finished in an earlier invocation (--resume, restore_finished_runs): not run again; its
  /// outcome fields hold the recorded ones.
  bool kept = false;
  // Filled by run_jobs:
  int exit_code = -1;             ///< the child's exit code; -1 if it did not exit normally
  int signal = 0;                 ///< the signal that ended it, if any
  double wall_seconds = 0.0;      ///< from spawn to exit
  int rank = 0;                   ///< rank of the MPI launch that ran it (0 without MPI)
  bool started = false;           ///< spawned (false: not started, e.g. after a stop signal)
};

/// A job for `saddle train <train_args> <extra> --seed S --out <out_root>/<group>/seed-S
/// --quiet`, with log `<out_root>/<group>/seed-S.log`.
Job make_job(const std::string& out_root, const std::string& group, std::uint64_t seed,
             const std::vector<std::string>& train_args, const std::vector<std::string>& extra);

/// Runs every job as a child process of this executable, at most `max_parallel` at once, and
/// waits for all of them. When `max_parallel` > 1 and OPENBLAS_NUM_THREADS is unset, the
/// children get OPENBLAS_NUM_THREADS=1 (one core per run). `progress` (may be null) gets a
/// line per finished run. A child that cannot be spawned is recorded with exit_code 127.
void run_jobs(std::vector<Job>& jobs, std::size_t max_parallel, std::ostream* progress);
// In an MPI launch (world() != nullptr, `mpirun -np P saddle compare|sweep ...`), run_jobs
// spreads the jobs over the ranks: rank 0 hands them out one at a time to the rank that has a
// free slot (its own --jobs slots included: dynamic assignment) and receives every outcome
// with the files of the run folder and the log, which it writes where they are missing or
// differ (so the ranks may share a file system or not). Jobs with `kept` set are skipped.
// Rank 0 then writes <group>/seed-S.status for every run it ran ("exit signal seconds rank").

/// --resume: marks the jobs whose status file says they ended (exit 0 or numerical failure)
/// as kept, with their recorded outcome; an unfinished `saddle train` run with a checkpoint
/// continues from it (`train --resume DIR`); one that saved no epoch starts again.
void restore_finished_runs(std::vector<Job>& jobs);

/// Before the jobs: on rank 0 (or the only process), prepares the output folder — a new one
/// (prepare_out_dir) with experiment.txt, the arguments that define the experiment; with
/// --resume, checks that the folder holds the same experiment — and writes command.txt; then
/// agrees with the other ranks of an MPI launch that every one is ready (UsageError if not).
void start_runs(const SharedSettings& s, const std::string& subcommand, const std::vector<std::string>& args);

/// The jobs, after start_runs: restores finished runs with --resume (rank 0), runs the rest
/// (run_jobs; progress lines on rank 0 only). Returns true on rank 0 (or the only process),
/// which then tabulates; false on the other ranks of an MPI launch.
bool execute_runs(std::vector<Job>& jobs, const SharedSettings& s, std::ostream* progress);

/// How a finished job ended: "ok", "numerical failure", "exit N", "killed by signal N",
/// "could not start".
std::string describe_end(const Job& job);

/// The message of the last "saddle: error: ..." line of a child's log, or "".
std::string last_error_line(const std::string& log_path);

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
  std::string status;            ///< "ok", "exit 2: <first error line>", "numerical failure", ...
  double test_error = 0.0;       ///< final, fraction
  double expected_density = 0.0; ///< final, model level
  double worst_violation = 0.0;  ///< max over the targets of max(0, density - target)
  double forwards_per_step = 0.0;
  double backwards_per_step = 0.0;
  double seconds = 0.0;          ///< training wall time (summary.json "seconds")
  std::vector<EpochPoint> curve;
};

/// Reads `job`'s summary.json and metrics.jsonl. `model_target` > 0 measures the violation
/// against the model-level density; otherwise `layer_targets` (one per gated layer) against
/// the layer densities. Never throws: a missing or malformed file gives ok = false.
RunOutcome read_outcome(const Job& job, double model_target, const std::vector<double>& layer_targets);

// --- statistics ---

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

/// Mean curve over runs: per epoch present in every curve, the mean of each field (test
/// error over the runs that evaluated it).
std::vector<EpochPoint> mean_curve(const std::vector<const std::vector<EpochPoint>*>& curves);

/// Statistics of the runs of one variant or sweep point.
struct GroupStats {
  std::size_t runs = 0, ok = 0;
  MeanCi test_error, expected_density, worst_violation, forwards_per_step, backwards_per_step, seconds;
  std::string status;              ///< "ok", or "<k> failed: <status of the first failure>"
  std::vector<EpochPoint> curve;   ///< mean_curve of the runs that finished
};
/// Aggregates the finished runs (ok = true) of `outcomes`; failed runs only count in `runs`
/// and `status`.
GroupStats aggregate(const std::vector<RunOutcome>& outcomes);

/// The exit code of a compare or sweep: 0 when every run exited 0; else 3 when every failed
/// run stopped on a numerical failure, 2 when every failed run was refused as bad input,
/// 1 otherwise.
int combined_exit_code(const std::vector<Job>& jobs);

// --- output ---

/// A table of text cells; `numeric[c]` right-aligns column c in the terminal rendering.
struct Table {
  std::vector<std::string> header;
  std::vector<bool> numeric;
  std::vector<std::vector<std::string>> rows;
};
/// Space-aligned columns with a dashed rule under the header.
std::string render_terminal(const Table& table);
/// A GitHub markdown table.
std::string render_markdown(const Table& table);
/// RFC 4180 CSV (cells quoted when they hold ',', '"' or a line break).
std::string render_csv(const Table& table);

/// "m ± c" with `digits` decimals of value * scale ("m" alone when c is NaN; "-" when n = 0).
std::string format_mean_ci(const MeanCi& s, int digits, double scale = 1.0);
/// A number for CSV: shortest round-trip text, empty for NaN.
std::string csv_number(double v);

/// Writes `text` to `path` atomically (saddle::write_file_atomically); throws
/// saddle::WriteError (exit code 4) if the file cannot be written.
void write_text(const std::string& path, const std::string& text);

/// Runs gnuplot on `script` (absolute path) if it is on PATH. Returns "" when `png` was
/// written, else a one-line explanation that says how to get the plot.
std::string run_gnuplot(const std::string& script, const std::string& png, const std::string& out_dir);

/// A value for gnuplot data files: "NaN" for NaN (gnuplot skips it).
std::string dat_number(double v);

}  // namespace saddle::cli::experiments
