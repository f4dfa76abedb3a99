#pragma once
/// \file compare_problem.hpp
/// `saddle compare --problem NAME [--plugin FILE]`: solver variants on any built-in or plugin
/// problem, each run a child `saddle solve` (docs/cli.md, "saddle compare --problem").

#include <iosfwd>
#include <string>
#include <vector>

namespace saddle::cli {

/// True when `args` ask for the problem comparison (they contain --problem or --plugin).
bool is_problem_compare(const std::vector<std::string>& args);

/// The body of `saddle compare --problem ...`; returns the exit code, throws UsageError,
/// InputError (caught by `guarded`).
int compare_problem_body(const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err);

}  // namespace saddle::cli
