#pragma once
/// \file train_config.hpp
/// The options of `saddle train` and the reader of its INI configuration file (--config),
/// apart from the rest of the subcommand so that the fuzz targets (tests/fuzz) can call them.

#include <boost/program_options.hpp>
#include <string>

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

}  // namespace saddle::cli
