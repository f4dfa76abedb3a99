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
  // args.txt holds what the user gave; config.ini every value the run used, defaults
  // included, so a resumed run keeps its settings even if a default changed since. An
  // option added later is absent from older files: the run used the behaviour before it.
  const fs::path config = fs::path(resume_dir) / "config.ini";
  if (fs::exists(config)) {
    const std::pair<const char*, const char*> added_later[] = {
        {"kp-clip", "inf"},                       // before --kp-clip: no clipping
        {"dual-scale", "one"},                    // before --dual-scale: the plain violation
        {"fixed-gate-epochs", "0"},               // before --fixed-gate-epochs: no fixed-gate phase
        {"log-alpha-min", "-4.605170185988091"},  // before --log-alpha-min: ln 0.01
        {"thread-split", "batch"},  // before --thread-split: --threads N split the batch
    };
    std::vector<std::string> lines;
    std::ifstream cin(config);
    for (std::string line; std::getline(cin, line);) lines.push_back(line);
    for (const auto& [name, old_value] : added_later) {
      const std::string flag = std::string("--") + name;
      bool recorded = false;
      for (const auto& line : lines)
        if (line.rfind(std::string(name) + " ", 0) == 0 || line.rfind(std::string(name) + "=", 0) == 0) recorded = true;
      for (const auto& a : args)
        if (a == flag || a.rfind(flag + "=", 0) == 0) recorded = true;
      if (!recorded) args.insert(args.end(), {flag, old_value});
    }
    args.insert(args.end(), {"--config", config.string()});
  }
  if (vm["quiet"].as<bool>()) args.push_back("--quiet");
  if (vm["json"].as<bool>()) args.push_back("--json");
  if (given(vm, "progress"))
    args.insert(args.end(), {"--progress", vm["progress"].as<std::string>()});
  return args;
}

}  // namespace saddle::cli
