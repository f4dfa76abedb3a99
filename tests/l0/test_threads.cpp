// Threads on the L0 problem: DensityProblem replicas split over 2 and 3 threads agree with
// one replica up to float rounding (forward values, gradient), the split gradient passes a
// finite-difference check (double model), and l0::train with the same seed and thread count
// repeats bit for bit and follows the one-thread run, with either split (batch: replicas;
// layers: one problem whose dense layers split their work, tests/l0/test_layer_split.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "random_dataset.hpp"
#include "saddle/gradient_check.hpp"
#include "saddle/problems/l0/density_problem.hpp"
#include "saddle/problems/l0/experiment.hpp"
#include "saddle/solvers.hpp"
#include "saddle/thread_parallel.hpp"

using namespace saddle;
using namespace saddle::l0;

namespace {

constexpr std::size_t kBatch = 48;

DensityProblemOptions options_for(Architecture arch) {
  DensityProblemOptions o;
  o.architecture = arch;
  o.batch = kBatch;
  o.eval_batch = kBatch;
  o.weight_decay = 5e-4;
  const GatedModel<float> shape(arch);
  o.groups = layer_level(shape, std::vector<double>(shape.gated_layers().size(), 0.5));
  return o;
}

class ThreadedDensityProblem : public ::testing::TestWithParam<Architecture> {};

TEST_P(ThreadedDensityProblem, ThreadsAgreeWithOneReplicaUpToFloatRounding) {
  // Tolerances: loss and constraints 1e-6 relative (the share-weighted sum of per-shard means
  // against one mean in double); gradient max |diff| <= 1e-4 * max |g| (float sums over
  // 48 rows against sums over shards of 16-24 rows, scaled by shares).
  const Dataset data = l0_test::random_dataset(4 * kBatch, 0, 11, "random");
  const auto options = options_for(GetParam());
  DensityProblem one(data, options);
  Vector<float> x = Vector<float>::from_shape({one.num_parameters()});
  one.initial_point(x, 3);
  const std::size_t m = one.constraints().size();
  Evaluation e1;
  e1.resize(m);
  one.shuffle(5);
  const Batch batch{kBatch, kBatch, 777};
  one.forward(x, batch, e1);
  Vector<double> w = xt::ones<double>({m});
  Vector<float> g1 = Vector<float>::from_shape({x.size()});
  one.backward(w, g1);
  const double scale = static_cast<double>(xt::amax(xt::abs(g1))());
  for (std::size_t threads : {2u, 3u}) {
    ThreadParallelProblem<float> split(
        threads, [&](std::size_t) { return std::make_unique<DensityProblem>(data, options); });
    split.shuffle(5);
    Evaluation en;
    en.resize(m);
    split.forward(x, batch, en);
    EXPECT_NEAR(en.loss, e1.loss, 1e-6 * std::abs(e1.loss)) << threads << " threads";
    for (std::size_t k = 0; k < m; ++k) EXPECT_NEAR(en.constraints(k), e1.constraints(k), 1e-12);
    Vector<float> gn = Vector<float>::from_shape({x.size()});
    split.backward(w, gn);
    double worst = 0.0;
    for (std::size_t j = 0; j < x.size(); ++j)
      worst = std::max(worst, std::abs(static_cast<double>(gn(j) - g1(j))));
    EXPECT_LE(worst, 1e-4 * scale) << threads << " threads";
  }
}

// Adam's update split over the
// problem's thread team (SolverOptions::range_runner) gives the bits of the serial solver on
// the same ThreadParallelProblem: x, multipliers and the whole solver state (Adam moments,
// nuPI state) after 2 epochs with dual restarts, for 2 and 3 threads and both models.
TEST_P(ThreadedDensityProblem, SolverRangesOnTheTeamEqualTheSerialSolverBitForBit) {
  const Dataset data = l0_test::random_dataset(4 * kBatch, 0, 11, "random");
  const auto options = options_for(GetParam());
  for (std::size_t threads : {2u, 3u}) {
    std::string state[2];
    Summary<float> summary[2];
    for (int split = 0; split < 2; ++split) {
      ThreadParallelProblem<float> problem(
          threads, [&](std::size_t) { return std::make_unique<DensityProblem>(data, options); });
      SolverOptions so;
      so.primal.kind = PrimalRuleKind::adam;
      so.primal.lr = 7e-3;
      so.dual.kind = DualRuleKind::nupi;
      so.dual.lr = 0.05;
      so.dual.kp = 10;
      so.dual_restarts = true;
      so.batch_size = kBatch;
      so.max_epochs = 2;
      so.max_iterations = 0;
      so.seed = 9;
      so.range_runner = split ? &problem.team() : nullptr;
      Solver<float> solver(make_scheme<float>("gda"), so);
      summary[split] = solver.solve(problem);
      std::ostringstream out;
      solver.save_state(out);
      state[split] = out.str();
      state[split].erase(80, 8);  // the elapsed seconds (after 80 bytes of header and counters)
    }
    ASSERT_EQ(summary[0].iterations, 8u);
    ASSERT_EQ(summary[0].x.size(), summary[1].x.size());
    EXPECT_EQ(
        std::memcmp(summary[0].x.data(), summary[1].x.data(), summary[0].x.size() * sizeof(float)),
        0)
        << threads << " threads";
    for (std::size_t k = 0; k < summary[0].multipliers.size(); ++k)
      EXPECT_EQ(summary[0].multipliers(k), summary[1].multipliers(k)) << threads << " threads";
    EXPECT_EQ(state[0], state[1]) << threads << " threads";
  }
}

INSTANTIATE_TEST_SUITE_P(BothModels, ThreadedDensityProblem,
                         ::testing::Values(Architecture::mlp, Architecture::lenet5),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// A double-precision BasicProblem over a GatedModel<double> (the L0 model's loss with fixed
// gate noise), for a finite-difference check of the split gradient.
class SmallGatedProblem final : public BasicProblem<double> {
 public:
  explicit SmallGatedProblem(const Dataset& data) : data_(data), model_(Architecture::mlp) {
    model_.reserve(8);
    xd_ = xt::xtensor<double, 2>::from_shape({8, model_.in_features()});
  }
  std::size_t num_parameters() const override { return model_.num_parameters(); }
  std::vector<ConstraintSpec> constraints() const override { return {}; }
  void initial_point(Vector<double>& x, std::uint64_t seed) const override {
    model_.init_parameters(make_view<double, 1>(x.data(), {x.size()}), seed, InitScheme::lz);
  }
  std::size_t num_samples() const override { return 8; }
  void forward(const Vector<double>& x, const Batch& b, Evaluation& e) override {
    const std::size_t f = model_.in_features();
    for (std::size_t r = 0; r < b.size; ++r)
      for (std::size_t k = 0; k < f; ++k) xd_(r, k) = data_.train.x(b.begin + r, k);
    x_ = &x;
    e.loss = model_
                 .forward_train(
                     make_cview<double, 1>(x.data(), {x.size()}),
                     make_cview<double, 2>(xd_.data(), {b.size, f}),
                     make_cview<std::int32_t, 1>(data_.train.y.data() + b.begin, {b.size}), 42)
                 .loss;
  }
  void backward(const Vector<double>&, Vector<double>& g) override {
    model_.backward(make_cview<double, 1>(x_->data(), {x_->size()}),
                    make_view<double, 1>(g.data(), {g.size()}));
  }

 private:
  const Dataset& data_;
  GatedModel<double> model_;
  xt::xtensor<double, 2> xd_;
  const Vector<double>* x_ = nullptr;
};

TEST(ThreadedDensityProblem, SplitGradientMatchesFiniteDifferences) {
  const Dataset data = l0_test::random_dataset(8, 0, 3, "random");
  ThreadParallelProblem<double> split(
      3, [&](std::size_t) { return std::make_unique<SmallGatedProblem>(data); });
  Vector<double> x = Vector<double>::from_shape({split.num_parameters()});
  split.initial_point(x, 2);
  GradientCheckOptions o;
  o.max_coordinates = 300;
  const auto r = check_gradient<double>(split, x, Vector<double>::from_shape({0}), o);
  EXPECT_TRUE(r.ok) << r.failures << " failures, worst index " << r.worst_index << ": "
                    << r.worst_analytic << " vs " << r.worst_numeric;
}

TrainConfig small_run(std::size_t threads, ThreadSplit split = ThreadSplit::automatic,
                      Architecture arch = Architecture::mlp) {
  TrainConfig c;
  c.architecture = arch;
  c.batch = 40;
  c.epochs = 2;
  c.eval_batch = 50;
  c.seed = 9;
  c.threads = threads;
  c.thread_split = split;
  return c;
}

TEST(ThreadedTraining, SameSeedAndThreadCountRepeatBitForBit) {
  const Dataset data = l0_test::random_dataset(200, 120, 4, "random");
  for (const auto split : {ThreadSplit::batch, ThreadSplit::layers})
    for (std::size_t threads : {2u, 3u}) {
      const std::string what = std::to_string(threads) + " threads, split " + to_string(split);
      const auto a = train(small_run(threads, split), data);
      auto c = small_run(threads, split);
      c.thread_backend = ThreadBackend::std_thread;  // the backends split and reduce alike
      const auto b = train(c, data);
      ASSERT_EQ(a.summary.x.size(), b.summary.x.size());
      for (std::size_t j = 0; j < a.summary.x.size(); ++j)
        ASSERT_EQ(a.summary.x(j), b.summary.x(j)) << what << ", x[" << j << "]";
      for (std::size_t e = 0; e < a.history.size(); ++e) {
        EXPECT_EQ(a.history[e].train_loss, b.history[e].train_loss) << what;
        EXPECT_EQ(a.history[e].train_error, b.history[e].train_error) << what;
        EXPECT_EQ(a.history[e].test_loss, b.history[e].test_loss) << what;
        EXPECT_EQ(a.history[e].test_error, b.history[e].test_error) << what;
        EXPECT_EQ(a.history[e].multipliers, b.history[e].multipliers) << what;
      }
    }
}

TEST(ThreadedTraining, TwoThreadsFollowOneThreadUpToRounding) {
  // 2 epochs of 5 steps: the runs drift apart only by float rounding; the epoch metrics
  // agree to 1e-4 (relative for the loss) and the parameters to 1e-4 * max |x|. Both
  // splits, both models (LeNet5's layer split runs its dense layers on the team).
  const Dataset data = l0_test::random_dataset(200, 120, 4, "random");
  for (const auto arch : {Architecture::mlp, Architecture::lenet5}) {
    const auto a = train(small_run(1, ThreadSplit::automatic, arch), data);
    for (const auto split : {ThreadSplit::batch, ThreadSplit::layers}) {
      const std::string what = std::string(to_string(arch)) + ", split " + to_string(split);
      const auto b = train(small_run(2, split, arch), data);
      ASSERT_EQ(a.history.size(), b.history.size());
      for (std::size_t e = 0; e < a.history.size(); ++e) {
        EXPECT_NEAR(a.history[e].train_loss, b.history[e].train_loss,
                    1e-4 * std::abs(a.history[e].train_loss))
            << what;
        EXPECT_NEAR(a.history[e].test_loss, b.history[e].test_loss,
                    1e-4 * std::abs(a.history[e].test_loss))
            << what;
        EXPECT_NEAR(a.history[e].expected_density, b.history[e].expected_density, 1e-4) << what;
      }
      const double scale = static_cast<double>(xt::amax(xt::abs(a.summary.x))());
      double worst = 0.0;
      for (std::size_t j = 0; j < a.summary.x.size(); ++j)
        worst = std::max(worst, std::abs(static_cast<double>(a.summary.x(j) - b.summary.x(j))));
      EXPECT_LE(worst, 1e-4 * scale) << what;
    }
  }
}

TEST(ThreadedTraining, AutomaticSplitIsLayersForTheMlpAndBatchForLenet) {
  EXPECT_EQ(resolve_thread_split(ThreadSplit::automatic, Architecture::mlp), ThreadSplit::layers);
  EXPECT_EQ(resolve_thread_split(ThreadSplit::automatic, Architecture::lenet5), ThreadSplit::batch);
  EXPECT_EQ(resolve_thread_split(ThreadSplit::batch, Architecture::mlp), ThreadSplit::batch);
  EXPECT_EQ(resolve_thread_split(ThreadSplit::layers, Architecture::lenet5), ThreadSplit::layers);
  for (const auto s : {ThreadSplit::automatic, ThreadSplit::batch, ThreadSplit::layers})
    EXPECT_EQ(parse_thread_split(to_string(s)), s);
  EXPECT_THROW(parse_thread_split("rows"), InvalidOption);
}

TEST(ThreadedTraining, RejectsZeroThreads) {
  const Dataset data = l0_test::random_dataset(200, 120, 4, "random");
  EXPECT_THROW(train(small_run(0), data), InvalidOption);
}

}  // namespace
