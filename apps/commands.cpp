#include "commands.hpp"

namespace saddle::cli {

const std::vector<Command>& command_table() {
  // One row per subcommand; see commands.hpp for how to add one.
  static const std::vector<Command> table = {
      {"solve", "solve a built-in problem with one update scheme and report the result", run_solve},
      {"train", "train a gated MLP or LeNet5 on MNIST to a target density (constrained L0)", run_train},
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
