#pragma once
/// \file train_config.hpp
/// The options of `saddle train` and the reader of its INI configuration file (--config),
/// apart from the rest of the subcommand so that the fuzz targets (tests/fuzz) can call them.

#include <boost/program_options.hpp>
#include <iosfwd>
#include <set>
#include <string>
#include <vector>

#include "saddle/problems/l0/experiment.hpp"

namespace saddle::cli {

/// Every option of `saddle train`, in the order of its --help.
boost::program_options::options_description train_options();

/// `text` without leading and trailing white space.
std::string trim_text(const std::string& text);

/// Reads the INI file `path` (`name = value` lines, `#` comments) into `vm`, keeping the
/// values already stored there. Throws UsageError "--config PATH: line N: ..." naming the
/// first bad line (section headers, unknown, dashed, repeated or forbidden names), or
/// Boost's reason for a value it refuses.
void load_config_file(const std::string& path, const boost::program_options::options_description& options,
                      boost::program_options::variables_map& vm);

/// --paper-protocol: sets --dual-rule, --dual-lr and --dual-scale in `vm` to the
/// constrained-L0 paper's values (gradient ascent, 1e-4, one). Throws UsageError when one of
/// them, or --no-dual-restarts, was given with another value. Nothing without the switch.
void apply_paper_protocol(boost::program_options::variables_map& vm);

/// Options that describe how a run reports, not what it computes: neither args.txt nor
/// config.ini records them (--log-every is recorded: it shapes steps.csv).
const std::set<std::string>& output_only_options();

/// The configuration as command-line arguments, one per element (args.txt): every option the
/// user gave (command line or config file), output-only options left out. Read back by
/// --resume.
std::vector<std::string> effective_arguments(const boost::program_options::options_description& options,
                                             const boost::program_options::variables_map& vm);

/// The effective configuration as an INI file that --config reads (config.ini): every option
/// with its value (given or default), output-only options left out.
void write_config_ini(std::ostream& ini, const boost::program_options::options_description& options,
                      const boost::program_options::variables_map& vm, const saddle::l0::TrainConfig& c);

/// `saddle train --resume DIR`: the arguments the run in DIR was started with (DIR/args.txt)
/// followed by the output flags of `given_args` that --resume allows (--quiet, --json,
/// --progress, read from `vm`). Throws UsageError for any other flag in `given_args` and for
/// a folder without args.txt or checkpoint.bin.
std::vector<std::string> resume_arguments(const std::string& resume_dir, const std::vector<std::string>& given_args,
                                          const boost::program_options::variables_map& vm);

}  // namespace saddle::cli
