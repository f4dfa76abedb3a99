#include "commands.hpp"

namespace saddle::cli {

const std::vector<Command>& command_table() {
  // One row per subcommand; see commands.hpp for how to add one.
  static const std::vector<Command> table = {
      {"solve", "solve a built-in or plugin (--plugin) problem with one update scheme and report the result", run_solve},
      {"train", "train a gated MLP or LeNet5 on MNIST to a target density (constrained L0)", run_train},
      {"eval", "test-set metrics of a saved run, checkpoint or exported purged network", run_eval},
      {"export", "write the purged network of a saved run (zero-gated units removed, gates folded in)", run_export},
      {"compare", "solver variants over seeds on an L0 experiment or any --problem; table of mean and 95% CI, plot", run_compare},
      {"sweep", "train to a list of target densities; table and plot of error against achieved density", run_sweep},
  };
  return table;
}

const Command* find_command(const std::string& name) {
  for (const Command& command : command_table())
    if (name == command.name) return &command;
  return nullptr;
}

std::vector<std::string> command_names() {
  std::vector<std::string> names;
  for (const Command& command : command_table()) names.emplace_back(command.name);
  return names;
}

}  // namespace saddle::cli
