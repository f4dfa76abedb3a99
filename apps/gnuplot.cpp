// The one gnuplot runner of the command line (gnuplot.hpp).
#include "gnuplot.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <vector>

extern char** environ;  // POSIX: gnuplot gets this process's environment

namespace saddle::cli {

namespace fs = std::filesystem;

std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  std::istringstream in(path);
  for (std::string dir; std::getline(in, dir, ':');) {
    if (dir.empty()) dir = ".";
    const fs::path candidate = fs::path(dir) / name;
    std::error_code ec;
    if (::access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate, ec))
      return candidate.string();
  }
  return "";
}

namespace {

// `text` as a gnuplot single-quoted string ('' stands for one quote).
std::string gnuplot_quote(const std::string& text) {
  std::string q = "'";
  for (const char c : text) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

}  // namespace

GnuplotResult run_gnuplot_script(const std::string& script, const std::string& png,
                                 const std::string& working_dir, const std::string& log) {
  const std::string gnuplot = find_program("gnuplot");
  if (gnuplot.empty()) return GnuplotResult::not_found;
  std::error_code ec;
  fs::remove(png, ec);
  const std::string cd = "cd " + gnuplot_quote(fs::absolute(working_dir, ec).string());
  const std::vector<std::string> args = {"gnuplot", "-e", cd, fs::absolute(script, ec).string()};
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
  if (rc != 0) return GnuplotResult::not_started;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !fs::exists(png, ec))
    return GnuplotResult::failed;
  fs::remove(log, ec);  // nothing worth keeping
  return GnuplotResult::drawn;
}

}  // namespace saddle::cli

namespace saddle::cli::experiments {

std::string run_gnuplot(const std::string& script, const std::string& png,
                        const std::string& out_dir) {
  const std::string how =
      "run: cd " + out_dir + " && gnuplot " + fs::path(script).filename().string();
  const std::string log = (fs::path(out_dir) / "gnuplot.log").string();
  switch (run_gnuplot_script(script, png, out_dir, log)) {
    case GnuplotResult::drawn:
      return "";
    case GnuplotResult::not_found:
      return "gnuplot not found, so " + fs::path(png).filename().string() +
             " was not drawn; its data and script are in " + out_dir +
             " (install gnuplot: apt-get install gnuplot-nox, as scripts/setup.sh does, then " +
             how + ")";
    case GnuplotResult::not_started:
      return "could not start " + find_program("gnuplot") + "; " + how;
    case GnuplotResult::failed:
      break;
  }
  return "gnuplot failed (see " + log + "); " + how;
}

}  // namespace saddle::cli::experiments
