// The outputs of a `saddle train` run (train_outputs.hpp).
#include "train_outputs.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "cli_common.hpp"
#include "gnuplot.hpp"
#include "saddle/atomic_file.hpp"
#include "saddle/solver.hpp"

namespace saddle::cli {

namespace fs = std::filesystem;
using saddle::l0::TrainConfig;

Json epoch_json(const saddle::l0::EpochMetrics& m) {
  Json j;
  j["epoch"] = m.epoch;
  j["train_loss"] = m.train_loss;
  j["train_error"] = m.train_error;
  j["test_loss"] = m.test_loss;
  j["test_error"] = m.test_error;
  j["expected_density"] = m.expected_density;
  j["layer_densities"] = number_array(m.layer_densities);
  j["constraint_values"] = number_array(m.constraint_values);
  j["test_time_density"] = m.test_time_density;
  j["pruned_architecture"] = m.pruned_architecture;
  j["purged_params"] = m.purged_params;
  j["purged_macs"] = m.purged_macs;
  j["multipliers"] = number_array(m.multipliers);
  j["seconds"] = m.seconds;
  j["train_seconds"] = m.train_seconds;  // NaN (null) for epochs restored from a checkpoint
  return j;
}

bool constraints_met(const saddle::l0::EpochMetrics& m) {
  for (const double v : m.constraint_values)
    if (!(v <= 0.0)) return false;
  return true;
}

Json summary_json(const TrainConfig& c, const std::string& dataset, const std::string& formulation,
                  const saddle::l0::TrainResult& r) {
  const auto& f = r.final_metrics;
  Json j;
  j["model"] = saddle::l0::to_string(c.architecture);
  j["dataset"] = dataset;
  j["solver"] = c.solver;
  j["formulation"] = c.penalties.empty() ? formulation : std::string("fixed-penalty");
  j["dual_restarts"] = c.solver_options.dual_restarts && c.penalties.empty();
  j["groups"] = r.group_names;
  j["targets"] = number_array(r.group_targets);
  j["penalties"] = number_array(c.penalties);
  j["seed"] = c.seed;
  j["termination"] = saddle::to_string(r.summary.termination);
  j["message"] = r.summary.message;
  j["epochs"] = r.summary.epochs;
  j["iterations"] = r.summary.iterations;
  j["test_error"] = f.test_error;
  j["best_test_error"] = r.best_test_error;
  j["best_epoch"] = r.best_epoch;
  j["train_loss"] = f.train_loss;
  j["expected_density"] = f.expected_density;
  j["layer_names"] = r.layer_names;
  j["layer_densities"] = number_array(f.layer_densities);
  j["constraint_values"] = number_array(f.constraint_values);
  if (c.penalties.empty())
    j["constraints_met"] = constraints_met(f);
  else
    j["constraints_met"] = nullptr;  // penalized L0: no constraint
  j["test_time_density"] = f.test_time_density;
  j["pruned_architecture"] = f.pruned_architecture;
  j["purged_params"] = f.purged_params;
  j["purged_macs"] = f.purged_macs;
  j["dense_params"] = r.dense_params;
  j["dense_macs"] = r.dense_macs;
  j["multipliers"] = number_array(f.multipliers);
  j["forwards"] = r.summary.forwards;
  j["backwards"] = r.summary.backwards;
  j["seconds"] = r.summary.seconds;
  return j;
}

// --- training-dynamics plot (Figure 1 of Gallego-Posada et al. 2021) -----------------

namespace {

// "model density <= 0.33", "densities fc1 <= 0.5, ..." or "fixed L0 penalty (0.1)" for a plot
// title.
std::string title_targets(const saddle::l0::TrainResult& r, const TrainConfig& c) {
  if (!c.penalties.empty()) return "fixed L0 penalty " + format_list(c.penalties);
  std::string s = "density";
  for (std::size_t g = 0; g < r.group_names.size(); ++g)
    s += (g ? ", " : " ") + r.group_names[g] + " <= " + format_number(r.group_targets[g]);
  return s;
}

}  // namespace

std::string write_dynamics_plot(const fs::path& dir, const saddle::l0::TrainResult& r,
                                const TrainConfig& c) {
  const auto& history = r.history;
  if (history.empty()) return "";
  const std::size_t layers = r.layer_names.size();
  const std::size_t groups = history.front().multipliers.size();
  {
    std::ostringstream dat;
    dat << "# epoch density_model";
    for (const auto& l : r.layer_names) dat << " density_" << l;
    dat << " test_error_pct train_error_pct";
    for (std::size_t g = 0; g < groups; ++g)
      dat << " lambda_" << (g < r.group_names.size() ? r.group_names[g] : std::to_string(g));
    dat << " test_time_density\n";
    dat.precision(8);
    for (const auto& m : history) {
      dat << m.epoch << ' ' << m.expected_density;
      for (std::size_t l = 0; l < layers; ++l)
        dat << ' ' << (l < m.layer_densities.size() ? m.layer_densities[l] : 0.0);
      if (std::isfinite(m.test_error))
        dat << ' ' << 100.0 * m.test_error;
      else
        dat << " ?";  // not evaluated this epoch (--eval-every): gnuplot's missing value
      dat << ' ' << (std::isfinite(m.train_error) ? 100.0 * m.train_error : 0.0);
      for (std::size_t g = 0; g < groups; ++g)
        dat << ' ' << (g < m.multipliers.size() ? m.multipliers[g] : 0.0);
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
          "# Draws dynamics.png from dynamics.dat next to this script:  gnuplot "
       << (dir / "dynamics.gp").string()
       << "\n"
          "script = ARG0\n"
          "do for [i = strlen(script):1:-1] { if (script[i:i] eq \"/\") { cd script[1:i]; break } "
          "}\n"
          "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) { set terminal pngcairo size 900,1050 "
          "font \"sans,10\" } "
          "else { set terminal png size 900,1050 }\n"
          "set output \"dynamics.png\"\n"
          "set datafile missing \"?\"\n"
          "set key outside right top\n"
          "set grid\n"
          "set xrange [0:"
       << std::max<std::size_t>(history.back().epoch, c.epochs)
       << "]\n"
          "set lmargin 10\nset rmargin 26\n"
          "set multiplot layout 3,1 title \""
       << saddle::l0::to_string(c.architecture) << ", " << title_targets(r, c) << ", solver "
       << c.solver << ", seed " << c.seed << "\"\n";
    // Panel 1: densities and targets.
    gp << "set ylabel \"expected density\"\nset yrange [0:1.05]\nunset xlabel\n";
    gp << "plot \"dynamics.dat\" using 1:2 with lines lw 2.5 lc rgb \"black\" title \"model\"";
    static const char* const kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c",
                                          "#d62728", "#9467bd", "#8c564b"};
    for (std::size_t l = 0; l < layers; ++l)
      gp << ", \"\" using 1:" << 3 + l << " with lines lw 1.5 lc rgb \"" << kColors[l % 6]
         << "\" title \"" << r.layer_names[l] << "\"";
    if (!penalized) {
      for (std::size_t g = 0; g < r.group_names.size(); ++g) {
        std::string color = "black";
        for (std::size_t l = 0; l < layers; ++l)
          if (r.layer_names[l] == r.group_names[g]) color = kColors[l % 6];
        gp << ", " << format_number(r.group_targets[g]) << " with lines dt 2 lw 1.5 lc rgb \""
           << color << "\" title \"target " << r.group_names[g] << "\"";
      }
    }
    gp << '\n';
    // Panel 2: multipliers.
    const std::size_t lambda0 = 3 + layers + 2;
    gp << "set ylabel \"" << (penalized ? "penalty (fixed)" : "multiplier")
       << "\"\nset yrange [0:*]\n";
    gp << "plot ";
    for (std::size_t g = 0; g < groups; ++g) {
      std::string color = "black";
      const std::string name = g < r.group_names.size() ? r.group_names[g] : std::to_string(g);
      for (std::size_t l = 0; l < layers; ++l)
        if (r.layer_names[l] == name) color = kColors[l % 6];
      gp << (g ? ", " : "") << "\"dynamics.dat\" using 1:" << lambda0 + g
         << " with lines lw 2 lc rgb \"" << color << "\" title \"lambda " << name << "\"";
    }
    gp << '\n';
    // Panel 3: errors.
    gp << "set ylabel \"error (%, log scale)\"\nset xlabel \"epoch\"\nset autoscale y\nset "
          "logscale y\n"
          "set format y \"%g\"\n"
       << "plot \"dynamics.dat\" using 1:" << 3 + layers
       << " with lines lw 2 lc rgb \"#d62728\" "
          "title \"test (test-time gates)\", \"\" using 1:"
       << 4 + layers << " with lines lw 1 dt 3 lc rgb \"gray40\" title \"train (sampled gates)\"\n";
    gp << "unset multiplot\n";
    try {
      saddle::write_file_atomically((dir / "dynamics.gp").string(), gp.str());
    } catch (const saddle::WriteError& e) {
      return e.what();
    }
  }
  const std::string script = (dir / "dynamics.gp").string();
  const std::string log = (dir / "dynamics.log").string();
  switch (run_gnuplot_script(script, (dir / "dynamics.png").string(), dir.string(), log)) {
    case GnuplotResult::drawn:
      return "";
    case GnuplotResult::not_found:
      return "gnuplot not found: apt-get install gnuplot-nox, then run: gnuplot " + script;
    case GnuplotResult::not_started:
      return "cannot start gnuplot; run: gnuplot " + script;
    case GnuplotResult::failed:
      break;
  }
  return "gnuplot failed on " + script + " (see " + log + ")";
}

}  // namespace saddle::cli
