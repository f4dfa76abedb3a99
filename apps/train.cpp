// `saddle train`: train a gated network on MNIST or Fashion-MNIST to a target density
// (constrained L0, Gallego-Posada et al. 2021) or with a fixed L0 penalty (Louizos et al.
// 2018). Prints a line per epoch and a final table; --json prints one JSON object; --out
// DIR writes summary.json, metrics.jsonl and the command line.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "json.hpp"
#include "saddle/problems/l0/experiment.hpp"
#include "saddle/solver.hpp"

namespace saddle::cli {
namespace {

namespace fs = std::filesystem;
using saddle::l0::TrainConfig;

po::options_description train_options() {
  po::options_description what("Experiment", 100, 50);
  what.add_options()
      ("model", po::value<std::string>()->value_name("NAME")->default_value("mlp"), "mlp (784-300-100-10) | lenet5 (LeNet5-Caffe)")
      ("dataset", po::value<std::string>()->value_name("NAME")->default_value("mnist"), "mnist | fashion-mnist")
      ("data-dir", po::value<std::string>()->value_name("DIR"), "folder with the IDX files [default: data/<dataset>; "
       "fashion-mnist falls back to Debian's /usr/share/datasets/fashion-mnist]")
      ("target-density", po::value<std::string>()->value_name("X"), "model-level constraint: expected density <= X, "
       "X in (0, 1] [default: 0.33]")
      ("layer-densities", po::value<std::string>()->value_name("A,B,..."), "layer-level constraints, one target per "
       "gated layer (mlp: 3, lenet5: 4)")
      ("l0-penalty", po::value<std::string>()->value_name("L[,L..]"), "penalized L0 instead of constraints: fixed "
       "multiplier(s), one (model level) or one per layer")
      ("penalty-form", po::value<std::string>()->value_name("NAME")->default_value("density"), "measure the L0 penalty "
       "multiplies: density (normalised, [GP]) | count (expected active weights, [LZ]: lambda = 0.1/N)")
      ("input-scaling", po::value<std::string>()->value_name("NAME")->default_value("standardize"), "standardize "
       "((p - 0.1307)/0.3081, [GP]) | unit (p in [0, 1], [LZ])")
      ("test-gate", po::value<std::string>()->value_name("NAME")->default_value("median"), "test-time gate: median "
       "([GP]) | mean_eq13 (Eq. 13 of the L0 paper, [LZ])")
      ("init", po::value<std::string>()->value_name("NAME")->default_value("lz"), "weight init: lz (L0 code: He "
       "fan-in, zero biases) | gp (constrained-L0 code: std sqrt(2/out), W/(1-d); trains far slower, docs/results.md)")
      ("weight-decay", po::value<std::string>()->value_name("X")->default_value("0"), "L2 under the gates (Eq. 15), >= 0")
      ("ema", po::value<std::string>()->value_name("BETA")->default_value("0"), "evaluate a moving average of the "
       "parameters with decay BETA in [0, 1) (0 = off; [LZ] uses 0.999)");
  po::options_description how("Solver", 100, 50);
  how.add_options()
      ("solver", po::value<std::string>()->value_name("NAME")->default_value("gda"), "gda | alternating-primal-dual | "
       "alternating-dual-primal | extragradient | extrapolation-from-the-past")
      ("formulation", po::value<std::string>()->value_name("NAME")->default_value("lagrangian"),
       "lagrangian | augmented-lagrangian | quadratic-penalty")
      ("no-dual-restarts", po::bool_switch(), "keep multipliers when constraints are satisfied [default: restarts on]")
      ("primal-rule", po::value<std::string>()->value_name("NAME")->default_value("adam"), "sgd | momentum | nesterov | adam")
      ("primal-lr", po::value<std::string>()->value_name("X")->default_value("7e-4"), "primal step size, > 0")
      ("momentum", po::value<std::string>()->value_name("X")->default_value("0.9"), "momentum coefficient in [0, 1)")
      ("dual-rule", po::value<std::string>()->value_name("NAME")->default_value("gradient-ascent"), "gradient-ascent | nupi")
      ("dual-lr", po::value<std::string>()->value_name("X")->default_value("1e-4"), "dual step size, > 0")
      ("kp", po::value<std::string>()->value_name("X")->default_value("0"), "nuPI proportional gain, >= 0")
      ("nu", po::value<std::string>()->value_name("X")->default_value("0"), "nuPI EMA coefficient, in [0, 1)")
      ("penalty", po::value<std::string>()->value_name("X")->default_value("1"), "augmented Lagrangian / quadratic "
       "penalty coefficient rho, > 0")
      ("batch", po::value<std::string>()->value_name("N")->default_value("128"), "minibatch size, > 0")
      ("epochs", po::value<std::string>()->value_name("N")->default_value("200"), "epochs, > 0")
      ("seed", po::value<std::string>()->value_name("S")->default_value("1"), "seed of init, shuffles and gate noise")
      ("eval-every", po::value<std::string>()->value_name("N")->default_value("1"), "test-set evaluation every N epochs");
  po::options_description output("Output", 100, 50);
  output.add_options()
      ("out", po::value<std::string>()->value_name("DIR"), "write summary.json, metrics.jsonl and command.txt to DIR")
      ("overwrite", po::bool_switch(), "allow --out to name a folder that already holds a run")
      ("resume", po::value<std::string>()->value_name("DIR"), "continue the run in DIR from its last checkpoint, "
       "with the configuration recorded there (only --quiet and --json may be added)")
      ("json", po::bool_switch(), "print one JSON object (the summary) on stdout instead of the table")
      ("quiet", po::bool_switch(), "no per-epoch lines")
      ("help,h", po::bool_switch(), "print this help and exit");
  po::options_description all("saddle train options", 100, 50);
  all.add(what).add(how).add(output);
  return all;
}

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

int train_body(const std::vector<std::string>& given_args, std::ostream& out, std::ostream& err) {
  const auto options = train_options();
  auto vm = parse_arguments(given_args, options);
  std::vector<std::string> args = given_args;
  std::string resume_dir;
  if (given(vm, "resume")) {
    // Re-parse the configuration recorded by the run; only output flags may be added.
    resume_dir = vm["resume"].as<std::string>();
    for (const auto& a : given_args)
      if (a.rfind("--", 0) == 0 && a != "--resume" && a != "--quiet" && a != "--json" && a.rfind("--resume=", 0) != 0)
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
    vm = parse_arguments(args, options);
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

  c.solver = vm["solver"].as<std::string>();
  {
    const auto schemes = saddle::scheme_names();
    if (std::find(schemes.begin(), schemes.end(), c.solver) == schemes.end())
      throw UsageError("unknown solver '" + c.solver + "' (choices: " + join(schemes) + ")");
  }
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

  // Output folder: refuse to mix two runs unless asked to.
  std::string out_dir;
  if (!resume_dir.empty()) {
    out_dir = resume_dir;
    c.resume_from = (fs::path(out_dir) / "checkpoint.bin").string();
    c.checkpoint_path = c.resume_from;
  } else if (given(vm, "out")) {
    out_dir = vm["out"].as<std::string>();
    std::error_code ec;
    if (fs::exists(out_dir, ec) && !fs::is_empty(out_dir, ec) && !vm["overwrite"].as<bool>())
      throw UsageError("--out " + out_dir + ": folder already holds files (use --overwrite to replace the run)");
    fs::create_directories(out_dir, ec);
    if (ec || !fs::is_directory(out_dir))
      throw UsageError("--out " + out_dir + ": cannot create the folder (" + ec.message() + ")");
    std::ofstream cmd(fs::path(out_dir) / "command.txt");
    cmd << "saddle train";
    for (const auto& a : args) cmd << ' ' << a;
    cmd << '\n';
    std::ofstream arg_file(fs::path(out_dir) / "args.txt");  // one argument per line, for --resume
    for (const auto& a : args)
      if (a != "--overwrite" && a != "--quiet" && a != "--json") arg_file << a << '\n';
    if (!cmd || !arg_file) throw UsageError("--out " + out_dir + ": folder is not writable");
    c.checkpoint_path = (fs::path(out_dir) / "checkpoint.bin").string();
  }

  const auto data = saddle::l0::load_dataset(dataset, data_dir, scaling);
  const bool json = vm["json"].as<bool>();
  const bool quiet = vm["quiet"].as<bool>() || json;
  std::ostream& log = json ? err : out;
  if (!quiet) {
    log << "saddle train: " << saddle::l0::to_string(c.architecture) << " on " << dataset << " (" << data.train.size()
        << " train, " << data.test.size() << " test), solver " << c.solver << ", "
        << (c.penalties.empty() ? formulation : "fixed-penalty " + format_list(c.penalties))
        << (so.dual_restarts && c.penalties.empty() ? ", dual restarts" : "") << ", " << c.epochs << " epochs\n";
  }
  std::ofstream metrics;
  if (!out_dir.empty()) metrics.open(fs::path(out_dir) / "metrics.jsonl");  // rewritten whole on resume

  auto on_epoch = [&](const saddle::l0::EpochMetrics& m) {

    if (!quiet) {
      log << "epoch " << std::setw(3) << m.epoch << "/" << c.epochs << "  loss " << fixed(m.train_loss, 4)
          << "  train err " << percent(m.train_error) << "  test err " << percent(m.test_error) << "  density "
          << fixed(m.expected_density, 4) << " [";
      for (std::size_t l = 0; l < m.layer_densities.size(); ++l) log << (l ? " " : "") << fixed(m.layer_densities[l], 3);
      log << "]  test-time " << fixed(m.test_time_density, 4) << "  arch " << m.pruned_architecture << "  lambda "
          << format_list(m.multipliers) << "  " << fixed(m.seconds, 1) << "s\n";
      log.flush();
    }
    if (metrics.is_open()) {
      JsonWriter j(metrics, 0);
      write_epoch_json(j, m);  // the writer ends the line
      metrics.flush();
    }
    return true;
  };
  auto on_restore = [&](const std::vector<saddle::l0::EpochMetrics>& history) {
    // A resumed run rewrites metrics.jsonl from the checkpoint's history, so an epoch that
    // was logged but not checkpointed before a kill is not listed twice.
    for (const auto& m : history) {
      JsonWriter j(metrics, 0);
      write_epoch_json(j, m);  // the writer ends the line
    }
    metrics.flush();
    if (!quiet) log << "resumed from " << c.resume_from << " after epoch " << history.size() << "\n";
  };
  const auto result = saddle::l0::train(c, data, on_epoch, on_restore);
  const auto& f = result.final_metrics;

  if (!out_dir.empty()) {
    const fs::path tmp = fs::path(out_dir) / "summary.json.tmp";
    {
      std::ofstream s(tmp);
      JsonWriter j(s, 2);
      write_summary_json(j, c, dataset, formulation, result);
      if (!s) throw UsageError("--out " + out_dir + ": cannot write summary.json");
    }
    fs::rename(tmp, fs::path(out_dir) / "summary.json");  // atomic on POSIX
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
  return result.summary.termination == saddle::Termination::numerical_failure ? kExitNumericalFailure : kExitOk;
}

}  // namespace

int run_train(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return guarded(err, "train", [&] { return train_body(args, out, err); });
}

}  // namespace saddle::cli
