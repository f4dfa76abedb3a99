// The one definition of the solver flags of the command line (solver_flags.hpp).
#include "solver_flags.hpp"

#include "saddle/problems/l0/experiment.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace saddle::cli {

namespace {

// Line width of the option groups and the minimum width of their description column.
constexpr unsigned kHelpWidth = 100;
constexpr unsigned kHelpDescriptionWidth = 50;

struct FlagText {
  const char* name;
  const char* value_name;
  const char* help;
  bool rule;  // update rule (else: formulation setting)
};

// clang-format off
const std::vector<FlagText>& flag_texts() {
  static const std::vector<FlagText> flags = {
      {"primal-rule", "NAME", "sgd | momentum | nesterov | adam", true},
      {"primal-lr", "X", "primal step size, > 0", true},
      {"momentum", "X", "momentum coefficient in [0, 1) (momentum, nesterov)", true},
      {"beta1", "X", "Adam first-moment decay in [0, 1)", true},
      {"beta2", "X", "Adam second-moment decay in [0, 1)", true},
      {"dual-rule", "NAME", "gradient-ascent | nupi", true},
      {"dual-lr", "X", "dual step size (nuPI: integral gain), > 0", true},
      {"kp", "X", "nuPI proportional gain, >= 0 (0 = gradient ascent)", true},
      {"nu", "X", "nuPI EMA coefficient of the error signal, in [0, 1)", true},
      {"kp-clip", "X", "nuPI: the proportional term sees the error clipped to [-X, X], > 0 (inf = no clipping)", true},
      {"penalty", "X", "initial penalty coefficient rho, > 0 (augmented-lagrangian, quadratic-penalty)", false},
      {"penalty-growth", "NAME", "none | multiplicative | additive", false},
      {"growth-factor", "X", "rho *= X where violated, > 1 (multiplicative)", false},
      {"growth-increment", "X", "rho += X where violated, > 0 (additive)", false},
      {"growth-tolerance", "X", "grow rho where the violation exceeds X, >= 0", false},
      {"max-penalty", "X", "cap on rho, >= --penalty", false},
  };
  return flags;
}
// clang-format on

}  // namespace

const std::vector<std::string>& valued_solver_flags() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& f : flag_texts()) n.emplace_back(f.name);
    return n;
  }();
  return names;
}

void add_solver_flags(po::options_description& rules, po::options_description& formulation,
                      SolverFlagSet set, const SolverFlagDefaults& defaults) {
  for (const auto& [name, text] : defaults)
    if (std::find(valued_solver_flags().begin(), valued_solver_flags().end(), name) ==
        valued_solver_flags().end())
      throw std::logic_error("add_solver_flags: '" + name + "' is not a valued solver flag");
  for (const auto& f : flag_texts()) {
    auto* value = po::value<std::string>()->value_name(f.value_name);
    const auto d = defaults.find(f.name);
    if (d != defaults.end()) value->default_value(d->second);
    (f.rule ? rules : formulation).add_options()(f.name, value, f.help);
    if (set == SolverFlagSet::all && std::string(f.name) == "kp-clip") {
      rules.add_options()("dual-restarts", po::bool_switch(),
                          "reset the multiplier of every strictly satisfied inequality to 0")(
          "no-dual-restarts", po::bool_switch(),
          "keep the multipliers when the constraints are satisfied");
    }
  }
}

void read_solver_flags(const po::variables_map& vm, SolverOptions& o) {
  auto has = [&](const char* name) { return vm.count(name) > 0; };
  auto text = [&](const char* name) { return vm[name].as<std::string>(); };
  auto set_double = [&](const char* name, double& field) {
    if (has(name)) field = parse_double(std::string("--") + name, text(name));
  };
  if (has("primal-rule"))
    o.primal.kind = parse_choice("--primal-rule", text("primal-rule"), saddle::parse_primal_rule);
  set_double("primal-lr", o.primal.lr);
  set_double("momentum", o.primal.momentum);
  set_double("beta1", o.primal.beta1);
  set_double("beta2", o.primal.beta2);
  if (has("dual-rule"))
    o.dual.kind = parse_choice("--dual-rule", text("dual-rule"), saddle::parse_dual_rule);
  set_double("dual-lr", o.dual.lr);
  set_double("kp", o.dual.kp);
  set_double("nu", o.dual.nu);
  set_double("kp-clip", o.dual.kp_clip);
  const bool restarts = has("dual-restarts") && vm["dual-restarts"].as<bool>();
  const bool no_restarts = has("no-dual-restarts") && vm["no-dual-restarts"].as<bool>();
  if (restarts && no_restarts)
    throw UsageError("give only one of --dual-restarts, --no-dual-restarts");
  if (restarts) o.dual_restarts = true;
  if (no_restarts) o.dual_restarts = false;

  set_double("penalty", o.formulation.penalty);
  if (has("penalty-growth"))
    o.formulation.growth =
        parse_choice("--penalty-growth", text("penalty-growth"), saddle::parse_penalty_growth);
  set_double("growth-factor", o.formulation.growth_factor);
  set_double("growth-increment", o.formulation.growth_increment);
  set_double("growth-tolerance", o.formulation.growth_tolerance);
  set_double("max-penalty", o.formulation.max_penalty);
  // Defaults may cap rho at the initial penalty (no growth); a user who raises --penalty or
  // asks for growth without giving --max-penalty means "no tighter cap than the library
  // default".
  if (!has("max-penalty") && (has("penalty") || has("penalty-growth")))
    o.formulation.max_penalty =
        std::max(o.formulation.max_penalty,
                 std::max(o.formulation.penalty, FormulationOptions{}.max_penalty));
}

std::vector<std::string> given_solver_flags(const po::variables_map& vm) {
  std::vector<std::string> args;
  for (const auto& name : valued_solver_flags())
    if (given(vm, name.c_str())) {
      args.push_back("--" + name);
      args.push_back(vm[name].as<std::string>());
    }
  return args;
}

void add_thread_flag(po::options_description& options, bool with_default) {
  auto* value = po::value<std::string>()->value_name("N");
  if (with_default) value->default_value("1");
  options.add_options()(
      "threads", value,
      "threads of a run, 1..256: each minibatch and the test set are split over N threads "
      "(1 = one thread; same N and seed, same result bit for bit; docs/l0.md)");
  auto* split = po::value<std::string>()->value_name("HOW");
  if (with_default) split->default_value("auto");
  options.add_options()(
      "thread-split", split,
      "how --threads N split a minibatch: batch (N replicas of the model, each a share of the "
      "rows), layers (one model, the dense layers' work split over the threads), auto (layers "
      "for mlp, batch for lenet5: the faster, docs/performance.md)");
}

saddle::l0::ThreadSplit read_thread_split_flag(const po::variables_map& vm) {
  const std::string text = vm.count("thread-split") ? vm["thread-split"].as<std::string>() : "auto";
  try {
    return saddle::l0::parse_thread_split(text);
  } catch (const InvalidOption& e) {
    throw UsageError(rename_fields(e.what(), {{"thread_split", "--thread-split"}}));
  }
}

std::size_t read_thread_flag(const po::variables_map& vm) {
  if (!vm.count("threads")) return 1;
  const std::string text = vm["threads"].as<std::string>();
  const auto n = parse_unsigned("--threads", text);
  if (n == 0 || n > 256) throw UsageError("--threads = " + text + ": must be in 1..256");
  return static_cast<std::size_t>(n);
}

}  // namespace saddle::cli
