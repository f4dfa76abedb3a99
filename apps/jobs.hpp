#pragma once
/// \file jobs.hpp
/// The child runs of saddle compare and saddle sweep: every run is a child process
/// `/proc/self/exe <args>` (at most --jobs at once, or spread over the ranks of an MPI
/// launch) whose stdout and stderr go to `<run folder>.log`; a status file per finished run
/// lets --resume keep it.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

namespace saddle::cli::experiments {

/// One child run (`saddle train` or `saddle solve`).
struct Job {
  std::string group;  ///< variant or sweep point the run belongs to
  std::uint64_t seed = 0;
  std::vector<std::string> args;  ///< after "saddle": {"train", ..., "--out", dir, "--quiet"}
  std::string out_dir;            ///< the child's run folder
  std::string log_path;           ///< the child's stdout and stderr
  /// Finished in an earlier invocation (--resume, restore_finished_runs): not run again; its
  /// outcome fields hold the recorded ones.
  bool kept = false;
  // Filled by run_jobs:
  int exit_code = -1;         ///< the child's exit code; -1 if it did not exit normally
  int signal = 0;             ///< the signal that ended it, if any
  double wall_seconds = 0.0;  ///< from spawn to exit
  int rank = 0;               ///< rank of the MPI launch that ran it (0 without MPI)
  bool started = false;       ///< spawned (false: not started, e.g. after a stop signal)
};

/// A job for `saddle train <train_args> <extra> --seed S --out <out_root>/<group>/seed-S
/// --quiet`, with log `<out_root>/<group>/seed-S.log`.
Job make_job(const std::string& out_root, const std::string& group, std::uint64_t seed,
             const std::vector<std::string>& train_args, const std::vector<std::string>& extra);

/// The jobs of `group`, in the order of `jobs` (one per seed).
std::vector<const Job*> jobs_of_group(const std::vector<Job>& jobs, const std::string& group);

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

/// <group>/seed-S.status next to the log: "exit_code signal wall_seconds rank", written by
/// rank 0 when a run ends.
std::filesystem::path status_path(const Job& job);

/// --resume: marks the jobs whose status file says they ended (exit 0 or numerical failure)
/// as kept, with their recorded outcome; an unfinished `saddle train` run with a checkpoint
/// continues from it (`train --resume DIR`); one that saved no epoch starts again.
void restore_finished_runs(std::vector<Job>& jobs);

/// How a finished job ended: "ok", "numerical failure", "exit N", "killed by signal N",
/// "could not start".
std::string describe_end(const Job& job);

/// The message of the last "saddle: error: ..." line of a child's log, or "".
std::string last_error_line(const std::string& log_path);

/// The status of a finished job for the tables: describe_end(job), followed by ": <message>"
/// of the last error line of its log when it failed for another reason than a numerical
/// failure or a signal.
std::string job_status(const Job& job);

/// The exit code of a compare or sweep: 0 when every run exited 0; else 3 when every failed
/// run stopped on a numerical failure, 2 when every failed run was refused as bad input,
/// 1 otherwise.
int combined_exit_code(const std::vector<Job>& jobs);

}  // namespace saddle::cli::experiments
