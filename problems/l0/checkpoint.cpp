// The checkpoint file format of training runs (checkpoint.hpp).
#include "saddle/problems/l0/checkpoint.hpp"

#include <string>

#include <sstream>

#include "saddle/problems/l0/framed_file.hpp"
#include "saddle/serialize.hpp"

namespace saddle::l0 {
namespace {

constexpr char kCheckpointMagic[8] = {'S', 'A', 'D', 'L', 'C', 'K', 'P', 'T'};

void write_string(std::ostream& out, const std::string& v) {
  io::write_scalar<std::uint64_t>(out, v.size());
  out.write(v.data(), static_cast<std::streamsize>(v.size()));
}
std::string read_string(std::istream& in, const char* what) {
  const auto n = io::read_scalar<std::uint64_t>(in, what);
  if (n > (1u << 20)) throw InputError(std::string("checkpoint corrupt: implausible length of ") + what);
  std::string v(n, '\0');
  in.read(v.data(), static_cast<std::streamsize>(n));
  if (!in) throw InputError(std::string("checkpoint truncated while reading ") + what);
  return v;
}
void write_doubles(std::ostream& out, const std::vector<double>& v) {
  io::write_scalar<std::uint64_t>(out, v.size());
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(double)));
}
std::vector<double> read_doubles(std::istream& in, const char* what) {
  const auto n = io::read_scalar<std::uint64_t>(in, what);
  if (n > (1u << 20)) throw InputError(std::string("checkpoint corrupt: implausible length of ") + what);
  std::vector<double> v(n);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(double)));
  if (!in) throw InputError(std::string("checkpoint truncated while reading ") + what);
  return v;
}

void write_metrics(std::ostream& out, const EpochMetrics& m) {
  io::write_scalar<std::uint64_t>(out, m.epoch);
  for (double v : {m.train_loss, m.train_error, m.test_loss, m.test_error, m.expected_density, m.test_time_density, m.seconds})
    io::write_scalar<double>(out, v);
  write_doubles(out, m.layer_densities);
  write_doubles(out, m.constraint_values);
  write_doubles(out, m.multipliers);
  write_string(out, m.pruned_architecture);
  io::write_scalar<std::uint64_t>(out, m.purged_params);
  io::write_scalar<std::uint64_t>(out, m.purged_macs);
}

EpochMetrics read_metrics(std::istream& in) {
  EpochMetrics m;
  m.epoch = io::read_scalar<std::uint64_t>(in, "epoch");
  for (double* v : {&m.train_loss, &m.train_error, &m.test_loss, &m.test_error, &m.expected_density,
                    &m.test_time_density, &m.seconds})
    *v = io::read_scalar<double>(in, "epoch metrics");
  m.layer_densities = read_doubles(in, "layer densities");
  m.constraint_values = read_doubles(in, "constraint values");
  m.multipliers = read_doubles(in, "multipliers");
  m.pruned_architecture = read_string(in, "pruned architecture");
  m.purged_params = io::read_scalar<std::uint64_t>(in, "purged params");
  m.purged_macs = io::read_scalar<std::uint64_t>(in, "purged macs");
  return m;
}

// The run state in the layout of format `version` (1: no partial-epoch sums).
RunState read_run_state_version(std::istream& in, const std::string& path, std::uint32_t version);

// Format 2 added the running sums of a partial epoch to the run state; format 1 is still read.
const FrameFormat kCheckpointFormat{kCheckpointMagic, kCheckpointVersion, "checkpoint", 1};

}  // namespace

void write_checkpoint_file(const std::string& path, const std::string& payload) {
  write_framed_file(kCheckpointFormat, path, payload);  // atomic; WriteError on failure
}

std::string read_checkpoint_file(const std::string& path) {
  std::uint32_t version = 0;
  std::string payload = read_framed_file(kCheckpointFormat, path, &version);
  if (version == 1) {
    // Version 1 had no running sums of a partial epoch (always 0 at an epoch end): rewrite its
    // run state in the current layout, the solver state after it unchanged.
    std::istringstream in(payload);
    const RunState state = read_run_state_version(in, path, 1);
    const std::streamoff at = in.tellg();
    if (at < 0 || static_cast<std::uint64_t>(at) > payload.size())
      throw InputError("checkpoint '" + path + "': corrupt run state");
    std::ostringstream out;
    write_run_state(out, state);
    payload = out.str() + payload.substr(static_cast<std::size_t>(at));
  }
  return payload;
}

void write_run_state(std::ostream& out, const RunState& s) {
  write_string(out, s.fingerprint);
  io::write_scalar<double>(out, s.best_test_error);
  io::write_scalar<std::uint64_t>(out, s.best_epoch);
  io::write_scalar<std::uint64_t>(out, s.history.size());
  for (const auto& m : s.history) write_metrics(out, m);
  io::write_scalar<std::uint64_t>(out, s.epoch_steps);
  io::write_scalar<double>(out, s.epoch_loss_sum);
  io::write_scalar<double>(out, s.epoch_error_sum);
  io::write_scalar<std::uint8_t>(out, s.ema_started ? 1 : 0);
  io::write_scalar<std::uint64_t>(out, s.ema.size());
  out.write(reinterpret_cast<const char*>(s.ema.data()), static_cast<std::streamsize>(s.ema.size() * sizeof(float)));
}

RunState read_run_state(std::istream& in, const std::string& path) {
  return read_run_state_version(in, path, kCheckpointVersion);
}

namespace {
RunState read_run_state_version(std::istream& in, const std::string& path, std::uint32_t version) {
  RunState s;
  try {
    s.fingerprint = read_string(in, "configuration");
    s.best_test_error = io::read_scalar<double>(in, "best error");
    s.best_epoch = io::read_scalar<std::uint64_t>(in, "best epoch");
    const auto epochs = io::read_scalar<std::uint64_t>(in, "history length");
    if (epochs > (1u << 20)) throw InputError("corrupt history length");
    for (std::uint64_t e = 0; e < epochs; ++e) s.history.push_back(read_metrics(in));
    if (version >= 2) {
      s.epoch_steps = io::read_scalar<std::uint64_t>(in, "epoch steps");
      s.epoch_loss_sum = io::read_scalar<double>(in, "epoch loss sum");
      s.epoch_error_sum = io::read_scalar<double>(in, "epoch error sum");
    }
    s.ema_started = io::read_scalar<std::uint8_t>(in, "ema flag") != 0;
    const auto n = io::read_scalar<std::uint64_t>(in, "ema size");
    if (n > (std::uint64_t{1} << 32)) throw InputError("corrupt EMA size");
    if (!io::stream_holds(in, n * sizeof(float))) throw InputError("truncated EMA");
    s.ema = Vector<float>::from_shape({static_cast<std::size_t>(n)});
    in.read(reinterpret_cast<char*>(s.ema.data()), static_cast<std::streamsize>(n * sizeof(float)));
    if (!in) throw InputError("truncated EMA");
  } catch (const InputError& e) {
    throw InputError("checkpoint '" + path + "': " + e.what());
  }
  return s;
}
}  // namespace

}  // namespace saddle::l0
