// The options of `saddle train` and the reader of its --config INI file (train_config.hpp).
#include "train_config.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <set>

#include "cli_common.hpp"
#include "saddle/solvers.hpp"
#include "solver_flags.hpp"

namespace saddle::cli {

namespace fs = std::filesystem;

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
      ("log-alpha-min", po::value<std::string>()->value_name("X")->default_value("-6.907755"), "lower bound "
       "of the gate parameters log_alpha, in [-20, 0): ln 1e-3, a closed gate counts 0.0049 of expected density "
       "(the papers' codes: ln 0.01 = -4.605170185988091, 0.047)")
      ("ema", po::value<std::string>()->value_name("BETA")->default_value("0"), "evaluate a moving average of the "
       "parameters with decay BETA in [0, 1) (0 = off; [LZ] uses 0.999)");
  po::options_description how("Solver [dual restarts: on unless --no-dual-restarts]", 100, 50);
  how.add_options()
      ("solver", po::value<std::string>()->value_name("NAME")->default_value("gda"),
       saddle::scheme_choices().c_str())
      ("formulation", po::value<std::string>()->value_name("NAME")->default_value("lagrangian"),
       "lagrangian | augmented-lagrangian | quadratic-penalty");
  // The solver flags of solver_flags.hpp (the same as solve's), with train's defaults.
  // The dual update defaults (docs/formulations.md): nuPI on the violation relative to the
  // target, with a proportional term that saturates at kp * kp-clip = 0.18. (With the model
  // defaults above, log_alpha >= ln 1e-3 and the last 5 % of the epochs under fixed gates.)
  add_solver_flags(how, how, SolverFlagSet::all,
                   {{"primal-rule", "adam"}, {"primal-lr", "7e-4"}, {"momentum", "0.9"}, {"dual-rule", "nupi"},
                    {"dual-lr", "3e-5"}, {"kp", "30"}, {"kp-clip", "0.006"}, {"nu", "0"}, {"penalty", "1"}});
  how.add_options()
      ("dual-scale", po::value<std::string>()->value_name("NAME")->default_value("target"), "what the dual update "
       "measures a violation against: target (relative: (density - eps)/eps) | one (the violation as it is, the "
       "papers' protocol)")
      ("paper-protocol", po::bool_switch(), "the constrained-L0 paper's protocol instead of the defaults: "
       "--dual-rule gradient-ascent --dual-lr 1e-4 --dual-scale one --log-alpha-min -4.605170185988091 "
       "--fixed-gate-epochs 0, dual restarts on")
      ("batch", po::value<std::string>()->value_name("N")->default_value("128"), "minibatch size, 1 to the training set size")
      ("epochs", po::value<std::string>()->value_name("N")->default_value("200"), "epochs, > 0")
      ("fixed-gate-epochs", po::value<std::string>()->value_name("K|P%")->default_value("5%"), "the last K epochs "
       "(or P% of --epochs, rounded down) train the weights under fixed gates: log_alpha held, the deterministic "
       "test-time gates in the training forward (the network trained is the one evaluated; densities stop "
       "moving), K < --epochs")
      ("seed", po::value<std::string>()->value_name("S")->default_value("1"), "seed of init, shuffles and gate noise")
      ("eval-every", po::value<std::string>()->value_name("N")->default_value("1"), "test-set evaluation every N epochs");
  add_thread_flag(how, true);
  po::options_description output("Output", 100, 50);
  output.add_options()
      ("config", po::value<std::string>()->value_name("FILE"), "read options from an INI file (lines 'name = value', "
       "names without the dashes, # comments); options on the command line override it")
      ("out", po::value<std::string>()->value_name("DIR"), "write the run folder (summary.json, metrics.jsonl, steps.csv, "
       "config.ini, checkpoint.bin, dynamics.png, ...) to DIR")
      ("overwrite", po::bool_switch(), "allow --out to name a folder that already holds a run")
      ("resume", po::value<std::string>()->value_name("DIR"), "continue the run in DIR from its last checkpoint, "
       "with the configuration recorded there (only --quiet, --json and --progress may be added)")
      ("log-every", po::value<std::string>()->value_name("N")->default_value("50"), "with --out: a row of steps.csv every "
       "N steps (0 = no steps.csv)")
      ("progress", po::value<std::string>()->value_name("MODE")->default_value("auto"), "auto (a progress bar on a "
       "terminal, a line per epoch otherwise) | bar | lines")
      ("json", po::bool_switch(), "print one JSON object (the summary) on stdout instead of the table")
      ("quiet", po::bool_switch(), "print only the final table (or the --json object)")
      ("help,h", po::bool_switch(), "print this help and exit");
  po::options_description all("saddle train options", 100, 50);
  all.add(what).add(how).add(output);
  return all;
}

std::string trim_text(const std::string& text) {
  std::size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  return text.substr(b, e - b);
}

// The values Boost.Program_options accepts for a switch (any case; empty means true).
// load_config_file checks switches itself: Boost 1.74's message for a bad value loops
// forever when the value contains "%value%" (it substitutes the value into itself).
bool is_bool_word(std::string value) {
  for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* word : {"", "on", "yes", "1", "true", "off", "no", "0", "false"})
    if (value == word) return true;
  return false;
}

// Reads the INI file `path` (Boost.Program_options config-file syntax: `name = value`,
// `#` starts a comment) and stores its values under the options the command line did not
// give (po::store keeps the first value stored). Boost's own messages carry no line
// number, so a scan first checks every line and names the line of the first problem.
void load_config_file(const std::string& path, const po::options_description& options, po::variables_map& vm) {
  const std::string where = "--config " + path + ": ";
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw UsageError(where + "is a folder, not a file");
  std::ifstream in(path);
  if (!in) throw UsageError(where + "cannot read the file (" + std::strerror(errno) + ")");
  std::map<std::string, std::size_t> seen;  // name -> line
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    const std::string at = where + "line " + std::to_string(number) + ": ";
    const std::string text = trim_text(line.substr(0, line.find('#')));
    if (text.empty()) continue;
    if (text.front() == '[')
      throw UsageError(at + "sections are not used ('" + text + "'); write 'name = value' lines only");
    const auto eq = text.find('=');
    if (eq == std::string::npos) throw UsageError(at + "expected 'name = value', got '" + text + "'");
    std::string name = trim_text(text.substr(0, eq));
    if (name.empty()) throw UsageError(at + "missing option name before '='");
    if (name.rfind("--", 0) == 0)
      throw UsageError(at + "write option names without the dashes ('" + name.substr(2) + " = ...')");
    if (options.find_nothrow(name, false) == nullptr) throw UsageError(at + "unknown option '" + name + "'");
    if (name == "config" || name == "resume" || name == "help")
      throw UsageError(at + "'" + name + "' cannot be set in a config file");
    const po::option_description* option = options.find_nothrow(name, false);
    if (option->semantic()->max_tokens() == 0 && !is_bool_word(trim_text(text.substr(eq + 1))))
      throw UsageError(at + "'" + name + "' takes true or false (or on/off, yes/no, 1/0), got '" +
                       trim_text(text.substr(eq + 1)) + "'");
    const auto previous = seen.find(name);
    if (previous != seen.end())
      throw UsageError(at + "'" + name + "' is already set on line " + std::to_string(previous->second));
    seen.emplace(name, number);
  }
  if (in.bad()) throw UsageError(where + "read error");
  in.clear();
  in.seekg(0);
  try {
    po::store(po::parse_config_file(in, options, false), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(where + e.what());
  }
}

void apply_paper_protocol(po::variables_map& vm) {
  if (!vm["paper-protocol"].as<bool>()) return;
  // [GP] configs/defaults/mnist_defaults.yml: dual SGD lr 1e-4 on the plain violation, restarts.
  // The papers' model too: log_alpha clamped at ln 0.01, no fixed-gate phase.
  const std::pair<const char*, const char*> paper[] = {{"dual-rule", "gradient-ascent"},
                                                       {"dual-lr", "1e-4"},
                                                       {"dual-scale", "one"},
                                                       {"log-alpha-min", "-4.605170185988091"},
                                                       {"fixed-gate-epochs", "0"}};
  for (const auto& [name, value] : paper) {
    auto& v = vm.at(name);
    const std::string current = v.as<std::string>();
    const std::string flag = std::string("--") + name;
    const bool numeric = flag == "--dual-lr" || flag == "--log-alpha-min";
    // --fixed-gate-epochs: any spelling of no epoch (0, 00, 0%, 0.0%) is the paper's.
    auto no_epochs = [&](const std::string& t) {
      if (!t.empty() && t.back() == '%') return parse_double(flag, t.substr(0, t.size() - 1)) == 0.0;
      return parse_unsigned(flag, t) == 0;
    };
    const bool same = numeric                           ? parse_double(flag, current) == parse_double(flag, value)
                      : flag == "--fixed-gate-epochs" ? no_epochs(current)
                                                        : current == value;
    if (!v.defaulted() && !same)
      throw UsageError(std::string("--paper-protocol sets --") + name + " " + value + "; drop --" + name + " " + current);
    v.value() = std::string(value);
  }
  if (vm["no-dual-restarts"].as<bool>())
    throw UsageError("--paper-protocol uses dual restarts; drop --no-dual-restarts");
}

// --- the configuration of a run folder (args.txt, config.ini) ---

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
                      const saddle::l0::TrainConfig& c) {
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


}  // namespace saddle::cli
