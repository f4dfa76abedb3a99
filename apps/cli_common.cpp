#include "cli_common.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <ostream>
#include <sstream>

#include "saddle/atomic_file.hpp"
#include "saddle/solvers.hpp"
#include "saddle/types.hpp"
#include "stop_signal.hpp"

namespace saddle::cli {

void print_error(std::ostream& err, const std::string& message) {
  std::string line = message;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  err << "saddle: error: " << line << '\n';
  err.flush();
}

int guarded(std::ostream& err, const std::string& command, const std::function<int()>& body) {
  const std::string hint = " (see 'saddle " + command + " --help')";
  try {
    return body();
  } catch (const saddle::WriteError& e) {  // before InputError, its base
    print_error(err, e.what());
    return kExitWriteFailure;
  } catch (const StopRequested& e) {
    return report_stop(err, e);
  } catch (const UsageError& e) {
    print_error(err, e.what());
  } catch (const saddle::InvalidOption& e) {
    print_error(err, e.what());
  } catch (const saddle::InputError& e) {
    print_error(err, e.what());
  } catch (const po::error& e) {
    // Unknown option, missing value, repeated option, positional argument: name the
    // offending token (Boost's message does) and point to the option list.
    print_error(err, e.what() + hint);
  } catch (const std::bad_alloc&) {
    print_error(err, "out of memory");
    return kExitError;
  } catch (const std::exception& e) {
    print_error(err, std::string("internal error: ") + e.what());
    return kExitError;
  } catch (...) {
    print_error(err, "internal error: unknown exception");
    return kExitError;
  }
  return kExitUsage;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string s;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) s += separator;
    s += items[i];
  }
  return s;
}

namespace {

std::string trim(const std::string& text) {
  std::size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  return text.substr(b, e - b);
}

[[noreturn]] void bad_value(const std::string& flag, const std::string& text, const std::string& rule) {
  throw UsageError(flag + " = '" + text + "': " + rule);
}

}  // namespace

double parse_double(const std::string& flag, const std::string& text) {
  const std::string t = trim(text);
  if (t.empty()) bad_value(flag, text, "expected a number");
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) bad_value(flag, text, "expected a number");
  if (std::isnan(v)) bad_value(flag, text, "NaN is not a valid value");
  // Overflow gives +-HUGE_VAL (= inf) with ERANGE; underflow to a denormal or 0 is fine.
  if (errno == ERANGE && std::isinf(v)) bad_value(flag, text, "number out of range");
  return v;
}

std::uint64_t parse_unsigned(const std::string& flag, const std::string& text) {
  // strtoull would accept a sign (and wrap "-1" around): demand digits only.
  if (text.empty()) bad_value(flag, text, "expected a non-negative integer");
  for (const char c : text)
    if (!std::isdigit(static_cast<unsigned char>(c))) bad_value(flag, text, "expected a non-negative integer");
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE || v > std::numeric_limits<std::uint64_t>::max())
    bad_value(flag, text, "integer out of range");
  return static_cast<std::uint64_t>(v);
}

std::vector<double> parse_double_list(const std::string& flag, const std::string& text) {
  std::vector<double> values;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t comma = text.find(',', begin);
    const std::string item = text.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
    if (trim(item).empty()) bad_value(flag, text, "expected comma-separated numbers, e.g. 1,-2.5,0");
    values.push_back(parse_double(flag, item));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return values;
}

po::variables_map parse_arguments(const std::vector<std::string>& args,
                                  const po::options_description& options) {
  // unix_style without allow_guessing: "--pen" must not silently mean "--penalty".
  const int style = po::command_line_style::unix_style & ~po::command_line_style::allow_guessing;
  // Positional tokens are collected under a hidden name, so that the error can quote them
  // (Boost's own "too many positional options" does not say which).
  static const char* const kPositional = "saddle-positional-arguments";
  po::options_description all;
  all.add(options);
  all.add_options()(kPositional, po::value<std::vector<std::string>>());
  po::positional_options_description positionals;
  positionals.add(kPositional, -1);
  // Boost.Program_options 1.74 substitutes an offending token into its message template,
  // whose placeholders look like %name%: a token holding one (`--%original_token%`) makes it
  // loop forever. No option name has a '%', so such a token is refused before Boost sees it.
  for (const auto& a : args)
    if (a.size() > 1 && a[0] == '-' && a.find('%') != std::string::npos)
      throw UsageError("unknown option '" + a + "' (an option token cannot contain '%'; give a value with '%' " +
                       "as a separate word)");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(positionals).style(style).run(), vm);
  if (vm.count(kPositional))
    throw po::error("unexpected argument '" + vm[kPositional].as<std::vector<std::string>>().front() +
                    "' (every value follows its --option)");
  po::notify(vm);
  return vm;
}

bool given(const po::variables_map& vm, const char* name) {
  const auto it = vm.find(name);
  return it != vm.end() && !it->second.defaulted();
}

std::string string_or(const po::variables_map& vm, const char* name, const std::string& fallback) {
  return given(vm, name) ? vm[name].as<std::string>() : fallback;
}

const saddle::problems::ProblemRegistry& builtin_problems() {
  static const saddle::problems::ProblemRegistry registry = [] {
    saddle::problems::ProblemRegistry r;
    saddle::problems::register_builtin_problems(r);
    return r;
  }();
  return registry;
}

const FieldNames& solver_option_flags() {
  static const FieldNames names = {
      {"primal.lr", "--primal-lr"},
      {"primal.momentum", "--momentum"},
      {"primal.beta1", "--beta1"},
      {"primal.beta2", "--beta2"},
      {"dual.lr", "--dual-lr"},
      {"dual.kp", "--kp"},
      {"dual.nu", "--nu"},
      {"dual.kp_clip", "--kp-clip"},
      {"formulation.penalty", "--penalty"},
      {"formulation.growth_factor", "--growth-factor"},
      {"formulation.growth_increment", "--growth-increment"},
      {"formulation.growth_tolerance", "--growth-tolerance"},
      {"formulation.max_penalty", "--max-penalty"},
      {"max_iterations", "--iterations"},
      {"max_epochs", "--epochs"},
      {"batch_size", "--batch"},
      {"tolerance", "--tolerance"},
      {"feasibility_tolerance", "--feasibility-tolerance"},
      {"initial_multipliers", "--multipliers"},
      {"seed", "--seed"},
  };
  return names;
}

std::string rename_fields(const std::string& message, const FieldNames& names) {
  auto is_token_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  };
  std::string out;
  std::size_t i = 0;
  while (i < message.size()) {
    if (!is_token_char(message[i])) {
      out += message[i++];
      continue;
    }
    std::size_t j = i;
    while (j < message.size() && is_token_char(message[j])) ++j;
    std::string token = message.substr(i, j - i);
    // A token may end with the sentence's full stop: "... >= formulation.penalty."
    std::string trailing;
    while (!token.empty() && token.back() == '.') {
      trailing += '.';
      token.pop_back();
    }
    bool replaced = false;
    for (const auto& [field, flag] : names)
      if (token == field) {
        out += flag;
        replaced = true;
        break;
      }
    if (!replaced) out += token;
    out += trailing;
    i = j;
  }
  return out;
}

std::string checked_solver(const std::string& name) {
  try {
    return saddle::find_scheme(name).name;
  } catch (const saddle::InvalidOption& e) {
    throw UsageError(e.what());
  }
}

void validate_with_flags(const SolverOptions& options) {
  try {
    options.validate();
  } catch (const saddle::InvalidOption& e) {
    throw UsageError(rename_fields(e.what(), solver_option_flags()));
  }
}

std::string format_number(double v) {
  std::ostringstream s;
  s.precision(10);
  s << v;
  return s.str();
}

std::string format_list(const std::vector<double>& values) {
  std::string s = "(";
  for (std::size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + format_number(values[i]);
  return s + ")";
}

std::vector<std::string> describe_options(const SolverOptions& o) {
  const auto n = [](double v) { return format_number(v); };
  std::vector<std::string> lines = {
      std::string("--formulation = ") + to_string(o.formulation.kind),
      std::string("--primal-rule = ") + to_string(o.primal.kind),
      "--primal-lr = " + n(o.primal.lr),
  };
  if (o.primal.kind == PrimalRuleKind::momentum || o.primal.kind == PrimalRuleKind::nesterov)
    lines.push_back("--momentum = " + n(o.primal.momentum));
  if (o.primal.kind == PrimalRuleKind::adam) {
    lines.push_back("--beta1 = " + n(o.primal.beta1));
    lines.push_back("--beta2 = " + n(o.primal.beta2));
  }
  lines.push_back(std::string("--dual-rule = ") + to_string(o.dual.kind));
  lines.push_back("--dual-lr = " + n(o.dual.lr));
  if (o.dual.kind == DualRuleKind::nupi) {
    lines.push_back("--kp = " + n(o.dual.kp));
    lines.push_back("--nu = " + n(o.dual.nu));
    lines.push_back("--kp-clip = " + n(o.dual.kp_clip));
  }
  lines.push_back(std::string("--dual-restarts = ") + (o.dual_restarts ? "on" : "off"));
  lines.push_back("--penalty = " + n(o.formulation.penalty));
  lines.push_back(std::string("--penalty-growth = ") + to_string(o.formulation.growth));
  if (o.formulation.growth == PenaltyGrowth::multiplicative)
    lines.push_back("--growth-factor = " + n(o.formulation.growth_factor));
  if (o.formulation.growth == PenaltyGrowth::additive)
    lines.push_back("--growth-increment = " + n(o.formulation.growth_increment));
  if (o.formulation.growth != PenaltyGrowth::none) {
    lines.push_back("--growth-tolerance = " + n(o.formulation.growth_tolerance));
    lines.push_back("--max-penalty = " + n(o.formulation.max_penalty));
  }
  lines.push_back("--multipliers = " +
                  (o.initial_multipliers.empty() ? std::string("zeros") : format_list(o.initial_multipliers)));
  lines.push_back("--iterations = " + std::to_string(o.max_iterations));
  lines.push_back("--epochs = " + std::to_string(o.max_epochs));
  lines.push_back("--batch = " + std::to_string(o.batch_size));
  lines.push_back("--tolerance = " + n(o.tolerance));
  lines.push_back("--feasibility-tolerance = " + n(o.feasibility_tolerance));
  lines.push_back("--seed = " + std::to_string(o.seed));
  return lines;
}

Json options_json(const SolverOptions& o) {
  Json json;
  Json& primal = json["primal"];
  primal["rule"] = to_string(o.primal.kind);
  primal["lr"] = o.primal.lr;
  primal["momentum"] = o.primal.momentum;
  primal["beta1"] = o.primal.beta1;
  primal["beta2"] = o.primal.beta2;
  primal["epsilon"] = o.primal.epsilon;
  Json& dual = json["dual"];
  dual["rule"] = to_string(o.dual.kind);
  dual["lr"] = o.dual.lr;
  dual["kp"] = o.dual.kp;
  dual["nu"] = o.dual.nu;
  // null: no clipping (JSON has no infinity)
  if (std::isfinite(o.dual.kp_clip))
    dual["kp_clip"] = o.dual.kp_clip;
  else
    dual["kp_clip"] = nullptr;
  Json& formulation = json["formulation"];
  formulation["kind"] = to_string(o.formulation.kind);
  formulation["penalty"] = o.formulation.penalty;
  formulation["growth"] = to_string(o.formulation.growth);
  formulation["growth_factor"] = o.formulation.growth_factor;
  formulation["growth_increment"] = o.formulation.growth_increment;
  formulation["growth_tolerance"] = o.formulation.growth_tolerance;
  formulation["max_penalty"] = o.formulation.max_penalty;
  formulation["dual_lr_is_penalty"] = o.formulation.dual_lr_is_penalty;
  json["dual_restarts"] = o.dual_restarts;
  json["initial_multipliers"] = number_array(o.initial_multipliers);
  json["max_iterations"] = o.max_iterations;
  json["max_epochs"] = o.max_epochs;
  json["batch_size"] = o.batch_size;
  json["tolerance"] = o.tolerance;
  json["feasibility_tolerance"] = o.feasibility_tolerance;
  json["seed"] = o.seed;
  json["check_finite"] = o.check_finite;
  return json;
}

}  // namespace saddle::cli
