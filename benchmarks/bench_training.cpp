// saddle_bench: training throughput of the L0 flagship on real MNIST, measured against the
// machine's own sgemm in the same run (docs/performance.md explains every figure).
//
// Order of the run (registration order; Google Benchmark runs benchmarks in that order):
//   1. sgemm baselines, xt::blas::gemm on float row-major xtensors (OpenBLAS, one thread):
//      the MLP's fc1 forward [128x784]x[784x300], LeNet5's conv2 forward (im2col GEMM, batch
//      128) [50x500]x[500x8192] and a square 1024^3 product as the machine's peak.
//   2. per model (MLP 784-300-100-10, LeNet5-Caffe):
//      eval/<model>       DensityProblem::evaluate on the 10,000 test images (batches of 500);
//      step/<model>/dense one training step at the initial point of `saddle train`;
//      step/<model>/sparse30 the same step with every gate open with probability 0.3.
//
// A training step is measured by running the real driver: a saddle::Solver<float> with the
// "gda" scheme and exactly the solver options of `saddle train`
// (l0::TrainConfig::default_solver_options(): Lagrangian, Adam 7e-4, dual ascent 1e-4, dual
// restarts), batch 128, one model-level density constraint. Each benchmark iteration solves
// k = ModelSpec::steps_per_solve steps (MLP 41, LeNet5 9) from the same start point with a
// fresh seed (so every solve draws its own shuffle of the 60,000 training images and its own
// gate noise); the timer runs from the end of step 1 to the end of step k, so it covers k - 1
// complete steps (batch gather, forward, backward, Adam, project, dual step and the solver's
// bookkeeping) and excludes the solver's setup, the per-epoch shuffle (timed separately) and
// the final Summary.
//
// Times: every figure is computed from the thread CPU time (CLOCK_THREAD_CPUTIME_ID), which
// does not count the time the thread waits for a core on a loaded machine; wall times are
// reported next to them (on an idle machine the two agree, since BLAS runs on this thread).

#include <benchmark/benchmark.h>

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <xtensor-blas/xblas.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xtensor.hpp>

#include "saddle/callbacks.hpp"
#include "saddle/rules.hpp"
#include "saddle/solver.hpp"
#include "saddle/summary.hpp"
#include "saddle/problems/l0/dataset.hpp"
#include "saddle/problems/l0/density_problem.hpp"
#include "saddle/problems/l0/experiment.hpp"
#include "saddle/problems/l0/hard_concrete.hpp"
#include "saddle/problems/l0/model.hpp"
#include "saddle/problems/l0/purged_network.hpp"
#include "saddle/problems/l0/saved_model.hpp"
#include "saddle/problems/l0/basic_layers.hpp"
#include "saddle/solvers.hpp"
#include "bench_problem.hpp"

// OpenBLAS's own introspection functions (declared here: <cblas.h> is not included next to
// xtensor-blas, which declares the BLAS functions itself).
extern "C" {
int openblas_get_num_threads(void);
char* openblas_get_corename(void);
char* openblas_get_config(void);
}

// ---------------------------------------------------------------------------------------------
// Allocation counter: the interposed C allocator of tests/common/allocation_counter.hpp
// (malloc, posix_memalign, ... forwarded to glibc; xtensor allocates with posix_memalign),
// defined in this executable. Counting is on only inside the timed window of a training step.
// ---------------------------------------------------------------------------------------------
#define SADDLE_TEST_ALLOC_DEFINE
#include "common/allocation_counter.hpp"

namespace {
using saddle_test_alloc::t_allocations;
using saddle_test_alloc::t_counting;
}  // namespace

namespace {

using saddle::Vector;
namespace l0 = saddle::l0;

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

constexpr std::size_t kBatch = 128;
constexpr std::size_t kTrainImages = 60000;
/// ceil(60000 / 128): steps of one epoch.
constexpr std::size_t kStepsPerEpoch = (kTrainImages + kBatch - 1) / kBatch;
/// Model-level density target of the benchmark problem (one constraint; the value only
/// decides the multiplier's motion, which costs nothing measurable).
constexpr double kTargetDensity = 0.33;
/// Probability that a gate is non-zero in the sparse state.
constexpr double kSparseOpen = 0.3;

/// Time of one stretch of work: thread CPU seconds and wall seconds.
struct Times {
  double cpu = 0.0;
  double wall = 0.0;
};

Times now() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  Times t;
  t.cpu = static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  t.wall = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  return t;
}
Times operator-(const Times& a, const Times& b) { return {a.cpu - b.cpu, a.wall - b.wall}; }

// ---------------------------------------------------------------------------------------------
// sgemm baselines
// ---------------------------------------------------------------------------------------------

enum SgemmCase : std::size_t { kSgemmMlpFc1 = 0, kSgemmLenetConv2 = 1, kSgemmPeak = 2, kSgemmCases = 3 };

struct SgemmShape {
  const char* name;
  std::size_t m, k, n;  // [m x k] x [k x n]
};

constexpr std::array<SgemmShape, kSgemmCases> kSgemmShapes = {{
    {"sgemm/mlp_fc1_fwd/128x784x300", 128, 784, 300},
    {"sgemm/lenet_conv2_fwd/50x500x8192", 50, 500, 8192},
    {"sgemm/peak/1024x1024x1024", 1024, 1024, 1024},
}};

/// GFLOP/s (from CPU and wall time) of the last run of each sgemm benchmark; 0 = not run.
std::array<Times, kSgemmCases> g_sgemm_gflops{};

double sgemm_flops(const SgemmShape& s) { return 2.0 * static_cast<double>(s.m * s.k * s.n); }

struct SgemmBuffers {
  xt::xtensor<float, 2> a, b, c;
  explicit SgemmBuffers(const SgemmShape& s)
      : a(xt::xtensor<float, 2>::from_shape({s.m, s.k})),
        b(xt::xtensor<float, 2>::from_shape({s.k, s.n})),
        c(xt::xtensor<float, 2>::from_shape({s.m, s.n})) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& v : a) v = u(rng);
    for (auto& v : b) v = u(rng);
    c.fill(0.0f);
  }
  void run() { xt::blas::gemm(a, b, c, false, false, 1.0f, 0.0f); }
};

void bm_sgemm(benchmark::State& state, SgemmCase which) {
  const SgemmShape& shape = kSgemmShapes[which];
  SgemmBuffers buf(shape);
  buf.run();  // warm-up: OpenBLAS allocates its work buffers on first use
  const Times t0 = now();
  for (auto _ : state) {
    buf.run();
    benchmark::DoNotOptimize(buf.c.data());
    benchmark::ClobberMemory();
  }
  const Times dt = now() - t0;
  const double flops = sgemm_flops(shape) * static_cast<double>(state.iterations());
  g_sgemm_gflops[which] = {flops / dt.cpu * 1e-9, flops / dt.wall * 1e-9};
  state.counters["GFLOP/s"] = g_sgemm_gflops[which].cpu;
  state.counters["GFLOP/s_wall"] = g_sgemm_gflops[which].wall;
}

/// The baseline of the current run; measured on the spot (about 0.3 s of CPU) if its
/// benchmark was filtered out, so that every ratio is still against this run's sgemm.
double sgemm_baseline(SgemmCase which) {
  if (g_sgemm_gflops[which].cpu > 0.0) return g_sgemm_gflops[which].cpu;
  const SgemmShape& shape = kSgemmShapes[which];
  SgemmBuffers buf(shape);
  buf.run();
  std::size_t reps = 0;
  const Times t0 = now();
  Times dt;
  do {
    buf.run();
    ++reps;
    dt = now() - t0;
  } while (dt.cpu < 0.3);
  const double flops = sgemm_flops(shape) * static_cast<double>(reps);
  g_sgemm_gflops[which] = {flops / dt.cpu * 1e-9, flops / dt.wall * 1e-9};
  return g_sgemm_gflops[which].cpu;
}

// ---------------------------------------------------------------------------------------------
// The flagship problems
// ---------------------------------------------------------------------------------------------

enum Model : std::size_t { kMlp = 0, kLenet = 1, kModels = 2 };

struct ModelSpec {
  const char* name;
  l0::Architecture arch;
  std::size_t macs;        ///< per example, dense network
  std::size_t first_macs;  ///< of the first layer (no input gradient computed)
  SgemmCase sgemm;         ///< matching-shape baseline
  std::size_t steps_per_solve;
  std::size_t solves;      ///< benchmark iterations of a step benchmark
  std::size_t evals;       ///< benchmark iterations of the eval benchmark
};

// MACs: GatedModel::dense_macs (MLP 784*300 + 300*100 + 100*10; LeNet5 conv1
// 20*24*24*25, conv2 50*8*8*500, fc 800*500 + 500*10). Iteration counts keep the whole run
// under about two minutes of wall time on a loaded 2-core machine.
constexpr std::array<ModelSpec, kModels> kModelSpecs = {{
    {"mlp", l0::Architecture::mlp, 266200, 235200, kSgemmMlpFc1, 41, 10, 5},
    {"lenet5", l0::Architecture::lenet5, 2293000, 288000, kSgemmLenetConv2, 9, 5, 2},
}};

/// Nominal FLOPs of one training step: forward (1x MACs), weight gradients (1x) and input
/// gradients (1x, except for the first layer), 2 FLOPs per MAC, per example.
double nominal_step_flops(const ModelSpec& m) {
  return static_cast<double>(kBatch) * 2.0 * (3.0 * static_cast<double>(m.macs) - static_cast<double>(m.first_macs));
}
double nominal_eval_flops(const ModelSpec& m, std::size_t images) {
  return static_cast<double>(images) * 2.0 * static_cast<double>(m.macs);
}

l0::Dataset* g_data = nullptr;

/// True if the interposed allocator sees xtensor's allocations in this build (checked once
/// in main); allocs/step is reported only then.
bool g_allocation_counter_works = false;

bool check_allocation_counter() {
  t_allocations = 0;
  t_counting = true;
  {
    xt::xtensor<float, 1> v = xt::xtensor<float, 1>::from_shape({1000});  // posix_memalign
    v.fill(1.0f);
    benchmark::DoNotOptimize(v.data());
  }
  t_counting = false;
  return t_allocations > 0;
}

struct Setup {
  std::unique_ptr<l0::DensityProblem> problem;
  Vector<float> x0;        ///< the initial point of `saddle train` (lz init, seed 1)
  Vector<float> x_sparse;  ///< x0 with every log_alpha set so that P(z != 0) = kSparseOpen
};

/// Measured results of the run, for the summary printed at the end.
struct ModelResults {
  Times eval;          ///< one test-set evaluation
  Times shuffle;       ///< one epoch's shuffle of the training order
  Times step_dense;    ///< one training step
  Times step_sparse;
  double allocs_per_step = -1.0;
  double open_dense = 0.0, open_sparse = 0.0;
};
std::array<ModelResults, kModels> g_results{};
std::array<std::unique_ptr<Setup>, kModels> g_setup{};

saddle::SolverOptions bench_solver_options(std::size_t steps, std::uint64_t seed) {
  saddle::SolverOptions so = l0::TrainConfig::default_solver_options();  // as `saddle train`
  so.batch_size = kBatch;
  so.max_iterations = steps;
  so.max_epochs = 0;
  so.seed = seed;
  return so;
}

Setup& setup(Model which) {
  auto& slot = g_setup[which];
  if (slot) return *slot;
  const ModelSpec& spec = kModelSpecs[which];
  slot = std::make_unique<Setup>();
  const l0::DensityProblemOptions po = saddle_bench::density_problem_options(spec.arch, kBatch, *g_data, kTargetDensity);
  slot->problem = std::make_unique<l0::DensityProblem>(*g_data, po);
  l0::DensityProblem& p = *slot->problem;
  if (p.model().dense_macs() != spec.macs)
    std::fprintf(stderr, "saddle_bench: warning: %s has %zu MACs per example, the benchmark assumes %zu\n", spec.name,
                 p.model().dense_macs(), spec.macs);
  slot->x0 = Vector<float>::from_shape({p.num_parameters()});
  p.initial_point(slot->x0, 1);
  slot->x_sparse = slot->x0;
  // 1 - q0 = sigmoid(log_alpha - kQ0Shift) (hard_concrete.hpp) = kSparseOpen.
  const double la = std::log(kSparseOpen / (1.0 - kSparseOpen)) + l0::kQ0Shift;
  for (const auto& g : p.model().gated_layers())
    for (std::size_t j = 0; j < g.num_gates; ++j) slot->x_sparse(g.log_alpha_offset + j) = static_cast<float>(la);
  g_results[which].open_dense = p.model_density(slot->x0);
  g_results[which].open_sparse = p.model_density(slot->x_sparse);

  // Warm-up solve (OpenBLAS buffers, first touch of every activation buffer), not timed.
  saddle::Solver<float> warm(saddle::make_scheme<float>("gda"), bench_solver_options(2, 999));
  (void)warm.solve(p, slot->x0);

  // One epoch's shuffle of the 60,000-image order (Fisher-Yates): part of the epoch time.
  const Times t0 = now();
  constexpr int kShuffles = 5;
  for (int r = 0; r < kShuffles; ++r) p.shuffle(static_cast<std::uint64_t>(r));
  const Times dt = now() - t0;
  g_results[which].shuffle = {dt.cpu / kShuffles, dt.wall / kShuffles};
  return *slot;
}

// Times steps 2..k of a solve: resumes the benchmark timer at the end of step 1, pauses it at
// the end of step k, and counts allocations in between.
class StepTimer final : public saddle::Callback<float> {
 public:
  StepTimer(benchmark::State& state, std::size_t k) : state_(state), k_(k) {}
  bool on_step(const saddle::StepInfo<float>& info) override {
    if (info.iteration == 1) {
      state_.ResumeTiming();
      running_ = true;
      t_allocations = 0;
      t_counting = true;
      start_ = now();
    } else if (info.iteration == k_ && running_) {
      const Times dt = now() - start_;
      t_counting = false;
      allocations_ += t_allocations;
      total_ = {total_.cpu + dt.cpu, total_.wall + dt.wall};
      steps_ += k_ - 1;
      running_ = false;
      state_.PauseTiming();
    }
    return true;
  }
  void on_end(const saddle::Summary<float>&) override {
    if (running_) {  // the solve stopped early; leave the timer paused as the loop expects
      t_counting = false;
      running_ = false;
      state_.PauseTiming();
    }
  }
  Times per_step() const { return {total_.cpu / static_cast<double>(steps_), total_.wall / static_cast<double>(steps_)}; }
  double allocations_per_step() const { return static_cast<double>(allocations_) / static_cast<double>(steps_); }
  std::size_t steps() const { return steps_; }

 private:
  benchmark::State& state_;
  std::size_t k_;
  bool running_ = false;
  Times start_, total_;
  std::size_t steps_ = 0, allocations_ = 0;
};

void bm_eval(benchmark::State& state, Model which) {
  Setup& s = setup(which);
  const ModelSpec& spec = kModelSpecs[which];
  double error = 0.0;
  const Times t0 = now();
  for (auto _ : state) {
    const l0::EvalMetrics m = s.problem->evaluate(s.x0, g_data->test);
    // No benchmark::DoNotOptimize(error): GCC miscompiles its "+m,r" asm on a double lvalue
    // (google/benchmark issue #903; it reported garbage here). evaluate() has side effects
    // on the problem's buffers, so it cannot be optimised away anyway.
    error = m.error;
  }
  const Times dt = now() - t0;
  const double n = static_cast<double>(state.iterations());
  g_results[which].eval = {dt.cpu / n, dt.wall / n};
  const double flops = nominal_eval_flops(spec, g_data->test.size());
  state.counters["s/eval"] = g_results[which].eval.cpu;
  state.counters["s/eval_wall"] = g_results[which].eval.wall;
  state.counters["GFLOP/s"] = flops / g_results[which].eval.cpu * 1e-9;
  state.counters["test_err"] = error;
}

void bm_step(benchmark::State& state, Model which, bool sparse) {
  Setup& s = setup(which);
  const ModelSpec& spec = kModelSpecs[which];
  const Vector<float>& start = sparse ? s.x_sparse : s.x0;
  StepTimer timer(state, spec.steps_per_solve);
  std::uint64_t seed = 1;
  for (auto _ : state) {
    state.PauseTiming();
    saddle::Solver<float> solver(saddle::make_scheme<float>("gda"), bench_solver_options(spec.steps_per_solve, seed++));
    solver.add_callback(&timer);
    const saddle::Summary<float> summary = solver.solve(*s.problem, start);
    state.ResumeTiming();
    if (summary.termination != saddle::Termination::iteration_limit) {
      state.SkipWithError(("solve stopped early: " + summary.message).c_str());
      return;
    }
  }
  if (timer.steps() == 0) return;
  const Times step = timer.per_step();
  ModelResults& r = g_results[which];
  (sparse ? r.step_sparse : r.step_dense) = step;
  if (!sparse && g_allocation_counter_works) r.allocs_per_step = timer.allocations_per_step();

  const double gflops = nominal_step_flops(spec) / step.cpu * 1e-9;
  const Times eval = r.eval;  // 0 if eval/<model> was filtered out
  const double train_epoch = static_cast<double>(kStepsPerEpoch) * step.cpu + r.shuffle.cpu;
  state.counters["ms/step"] = 1e3 * step.cpu;
  state.counters["ms/step_wall"] = 1e3 * step.wall;
  state.counters["GFLOP/s_dense_eq"] = gflops;
  state.counters["x_sgemm_shape"] = gflops / sgemm_baseline(spec.sgemm);
  state.counters["x_sgemm_peak"] = gflops / sgemm_baseline(kSgemmPeak);
  state.counters["s/epoch_train"] = train_epoch;
  if (eval.cpu > 0.0) {
    state.counters["s/eval"] = eval.cpu;
    state.counters["s/epoch"] = train_epoch + eval.cpu;
  }
  state.counters["E_open"] = sparse ? r.open_sparse : r.open_dense;
  if (g_allocation_counter_works) state.counters["allocs/step"] = timer.allocations_per_step();
  if (sparse && r.step_dense.cpu > 0.0) state.counters["speedup"] = r.step_dense.cpu / step.cpu;
}

// ---------------------------------------------------------------------------------------------
// Solver overhead: a constrained GDA step and an extragradient step of the solver against a
// plain Adam step written by hand on the same problem, the same start point and batches.
// ---------------------------------------------------------------------------------------------

/// The ways of taking k steps compared by overhead/<model>: Adam by hand; the solver's gda
/// scheme on the penalty-free problem (fixed-penalty formulation with multiplier 0: no dual
/// step, weight 0, but the driver's bookkeeping); the constrained gda and extragradient steps
/// of `saddle train` (Lagrangian, dual update, restarts).
enum OverheadVariant : std::size_t {
  kPlainAdam = 0,
  kSolverPenaltyFree = 1,
  kSolverGda = 2,
  kSolverExtragradient = 3,
  kVariants = 4
};
constexpr std::array<const char*, kVariants> kVariantNames = {{"plain_adam", "solver_penalty_free", "gda", "extragradient"}};

/// Records the thread CPU time (and wall time) of steps 2..k of a solve.
class WindowTimer final : public saddle::Callback<float> {
 public:
  explicit WindowTimer(std::size_t k) : k_(k) {}
  bool on_step(const saddle::StepInfo<float>& info) override {
    if (info.iteration == 1) start_ = now();
    if (info.iteration == k_) elapsed_ = now() - start_;
    return true;
  }
  Times elapsed() const { return elapsed_; }

 private:
  std::size_t k_;
  Times start_, elapsed_;
};

/// k steps of Adam driven by hand: the loop a user writes without the solver (shuffle once,
/// forward, backward with the constraint's weight 0, Adam step, Problem::project). Same
/// problem, start point, Adam options, batch size and order of batches as the solver's run;
/// no multipliers, no finiteness checks, no copies of x, no callbacks. Returns the time of
/// steps 2..k. Buffers are sized before the loop, as the solver does in setup.
struct PlainAdam {
  Vector<float> x, grad;
  Vector<double> weights;
  saddle::Evaluation eval;
  std::unique_ptr<saddle::PrimalRule<float>> adam;

  PlainAdam(l0::DensityProblem& p, const saddle::SolverOptions& so) {
    const std::size_t n = p.num_parameters(), m = p.constraints().size();
    x = Vector<float>::from_shape({n});
    grad = Vector<float>::from_shape({n});
    weights = Vector<double>::from_shape({m});
    weights.fill(0.0);
    eval.resize(m);
    adam = saddle::make_primal_rule<float>(so.primal);
    adam->resize(n);
  }
  Times run(l0::DensityProblem& p, const Vector<float>& start, std::size_t k, std::uint64_t seed) {
    xt::noalias(x) = start;
    adam->reset();
    p.shuffle(seed);
    saddle::Batch batch;
    batch.size = kBatch;
    Times t0;
    for (std::size_t i = 0; i < k; ++i) {
      batch.begin = i * kBatch;
      batch.noise_seed = seed * 1000003u + i;
      p.forward(x, batch, eval);
      p.backward(weights, grad);
      adam->step(x, grad);
      p.project(x);
      if (i == 0) t0 = now();
    }
    return now() - t0;
  }
};

/// Per-step times of each variant in each round, for the summary.
struct OverheadResults {
  std::array<Times, kVariants> per_step{};  ///< medians over the rounds
  double gda_ratio = 0.0, extragradient_ratio = 0.0;  ///< medians of the per-round ratios to plain Adam
  double penalty_free_ratio = 0.0;  ///< solver without constraints / plain Adam
  double gda_vs_penalty_free = 0.0; ///< constrained gda / solver without constraints
  std::size_t rounds = 0;
};
std::array<OverheadResults, kModels> g_overhead{};

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

// One benchmark iteration = one round: the three variants, each k steps from the initial
// point with this round's seed, in an order rotated every round (interleaved A/B/C, so that
// a change of machine load hits all three alike). Ratios are taken within a round, then the
// median over the rounds is reported.
void bm_overhead(benchmark::State& state, Model which) {
  Setup& s = setup(which);
  const ModelSpec& spec = kModelSpecs[which];
  const std::size_t k = spec.steps_per_solve;
  l0::DensityProblem& p = *s.problem;
  PlainAdam plain(p, bench_solver_options(k, 1));
  std::array<std::vector<double>, kVariants> cpu, wall;
  std::vector<double> gda_ratio, eg_ratio, pf_ratio, gda_pf_ratio;
  std::uint64_t round = 0;
  for (auto _ : state) {
    ++round;
    std::array<Times, kVariants> t{};
    for (std::size_t j = 0; j < kVariants; ++j) {
      const auto v = static_cast<OverheadVariant>((j + round) % kVariants);
      if (v == kPlainAdam) {
        t[v] = plain.run(p, s.x0, k, round);
      } else {
        saddle::SolverOptions so = bench_solver_options(k, round);
        if (v == kSolverPenaltyFree) {
          so.formulation.kind = saddle::FormulationKind::fixed_penalty;
          so.initial_multipliers = {0.0};
          so.dual_restarts = false;
        }
        saddle::Solver<float> solver(saddle::make_scheme<float>(v == kSolverExtragradient ? "extragradient" : "gda"), so);
        WindowTimer timer(k);
        solver.add_callback(&timer);
        const saddle::Summary<float> summary = solver.solve(p, s.x0);
        if (summary.termination != saddle::Termination::iteration_limit) {
          state.SkipWithError(("solve stopped early: " + summary.message).c_str());
          return;
        }
        t[v] = timer.elapsed();
      }
    }
    const double steps = static_cast<double>(k - 1);
    for (std::size_t v = 0; v < kVariants; ++v) {
      cpu[v].push_back(t[v].cpu / steps);
      wall[v].push_back(t[v].wall / steps);
    }
    gda_ratio.push_back(t[kSolverGda].cpu / t[kPlainAdam].cpu);
    eg_ratio.push_back(t[kSolverExtragradient].cpu / t[kPlainAdam].cpu);
    pf_ratio.push_back(t[kSolverPenaltyFree].cpu / t[kPlainAdam].cpu);
    gda_pf_ratio.push_back(t[kSolverGda].cpu / t[kSolverPenaltyFree].cpu);
  }
  OverheadResults& r = g_overhead[which];
  for (std::size_t v = 0; v < kVariants; ++v) {
    r.per_step[v] = {median(cpu[v]), median(wall[v])};
    state.counters[std::string("ms/step_") + kVariantNames[v]] = 1e3 * r.per_step[v].cpu;
  }
  r.gda_ratio = median(gda_ratio);
  r.extragradient_ratio = median(eg_ratio);
  r.penalty_free_ratio = median(pf_ratio);
  r.gda_vs_penalty_free = median(gda_pf_ratio);
  r.rounds = gda_ratio.size();
  state.counters["penalty_free/plain"] = r.penalty_free_ratio;
  state.counters["gda/penalty_free"] = r.gda_vs_penalty_free;
  state.counters["gda/plain"] = r.gda_ratio;
  state.counters["extragradient/plain"] = r.extragradient_ratio;
}

// ---------------------------------------------------------------------------------------------
// Inference: the purged network (PurgedNetwork::predict, what `saddle export` writes) against
// the gated model's test-time forward (DensityProblem::evaluate), on the 10,000 test images.
// ---------------------------------------------------------------------------------------------

/// Rows per forward pass of both: `saddle train`'s --eval-batch default and `saddle eval`'s --batch.
constexpr std::size_t kInferBatch = 500;

struct InferSetup {
  std::string source;      ///< run folder or checkpoint, or "initial point"
  Vector<float> x;         ///< the gated model's parameters
  l0::PurgedNetwork net;   ///< its purged network (median test gate)
  double dense_macs = 0.0;
};
std::array<std::unique_ptr<InferSetup>, kModels> g_infer_setup{};

struct InferResults {
  Times dense, gated, purged;  ///< medians over the rounds, per pass over the test set
  double speedup = 0.0;        ///< median of the per-round ratios gated / purged
  double speedup_dense = 0.0;  ///< median of the per-round ratios dense / purged
  double error_gated = 0.0, error_purged = 0.0;
  std::size_t rounds = 0;
  std::string source, architecture;
  double macs_fraction = 0.0;  ///< purged MACs / dense MACs
};
std::array<InferResults, kModels> g_infer{};

/// The point to measure: the checkpoint of the run named by $SADDLE_BENCH_<MODEL>_RUN (a run
/// folder or checkpoint of `saddle train`, e.g. a finished MLP run at target 0.33), else the
/// initial point of `saddle train` (every gate open: the purged network is the dense one).
InferSetup& infer_setup(Model which) {
  auto& slot = g_infer_setup[which];
  if (slot) return *slot;
  Setup& s = setup(which);
  const ModelSpec& spec = kModelSpecs[which];
  slot = std::make_unique<InferSetup>();
  const std::string var = which == kMlp ? "SADDLE_BENCH_MLP_RUN" : "SADDLE_BENCH_LENET5_RUN";
  const char* run = std::getenv(var.c_str());
  if (run != nullptr && run[0] != '\0') {
    l0::SavedModel saved;
    try {
      saved = l0::load_saved_model(run);
    } catch (const saddle::InputError& e) {
      throw saddle::InputError(var + "=" + run + ": " + e.what());
    }
    if (saved.architecture != spec.arch || saved.dataset != "mnist" || saved.scaling != l0::InputScaling::standardize ||
        saved.test_gate != l0::TestGate::median)
      throw saddle::InputError(var + "=" + run + ": expected a " + spec.name +
                               " run on mnist with standardised inputs and the median test gate");
    slot->source = run;
    slot->x = Vector<float>::from_shape({saved.params.size()});
    std::copy(saved.params.begin(), saved.params.end(), slot->x.begin());
  } else {
    slot->source = "initial point";
    slot->x = s.x0;
  }
  const l0::GatedModel<float>& model = s.problem->model();
  const std::string arch_var = which == kMlp ? "SADDLE_BENCH_MLP_ARCH" : "SADDLE_BENCH_LENET5_ARCH";
  const char* arch = std::getenv(arch_var.c_str());
  if (arch != nullptr && arch[0] != '\0') {
    // A synthetic sparse point: the chosen number of gates open in each gated layer (the
    // first ones; LeNet5's fc1 inputs taken inside the open conv2 maps), every other gate
    // closed (log alpha = -10: z = 0 at test time). Throughput does not depend on the values.
    std::vector<std::size_t> open;
    std::string item;
    for (const char* c = arch;; ++c) {
      if (*c == '-' || *c == '\0') {
        if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos)
          throw saddle::InputError(arch_var + "=" + arch + ": expected counts like 9-18-65-25");
        open.push_back(std::stoul(item));
        item.clear();
        if (*c == '\0') break;
      } else {
        item += *c;
      }
    }
    const auto& layers = model.gated_layers();
    if (open.size() != layers.size())
      throw saddle::InputError(arch_var + "=" + arch + ": " + std::to_string(layers.size()) + " counts expected");
    for (std::size_t l = 0; l < layers.size(); ++l) {
      if (open[l] > layers[l].num_gates)
        throw saddle::InputError(arch_var + "=" + arch + ": layer " + std::to_string(l + 1) + " has only " +
                                 std::to_string(layers[l].num_gates) + " gates");
      for (std::size_t j = 0; j < layers[l].num_gates; ++j) slot->x(layers[l].log_alpha_offset + j) = -10.0f;
    }
    for (std::size_t l = 0; l < layers.size(); ++l)
      for (std::size_t j = 0; j < open[l]; ++j) {
        // LeNet5 fc1 (layer 3): input j of map j / 16 lies in the first open[1] conv2 maps.
        if (spec.arch == l0::Architecture::lenet5 && l == 2 && j >= open[1] * (layers[2].num_gates / layers[1].num_gates))
          throw saddle::InputError(arch_var + "=" + arch + ": fc1 inputs must fit in the open conv2 maps (16 each)");
        slot->x(layers[l].log_alpha_offset + j) = s.x0(layers[l].log_alpha_offset + j);
      }
    slot->source = std::string("synthetic ") + arch;
  }
  slot->net = l0::purge_network(model, l0::make_cview<float, 1>(slot->x.data(), {slot->x.size()}), l0::TestGate::median);
  slot->dense_macs = static_cast<double>(model.dense_macs());
  return *slot;
}

// One benchmark iteration = one round of three passes over the test set, in an order rotated
// every round: "dense", the gated model's evaluation at the initial point of `saddle train`
// (every gate open: the dense network, computed by the same code); "gated", its evaluation at
// the measured point (closed gates are skipped: their input columns or output maps are left out
// of the GEMMs); "purged", the purged network's predict. Ratios within a round, medians over
// the rounds.
void bm_infer(benchmark::State& state, Model which) {
  InferSetup& is = infer_setup(which);
  l0::DensityProblem& p = *setup(which).problem;
  const l0::DataSplit& test = g_data->test;
  const std::size_t n = test.size();
  xt::xtensor<float, 2> logits = xt::xtensor<float, 2>::from_shape({n, is.net.classes});
  const Vector<float>& x0 = setup(which).x0;
  std::vector<double> dense_cpu, dense_wall, gated_cpu, gated_wall, purged_cpu, purged_wall, ratio, ratio_dense;
  double error_gated = 0.0, error_purged = 0.0;
  std::size_t round = 0;
  for (auto _ : state) {
    Times td, tg, tp;
    for (std::size_t j = 0; j < 3; ++j) {
      const std::size_t which_pass = (j + round) % 3;
      if (which_pass == 2) {
        const Times t0 = now();
        const l0::EvalMetrics m = p.evaluate(x0, test);
        td = now() - t0;
        benchmark::DoNotOptimize(m.correct);
      } else if (which_pass == 0) {
        const Times t0 = now();
        const l0::EvalMetrics m = p.evaluate(is.x, test);
        tg = now() - t0;
        error_gated = m.error;
      } else {
        const Times t0 = now();
        is.net.predict(l0::cview(test.x), logits, kInferBatch);
        tp = now() - t0;
        const auto ce = l0::softmax_cross_entropy<float>(l0::cview(logits), l0::cview(test.y));
        error_purged = 1.0 - static_cast<double>(ce.correct) / static_cast<double>(n);
      }
    }
    ++round;
    dense_cpu.push_back(td.cpu);
    dense_wall.push_back(td.wall);
    ratio_dense.push_back(td.cpu / tp.cpu);
    gated_cpu.push_back(tg.cpu);
    gated_wall.push_back(tg.wall);
    purged_cpu.push_back(tp.cpu);
    purged_wall.push_back(tp.wall);
    ratio.push_back(tg.cpu / tp.cpu);
  }
  InferResults& r = g_infer[which];
  r.dense = {median(dense_cpu), median(dense_wall)};
  r.speedup_dense = median(ratio_dense);
  r.gated = {median(gated_cpu), median(gated_wall)};
  r.purged = {median(purged_cpu), median(purged_wall)};
  r.speedup = median(ratio);
  r.error_gated = error_gated;
  r.error_purged = error_purged;
  r.rounds = ratio.size();
  r.source = is.source;
  r.architecture = is.net.pruned_architecture;
  r.macs_fraction = static_cast<double>(is.net.macs()) / is.dense_macs;
  const double images = static_cast<double>(n);
  state.counters["img/s_dense"] = images / r.dense.cpu;
  state.counters["speedup_vs_dense"] = r.speedup_dense;
  state.counters["img/s_gated"] = images / r.gated.cpu;
  state.counters["img/s_purged"] = images / r.purged.cpu;
  state.counters["img/s_gated_wall"] = images / r.gated.wall;
  state.counters["img/s_purged_wall"] = images / r.purged.wall;
  state.counters["speedup"] = r.speedup;
  state.counters["MACs_purged/dense"] = r.macs_fraction;
  state.counters["test_err_gated"] = error_gated;
  state.counters["test_err_purged"] = error_purged;
}

void print_infer_summary() {
  bool any = false;
  for (const auto& r : g_infer) any = any || r.rounds > 0;
  if (!any) return;
  std::printf("\nInference on the 10,000 test images, batches of %zu (median thread CPU time over interleaved rounds; "
              "wall time in parentheses)\n", kInferBatch);
  std::printf("| model | point | pruned architecture | dense / purged MACs | dense img/s | gated img/s | purged img/s | purged vs dense | purged vs gated | test error gated / purged | rounds |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (std::size_t m = 0; m < kModels; ++m) {
    const InferResults& r = g_infer[m];
    if (r.rounds == 0) continue;
    const double n = static_cast<double>(g_data->test.size());
    std::printf("| %s | %s | %s | %.2f | %.0f (%.0f) | %.0f (%.0f) | %.0f (%.0f) | %.2f | %.2f | %.2f%% / %.2f%% | %zu |\n",
                kModelSpecs[m].name, r.source.c_str(), r.architecture.c_str(), 1.0 / r.macs_fraction, n / r.dense.cpu,
                n / r.dense.wall, n / r.gated.cpu, n / r.gated.wall, n / r.purged.cpu, n / r.purged.wall, r.speedup_dense,
                r.speedup, 100.0 * r.error_gated, 100.0 * r.error_purged, r.rounds);
  }
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return in ? a + " " + b + " " + c : std::string("unknown");
}

void print_overhead_summary() {
  bool any = false;
  for (const auto& r : g_overhead) any = any || r.rounds > 0;
  if (!any) return;
  std::printf("\nSolver overhead (median per-step thread CPU time over interleaved rounds; ratios: median of the per-round ratios)\n");
  std::printf("| model | plain Adam ms/step | solver, no constraints | gda ms/step | extragradient ms/step | no constraints / plain | gda / plain | gda / no constraints | extragradient / plain | rounds |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (std::size_t m = 0; m < kModels; ++m) {
    const OverheadResults& r = g_overhead[m];
    if (r.rounds == 0) continue;
    std::printf("| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %zu |\n", kModelSpecs[m].name,
                1e3 * r.per_step[kPlainAdam].cpu, 1e3 * r.per_step[kSolverPenaltyFree].cpu, 1e3 * r.per_step[kSolverGda].cpu,
                1e3 * r.per_step[kSolverExtragradient].cpu, r.penalty_free_ratio, r.gda_ratio, r.gda_vs_penalty_free,
                r.extragradient_ratio, r.rounds);
  }
}

void print_summary() {
  print_infer_summary();
  const double peak = g_sgemm_gflops[kSgemmPeak].cpu;
  bool any_step = false;
  for (const auto& r : g_results) any_step = any_step || r.step_dense.cpu > 0.0;
  std::printf("\nsaddle_bench summary (thread CPU time; wall time in parentheses)\n");
  std::printf("sgemm baselines, GFLOP/s:");
  for (std::size_t c = 0; c < kSgemmCases; ++c)
    if (g_sgemm_gflops[c].cpu > 0.0)
      std::printf("  %s %.1f (%.1f)", kSgemmShapes[c].name, g_sgemm_gflops[c].cpu, g_sgemm_gflops[c].wall);
  std::printf("\n");
  if (!any_step) {
    print_overhead_summary();
    std::printf("load average at the end: %s\n", load_average().c_str());
    return;
  }
  std::printf("| model | dense-eq GFLOP/s | / sgemm same shape | / sgemm 1024^3 | sparse30 speedup | ms/step dense | ms/step sparse30 | s/epoch train (469 steps + shuffle) | s/eval (10k test) | s/epoch total | allocs/step |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (std::size_t m = 0; m < kModels; ++m) {
    const ModelResults& r = g_results[m];
    const ModelSpec& spec = kModelSpecs[m];
    if (r.step_dense.cpu <= 0.0) continue;
    const double gflops = nominal_step_flops(spec) / r.step_dense.cpu * 1e-9;
    const double shape = g_sgemm_gflops[spec.sgemm].cpu;
    const double train_epoch = static_cast<double>(kStepsPerEpoch) * r.step_dense.cpu + r.shuffle.cpu;
    const double train_epoch_wall = static_cast<double>(kStepsPerEpoch) * r.step_dense.wall + r.shuffle.wall;
    std::printf("| %s | %.1f | %.2f | %.2f | ", spec.name, gflops, shape > 0 ? gflops / shape : 0.0,
                peak > 0 ? gflops / peak : 0.0);
    if (r.step_sparse.cpu > 0.0)
      std::printf("%.2f | ", r.step_dense.cpu / r.step_sparse.cpu);
    else
      std::printf("- | ");
    std::printf("%.2f (%.2f) | ", 1e3 * r.step_dense.cpu, 1e3 * r.step_dense.wall);
    if (r.step_sparse.cpu > 0.0)
      std::printf("%.2f (%.2f) | ", 1e3 * r.step_sparse.cpu, 1e3 * r.step_sparse.wall);
    else
      std::printf("- | ");
    std::printf("%.2f (%.2f) | ", train_epoch, train_epoch_wall);
    if (r.eval.cpu > 0.0)
      std::printf("%.3f (%.3f) | %.2f (%.2f) | ", r.eval.cpu, r.eval.wall, train_epoch + r.eval.cpu,
                  train_epoch_wall + r.eval.wall);
    else
      std::printf("- | - | ");
    if (r.allocs_per_step >= 0.0)
      std::printf("%.1f |\n", r.allocs_per_step);
    else
      std::printf("- |\n");
  }
  for (std::size_t m = 0; m < kModels; ++m)
    if (g_results[m].step_dense.cpu > 0.0)
      std::printf("%s: expected open-gate fraction dense %.3f, sparse30 %.3f; shuffle %.2f ms\n", kModelSpecs[m].name,
                  g_results[m].open_dense, g_results[m].open_sparse, 1e3 * g_results[m].shuffle.cpu);
  print_overhead_summary();
  std::printf("load average at the end: %s\n", load_average().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  // Pin OpenBLAS to one thread. OpenBLAS reads the variable when the library is loaded,
  // before main, so setting it here needs a re-execution of the program.
  const char* threads = std::getenv("OPENBLAS_NUM_THREADS");
  if (threads == nullptr || std::strcmp(threads, "1") != 0) {
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    execv("/proc/self/exe", argv);
    std::fprintf(stderr, "saddle_bench: error: could not re-execute with OPENBLAS_NUM_THREADS=1 (%s); set it yourself\n",
                 std::strerror(errno));
    return 1;
  }
  if (openblas_get_num_threads() != 1) {
    std::fprintf(stderr, "saddle_bench: error: OpenBLAS uses %d threads, expected 1\n", openblas_get_num_threads());
    return 1;
  }

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  const char* env_dir = std::getenv("SADDLE_MNIST_DIR");
  const bool from_env = env_dir != nullptr && env_dir[0] != '\0';
  const std::string dir = from_env ? std::string(env_dir) : std::string(SADDLE_SOURCE_DIR) + "/data/mnist";
  l0::Dataset data;
  try {
    (void)l0::locate_dataset("mnist", {dir});
  } catch (const saddle::InputError&) {
    std::fprintf(stderr, "saddle_bench: error: MNIST not found in %s; fetch it with: scripts/fetch_mnist.sh %s\n",
                 dir.c_str(), from_env ? dir.c_str() : "data/mnist");
    return 1;
  }
  try {
    data = l0::load_dataset("mnist", dir, l0::InputScaling::standardize);  // `saddle train` default
  } catch (const std::exception& e) {
    std::fprintf(stderr, "saddle_bench: error: %s\n", e.what());
    return 1;
  }
  if (data.train.size() != kTrainImages) {
    std::fprintf(stderr, "saddle_bench: error: %s holds %zu training images, expected %zu (MNIST)\n", dir.c_str(),
                 data.train.size(), kTrainImages);
    return 1;
  }
  g_data = &data;
  g_allocation_counter_works = check_allocation_counter();
  // Inference points named by the environment: read them now, so that a bad path is one line
  // and exit status 1 rather than an exception inside a benchmark.
  for (std::size_t m = 0; m < kModels; ++m) {
    const char* run = std::getenv(m == kMlp ? "SADDLE_BENCH_MLP_RUN" : "SADDLE_BENCH_LENET5_RUN");
    const char* arch = std::getenv(m == kMlp ? "SADDLE_BENCH_MLP_ARCH" : "SADDLE_BENCH_LENET5_ARCH");
    if ((run == nullptr || run[0] == '\0') && (arch == nullptr || arch[0] == '\0')) continue;
    try {
      (void)infer_setup(static_cast<Model>(m));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "saddle_bench: error: %s\n", e.what());
      return 1;
    }
  }

  benchmark::AddCustomContext("mnist_dir", dir);
  benchmark::AddCustomContext("openblas", std::string(openblas_get_corename()) + ", threads " +
                                              std::to_string(openblas_get_num_threads()) + ", " + openblas_get_config());
  benchmark::AddCustomContext("load_average_at_start", load_average());
  benchmark::AddCustomContext("timing", "figures from thread CPU time; *_wall counters from wall time");

  for (std::size_t c = 0; c < kSgemmCases; ++c)
    benchmark::RegisterBenchmark(kSgemmShapes[c].name, bm_sgemm, static_cast<SgemmCase>(c))
        ->MinTime(c == kSgemmPeak ? 1.0 : 0.5)
        ->Unit(benchmark::kMillisecond);
  for (std::size_t m = 0; m < kModels; ++m) {
    const ModelSpec& spec = kModelSpecs[m];
    const Model model = static_cast<Model>(m);
    benchmark::RegisterBenchmark((std::string("eval/") + spec.name + "/test10000").c_str(), bm_eval, model)
        ->Iterations(static_cast<benchmark::IterationCount>(spec.evals))
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("step/") + spec.name + "/dense").c_str(), bm_step, model, false)
        ->Iterations(static_cast<benchmark::IterationCount>(spec.solves))
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("step/") + spec.name + "/sparse30").c_str(), bm_step, model, true)
        ->Iterations(static_cast<benchmark::IterationCount>(spec.solves))
        ->Unit(benchmark::kMillisecond);
  }

  // Inference: rounds of (gated evaluate, purged predict), MLP 20, LeNet5 5.
  for (std::size_t m = 0; m < kModels; ++m) {
    const ModelSpec& spec = kModelSpecs[m];
    benchmark::RegisterBenchmark((std::string("infer/") + spec.name + "/test10000").c_str(), bm_infer, static_cast<Model>(m))
        ->Iterations(m == kMlp ? 20 : 5)
        ->Unit(benchmark::kMillisecond);
  }
  // Solver overhead: rounds of (plain Adam, gda, extragradient), MLP 15, LeNet5 5.
  for (std::size_t m = 0; m < kModels; ++m) {
    const ModelSpec& spec = kModelSpecs[m];
    benchmark::RegisterBenchmark((std::string("overhead/") + spec.name).c_str(), bm_overhead, static_cast<Model>(m))
        ->Iterations(m == kMlp ? 15 : 5)
        ->Unit(benchmark::kMillisecond);
  }

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  print_summary();
  return 0;
}
