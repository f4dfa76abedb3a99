#pragma once
/// \file commands.hpp
/// The subcommands of the `saddle` command line and the table main() dispatches on.
///
/// Every subcommand is one function with the same signature: it receives the arguments
/// after its name (`saddle solve --problem hs21 ...` -> {"--problem", "hs21", ...}), writes
/// its results to `out` and diagnostics to `err`, and returns the process exit code
/// (cli_common.hpp: kExitOk, kExitUsage, ...). It never throws: wrap the body in
/// saddle::cli::guarded().
///
/// Adding a subcommand `foo`:
///   1. write apps/foo.cpp defining `int run_foo(const std::vector<std::string>&, std::ostream&,
///      std::ostream&)` (copy the shape of apps/solve.cpp: options_description, parse_arguments,
///      guarded);
///   2. declare it below;
///   3. add one row {"foo", "one-line summary", run_foo} to the table in apps/commands.cpp;
///   4. re-run cmake (apps/*.cpp is globbed), document it in docs/cli.md, test it in tests/cli.

#include <iosfwd>
#include <string>
#include <vector>

namespace saddle::cli {

/// Signature of a subcommand (see the file comment).
using CommandFunction = int (*)(const std::vector<std::string>& args, std::ostream& out,
                                std::ostream& err);

/// One row of the dispatch table.
struct Command {
  const char* name;     ///< as typed after `saddle`
  const char* summary;  ///< one line for `saddle --help`
  CommandFunction run;
};

/// All subcommands, in the order `saddle --help` lists them.
const std::vector<Command>& command_table();

/// The row named `name`, or nullptr.
const Command* find_command(const std::string& name);

/// Names of all subcommands, for error messages.
std::vector<std::string> command_names();

/// `saddle solve`: one solve of a registered problem (apps/solve.cpp, docs/cli.md).
int run_solve(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// `saddle train`: density-target training of a gated network (apps/train.cpp, docs/cli.md).
int run_train(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// `saddle eval`: test-set metrics of a saved model or exported network (apps/eval_export.cpp).
int run_eval(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// `saddle export`: write the purged network of a saved model (apps/eval_export.cpp,
/// docs/export-format.md).
int run_export(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// `saddle compare`: one experiment with several solver variants over several seeds, as child
/// `saddle train` runs; tables and a trajectory plot (apps/compare.cpp, docs/cli.md).
int run_compare(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// `saddle sweep`: one solver variant over a list of target densities; table and error-vs-
/// density plot (apps/sweep.cpp, docs/cli.md).
int run_sweep(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace saddle::cli
