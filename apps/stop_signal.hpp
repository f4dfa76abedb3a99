#pragma once
/// \file stop_signal.hpp
/// Stopping `saddle train`, `compare` and `sweep` cleanly on SIGINT (Ctrl-C) or SIGTERM
/// (kill, a job scheduler, mpirun forwarding it to the ranks). docs/cli.md "Stopping a run".
///
///  - First signal: the handler only records it (a lock-free atomic: async-signal-safe).
///    A training run stops after the step in progress (StopOnSignal, a solver callback),
///    writes a checkpoint of that point (saddle::l0::train does on a stop) and exits with
///    kExitSignalBase + signal (130 for SIGINT, 143 for SIGTERM); compare and sweep start no
///    new run, forward the signal once to every running child run, wait for them, write the
///    status of every run that was started and exit with the same code. `--resume` continues.
///  - Second signal: the handler sends it on to the registered child processes and ends the
///    process at once (_exit, 128 + that signal). Every file is written atomically
///    (saddle/atomic_file.hpp), so files are old or new, never torn (steps.csv, appended, may
///    end in a torn row, which --resume drops).
///  - MPI launch: stop_agreed() all-reduces the flag at every step, so that every rank stops
///    after the same step and the checkpoint of rank 0 describes all of them.

#include <sys/types.h>

#include <iosfwd>
#include <stdexcept>
#include <string>
#include <vector>

#include "jobs.hpp"
#include "saddle/callbacks.hpp"
#include "saddle/data_parallel.hpp"

namespace saddle::cli {

/// Installs the SIGINT and SIGTERM handlers (sigaction with SA_RESTART; idempotent). Called
/// by main() for the subcommands that can be stopped (train, compare, sweep).
void install_stop_handlers();

/// The first stop signal this process received (SIGINT or SIGTERM), or 0.
int stop_signal();
/// stop_signal() != 0.
bool stop_requested();

/// True on every rank when any rank received a stop signal. With more than one rank it is a
/// collective call (an all-reduce of two numbers): every rank calls it at the same point.
/// Records the agreed signal (agreed_stop_signal()).
bool stop_agreed(saddle::Communicator* comm);
/// The signal agreed on by stop_agreed() (rank 0's if it has one), else stop_signal().
int agreed_stop_signal();

/// "SIGINT", "SIGTERM" or "signal N".
std::string signal_name(int signal);

/// "SADDLE_STOP_WITH_PARENT=<this pid>", for the environment of a child process. A child
/// `saddle` whose parent is that process asks the kernel for SIGTERM when the parent dies
/// (prctl PR_SET_PDEATHSIG, in install_stop_handlers): if compare or sweep is killed
/// (SIGKILL, SIGHUP of a closed terminal), its runs checkpoint and stop instead of running on.
std::string stop_with_parent_variable();

/// Child processes of compare and sweep: the second signal is sent on to every registered
/// one before this process exits. At most 1024 at once (more are not registered).
void register_child(pid_t pid);
void unregister_child(pid_t pid);

/// Thrown by a subcommand that stopped on a signal after saving what it could: guarded()
/// prints `saddle: stopped by SIG...: <what>` (one line) and returns kExitSignalBase +
/// signal.
class StopRequested : public std::runtime_error {
 public:
  StopRequested(int signal, const std::string& what) : std::runtime_error(what), signal_(signal) {}
  int signal() const noexcept { return signal_; }

 private:
  int signal_;
};

/// Prints the line of `stop` on `err` (rank 0 of an MPI launch only); returns its exit code.
int report_stop(std::ostream& err, const StopRequested& stop);

/// Throws the StopRequested of a training run stopped by StopOnSignal after `iteration`,
/// with `epochs_done` complete epochs; `run_dir` is its --out folder ("" without one). The
/// message names the checkpoint (DIR/checkpoint.bin, written by saddle::l0::train after the
/// last step) and the command that continues the run.
[[noreturn]] void throw_training_stopped(const std::string& run_dir, std::size_t epochs_done,
                                         std::size_t iteration);

/// Throws the StopRequested of a compare or sweep whose runs `jobs` (in `out_dir`) were
/// stopped: how many ended, were stopped (with or without a checkpoint) or never started,
/// and that the same command with --resume finishes the experiment.
[[noreturn]] void throw_runs_stopped(const std::vector<experiments::Job>& jobs,
                                     const std::string& out_dir);

/// A solver callback that stops the solve (returns false) after the first step at which
/// stop_agreed(comm) holds. With a communicator it is collective at every step: every rank
/// of a data-parallel run must add it.
class StopOnSignal final : public saddle::Callback<float> {
 public:
  explicit StopOnSignal(saddle::Communicator* comm) : comm_(comm) {}
  bool on_step(const saddle::StepInfo<float>& info) override;
  /// Whether this callback stopped the solve, and at which iteration.
  bool stopped() const { return stopped_; }
  std::size_t iteration() const { return iteration_; }

 private:
  saddle::Communicator* comm_;
  bool stopped_ = false;
  std::size_t iteration_ = 0;
};

}  // namespace saddle::cli
