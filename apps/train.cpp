// `saddle train`: train a gated network on MNIST or Fashion-MNIST to a target density
// (constrained L0, Gallego-Posada et al. 2021) or with a fixed L0 penalty (Louizos et al.
// 2018). Options come from the command line and/or an INI file (--config). Prints a
// progress bar on a terminal, a line per epoch otherwise, and a final table; --json prints
// one JSON object; --out DIR writes the run folder (command.txt, args.txt, config.ini,
// metrics.jsonl, steps.csv, checkpoint.bin, summary.json, dynamics.{dat,gp,png}).

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "world.hpp"
#include "commands.hpp"
#include "train_config.hpp"
#include "json.hpp"
#include "stop_signal.hpp"
#include "saddle/atomic_file.hpp"
#include "saddle/callbacks.hpp"
#include "saddle/problems/l0/experiment.hpp"
#include "saddle/solver.hpp"
#include "saddle/solvers.hpp"

namespace saddle::cli {
namespace {

namespace fs = std::filesystem;
using saddle::l0::TrainConfig;

std::size_t positive_size(const po::variables_map& vm, const char* name) {
  const auto v = parse_unsigned(std::string("--") + name, vm[name].as<std::string>());
  if (v == 0) throw UsageError(std::string("--") + name + " = 0: must be > 0");
  return static_cast<std::size_t>(v);
}

double number(const po::variables_map& vm, const char* name) {
  return parse_double(std::string("--") + name, vm[name].as<std::string>());
}

std::string percent(double fraction) {
  if (std::isnan(fraction)) return "   -  ";
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << 100.0 * fraction << '%';
  return s.str();
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

void write_epoch_json(JsonWriter& j, const saddle::l0::EpochMetrics& m) {
  j.begin_object();
  j.key("epoch").value(m.epoch);
  j.key("train_loss").value(m.train_loss);
  j.key("train_error").value(m.train_error);
  j.key("test_loss").value(m.test_loss);
  j.key("test_error").value(m.test_error);
  j.key("expected_density").value(m.expected_density);
  j.key("layer_densities").number_array(m.layer_densities);
  j.key("constraint_values").number_array(m.constraint_values);
  j.key("test_time_density").value(m.test_time_density);
  j.key("pruned_architecture").value(m.pruned_architecture);
  j.key("purged_params").value(m.purged_params);
  j.key("purged_macs").value(m.purged_macs);
  j.key("multipliers").number_array(m.multipliers);
  j.key("seconds").value(m.seconds);
  j.end_object();
}

// Every density constraint of the final epoch satisfied (measure - target <= 0)? A target is
// met when the expected density is at or below it; no tolerance.
bool constraints_met(const saddle::l0::EpochMetrics& m) {
  for (const double v : m.constraint_values)
    if (!(v <= 0.0)) return false;
  return true;
}

void write_summary_json(JsonWriter& j, const TrainConfig& c, const std::string& dataset, const std::string& formulation,
                        const saddle::l0::TrainResult& r) {
  const auto& f = r.final_metrics;
  j.begin_object();
  j.key("model").value(saddle::l0::to_string(c.architecture));
  j.key("dataset").value(dataset);
  j.key("solver").value(c.solver);
  j.key("formulation").value(c.penalties.empty() ? formulation : std::string("fixed-penalty"));
  j.key("dual_restarts").value(c.solver_options.dual_restarts && c.penalties.empty());
  j.key("groups").string_array(r.group_names);
  j.key("targets").number_array(r.group_targets);
  j.key("penalties").number_array(c.penalties);
  j.key("seed").value(c.seed);
  j.key("termination").value(saddle::to_string(r.summary.termination));
  j.key("message").value(r.summary.message);
  j.key("epochs").value(r.summary.epochs);
  j.key("iterations").value(r.summary.iterations);
  j.key("test_error").value(f.test_error);
  j.key("best_test_error").value(r.best_test_error);
  j.key("best_epoch").value(r.best_epoch);
  j.key("train_loss").value(f.train_loss);
  j.key("expected_density").value(f.expected_density);
  j.key("layer_names").string_array(r.layer_names);
  j.key("layer_densities").number_array(f.layer_densities);
  j.key("constraint_values").number_array(f.constraint_values);
  j.key("constraints_met");
  if (c.penalties.empty())
    j.value(constraints_met(f));
  else
    j.null();  // penalized L0: no constraint
  j.key("test_time_density").value(f.test_time_density);
  j.key("pruned_architecture").value(f.pruned_architecture);
  j.key("purged_params").value(f.purged_params);
  j.key("purged_macs").value(f.purged_macs);
  j.key("dense_params").value(r.dense_params);
  j.key("dense_macs").value(r.dense_macs);
  j.key("multipliers").number_array(f.multipliers);
  j.key("forwards").value(r.summary.forwards);
  j.key("backwards").value(r.summary.backwards);
  j.key("seconds").value(r.summary.seconds);
  j.end_object();
}

// --- configuration files ------------------------------------------------------------

// Options that describe how a run reports, not what it computes: neither args.txt nor
// config.ini records them (--log-every is recorded: it shapes steps.csv).
const std::set<std::string>& output_only_options() {
  static const std::set<std::string> names = {"config", "out", "overwrite", "resume", "json", "quiet", "progress", "help"};
  return names;
}

bool is_switch(const po::option_description& o) { return o.semantic()->max_tokens() == 0; }

// The configuration as command-line arguments, one per element: every option the user
// gave (command line or config file), output-only options left out. Read back by --resume.
std::vector<std::string> effective_arguments(const po::options_description& options, const po::variables_map& vm) {
  std::vector<std::string> args;
  for (const auto& o : options.options()) {
    const std::string& name = o->long_name();
    if (output_only_options().count(name) || !given(vm, name.c_str())) continue;
    if (is_switch(*o)) {
      if (vm[name].as<bool>()) args.push_back("--" + name);
    } else {
      args.push_back("--" + name);
      args.push_back(vm[name].as<std::string>());
    }
  }
  return args;
}

// The effective configuration as an INI file that --config reads: every option with its
// value (given or default), output-only options left out.
void write_config_ini(std::ostream& ini, const po::options_description& options, const po::variables_map& vm,
                      const TrainConfig& c) {
  ini << "# saddle train: the configuration of this run. Re-run it with\n"
         "#   saddle train --config config.ini --out NEW_DIR\n"
         "# Options on the command line override the values below.\n";
  const bool has_targets = given(vm, "layer-densities") || given(vm, "l0-penalty");
  for (const auto& o : options.options()) {
    const std::string& name = o->long_name();
    if (output_only_options().count(name)) continue;
    if (is_switch(*o)) {
      ini << name << " = " << (vm[name].as<bool>() ? "true" : "false") << '\n';
    } else if (vm.count(name)) {
      ini << name << " = " << vm[name].as<std::string>() << '\n';
    } else if (name == "target-density" && !has_targets) {
      ini << name << " = " << format_number(c.target_density) << '\n';
    }
  }
}

// --- per-step log and progress display ----------------------------------------------

std::string duration_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.0) return "?";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", s / 3600, (s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof(buf), "%llds", s);
  return buf;
}

std::size_t terminal_columns() {
  winsize w{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 20) return w.ws_col;
  return 120;
}

// Watches every step of the solve: writes a row of steps.csv every `every` steps, and
// redraws the progress bar (at most 5 times a second, and at every epoch end).
//
// steps.csv: iteration,epoch,batch,loss,objective,max_violation,c_<constraint>...,
// lambda_<constraint>... (epoch 1-based, batch 1-based within the epoch; loss and
// constraint values are the step's minibatch estimates, multipliers after the step).
// On --resume, rows at or past the first resumed iteration (logged after the checkpoint,
// before the run was stopped) are dropped before appending, so every iteration is listed
// at most once and the file matches an uninterrupted run.
class StepWatcher final : public saddle::Callback<float> {
 public:
  StepWatcher(std::string csv_path, std::size_t every, bool resuming, std::ostream* bar, std::size_t epochs)
      : csv_path_(std::move(csv_path)), every_(every), resuming_(resuming), bar_(bar), epochs_(epochs) {}

  void on_begin(saddle::BasicProblem<float>& problem, const saddle::SolverOptions&) override {
    header_ = "iteration,epoch,batch,loss,objective,max_violation";
    const auto specs = problem.constraints();
    for (const auto& spec : specs) header_ += ",c_" + spec.name;
    for (const auto& spec : specs) header_ += ",lambda_" + spec.name;
    start_ = last_draw_ = std::chrono::steady_clock::now();
  }

  bool on_step(const saddle::StepInfo<float>& info) override {
    if (first_iteration_ == 0) {
      first_iteration_ = info.iteration;
      if (!csv_path_.empty() && every_ > 0) open_csv(info.iteration);
    }
    if (csv_.is_open() && info.iteration % every_ == 0) {
      csv_ << info.iteration << ',' << info.epoch + 1 << ',' << info.batch + 1 << ',' << info.evaluation->loss << ','
           << info.objective << ',' << info.max_violation;
      const auto& v = info.evaluation->dual_values();
      for (std::size_t i = 0; i < v.size(); ++i) csv_ << ',' << v(i);
      for (std::size_t i = 0; i < info.multipliers->size(); ++i) csv_ << ',' << (*info.multipliers)(i);
      csv_ << '\n';
      if (!csv_) throw saddle::WriteError(csv_path_, std::strerror(errno));
    }
    // Every row is flushed as written: every row up to a checkpoint (at an epoch end, or at
    // a stop on a signal) is on disk when the checkpoint is.
    if (csv_.is_open() && info.iteration % every_ == 0) csv_.flush();
    if (bar_ != nullptr) {
      last_ = info;
      have_step_ = true;
      const auto now = std::chrono::steady_clock::now();
      if (std::chrono::duration<double>(now - last_draw_).count() >= 0.2) {
        last_draw_ = now;
        draw();
      }
    }
    return true;
  }

  void on_end(const saddle::Summary<float>&) override {
    if (csv_.is_open()) {
      csv_.flush();
      if (!csv_) throw saddle::WriteError(csv_path_, std::strerror(errno));
    }
  }

  /// The latest epoch's metrics for the bar (test error, density); redraws it.
  void epoch_done(const saddle::l0::EpochMetrics& m) {
    if (!std::isnan(m.test_error)) test_error_ = m.test_error;
    density_ = m.expected_density;
    if (bar_ != nullptr && have_step_) draw();
  }

  /// Ends the bar's line (before anything else is printed).
  void finish_bar() {
    if (bar_ != nullptr && drawn_) {
      *bar_ << '\n';
      bar_->flush();
      drawn_ = false;
    }
  }

 private:
  void open_csv(std::size_t first_iteration) {
    std::vector<std::string> kept;
    if (resuming_) {
      std::ifstream old(csv_path_);
      std::string line;
      if (old && std::getline(old, line) && line == header_) {
        const auto columns = std::count(header_.begin(), header_.end(), ',');
        // A row cut short by a kill has fewer columns: dropped with the rows past the checkpoint.
        while (std::getline(old, line))
          if (std::count(line.begin(), line.end(), ',') == columns &&
              std::strtoull(line.c_str(), nullptr, 10) < first_iteration)
            kept.push_back(line);
      }
    }
    std::string text = header_ + '\n';
    for (const auto& line : kept) text += line + '\n';
    saddle::write_file_atomically(csv_path_, text);  // then appended row by row
    csv_.open(csv_path_, std::ios::app);
    if (!csv_) throw saddle::WriteError(csv_path_, std::strerror(errno));
    csv_.precision(9);
  }

  void draw() {
    const auto& info = last_;
    const std::size_t per_epoch = info.batches_per_epoch;
    const std::size_t total = per_epoch * epochs_;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double done_here = static_cast<double>(info.iteration - first_iteration_ + 1);
    const double eta = elapsed / done_here * static_cast<double>(total - std::min(total, info.iteration));
    const std::size_t step = info.batch + 1;
    constexpr int kWidth = 20;
    const int filled = static_cast<int>(kWidth * static_cast<double>(step) / static_cast<double>(per_epoch));
    std::ostringstream line;
    line << "epoch " << info.epoch + 1 << '/' << epochs_ << " [" << std::string(filled, '#')
         << std::string(kWidth - filled, '-') << "] " << step << '/' << per_epoch << "  ETA " << duration_text(eta)
         << "  test err " << (std::isnan(test_error_) ? std::string("-") : percent(test_error_)) << "  density "
         << (std::isnan(density_) ? std::string("-") : fixed(density_, 4)) << "  lambda ";
    line << std::setprecision(4);
    for (std::size_t i = 0; i < info.multipliers->size(); ++i) line << (i ? "," : "") << (*info.multipliers)(i);
    std::string text = line.str();
    const std::size_t columns = terminal_columns();
    if (text.size() >= columns) text.resize(columns - 1);  // a wrapped line cannot be redrawn with \r
    *bar_ << '\r' << text << "\033[K";
    bar_->flush();
    drawn_ = true;
  }

  std::string csv_path_;
  std::size_t every_;
  bool resuming_;
  std::ostream* bar_;
  std::size_t epochs_;
  std::string header_;
  std::ofstream csv_;
  std::size_t first_iteration_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  saddle::StepInfo<float> last_;
  bool have_step_ = false, drawn_ = false;
  double test_error_ = std::nan(""), density_ = std::nan("");
};

// --- training-dynamics plot (Figure 1 of Gallego-Posada et al. 2021) -----------------

// "model density <= 0.33", "densities fc1 <= 0.5, ..." or "fixed L0 penalty (0.1)" for a plot title.
std::string title_targets(const saddle::l0::TrainResult& r, const TrainConfig& c) {
  if (!c.penalties.empty()) return "fixed L0 penalty " + format_list(c.penalties);
  std::string s = "density";
  for (std::size_t g = 0; g < r.group_names.size(); ++g)
    s += (g ? ", " : " ") + r.group_names[g] + " <= " + format_number(r.group_targets[g]);
  return s;
}

// The full path of `name` on $PATH, or "".
std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return "";
}

// Writes DIR/dynamics.dat (one row per epoch) and DIR/dynamics.gp (3 panels: expected
// density of the model and of each layer with the targets dashed; multipliers; test and
// train error), then runs gnuplot to draw DIR/dynamics.png. Returns a one-line note for
// the user ("" when the PNG was drawn or there is no epoch to plot). Never throws for
// plotting problems: a run's result does not depend on its plot.
std::string write_dynamics_plot(const fs::path& dir, const saddle::l0::TrainResult& r, const TrainConfig& c) {
  const auto& history = r.history;
  if (history.empty()) return "";
  const std::size_t layers = r.layer_names.size();
  const std::size_t groups = history.front().multipliers.size();
  {
    std::ostringstream dat;
    dat << "# epoch density_model";
    for (const auto& l : r.layer_names) dat << " density_" << l;
    dat << " test_error_pct train_error_pct";
    for (std::size_t g = 0; g < groups; ++g) dat << " lambda_" << (g < r.group_names.size() ? r.group_names[g] : std::to_string(g));
    dat << " test_time_density\n";
    dat.precision(8);
    for (const auto& m : history) {
      dat << m.epoch << ' ' << m.expected_density;
      for (std::size_t l = 0; l < layers; ++l) dat << ' ' << (l < m.layer_densities.size() ? m.layer_densities[l] : 0.0);
      if (std::isfinite(m.test_error))
        dat << ' ' << 100.0 * m.test_error;
      else
        dat << " ?";  // not evaluated this epoch (--eval-every): gnuplot's missing value
      dat << ' ' << (std::isfinite(m.train_error) ? 100.0 * m.train_error : 0.0);
      for (std::size_t g = 0; g < groups; ++g) dat << ' ' << (g < m.multipliers.size() ? m.multipliers[g] : 0.0);
      dat << ' ' << m.test_time_density << '\n';
    }
    try {
      saddle::write_file_atomically((dir / "dynamics.dat").string(), dat.str());
    } catch (const saddle::WriteError& e) {
      return e.what();
    }
  }
  const bool penalized = !c.penalties.empty();
  {
    std::ostringstream gp;
    gp << "# Training dynamics of a saddle train run (as Figure 1 of Gallego-Posada et al. 2021).\n"
          "# Draws dynamics.png from dynamics.dat next to this script:  gnuplot " << (dir / "dynamics.gp").string() << "\n"
          "script = ARG0\n"
          "do for [i = strlen(script):1:-1] { if (script[i:i] eq \"/\") { cd script[1:i]; break } }\n"
          "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) { set terminal pngcairo size 900,1050 font \"sans,10\" } "
          "else { set terminal png size 900,1050 }\n"
          "set output \"dynamics.png\"\n"
          "set datafile missing \"?\"\n"
          "set key outside right top\n"
          "set grid\n"
          "set xrange [0:" << std::max<std::size_t>(history.back().epoch, c.epochs) << "]\n"
          "set lmargin 10\nset rmargin 26\n"
          "set multiplot layout 3,1 title \"" << saddle::l0::to_string(c.architecture) << ", " << title_targets(r, c)
       << ", solver " << c.solver << ", seed " << c.seed << "\"\n";
    // Panel 1: densities and targets.
    gp << "set ylabel \"expected density\"\nset yrange [0:1.05]\nunset xlabel\n";
    gp << "plot \"dynamics.dat\" using 1:2 with lines lw 2.5 lc rgb \"black\" title \"model\"";
    static const char* const kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"};
    for (std::size_t l = 0; l < layers; ++l)
      gp << ", \"\" using 1:" << 3 + l << " with lines lw 1.5 lc rgb \"" << kColors[l % 6] << "\" title \""
         << r.layer_names[l] << "\"";
    if (!penalized) {
      for (std::size_t g = 0; g < r.group_names.size(); ++g) {
        std::string color = "black";
        for (std::size_t l = 0; l < layers; ++l)
          if (r.layer_names[l] == r.group_names[g]) color = kColors[l % 6];
        gp << ", " << format_number(r.group_targets[g]) << " with lines dt 2 lw 1.5 lc rgb \"" << color
           << "\" title \"target " << r.group_names[g] << "\"";
      }
    }
    gp << '\n';
    // Panel 2: multipliers.
    const std::size_t lambda0 = 3 + layers + 2;
    gp << "set ylabel \"" << (penalized ? "penalty (fixed)" : "multiplier") << "\"\nset yrange [0:*]\n";
    gp << "plot ";
    for (std::size_t g = 0; g < groups; ++g) {
      std::string color = "black";
      const std::string name = g < r.group_names.size() ? r.group_names[g] : std::to_string(g);
      for (std::size_t l = 0; l < layers; ++l)
        if (r.layer_names[l] == name) color = kColors[l % 6];
      gp << (g ? ", " : "") << "\"dynamics.dat\" using 1:" << lambda0 + g << " with lines lw 2 lc rgb \"" << color
         << "\" title \"lambda " << name << "\"";
    }
    gp << '\n';
    // Panel 3: errors.
    gp << "set ylabel \"error (%, log scale)\"\nset xlabel \"epoch\"\nset autoscale y\nset logscale y\n"
          "set format y \"%g\"\n"
       << "plot \"dynamics.dat\" using 1:" << 3 + layers << " with lines lw 2 lc rgb \"#d62728\" "
          "title \"test (test-time gates)\", \"\" using 1:"
       << 4 + layers << " with lines lw 1 dt 3 lc rgb \"gray40\" title \"train (sampled gates)\"\n";
    gp << "unset multiplot\n";
    try {
      saddle::write_file_atomically((dir / "dynamics.gp").string(), gp.str());
    } catch (const saddle::WriteError& e) {
      return e.what();
    }
  }
  const std::string gnuplot = find_on_path("gnuplot");
  const std::string script = (dir / "dynamics.gp").string();
  if (gnuplot.empty()) return "gnuplot not found: apt-get install gnuplot-nox, then run: gnuplot " + script;
  std::cout.flush();
  std::cerr.flush();
  const std::string log = (dir / "dynamics.log").string();
  const pid_t pid = ::fork();
  if (pid < 0) return "cannot start gnuplot (" + std::string(std::strerror(errno)) + "); run: gnuplot " + script;
  if (pid == 0) {  // child: only async-signal-safe calls until exec
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    ::execl(gnuplot.c_str(), "gnuplot", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && fs::exists(dir / "dynamics.png");
  std::error_code ec;
  if (ok) {
    fs::remove(log, ec);
    return "";
  }
  return "gnuplot failed on " + script + " (see " + log + ")";
}

int train_body(const std::vector<std::string>& given_args, std::ostream& out, std::ostream& err) {
  const auto options = train_options();
  auto vm = parse_arguments(given_args, options);
  std::vector<std::string> args = given_args;
  std::string resume_dir;
  if (given(vm, "resume")) {
    // Re-parse the configuration recorded by the run; only output flags may be added.
    resume_dir = vm["resume"].as<std::string>();
    for (const auto& a : given_args)
      if (a.rfind("--", 0) == 0 && a != "--resume" && a != "--quiet" && a != "--json" && a != "--progress" &&
          a.rfind("--resume=", 0) != 0 && a.rfind("--progress=", 0) != 0)
        throw UsageError("--resume takes the configuration of the run; drop " + a);
    std::ifstream in(fs::path(resume_dir) / "args.txt");
    if (!in) throw UsageError("--resume " + resume_dir + ": not a run folder (no args.txt)");
    if (!fs::exists(fs::path(resume_dir) / "checkpoint.bin"))
      throw UsageError("--resume " + resume_dir + ": no checkpoint.bin in the folder (the run saved no epoch yet)");
    args.clear();
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) args.push_back(line);
    if (vm["quiet"].as<bool>()) args.push_back("--quiet");
    if (vm["json"].as<bool>()) args.push_back("--json");
    if (given(vm, "progress")) args.insert(args.end(), {"--progress", vm["progress"].as<std::string>()});
    vm = parse_arguments(args, options);
  } else if (given(vm, "config")) {
    load_config_file(vm["config"].as<std::string>(), options, vm);
  }
  if (vm["help"].as<bool>()) {
    out << "usage: saddle train [options]\n\nTrain a gated network to a target density (constrained L0) or "
           "with a fixed L0 penalty.\n\n"
        << options << '\n';
    return kExitOk;
  }
  TrainConfig c;
  c.architecture = saddle::l0::parse_architecture(vm["model"].as<std::string>());
  const std::string dataset = vm["dataset"].as<std::string>();
  const auto names = saddle::l0::dataset_names();
  if (std::find(names.begin(), names.end(), dataset) == names.end())
    throw UsageError("unknown dataset '" + dataset + "' (choices: " + join(names) + ")");
  const std::string data_dir = string_or(vm, "data-dir", "data/" + dataset);
  const int targets_given = given(vm, "target-density") + given(vm, "layer-densities") + given(vm, "l0-penalty");
  if (targets_given > 1) throw UsageError("give only one of --target-density, --layer-densities, --l0-penalty");
  if (given(vm, "target-density")) c.target_density = number(vm, "target-density");
  if (!(c.target_density > 0.0 && c.target_density <= 1.0))
    throw UsageError("--target-density = " + vm["target-density"].as<std::string>() + ": must be in (0, 1]");
  const std::size_t layers = c.architecture == saddle::l0::Architecture::mlp ? 3 : 4;
  if (given(vm, "layer-densities")) {
    c.layer_targets = parse_double_list("--layer-densities", vm["layer-densities"].as<std::string>());
    if (c.layer_targets.size() != layers)
      throw UsageError("--layer-densities has " + std::to_string(c.layer_targets.size()) + " values: the " +
                       vm["model"].as<std::string>() + " model has " + std::to_string(layers) + " gated layers");
    for (double t : c.layer_targets)
      if (!(t > 0.0 && t <= 1.0)) throw UsageError("--layer-densities value " + format_number(t) + ": must be in (0, 1]");
  }
  if (given(vm, "l0-penalty")) {
    c.penalties = parse_double_list("--l0-penalty", vm["l0-penalty"].as<std::string>());
    if (c.penalties.size() != 1 && c.penalties.size() != layers)
      throw UsageError("--l0-penalty has " + std::to_string(c.penalties.size()) + " values: give 1 or " +
                       std::to_string(layers) + " (one per gated layer)");
    for (double p : c.penalties)
      if (!(p >= 0.0) || !std::isfinite(p)) throw UsageError("--l0-penalty value " + format_number(p) + ": must be >= 0");
  }
  const std::string form = vm["penalty-form"].as<std::string>();
  if (form == "density")
    c.penalty_measure = saddle::l0::DensityMeasure::density;
  else if (form == "count")
    c.penalty_measure = saddle::l0::DensityMeasure::expected_count;
  else
    throw UsageError("unknown --penalty-form '" + form + "' (choices: density, count)");
  const auto scaling = saddle::l0::parse_input_scaling(vm["input-scaling"].as<std::string>());
  c.test_gate = saddle::l0::parse_test_gate(vm["test-gate"].as<std::string>());
  c.init = saddle::l0::parse_init_scheme(vm["init"].as<std::string>());
  c.weight_decay = number(vm, "weight-decay");
  c.ema_beta = number(vm, "ema");

  c.solver = checked_solver(vm["solver"].as<std::string>());
  const std::string formulation = vm["formulation"].as<std::string>();
  auto& so = c.solver_options;
  so.formulation.kind = saddle::parse_formulation(formulation);
  if (so.formulation.kind == saddle::FormulationKind::fixed_penalty)
    throw UsageError("--formulation fixed-penalty: use --l0-penalty LAMBDA for penalized L0");
  so.dual_restarts = !vm["no-dual-restarts"].as<bool>();
  so.primal.kind = saddle::parse_primal_rule(vm["primal-rule"].as<std::string>());
  so.primal.lr = number(vm, "primal-lr");
  so.primal.momentum = number(vm, "momentum");
  so.dual.kind = saddle::parse_dual_rule(vm["dual-rule"].as<std::string>());
  so.dual.lr = number(vm, "dual-lr");
  so.dual.kp = number(vm, "kp");
  so.dual.nu = number(vm, "nu");
  so.formulation.penalty = number(vm, "penalty");
  so.formulation.max_penalty = std::max(so.formulation.max_penalty, so.formulation.penalty);
  c.batch = positive_size(vm, "batch");
  c.epochs = positive_size(vm, "epochs");
  so.max_epochs = c.epochs;
  validate_with_flags(so);
  c.seed = parse_unsigned("--seed", vm["seed"].as<std::string>());
  c.eval_every = positive_size(vm, "eval-every");
  try {
    c.validate();
  } catch (const saddle::InvalidOption& e) {
    throw UsageError(rename_fields(e.what(), {{"ema", "--ema"}, {"weight_decay", "--weight-decay"}}));
  }
  const std::size_t log_every = static_cast<std::size_t>(parse_unsigned("--log-every", vm["log-every"].as<std::string>()));
  const std::string progress_mode = vm["progress"].as<std::string>();
  if (progress_mode != "auto" && progress_mode != "bar" && progress_mode != "lines")
    throw UsageError("unknown --progress '" + progress_mode + "' (choices: auto, bar, lines)");

  // Output folder: refuse to mix two runs unless asked to.
  std::string out_dir;
  if (!resume_dir.empty()) {
    out_dir = resume_dir;
    c.resume_from = (fs::path(out_dir) / "checkpoint.bin").string();
    c.checkpoint_path = c.resume_from;
  } else if (given(vm, "out") && is_root()) {  // data parallel: rank 0 alone writes the folder
    out_dir = vm["out"].as<std::string>();
    std::error_code ec;
    if (fs::exists(out_dir, ec) && !fs::is_empty(out_dir, ec) && !vm["overwrite"].as<bool>())
      throw UsageError("--out " + out_dir + ": folder already holds files (use --overwrite to replace the run)");
    fs::create_directories(out_dir, ec);
    if (ec || !fs::is_directory(out_dir))
      throw UsageError("--out " + out_dir + ": cannot create the folder (" + ec.message() + ")");
    std::ostringstream cmd;
    cmd << "saddle train";
    for (const auto& a : args) cmd << ' ' << a;
    cmd << '\n';
    // One argument per line, for --resume: the effective configuration (a --config file
    // is expanded, so that the run does not depend on it any more).
    std::ostringstream arg_file;
    for (const auto& a : effective_arguments(options, vm)) arg_file << a << '\n';
    std::ostringstream ini;
    write_config_ini(ini, options, vm, c);
    saddle::write_file_atomically((fs::path(out_dir) / "command.txt").string(), cmd.str());  // WriteError: exit 4
    saddle::write_file_atomically((fs::path(out_dir) / "args.txt").string(), arg_file.str());
    saddle::write_file_atomically((fs::path(out_dir) / "config.ini").string(), ini.str());
    c.checkpoint_path = (fs::path(out_dir) / "checkpoint.bin").string();
    // A previous run's outputs (--overwrite) must not be mixed into this one.
    for (const char* stale : {"steps.csv", "metrics.jsonl", "summary.json", "dynamics.dat", "dynamics.gp", "dynamics.png",
                              "dynamics.log", "checkpoint.bin"})
      fs::remove(fs::path(out_dir) / stale, ec);
  }

  // Data-parallel run (mpirun -np P saddle train): rank 0 alone writes the run folder and
  // prints; every rank reads the data (and, with --resume, the checkpoint) itself.
  if (!is_root()) {
    out_dir.clear();
    c.checkpoint_path.clear();
  }
  c.communicator = world();

  const auto data = saddle::l0::load_dataset(dataset, data_dir, scaling);
  if (c.batch > data.train.size())
    throw UsageError("--batch " + std::to_string(c.batch) + ": larger than the training set of " + dataset + " (" +
                     std::to_string(data.train.size()) + " samples)");
  const bool json = vm["json"].as<bool>();
  const bool quiet = vm["quiet"].as<bool>() || json;
  std::ostream& log = json ? err : out;
  if (!quiet) {
    log << "saddle train: " << saddle::l0::to_string(c.architecture) << " on " << dataset << " (" << data.train.size()
        << " train, " << data.test.size() << " test), solver " << c.solver << ", "
        << (c.penalties.empty() ? formulation : "fixed-penalty " + format_list(c.penalties))
        << (so.dual_restarts && c.penalties.empty() ? ", dual restarts" : "") << ", " << c.epochs << " epochs\n";
  }
  // metrics.jsonl: one line per epoch, the whole file rewritten atomically at every epoch
  // (never a torn line); on resume rebuilt from the checkpoint's history.
  const std::string metrics_path = out_dir.empty() ? std::string() : (fs::path(out_dir) / "metrics.jsonl").string();
  std::string metrics_text;
  auto add_metrics_line = [&](const saddle::l0::EpochMetrics& m) {
    std::ostringstream line;
    JsonWriter j(line, 0);
    write_epoch_json(j, m);  // the writer ends the line
    metrics_text += line.str();
  };

  // Progress: a bar redrawn in place on a terminal, a line per epoch otherwise.
  const bool terminal = &out == &std::cout && ::isatty(STDOUT_FILENO) == 1;
  const bool bar = !quiet && (progress_mode == "bar" || (progress_mode == "auto" && terminal));
  StepWatcher steps(out_dir.empty() ? std::string() : (fs::path(out_dir) / "steps.csv").string(), log_every,
                    !resume_dir.empty(), bar ? &log : nullptr, c.epochs);
  c.callbacks.push_back(&steps);
  StopOnSignal stop_on_signal(c.communicator);  // SIGINT/SIGTERM: stop after the step (stop_signal.hpp)
  c.callbacks.push_back(&stop_on_signal);

  auto on_epoch = [&](const saddle::l0::EpochMetrics& m) {
    if (bar) steps.epoch_done(m);
    if (!quiet && !bar) {
      log << "epoch " << std::setw(3) << m.epoch << "/" << c.epochs << "  loss " << fixed(m.train_loss, 4)
          << "  train err " << percent(m.train_error) << "  test err " << percent(m.test_error) << "  density "
          << fixed(m.expected_density, 4) << " [";
      for (std::size_t l = 0; l < m.layer_densities.size(); ++l) log << (l ? " " : "") << fixed(m.layer_densities[l], 3);
      log << "]  test-time " << fixed(m.test_time_density, 4) << "  arch " << m.pruned_architecture << "  lambda "
          << format_list(m.multipliers) << "  " << fixed(m.seconds, 1) << "s\n";
      log.flush();
    }
    if (!metrics_path.empty()) {
      add_metrics_line(m);
      saddle::write_file_atomically(metrics_path, metrics_text);
    }
    return true;
  };
  auto on_restore = [&](const std::vector<saddle::l0::EpochMetrics>& history) {
    // A resumed run rewrites metrics.jsonl from the checkpoint's history, so an epoch that
    // was logged but not checkpointed before a kill is not listed twice.
    for (const auto& m : history) add_metrics_line(m);
    if (!metrics_path.empty()) saddle::write_file_atomically(metrics_path, metrics_text);
    if (!quiet) log << "resumed from " << c.resume_from << " after epoch " << history.size() << "\n";
  };
  require_setup_everywhere();
  saddle::l0::TrainResult result;
  try {
    begin_collective();
    result = saddle::l0::train(c, data, on_epoch, on_restore);
    end_collective();
  } catch (...) {
    steps.finish_bar();  // the error line must not be appended to the bar
    throw;
  }
  steps.finish_bar();
  if (stop_on_signal.stopped()) throw_training_stopped(out_dir, result.summary.epochs, stop_on_signal.iteration());
  const auto& f = result.final_metrics;
  const bool diverged = result.summary.termination == saddle::Termination::numerical_failure;

  if (!out_dir.empty()) {
    std::ostringstream s;
    JsonWriter j(s, 2);
    write_summary_json(j, c, dataset, formulation, result);
    saddle::write_file_atomically((fs::path(out_dir) / "summary.json").string(), s.str());  // WriteError: exit 4
    const std::string note = write_dynamics_plot(out_dir, result, c);
    if (!note.empty())
      err << "saddle: note: " << note << '\n';
    else if (!quiet && fs::exists(fs::path(out_dir) / "dynamics.png"))
      log << "plot: " << (fs::path(out_dir) / "dynamics.png").string() << '\n';
  }
  if (diverged) {
    // The solver stops at the first NaN or Inf (loss, constraint, gradient or multiplier)
    // and names it in its message; checkpoints are only written at epoch ends, before it.
    std::string checkpoint;
    if (c.checkpoint_path.empty()) {
      checkpoint = "none (no --out)";
    } else if (!fs::exists(c.checkpoint_path)) {
      checkpoint = "none (the run diverged in its first epoch)";
    } else {
      checkpoint = c.checkpoint_path;
      const auto& last = result.history.empty() ? f : result.history.back();
      if (!std::isfinite(last.expected_density) || !std::isfinite(last.train_loss) ||
          (!std::isnan(last.test_error) && !std::isfinite(last.test_loss)))
        checkpoint += " (epoch " + std::to_string(last.epoch) + ": its metrics are already not finite)";
      else
        checkpoint += " (epoch " + std::to_string(last.epoch) + ")";
    }
    if (json) {
      JsonWriter j(out, 2);
      write_summary_json(j, c, dataset, formulation, result);
    }
    print_error(err, "training diverged at epoch " + std::to_string(result.summary.epochs + 1) + ", iteration " +
                         std::to_string(result.summary.iterations + 1) + ": " + result.summary.message +
                         "; last good checkpoint: " + checkpoint);
    return kExitNumericalFailure;
  }
  if (json) {
    JsonWriter j(out, 2);
    write_summary_json(j, c, dataset, formulation, result);
  } else {
    out << "\nresult (" << saddle::to_string(result.summary.termination) << ", " << result.summary.epochs << " epochs, "
        << fixed(result.summary.seconds, 1) << " s)\n";
    out << "  test error          " << percent(f.test_error) << "   (best " << percent(result.best_test_error)
        << " at epoch " << result.best_epoch << ")\n";
    out << "  expected density    " << fixed(f.expected_density, 4);
    if (c.penalties.empty()) {
      out << "   targets:";
      for (std::size_t k = 0; k < result.group_names.size(); ++k)
        out << ' ' << result.group_names[k] << " <= " << format_number(result.group_targets[k]);
    }
    if (c.penalties.empty()) {
      out << "\n  constraints         " << (constraints_met(f) ? "met" : "NOT met") << ":";
      for (std::size_t k = 0; k < result.group_names.size() && k < f.constraint_values.size(); ++k) {
        const double measure = f.constraint_values[k] + result.group_targets[k];
        out << ' ' << result.group_names[k] << ' ' << fixed(measure, 4)
            << (f.constraint_values[k] <= 0.0 ? " <= " : " > ") << format_number(result.group_targets[k]);
      }
    }
    out << "\n  layer densities    ";
    for (std::size_t l = 0; l < f.layer_densities.size(); ++l)
      out << ' ' << result.layer_names[l] << ' ' << fixed(f.layer_densities[l], 4);
    out << "\n  test-time density   " << fixed(f.test_time_density, 4) << "\n  pruned architecture " << f.pruned_architecture
        << "\n  purged params       " << f.purged_params << " of " << result.dense_params << " ("
        << percent(static_cast<double>(f.purged_params) / static_cast<double>(result.dense_params)) << ")"
        << "\n  purged MACs         " << f.purged_macs << " of " << result.dense_macs << " ("
        << percent(static_cast<double>(f.purged_macs) / static_cast<double>(result.dense_macs)) << ")"
        << "\n  multipliers         " << format_list(f.multipliers) << '\n';
  }
  return kExitOk;
}

}  // namespace

int run_train(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return guarded(err, "train", [&] { return train_body(args, out, err); });
}

}  // namespace saddle::cli
