// Reading a trained model back from a run folder or checkpoint (format in saved_model.hpp,
// written by experiment.cpp).
#include "saddle/problems/l0/saved_model.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <zlib.h>

#include "saddle/serialize.hpp"
#include "saddle/types.hpp"

namespace saddle::l0 {

namespace {

namespace fs = std::filesystem;

constexpr char kCheckpointMagic[8] = {'S', 'A', 'D', 'L', 'C', 'K', 'P', 'T'};
constexpr std::uint64_t kSolverStateMagic = 0x5341444C53543031ull;  // "SADLST01", src/solver.cpp
constexpr std::uint32_t kSolverStateVersion = 1;

// Reads the checkpoint file and returns its payload after checking magic, version and CRC32.
std::string read_checkpoint_payload(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open checkpoint '" + path + "'");
  char magic[8];
  in.read(magic, sizeof(magic));
  if (!in || std::memcmp(magic, kCheckpointMagic, sizeof(magic)) != 0)
    throw InputError("'" + path + "' is not a saddle checkpoint or exported network (bad magic)");
  std::uint32_t version = 0, crc = 0;
  std::uint64_t size = 0;
  try {
    version = io::read_scalar<std::uint32_t>(in, "version");
    size = io::read_scalar<std::uint64_t>(in, "size");
    crc = io::read_scalar<std::uint32_t>(in, "checksum");
  } catch (const InputError&) {
    throw InputError("checkpoint '" + path + "': truncated header");
  }
  if (version != kCheckpointVersion)
    throw InputError("checkpoint '" + path + "': format version " + std::to_string(version) +
                     " is not supported (this build reads version " + std::to_string(kCheckpointVersion) + ")");
  if (size > (std::uint64_t{1} << 34)) throw InputError("checkpoint '" + path + "': corrupt size field");
  std::string payload(size, '\0');
  in.read(payload.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uint64_t>(in.gcount()) != size)
    throw InputError("checkpoint '" + path + "': truncated (" + std::to_string(in.gcount()) + " of " +
                     std::to_string(size) + " payload bytes)");
  const auto actual = static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
  if (actual != crc) throw InputError("checkpoint '" + path + "': checksum mismatch (file corrupted)");
  return payload;
}

std::string read_string(std::istream& in, const std::string& path, const char* what) {
  const auto n = io::read_scalar<std::uint64_t>(in, what);
  if (n > (1u << 20)) throw InputError("checkpoint '" + path + "': implausible length of " + what);
  std::string v(n, '\0');
  in.read(v.data(), static_cast<std::streamsize>(n));
  if (!in) throw InputError("checkpoint '" + path + "': truncated while reading " + what);
  return v;
}

std::vector<double> read_doubles(std::istream& in, const std::string& path, const char* what) {
  const auto n = io::read_scalar<std::uint64_t>(in, what);
  if (n > (1u << 20)) throw InputError("checkpoint '" + path + "': implausible length of " + what);
  std::vector<double> v(n);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(double)));
  if (!in) throw InputError("checkpoint '" + path + "': truncated while reading " + what);
  return v;
}

// One EpochMetrics record in the order experiment.cpp writes it.
EpochMetrics read_metrics(std::istream& in, const std::string& path) {
  EpochMetrics m;
  m.epoch = io::read_scalar<std::uint64_t>(in, "epoch");
  for (double* v : {&m.train_loss, &m.train_error, &m.test_loss, &m.test_error, &m.expected_density,
                    &m.test_time_density, &m.seconds})
    *v = io::read_scalar<double>(in, "epoch metrics");
  m.layer_densities = read_doubles(in, path, "layer densities");
  m.constraint_values = read_doubles(in, path, "constraint values");
  m.multipliers = read_doubles(in, path, "multipliers");
  m.pruned_architecture = read_string(in, path, "pruned architecture");
  m.purged_params = io::read_scalar<std::uint64_t>(in, "purged params");
  m.purged_macs = io::read_scalar<std::uint64_t>(in, "purged macs");
  return m;
}

std::vector<float> read_floats(std::istream& in, const std::string& path, std::uint64_t n, const char* what) {
  if (n > (std::uint64_t{1} << 32)) throw InputError("checkpoint '" + path + "': corrupt length of " + what);
  std::vector<float> v(static_cast<std::size_t>(n));
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
  if (!in) throw InputError("checkpoint '" + path + "': truncated while reading " + what);
  return v;
}

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
  std::istringstream in(read_checkpoint_payload(cp));
  try {
    // Watcher state (experiment.cpp EpochWatcher::save).
    const std::string fingerprint = read_string(in, cp, "configuration");
    if (!have_args) {
      // "<architecture> params=..." (experiment.cpp fingerprint()).
      model.architecture = parse_architecture(fingerprint.substr(0, fingerprint.find(' ')));
    }
    io::read_scalar<double>(in, "best error");
    io::read_scalar<std::uint64_t>(in, "best epoch");
    const auto epochs = io::read_scalar<std::uint64_t>(in, "history length");
    if (epochs > (1u << 20)) throw InputError("checkpoint '" + cp + "': corrupt history length");
    for (std::uint64_t e = 0; e < epochs; ++e) model.history.push_back(read_metrics(in, cp));
    const bool ema_started = io::read_scalar<std::uint8_t>(in, "EMA flag") != 0;
    const auto ema_size = io::read_scalar<std::uint64_t>(in, "EMA size");
    std::vector<float> ema = read_floats(in, cp, ema_size, "EMA");

    // Solver state (src/solver.cpp Solver::save_state) up to the parameter vector.
    if (io::read_scalar<std::uint64_t>(in, "solver state magic") != kSolverStateMagic)
      throw InputError("checkpoint '" + cp + "': no solver state after the run state (bad magic)");
    const auto version = io::read_scalar<std::uint32_t>(in, "solver state version");
    if (version != kSolverStateVersion)
      throw InputError("checkpoint '" + cp + "': solver state version " + std::to_string(version) +
                       " is not supported (this build reads " + std::to_string(kSolverStateVersion) + ")");
    if (io::read_scalar<std::uint32_t>(in, "scalar size") != sizeof(float))
      throw InputError("checkpoint '" + cp + "': parameters are not 32-bit floats");
    const auto n = io::read_scalar<std::uint64_t>(in, "parameter count");
    io::read_scalar<std::uint64_t>(in, "constraint count");
    for (int k = 0; k < 6; ++k) io::read_scalar<std::uint64_t>(in, "solver counters");
    io::read_scalar<double>(in, "elapsed seconds");
    const auto stored = io::read_scalar<std::uint64_t>(in, "parameter vector length");
    if (stored != n) throw InputError("checkpoint '" + cp + "': parameter vector length differs from the count");
    std::vector<float> x = read_floats(in, cp, n, "parameters");

    if (!infer_input_size(model.architecture, static_cast<std::size_t>(n), model.rows, model.cols))
      throw InputError("checkpoint '" + cp + "': " + std::to_string(n) + " parameters fit no " +
                       to_string(model.architecture) + " model");
    model.ema = ema_started && ema_size == n;
    const std::vector<float>& chosen = model.ema ? ema : x;
    model.params = xt::xtensor<float, 1>::from_shape({chosen.size()});
    std::copy(chosen.begin(), chosen.end(), model.params.begin());
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
