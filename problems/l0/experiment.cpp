#include "saddle/problems/l0/experiment.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <xtensor/xnoalias.hpp>

#include "saddle/serialize.hpp"
#include "saddle/solver.hpp"

namespace saddle::l0 {

SolverOptions TrainConfig::default_solver_options() {
  SolverOptions o;
  o.primal.kind = PrimalRuleKind::adam;  // [GP] mnist_defaults.yml
  o.primal.lr = 7e-4;
  o.dual.lr = 1e-4;
  o.dual_restarts = true;
  o.max_iterations = 0;
  return o;
}

void TrainConfig::validate() const {
  auto check_target = [](const std::string& what, double v) {
    if (!(v > 0.0 && v <= 1.0))
      throw InvalidOption(what + " = " + std::to_string(v) + ": a target density must be in (0, 1]");
  };
  if (penalties.empty() && layer_targets.empty()) check_target("target_density", target_density);
  for (double t : layer_targets) check_target("layer density", t);
  for (double p : penalties)
    if (!(p >= 0.0) || !std::isfinite(p)) throw InvalidOption("penalty = " + std::to_string(p) + ": must be >= 0");
  if (batch == 0) throw InvalidOption("batch = 0: must be > 0");
  if (epochs == 0) throw InvalidOption("epochs = 0: must be > 0");
  if (eval_batch == 0) throw InvalidOption("eval_batch = 0: must be > 0");
  if (eval_every == 0) throw InvalidOption("eval_every = 0: must be > 0");
  if (!(ema_beta >= 0.0 && ema_beta < 1.0)) throw InvalidOption("ema = " + std::to_string(ema_beta) + ": must be in [0, 1)");
  if (!(weight_decay >= 0.0)) throw InvalidOption("weight_decay = " + std::to_string(weight_decay) + ": must be >= 0");
  solver_options.primal.validate();
  solver_options.dual.validate();
  solver_options.formulation.validate();
}

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

// What must match between a checkpoint and the run that resumes it.
std::string fingerprint(const TrainConfig& c, const DensityProblem& p) {
  std::ostringstream s;
  s.precision(17);
  s << to_string(c.architecture) << " params=" << p.num_parameters() << " solver=" << c.solver << " batch=" << c.batch
    << " seed=" << c.seed << " groups=";
  for (const auto& g : p.options().groups) s << g.name << ':' << g.target << ',';
  s << " penalties=";
  for (double v : c.penalties) s << v << ',';
  return s.str();
}

// File layout: magic[8] | u32 version | u64 payload bytes | u32 crc32(payload) | payload.
void write_checkpoint_file(const std::string& path, const std::string& payload) {
  std::ostringstream head;
  head.write(kCheckpointMagic, sizeof(kCheckpointMagic));
  io::write_scalar<std::uint32_t>(head, kCheckpointVersion);
  io::write_scalar<std::uint64_t>(head, payload.size());
  const auto crc = static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
  io::write_scalar<std::uint32_t>(head, crc);
  const std::string data = head.str() + payload;
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw InputError("cannot write checkpoint '" + tmp + "': " + std::strerror(errno));
  std::size_t done = 0;
  while (done < data.size()) {
    const auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      ::close(fd);
      throw InputError("cannot write checkpoint '" + tmp + "': " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) throw InputError("cannot flush checkpoint '" + tmp + "'");
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw InputError("cannot rename checkpoint into '" + path + "': " + std::strerror(errno));
}

std::string read_checkpoint_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open checkpoint '" + path + "'");
  char magic[8];
  in.read(magic, sizeof(magic));
  if (!in || std::memcmp(magic, kCheckpointMagic, sizeof(magic)) != 0)
    throw InputError("checkpoint '" + path + "': not a saddle checkpoint (bad magic)");
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

// Watches the solve: training statistics per epoch, EMA, test metrics, user callback.
class EpochWatcher final : public Callback<float> {
 public:
  EpochWatcher(const TrainConfig& config, DensityProblem& problem, const Dataset& data, TrainResult& result,
               const std::function<bool(const EpochMetrics&)>& on_epoch)
      : config_(config), problem_(problem), data_(data), result_(result), on_epoch_(on_epoch),
        start_(std::chrono::steady_clock::now()) {}

  void on_begin(BasicProblem<float>& p, const SolverOptions&) override {
    if (config_.ema_beta > 0.0) {
      ema_ = Vector<float>::from_shape({p.num_parameters()});
      if (restored_ema_.size() == ema_.size()) xt::noalias(ema_) = restored_ema_;
    }
  }
  void set_solver(const Solver<float>* solver, std::string fingerprint) {
    solver_ = solver;
    fingerprint_ = std::move(fingerprint);
  }
  /// Watcher part of a checkpoint payload (the solver state follows it).
  void save(std::ostream& out) const {
    write_string(out, fingerprint_);
    io::write_scalar<double>(out, result_.best_test_error);
    io::write_scalar<std::uint64_t>(out, result_.best_epoch);
    io::write_scalar<std::uint64_t>(out, result_.history.size());
    for (const auto& m : result_.history) write_metrics(out, m);
    io::write_scalar<std::uint8_t>(out, ema_started_ ? 1 : 0);
    io::write_scalar<std::uint64_t>(out, ema_.size());
    out.write(reinterpret_cast<const char*>(ema_.data()), static_cast<std::streamsize>(ema_.size() * sizeof(float)));
  }
  void load(std::istream& in, const std::string& path) {
    const std::string stored = read_string(in, "configuration");
    if (stored != fingerprint_)
      throw InputError("checkpoint '" + path + "' belongs to another run: [" + stored + "] vs this run [" + fingerprint_ + "]");
    result_.best_test_error = io::read_scalar<double>(in, "best error");
    result_.best_epoch = io::read_scalar<std::uint64_t>(in, "best epoch");
    const auto epochs = io::read_scalar<std::uint64_t>(in, "history length");
    if (epochs > (1u << 20)) throw InputError("checkpoint '" + path + "': corrupt history length");
    result_.history.clear();
    for (std::uint64_t e = 0; e < epochs; ++e) result_.history.push_back(read_metrics(in));
    ema_started_ = io::read_scalar<std::uint8_t>(in, "ema flag") != 0;
    const auto n = io::read_scalar<std::uint64_t>(in, "ema size");
    if (n > (std::uint64_t{1} << 32)) throw InputError("checkpoint '" + path + "': corrupt EMA size");
    restored_ema_ = Vector<float>::from_shape({static_cast<std::size_t>(n)});
    in.read(reinterpret_cast<char*>(restored_ema_.data()), static_cast<std::streamsize>(n * sizeof(float)));
    if (!in) throw InputError("checkpoint '" + path + "': truncated EMA");
    start_ = std::chrono::steady_clock::now() -
             std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(
                 result_.history.empty() ? 0.0 : result_.history.back().seconds));
  }
  bool on_step(const StepInfo<float>& info) override {
    loss_sum_ += info.evaluation->loss;
    error_sum_ += problem_.last_batch_error();
    ++steps_;
    if (config_.ema_beta > 0.0) {
      // [LZ] update_ema: avg <- beta avg + (1 - beta) p after each step, avg starting at
      // the initial parameters (here: the first iterate, one step from them).
      if (!ema_started_) {
        xt::noalias(ema_) = *info.x;
        ema_started_ = true;
      } else {
        const float b = static_cast<float>(config_.ema_beta);
        xt::noalias(ema_) = b * ema_ + (1.0f - b) * (*info.x);
      }
    }
    return true;
  }
  bool on_epoch_end(const StepInfo<float>& info) override {
    EpochMetrics m;
    m.epoch = info.epoch + 1;
    m.train_loss = steps_ ? loss_sum_ / static_cast<double>(steps_) : 0.0;
    m.train_error = steps_ ? error_sum_ / static_cast<double>(steps_) : 0.0;
    loss_sum_ = error_sum_ = 0.0;
    steps_ = 0;
    const Vector<float>& x = config_.ema_beta > 0.0 ? ema_ : *info.x;
    const bool last = m.epoch == config_.epochs;
    if (last || m.epoch % config_.eval_every == 0) {
      const auto test = problem_.evaluate(x, data_.test);
      m.test_loss = test.loss;
      m.test_error = test.error;
      if (test.error < result_.best_test_error || result_.best_epoch == 0) {
        result_.best_test_error = test.error;
        result_.best_epoch = m.epoch;
      }
    } else {
      m.test_loss = m.test_error = std::numeric_limits<double>::quiet_NaN();
    }
    m.layer_densities = problem_.layer_densities(x);
    m.expected_density = problem_.model_density(x);
    m.test_time_density = problem_.test_time_density(x);
    const auto measures = problem_.group_measures(x);
    // Density groups: measure - target (<= 0 is feasible). Penalized runs: the measure itself.
    const bool penalized = !config_.penalties.empty();
    for (std::size_t k = 0; k < measures.size(); ++k)
      m.constraint_values.push_back(penalized ? measures[k] : measures[k] - problem_.options().groups[k].target);
    const auto purged = problem_.model().purged(make_cview<float, 1>(x.data(), {x.size()}), config_.test_gate);
    m.pruned_architecture = purged.architecture();
    m.purged_params = purged.params;
    m.purged_macs = purged.macs;
    m.multipliers.assign(info.multipliers->begin(), info.multipliers->end());
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    result_.history.push_back(m);
    const bool go = on_epoch_ ? on_epoch_(m) : true;
    if (!config_.checkpoint_path.empty() && solver_) {
      std::ostringstream payload;
      save(payload);
      solver_->save_state(payload);
      write_checkpoint_file(config_.checkpoint_path, payload.str());
    }
    return go;
  }
  const Vector<float>& ema() const { return ema_; }

 private:
  const TrainConfig& config_;
  DensityProblem& problem_;
  const Dataset& data_;
  TrainResult& result_;
  const std::function<bool(const EpochMetrics&)>& on_epoch_;
  std::chrono::steady_clock::time_point start_;
  double loss_sum_ = 0.0, error_sum_ = 0.0;
  std::size_t steps_ = 0;
  Vector<float> ema_, restored_ema_;
  bool ema_started_ = false;
  const Solver<float>* solver_ = nullptr;
  std::string fingerprint_;
};

}  // namespace

TrainResult train(const TrainConfig& config, const Dataset& data,
                  const std::function<bool(const EpochMetrics&)>& on_epoch,
                  const std::function<void(const std::vector<EpochMetrics>&)>& on_restore) {
  config.validate();
  DensityProblemOptions po;
  po.architecture = config.architecture;
  po.batch = config.batch;
  po.eval_batch = config.eval_batch;
  po.weight_decay = config.weight_decay;
  po.test_gate = config.test_gate;
  po.init = config.init;
  SolverOptions so = config.solver_options;
  so.batch_size = config.batch;
  so.max_epochs = config.epochs;
  so.max_iterations = 0;
  so.seed = config.seed;
  {
    // Groups need the model's layer list: build a throwaway model description.
    GatedModel<float> shape(config.architecture, data.rows, data.cols, data.num_classes);
    if (!config.penalties.empty()) {
      po.measure = config.penalty_measure;
      if (config.penalties.size() == 1) {
        po.groups = model_level(shape, 1.0);
      } else {
        po.groups = layer_level(shape, std::vector<double>(config.penalties.size(), 1.0));
      }
      so.formulation.kind = FormulationKind::fixed_penalty;
      so.initial_multipliers = config.penalties;
      so.dual_restarts = false;
    } else if (!config.layer_targets.empty()) {
      po.groups = layer_level(shape, config.layer_targets);
    } else {
      po.groups = model_level(shape, config.target_density);
    }
  }
  DensityProblem problem(data, po);
  TrainResult result;
  for (const auto& g : problem.options().groups) {
    result.group_names.push_back(g.name);
    result.group_targets.push_back(g.target);
  }
  for (const auto& l : problem.model().gated_layers()) result.layer_names.push_back(l.name);
  result.dense_params = problem.model().dense_params();
  result.dense_macs = problem.model().dense_macs();

  Solver<float> solver(make_scheme<float>(config.solver), so);
  EpochWatcher watcher(config, problem, data, result, on_epoch);
  watcher.set_solver(&solver, fingerprint(config, problem));
  solver.add_callback(&watcher);
  for (Callback<float>* callback : config.callbacks)
    if (callback != nullptr) solver.add_callback(callback);
  if (!config.resume_from.empty()) {
    std::istringstream payload(read_checkpoint_file(config.resume_from));
    watcher.load(payload, config.resume_from);
    if (on_restore) on_restore(result.history);
    result.summary = solver.resume(problem, payload);
  } else {
    result.summary = solver.solve(problem);
  }
  if (!result.history.empty()) result.final_metrics = result.history.back();
  return result;
}

}  // namespace saddle::l0
