#pragma once
/// \file cli_common.hpp
/// Helpers shared by the subcommands of the `saddle` command line: exit codes, one-line
/// error reporting, strict parsing of option values, Boost.Program_options glue, the
/// problem registry, and printing of SolverOptions (text and JSON).

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/program_options.hpp>

#include "json_io.hpp"
#include "saddle/options.hpp"
#include "saddle/problems/registry.hpp"

namespace saddle::cli {

namespace po = boost::program_options;

/// Process exit codes of every subcommand (documented in docs/cli.md).
constexpr int kExitOk = 0;                ///< success (also: iteration limit, user stop)
constexpr int kExitError = 1;             ///< unexpected internal error
constexpr int kExitUsage = 2;             ///< bad usage or bad input: nothing was solved
constexpr int kExitNumericalFailure = 3;  ///< the solve stopped on a NaN or Inf
constexpr int kExitWriteFailure = 4;      ///< a file could not be written (saddle::WriteError)
/// Stopped by SIGINT or SIGTERM: 128 + the signal number (130, 143), as a shell reports a
/// process ended by that signal (apps/stop_signal.hpp).
constexpr int kExitSignalBase = 128;

/// Bad command-line usage detected by the command line itself (missing option, malformed
/// value). `guarded` turns it into one line on stderr and kExitUsage.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Writes `saddle: error: <message>` as exactly one line (line breaks in `message` become
/// spaces).
void print_error(std::ostream& err, const std::string& message);

/// Runs `body` and returns its exit code; converts every exception into one error line on
/// `err`: UsageError, saddle::InvalidOption, saddle::InputError and Boost.Program_options
/// errors give kExitUsage, saddle::WriteError kExitWriteFailure, StopRequested (after a
/// SIGINT or SIGTERM) its signal's code without the "error" prefix, anything else kExitError.
/// `command` (e.g. "solve") names the subcommand in the hint appended to option-syntax errors.
int guarded(std::ostream& err, const std::string& command, const std::function<int()>& body);

/// `items` joined with `separator`.
std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");

/// Calls parse(text) (one of options.hpp's parse_*, which throw InvalidOption "unknown
/// formulation 'x' (choices: ...)") and rethrows its error as a UsageError prefixed with the
/// flag.
template <class F>
auto parse_choice(const char* flag, const std::string& text, F parse) {
  try {
    return parse(text);
  } catch (const saddle::InvalidOption& e) {
    throw UsageError(std::string(flag) + ": " + e.what());
  }
}

// --- strict value parsing: each throws UsageError "<flag> = '<text>': <rule>" ---

/// A finite or infinite decimal number (the whole text must be consumed; "nan" is refused).
double parse_double(const std::string& flag, const std::string& text);
/// A non-negative decimal integer that fits in 64 bits (no sign, no spaces).
std::uint64_t parse_unsigned(const std::string& flag, const std::string& text);
/// A comma-separated list of numbers, e.g. "1,-2.5,3e-2" (spaces around items allowed).
std::vector<double> parse_double_list(const std::string& flag, const std::string& text);

// --- Boost.Program_options glue ---

/// Parses `args` against `options`: long options only match exactly (no prefix guessing),
/// positional arguments are refused (po::error quoting the first one), `--name value` and
/// `--name=value` both work, and a value may be negative (`--multipliers -28`). Throws
/// po::error on bad syntax.
po::variables_map parse_arguments(const std::vector<std::string>& args,
                                  const po::options_description& options);

/// True when the user gave option `name` on the command line (not a default value).
bool given(const po::variables_map& vm, const char* name);

/// The value of a string option the user gave, or `fallback`.
std::string string_or(const po::variables_map& vm, const char* name, const std::string& fallback);

// --- problems and options ---

/// The registry with every built-in problem (built on first use).
const saddle::problems::ProblemRegistry& builtin_problems();

/// Maps SolverOptions field names (as used by the validate() messages) to command-line
/// flags, e.g. {"primal.lr", "--primal-lr"}.
using FieldNames = std::vector<std::pair<std::string, std::string>>;
/// The field -> flag map of the solver options shared by the subcommands.
const FieldNames& solver_option_flags();

/// `message` with every field name of `names` replaced by its flag; a field name is
/// replaced only as a whole token (letters, digits, '_' and '.'), so "tolerance" does not
/// touch "feasibility_tolerance":
///   "primal.lr = -1: must be > 0 and finite" -> "--primal-lr = -1: must be > 0 and finite".
std::string rename_fields(const std::string& message, const FieldNames& names);

/// `name` if it names a built-in update scheme (saddle::scheme_table()); otherwise throws
/// UsageError "unknown solver 'x' (choices: gda, ...)".
std::string checked_solver(const std::string& name);

/// Calls options.validate(); rethrows its InvalidOption as UsageError with the field names
/// replaced by the flags of `solver_option_flags()`.
void validate_with_flags(const SolverOptions& options);

/// The options as text lines "flag = value" (one per flag of solver_option_flags plus the
/// rule and formulation names), for help and human-readable reports.
std::vector<std::string> describe_options(const SolverOptions& options);

/// The options as one JSON object.
Json options_json(const SolverOptions& options);

/// A double for humans: up to 10 significant digits.
std::string format_number(double v);
/// "(a, b, c)" for humans; "()" for an empty list.
std::string format_list(const std::vector<double>& values);

}  // namespace saddle::cli
