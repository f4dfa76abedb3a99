// libFuzzer target: the INI configuration file of `saddle train --config`
// (saddle::cli::load_config_file with the real option list, train_options()). The input is
// written to a temporary file. Bad input must end in one UsageError line, never in a
// crash, a hang or a sanitizer report.

#include <boost/program_options.hpp>
#include <cstddef>
#include <cstdint>

#include "cli_common.hpp"
#include "fuzz_util.hpp"
#include "train_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static saddle::fuzz::TempFile file("config");
  static const boost::program_options::options_description options = saddle::cli::train_options();
  boost::program_options::variables_map vm;
  try {
    saddle::cli::load_config_file(file.write(data, size), options, vm);
  } catch (const saddle::cli::UsageError&) {
  }
  return 0;
}
