#include "saddle/problems/l0/experiment.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>


#include <xtensor/xnoalias.hpp>

#include "saddle/problems/l0/checkpoint.hpp"
#include "saddle/serialize.hpp"
#include "saddle/solver.hpp"
#include "saddle/solvers.hpp"

// OpenBLAS's thread count (declared here: <cblas.h> next to xtensor-blas redeclares its
// enums). saddle links OpenBLAS (CMakeLists.txt: BLA_VENDOR OpenBLAS).
extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}

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
  if (fixed_gate_epochs >= epochs)
    throw InvalidOption("fixed_gate_epochs = " + std::to_string(fixed_gate_epochs) + ": must be < epochs (" +
                        std::to_string(epochs) + ")");
  if (eval_batch == 0) throw InvalidOption("eval_batch = 0: must be > 0");
  if (eval_every == 0) throw InvalidOption("eval_every = 0: must be > 0");
  if (threads == 0 || threads > 256) throw InvalidOption("threads = " + std::to_string(threads) + ": must be in 1..256");
  if (!(ema_beta >= 0.0 && ema_beta < 1.0)) throw InvalidOption("ema = " + std::to_string(ema_beta) + ": must be in [0, 1)");
  if (!(weight_decay >= 0.0)) throw InvalidOption("weight_decay = " + std::to_string(weight_decay) + ": must be >= 0");
  if (!(log_alpha_min >= -20.0 && log_alpha_min < 0.0))
    throw InvalidOption("log_alpha_min = " + std::to_string(log_alpha_min) + ": must be in [-20, 0)");
  solver_options.primal.validate();
  solver_options.dual.validate();
  solver_options.formulation.validate();
}

const char* to_string(ThreadSplit split) {
  switch (split) {
    case ThreadSplit::automatic:
      return "auto";
    case ThreadSplit::batch:
      return "batch";
    case ThreadSplit::layers:
      return "layers";
  }
  return "?";
}

ThreadSplit parse_thread_split(const std::string& name) {
  if (name == "auto") return ThreadSplit::automatic;
  if (name == "batch") return ThreadSplit::batch;
  if (name == "layers") return ThreadSplit::layers;
  throw InvalidOption("unknown thread_split '" + name + "' (choices: auto, batch, layers)");
}

ThreadSplit resolve_thread_split(ThreadSplit split, Architecture architecture) {
  if (split != ThreadSplit::automatic) return split;
  // The MLP's work is nearly all in its dense layers, where a batch split repeats the
  // per-weight work in every replica; LeNet5's is in the convolutions, which only the batch
  // split divides (docs/performance.md, "Two cores").
  return architecture == Architecture::mlp ? ThreadSplit::layers : ThreadSplit::batch;
}

namespace {

// What must match between a checkpoint and the run that resumes it.
std::string fingerprint(const TrainConfig& c, const DensityProblem& p) {
  std::ostringstream s;
  s.precision(17);
  s << to_string(c.architecture) << " params=" << p.num_parameters() << " solver=" << c.solver << " batch=" << c.batch
    << " seed=" << c.seed << " groups=";
  for (const auto& g : p.options().groups) s << g.name << ':' << g.target << ',';
  s << " penalties=";
  for (double v : c.penalties) s << v << ',';
  // Only when set: checkpoints of runs without the phase keep their fingerprint.
  if (c.fixed_gate_epochs > 0) s << " fixed_gates_from=" << c.epochs - c.fixed_gate_epochs;
  if (c.log_alpha_min != kLogAlphaMin) s << " log_alpha_min=" << c.log_alpha_min;
  return s.str();
}

// Watches the solve: training statistics per epoch, EMA, test metrics, user callback.
class EpochWatcher final : public Callback<float> {
 public:
  EpochWatcher(const TrainConfig& config, DensityProblem& problem, const DataParallelProblem<float>* parallel,
               ThreadParallelProblem<float>* threads, std::vector<DensityProblem*> replicas, const Dataset& data,
               TrainResult& result, const std::function<bool(const EpochMetrics&)>& on_epoch)
      : config_(config), problem_(problem), parallel_(parallel), threads_(threads), replicas_(std::move(replicas)),
        data_(data), result_(result), on_epoch_(on_epoch), start_(std::chrono::steady_clock::now()) {
    if (threads_) parts_.resize(threads_->threads());
  }

  void on_begin(BasicProblem<float>& p, const SolverOptions&) override {
    epoch_start_ = std::chrono::steady_clock::now();
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
    RunState s;
    s.fingerprint = fingerprint_;
    s.best_test_error = result_.best_test_error;
    s.best_epoch = result_.best_epoch;
    s.history = result_.history;
    s.epoch_steps = steps_;  // 0 at an epoch end; error_sum_ is then the sum over the ranks
    s.epoch_loss_sum = loss_sum_;
    s.epoch_error_sum = error_sum_;
    s.ema_started = ema_started_;
    s.ema = ema_;
    write_run_state(out, s);
  }
  void load(std::istream& in, const std::string& path) {
    RunState s = read_run_state(in, path);
    if (s.fingerprint != fingerprint_)
      throw InputError("checkpoint '" + path + "' belongs to another run: [" + s.fingerprint + "] vs this run [" +
                       fingerprint_ + "]");
    result_.best_test_error = s.best_test_error;
    result_.best_epoch = s.best_epoch;
    result_.history = std::move(s.history);
    for (auto& m : result_.history) m.train_seconds = std::numeric_limits<double>::quiet_NaN();  // not checkpointed
    steps_ = static_cast<std::size_t>(s.epoch_steps);
    loss_sum_ = s.epoch_loss_sum;
    // Data parallel: the saved error sum is over all ranks; rank 0 carries it on.
    const bool root = config_.communicator == nullptr || config_.communicator->rank() == 0;
    error_sum_ = root ? s.epoch_error_sum : 0.0;
    ema_started_ = s.ema_started;
    restored_ema_ = std::move(s.ema);
    start_ = std::chrono::steady_clock::now() -
             std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(
                 result_.history.empty() ? 0.0 : result_.history.back().seconds));
    // Resumed inside the fixed-gate phase: the gates are held at the checkpoint's log_alpha,
    // which the phase kept unchanged since its start (the same bits as the unstopped run).
    enter_fixed_gate_phase_if_due(result_.history.size());
  }
  /// Starts the fixed-gate phase once `epochs_done` epochs have run (every replica: each holds
  /// the gates of the x of its next forward, the same x for all).
  void enter_fixed_gate_phase_if_due(std::size_t epochs_done) {
    if (config_.fixed_gate_epochs == 0 || epochs_done < config_.epochs - config_.fixed_gate_epochs) return;
    problem_.fix_gates();
    for (DensityProblem* r : replicas_) r->fix_gates();
  }
  bool on_step(const StepInfo<float>& info) override {
    loss_sum_ += info.evaluation->loss;
    // Data parallel: this rank's share of the batch error; summed over the ranks per epoch.
    error_sum_ += parallel_ ? parallel_->last_share() * batch_error() : batch_error();
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
    const auto train_end = std::chrono::steady_clock::now();
    EpochMetrics m;
    m.train_seconds = std::chrono::duration<double>(train_end - epoch_start_).count();
    m.epoch = info.epoch + 1;
    m.train_loss = steps_ ? loss_sum_ / static_cast<double>(steps_) : 0.0;
    if (config_.communicator != nullptr) config_.communicator->allreduce_sum(&error_sum_, 1);
    m.train_error = steps_ ? error_sum_ / static_cast<double>(steps_) : 0.0;
    loss_sum_ = error_sum_ = 0.0;
    steps_ = 0;
    const Vector<float>& x = config_.ema_beta > 0.0 ? ema_ : *info.x;
    const bool last = m.epoch == config_.epochs;
    if (last || m.epoch % config_.eval_every == 0) {
      const auto test = evaluate_test(x);
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
    const auto measures = problem_.group_measures(x);
    // Density groups: measure - target (<= 0 is feasible). Penalized runs: the measure itself.
    const bool penalized = !config_.penalties.empty();
    for (std::size_t k = 0; k < measures.size(); ++k)
      m.constraint_values.push_back(penalized ? measures[k] : measures[k] - problem_.options().groups[k].target);
    const auto purged = problem_.model().purged(make_cview<float, 1>(x.data(), {x.size()}), config_.test_gate);
    m.test_time_density = problem_.test_time_density(purged);
    m.pruned_architecture = purged.architecture();
    m.purged_params = purged.params;
    m.purged_macs = purged.macs;
    m.multipliers.assign(info.multipliers->begin(), info.multipliers->end());
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    result_.history.push_back(m);
    enter_fixed_gate_phase_if_due(result_.history.size());
    const bool go = on_epoch_ ? on_epoch_(m) : true;
    const bool root = config_.communicator == nullptr || config_.communicator->rank() == 0;
    if (!config_.checkpoint_path.empty() && solver_ && root) {
      std::ostringstream payload;
      save(payload);
      solver_->save_state(payload);
      write_checkpoint_file(config_.checkpoint_path, payload.str());
    }
    epoch_start_ = std::chrono::steady_clock::now();  // the next epoch's training starts here
    return go;
  }
  // A callback stopped the run in the middle of an epoch (e.g. on SIGTERM): checkpoint the
  // state after the last step with the epoch's running sums, so that a resume continues with
  // the next batch and reaches the uninterrupted result.
  void on_end(const Summary<float>& summary) override {
    if (summary.termination != Termination::user_stop || steps_ == 0 || solver_ == nullptr) return;
    if (config_.communicator != nullptr) config_.communicator->allreduce_sum(&error_sum_, 1);
    const bool root = config_.communicator == nullptr || config_.communicator->rank() == 0;
    if (config_.checkpoint_path.empty() || !root) return;
    std::ostringstream payload;
    save(payload);
    solver_->save_state(payload);
    write_checkpoint_file(config_.checkpoint_path, payload.str());
  }
  const Vector<float>& ema() const { return ema_; }

 private:
  // The training error of the last minibatch (sampled gates); threads: the share-weighted
  // sum of the replicas' errors in replica order.
  double batch_error() const {
    if (threads_ == nullptr) return problem_.last_batch_error();
    double e = 0.0;
    for (std::size_t i = 0; i < replicas_.size(); ++i)
      if (threads_->last_shard(i).count > 0) e += threads_->last_share(i) * replicas_[i]->last_batch_error();
    return e;
  }
  // Test metrics on rows [first, first + count); threads: each replica evaluates its share
  // of the rows on its thread, the loss sums and correct counts added in replica order.
  EvalMetrics evaluate_rows(const Vector<float>& x, std::size_t first, std::size_t count) {
    if (threads_ == nullptr) return problem_.evaluate(x, data_.test, first, count);
    const int n = static_cast<int>(replicas_.size());
    threads_->for_each_replica([&](std::size_t i, BasicProblem<float>&) {
      const Shard s = shard_of(count, static_cast<int>(i), n);
      parts_[i] = replicas_[i]->evaluate(x, data_.test, first + s.offset, s.count);
    });
    EvalMetrics all;
    double loss_sum = 0.0;
    for (const auto& p : parts_) {
      loss_sum += p.loss * static_cast<double>(p.count);
      all.correct += p.correct;
    }
    all.count = count;
    all.loss = count ? loss_sum / static_cast<double>(count) : 0.0;
    all.error = count ? 1.0 - static_cast<double>(all.correct) / static_cast<double>(count) : 0.0;
    return all;
  }
  // Test metrics; data parallel: each rank evaluates its share of the test rows and the loss
  // sums and correct counts are added over the ranks.
  EvalMetrics evaluate_test(const Vector<float>& x) {
    Communicator* comm = config_.communicator;
    if (comm == nullptr || comm->size() < 2) return evaluate_rows(x, 0, data_.test.size());
    const Shard share = shard_of(data_.test.size(), comm->rank(), comm->size());
    const EvalMetrics mine = evaluate_rows(x, share.offset, share.count);
    double sums[2] = {mine.loss * static_cast<double>(mine.count), static_cast<double>(mine.correct)};
    comm->allreduce_sum(sums, 2);
    EvalMetrics all;
    all.count = data_.test.size();
    all.correct = static_cast<std::size_t>(sums[1]);
    all.loss = all.count ? sums[0] / static_cast<double>(all.count) : 0.0;
    all.error = all.count ? 1.0 - sums[1] / static_cast<double>(all.count) : 0.0;
    return all;
  }

  const TrainConfig& config_;
  DensityProblem& problem_;
  const DataParallelProblem<float>* parallel_;  // null: one process
  ThreadParallelProblem<float>* threads_;       // null: one thread
  std::vector<DensityProblem*> replicas_;       // threads: the replicas, replicas_[0] = &problem_
  std::vector<EvalMetrics> parts_;              // threads: each replica's test metrics
  const Dataset& data_;
  TrainResult& result_;
  const std::function<bool(const EpochMetrics&)>& on_epoch_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point epoch_start_;  // start of the current epoch's training
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
  po.dual_scale = config.dual_scale;
  po.log_alpha_min = config.log_alpha_min;
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
  // Threads: N replicas of the problem (each with its own model workspaces, all reading the
  // same data); replica 0 is the one the watcher asks for densities and purged counts.
  // Layer split: one problem, its layers' work on a team of `threads`.
  const bool layer_split =
      config.threads > 1 &&
      resolve_thread_split(config.thread_split, config.architecture) == ThreadSplit::layers;
  std::vector<std::unique_ptr<BasicProblem<float>>> owned;
  std::vector<DensityProblem*> replicas;
  for (std::size_t i = 0; i < (layer_split ? 1 : config.threads); ++i) {
    auto p = std::make_unique<DensityProblem>(data, po);
    replicas.push_back(p.get());
    owned.push_back(std::move(p));
  }
  DensityProblem& problem = *replicas[0];
  std::unique_ptr<ThreadParallelProblem<float>> threaded;
  std::unique_ptr<ThreadTeam> team;
  if (layer_split) {
    team = std::make_unique<ThreadTeam>(config.threads, config.thread_backend);
    problem.set_runner(team.get());
  } else if (config.threads > 1) {
    threaded =
        std::make_unique<ThreadParallelProblem<float>>(std::move(owned), config.thread_backend);
  }
  // Inside the replicas' threads OpenBLAS runs single-threaded; its setting is restored at
  // the end of the run.
  struct BlasThreads {
    int saved = 0;
    explicit BlasThreads(bool one) : saved(one ? openblas_get_num_threads() : 0) {
      if (one) openblas_set_num_threads(1);
    }
    ~BlasThreads() {
      if (saved > 0) openblas_set_num_threads(saved);
    }
  } blas_threads(config.threads > 1);
  TrainResult result;
  for (const auto& g : problem.options().groups) {
    result.group_names.push_back(g.name);
    result.group_targets.push_back(g.target);
  }
  for (const auto& l : problem.model().gated_layers()) result.layer_names.push_back(l.name);
  result.dense_params = problem.model().dense_params();
  result.dense_macs = problem.model().dense_macs();

  // Data parallel: the solver sees the wrapper, the watcher the rank's own problem. Ranks x
  // threads: the ranks' wrapper splits the batch over the ranks, the threads' wrapper each
  // rank's share over its threads.
  BasicProblem<float>& local = threaded ? static_cast<BasicProblem<float>&>(*threaded) : problem;
  std::unique_ptr<DataParallelProblem<float>> parallel;
  if (config.communicator != nullptr && config.communicator->size() > 1)
    parallel = std::make_unique<DataParallelProblem<float>>(local, *config.communicator);
  BasicProblem<float>& solved = parallel ? static_cast<BasicProblem<float>&>(*parallel) : local;

  // Adam's update of the parameters
  // runs on the replicas' threads too, in fixed ranges: the same bits as on one thread.
  if (threaded) so.range_runner = &threaded->team();
  if (team) so.range_runner = team.get();
  Solver<float> solver(make_scheme<float>(config.solver), so);
  EpochWatcher watcher(config, problem, parallel.get(), threaded.get(), threaded ? replicas : std::vector<DensityProblem*>{},
                       data, result, on_epoch);
  watcher.set_solver(&solver, fingerprint(config, problem));
  solver.add_callback(&watcher);
  for (Callback<float>* callback : config.callbacks)
    if (callback != nullptr) solver.add_callback(callback);
  if (!config.resume_from.empty()) {
    std::istringstream payload(read_checkpoint_file(config.resume_from));
    watcher.load(payload, config.resume_from);
    if (on_restore) on_restore(result.history);
    result.summary = solver.resume(solved, payload);
  } else {
    result.summary = solver.solve(solved);
  }
  if (!result.history.empty()) result.final_metrics = result.history.back();
  return result;
}

}  // namespace saddle::l0
