// Stopping on SIGINT / SIGTERM (stop_signal.hpp).
#include "stop_signal.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <ostream>

#include "cli_common.hpp"
#include "world.hpp"

namespace saddle::cli {
namespace {

// Written by the handler: lock-free atomics are async-signal-safe (checked below).
std::atomic<int> g_signal{0};
constexpr std::size_t kMaxChildren = 1024;
std::atomic<pid_t> g_children[kMaxChildren];
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<pid_t>::is_always_lock_free,
              "the signal handler needs lock-free atomics");
int g_agreed = 0;

void write_stderr(const char* text) {
  std::size_t n = 0;
  while (text[n] != '\0') ++n;
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, text, n);
    if (w <= 0) return;
    text += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Async-signal-safe only: atomics, kill, write, _exit.
extern "C" void on_stop_signal(int signal) {
  int expected = 0;
  if (g_signal.compare_exchange_strong(expected, signal)) return;  // first: the program checks it
  for (auto& child : g_children) {
    const pid_t pid = child.load();
    if (pid > 0) ::kill(pid, signal);
  }
  write_stderr(
      signal == SIGINT
          ? "saddle: stopped at once by a second signal (SIGINT); the last checkpoint is kept\n"
          : "saddle: stopped at once by a second signal (SIGTERM); the last checkpoint is kept\n");
  ::_exit(kExitSignalBase + signal);
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  // A run of compare or sweep: stop (as on SIGTERM) when the parent dies.
  if (const char* parent = std::getenv("SADDLE_STOP_WITH_PARENT")) {
    const long pid = std::strtol(parent, nullptr, 10);
    if (pid > 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != static_cast<pid_t>(pid)) on_stop_signal(SIGTERM);  // died before prctl
    }
  }
}

std::string stop_with_parent_variable() { return "SADDLE_STOP_WITH_PARENT=" + std::to_string(::getpid()); }

int stop_signal() { return g_signal.load(); }
bool stop_requested() { return g_signal.load() != 0; }

bool stop_agreed(saddle::Communicator* comm) {
  const int mine = stop_signal();
  if (comm == nullptr || comm->size() < 2) {
    if (mine != 0) g_agreed = mine;
    return mine != 0;
  }
  // Slot 0: ranks with a signal; slot 1: rank 0's signal; slot 2: the sum of the signals.
  double slots[3] = {mine != 0 ? 1.0 : 0.0, comm->rank() == 0 ? static_cast<double>(mine) : 0.0,
                     static_cast<double>(mine)};
  comm->allreduce_sum(slots, 3);
  if (slots[0] == 0.0) return false;
  if (slots[1] != 0.0)
    g_agreed = static_cast<int>(slots[1]);
  else
    g_agreed = mine != 0 ? mine : static_cast<int>(slots[2] / slots[0]);
  return true;
}

int agreed_stop_signal() { return g_agreed != 0 ? g_agreed : stop_signal(); }

std::string signal_name(int signal) {
  if (signal == SIGINT) return "SIGINT";
  if (signal == SIGTERM) return "SIGTERM";
  return "signal " + std::to_string(signal);
}

void register_child(pid_t pid) {
  for (auto& child : g_children) {
    pid_t empty = 0;
    if (child.compare_exchange_strong(empty, pid)) return;
  }
}

void unregister_child(pid_t pid) {
  for (auto& child : g_children) {
    pid_t expected = pid;
    if (child.compare_exchange_strong(expected, 0)) return;
  }
}

int report_stop(std::ostream& err, const StopRequested& stop) {
  // MPI launch: the ranks stopped together; rank 0 alone says so.
  if (!is_root()) return kExitSignalBase + stop.signal();
  std::string line =
      std::string("saddle: stopped by ") + signal_name(stop.signal()) + ": " + stop.what();
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  err << line << '\n';
  err.flush();
  return kExitSignalBase + stop.signal();
}

void throw_training_stopped(const std::string& run_dir, std::size_t epochs_done, std::size_t iteration) {
  std::string what = "training stopped after iteration " + std::to_string(iteration) + " (" +
                     std::to_string(epochs_done) + " complete epochs); ";
  const std::string checkpoint = run_dir.empty() ? std::string() : run_dir + "/checkpoint.bin";
  std::error_code ec;
  if (run_dir.empty())
    what += "no checkpoint (no --out)";
  else if (!std::filesystem::exists(checkpoint, ec))
    what += "no checkpoint was written";
  else
    what += "checkpoint " + checkpoint + "; continue with: saddle train --resume " + run_dir;
  throw StopRequested(agreed_stop_signal(), what);
}

void throw_runs_stopped(const std::vector<experiments::Job>& jobs, const std::string& out_dir) {
  std::size_t ended = 0, stopped = 0, waiting = 0;
  for (const auto& job : jobs) {
    if (job.kept ||
        (job.started && job.signal == 0 && job.exit_code >= 0 && job.exit_code < kExitSignalBase))
      ++ended;
    else if (job.started)
      ++stopped;
    else
      ++waiting;
  }
  throw StopRequested(agreed_stop_signal(),
                      std::to_string(ended) + " of " + std::to_string(jobs.size()) +
                          " runs ended, " + std::to_string(stopped) +
                          " stopped (a train run keeps a checkpoint of its last step), " + std::to_string(waiting) +
                          " not started; no table yet: the same command with --resume "
                          "finishes the experiment in " +
                          out_dir);
}

bool StopOnSignal::on_step(const saddle::StepInfo<float>& info) {
  if (stopped_) return false;
  if (!stop_agreed(comm_)) return true;
  stopped_ = true;
  iteration_ = info.iteration;
  return false;
}

}  // namespace saddle::cli
