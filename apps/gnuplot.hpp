#pragma once
/// \file gnuplot.hpp
/// The one gnuplot runner of the command line (saddle train's dynamics plot, the plots of
/// saddle compare and saddle sweep).

#include <string>

namespace saddle::cli {

/// The full path of the executable regular file `name` on $PATH, or "".
std::string find_program(const std::string& name);

/// How run_gnuplot_script ended.
enum class GnuplotResult {
  drawn,        ///< gnuplot exited 0 and wrote the PNG
  not_found,    ///< no gnuplot on $PATH
  not_started,  ///< gnuplot could not be spawned
  failed        ///< gnuplot exited non-zero or wrote no PNG (its output is in the log)
};

/// Runs `gnuplot script` with the working directory set to `working_dir` (the script's data
/// files are relative to it), stdin from /dev/null and stdout and stderr to `log`, and waits
/// for it. `png` (the script's output) is removed first; `log` is removed when the plot was
/// drawn. Never throws for gnuplot's problems.
GnuplotResult run_gnuplot_script(const std::string& script, const std::string& png,
                                 const std::string& working_dir, const std::string& log);

}  // namespace saddle::cli

namespace saddle::cli::experiments {

/// The plot of compare or sweep: runs gnuplot on `script` in `out_dir` (log
/// out_dir/gnuplot.log). Returns "" when `png` was written, else a one-line explanation that
/// says how to get the plot.
std::string run_gnuplot(const std::string& script, const std::string& png,
                        const std::string& out_dir);

}  // namespace saddle::cli::experiments
