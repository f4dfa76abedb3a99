#include "experiments.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

#include "json_read.hpp"
#include "saddle/atomic_file.hpp"
#include "saddle/solvers.hpp"
#include "stop_signal.hpp"
#include "world.hpp"

extern char** environ;  // POSIX: the environment handed on to the children

namespace saddle::cli::experiments {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Flags copied verbatim to every child `saddle train` when given (train validates them; a
// bad value makes every child exit 2 and compare/sweep report train's message).
const std::vector<const char*>& passthrough_flags() {
  static const std::vector<const char*> flags = {
      "model", "dataset", "data-dir", "epochs", "batch", "primal-rule", "primal-lr", "momentum", "dual-rule",
      "dual-lr", "kp", "nu", "penalty", "weight-decay", "ema", "init", "input-scaling", "test-gate", "eval-every"};
  return flags;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Number of UTF-8 code points (terminal columns for the text written here: ASCII and ±).
std::size_t display_width(const std::string& s) {
  std::size_t n = 0;
  for (const char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

std::string pad(const std::string& s, std::size_t width, bool right) {
  const std::size_t w = display_width(s);
  if (w >= width) return s;
  const std::string fill(width - w, ' ');
  return right ? fill + s : s + fill;
}

}  // namespace

// --- flags ---

po::options_description shared_options() {
  po::options_description what("Experiment (passed to every `saddle train` run; see saddle train --help)", 100, 50);
  what.add_options()
      ("model", po::value<std::string>()->value_name("NAME"), "mlp | lenet5 [train's default: mlp]")
      ("dataset", po::value<std::string>()->value_name("NAME"), "mnist | fashion-mnist")
      ("data-dir", po::value<std::string>()->value_name("DIR"), "folder with the IDX files")
      ("epochs", po::value<std::string>()->value_name("N"), "epochs of every run [train's default: 200]")
      ("batch", po::value<std::string>()->value_name("N"), "minibatch size")
      ("primal-rule", po::value<std::string>()->value_name("NAME"), "sgd | momentum | nesterov | adam")
      ("primal-lr", po::value<std::string>()->value_name("X"), "primal step size")
      ("momentum", po::value<std::string>()->value_name("X"), "momentum coefficient")
      ("dual-rule", po::value<std::string>()->value_name("NAME"), "gradient-ascent | nupi")
      ("dual-lr", po::value<std::string>()->value_name("X"), "dual step size")
      ("kp", po::value<std::string>()->value_name("X"), "nuPI proportional gain")
      ("nu", po::value<std::string>()->value_name("X"), "nuPI EMA coefficient")
      ("penalty", po::value<std::string>()->value_name("X"), "augmented Lagrangian coefficient rho")
      ("weight-decay", po::value<std::string>()->value_name("X"), "L2 under the gates")
      ("ema", po::value<std::string>()->value_name("BETA"), "parameter moving average")
      ("init", po::value<std::string>()->value_name("NAME"), "lz | gp")
      ("input-scaling", po::value<std::string>()->value_name("NAME"), "standardize | unit")
      ("test-gate", po::value<std::string>()->value_name("NAME"), "median | mean_eq13")
      ("eval-every", po::value<std::string>()->value_name("N"), "test-set evaluation every N epochs");
  po::options_description all("", 100, 50);
  all.add(what).add(run_options());
  return all;
}

po::options_description run_options() {
  po::options_description runs("Runs and output", 100, 50);
  runs.add_options()
      ("seeds", po::value<std::string>()->value_name("S,S,..")->default_value("1,2,3"), "one run per seed")
      ("num-seeds", po::value<std::string>()->value_name("N"), "seeds 1..N (instead of --seeds)")
      ("jobs", po::value<std::string>()->value_name("N")->default_value("1"), "runs at once (child processes), >= 1")
      ("out", po::value<std::string>()->value_name("DIR"), "output folder (required): tables, plot, one run "
       "folder per run")
      ("overwrite", po::bool_switch(), "allow --out to name a folder that already holds files (runs are redone)")
      ("resume", po::bool_switch(), "continue the experiment in --out (the same command run before): finished runs "
       "are kept, unfinished ones continue from their checkpoints")
      ("quiet", po::bool_switch(), "no progress lines on stderr")
      ("help,h", po::bool_switch(), "print this help and exit");
  return runs;
}

SharedSettings read_shared(const po::variables_map& vm) {
  SharedSettings s;
  for (const char* name : passthrough_flags())
    if (given(vm, name)) {
      const std::string value = vm[name].as<std::string>();
      s.train_args.push_back(std::string("--") + name);
      s.train_args.push_back(value);
    }
  // Catch the common mistakes here, before any run starts (train validates the rest).
  for (const char* name : {"epochs", "batch", "eval-every"})
    if (given(vm, name) && parse_unsigned(std::string("--") + name, vm[name].as<std::string>()) == 0)
      throw UsageError(std::string("--") + name + " = 0: must be > 0");
  for (const char* name : {"primal-lr", "dual-lr", "penalty"})
    if (given(vm, name) && !(parse_double(std::string("--") + name, vm[name].as<std::string>()) > 0.0))
      throw UsageError(std::string("--") + name + " = " + vm[name].as<std::string>() + ": must be > 0");
  const std::string model = string_or(vm, "model", "mlp");
  if (model == "mlp")
    s.gated_layers = 3;
  else if (model == "lenet5")
    s.gated_layers = 4;
  else
    throw UsageError("unknown model '" + model + "' (choices: mlp, lenet5)");
  read_runs(vm, s);
  return s;
}

void read_runs(const po::variables_map& vm, SharedSettings& s) {
  if (given(vm, "num-seeds")) {
    if (given(vm, "seeds")) throw UsageError("give only one of --seeds, --num-seeds");
    const auto n = parse_unsigned("--num-seeds", vm["num-seeds"].as<std::string>());
    if (n == 0 || n > 1000) throw UsageError("--num-seeds = " + std::to_string(n) + ": must be in 1..1000");
    for (std::uint64_t k = 1; k <= n; ++k) s.seeds.push_back(k);
  } else {
    const std::string text = vm["seeds"].as<std::string>();
    std::size_t begin = 0;
    for (;;) {
      const std::size_t comma = text.find(',', begin);
      std::string item = text.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      const auto seed = parse_unsigned("--seeds", item);
      if (std::find(s.seeds.begin(), s.seeds.end(), seed) != s.seeds.end())
        throw UsageError("--seeds = '" + text + "': seed " + item + " is repeated");
      s.seeds.push_back(seed);
      if (comma == std::string::npos) break;
      begin = comma + 1;
    }
  }
  const auto jobs = parse_unsigned("--jobs", vm["jobs"].as<std::string>());
  if (jobs == 0) throw UsageError("--jobs = 0: must be >= 1");
  if (jobs > 256) throw UsageError("--jobs = " + std::to_string(jobs) + ": at most 256 processes at once");
  s.jobs = static_cast<std::size_t>(jobs);
  if (!given(vm, "out")) throw UsageError("--out DIR is required (the folder for the tables, the plot and the runs)");
  s.out_dir = vm["out"].as<std::string>();
  if (s.out_dir.empty()) throw UsageError("--out = '': expected a folder name");
  s.overwrite = vm["overwrite"].as<bool>();
  s.resume = vm["resume"].as<bool>();
  if (s.resume && s.overwrite) throw UsageError("give only one of --resume, --overwrite");
  s.quiet = vm["quiet"].as<bool>();
}

void prepare_out_dir(const std::string& dir, bool overwrite) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw UsageError("--out " + dir + ": exists and is not a folder");
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec) && !overwrite)
    throw UsageError("--out " + dir + ": folder already holds files (use --overwrite to redo the runs)");
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw UsageError("--out " + dir + ": cannot create the folder (" + ec.message() + ")");
}

void check_densities(const std::string& flag, const std::vector<double>& values) {
  for (const double t : values)
    if (!(t > 0.0 && t <= 1.0)) throw UsageError(flag + " value " + format_number(t) + ": must be in (0, 1]");
}

std::vector<std::vector<double>> parse_density_sets(const std::string& flag, const std::string& text,
                                                    std::size_t per_set) {
  std::vector<std::vector<double>> sets;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t end = text.find_first_of(";/", begin);
    const std::string item = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    auto values = parse_double_list(flag, item);
    if (values.size() != per_set)
      throw UsageError(flag + " set '" + item + "' has " + std::to_string(values.size()) + " values: the model has " +
                       std::to_string(per_set) + " gated layers");
    check_densities(flag, values);
    sets.push_back(std::move(values));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return sets;
}

// --- solver variants ---

const std::vector<Variant>& variants() {
  // One variant per update scheme of saddle::scheme_table() (with train's default dual
  // restarts), plus GDA without restarts, the augmented Lagrangian and the penalized baseline.
  static const std::vector<Variant> table = [] {
    std::vector<Variant> t;
    for (const auto& scheme : saddle::scheme_table()) {
      t.push_back({scheme.name, scheme.summary, {"--solver", scheme.name}, false});
      if (std::string(scheme.name) == "gda")
        t.push_back({"gda-no-restarts", "simultaneous GDA, no dual restarts", {"--solver", "gda", "--no-dual-restarts"},
                     false});
    }
    t.push_back({"augmented-lagrangian", "simultaneous GDA on the augmented Lagrangian (--penalty rho)",
                 {"--solver", "gda", "--formulation", "augmented-lagrangian"}, false});
    t.push_back({"penalized", "fixed L0 penalty, no constraint (Louizos et al. 2018)", {}, true});
    return t;
  }();
  return table;
}

std::vector<std::string> variant_names() {
  std::vector<std::string> names;
  for (const auto& v : variants()) names.emplace_back(v.name);
  return names;
}

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
  job.args.insert(job.args.end(), {"--seed", std::to_string(seed), "--out", job.out_dir, "--quiet"});
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
  posix_spawn_file_actions_addopen(&actions, 1, job.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
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
  const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, argv.data(), envp.data());
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
    if (entry.rfind("OMPI_", 0) == 0 || entry.rfind("PMIX_", 0) == 0 || entry.rfind("PMI_", 0) == 0) continue;
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
    *out_ << "[" << done_ << "/" << total_ << "] " << job.group << " seed " << job.seed << ": " << describe_end(job)
          << " (" << std::fixed << std::setprecision(1) << job.wall_seconds << " s)";
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
    if (n > bytes_.size() - at_) throw InputError("distributed runs: a message between ranks is truncated");
    std::string t = bytes_.substr(at_, n);
    at_ += n;
    return t;
  }

 private:
  template <class V>
  V take() {
    V v;
    if (sizeof v > bytes_.size() - at_) throw InputError("distributed runs: a message between ranks is truncated");
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
    } else if (name.rfind("run/", 0) == 0 && name.find('/', 4) == std::string::npos && name.size() > 4) {
      target = fs::path(job.out_dir) / name.substr(4);
    } else {
      continue;
    }
    std::error_code ec;
    if (fs::exists(target, ec) && fs::file_size(target, ec) == data.size() && read_all(target) == data) continue;
    fs::create_directories(target.parent_path(), ec);
    write_text(target.string(), data);
  }
  return static_cast<std::size_t>(index);
}

void run_jobs_here(std::vector<Job>& jobs, const std::vector<std::size_t>& todo, std::size_t max_parallel,
                   Progress& progress) {
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
void run_jobs_coordinator(std::vector<Job>& jobs, const std::vector<std::size_t>& todo, std::size_t max_parallel,
                          Progress& progress, int workers) {
  LocalRunner local(max_parallel);
  std::size_t next = 0;
  int workers_done = 0;
  while ((next < todo.size() && !stop_requested()) || local.running() > 0 || workers_done < workers) {
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
      if (index >= jobs.size()) throw InputError("distributed runs: rank 0 handed out an unknown run");
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

// <group>/seed-S.status next to the log: "exit_code signal wall_seconds rank", written by rank 0
// when a run ends; --resume keeps the runs whose status says they ended (0 or numerical
// failure).
fs::path status_path(const Job& job) { return fs::path(job.log_path).replace_extension(".status"); }

}  // namespace

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
    status << jobs[i].exit_code << ' ' << jobs[i].signal << ' ' << std::setprecision(17) << jobs[i].wall_seconds
           << ' ' << jobs[i].rank << '\n';
    write_text(status_path(jobs[i]).string(), status.str());
  }
}

void restore_finished_runs(std::vector<Job>& jobs) {
  for (auto& job : jobs) {
    std::ifstream in(status_path(job));
    int exit_code = -1, signal = 0;
    double wall = 0.0;
    if (in >> exit_code >> signal >> wall && signal == 0 &&
        (exit_code == kExitOk || exit_code == kExitNumericalFailure)) {
      job.kept = true;
      job.exit_code = exit_code;
      job.signal = signal;
      job.wall_seconds = wall;
      continue;
    }
    std::error_code ec;
    const fs::path dir = job.out_dir;
    if (!job.args.empty() && job.args.front() == "train" && fs::exists(dir / "checkpoint.bin", ec) &&
        fs::exists(dir / "args.txt", ec)) {
      job.args = {"train", "--resume", job.out_dir, "--quiet"};  // continues from its last epoch
    } else if (!job.args.empty() && job.args.front() == "train" && fs::exists(dir, ec) && !fs::is_empty(dir, ec) &&
               std::find(job.args.begin(), job.args.end(), "--overwrite") == job.args.end()) {
      job.args.push_back("--overwrite");  // started but saved no epoch: start again
    }
  }
}

namespace {
// The arguments that define an experiment: all but the output-only flags.
std::string experiment_text(const std::string& subcommand, const std::vector<std::string>& args) {
  std::string text = "saddle " + subcommand;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--resume" || a == "--quiet" || a == "--overwrite" || a.rfind("--jobs=", 0) == 0) continue;
    if (a == "--jobs") {
      ++i;
      continue;
    }
    text += " " + a;
  }
  return text + "\n";
}
}  // namespace

void start_runs(const SharedSettings& s, const std::string& subcommand, const std::vector<std::string>& args) {
  if (is_root()) {
    const fs::path file = fs::path(s.out_dir) / "experiment.txt";
    const std::string experiment = experiment_text(subcommand, args);
    std::error_code ec;
    if (s.resume) {
      if (!fs::is_directory(s.out_dir, ec)) throw UsageError("--resume: " + s.out_dir + " does not exist (nothing to resume)");
      if (!fs::exists(file, ec))
        throw UsageError("--resume: " + s.out_dir + " holds no experiment.txt (not a folder of saddle " + subcommand + ")");
      std::string before = read_all(file);
      if (before != experiment) {
        while (!before.empty() && before.back() == '\n') before.pop_back();
        throw UsageError("--resume: " + s.out_dir + " holds another experiment (" + before +
                         "); resume it with the same arguments");
      }
    } else {
      prepare_out_dir(s.out_dir, s.overwrite);
      write_text(file.string(), experiment);
    }
    std::string command = "saddle " + subcommand;
    for (const auto& a : args) command += " " + a;
    write_text((fs::path(s.out_dir) / "command.txt").string(), command + "\n");
  }
  require_setup_everywhere();
}

bool execute_runs(std::vector<Job>& jobs, const SharedSettings& s, std::ostream* progress) {
  const bool root = is_root();
  if (s.resume && root) {
    restore_finished_runs(jobs);
    const auto kept = std::count_if(jobs.begin(), jobs.end(), [](const Job& j) { return j.kept; });
    if (progress) *progress << "resuming: " << kept << " of " << jobs.size() << " runs finished before, kept\n";
  }
  begin_collective();
  run_jobs(jobs, s.jobs, root ? progress : nullptr);
  end_collective();
  if (stop_agreed(world())) throw_runs_stopped(jobs, s.out_dir);  // SIGINT/SIGTERM: exit 130/143
  return root;
}

RunOutcome read_outcome(const Job& job, double model_target, const std::vector<double>& layer_targets) {
  namespace jr = saddle::cli::json_read;
  RunOutcome o;
  o.status = describe_end(job);
  if (job.exit_code != 0 && job.signal == 0 && job.exit_code != kExitNumericalFailure) {
    const std::string message = last_error_line(job.log_path);
    if (!message.empty()) o.status += ": " + message;
  }
  try {
    const fs::path dir(job.out_dir);
    if (!fs::exists(dir / "summary.json")) {
      if (job.exit_code == 0) o.status = "no summary.json";
      return o;
    }
    const jr::Value s = jr::parse(read_all(dir / "summary.json"));
    o.test_error = s["test_error"].as_number_or_nan();
    o.expected_density = s["expected_density"].as_number_or_nan();
    std::vector<double> layers;
    for (const auto& v : s["layer_densities"].array) layers.push_back(v.as_number_or_nan());
    const double iterations = s["iterations"].as_number();
    o.forwards_per_step = iterations > 0 ? s["forwards"].as_number() / iterations : kNaN;
    o.backwards_per_step = iterations > 0 ? s["backwards"].as_number() / iterations : kNaN;
    o.seconds = s["seconds"].as_number_or_nan();
    // Violation against the experiment's targets (the same as summary constraint_values for
    // constrained runs, and meaningful for the penalized baseline, which has no constraints).
    o.worst_violation = 0.0;
    if (model_target > 0.0) {
      o.worst_violation = std::max(0.0, o.expected_density - model_target);
    } else {
      for (std::size_t l = 0; l < layer_targets.size() && l < layers.size(); ++l)
        o.worst_violation = std::max(o.worst_violation, layers[l] - layer_targets[l]);
    }
    if (std::isnan(o.expected_density)) o.worst_violation = kNaN;
    std::ifstream metrics(dir / "metrics.jsonl");
    for (std::string line; std::getline(metrics, line);) {
      if (line.empty()) continue;
      const jr::Value m = jr::parse(line);
      EpochPoint p;
      p.epoch = m["epoch"].as_number();
      p.expected_density = m["expected_density"].as_number_or_nan();
      p.test_error = m["test_error"].as_number_or_nan();
      p.max_multiplier = kNaN;
      for (const auto& v : m["multipliers"].array) {
        const double x = v.as_number_or_nan();
        if (std::isnan(p.max_multiplier) || x > p.max_multiplier) p.max_multiplier = x;
      }
      o.curve.push_back(p);
    }
    o.ok = job.exit_code == 0;
  } catch (const std::exception& e) {
    o.ok = false;
    o.status = "unreadable results: " + std::string(e.what());
  }
  return o;
}

// --- statistics ---

double student_t975(std::size_t dof) {
  // t(0.975, dof), dof = 1..30 (standard tables, e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2).
  static const double kTable[30] = {12.7062047, 4.3026527, 3.1824463, 2.7764451, 2.5705818, 2.4469119,
                                    2.3646243,  2.3060041, 2.2621572, 2.2281389, 2.2009852, 2.1788128,
                                    2.1603687,  2.1447867, 2.1314495, 2.1199053, 2.1098155, 2.1009220,
                                    2.0930241,  2.0859634, 2.0796138, 2.0738731, 2.0686576, 2.0638986,
                                    2.0595386,  2.0555294, 2.0518305, 2.0484071, 2.0452296, 2.0422725};
  if (dof == 0) return kNaN;
  if (dof <= 30) return kTable[dof - 1];
  // Beyond 30, t is close to linear in 1/dof: interpolate between tabulated points.
  static const double kDof[] = {30.0, 40.0, 60.0, 120.0, std::numeric_limits<double>::infinity()};
  static const double kT[] = {2.0422725, 2.0210754, 2.0002978, 1.9799304, 1.9599640};
  const double x = 1.0 / static_cast<double>(dof);
  for (int k = 0; k < 4; ++k) {
    const double x0 = 1.0 / kDof[k], x1 = 1.0 / kDof[k + 1];
    if (x <= x0 && x >= x1) return kT[k + 1] + (kT[k] - kT[k + 1]) * (x - x1) / (x0 - x1);
  }
  return kT[4];
}

MeanCi mean_ci(const std::vector<double>& values) {
  MeanCi s;
  double sum = 0.0;
  for (const double v : values)
    if (std::isfinite(v)) {
      sum += v;
      ++s.n;
    }
  if (s.n == 0) return {kNaN, kNaN, 0};
  s.mean = sum / static_cast<double>(s.n);
  if (s.n < 2) {
    s.ci95 = kNaN;
    return s;
  }
  double ss = 0.0;
  for (const double v : values)
    if (std::isfinite(v)) ss += (v - s.mean) * (v - s.mean);
  const double sd = std::sqrt(ss / static_cast<double>(s.n - 1));
  s.ci95 = student_t975(s.n - 1) * sd / std::sqrt(static_cast<double>(s.n));
  return s;
}

std::vector<EpochPoint> mean_curve(const std::vector<const std::vector<EpochPoint>*>& curves) {
  std::vector<EpochPoint> out;
  if (curves.empty()) return out;
  std::size_t length = curves.front()->size();
  for (const auto* c : curves) length = std::min(length, c->size());
  for (std::size_t i = 0; i < length; ++i) {
    std::vector<double> density, multiplier, error;
    for (const auto* c : curves) {
      density.push_back((*c)[i].expected_density);
      multiplier.push_back((*c)[i].max_multiplier);
      error.push_back((*c)[i].test_error);
    }
    EpochPoint p;
    p.epoch = (*curves.front())[i].epoch;
    p.expected_density = mean_ci(density).mean;
    p.max_multiplier = mean_ci(multiplier).mean;
    p.test_error = mean_ci(error).mean;
    out.push_back(p);
  }
  return out;
}

GroupStats aggregate(const std::vector<RunOutcome>& outcomes) {
  GroupStats g;
  g.runs = outcomes.size();
  std::vector<double> err, dens, viol, fwd, bwd, sec;
  std::vector<const std::vector<EpochPoint>*> curves;
  std::size_t failed = 0;
  std::string first_failure;
  for (const auto& o : outcomes) {
    if (!o.ok) {
      if (failed++ == 0) first_failure = o.status;
      continue;
    }
    ++g.ok;
    err.push_back(o.test_error);
    dens.push_back(o.expected_density);
    viol.push_back(o.worst_violation);
    fwd.push_back(o.forwards_per_step);
    bwd.push_back(o.backwards_per_step);
    sec.push_back(o.seconds);
    curves.push_back(&o.curve);
  }
  g.test_error = mean_ci(err);
  g.expected_density = mean_ci(dens);
  g.worst_violation = mean_ci(viol);
  g.forwards_per_step = mean_ci(fwd);
  g.backwards_per_step = mean_ci(bwd);
  g.seconds = mean_ci(sec);
  g.curve = mean_curve(curves);
  g.status = failed == 0 ? std::string("ok") : std::to_string(failed) + " failed: " + first_failure;
  return g;
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

// --- output ---

std::string render_terminal(const Table& t) {
  std::vector<std::size_t> width(t.header.size(), 0);
  for (std::size_t c = 0; c < t.header.size(); ++c) width[c] = display_width(t.header[c]);
  for (const auto& row : t.rows)
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], display_width(row[c]));
  auto line = [&](const std::vector<std::string>& cells, bool header) {
    std::string s;
    for (std::size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      const bool right = !header && c < t.numeric.size() && t.numeric[c];
      const bool last = c + 1 == width.size();
      s += last && !right ? cell : pad(cell, width[c], right);
      if (!last) s += "  ";
    }
    return s + "\n";
  };
  std::string out = line(t.header, true);
  std::size_t total = 0;
  for (const auto w : width) total += w + 2;
  out += std::string(total > 2 ? total - 2 : 0, '-') + "\n";
  for (const auto& row : t.rows) out += line(row, false);
  return out;
}

std::string render_markdown(const Table& t) {
  auto line = [](const std::vector<std::string>& cells) {
    std::string s = "|";
    for (const auto& cell : cells) {
      std::string c = cell;
      for (std::size_t p = c.find('|'); p != std::string::npos; p = c.find('|', p + 2)) c.replace(p, 1, "\\|");
      s += " " + c + " |";
    }
    return s + "\n";
  };
  std::string out = line(t.header) + "|";
  for (std::size_t c = 0; c < t.header.size(); ++c) out += c < t.numeric.size() && t.numeric[c] ? "---:|" : "---|";
  out += "\n";
  for (const auto& row : t.rows) out += line(row);
  return out;
}

std::string render_csv(const Table& t) {
  auto cell = [](const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string q = "\"";
    for (const char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t c = 0; c < cells.size(); ++c) s += (c ? "," : "") + cell(cells[c]);
    return s + "\n";
  };
  std::string out = line(t.header);
  for (const auto& row : t.rows) out += line(row);
  return out;
}

std::string format_mean_ci(const MeanCi& s, int digits, double scale) {
  if (s.n == 0 || std::isnan(s.mean)) return "-";
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << s.mean * scale;
  if (!std::isnan(s.ci95)) o << " ± " << s.ci95 * scale;
  return o.str();
}

std::string csv_number(double v) {
  if (std::isnan(v)) return "";
  return json_number(v);
}

std::string dat_number(double v) {
  if (!std::isfinite(v)) return "NaN";
  return json_number(v);
}

void write_text(const std::string& path, const std::string& text) {
  saddle::write_file_atomically(path, text);  // temp file + fsync + rename; WriteError: exit 4
}

namespace {

std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  std::istringstream in(path);
  for (std::string dir; std::getline(in, dir, ':');) {
    if (dir.empty()) dir = ".";
    const fs::path candidate = fs::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate)) return candidate.string();
  }
  return "";
}

// `text` as a gnuplot single-quoted string ('' stands for one quote).
std::string gnuplot_quote(const std::string& text) {
  std::string q = "'";
  for (const char c : text) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

}  // namespace

std::string run_gnuplot(const std::string& script, const std::string& png, const std::string& out_dir) {
  const std::string how = "run: cd " + out_dir + " && gnuplot " + fs::path(script).filename().string();
  const std::string gnuplot = find_program("gnuplot");
  if (gnuplot.empty())
    return "gnuplot not found, so " + fs::path(png).filename().string() + " was not drawn; its data and script are in " +
           out_dir + " (install gnuplot: apt-get install gnuplot-nox, as scripts/setup.sh does, then " + how + ")";
  std::error_code ec;
  fs::remove(png, ec);
  const std::string log = (fs::path(out_dir) / "gnuplot.log").string();
  const std::string cd = "cd " + gnuplot_quote(fs::absolute(out_dir).string());
  const std::vector<std::string> args = {"gnuplot", "-e", cd, fs::absolute(script).string()};
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, gnuplot.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return "could not start " + gnuplot + "; " + how;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !fs::exists(png))
    return "gnuplot failed (see " + log + "); " + how;
  fs::remove(log, ec);  // nothing worth keeping
  return "";
}

}  // namespace saddle::cli::experiments
