// The `saddle` command line: `saddle <subcommand> [options]`. main() only dispatches on the
// first argument through the table of apps/commands.cpp; each subcommand parses its own
// options (Boost.Program_options) and returns its exit code.

#include <algorithm>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "saddle/version.hpp"

namespace {

using saddle::cli::command_table;

void print_usage(std::ostream& out) {
  out << "usage: saddle <subcommand> [options]\n"
         "       saddle <subcommand> --help     options of one subcommand\n"
         "       saddle --help | --version\n"
         "\n"
         "Constrained optimization by Lagrangian min-max methods.\n"
         "\n"
         "subcommands:\n";
  for (const auto& command : command_table()) {
    std::string name = command.name;
    name.resize(std::max<std::size_t>(name.size(), 10), ' ');
    out << "  " << name << "  " << command.summary << '\n';
  }
  out << "\n"
         "exit codes: 0 success, 1 internal error, 2 bad usage or input, 3 numerical failure\n"
         "documentation: docs/cli.md\n";
}

int dispatch(const std::vector<std::string>& args) {
  namespace cli = saddle::cli;
  if (args.empty()) {
    cli::print_error(std::cerr, "missing subcommand (choices: " + cli::join(cli::command_names()) +
                                    "; see 'saddle --help')");
    return cli::kExitUsage;
  }
  const std::string& first = args[0];
  if (first == "--help" || first == "-h") {
    print_usage(std::cout);
    return cli::kExitOk;
  }
  if (first == "--version") {
    std::cout << "saddle " << saddle::kVersion << "\n";
    return cli::kExitOk;
  }
  // `saddle help` and `saddle help <subcommand>`.
  if (first == "help") {
    if (args.size() == 1) {
      print_usage(std::cout);
      return cli::kExitOk;
    }
    if (const auto* command = cli::find_command(args[1])) return command->run({"--help"}, std::cout, std::cerr);
    cli::print_error(std::cerr, "unknown subcommand '" + args[1] + "' (choices: " + cli::join(cli::command_names()) + ")");
    return cli::kExitUsage;
  }
  const auto* command = cli::find_command(first);
  if (command == nullptr) {
    const std::string what = !first.empty() && first[0] == '-' ? "option" : "subcommand";
    cli::print_error(std::cerr, "unknown " + what + " '" + first + "' (subcommands: " +
                                    cli::join(cli::command_names()) + "; see 'saddle --help')");
    return cli::kExitUsage;
  }
  return command->run(std::vector<std::string>(args.begin() + 1, args.end()), std::cout, std::cerr);
}

}  // namespace

int main(int argc, char** argv) {
  // Subcommands never throw (they use cli::guarded); this is the last line of defence so
  // that no input ends in std::terminate.
  try {
    return dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    saddle::cli::print_error(std::cerr, std::string("internal error: ") + e.what());
  } catch (...) {
    saddle::cli::print_error(std::cerr, "internal error: unknown exception");
  }
  return saddle::cli::kExitError;
}
