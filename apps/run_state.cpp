// The start of an experiment's runs (output folder, experiment.txt, command.txt), their
// execution, and --resume (experiments.hpp, jobs.hpp).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "experiments.hpp"
#include "stop_signal.hpp"
#include "world.hpp"

namespace saddle::cli::experiments {

namespace fs = std::filesystem;

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
    if (!job.args.empty() && job.args.front() == "train" &&
        fs::exists(dir / "checkpoint.bin", ec) && fs::exists(dir / "args.txt", ec)) {
      job.args = {"train", "--resume", job.out_dir, "--quiet"};  // continues from its last epoch
    } else if (!job.args.empty() && job.args.front() == "train" && fs::exists(dir, ec) &&
               !fs::is_empty(dir, ec) &&
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
    if (a == "--resume" || a == "--quiet" || a == "--overwrite" || a.rfind("--jobs=", 0) == 0)
      continue;
    if (a == "--jobs") {
      ++i;
      continue;
    }
    text += " " + a;
  }
  return text + "\n";
}
}  // namespace

void start_runs(const SharedSettings& s, const std::string& subcommand,
                const std::vector<std::string>& args) {
  if (is_root()) {
    const fs::path file = fs::path(s.out_dir) / "experiment.txt";
    const std::string experiment = experiment_text(subcommand, args);
    std::error_code ec;
    if (s.resume) {
      if (!fs::is_directory(s.out_dir, ec))
        throw UsageError("--resume: " + s.out_dir + " does not exist (nothing to resume)");
      if (!fs::exists(file, ec))
        throw UsageError("--resume: " + s.out_dir +
                         " holds no experiment.txt (not a folder of saddle " + subcommand + ")");
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
    if (progress)
      *progress << "resuming: " << kept << " of " << jobs.size() << " runs finished before, kept\n";
  }
  begin_collective();
  run_jobs(jobs, s.jobs, root ? progress : nullptr);
  end_collective();
  if (stop_agreed(world())) throw_runs_stopped(jobs, s.out_dir);  // SIGINT/SIGTERM: exit 130/143
  return root;
}
}  // namespace saddle::cli::experiments
