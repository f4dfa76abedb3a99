// `saddle sweep`: one solver variant trained to a list of target densities (model level or
// layer level), several seeds each (child `saddle train` processes, --jobs at once); a table
// of achieved density and final test error per target (mean ± 95 % CI) and a PNG of error
// against achieved density (Figure 2 of Gallego-Posada et al. 2021). Optionally a penalized
// series (fixed L0 penalties) on the same axes.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "experiments.hpp"

namespace saddle::cli {
namespace {

namespace fs = std::filesystem;
namespace ex = experiments;

po::options_description sweep_options() {
  po::options_description own("Sweep", 100, 50);
  own.add_options()
      ("target-densities", po::value<std::string>()->value_name("X,Y,.."), "model-level targets, one sweep point each")
      ("layer-densities", po::value<std::string>()->value_name("A,B,C;D,E,F"), "layer-level target sets (one value "
       "per gated layer), separated by ';' or '/'")
      ("variant", po::value<std::string>()->value_name("NAME")->default_value("gda"), "constrained solver variant "
       "(saddle compare --help lists them)")
      ("penalty-lambdas", po::value<std::string>()->value_name("L,L,.."), "also run the penalized baseline (train "
       "--l0-penalty) with each of these fixed multipliers, as a second series");
  po::options_description all("saddle sweep options", 100, 50);
  all.add(own).add(ex::shared_options());
  return all;
}

std::string list_text(const std::vector<double>& values, const char* separator = ",") {
  std::string s;
  for (std::size_t i = 0; i < values.size(); ++i) s += (i ? separator : "") + format_number(values[i]);
  return s;
}

/// One point of the sweep: a target (or a fixed penalty) and its runs.
struct Point {
  std::string series;  ///< variant name, or "penalized"
  std::string label;   ///< target(s) or lambda as text
  std::string group;   ///< run folder name under --out
  double model_target = 0.0;
  std::vector<double> layer_targets;
  std::vector<std::string> flags;
  ex::GroupStats stats;
};

int sweep_body(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const auto options = sweep_options();
  const auto vm = parse_arguments(args, options);
  if (vm["help"].as<bool>()) {
    out << "usage: saddle sweep --out DIR (--target-densities X,Y,.. | --layer-densities 'A,B,C;D,E,F') [options]\n\n"
           "Trains one solver variant to each target density over several seeds, tabulates achieved density\n"
           "and final test error (mean ± 95% CI, DIR/sweep.md, DIR/sweep.csv) and plots error against achieved\n"
           "density (DIR/sweep.png, with gnuplot).\n\n"
        << options << '\n';
    return kExitOk;
  }
  const auto shared = ex::read_shared(vm);
  const std::string variant_name = vm["variant"].as<std::string>();
  const auto& all = ex::variants();
  const auto it = std::find_if(all.begin(), all.end(), [&](const ex::Variant& v) { return variant_name == v.name && !v.penalized; });
  if (it == all.end()) {
    std::vector<std::string> names;
    for (const auto& v : all)
      if (!v.penalized) names.emplace_back(v.name);
    throw UsageError("unknown --variant '" + variant_name + "' (choices: " + join(names) +
                     "; for penalized runs use --penalty-lambdas)");
  }

  std::vector<Point> points;
  const bool model_level = given(vm, "target-densities");
  if (model_level == given(vm, "layer-densities"))
    throw UsageError("give exactly one of --target-densities X,Y,.. and --layer-densities 'A,B,C;D,E,F'");
  if (model_level) {
    const auto targets = parse_double_list("--target-densities", vm["target-densities"].as<std::string>());
    ex::check_densities("--target-densities", targets);
    for (const double t : targets) {
      Point p;
      p.label = format_number(t);
      p.model_target = t;
      p.flags = {"--target-density", format_number(t)};
      points.push_back(p);
    }
  } else {
    for (const auto& set : ex::parse_density_sets("--layer-densities", vm["layer-densities"].as<std::string>(),
                                                  shared.gated_layers)) {
      Point p;
      p.label = list_text(set);
      p.layer_targets = set;
      p.flags = {"--layer-densities", list_text(set)};
      points.push_back(p);
    }
  }
  for (auto& p : points) {
    p.series = variant_name;
    p.group = (model_level ? "target-" : "layers-") + (model_level ? p.label : list_text(p.layer_targets, "_"));
    p.flags.insert(p.flags.end(), it->flags.begin(), it->flags.end());
  }
  if (given(vm, "penalty-lambdas")) {
    const auto lambdas = parse_double_list("--penalty-lambdas", vm["penalty-lambdas"].as<std::string>());
    for (const double l : lambdas) {
      if (!(l >= 0.0) || !std::isfinite(l)) throw UsageError("--penalty-lambdas value " + format_number(l) + ": must be >= 0");
      Point p;
      p.series = "penalized";
      p.label = "lambda=" + format_number(l);
      p.group = "penalty-" + format_number(l);
      p.flags = {"--l0-penalty", format_number(l)};
      points.push_back(p);
    }
  }
  for (std::size_t a = 0; a < points.size(); ++a)
    for (std::size_t b = a + 1; b < points.size(); ++b)
      if (points[a].group == points[b].group) throw UsageError("sweep point " + points[a].label + " is repeated");

  ex::start_runs(shared, "sweep", args);
  std::vector<ex::Job> jobs;
  for (const auto seed : shared.seeds)
    for (auto& p : points) {
      auto flags = p.flags;
      if (shared.overwrite) flags.push_back("--overwrite");
      jobs.push_back(ex::make_job(shared.out_dir, p.group, seed, shared.train_args, flags));
    }
  if (!shared.quiet)
    err << "saddle sweep: " << points.size() << " points x " << shared.seeds.size() << " seeds = " << jobs.size()
        << " runs, " << shared.jobs << " at a time, in " << shared.out_dir << "\n";
  if (!ex::execute_runs(jobs, shared, shared.quiet ? nullptr : &err)) return kExitOk;  // another rank tabulates
  const int code = ex::combined_exit_code(jobs);
  if (std::all_of(jobs.begin(), jobs.end(), [](const ex::Job& j) { return j.exit_code == kExitUsage; })) {
    const auto o = ex::read_outcome(jobs.front(), 0.0, {});
    throw UsageError(o.status.rfind("exit 2: ", 0) == 0 ? o.status.substr(8) : "every run failed: " + o.status);
  }

  for (auto& p : points) {
    std::vector<ex::RunOutcome> outcomes;
    for (const ex::Job* j : ex::jobs_of_group(jobs, p.group)) {
      auto o = ex::read_outcome(*j, p.model_target, p.layer_targets);
      if (p.series == "penalized") o.worst_violation = std::numeric_limits<double>::quiet_NaN();  // no target
      outcomes.push_back(o);
    }
    p.stats = ex::aggregate(outcomes);
  }

  ex::Table table;
  table.header = {"series", "target", "runs", "achieved density", "test error %", "worst violation", "wall s", "status"};
  table.numeric = {false, false, true, true, true, true, true, false};
  ex::Table csv;
  csv.header = {"series", "target", "runs", "ok_runs", "expected_density_mean", "expected_density_ci95",
                "test_error_mean", "test_error_ci95", "worst_violation_mean", "worst_violation_ci95",
                "wall_seconds_mean", "wall_seconds_ci95", "status"};
  for (const auto& p : points) {
    const auto& g = p.stats;
    table.rows.push_back({p.series, p.label, std::to_string(g.ok) + "/" + std::to_string(g.runs),
                          ex::format_mean_ci(g.expected_density, 4), ex::format_mean_ci(g.test_error, 2, 100.0),
                          ex::format_mean_ci(g.worst_violation, 4), ex::format_mean_ci(g.seconds, 1), g.status});
    csv.rows.push_back({p.series, p.label, std::to_string(g.runs), std::to_string(g.ok),
                        ex::csv_number(g.expected_density.mean), ex::csv_number(g.expected_density.ci95),
                        ex::csv_number(g.test_error.mean), ex::csv_number(g.test_error.ci95),
                        ex::csv_number(g.worst_violation.mean), ex::csv_number(g.worst_violation.ci95),
                        ex::csv_number(g.seconds.mean), ex::csv_number(g.seconds.ci95), g.status});
  }
  std::string seeds_text;
  for (const auto s : shared.seeds) seeds_text += (seeds_text.empty() ? "" : ",") + std::to_string(s);
  std::string experiment;
  for (const auto& a : shared.train_args) experiment += (experiment.empty() ? "" : " ") + a;
  const std::string heading = std::string(model_level ? "model-level" : "layer-level") + " targets, variant " +
                              variant_name + "; seeds " + seeds_text +
                              (experiment.empty() ? std::string() : "; train flags: " + experiment);
  const std::string legend =
      "mean ± 95% CI half-width (Student t, n-1 degrees of freedom) over the runs that finished; achieved density = "
      "final expected model density; worst violation = largest max(0, density - target) over the targets";
  const fs::path dir(shared.out_dir);
  write_text((dir / "sweep.md").string(),
                 "# saddle sweep\n\n" + heading + "\n\n" + ex::render_markdown(table) + "\n" + legend + ".\n");
  write_text((dir / "sweep.csv").string(), ex::render_csv(csv));
  out << heading << "\n\n" << ex::render_terminal(table) << "\n(" << legend << ")\n";

  // Error against achieved density, one data file per series (gnuplot skips NaN rows).
  fs::create_directories(dir / "plot");
  std::string plot;
  int colour = 1;
  for (const std::string& series : {variant_name, std::string("penalized")}) {
    std::vector<const Point*> members;
    for (const auto& p : points)
      if (p.series == series && p.stats.ok > 0) members.push_back(&p);
    if (members.empty()) continue;
    std::sort(members.begin(), members.end(), [](const Point* a, const Point* b) {
      return a->stats.expected_density.mean < b->stats.expected_density.mean;
    });
    std::string dat = "# label  density_mean  density_ci95  test_error_percent_mean  test_error_percent_ci95  "
                      "worst_violation (ci 0 when a single run)\n";
    auto zero_nan = [](double v) { return std::isnan(v) ? 0.0 : v; };
    for (const Point* p : members)
      dat += (series == "penalized" ? p->label : (model_level ? "target=" : "targets=") + p->label) + " " + ex::dat_number(p->stats.expected_density.mean) + " " +
             ex::dat_number(zero_nan(p->stats.expected_density.ci95)) + " " +
             ex::dat_number(100.0 * p->stats.test_error.mean) + " " +
             ex::dat_number(100.0 * zero_nan(p->stats.test_error.ci95)) + " " +
             ex::dat_number(p->stats.worst_violation.mean) + "\n";
    const std::string file = "plot/" + series + ".dat";
    write_text((dir / file).string(), dat);
    const std::string lc = " lc " + std::to_string(colour++);
    if (!plot.empty()) plot += ", \\\n     ";
    plot += "'" + file + "' using 2:4:3:5 with xyerrorbars pt 7 ps 0.8" + lc + " title '" + series +
            (series == "penalized" ? " (fixed lambda)" : " (targets)") + "', \\\n     '" + file +
            "' using 2:4 with lines lw 2" + lc + " notitle, \\\n     '" + file +
            "' using 2:4:1 with labels offset char 1," + (series == "penalized" ? "-1" : "1") + " font ',9' notitle";
  }
  if (plot.empty()) {
    err << "saddle sweep: no run finished, no plot\n";
  } else {
    const std::string gp = "# gnuplot script written by saddle sweep; run: gnuplot sweep.gp (in this folder)\n"
                           "set terminal pngcairo size 1000,700 font ',11' noenhanced\n"
                           "set output 'sweep.png'\n"
                           "set title 'saddle sweep: final test error against achieved density (" +
                           std::string(model_level ? "model" : "layer") + "-level targets, mean ± 95% CI over seeds " +
                           seeds_text + ")'\n"
                           "set grid\nset key top right\nset xlabel 'achieved expected density (model)'\n"
                           "set ylabel 'test error (%)'\nset format y '%g'\nset offsets graph 0.05, graph 0.05, "
                           "graph 0.1, graph 0.1\n"
                           "plot " + plot + "\n";
    write_text((dir / "sweep.gp").string(), gp);
    const std::string note = ex::run_gnuplot((dir / "sweep.gp").string(), (dir / "sweep.png").string(), shared.out_dir);
    if (!note.empty()) err << "saddle sweep: " << note << "\n";
  }
  out << "\nwritten: " << (dir / "sweep.md").string() << ", " << (dir / "sweep.csv").string()
      << (fs::exists(dir / "sweep.png") ? ", " + (dir / "sweep.png").string() : std::string()) << "\n";
  return code;
}

}  // namespace

int run_sweep(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return guarded(err, "sweep", [&] { return sweep_body(args, out, err); });
}

}  // namespace saddle::cli
