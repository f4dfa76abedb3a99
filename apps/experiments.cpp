// The flags, settings and solver variants of saddle compare and saddle sweep
// (experiments.hpp).
#include "experiments.hpp"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "saddle/solvers.hpp"
#include "solver_flags.hpp"

namespace saddle::cli::experiments {

namespace fs = std::filesystem;

namespace {

// Flags copied verbatim to every child `saddle train` when given (train validates them; a
// bad value makes every child exit 2 and compare/sweep report train's message).
const std::vector<std::string>& passthrough_flags() {
  static const std::vector<std::string> flags = [] {
    std::vector<std::string> f = {"model", "dataset", "data-dir", "epochs", "fixed-gate-epochs", "batch"};
    const auto& solver = valued_solver_flags();  // solver_flags.hpp
    f.insert(f.end(), solver.begin(), solver.end());
    f.insert(f.end(), {"dual-scale", "weight-decay", "log-alpha-min", "ema", "init",
                       "input-scaling", "test-gate", "eval-every", "threads", "thread-split"});
    return f;
  }();
  return flags;
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
      ("fixed-gate-epochs", po::value<std::string>()->value_name("K"), "last epochs under fixed gates")
      ("batch", po::value<std::string>()->value_name("N"), "minibatch size");
  add_solver_flags(what, what, SolverFlagSet::valued_only);  // the variants choose the restarts
  what.add_options()
      ("dual-scale", po::value<std::string>()->value_name("NAME"), "target | one [train's default: target]")
      ("weight-decay", po::value<std::string>()->value_name("X"), "L2 under the gates")
      ("log-alpha-min", po::value<std::string>()->value_name("X"), "lower bound of log_alpha")
      ("ema", po::value<std::string>()->value_name("BETA"), "parameter moving average")
      ("init", po::value<std::string>()->value_name("NAME"), "lz | gp")
      ("input-scaling", po::value<std::string>()->value_name("NAME"), "standardize | unit")
      ("test-gate", po::value<std::string>()->value_name("NAME"), "median | mean_eq13")
      ("eval-every", po::value<std::string>()->value_name("N"), "test-set evaluation every N epochs");
  add_thread_flag(what, false);  // per run: --jobs J x --threads N threads in all
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
  for (const auto& name : passthrough_flags())
    if (given(vm, name.c_str())) {
      const std::string value = vm[name].as<std::string>();
      s.train_args.push_back("--" + name);
      s.train_args.push_back(value);
    }
  // Catch the common mistakes here, before any run starts (train validates the rest).
  for (const char* name : {"epochs", "batch", "eval-every"})
    if (given(vm, name) && parse_unsigned(std::string("--") + name, vm[name].as<std::string>()) == 0)
      throw UsageError(std::string("--") + name + " = 0: must be > 0");
  read_thread_flag(vm);  // 1..256, checked before any run starts
  read_thread_split_flag(vm);
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
}  // namespace saddle::cli::experiments
