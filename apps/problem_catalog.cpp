#include "problem_catalog.hpp"

#include <algorithm>

#include "cli_common.hpp"

namespace saddle::cli {

ProblemArgs parse_problem_args(const std::string& flag, const std::string& text) {
  ProblemArgs args;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t comma = text.find(',', begin);
    const std::string item =
        text.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError(flag + " = '" + text + "': expected key=value pairs separated by commas");
    const std::string key = item.substr(0, eq);
    if (!args.emplace(key, item.substr(eq + 1)).second)
      throw UsageError(flag + " = '" + text + "': key '" + key + "' given twice");
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return args;
}

ProblemCatalog::ProblemCatalog(const std::string& plugin_path) : plugin_path_(plugin_path) {
  // Built-in problems go through the same entry type as plugin ones.
  const auto& registry = builtin_problems();
  for (const auto& name : registry.names()) {
    const auto& e = registry.get(name);
    PluginProblem p;
    p.name = e.name;
    p.description = e.description;
    p.make_double = [make = e.make, name = e.name](const ProblemArgs& args) {
      if (!args.empty())
        throw InputError("problem '" + name + "' takes no --problem-args (got '" +
                         args.begin()->first + "')");
      return make();
    };
    p.defaults = e.defaults;
    p.answer = e.answer();
    p.converging_schemes = e.converging_schemes;
    entries_.push_back(std::move(p));
  }
  builtin_count_ = entries_.size();
  if (plugin_path.empty()) return;
  LoadedPlugin plugin = load_plugin(plugin_path);  // throws InputError
  for (auto& p : plugin.problems) {
    if (contains(p.name))
      throw InputError("plugin " + plugin_path + ": problem '" + p.name +
                       "' is already a built-in problem");
    entries_.push_back(std::move(p));
  }
}

bool ProblemCatalog::contains(const std::string& name) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const PluginProblem& p) { return p.name == name; });
}

const PluginProblem& ProblemCatalog::get(const std::string& name) const {
  for (const auto& p : entries_)
    if (p.name == name) return p;
  throw UsageError("unknown problem '" + name + "' (choices: " + join(names()) + ")");
}

std::vector<std::string> ProblemCatalog::names() const {
  std::vector<std::string> n;
  for (const auto& p : entries_) n.push_back(p.name);
  std::sort(n.begin(), n.end());
  return n;
}

bool ProblemCatalog::from_plugin(const std::string& name) const {
  for (std::size_t i = builtin_count_; i < entries_.size(); ++i)
    if (entries_[i].name == name) return true;
  return false;
}

std::string ProblemCatalog::describe(const std::string& name) const {
  return "problem '" + name + "'" +
         (from_plugin(name) ? " of plugin " + plugin_path_ : std::string());
}

}  // namespace saddle::cli
