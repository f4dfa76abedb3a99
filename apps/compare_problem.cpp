// `saddle compare --problem NAME [--plugin FILE]`: solver variants on any problem (built-in
// or plugin) over seeds. Each run is a child `saddle solve ... --seed S --out RUN` process
// (run_jobs of jobs.cpp, --jobs at once) that writes summary.json and trajectory.csv;
// the table (terminal, markdown, CSV) holds mean ± 95 % CI per variant, and gnuplot draws
// the violation and multiplier trajectories of every run.

#include "compare_problem.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "experiments.hpp"
#include "json_io.hpp"
#include "problem_catalog.hpp"
#include "saddle/solver.hpp"
#include "saddle/solvers.hpp"
#include "solver_flags.hpp"

namespace saddle::cli {
namespace {

namespace fs = std::filesystem;
namespace ex = experiments;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Trajectory points kept per run for the plot (every k-th logged step).
constexpr std::size_t kMaxPlotPoints = 2000;
// Violations are plotted on a log axis, floored here (a feasible point has violation 0).
constexpr double kViolationFloor = 1e-16;

// clang-format off
// Flags copied verbatim to every child `saddle solve` when given (solve validates them).
const std::vector<std::string>& solve_passthrough_flags() {
  static const std::vector<std::string> flags = [] {
    std::vector<std::string> f = {"problem-args", "iterations", "epochs", "batch", "tolerance", "feasibility-tolerance"};
    const auto& solver = valued_solver_flags();  // solver_flags.hpp
    f.insert(f.end(), solver.begin(), solver.end());
    f.insert(f.end(), {"multipliers", "log-every"});
    return f;
  }();
  return flags;
}

po::options_description problem_compare_options() {
  po::options_description own("Problem and variants", 100, 50);
  own.add_options()
      ("problem", po::value<std::string>()->value_name("NAME"), "problem to compare on (built-in, or from --plugin)")
      ("plugin", po::value<std::string>()->value_name("FILE"), "shared library with more problems (docs/plugins.md)")
      ("problem-args", po::value<std::string>()->value_name("K=V,.."), "settings for the problem's factory")
      ("variants", po::value<std::string>()->value_name("A,B,..")->default_value("all"),
       "solver variants: SCHEME[+restarts][+FORMULATION] (see below)");
  po::options_description solver("Solver settings (passed to every `saddle solve` run) [default: the problem's]",
                                 100, 50);
  solver.add_options()
      ("iterations", po::value<std::string>()->value_name("N"), "step limit")
      ("epochs", po::value<std::string>()->value_name("N"), "epoch limit (stochastic problems)")
      ("batch", po::value<std::string>()->value_name("N"), "minibatch size (stochastic problems)")
      ("tolerance", po::value<std::string>()->value_name("X"), "convergence tolerance (0 = run to the limit)")
      ("feasibility-tolerance", po::value<std::string>()->value_name("X"), "largest violation accepted for convergence");
  add_solver_flags(solver, solver, SolverFlagSet::valued_only);  // the variants choose the restarts
  solver.add_options()
      ("multipliers", po::value<std::string>()->value_name("A,B,.."), "initial multipliers")
      ("log-every", po::value<std::string>()->value_name("N"), "trajectory row every N steps [default: 1]");
  po::options_description all("saddle compare --problem options", 100, 50);
  all.add(own).add(solver).add(ex::run_options());
  return all;
}
// clang-format on

// --- variants ---

struct ProblemVariant {
  std::string name;
  std::string scheme;
  std::string formulation = "lagrangian";
  bool restarts = false;
  std::vector<std::string> flags() const {
    std::vector<std::string> f = {"--solver", scheme, "--formulation", formulation};
    if (restarts) f.push_back("--dual-restarts");
    return f;
  }
};

const std::vector<std::string>& formulation_names() {
  static const std::vector<std::string> names = {"lagrangian", "augmented-lagrangian",
                                                 "quadratic-penalty", "fixed-penalty"};
  return names;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string vocabulary() {
  return "SCHEME[+restarts][+FORMULATION] with SCHEME in " + join(saddle::scheme_names(), ", ") +
         "; FORMULATION in " + join(formulation_names(), ", ") +
         "; a formulation alone means gda with it (e.g. augmented-lagrangian)";
}

// "extragradient+restarts+augmented-lagrangian" -> scheme, formulation, restarts.
ProblemVariant parse_variant(const std::string& name) {
  ProblemVariant v;
  v.name = name;
  std::vector<std::string> parts;
  std::istringstream in(name);
  for (std::string part; std::getline(in, part, '+');) parts.push_back(part);
  if (name.empty() || name.back() == '+' || parts.empty())
    throw UsageError("variant '" + name + "': expected " + vocabulary());
  const auto schemes = saddle::scheme_names();
  bool formulation_set = false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (i == 0 && contains(schemes, p)) {
      v.scheme = p;
    } else if (p == "restarts" && !v.restarts) {
      v.restarts = true;
    } else if (contains(formulation_names(), p) && !formulation_set) {
      v.formulation = p;
      formulation_set = true;
    } else {
      throw UsageError("variant '" + name + "': unknown or repeated part '" + p + "' (" +
                       vocabulary() + ")");
    }
  }
  if (v.scheme.empty()) v.scheme = "gda";
  return v;
}

// all: every scheme (Lagrangian, no restarts), then gda with restarts and gda on the
// augmented Lagrangian.
std::vector<std::string> all_variant_names() {
  std::vector<std::string> names = saddle::scheme_names();
  names.push_back("gda+restarts");
  names.push_back("augmented-lagrangian");
  return names;
}

// --- one run's results ---

struct TrajectoryPoint {
  double iteration = 0.0, violation = 0.0, multiplier = 0.0;
};

struct ProblemRunOutcome {
  bool ok = false;
  std::string status;
  std::string termination;
  double loss = kNaN, objective = kNaN, max_violation = kNaN, x_error = kNaN,
         multiplier_error = kNaN, loss_error = kNaN, iterations = kNaN, forwards_per_step = kNaN,
         backwards_per_step = kNaN, seconds = kNaN;
  std::vector<TrajectoryPoint> trajectory;
};

// trajectory.csv: iteration, epoch, loss, objective, max_violation, c_<name>..., lambda_<name>...
// (the CsvLogger layout), with m = `constraints` values in each of the last two groups. The
// columns are found by position, so a constraint name with a comma in the header does no harm.
// Multiplier plotted: lambda itself for one constraint, max_i |lambda_i| for several.
std::vector<TrajectoryPoint> read_trajectory(const fs::path& path, std::size_t constraints) {
  std::vector<TrajectoryPoint> points;
  std::ifstream in(path);
  std::string header;
  if (!std::getline(in, header) ||
      header.rfind("iteration,epoch,loss,objective,max_violation", 0) != 0)
    return points;
  const std::size_t columns = 5 + 2 * constraints;
  std::vector<double> row;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    row.clear();
    std::istringstream l(line);
    for (std::string cell; std::getline(l, cell, ',');)
      row.push_back(std::strtod(cell.c_str(), nullptr));
    if (row.size() != columns) continue;
    TrajectoryPoint p;
    p.iteration = row[0];
    p.violation = row[4];
    if (constraints == 1) {
      p.multiplier = row[columns - 1];
    } else {
      p.multiplier = constraints == 0 ? kNaN : 0.0;
      for (std::size_t c = columns - constraints; c < columns; ++c)
        p.multiplier = std::max(p.multiplier, std::abs(row[c]));
    }
    points.push_back(p);
  }
  if (points.size() > kMaxPlotPoints) {
    const std::size_t every = (points.size() + kMaxPlotPoints - 1) / kMaxPlotPoints;
    std::vector<TrajectoryPoint> thinned;
    for (std::size_t i = 0; i < points.size(); i += every) thinned.push_back(points[i]);
    if ((points.size() - 1) % every != 0) thinned.push_back(points.back());
    points.swap(thinned);
  }
  return points;
}

ProblemRunOutcome read_problem_outcome(const ex::Job& job) {
  ProblemRunOutcome o;
  o.status = ex::job_status(job);
  try {
    const fs::path dir(job.out_dir);
    if (!fs::exists(dir / "summary.json")) {
      if (job.exit_code == 0) o.status = "no summary.json";
      return o;
    }
    const Json s = parse_json(read_all(dir / "summary.json"));
    o.termination = json_string_at(s, "termination");
    if (job.exit_code == kExitNumericalFailure)
      o.status = "numerical failure: " + json_string_at(s, "message");
    o.loss = json_number_or_nan_at(s, "full_loss");
    o.objective = json_number_or_nan_at(s, "objective");
    o.max_violation = json_number_or_nan_at(s, "max_violation");
    const Json& a = json_member(s, "known_answer");
    o.x_error = json_number_or_nan_at(a, "x_error");
    o.multiplier_error = json_number_or_nan_at(a, "multiplier_error");
    o.loss_error = json_number_or_nan_at(a, "loss_error");
    o.iterations = json_number_at(s, "iterations");
    o.forwards_per_step = o.iterations > 0 ? json_number_at(s, "forwards") / o.iterations : kNaN;
    o.backwards_per_step = o.iterations > 0 ? json_number_at(s, "backwards") / o.iterations : kNaN;
    o.seconds = json_number_or_nan_at(s, "seconds");
    o.trajectory = read_trajectory(dir / "trajectory.csv", json_array_at(s, "constraints").size());
    o.ok = job.exit_code == 0;
  } catch (const std::exception& e) {
    o.ok = false;
    o.status = "unreadable results: " + std::string(e.what());
  }
  return o;
}

// --- statistics and formatting ---

struct VariantStats {
  std::size_t runs = 0, ok = 0;
  ex::MeanCi loss, objective, max_violation, x_error, multiplier_error, loss_error, iterations,
      forwards_per_step, backwards_per_step, seconds;
  std::string terminations;  // "converged 3", "converged 2, iteration_limit 1"
  std::string status;
};

VariantStats aggregate(const std::vector<ProblemRunOutcome>& outcomes) {
  std::vector<ex::RunValues> runs;
  std::map<std::string, std::size_t> terminations;
  for (const auto& o : outcomes) {
    runs.push_back({o.ok, o.status, {o.loss, o.objective, o.max_violation, o.x_error, o.multiplier_error, o.loss_error,
                                     o.iterations, o.forwards_per_step, o.backwards_per_step, o.seconds}});
    if (o.ok) ++terminations[o.termination];
  }
  const ex::RunStats s = ex::aggregate_runs(runs, 10);
  VariantStats g;
  g.runs = s.runs;
  g.ok = s.ok;
  g.loss = s.metrics[0];
  g.objective = s.metrics[1];
  g.max_violation = s.metrics[2];
  g.x_error = s.metrics[3];
  g.multiplier_error = s.metrics[4];
  g.loss_error = s.metrics[5];
  g.iterations = s.metrics[6];
  g.forwards_per_step = s.metrics[7];
  g.backwards_per_step = s.metrics[8];
  g.seconds = s.metrics[9];
  for (const auto& [t, n] : terminations)
    g.terminations += (g.terminations.empty() ? "" : ", ") + t + " " + std::to_string(n);
  if (g.terminations.empty()) g.terminations = "-";
  g.status = s.status;
  return g;
}

std::string join_args(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

// What the compare needs to know of the problem before the runs.
struct ProblemFacts {
  std::string seed_note;        // what the seeds change
  std::size_t constraints = 0;  // decides the multiplier axis of the plot
};

// What the seeds change, found by asking the problem for the initial points.
template <class T>
std::string seed_note(BasicProblem<T>& problem, const std::vector<std::uint64_t>& seeds) {
  if (problem.num_samples() > 0)
    return "stochastic problem: the seed sets the initial point (if the problem uses it), the "
           "sample order and "
           "the per-evaluation noise";
  Vector<T> first = xt::zeros<T>({problem.num_parameters()}), x = first;
  bool differ = false;
  for (std::size_t k = 0; k < seeds.size(); ++k) {
    problem.initial_point(k == 0 ? first : x, seeds[k]);
    if (k > 0 && x != first) differ = true;
  }
  if (differ) return "deterministic problem: the seed changes the initial point only";
  return "deterministic problem whose initial point does not depend on the seed: every seed "
         "repeats the same "
         "run (the intervals only measure timing)";
}

// Builds the problem once in this process (a failing factory is an error before any run).
ProblemFacts problem_facts(const ProblemCatalog& catalog, const PluginProblem& entry,
                           const ProblemArgs& args, const std::vector<std::uint64_t>& seeds) {
  auto facts = [&](auto problem) {
    if (!problem) throw InputError("its factory returned null");
    return ProblemFacts{seed_note(*problem, seeds), problem->constraints().size()};
  };
  try {
    if (entry.is_float()) return facts(entry.make_float(args));
    return facts(entry.make_double(args));
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError(catalog.describe(entry.name) + ": " + e.what());
  }
}

}  // namespace

bool is_problem_compare(const std::vector<std::string>& args) {
  for (const auto& a : args)
    for (const char* flag : {"--problem", "--plugin"})
      if (a == flag || a.rfind(std::string(flag) + "=", 0) == 0) return true;
  return false;
}

int compare_problem_body(const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err) {
  const auto options = problem_compare_options();
  const auto vm = parse_arguments(args, options);
  if (vm["help"].as<bool>()) {
    out << "usage: saddle compare --problem NAME [--plugin FILE] --out DIR [--variants A,B,..] "
           "[options]\n\n"
           "Runs solver variants on one problem (built-in or from a plugin) over several seeds; "
           "each run is a\n"
           "child `saddle solve ... --seed S --out DIR/<variant>/seed-S`. Tabulates mean ± 95% CI "
           "of the final\n"
           "loss, max violation, distance to the known answer, iterations, forwards/backwards per "
           "step and wall\n"
           "time (DIR/compare.md, DIR/compare.csv), and plots the violation and multiplier "
           "trajectories\n"
           "(DIR/compare.png, with gnuplot).\n\n"
        << options << "\nvariants: " << vocabulary() << "\n  all = " << join(all_variant_names())
        << "\n";
    return kExitOk;
  }
  if (!given(vm, "problem"))
    throw UsageError(
        "--problem NAME is required with --plugin (the problems of the plugin are listed by "
        "'saddle solve --plugin FILE --list')");
  const std::string plugin = string_or(vm, "plugin", "");
  const ProblemCatalog catalog(plugin);  // bad plugins: InputError, exit 2, before any run
  const std::string problem_name = vm["problem"].as<std::string>();
  const PluginProblem& entry = catalog.get(problem_name);

  ex::SharedSettings shared;
  std::vector<std::string> solve_args;
  for (const auto& name : solve_passthrough_flags())
    if (given(vm, name.c_str())) {
      solve_args.push_back("--" + name);
      solve_args.push_back(vm[name].as<std::string>());
    }
  ex::read_runs(vm, shared);

  // Variants.
  std::vector<ProblemVariant> chosen;
  const std::string variant_text = vm["variants"].as<std::string>();
  std::vector<std::string> names;
  if (variant_text == "all") {
    names = all_variant_names();
  } else {
    if (variant_text.empty() || variant_text.back() == ',')
      throw UsageError("--variants = '" + variant_text + "': expected comma-separated names");
    std::istringstream in(variant_text);
    for (std::string name; std::getline(in, name, ',');) {
      name.erase(0, name.find_first_not_of(' '));
      name.erase(name.find_last_not_of(' ') + 1);
      names.push_back(name);
    }
  }
  for (const auto& name : names) {
    ProblemVariant v = parse_variant(name);
    for (const auto& c : chosen)
      if (c.scheme == v.scheme && c.formulation == v.formulation && c.restarts == v.restarts)
        throw UsageError("--variants names '" + name + "' twice (as '" + c.name + "')");
    chosen.push_back(std::move(v));
  }

  const ProblemArgs problem_args =
      given(vm, "problem-args")
          ? parse_problem_args("--problem-args", vm["problem-args"].as<std::string>())
          : ProblemArgs{};
  const ProblemFacts facts = problem_facts(catalog, entry, problem_args, shared.seeds);
  const std::string& note = facts.seed_note;
  ex::start_runs(shared, "compare", args);

  std::vector<std::string> base = {"solve", "--problem", problem_name};
  if (!plugin.empty()) base.insert(base.end(), {"--plugin", plugin});
  base.insert(base.end(), solve_args.begin(), solve_args.end());
  std::vector<ex::Job> jobs;
  for (const auto seed : shared.seeds)
    for (const auto& v : chosen) {
      ex::Job job;
      job.group = v.name;
      job.seed = seed;
      const fs::path folder = fs::path(shared.out_dir) / v.name;
      job.out_dir = (folder / ("seed-" + std::to_string(seed))).string();
      job.log_path = (folder / ("seed-" + std::to_string(seed) + ".log")).string();
      job.args = base;
      const auto flags = v.flags();
      job.args.insert(job.args.end(), flags.begin(), flags.end());
      job.args.insert(job.args.end(), {"--seed", std::to_string(seed), "--out", job.out_dir});
      jobs.push_back(std::move(job));
    }
  if (!shared.quiet)
    err << "saddle compare: " << chosen.size() << " variants x " << shared.seeds.size()
        << " seeds = " << jobs.size() << " runs of " << problem_name << ", " << shared.jobs
        << " at a time, in " << shared.out_dir << "\n";
  if (!ex::execute_runs(jobs, shared, shared.quiet ? nullptr : &err)) return kExitOk;  // another rank tabulates

  const int code = ex::combined_exit_code(jobs);
  if (std::all_of(jobs.begin(), jobs.end(),
                  [](const ex::Job& j) { return j.exit_code == kExitUsage; })) {
    // Every run was refused: the shared settings are at fault. Report solve's message.
    const auto o = read_problem_outcome(jobs.front());
    throw UsageError(o.status.rfind("exit 2: ", 0) == 0 ? o.status.substr(8)
                                                        : "every run failed: " + o.status);
  }

  std::vector<VariantStats> stats;
  std::vector<std::vector<ProblemRunOutcome>> outcomes(chosen.size());
  for (std::size_t k = 0; k < chosen.size(); ++k) {
    for (const ex::Job* j : ex::jobs_of_group(jobs, chosen[k].name)) outcomes[k].push_back(read_problem_outcome(*j));
    stats.push_back(aggregate(outcomes[k]));
  }
  const bool known_x = !entry.answer.x.empty(), known_lambda = !entry.answer.multipliers.empty();

  ex::Table table;
  table.header = {"variant", "runs", "loss", "max violation"};
  if (known_x) table.header.push_back("|x - x*|");
  if (known_lambda) table.header.push_back("|lambda - lambda*|");
  for (const char* h : {"iterations", "fwd/step", "bwd/step", "wall s", "termination", "status"})
    table.header.push_back(h);
  table.numeric.assign(table.header.size(), true);
  table.numeric[0] = false;
  table.numeric[table.header.size() - 1] = table.numeric[table.header.size() - 2] = false;
  ex::Table csv;
  csv.header = {"variant", "solve_flags", "runs", "ok_runs"};
  for (const char* m :
       {"loss", "objective", "max_violation", "x_error", "multiplier_error", "loss_error",
        "iterations", "forwards_per_step", "backwards_per_step", "wall_seconds"}) {
    csv.header.push_back(std::string(m) + "_mean");
    csv.header.push_back(std::string(m) + "_ci95");
  }
  csv.header.push_back("terminations");
  csv.header.push_back("status");
  auto no_ci = [](const ex::MeanCi& s) { return ex::MeanCi{s.mean, kNaN, s.n}; };
  for (std::size_t k = 0; k < chosen.size(); ++k) {
    const auto& g = stats[k];
    std::vector<std::string> row = {chosen[k].name,
                                    std::to_string(g.ok) + "/" + std::to_string(g.runs),
                                    ex::format_sci(g.loss, 8), ex::format_sci(g.max_violation, 3)};
    if (known_x) row.push_back(ex::format_sci(g.x_error, 3));
    if (known_lambda) row.push_back(ex::format_sci(g.multiplier_error, 3));
    row.push_back(ex::format_sci(g.iterations, 6));
    row.push_back(ex::format_mean_ci(no_ci(g.forwards_per_step), 2));
    row.push_back(ex::format_mean_ci(no_ci(g.backwards_per_step), 2));
    row.push_back(ex::format_sci(g.seconds, 3));
    row.push_back(g.terminations);
    row.push_back(g.status);
    table.rows.push_back(row);
    std::vector<std::string> c = {chosen[k].name, join_args(chosen[k].flags()),
                                  std::to_string(g.runs), std::to_string(g.ok)};
    for (const auto* m :
         {&g.loss, &g.objective, &g.max_violation, &g.x_error, &g.multiplier_error, &g.loss_error,
          &g.iterations, &g.forwards_per_step, &g.backwards_per_step, &g.seconds}) {
      c.push_back(ex::csv_number(m->mean));
      c.push_back(ex::csv_number(m->ci95));
    }
    c.push_back(g.terminations);
    c.push_back(g.status);
    csv.rows.push_back(c);
  }

  std::string seeds_text;
  for (const auto s : shared.seeds)
    seeds_text += (seeds_text.empty() ? "" : ",") + std::to_string(s);
  const std::string heading =
      "problem: " + problem_name + " - " + entry.description +
      (plugin.empty() ? std::string() : " (plugin " + plugin + ")") + "\n" +
      "precision: " + (entry.is_float() ? "float" : "double") + "; seeds " + seeds_text +
      (solve_args.empty() ? std::string() : "; solve flags: " + join_args(solve_args)) + "\n" +
      "seeds: " + note;
  const std::string legend =
      "mean ± 95% CI half-width (Student t, n-1 degrees of freedom) over the runs that finished; "
      "loss = final loss "
      "(on all samples for stochastic problems); max violation = largest violation at the final "
      "point; |x - x*|, "
      "|lambda - lambda*| = max-norm distances to the known answer; wall s = solve time of one run";
  const fs::path dir(shared.out_dir);
  std::string md_heading = heading;
  for (std::size_t p = md_heading.find('\n'); p != std::string::npos;
       p = md_heading.find('\n', p + 3))
    md_heading.replace(p, 1, "  \n");
  write_text((dir / "compare.md").string(), "# saddle compare\n\n" + md_heading + "\n\n" +
                                                    ex::render_markdown(table) + "\n" + legend +
                                                    ".\n");
  write_text((dir / "compare.csv").string(), ex::render_csv(csv));
  out << heading << "\n\n" << ex::render_terminal(table) << "\n(" << legend << ")\n";

  // Trajectories: one data file per variant (one block per seed) and a two-panel plot.
  fs::create_directories(dir / "plot");
  std::string violation_plot, multiplier_plot;
  for (std::size_t k = 0; k < chosen.size(); ++k) {
    std::string dat = "# iteration  max_violation  multiplier (one block per seed)\n";
    bool any = false;
    for (const auto& o : outcomes[k]) {
      if (!o.ok || o.trajectory.empty()) continue;
      any = true;
      for (const auto& p : o.trajectory)
        dat += ex::dat_number(p.iteration) + " " +
               ex::dat_number(std::max(p.violation, kViolationFloor)) + " " +
               ex::dat_number(p.multiplier) + "\n";
      dat += "\n\n";
    }
    if (!any) continue;
    const std::string file = "plot/" + chosen[k].name + ".dat";
    write_text((dir / file).string(), dat);
    const std::string style =
        " with lines lw 2 lc " + std::to_string(k + 1) + " title '" + chosen[k].name + "'";
    violation_plot +=
        (violation_plot.empty() ? "" : ", \\\n     ") + ("'" + file + "' using 1:2" + style);
    multiplier_plot +=
        (multiplier_plot.empty() ? "" : ", \\\n     ") + ("'" + file + "' using 1:3" + style);
  }
  if (violation_plot.empty()) {
    err << "saddle compare: no run finished, no plot\n";
  } else {
    const std::string gp =
        "# gnuplot script written by saddle compare; run: gnuplot compare.gp (in this folder)\n"
        "set terminal pngcairo size 1100,900 font ',11' noenhanced\n"
        "set output 'compare.png'\n"
        "set multiplot layout 2,1 title 'saddle compare: " +
        problem_name + " (seeds " + seeds_text +
        ")'\n"
        "set grid\nset key outside right top\nset xlabel 'iteration'\n"
        "set lmargin at screen 0.1\nset rmargin at screen 0.74\n"
        "set logscale y\nset format y '%.0e'\n"
        "set ylabel 'max violation (floored at 1e-16)'\n"
        "plot " +
        violation_plot +
        "\n"
        "unset logscale y\nset format y '%g'\nunset key\n"
        "set ylabel '" +
        std::string(facts.constraints == 1 ? "multiplier" : "max_i |multiplier_i|") +
        "'\n"
        "plot " +
        multiplier_plot +
        "\n"
        "unset multiplot\n";
    write_text((dir / "compare.gp").string(), gp);
    const std::string gnuplot_note = ex::run_gnuplot(
        (dir / "compare.gp").string(), (dir / "compare.png").string(), shared.out_dir);
    if (!gnuplot_note.empty()) err << "saddle compare: " << gnuplot_note << "\n";
  }
  out << "\nwritten: " << (dir / "compare.md").string() << ", " << (dir / "compare.csv").string()
      << (fs::exists(dir / "compare.png") ? ", " + (dir / "compare.png").string() : std::string())
      << "\n";
  return code;
}

}  // namespace saddle::cli
