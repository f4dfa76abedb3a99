// `saddle train`: train a gated network on MNIST or Fashion-MNIST to a target density
// (constrained L0, Gallego-Posada et al. 2021) or with a fixed L0 penalty (Louizos et al.
// 2018). Options come from the command line and/or an INI file (--config). Prints a
// progress bar on a terminal, a line per epoch otherwise, and a final table; --json prints
// one JSON object; --out DIR writes the run folder (command.txt, args.txt, config.ini,
// metrics.jsonl, steps.csv, checkpoint.bin, summary.json, dynamics.{dat,gp,png}).

//
// This file is the run itself: the options read into a TrainConfig, the run folder
// prepared, the training loop with its per-epoch lines, and the final report. The options
// and run-folder configuration are in train_config.cpp, --resume in train_resume.cpp, the
// JSON and plot outputs in train_outputs.cpp, steps.csv and the progress bar in
// train_progress.cpp.

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "json_io.hpp"
#include "saddle/atomic_file.hpp"
#include "saddle/problems/l0/experiment.hpp"
#include "saddle/solver.hpp"
#include "saddle/solvers.hpp"
#include "solver_flags.hpp"
#include "stop_signal.hpp"
#include "train_config.hpp"
#include "train_outputs.hpp"
#include "train_progress.hpp"
#include "world.hpp"

namespace saddle::cli {
namespace {

// --fixed-gate-epochs: K epochs, or P% of --epochs (rounded down), K < --epochs.
std::size_t fixed_gate_epochs(const std::string& text, std::size_t epochs) {
  std::size_t k = 0;
  if (!text.empty() && text.back() == '%') {
    const double percent = parse_double("--fixed-gate-epochs", text.substr(0, text.size() - 1));
    if (!(percent >= 0.0 && percent < 100.0))
      throw UsageError("--fixed-gate-epochs = " + text + ": a share of the epochs must be in [0%, 100%)");
    k = static_cast<std::size_t>(std::floor(static_cast<double>(epochs) * percent / 100.0 + 1e-9));
  } else {
    k = static_cast<std::size_t>(parse_unsigned("--fixed-gate-epochs", text));
  }
  if (k >= epochs)
    throw UsageError("--fixed-gate-epochs = " + text + ": must be < --epochs (" + std::to_string(epochs) + ")");
  return k;
}

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


int train_body(const std::vector<std::string>& given_args, std::ostream& out, std::ostream& err) {
  const auto options = train_options();
  auto vm = parse_arguments(given_args, options);
  std::vector<std::string> args = given_args;
  std::string resume_dir;
  if (given(vm, "resume")) {
    resume_dir = vm["resume"].as<std::string>();
    args = resume_arguments(resume_dir, given_args, vm);
    vm = parse_arguments(args, options);
    if (given(vm, "config")) load_config_file(vm["config"].as<std::string>(), options, vm);
  } else if (given(vm, "config")) {
    load_config_file(vm["config"].as<std::string>(), options, vm);
  }
  apply_paper_protocol(vm);
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
  c.log_alpha_min = number(vm, "log-alpha-min");
  c.ema_beta = number(vm, "ema");
  const std::string dual_scale = vm["dual-scale"].as<std::string>();
  if (dual_scale == "target")
    c.dual_scale = saddle::l0::DualScale::target;
  else if (dual_scale == "one")
    c.dual_scale = saddle::l0::DualScale::one;
  else
    throw UsageError("unknown --dual-scale '" + dual_scale + "' (choices: target, one)");

  c.solver = checked_solver(vm["solver"].as<std::string>());
  const std::string formulation = vm["formulation"].as<std::string>();
  auto& so = c.solver_options;
  so.formulation.kind = saddle::parse_formulation(formulation);
  if (so.formulation.kind == saddle::FormulationKind::fixed_penalty)
    throw UsageError("--formulation fixed-penalty: use --l0-penalty LAMBDA for penalized L0");
  so.dual_restarts = true;  // train's default; --no-dual-restarts turns them off
  read_solver_flags(vm, so);
  c.batch = positive_size(vm, "batch");
  c.epochs = positive_size(vm, "epochs");
  c.fixed_gate_epochs = fixed_gate_epochs(vm["fixed-gate-epochs"].as<std::string>(), c.epochs);
  so.max_epochs = c.epochs;
  validate_with_flags(so);
  c.seed = parse_unsigned("--seed", vm["seed"].as<std::string>());
  c.eval_every = positive_size(vm, "eval-every");
  c.threads = read_thread_flag(vm);
  c.thread_split = read_thread_split_flag(vm);
  try {
    c.validate();
  } catch (const saddle::InvalidOption& e) {
    throw UsageError(rename_fields(e.what(), {{"ema", "--ema"}, {"weight_decay", "--weight-decay"}, {"log_alpha_min", "--log-alpha-min"}}));
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
      metrics_text += json_text(epoch_json(m), 0);  // the text ends the line
      saddle::write_file_atomically(metrics_path, metrics_text);
    }
    return true;
  };
  auto on_restore = [&](const std::vector<saddle::l0::EpochMetrics>& history) {
    // A resumed run rewrites metrics.jsonl from the checkpoint's history, so an epoch that
    // was logged but not checkpointed before a kill is not listed twice.
    for (const auto& m : history) metrics_text += json_text(epoch_json(m), 0);
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
    saddle::write_file_atomically((fs::path(out_dir) / "summary.json").string(),
                                  json_text(summary_json(c, dataset, formulation, result), 2));  // WriteError: exit 4
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
    if (json) out << json_text(summary_json(c, dataset, formulation, result), 2);
    print_error(err, "training diverged at epoch " + std::to_string(result.summary.epochs + 1) + ", iteration " +
                         std::to_string(result.summary.iterations + 1) + ": " + result.summary.message +
                         "; last good checkpoint: " + checkpoint);
    return kExitNumericalFailure;
  }
  if (json) {
    out << json_text(summary_json(c, dataset, formulation, result), 2);
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
