// A training step of the L0 problem must not allocate once its buffers are reserved: the
// gated layers, GatedModel (MLP and LeNet5) and DensityProblem (forward, backward,
// constraints, shuffle). Counted by the interposed C allocator of
// tests/common/allocation_counter.hpp (malloc, posix_memalign, ...: an xtensor temporary
// inside a step is counted, and so is operator new). Skipped under AddressSanitizer.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "random_dataset.hpp"
#include "saddle/problems/l0/density_problem.hpp"
#include "saddle/problems/l0/model.hpp"
#include "saddle/solvers.hpp"
#include "saddle/thread_parallel.hpp"

// This file defines the binary's interposed C allocator; included after every other header.
#define SADDLE_TEST_ALLOC_DEFINE
#include "common/allocation_counter.hpp"
#include "common/step_allocations.hpp"

using namespace saddle;
using namespace saddle::l0;
using saddle_test_alloc::AllocationCounter;

namespace {

constexpr std::size_t kBatch = 64;

Dataset random_dataset(std::size_t n_train, std::size_t n_test) {
  return l0_test::random_dataset(n_train, n_test, 5, "random");
}

// A problem's training step as the solver makes it (forward on a batch of `rows`, backward
// with every constraint weight 1, the constraints on another batch, the projection), on
// buffers allocated once here; x starts at the problem's initial point (seed 1).
class ProblemStep {
 public:
  ProblemStep(BasicProblem<float>& problem, std::size_t rows)
      : x(Vector<float>::from_shape({problem.num_parameters()})),
        problem_(problem),
        rows_(rows),
        grad_(Vector<float>::from_shape({problem.num_parameters()})),
        w_(xt::ones<double>({problem.constraints().size()})) {
    problem.initial_point(x, 1);
    eval_.resize(problem.constraints().size());
  }
  /// One step with noise seed `seed` on rows [(seed % 2) * rows, + rows); returns the loss.
  double operator()(std::uint64_t seed) {
    problem_.forward(x, Batch{(seed % 2) * rows_, rows_, seed}, eval_);
    problem_.backward(w_, grad_);
    problem_.evaluate_constraints(x, Batch{0, rows_, seed}, eval_);
    problem_.project(x);
    return eval_.loss;
  }

  Vector<float> x;  ///< the point the steps are taken at (the caller may set gates first)

 private:
  BasicProblem<float>& problem_;
  std::size_t rows_;
  Vector<float> grad_;
  Vector<double> w_;
  Evaluation eval_;
};

// Closes about a third of the gates so that the compacted (zero-gate) paths run too.
void close_some_gates(const GatedModel<float>& model, Vector<float>& x) {
  for (const auto& g : model.gated_layers())
    for (std::size_t j = 0; j < g.num_gates; j += 3) x(g.log_alpha_offset + j) = -30.0f;
}

class GatedModelAllocation : public ::testing::TestWithParam<Architecture> {};

TEST_P(GatedModelAllocation, TrainingAndEvalStepsDoNotAllocate) {
  if (!saddle_test_alloc::kCountAllocations)
    GTEST_SKIP() << "allocation counting is off under sanitizers";
  GatedModel<float> model(GetParam());
  model.reserve(kBatch);
  Vector<float> x = Vector<float>::from_shape({model.num_parameters()});
  Vector<float> grad = Vector<float>::from_shape({model.num_parameters()});
  model.init_parameters(view(x), 1, InitScheme::lz);
  close_some_gates(model, x);
  const Dataset data = random_dataset(kBatch, 0);
  const auto input = cview(data.train.x);
  const auto labels = cview(data.train.y);
  std::vector<double> densities(model.gated_layers().size());
  const std::vector<double> weights(model.gated_layers().size(), 0.5);
  auto step = [&](std::uint64_t seed) {
    double sink = model.forward_train(cview(x), input, labels, seed).loss;
    model.backward(cview(x), view(grad));
    model.layer_densities(cview(x), densities);
    model.add_density_gradient(cview(x), weights, view(grad));
    sink += model.forward_eval(cview(x), input, labels, TestGate::median).loss;
    model.backward(cview(x), view(grad));
    model.clamp_log_alpha(view(x));
    return sink + densities[0];
  };
  step(1);  // warm-up: OpenBLAS initialises its buffers with its own allocator on first use
  double sink = 0.0;
  std::size_t allocations = 0;
  {
    AllocationCounter counter;
    for (std::uint64_t s = 2; s < 4; ++s) sink += step(s);
    allocations = counter.count();
  }
  EXPECT_EQ(allocations, 0u);
  EXPECT_TRUE(std::isfinite(sink));
}

class DensityProblemAllocation : public ::testing::TestWithParam<Architecture> {};

TEST_P(DensityProblemAllocation, StepDoesNotAllocate) {
  if (!saddle_test_alloc::kCountAllocations)
    GTEST_SKIP() << "allocation counting is off under sanitizers";
  const Dataset data = random_dataset(2 * kBatch, 0);
  const GatedModel<float> shape(GetParam());
  DensityProblemOptions options;
  options.architecture = GetParam();
  options.batch = kBatch;
  options.eval_batch = kBatch;
  options.weight_decay = 5e-4;
  options.groups = layer_level(shape, std::vector<double>(shape.gated_layers().size(), 0.5));
  DensityProblem problem(data, options);
  ProblemStep step(problem, kBatch);
  close_some_gates(problem.model(), step.x);
  step(1);  // warm-up
  problem.shuffle(1);
  double sink = 0.0;
  std::size_t allocations = 0;
  {
    AllocationCounter counter;
    for (std::uint64_t s = 2; s < 5; ++s) sink += step(s);
    problem.shuffle(7);
    allocations = counter.count();
  }
  EXPECT_EQ(allocations, 0u);
  EXPECT_TRUE(std::isfinite(sink));
}

// The same step split over 2 and 3 threads (ThreadParallelProblem over DensityProblem
// replicas), on both thread backends, counted in every thread of the process; then whole
// solver steps (Adam, nuPI, restarts) through the driver. At the training batch of 128 (64
// and 43/42 rows per thread): OpenBLAS 0.3.21's small-matrix sgemm kernel of AVX-512 builds
// mallocs a scratch buffer per call for a few shapes it accepts (e.g. 32 rows through the
// MLP's 10-unit layer, or 43 rows through compacted layers), outside saddle;
// docs/performance.md ("Two cores").
constexpr std::size_t kSplitBatch = 128;
TEST_P(DensityProblemAllocation, ThreadedStepDoesNotAllocateInAnyThread) {
  if (!saddle_test_alloc::kCountAllocations)
    GTEST_SKIP() << "allocation counting is off under sanitizers";
  const Dataset data = random_dataset(4 * kSplitBatch, 0);
  DensityProblemOptions options;
  options.architecture = GetParam();
  options.batch = kSplitBatch;
  options.eval_batch = kSplitBatch;
  options.weight_decay = 5e-4;
  std::vector<ThreadBackend> backends{ThreadBackend::std_thread};
  if (tbb_available()) backends.push_back(ThreadBackend::tbb);
  for (const auto backend : backends)
    for (std::size_t threads : {2u, 3u}) {
      ThreadParallelProblem<float> problem(
          threads, [&](std::size_t) { return std::make_unique<DensityProblem>(data, options); },
          backend);
      // Gates as initialised (all open): with closed gates the compacted GEMM shapes of 43
      // rows reach OpenBLAS's allocating small-matrix kernel (see above); saddle's own
      // compacted paths are counted by StepDoesNotAllocate.
      ProblemStep step(problem, kSplitBatch);
      step(1);  // warm-up: thread start, OpenBLAS buffers of each thread
      step(2);
      problem.shuffle(1);
      double sink = 0.0;
      std::size_t allocations = 0;
      {
        saddle_test_alloc::ProcessAllocationCounter counter;
        for (std::uint64_t s = 3; s < 6; ++s) sink += step(s);
        problem.shuffle(7);
        allocations = counter.count();
      }
      EXPECT_EQ(allocations, 0u) << threads << " threads, " << to_string(backend);
      EXPECT_TRUE(std::isfinite(sink));

      // Whole solver steps: count from the end of step 2 to the end of step 6 (within epoch 1).
      saddle_test_alloc::StepAllocations<float> count(2, 6);
      SolverOptions so;
      so.primal.kind = PrimalRuleKind::adam;
      so.primal.lr = 7e-4;
      so.dual.kind = DualRuleKind::nupi;
      so.dual.kp = 100;
      so.dual_restarts = true;
      so.batch_size = kSplitBatch;
      so.max_epochs = 0;
      so.max_iterations = 7;
      // Serial solver steps, then the solver's per-element work split over the team.
      for (RangeRunner* runner :
           {static_cast<RangeRunner*>(nullptr), static_cast<RangeRunner*>(&problem.team())}) {
        so.range_runner = runner;
        count.allocations = count.kNotCounted;
        Solver<float> solver(make_scheme<float>("gda"), so);
        solver.add_callback(&count);
        solver.solve(problem);
        EXPECT_EQ(count.allocations, 0u) << "solver steps, " << threads << " threads, "
                                         << to_string(backend) << (runner ? ", split solver" : "");
      }
    }
}

auto arch_name = [](const ::testing::TestParamInfo<Architecture>& info) {
  return std::string(to_string(info.param));
};
INSTANTIATE_TEST_SUITE_P(BothModels, GatedModelAllocation,
                         ::testing::Values(Architecture::mlp, Architecture::lenet5), arch_name);
INSTANTIATE_TEST_SUITE_P(BothModels, DensityProblemAllocation,
                         ::testing::Values(Architecture::mlp, Architecture::lenet5), arch_name);

}  // namespace

// OpenBLAS 0.3.21's AVX-512 small-matrix sgemm (chosen when M*N*K <= 1e6) mallocs a packing
// buffer when the output width leaves 1..8 columns modulo 16: with batch 128 the MLP's fc2
// (100 columns) met it whenever at most 78 of its 300 input gates were open, which the
// sparse30 benchmark state (each gate open with probability 0.3) hit in about 1 step in 16.
// These states fix the open-gate counts so that every such shape occurs.
TEST(GatedModelAllocation, StepsWithFewOpenGatesDoNotAllocate) {
  if (!saddle_test_alloc::kCountAllocations)
    GTEST_SKIP() << "allocation counting is off under sanitizers";
  constexpr std::size_t kRows = 128;  // the training batch
  const Dataset data = random_dataset(kRows, 0);
  for (const Architecture arch : {Architecture::mlp, Architecture::lenet5}) {
    GatedModel<float> model(arch);
    model.reserve(kRows);
    Vector<float> x = Vector<float>::from_shape({model.num_parameters()});
    Vector<float> grad = Vector<float>::from_shape({model.num_parameters()});
    model.init_parameters(view(x), 1, InitScheme::lz);
    // Open exactly `open` gates of each layer (log_alpha 30: z = 1; -30: z = 0).
    auto set_open = [&](const std::vector<std::size_t>& open) {
      const auto& layers = model.gated_layers();
      for (std::size_t l = 0; l < layers.size(); ++l)
        for (std::size_t j = 0; j < layers[l].num_gates; ++j)
          x(layers[l].log_alpha_offset + j) = j < open[l] ? 30.0f : -30.0f;
    };
    auto step = [&](std::uint64_t seed) {
      const double loss =
          model.forward_train(cview(x), cview(data.train.x), cview(data.train.y), seed).loss;
      model.backward(cview(x), view(grad));
      return loss;
    };
    std::vector<std::vector<std::size_t>> states;
    if (arch == Architecture::mlp) {
      for (std::size_t fc2 : {9u, 30u, 70u, 75u, 78u, 90u})
        for (std::size_t fc3 : {5u, 20u, 30u, 39u}) states.push_back({235, fc2, fc3});
    } else {
      for (std::size_t fc1 : {5u, 12u, 15u, 40u})
        for (std::size_t fc2 : {3u, 20u, 150u}) states.push_back({6, 15, fc1, fc2});
    }
    for (const auto& open : states) {
      set_open(open);
      step(1);  // warm-up of this state (not needed by the layers; kept for OpenBLAS's own buffers)
      std::size_t allocations = 0;
      double sink = 0.0;
      {
        AllocationCounter counter;
        sink += step(2);
        allocations = counter.count();
      }
      EXPECT_EQ(allocations, 0u) << to_string(arch) << " open gates " << open[0] << "-" << open[1]
                                 << "-" << open[2];
      EXPECT_TRUE(std::isfinite(sink));
    }
  }
}
