// The child runs of saddle compare and saddle sweep, locally or spread over the ranks of an
// MPI launch (jobs.hpp).
#include "jobs.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <set>
#include <ostream>
#include <sstream>

#include "cli_common.hpp"
#include "files.hpp"
#include "stop_signal.hpp"
#include "world.hpp"

extern char** environ;  // POSIX: the environment handed on to the children

namespace saddle::cli::experiments {

namespace fs = std::filesystem;

// --- child runs ---

Job make_job(const std::string& out_root, const std::string& group, std::uint64_t seed,
             const std::vector<std::string>& train_args, const std::vector<std::string>& extra) {
  Job job;
  job.group = group;
  job.seed = seed;
  const fs::path folder = fs::path(out_root) / group;
  job.out_dir = (folder / ("seed-" + std::to_string(seed))).string();
  job.log_path = (folder / ("seed-" + std::to_string(seed) + ".log")).string();
  job.args = {"train"};
  job.args.insert(job.args.end(), train_args.begin(), train_args.end());
  job.args.insert(job.args.end(), extra.begin(), extra.end());
  job.args.insert(job.args.end(),
                  {"--seed", std::to_string(seed), "--out", job.out_dir, "--quiet"});
  return job;
}

namespace {

// Starts one child; returns its pid, or -1 (errno-style failure recorded in the log).
pid_t spawn_child(const Job& job, const std::vector<std::string>& environment) {
  std::error_code ec;
  fs::create_directories(fs::path(job.out_dir).parent_path(), ec);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, job.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv;
  static char kName[] = "saddle";
  argv.push_back(kName);
  for (const auto& a : job.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : environment) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // Its own process group: a terminal's Ctrl-C reaches this process alone, which forwards
  // the stop once to every child (stop_signal.hpp).
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  const int rc =
      posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc == 0) register_child(pid);
  return rc == 0 ? pid : -1;
}

}  // namespace

std::string describe_end(const Job& job) {
  if (job.signal != 0) return "killed by signal " + std::to_string(job.signal);
  if (job.exit_code == 0) return "ok";
  if (job.exit_code == kExitNumericalFailure) return "numerical failure";
  if (job.exit_code == 127) return "could not start";
  if (job.exit_code > kExitSignalBase && job.exit_code < kExitSignalBase + 32)  // stop_signal.hpp
    return "stopped by " + signal_name(job.exit_code - kExitSignalBase) + ", checkpoint kept";
  return "exit " + std::to_string(job.exit_code);
}

std::string job_status(const Job& job) {
  std::string status = describe_end(job);
  if (job.exit_code != 0 && job.signal == 0 && job.exit_code != kExitNumericalFailure) {
    const std::string message = last_error_line(job.log_path);
    if (!message.empty()) status += ": " + message;
  }
  return status;
}

std::string last_error_line(const std::string& log_path) {
  std::ifstream in(log_path);
  std::string found;
  static const std::string kPrefix = "saddle: error: ";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(kPrefix, 0) == 0) found = line.substr(kPrefix.size());
  return found;
}

namespace {

// The environment of the children: this process's, without the variables of an MPI launcher
// (a child `saddle train` must not believe it is a rank of the launch), with
// OPENBLAS_NUM_THREADS=1 when several children share the machine and it is unset.
std::vector<std::string> child_environment(std::size_t max_parallel) {
  std::vector<std::string> environment;
  bool has_blas_threads = false;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("OMPI_", 0) == 0 || entry.rfind("PMIX_", 0) == 0 || entry.rfind("PMI_", 0) == 0)
      continue;
    if (entry.rfind("OPENBLAS_NUM_THREADS=", 0) == 0) has_blas_threads = true;
    environment.push_back(entry);
  }
  if (max_parallel > 1 && !has_blas_threads) environment.emplace_back("OPENBLAS_NUM_THREADS=1");
  environment.insert(environment.begin(), stop_with_parent_variable());  // first: getenv finds it
  return environment;
}

// The child processes of this process: spawn, and reap one (blocking or not).
class LocalRunner {
 public:
  explicit LocalRunner(std::size_t max_parallel) : environment_(child_environment(max_parallel)) {}
  std::size_t running() const { return running_.size(); }
  // Starts jobs[index]; false (exit_code 127 recorded) when it cannot be spawned.
  bool spawn(std::vector<Job>& jobs, std::size_t index) {
    jobs[index].started = true;
    const pid_t pid = spawn_child(jobs[index], environment_);
    if (pid < 0) {
      jobs[index].exit_code = 127;
      return false;
    }
    running_[pid] = {index, Clock::now()};
    return true;
  }
  // A finished child's job index (its outcome recorded in jobs), or -1: none finished (not
  // blocking) or no child left.
  long reap(std::vector<Job>& jobs, bool block) {
    for (;;) {
      if (running_.empty()) return -1;
      if (stop_requested()) forward_stop();
      int status = 0;
      // Blocking waits poll (10 ms), so that a stop signal is forwarded while children run.
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid == 0 && block) {
        ::usleep(10000);
        continue;
      }
      if (pid == 0) return -1;
      if (pid < 0) {
        if (errno == EINTR) continue;
        // No children left although some were recorded as running: give up on them.
        const std::size_t index = running_.begin()->second.first;
        jobs[index].exit_code = -1;
        running_.erase(running_.begin());
        return static_cast<long>(index);
      }
      const auto it = running_.find(pid);
      if (it == running_.end()) continue;  // not one of ours
      unregister_child(pid);
      Job& job = jobs[it->second.first];
      job.wall_seconds = std::chrono::duration<double>(Clock::now() - it->second.second).count();
      if (WIFEXITED(status)) {
        job.exit_code = WEXITSTATUS(status);
      } else {
        job.exit_code = -1;
        if (WIFSIGNALED(status)) job.signal = WTERMSIG(status);
      }
      const auto index = static_cast<long>(it->second.first);
      running_.erase(it);
      return index;
    }
  }

  // Sends the stop signal once to every running child: each stops after its current step,
  // keeps its checkpoint and exits with 128 + signal.
  void forward_stop() {
    for (const auto& entry : running_)
      if (forwarded_.insert(entry.first).second) ::kill(entry.first, stop_signal());
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::vector<std::string> environment_;
  std::map<pid_t, std::pair<std::size_t, Clock::time_point>> running_;
  std::set<pid_t> forwarded_;
};

// Progress lines of finished runs, "[k/N] group seed S: ok (12.3 s)".
class Progress {
 public:
  Progress(std::ostream* out, std::size_t total) : out_(out), total_(total) {}
  void finished(const Job& job) {
    ++done_;
    if (out_ == nullptr) return;
    *out_ << "[" << done_ << "/" << total_ << "] " << job.group << " seed " << job.seed << ": "
          << describe_end(job) << " (" << std::fixed << std::setprecision(1) << job.wall_seconds
          << " s)";
    if (job.rank != 0) *out_ << " on rank " << job.rank;
    if (job.exit_code != 0) *out_ << ", log " << job.log_path;
    *out_ << '\n';
    out_->flush();
  }

 private:
  std::ostream* out_;
  std::size_t total_, done_ = 0;
};

// --- messages between the ranks of an MPI launch (run_jobs, distributed) ---
// worker -> rank 0 (kTagReport): kind (1 = give me a job, 2 = I am done), then the reports of
// the jobs it finished since its last message, each with the files of its run folder and its
// log; rank 0 -> worker (kTagJob): 1 + index + the job's arguments, or 0 (no job left).
constexpr int kTagReport = 7101;
constexpr int kTagJob = 7102;

class MessageWriter {
 public:
  void u64(std::uint64_t v) { bytes_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void f64(double v) { bytes_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void text(const std::string& t) {
    u64(t.size());
    bytes_ += t;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

class MessageReader {
 public:
  explicit MessageReader(const std::string& bytes) : bytes_(bytes) {}
  std::uint64_t u64() { return take<std::uint64_t>(); }
  double f64() { return take<double>(); }
  std::string text() {
    const auto n = u64();
    if (n > bytes_.size() - at_)
      throw InputError("distributed runs: a message between ranks is truncated");
    std::string t = bytes_.substr(at_, n);
    at_ += n;
    return t;
  }

 private:
  template <class V>
  V take() {
    V v;
    if (sizeof v > bytes_.size() - at_)
      throw InputError("distributed runs: a message between ranks is truncated");
    std::memcpy(&v, bytes_.data() + at_, sizeof v);
    at_ += sizeof v;
    return v;
  }
  const std::string& bytes_;
  std::size_t at_ = 0;
};

// A finished job's outcome and files (a worker's run folder and log reach rank 0 this way
// when the ranks do not share a file system).
void write_report(MessageWriter& w, const std::vector<Job>& jobs, std::size_t index) {
  const Job& job = jobs[index];
  w.u64(index);
  w.u64(static_cast<std::uint64_t>(static_cast<std::int64_t>(job.exit_code)));
  w.u64(static_cast<std::uint64_t>(job.signal));
  w.f64(job.wall_seconds);
  std::vector<std::pair<std::string, std::string>> files;
  std::error_code ec;
  if (fs::is_directory(job.out_dir, ec))
    for (const auto& e : fs::directory_iterator(job.out_dir, ec))
      if (e.is_regular_file(ec) && e.path().extension() != ".tmp")
        files.emplace_back("run/" + e.path().filename().string(), read_all(e.path()));
  if (fs::exists(job.log_path, ec)) files.emplace_back("log", read_all(job.log_path));
  w.u64(files.size());
  for (const auto& [name, data] : files) {
    w.text(name);
    w.text(data);
  }
}

// Rank 0: records a report and writes the files it carries where they are missing or differ
// (on a shared file system they are the same files: nothing is written).
std::size_t read_report(MessageReader& r, std::vector<Job>& jobs) {
  const auto index = r.u64();
  if (index >= jobs.size()) throw InputError("distributed runs: a rank reported an unknown run");
  Job& job = jobs[index];
  job.exit_code = static_cast<int>(static_cast<std::int64_t>(r.u64()));
  job.signal = static_cast<int>(r.u64());
  job.wall_seconds = r.f64();
  job.started = true;
  const auto count = r.u64();
  for (std::uint64_t k = 0; k < count; ++k) {
    const std::string name = r.text(), data = r.text();
    fs::path target;
    if (name == "log") {
      target = job.log_path;
    } else if (name.rfind("run/", 0) == 0 && name.find('/', 4) == std::string::npos &&
               name.size() > 4) {
      target = fs::path(job.out_dir) / name.substr(4);
    } else {
      continue;
    }
    std::error_code ec;
    if (fs::exists(target, ec) && fs::file_size(target, ec) == data.size() &&
        read_all(target) == data)
      continue;
    fs::create_directories(target.parent_path(), ec);
    write_text(target.string(), data);
  }
  return static_cast<std::size_t>(index);
}

void run_jobs_here(std::vector<Job>& jobs, const std::vector<std::size_t>& todo,
                   std::size_t max_parallel, Progress& progress) {
  LocalRunner local(max_parallel);
  std::size_t next = 0;
  // After a stop signal: no new run; the running ones get it and are waited for.
  while ((next < todo.size() && !stop_requested()) || local.running() > 0) {
    while (local.running() < max_parallel && next < todo.size() && !stop_requested()) {
      const std::size_t index = todo[next++];
      if (!local.spawn(jobs, index)) progress.finished(jobs[index]);
    }
    const long index = local.reap(jobs, true);
    if (index >= 0) progress.finished(jobs[static_cast<std::size_t>(index)]);
  }
}

// Rank 0 of an MPI launch: hands out the jobs of `todo` one at a time to the ranks that ask
// (itself included, up to max_parallel children of its own), and collects every outcome.
void run_jobs_coordinator(std::vector<Job>& jobs, const std::vector<std::size_t>& todo,
                          std::size_t max_parallel, Progress& progress, int workers) {
  LocalRunner local(max_parallel);
  std::size_t next = 0;
  int workers_done = 0;
  while ((next < todo.size() && !stop_requested()) || local.running() > 0 ||
         workers_done < workers) {
    bool idle = true;
    while (poll_message(kTagReport) >= 0) {
      idle = false;
      int from = -1;
      const std::string bytes = receive_message(-1, kTagReport, &from);
      MessageReader r(bytes);
      const auto kind = r.u64();
      const auto reports = r.u64();
      for (std::uint64_t k = 0; k < reports; ++k) {
        Job& job = jobs[read_report(r, jobs)];
        job.rank = from;
        progress.finished(job);
      }
      if (kind == 2) {
        ++workers_done;
        continue;
      }
      MessageWriter w;
      if (next < todo.size() && !stop_requested()) {  // after a stop signal: no job left
        const std::size_t index = todo[next++];
        w.u64(1);
        w.u64(index);
        w.u64(jobs[index].args.size());
        for (const auto& a : jobs[index].args) w.text(a);
      } else {
        w.u64(0);
      }
      send_message(from, kTagJob, w.bytes());
    }
    while (local.running() < max_parallel && next < todo.size() && !stop_requested()) {
      idle = false;
      const std::size_t index = todo[next++];
      if (!local.spawn(jobs, index)) progress.finished(jobs[index]);
    }
    for (long index; (index = local.reap(jobs, false)) >= 0;) {
      idle = false;
      progress.finished(jobs[static_cast<std::size_t>(index)]);
    }
    if (idle) ::usleep(5000);
  }
}

// A rank other than 0: asks rank 0 for jobs while it has room, runs them, reports them.
void run_jobs_worker(std::vector<Job>& jobs, std::size_t max_parallel) {
  LocalRunner local(max_parallel);
  std::vector<std::size_t> finished;
  bool exhausted = false;
  auto message = [&](std::uint64_t kind) {
    MessageWriter w;
    w.u64(kind);
    w.u64(finished.size());
    for (const std::size_t index : finished) write_report(w, jobs, index);
    finished.clear();
    send_message(0, kTagReport, w.bytes());
  };
  for (;;) {
    if (stop_requested()) exhausted = true;  // asks for no new job; its children get the stop
    if (!exhausted && local.running() < max_parallel) {
      message(1);
      const std::string bytes = receive_message(0, kTagJob);
      MessageReader r(bytes);
      if (r.u64() == 0) {
        exhausted = true;
        continue;
      }
      const auto index = static_cast<std::size_t>(r.u64());
      if (index >= jobs.size())
        throw InputError("distributed runs: rank 0 handed out an unknown run");
      std::vector<std::string> args(static_cast<std::size_t>(r.u64()));
      for (auto& a : args) a = r.text();
      jobs[index].args = std::move(args);
      if (!local.spawn(jobs, index)) finished.push_back(index);
      continue;
    }
    if (local.running() == 0) break;
    const long index = local.reap(jobs, true);
    if (index >= 0) finished.push_back(static_cast<std::size_t>(index));
  }
  message(2);
}

}  // namespace
fs::path status_path(const Job& job) { return fs::path(job.log_path).replace_extension(".status"); }

std::vector<const Job*> jobs_of_group(const std::vector<Job>& jobs, const std::string& group) {
  std::vector<const Job*> found;
  for (const auto& j : jobs)
    if (j.group == group) found.push_back(&j);
  return found;
}

void run_jobs(std::vector<Job>& jobs, std::size_t max_parallel, std::ostream* progress) {
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < jobs.size(); ++i)
    if (!jobs[i].kept) todo.push_back(i);
  Progress lines(progress, todo.size());
  Communicator* comm = world();
  if (comm == nullptr) {
    run_jobs_here(jobs, todo, max_parallel, lines);
  } else if (comm->rank() == 0) {
    run_jobs_coordinator(jobs, todo, max_parallel, lines, comm->size() - 1);
  } else {
    run_jobs_worker(jobs, max_parallel);
    return;
  }
  std::ostringstream status;
  for (const std::size_t i : todo) {
    if (!jobs[i].started) continue;  // not started (stopped by a signal before): no status
    status.str("");
    status << jobs[i].exit_code << ' ' << jobs[i].signal << ' ' << std::setprecision(17)
           << jobs[i].wall_seconds << ' ' << jobs[i].rank << '\n';
    write_text(status_path(jobs[i]).string(), status.str());
  }
}

int combined_exit_code(const std::vector<Job>& jobs) {
  bool any = false, all_numerical = true, all_usage = true;
  for (const auto& j : jobs) {
    if (j.exit_code == 0) continue;
    any = true;
    if (j.exit_code != kExitNumericalFailure) all_numerical = false;
    if (j.exit_code != kExitUsage) all_usage = false;
  }
  if (!any) return kExitOk;
  if (all_numerical) return kExitNumericalFailure;
  if (all_usage) return kExitUsage;
  return kExitError;
}

}  // namespace saddle::cli::experiments
