// The `saddle` command line: `saddle <subcommand> [options]`. main() only dispatches on the
// first argument through the table of apps/commands.cpp; each subcommand parses its own
// options (Boost.Program_options) and returns its exit code.

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "stop_signal.hpp"
#include "world.hpp"
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
         "exit codes: 0 success, 1 internal error, 2 bad usage or input, 3 numerical failure,\n"
         "            4 cannot write a file, 130/143 stopped by SIGINT/SIGTERM (resume with --resume)\n"
         "documentation: docs/cli.md\n";
}

// Subcommands that run on every rank of an MPI launch (apps/world.hpp); the others run on
// rank 0 only.
bool distributed(const std::string& name) { return name == "train" || name == "compare" || name == "sweep"; }

// A stream that discards what is written (stdout of ranks other than 0).
class NullBuffer final : public std::streambuf {
 protected:
  int overflow(int c) override { return traits_type::not_eof(c); }
  std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

int dispatch(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  namespace cli = saddle::cli;
  if (args.empty()) {
    cli::print_error(err, "missing subcommand (choices: " + cli::join(cli::command_names()) +
                                    "; see 'saddle --help')");
    return cli::kExitUsage;
  }
  const std::string& first = args[0];
  if (first == "--help" || first == "-h") {
    print_usage(out);
    return cli::kExitOk;
  }
  if (first == "--version") {
    out << "saddle " << saddle::kVersion << "\n";
    return cli::kExitOk;
  }
  // `saddle help` and `saddle help <subcommand>`.
  if (first == "help") {
    if (args.size() == 1) {
      print_usage(out);
      return cli::kExitOk;
    }
    if (const auto* command = cli::find_command(args[1])) return command->run({"--help"}, out, err);
    cli::print_error(err, "unknown subcommand '" + args[1] + "' (choices: " + cli::join(cli::command_names()) + ")");
    return cli::kExitUsage;
  }
  const auto* command = cli::find_command(first);
  if (command == nullptr) {
    const std::string what = !first.empty() && first[0] == '-' ? "option" : "subcommand";
    cli::print_error(err, "unknown " + what + " '" + first + "' (subcommands: " +
                                    cli::join(cli::command_names()) + "; see 'saddle --help')");
    return cli::kExitUsage;
  }
  if (!saddle::cli::is_root() && !distributed(first)) return cli::kExitOk;  // rank 0 runs it
  if (distributed(first)) cli::install_stop_handlers();  // SIGINT/SIGTERM: checkpoint and stop
  return command->run(std::vector<std::string>(args.begin() + 1, args.end()), out, err);
}

}  // namespace

int main(int argc, char** argv) {
  namespace cli = saddle::cli;
  const std::string world_error = cli::start_world(&argc, &argv);
  if (!world_error.empty()) {
    // Launched with several ranks but unable to join them: every rank fails, the launcher's
    // rank 0 alone says why (the others cannot agree with it without MPI).
    const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
    if (rank == nullptr) rank = std::getenv("PMI_RANK");
    if (rank == nullptr || std::string(rank) == "0") cli::print_error(std::cerr, world_error);
    return cli::kExitUsage;
  }
  // Rank 0 (or the only process) writes as usual; other ranks of an MPI launch discard their
  // output and keep their error lines for cli::finish.
  NullBuffer null_buffer;
  std::ostream null_stream(&null_buffer);
  std::ostringstream kept_errors;
  const bool root = cli::is_root();
  std::ostream& out = root ? std::cout : null_stream;
  std::ostream& err = root ? std::cerr : kept_errors;
  int code = cli::kExitError;
  // Subcommands never throw (they use cli::guarded); this is the last line of defence so
  // that no input ends in std::terminate.
  try {
    code = dispatch(std::vector<std::string>(argv + 1, argv + argc), out, err);
  } catch (const std::exception& e) {
    cli::print_error(err, std::string("internal error: ") + e.what());
  } catch (...) {
    cli::print_error(err, "internal error: unknown exception");
  }
  return cli::finish(code, kept_errors.str());
}
