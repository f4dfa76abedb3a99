// `saddle compare`: one density-target experiment run with several solver variants over
// several seeds (child `saddle train` processes, --jobs at once), summarised as a table
// (terminal, markdown, CSV) of mean ± 95 % CI per variant and a PNG of the density and
// multiplier trajectories (gnuplot).

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "compare_problem.hpp"
#include "experiments.hpp"

namespace saddle::cli {
namespace {

namespace fs = std::filesystem;
namespace ex = experiments;
using ex::Variant;
using ex::variants;
using ex::variant_names;

// Forwards and backwards per step are the same for every seed: shown without an interval.
constexpr double kNoCi = std::numeric_limits<double>::quiet_NaN();

po::options_description compare_options() {
  po::options_description own("Comparison", 100, 50);
  own.add_options()
      ("variants", po::value<std::string>()->value_name("A,B,..")->default_value("all"), "solver variants to run "
       "(see the list below)")
      ("target-density", po::value<std::string>()->value_name("X"), "model-level target: expected density <= X "
       "[default: 0.33]")
      ("layer-densities", po::value<std::string>()->value_name("A,B,.."), "layer-level targets, one per gated layer")
      ("penalty-lambda", po::value<std::string>()->value_name("L[,L..]")->default_value("0.03"), "fixed multiplier(s) "
       "of the penalized variant (train --l0-penalty); 0.03 is about the final multiplier of the MLP at density 0.33 "
       "(docs/results.md)");
  po::options_description all("saddle compare options", 100, 50);
  all.add(own).add(ex::shared_options());
  return all;
}

std::string list_text(const std::vector<double>& values) {
  std::string s;
  for (std::size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + format_number(values[i]);
  return s;
}

std::string join_args(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

int compare_body(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (is_problem_compare(args)) return compare_problem_body(args, out, err);
  const auto options = compare_options();
  const auto vm = parse_arguments(args, options);
  if (vm["help"].as<bool>()) {
    out << "usage: saddle compare --out DIR [--variants A,B,..] [--target-density X | --layer-densities A,B,..] "
           "[options]\n\nRuns one experiment with several solver variants over several seeds and tabulates mean ± "
           "95% CI\nof the final test error, expected density, worst constraint violation, forwards and backwards\n"
           "per step and wall time (DIR/compare.md, DIR/compare.csv), and plots the density and multiplier\n"
           "trajectories (DIR/compare.png, with gnuplot).\n\n"
           "With --problem NAME [--plugin FILE] it compares solver variants on any problem instead (see\n"
           "'saddle compare --problem NAME --help').\n\n"
        << options << "\nvariants:\n";
    for (const auto& v : variants()) {
      std::string name = v.name;
      name.resize(std::max<std::size_t>(name.size() + 1, 29), ' ');
      out << "  " << name << v.description << "  [train " << (v.penalized ? "--l0-penalty L" : join_args(v.flags))
          << "]\n";
    }
    return kExitOk;
  }
  const auto shared = ex::read_shared(vm);

  // Variants.
  std::vector<const Variant*> chosen;
  const std::string variant_text = vm["variants"].as<std::string>();
  if (variant_text == "all") {
    for (const auto& v : variants()) chosen.push_back(&v);
  } else {
    std::istringstream in(variant_text);
    for (std::string name; std::getline(in, name, ',');) {
      name.erase(0, name.find_first_not_of(' '));
      name.erase(name.find_last_not_of(' ') + 1);
      const auto it = std::find_if(variants().begin(), variants().end(), [&](const Variant& v) { return name == v.name; });
      if (it == variants().end())
        throw UsageError("unknown variant '" + name + "' (choices: all, " + join(variant_names()) + ")");
      if (std::find(chosen.begin(), chosen.end(), &*it) != chosen.end())
        throw UsageError("--variants names '" + name + "' twice");
      chosen.push_back(&*it);
    }
    if (variant_text.empty() || variant_text.back() == ',')
      throw UsageError("--variants = '" + variant_text + "': expected comma-separated names");
  }

  // Targets (the penalized variant has none, but its violation is measured against them).
  if (given(vm, "target-density") && given(vm, "layer-densities"))
    throw UsageError("give only one of --target-density, --layer-densities");
  double model_target = 0.33;
  std::vector<double> layer_targets;
  std::vector<std::string> target_flags;
  std::string target_text;
  if (given(vm, "layer-densities")) {
    model_target = 0.0;
    layer_targets = parse_double_list("--layer-densities", vm["layer-densities"].as<std::string>());
    if (layer_targets.size() != shared.gated_layers)
      throw UsageError("--layer-densities has " + std::to_string(layer_targets.size()) + " values: the model has " +
                       std::to_string(shared.gated_layers) + " gated layers");
    ex::check_densities("--layer-densities", layer_targets);
    target_flags = {"--layer-densities", list_text(layer_targets)};
    target_text = "layer densities <= " + list_text(layer_targets);
  } else {
    if (given(vm, "target-density")) model_target = parse_double("--target-density", vm["target-density"].as<std::string>());
    ex::check_densities("--target-density", {model_target});
    target_flags = {"--target-density", format_number(model_target)};
    target_text = "model density <= " + format_number(model_target);
  }
  const auto lambdas = parse_double_list("--penalty-lambda", vm["penalty-lambda"].as<std::string>());
  if (lambdas.size() != 1 && lambdas.size() != shared.gated_layers)
    throw UsageError("--penalty-lambda has " + std::to_string(lambdas.size()) + " values: give 1 or " +
                     std::to_string(shared.gated_layers) + " (one per gated layer)");
  for (const double l : lambdas)
    if (!(l >= 0.0) || !std::isfinite(l)) throw UsageError("--penalty-lambda value " + format_number(l) + ": must be >= 0");

  ex::start_runs(shared, "compare", args);

  // One job per (seed, variant); seeds outermost so that early results cover every variant.
  std::vector<ex::Job> jobs;
  std::vector<std::vector<std::string>> variant_flags;
  for (const Variant* v : chosen) {
    std::vector<std::string> flags = v->penalized ? std::vector<std::string>{"--l0-penalty", list_text(lambdas)} : target_flags;
    if (!v->penalized) flags.insert(flags.end(), v->flags.begin(), v->flags.end());
    if (shared.overwrite) flags.push_back("--overwrite");
    variant_flags.push_back(flags);
  }
  for (const auto seed : shared.seeds)
    for (std::size_t k = 0; k < chosen.size(); ++k)
      jobs.push_back(ex::make_job(shared.out_dir, chosen[k]->name, seed, shared.train_args, variant_flags[k]));
  if (!shared.quiet)
    err << "saddle compare: " << chosen.size() << " variants x " << shared.seeds.size() << " seeds = " << jobs.size()
        << " runs, " << shared.jobs << " at a time, in " << shared.out_dir << "\n";
  if (!ex::execute_runs(jobs, shared, shared.quiet ? nullptr : &err)) return kExitOk;  // another rank tabulates

  const int code = ex::combined_exit_code(jobs);
  if (std::all_of(jobs.begin(), jobs.end(), [](const ex::Job& j) { return j.exit_code == kExitUsage; })) {
    // Every run was refused: it is the shared configuration, not a variant. Report train's
    // message as ours.
    const auto o = ex::read_outcome(jobs.front(), model_target, layer_targets);
    throw UsageError(o.status.rfind("exit 2: ", 0) == 0 ? o.status.substr(8) : "every run failed: " + o.status);
  }

  // Aggregate per variant.
  std::vector<ex::GroupStats> stats;
  for (const Variant* v : chosen) {
    std::vector<ex::RunOutcome> outcomes;
    for (const ex::Job* j : ex::jobs_of_group(jobs, v->name))
      outcomes.push_back(ex::read_outcome(*j, model_target, layer_targets));
    stats.push_back(ex::aggregate(outcomes));
  }

  ex::Table table;
  table.header = {"variant", "runs", "test error %", "density", "worst violation", "fwd/step", "bwd/step", "wall s", "status"};
  table.numeric = {false, true, true, true, true, true, true, true, false};
  ex::Table csv;
  csv.header = {"variant", "train_flags", "runs", "ok_runs", "test_error_mean", "test_error_ci95",
                "expected_density_mean", "expected_density_ci95", "worst_violation_mean", "worst_violation_ci95",
                "forwards_per_step_mean", "forwards_per_step_ci95", "backwards_per_step_mean",
                "backwards_per_step_ci95", "wall_seconds_mean", "wall_seconds_ci95", "status"};
  for (std::size_t k = 0; k < chosen.size(); ++k) {
    const auto& g = stats[k];
    table.rows.push_back({chosen[k]->name, std::to_string(g.ok) + "/" + std::to_string(g.runs),
                          ex::format_mean_ci(g.test_error, 2, 100.0), ex::format_mean_ci(g.expected_density, 4),
                          ex::format_mean_ci(g.worst_violation, 4), ex::format_mean_ci(ex::MeanCi{g.forwards_per_step.mean, kNoCi, g.forwards_per_step.n}, 2),
                          ex::format_mean_ci(ex::MeanCi{g.backwards_per_step.mean, kNoCi, g.backwards_per_step.n}, 2),
                          ex::format_mean_ci(g.seconds, 1), g.status});
    std::vector<std::string> flags = variant_flags[k];
    flags.erase(std::remove(flags.begin(), flags.end(), "--overwrite"), flags.end());
    csv.rows.push_back({chosen[k]->name, join_args(flags), std::to_string(g.runs), std::to_string(g.ok),
                        ex::csv_number(g.test_error.mean), ex::csv_number(g.test_error.ci95),
                        ex::csv_number(g.expected_density.mean), ex::csv_number(g.expected_density.ci95),
                        ex::csv_number(g.worst_violation.mean), ex::csv_number(g.worst_violation.ci95),
                        ex::csv_number(g.forwards_per_step.mean), ex::csv_number(g.forwards_per_step.ci95),
                        ex::csv_number(g.backwards_per_step.mean), ex::csv_number(g.backwards_per_step.ci95),
                        ex::csv_number(g.seconds.mean), ex::csv_number(g.seconds.ci95), g.status});
  }
  std::string seeds_text;
  for (const auto s : shared.seeds) seeds_text += (seeds_text.empty() ? "" : ",") + std::to_string(s);
  const std::string experiment = join_args(shared.train_args);
  const std::string heading = "target: " + target_text + "; seeds " + seeds_text +
                              (experiment.empty() ? std::string() : "; train flags: " + experiment);
  const std::string legend =
      "mean ± 95% CI half-width (Student t, n-1 degrees of freedom) over the runs that finished; test error and "
      "density at the last epoch; worst violation = largest max(0, density - target) over the targets; wall s = "
      "training time of one run";
  const fs::path dir(shared.out_dir);
  write_text((dir / "compare.md").string(), "# saddle compare\n\n" + heading + "\n\n" + ex::render_markdown(table) +
                                                    "\n" + legend + ".\n");
  write_text((dir / "compare.csv").string(), ex::render_csv(csv));
  out << heading << "\n\n" << ex::render_terminal(table) << "\n(" << legend << ")\n";

  // Trajectories: a data file per variant and a two-panel gnuplot script.
  fs::create_directories(dir / "plot");
  std::string density_plot, multiplier_plot;
  for (std::size_t k = 0; k < chosen.size(); ++k) {
    if (stats[k].curve.empty()) continue;
    std::string dat = "# epoch  expected_density  largest_multiplier  test_error (means over the finished seeds)\n";
    for (const auto& p : stats[k].curve)
      dat += ex::dat_number(p.epoch) + " " + ex::dat_number(p.expected_density) + " " + ex::dat_number(p.max_multiplier) +
             " " + ex::dat_number(p.test_error) + "\n";
    const std::string file = std::string("plot/") + chosen[k]->name + ".dat";
    write_text((dir / file).string(), dat);
    const std::string style = " with linespoints lw 2 pt 7 ps 0.4 lc " + std::to_string(k + 1) + " title '" +
                              chosen[k]->name + "'";
    density_plot += (density_plot.empty() ? "" : ", \\\n     ") + ("'" + file + "' using 1:2" + style);
    multiplier_plot += (multiplier_plot.empty() ? "" : ", \\\n     ") + ("'" + file + "' using 1:3" + style);
  }
  if (density_plot.empty()) {
    err << "saddle compare: no run finished, no plot\n";
  } else {
    if (model_target > 0.0)
      density_plot += ", \\\n     " + format_number(model_target) + " with lines dt 2 lw 1 lc 'black' title 'target'";
    std::string gp = "# gnuplot script written by saddle compare; run: gnuplot compare.gp (in this folder)\n"
                     "set terminal pngcairo size 1100,900 font ',11' noenhanced\n"
                     "set output 'compare.png'\n"
                     "set multiplot layout 2,1 title 'saddle compare: " + target_text + " (mean over seeds " +
                     seeds_text + ")'\n"
                     "set grid\nset key outside right top\nset xlabel 'epoch'\nset format y '%g'\n"
                     "set lmargin at screen 0.08\nset rmargin at screen 0.74\n"
                     "set offsets 0, 0, graph 0.05, graph 0.05\n"
                     "set ylabel 'expected density (model)'\n"
                     "plot " + density_plot + "\n"
                     "unset key\nset offsets 0, 0, graph 0.05, 0\nset yrange [0:*]\n"
                     "set ylabel 'multiplier" + std::string(layer_targets.empty() ? "" : " (largest over the layers)") +
                     "'\n"
                     "plot " + multiplier_plot + "\n"
                     "unset multiplot\n";
    write_text((dir / "compare.gp").string(), gp);
    const std::string note = ex::run_gnuplot((dir / "compare.gp").string(), (dir / "compare.png").string(), shared.out_dir);
    if (!note.empty()) err << "saddle compare: " << note << "\n";
  }
  out << "\nwritten: " << (dir / "compare.md").string() << ", " << (dir / "compare.csv").string()
      << (fs::exists(dir / "compare.png") ? ", " + (dir / "compare.png").string() : std::string()) << "\n";
  return code;
}

}  // namespace

int run_compare(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return guarded(err, "compare", [&] { return compare_body(args, out, err); });
}

}  // namespace saddle::cli
