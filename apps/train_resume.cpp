// `saddle train --resume DIR`: the configuration recorded in a run folder (train_config.hpp).
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "train_config.hpp"

namespace saddle::cli {

namespace fs = std::filesystem;

std::vector<std::string> resume_arguments(const std::string& resume_dir,
                                          const std::vector<std::string>& given_args,
                                          const po::variables_map& vm) {
  // Re-parse the configuration recorded by the run; only output flags may be added.
  for (const auto& a : given_args)
    if (a.rfind("--", 0) == 0 && a != "--resume" && a != "--quiet" && a != "--json" &&
        a != "--progress" && a.rfind("--resume=", 0) != 0 && a.rfind("--progress=", 0) != 0)
      throw UsageError("--resume takes the configuration of the run; drop " + a);
  std::ifstream in(fs::path(resume_dir) / "args.txt");
  if (!in) throw UsageError("--resume " + resume_dir + ": not a run folder (no args.txt)");
  if (!fs::exists(fs::path(resume_dir) / "checkpoint.bin"))
    throw UsageError("--resume " + resume_dir +
                     ": no checkpoint.bin in the folder (the run saved no epoch yet)");
  std::vector<std::string> args;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) args.push_back(line);
  if (vm["quiet"].as<bool>()) args.push_back("--quiet");
  if (vm["json"].as<bool>()) args.push_back("--json");
  if (given(vm, "progress"))
    args.insert(args.end(), {"--progress", vm["progress"].as<std::string>()});
  return args;
}

}  // namespace saddle::cli
