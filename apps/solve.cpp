// `saddle solve`: one solve of a built-in or plugin problem (double or float) with one
// update scheme.
//
// Options are layered: the problem entry's defaults(scheme, formulation) first (tuned so
// that the scheme reaches the answer without flags), then every flag the user gave. The
// result is a human-readable report, or with --json exactly one JSON object on stdout.
// docs/cli.md documents every option, the output and the exit codes.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "json_io.hpp"
#include "problem_catalog.hpp"
#include "solver_flags.hpp"
#include "saddle/atomic_file.hpp"
#include "saddle/callbacks.hpp"
#include "saddle/solver.hpp"
#include "saddle/solvers.hpp"

namespace saddle::cli {
namespace {

// Line width of `saddle solve --help` and the minimum width of its description column.
constexpr unsigned kHelpWidth = 100;
constexpr unsigned kHelpDescriptionWidth = 50;

const char* const kFormulationChoices = "lagrangian | augmented-lagrangian | quadratic-penalty | fixed-penalty";

po::options_description solve_options() {
  // Every value is read as text and parsed strictly by cli_common (so that "-5" is not a
  // huge unsigned and every message has the same shape); the options whose default comes
  // from the problem carry no Boost default, so `given()` tells what the user set.
  po::options_description choose("Problem and solver", kHelpWidth, kHelpDescriptionWidth);
  choose.add_options()
      ("problem", po::value<std::string>()->value_name("NAME"),
       "problem to solve (required; --list shows the choices)")
      ("plugin", po::value<std::string>()->value_name("FILE"),
       "load more problems from a shared library (docs/plugins.md)")
      ("problem-args", po::value<std::string>()->value_name("K=V,..."),
       "settings for the problem's factory, e.g. data=/path,size=100 (plugin problems that read them)")
      ("solver", po::value<std::string>()->value_name("NAME"),
       ("update scheme (required): " + saddle::scheme_choices()).c_str())
      ("formulation", po::value<std::string>()->value_name("NAME")->default_value("lagrangian"),
       kFormulationChoices)
      ("list", po::bool_switch(), "list problems (with descriptions and answers), solvers, "
       "formulations and rules, then exit")
      ("help,h", po::bool_switch(), "print this help and exit; with --problem and --solver "
       "(and --formulation) also the problem's default for every option");

  po::options_description rules("Update rules [default: the problem's]", kHelpWidth, kHelpDescriptionWidth);
  po::options_description form("Formulation [default: the problem's]", kHelpWidth, kHelpDescriptionWidth);
  add_solver_flags(rules, form);  // solver_flags.hpp: the same flags as train, compare and sweep
  form.add_options()
      ("multipliers", po::value<std::string>()->value_name("A,B,..."), "initial multipliers, one per "
       "constraint (fixed-penalty: the fixed multipliers) [default: the problem's, else zeros]");

  po::options_description limits("Limits and stopping [default: the problem's]", kHelpWidth, kHelpDescriptionWidth);
  limits.add_options()
      ("iterations", po::value<std::string>()->value_name("N"), "step limit (0 = none; then --epochs must be > 0)")
      ("epochs", po::value<std::string>()->value_name("N"), "epoch limit of stochastic problems (0 = none)")
      ("batch", po::value<std::string>()->value_name("N"), "minibatch size of stochastic problems (0 = all samples)")
      ("tolerance", po::value<std::string>()->value_name("X"), "convergence: relative step size of x and "
       "lambda <= X (0 = never converge, run to the limit)")
      ("feasibility-tolerance", po::value<std::string>()->value_name("X"), "convergence also needs max violation <= X")
      ("seed", po::value<std::string>()->value_name("S"), "seed of the initial point, shuffles and noise");

  po::options_description output("Output", kHelpWidth, kHelpDescriptionWidth);
  output.add_options()
      ("json", po::bool_switch(), "print exactly one JSON object on stdout instead of the report")
      ("out", po::value<std::string>()->value_name("DIR"), "run folder: write DIR/summary.json (the --json "
       "object) and DIR/trajectory.csv (the --log columns, every --log-every steps)")
      ("log", po::value<std::string>()->value_name("FILE"), "write a CSV log to FILE; columns: iteration, epoch, loss, "
       "objective, max_violation, c_<name>..., lambda_<name>...")
      ("log-every", po::value<std::string>()->value_name("N")->default_value("1"), "log every N-th step, N >= 1")
      ("progress", po::value<std::string>()->value_name("N")->default_value("0"),
       "print a progress line to stderr every N steps (0 = never)");

  po::options_description all("saddle solve options", kHelpWidth, kHelpDescriptionWidth);
  all.add(choose).add(rules).add(form).add(limits).add(output);
  return all;
}

// --- validated choices ---

std::size_t to_size(const std::string& flag, const std::string& text) {
  const std::uint64_t v = parse_unsigned(flag, text);
  if (v > std::numeric_limits<std::size_t>::max()) throw UsageError(flag + " = '" + text + "': integer out of range");
  return static_cast<std::size_t>(v);
}

/// Overwrites the fields of `o` for every flag the user gave.
void apply_flags(const po::variables_map& vm, SolverOptions& o) {
  auto text = [&](const char* name) { return vm[name].as<std::string>(); };
  auto set_double = [&](const char* name, double& field) {
    if (given(vm, name)) field = parse_double(std::string("--") + name, text(name));
  };
  auto set_size = [&](const char* name, std::size_t& field) {
    if (given(vm, name)) field = to_size(std::string("--") + name, text(name));
  };

  read_solver_flags(vm, o);
  if (given(vm, "multipliers")) o.initial_multipliers = parse_double_list("--multipliers", text("multipliers"));

  set_size("iterations", o.max_iterations);
  set_size("epochs", o.max_epochs);
  set_size("batch", o.batch_size);
  set_double("tolerance", o.tolerance);
  set_double("feasibility-tolerance", o.feasibility_tolerance);
  if (given(vm, "seed")) o.seed = parse_unsigned("--seed", text("seed"));
}

// --- known answer ---

/// max_i |a_i - b_i|, or nothing when b is empty (not known) or the sizes differ.
template <class V>
std::optional<double> max_abs_error(const V& a, const std::vector<double>& b) {
  if (b.empty() || b.size() != a.size()) return std::nullopt;
  double e = 0.0;
  std::size_t i = 0;
  for (const auto& v : a) {
    const double d = std::abs(static_cast<double>(v) - b[i++]);
    e = std::isnan(d) ? d : std::max(e, d);
    if (std::isnan(e)) break;
  }
  return e;
}

struct AnswerErrors {
  std::optional<double> x, multipliers, loss;
};

/// The loss at the final point on the whole problem: Summary::loss itself for deterministic
/// problems; for stochastic ones (whose Summary::loss is on the last minibatch) forwards
/// over all samples in batches of the solve's size (a problem sizes its buffers for that
/// batch), averaged with weights batch size / N, i.e. the loss over all samples when the
/// loss is a mean over the batch.
template <class T>
double full_loss(BasicProblem<T>& problem, const Summary<T>& s, std::size_t batch_size) {
  const std::size_t samples = problem.num_samples();
  if (samples == 0 || s.x.size() != problem.num_parameters()) return s.loss;
  const std::size_t step = batch_size == 0 ? samples : std::min(batch_size, samples);
  Evaluation eval;
  eval.resize(problem.constraints().size());
  double total = 0.0;
  for (std::size_t begin = 0; begin < samples; begin += step) {
    Batch batch;
    batch.begin = begin;
    batch.size = std::min(step, samples - begin);
    problem.forward(s.x, batch, eval);
    total += eval.loss * static_cast<double>(batch.size);
  }
  return total / static_cast<double>(samples);
}

template <class T>
AnswerErrors answer_errors(const Summary<T>& s, double loss, const KnownAnswer& a) {
  AnswerErrors e;
  e.x = max_abs_error(s.x, a.x);
  e.multipliers = max_abs_error(s.multipliers, a.multipliers);
  if (a.loss) e.loss = std::abs(loss - *a.loss);
  return e;
}

/// What both output formats print.
template <class T>
struct SolveResult {
  std::string problem_name;
  const PluginProblem* entry = nullptr;
  std::string plugin;  ///< plugin path, "" for a built-in problem
  std::string solver_name;
  SolverOptions options;
  bool stochastic = false;
  Summary<T> summary;
  double full_loss = 0.0;
  KnownAnswer answer;
  AnswerErrors errors;
  bool expected_to_converge = false;
};

int exit_code(Termination t) {
  return t == Termination::numerical_failure ? kExitNumericalFailure : kExitOk;
}

// --- output ---

template <class T>
void write_json(std::ostream& out, const SolveResult<T>& r) {
  const Summary<T>& s = r.summary;
  const SolverOptions& options = r.options;
  auto optional_number = [](const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); };

  Json json;
  json["problem"] = r.problem_name;
  json["description"] = r.entry->description;
  json["plugin"] = r.plugin.empty() ? Json(nullptr) : Json(r.plugin);
  json["precision"] = std::is_same_v<T, float> ? "float" : "double";
  json["solver"] = r.solver_name;
  json["formulation"] = to_string(options.formulation.kind);
  json["dual_restarts"] = options.dual_restarts;
  json["stochastic"] = r.stochastic;
  json["termination"] = to_string(s.termination);
  json["message"] = s.message;
  json["exit_code"] = exit_code(s.termination);
  json["iterations"] = s.iterations;
  json["epochs"] = s.epochs;
  json["forwards"] = s.forwards;
  json["backwards"] = s.backwards;
  json["seconds"] = s.seconds;
  json["loss"] = s.loss;
  json["full_loss"] = r.full_loss;
  json["objective"] = s.objective;
  json["max_violation"] = s.max_violation;
  json["x"] = number_array(s.x);
  json["multipliers"] = number_array(s.multipliers);
  json["constraint_values"] = number_array(s.constraint_values);
  json["penalties"] = number_array(s.penalties);
  Json constraints = Json::array();
  for (std::size_t i = 0; i < s.constraints.size(); ++i) {
    Json c;
    c["name"] = s.constraints[i].name;
    c["kind"] = to_string(s.constraints[i].kind);
    c["value"] = i < s.constraint_values.size() ? static_cast<double>(s.constraint_values(i)) : std::nan("");
    c["multiplier"] = i < s.multipliers.size() ? static_cast<double>(s.multipliers(i)) : std::nan("");
    constraints.push_back(std::move(c));
  }
  json["constraints"] = std::move(constraints);
  Json answer;
  answer["x"] = number_array(r.answer.x);
  answer["multipliers"] = number_array(r.answer.multipliers);
  answer["loss"] = optional_number(r.answer.loss);
  answer["note"] = r.answer.note;
  answer["x_error"] = optional_number(r.errors.x);
  answer["multiplier_error"] = optional_number(r.errors.multipliers);
  answer["loss_error"] = optional_number(r.errors.loss);
  answer["expected_to_converge"] = r.expected_to_converge;
  json["known_answer"] = std::move(answer);
  json["options"] = options_json(options);
  out << json_text(json, 2);
}

/// `items` joined by ", " after `prefix`, broken into lines of at most `width` characters
/// (continuation lines indented by two spaces); ends with a newline.
std::string wrapped(const std::string& prefix, const std::vector<std::string>& items, std::size_t width) {
  std::string text = prefix, line_start_pad = "  ";
  std::size_t line_length = prefix.size();
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string piece = items[i] + (i + 1 < items.size() ? "," : "");
    if (i > 0) {
      if (line_length + 1 + piece.size() > width) {
        text += "\n" + line_start_pad;
        line_length = line_start_pad.size();
      } else {
        text += ' ';
        ++line_length;
      }
    }
    text += piece;
    line_length += piece.size();
  }
  return text + '\n';
}

template <class T>
void write_report(std::ostream& out, const SolveResult<T>& r) {
  const KnownAnswer& answer = r.answer;
  auto error_text = [](const std::optional<double>& e) { return e ? format_number(*e) : std::string("n/a"); };

  out << "problem: " << r.problem_name << " - " << r.entry->description << '\n';
  if (!r.plugin.empty()) out << "plugin: " << r.plugin << '\n';
  out << "precision: " << (std::is_same_v<T, float> ? "float" : "double") << '\n'
      << "solver: " << r.solver_name << ", formulation: " << to_string(r.options.formulation.kind)
      << ", dual restarts: " << (r.options.dual_restarts ? "on" : "off") << '\n'
      << wrapped("options: ", describe_options(r.options), 96)
      << r.summary.report() << '\n';
  if (r.stochastic) out << "loss on all samples: " << format_number(r.full_loss) << '\n';
  out << "known answer: x* = " << (answer.x.empty() ? "n/a" : format_list(answer.x))
      << ", multipliers* = " << (answer.multipliers.empty() ? "n/a" : format_list(answer.multipliers))
      << ", loss* = " << (answer.loss ? format_number(*answer.loss) : "n/a") << '\n';
  if (!answer.note.empty()) out << "  (" << answer.note << ")\n";
  out << "error: |x - x*|_inf = " << error_text(r.errors.x)
      << ", |lambda - lambda*|_inf = " << error_text(r.errors.multipliers)
      << ", |loss - loss*| = " << error_text(r.errors.loss) << (r.stochastic ? " (loss on all samples)" : "")
      << '\n'
      << "expected to converge with " << r.solver_name << ": " << (r.expected_to_converge ? "yes" : "no") << '\n';
}

/// Problem facts for --list, read from an instance built without --problem-args. A problem
/// that cannot be built so (a plugin problem that needs a data folder, a failing factory)
/// is listed with `error` set instead of its sizes.
struct ProblemFacts {
  std::size_t parameters = 0, constraints = 0;
  bool stochastic = false;
  std::string error;  ///< "" when the facts are known
};

/// Calls `body`, turning any exception of a problem's code into InputError naming it.
template <class F>
auto call_problem(const ProblemCatalog& catalog, const std::string& name, const char* what, F body) {
  try {
    return body();
  } catch (const UsageError&) {
    throw;
  } catch (const saddle::WriteError&) {  // a log of the solve (--log, --out): exit 4, not the problem's fault
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError(catalog.describe(name) + ": " + what + " threw: " + e.what());
  } catch (...) {
    throw InputError(catalog.describe(name) + ": " + what + " threw a non-standard exception");
  }
}

ProblemFacts problem_facts(const ProblemCatalog& catalog, const PluginProblem& entry) try {
  ProblemFacts f;
  auto read = [&](auto problem) {
    if (!problem) throw InputError(catalog.describe(entry.name) + ": its factory returned null");
    call_problem(catalog, entry.name, "a query of its size", [&] {
      f.parameters = problem->num_parameters();
      f.constraints = problem->constraints().size();
      f.stochastic = problem->num_samples() > 0;
      return 0;
    });
  };
  if (entry.is_float())
    read(call_problem(catalog, entry.name, "its factory", [&] { return entry.make_float(ProblemArgs{}); }));
  else
    read(call_problem(catalog, entry.name, "its factory", [&] { return entry.make_double(ProblemArgs{}); }));
  return f;
} catch (const InputError& e) {
  ProblemFacts f;
  f.error = e.what();
  return f;
}

void write_list(std::ostream& out, bool as_json, const ProblemCatalog& catalog) {
  const auto problem_names = catalog.names();
  const auto solver_names = saddle::scheme_names();
  const std::vector<std::string> formulations = {"lagrangian", "augmented-lagrangian", "quadratic-penalty",
                                                 "fixed-penalty"};
  const std::vector<std::string> primal_rules = {"sgd", "momentum", "nesterov", "adam"};
  const std::vector<std::string> dual_rules = {"gradient-ascent", "nupi"};

  if (as_json) {
    Json json;
    Json problems = Json::array();
    for (const auto& name : problem_names) {
      const auto& entry = catalog.get(name);
      const ProblemFacts facts = problem_facts(catalog, entry);
      const bool known = facts.error.empty();
      Json p;
      p["name"] = name;
      p["description"] = entry.description;
      p["plugin"] = catalog.from_plugin(name) ? Json(catalog.plugin_path()) : Json(nullptr);
      p["precision"] = entry.is_float() ? "float" : "double";
      p["parameters"] = known ? Json(facts.parameters) : Json(nullptr);
      p["constraints"] = known ? Json(facts.constraints) : Json(nullptr);
      p["stochastic"] = known ? Json(facts.stochastic) : Json(nullptr);
      p["error"] = known ? Json(nullptr) : Json(facts.error);
      p["converging_schemes"] = entry.converging_schemes;
      problems.push_back(std::move(p));
    }
    json["problems"] = std::move(problems);
    Json solvers = Json::array();
    for (const auto& scheme : saddle::scheme_table()) {
      Json s;
      s["name"] = std::string(scheme.name);
      s["description"] = std::string(scheme.summary);
      s["forwards_per_step"] = scheme.forwards_per_step;
      s["backwards_per_step"] = scheme.backwards_per_step;
      solvers.push_back(std::move(s));
    }
    json["solvers"] = std::move(solvers);
    json["formulations"] = formulations;
    json["primal_rules"] = primal_rules;
    json["dual_rules"] = dual_rules;
    out << json_text(json, 2);
    return;
  }

  std::size_t width = 0;
  for (const auto& name : problem_names) width = std::max(width, name.size());
  for (const auto& name : solver_names) width = std::max(width, name.size());
  auto padded = [&](std::string s) {
    s.resize(width, ' ');
    return s;
  };
  out << "problems:\n";
  for (const auto& name : problem_names) {
    const auto& entry = catalog.get(name);
    out << "  " << padded(name) << "  " << entry.description << '\n';
    if (catalog.from_plugin(name)) {
      const ProblemFacts facts = problem_facts(catalog, entry);
      out << "  " << padded("") << "  plugin " << catalog.plugin_path() << ", " << (entry.is_float() ? "float" : "double");
      if (facts.error.empty())
        out << ", " << facts.parameters << " parameters, " << facts.constraints << " constraints"
            << (facts.stochastic ? ", stochastic" : "") << '\n';
      else
        out << "; cannot be built without --problem-args: " << facts.error << '\n';
    }
    out << "  " << padded("") << "  converges with: "
        << (entry.converging_schemes.empty() ? std::string("(not stated)") : join(entry.converging_schemes)) << '\n';
  }
  out << "solvers (problem forwards / backwards per step):\n";
  for (const auto& scheme : saddle::scheme_table()) {
    out << "  " << padded(scheme.name) << "  " << format_number(scheme.forwards_per_step) << " / "
        << format_number(scheme.backwards_per_step) << "  " << scheme.summary << '\n';
  }
  out << "formulations: " << join(formulations) << '\n'
      << "primal rules: " << join(primal_rules) << '\n'
      << "dual rules: " << join(dual_rules) << '\n';
}

/// The entry's defaults for a scheme and formulation (SolverOptions{} when it has none).
SolverOptions entry_defaults(const ProblemCatalog& catalog, const PluginProblem& entry, const std::string& scheme,
                             FormulationKind kind) {
  if (!entry.defaults) {
    SolverOptions o;
    o.formulation.kind = kind;
    return o;
  }
  return call_problem(catalog, entry.name, "its defaults()", [&] { return entry.defaults(scheme, kind); });
}

void write_help(std::ostream& out, const po::options_description& options, const po::variables_map& vm) {
  out << "usage: saddle solve --problem NAME --solver NAME [--plugin FILE] [options]\n"
         "       saddle solve --list [--plugin FILE] [--json]\n"
         "\n"
         "Solves a built-in problem, or one of a plugin (--plugin), with one update scheme and\n"
         "compares the result with the problem's known answer. Options marked [default: the\n"
         "problem's] start from the problem's defaults for the solver and formulation; a flag\n"
         "overrides one value.\n"
         "\n"
      << options << '\n'
      << "exit codes: 0 solved (converged, iteration limit or user stop), 2 bad usage or input,\n"
         "            3 numerical failure (NaN or Inf), 1 internal error\n"
         "examples:\n"
         "  saddle solve --problem active-inequality --solver gda\n"
         "  saddle solve --problem hs21 --solver extragradient --formulation augmented-lagrangian --json\n"
         "  saddle solve --problem equality-qp --solver gda --help     (shows that problem's defaults)\n"
         "  saddle solve --plugin ./libmine.so --problem my-qp --solver extragradient\n";

  // With a valid problem and solver, show the defaults the flags would override.
  if (!given(vm, "problem") || !given(vm, "solver")) return;
  const ProblemCatalog catalog(string_or(vm, "plugin", ""));
  const std::string problem = vm["problem"].as<std::string>();
  const std::string solver = vm["solver"].as<std::string>();
  const auto names = saddle::scheme_names();
  if (!catalog.contains(problem) || std::find(names.begin(), names.end(), solver) == names.end()) return;
  FormulationKind kind = FormulationKind::lagrangian;
  try {
    kind = saddle::parse_formulation(vm["formulation"].as<std::string>());
  } catch (const saddle::InvalidOption&) {
    return;
  }
  const SolverOptions defaults = entry_defaults(catalog, catalog.get(problem), solver, kind);
  out << "\ndefaults for --problem " << problem << " --solver " << solver << " --formulation "
      << to_string(kind) << ":\n";
  for (const auto& line : describe_options(defaults)) out << "  " << line << '\n';
}

/// Writes `text` to `path` atomically; throws saddle::WriteError (exit 4) naming the file.
void write_file(const std::string& path, const std::string& text) { saddle::write_file_atomically(path, text); }

/// Everything solve_main has read from the command line.
struct SolveRequest {
  std::string problem_name, solver_name;
  ProblemArgs problem_args;
  SolverOptions options;
  bool as_json = false;
  std::size_t progress_every = 0, log_every = 1;
  std::string log_path, out_dir;
  bool multipliers_given = false;
};

template <class T>
int solve_typed(const ProblemCatalog& catalog, const PluginProblem& entry, const SolveRequest& request,
                std::ostream& out, std::ostream& err) {
  const std::string& name = request.problem_name;
  std::unique_ptr<BasicProblem<T>> problem = call_problem(catalog, name, "its factory", [&] {
    if constexpr (std::is_same_v<T, float>)
      return entry.make_float(request.problem_args);
    else
      return entry.make_double(request.problem_args);
  });
  if (!problem) throw InputError(catalog.describe(name) + ": its factory returned null");
  const auto specs = call_problem(catalog, name, "constraints()", [&] { return problem->constraints(); });
  if (request.multipliers_given && request.options.initial_multipliers.size() != specs.size()) {
    std::vector<std::string> names;
    for (const auto& spec : specs) names.push_back(spec.name);
    throw UsageError("--multipliers has " + std::to_string(request.options.initial_multipliers.size()) +
                     " value(s) but problem '" + name + "' has " + std::to_string(specs.size()) +
                     " constraint(s)" + (names.empty() ? std::string() : " (" + join(names) + ")"));
  }

  Solver<T> solver(saddle::make_scheme<T>(request.solver_name), request.options);
  std::unique_ptr<ProgressPrinter<T>> progress;
  std::unique_ptr<CsvLogger<T>> logger, trajectory;
  if (request.progress_every > 0) {
    progress = std::make_unique<ProgressPrinter<T>>(err, request.progress_every);
    solver.add_callback(progress.get());
  }
  if (!request.log_path.empty()) {
    logger = std::make_unique<CsvLogger<T>>(request.log_path, request.log_every);  // throws InputError
    solver.add_callback(logger.get());
  }
  if (!request.out_dir.empty()) {
    trajectory = std::make_unique<CsvLogger<T>>(
        (std::filesystem::path(request.out_dir) / "trajectory.csv").string(), request.log_every);
    solver.add_callback(trajectory.get());
  }

  SolveResult<T> result;
  result.problem_name = name;
  result.entry = &entry;
  result.plugin = catalog.from_plugin(name) ? catalog.plugin_path() : std::string();
  result.solver_name = request.solver_name;
  result.options = request.options;
  result.stochastic = call_problem(catalog, name, "num_samples()", [&] { return problem->num_samples() > 0; });
  // The problem's exceptions (bad input, a failing forward or backward) become one line
  // naming the problem; NaN or Inf is not an exception but Termination::numerical_failure.
  result.summary = call_problem(catalog, name, "the solve (forward, backward or project)",
                                [&] { return solver.solve(*problem); });
  result.full_loss = call_problem(catalog, name, "forward on all samples", [&] {
    return full_loss(*problem, result.summary, request.options.batch_size);
  });
  result.answer = entry.answer;
  result.errors = answer_errors(result.summary, result.full_loss, result.answer);
  const auto& converging = entry.converging_schemes;
  result.expected_to_converge =
      std::find(converging.begin(), converging.end(), request.solver_name) != converging.end();

  // Render fully before writing, so that an exception cannot leave half an object on stdout.
  std::ostringstream json_text;
  write_json(json_text, result);
  if (!request.out_dir.empty())
    write_file((std::filesystem::path(request.out_dir) / "summary.json").string(), json_text.str() + "\n");
  std::ostringstream text;
  if (request.as_json)
    text << json_text.str();
  else
    write_report(text, result);
  out << text.str();
  out.flush();
  if (result.summary.termination == Termination::numerical_failure) {
    err << "saddle: numerical failure: " << catalog.describe(name) << ": " << result.summary.message << '\n';
    err.flush();
  }
  return exit_code(result.summary.termination);
}

int solve_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const po::options_description options = solve_options();
  const po::variables_map vm = parse_arguments(args, options);
  SolveRequest request;
  request.as_json = vm["json"].as<bool>();

  if (vm["help"].as<bool>()) {
    std::ostringstream text;  // a bad --plugin fails before anything is printed
    write_help(text, options, vm);
    out << text.str();
    return kExitOk;
  }
  const ProblemCatalog catalog(string_or(vm, "plugin", ""));  // loads --plugin: InputError on failure
  if (vm["list"].as<bool>()) {
    write_list(out, request.as_json, catalog);
    return kExitOk;
  }

  if (!given(vm, "problem"))
    throw UsageError("missing --problem (choices: " + join(catalog.names()) + ")");
  if (!given(vm, "solver"))
    throw UsageError("missing --solver (choices: " + join(saddle::scheme_names()) + ")");
  request.problem_name = vm["problem"].as<std::string>();
  const PluginProblem& entry = catalog.get(request.problem_name);  // UsageError listing the choices
  request.solver_name = checked_solver(vm["solver"].as<std::string>());
  const FormulationKind formulation =
      parse_choice("--formulation", vm["formulation"].as<std::string>(), saddle::parse_formulation);
  request.progress_every = to_size("--progress", vm["progress"].as<std::string>());
  request.log_every = to_size("--log-every", vm["log-every"].as<std::string>());
  if (request.log_every == 0) throw UsageError("--log-every = '0': must be >= 1");
  request.log_path = string_or(vm, "log", "");
  request.out_dir = string_or(vm, "out", "");
  request.multipliers_given = given(vm, "multipliers");
  if (given(vm, "problem-args"))
    request.problem_args = parse_problem_args("--problem-args", vm["problem-args"].as<std::string>());

  request.options = entry_defaults(catalog, entry, request.solver_name, formulation);
  request.options.formulation.kind = formulation;
  apply_flags(vm, request.options);
  validate_with_flags(request.options);
  if (given(vm, "out")) {
    std::error_code ec;
    if (request.out_dir.empty()) throw UsageError("--out = '': expected a folder name");
    std::filesystem::create_directories(request.out_dir, ec);
    if (ec || !std::filesystem::is_directory(request.out_dir))
      throw UsageError("--out " + request.out_dir + ": cannot create the folder" +
                       (ec ? " (" + ec.message() + ")" : std::string()));
  }

  if (entry.is_float()) return solve_typed<float>(catalog, entry, request, out, err);
  return solve_typed<double>(catalog, entry, request, out, err);
}

}  // namespace

int run_solve(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return guarded(err, "solve", [&] { return solve_main(args, out, err); });
}

}  // namespace saddle::cli
