// Reading a trained model back from a run folder or checkpoint (format in saved_model.hpp,
// written by experiment.cpp).
#include "saddle/problems/l0/saved_model.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "saddle/problems/l0/checkpoint.hpp"
#include "saddle/serialize.hpp"
#include "saddle/solver.hpp"
#include "saddle/types.hpp"

namespace saddle::l0 {

namespace {

namespace fs = std::filesystem;

// The input size whose model of `arch` has `n` parameters: 28x28 first, then other squares.
bool infer_input_size(Architecture arch, std::size_t n, std::size_t& rows, std::size_t& cols) {
  if (GatedModel<float>(arch, 28, 28).num_parameters() == n) {
    rows = cols = 28;
    return true;
  }
  for (std::size_t s = 16; s <= 64; ++s) {
    if (GatedModel<float>(arch, s, s).num_parameters() == n) {
      rows = cols = s;
      return true;
    }
  }
  return false;
}

}  // namespace

void apply_train_arguments(const std::vector<std::string>& args, SavedModel& model) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) continue;
    std::string name = a.substr(2), value;
    const auto eq = name.find('=');
    bool has_value = false;
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    } else if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
      value = args[i + 1];
      has_value = true;
    }
    if (!has_value) continue;
    if (name == "model") {
      model.architecture = parse_architecture(value);
    } else if (name == "dataset") {
      model.dataset = value;
    } else if (name == "data-dir") {
      model.data_dir = value;
    } else if (name == "input-scaling") {
      model.scaling = parse_input_scaling(value);
    } else if (name == "test-gate") {
      model.test_gate = parse_test_gate(value);
    }
  }
}

SavedModel load_saved_model(const std::string& path) {
  SavedModel model;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError("'" + path + "': no such file or folder");
  fs::path checkpoint = path;
  if (fs::is_directory(path, ec)) {
    checkpoint = fs::path(path) / "checkpoint.bin";
    if (!fs::exists(checkpoint, ec))
      throw InputError("'" + path + "': not a run folder with a checkpoint (no checkpoint.bin)");
  }
  model.checkpoint_path = checkpoint.string();
  const fs::path folder = checkpoint.has_parent_path() ? checkpoint.parent_path() : fs::path(".");
  const fs::path args_file = folder / "args.txt";
  bool have_args = false;
  if (fs::exists(args_file, ec)) {
    std::ifstream in(args_file);
    if (!in) throw InputError("cannot read '" + args_file.string() + "'");
    std::vector<std::string> args;
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) args.push_back(line);
    apply_train_arguments(args, model);
    model.run_dir = folder.string();
    have_args = true;
  }

  const std::string& cp = model.checkpoint_path;
  std::istringstream in(read_checkpoint_file(cp));
  try {
    RunState run = read_run_state(in, cp);
    if (!have_args) {
      // "<architecture> params=..." (experiment.cpp fingerprint()).
      model.architecture = parse_architecture(run.fingerprint.substr(0, run.fingerprint.find(' ')));
    }
    model.history = std::move(run.history);
    const Vector<float> x = Solver<float>::read_parameters(in);
    const auto n = x.size();
    const Vector<float>& ema = run.ema;
    const bool ema_started = run.ema_started;
    const auto ema_size = ema.size();
    if (!infer_input_size(model.architecture, static_cast<std::size_t>(n), model.rows, model.cols))
      throw InputError("checkpoint '" + cp + "': " + std::to_string(n) + " parameters fit no " +
                       to_string(model.architecture) + " model");
    model.ema = ema_started && ema_size == n;
    model.params = model.ema ? ema : x;
  } catch (const InvalidOption& e) {
    throw InputError("checkpoint '" + cp + "': " + e.what());
  } catch (const InputError& e) {
    const std::string what = e.what();
    if (what.find(cp) != std::string::npos) throw;
    throw InputError("checkpoint '" + cp + "': " + what);
  }
  return model;
}

}  // namespace saddle::l0
