#pragma once
/// \file problem_catalog.hpp
/// The problems `saddle solve` and `saddle compare --problem` can run: the built-in ones
/// (problems/saddle/problems/registry.hpp), wrapped in saddle::PluginProblem, plus the
/// problems of one --plugin library.

#include <string>
#include <vector>

#include "saddle/plugin.hpp"

namespace saddle::cli {

/// Parses "key=value,key=value" (keys unique and non-empty; values may be empty) for
/// --problem-args. Throws UsageError naming `flag`.
ProblemArgs parse_problem_args(const std::string& flag, const std::string& text);

class ProblemCatalog {
 public:
  /// The built-in problems, plus those of the plugin at `plugin_path` unless it is empty.
  /// Throws InputError (one line, exit 2) for every plugin failure of load_plugin and for
  /// a plugin problem named like a built-in one.
  explicit ProblemCatalog(const std::string& plugin_path = "");

  /// Throws UsageError "unknown problem 'X' (choices: a, b, ...)".
  const PluginProblem& get(const std::string& name) const;
  bool contains(const std::string& name) const;
  /// All names, sorted.
  std::vector<std::string> names() const;
  /// True when `name` comes from the plugin.
  bool from_plugin(const std::string& name) const;
  /// "" when there is no plugin.
  const std::string& plugin_path() const { return plugin_path_; }
  /// "problem 'NAME'" or "problem 'NAME' of plugin PATH", for messages.
  std::string describe(const std::string& name) const;

 private:
  std::vector<PluginProblem> entries_;  // built-in first, then the plugin's
  std::size_t builtin_count_ = 0;
  std::string plugin_path_;
};

}  // namespace saddle::cli
