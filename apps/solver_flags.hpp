#pragma once
/// \file solver_flags.hpp
/// The one definition of the solver flags of the command line: the update rules
/// (--primal-rule, --primal-lr, --momentum, --beta1, --beta2, --dual-rule, --dual-lr, --kp,
/// --nu, --kp-clip), the dual restarts (--dual-restarts, --no-dual-restarts) and the settings of the
/// formulation (--penalty, --penalty-growth, --growth-factor, --growth-increment,
/// --growth-tolerance, --max-penalty). `saddle solve` and `saddle train` take them all;
/// `saddle compare` and `saddle sweep` pass the valued ones through to every run (their
/// variants choose the restarts). The scheme (--solver) and the formulation's kind
/// (--formulation) are chosen per subcommand (cli::checked_solver, scheme_table()).

#include <map>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "saddle/options.hpp"

namespace saddle::l0 {
enum class ThreadSplit;  // saddle/problems/l0/experiment.hpp
}

namespace saddle::cli {

/// The default text of the solver flags a subcommand has its own default for, e.g.
/// {{"primal-lr", "7e-4"}} (shown by --help, recorded in train's config.ini). Flags without
/// one carry no Boost default: the SolverOptions the reader starts from keep their value.
using SolverFlagDefaults = std::map<std::string, std::string>;

/// Which solver flags a subcommand takes.
enum class SolverFlagSet {
  all,          ///< every flag (solve, train)
  valued_only,  ///< without --dual-restarts and --no-dual-restarts (compare, sweep: the variants
                ///< choose)
};

/// Adds the solver flags to `rules` (update rules and restarts) and `formulation` (the
/// formulation's settings; may be the same description). Values are read as text (parsed
/// strictly by read_solver_flags). Every name of `defaults` must be a valued solver flag.
void add_solver_flags(po::options_description& rules, po::options_description& formulation,
                      SolverFlagSet set = SolverFlagSet::all,
                      const SolverFlagDefaults& defaults = {});

/// The names of the valued solver flags (without the dashes), in --help order.
const std::vector<std::string>& valued_solver_flags();

/// Overwrites the fields of `options` for every solver flag in `vm` (given, or defaulted by
/// add_solver_flags' `defaults`). Throws UsageError naming the flag for a malformed value
/// or an unknown rule or growth name, and for --dual-restarts with --no-dual-restarts.
/// Ranges are checked later (validate_with_flags).
void read_solver_flags(const po::variables_map& vm, SolverOptions& options);

/// --threads N and --thread-split HOW, the threads of one training run (TrainConfig::threads,
/// thread_split): `saddle train` takes them with the defaults 1 and auto; compare and sweep
/// pass them through to every run when given (no default of their own). The one definition
/// of the flags' text and range.
void add_thread_flag(po::options_description& options, bool with_default);
/// The value of --threads in `vm` (1 when absent). Throws UsageError for a malformed
/// number or one outside 1..256.
std::size_t read_thread_flag(const po::variables_map& vm);
/// --thread-split: auto (also when absent), batch or layers (saddle::l0::parse_thread_split);
/// UsageError naming the flag and the choices otherwise.
saddle::l0::ThreadSplit read_thread_split_flag(const po::variables_map& vm);

/// The valued solver flags of `vm` the user gave, as arguments {"--primal-lr", "0.1", ...}
/// to pass on to a child run.
std::vector<std::string> given_solver_flags(const po::variables_map& vm);

}  // namespace saddle::cli
