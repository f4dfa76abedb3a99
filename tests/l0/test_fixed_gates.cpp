// The fixed-gate phase (DensityProblem::fix_gates, TrainConfig::fixed_gate_epochs) and the
// lower bound of log_alpha (log_alpha_min): the phase trains the test-time network (median
// gates, whatever the noise seed), gives log_alpha a zero gradient and holds it by projection
// at the values of the first forward after fix_gates; a run's densities stop moving for
// exactly its last K epochs, and a run resumed inside the phase ends bit for bit where the
// uninterrupted one does. Model.*TestTimeGradientMatchesFiniteDifferences (test_model.cpp)
// checks the backward of the test-time forward against finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <vector>

#include "random_dataset.hpp"
#include "saddle/problems/l0/density_problem.hpp"
#include "saddle/problems/l0/experiment.hpp"

using namespace saddle;
using namespace saddle::l0;

namespace {

DensityProblemOptions small_options(const GatedModel<float>& shape) {
  DensityProblemOptions o;
  o.batch = 16;
  o.eval_batch = 16;
  o.groups = model_level(shape, 0.4);
  return o;
}

// Gates spread over (-3, 3): some closed at test time, some open.
void spread_gates(const GatedModel<float>& model, Vector<float>& x, double shift = 0.0) {
  for (const auto& l : model.gated_layers())
    for (std::size_t j = 0; j < l.num_gates; ++j)
      x(l.log_alpha_offset + j) =
          static_cast<float>(-3.0 + 6.0 * static_cast<double>((j * 7919) % 101) / 100.0 + shift);
}

bool is_log_alpha(const GatedModel<float>& model, std::size_t i) {
  for (const auto& l : model.gated_layers())
    if (i >= l.log_alpha_offset && i < l.log_alpha_offset + l.num_gates) return true;
  return false;
}

// A model-level MLP problem on a tiny data set, with its initial point x (gates not spread).
struct TinyProblem {
  Dataset data = l0_test::random_dataset(64, 32, 3, "tiny");
  DensityProblem p{data, small_options(GatedModel<float>(Architecture::mlp))};
  Vector<float> x = Vector<float>::from_shape({p.num_parameters()});
  TinyProblem() { p.initial_point(x, 1); }
};

}  // namespace

TEST(FixedGates, ForwardIsTheTestTimeNetworkWhateverTheNoise) {
  TinyProblem t;
  const Dataset& data = t.data;
  DensityProblem& p = t.p;
  Vector<float>& x = t.x;
  spread_gates(p.model(), x);
  Evaluation a, b;
  a.resize(1);
  b.resize(1);
  p.forward(x, Batch{0, 16, 1}, a);
  p.forward(x, Batch{0, 16, 2}, b);
  EXPECT_NE(a.loss, b.loss);  // sampled gates: the noise seed matters
  p.fix_gates();
  EXPECT_TRUE(p.gates_fixed());
  p.forward(x, Batch{0, 16, 1}, a);
  p.forward(x, Batch{0, 16, 2}, b);
  EXPECT_EQ(a.loss, b.loss);
  // The same as the test-time forward of a separate model on the same rows (no shuffle: the
  // first 16 training rows).
  GatedModel<float> reference(Architecture::mlp);
  reference.reserve(16);
  const auto r = reference.forward_eval(make_cview<float, 1>(x.data(), {x.size()}),
                                        make_cview<float, 2>(data.train.x.data(), {16, 784}),
                                        make_cview<std::int32_t, 1>(data.train.y.data(), {16}),
                                        TestGate::median);
  EXPECT_EQ(a.loss, r.loss);
  EXPECT_DOUBLE_EQ(a.constraints(0), p.model_density(x) - 0.4);  // the constraint as before
  p.release_gates();
  EXPECT_FALSE(p.gates_fixed());
  p.forward(x, Batch{0, 16, 1}, a);
  p.forward(x, Batch{0, 16, 2}, b);
  EXPECT_NE(a.loss, b.loss);
}

TEST(FixedGates, BackwardTrainsWeightsOnlyAndEqualsTheTestTimeBackward) {
  TinyProblem t;
  const Dataset& data = t.data;
  DensityProblem& p = t.p;
  Vector<float>& x = t.x;
  spread_gates(p.model(), x);
  p.fix_gates();
  Evaluation e;
  e.resize(1);
  p.forward(x, Batch{0, 16, 5}, e);
  Vector<double> w = Vector<double>::from_shape({1});
  w(0) = 3.0;  // a multiplier: must not reach log_alpha in the phase
  Vector<float> g = Vector<float>::from_shape({p.num_parameters()});
  p.backward(w, g);

  GatedModel<float> reference(Architecture::mlp);
  reference.reserve(16);
  const auto params = make_cview<float, 1>(x.data(), {x.size()});
  reference.forward_eval(params, make_cview<float, 2>(data.train.x.data(), {16, 784}),
                         make_cview<std::int32_t, 1>(data.train.y.data(), {16}), TestGate::median);
  Vector<float> gr = Vector<float>::from_shape({x.size()});
  reference.backward(params, make_view<float, 1>(gr.data(), {gr.size()}));
  std::size_t nonzero_weights = 0, nonzero_reference_gates = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (is_log_alpha(p.model(), i)) {
      ASSERT_EQ(g(i), 0.0f) << "log_alpha gradient at " << i;
      if (gr(i) != 0.0f) ++nonzero_reference_gates;
    } else {
      ASSERT_EQ(g(i), gr(i)) << "weight gradient at " << i;
      if (g(i) != 0.0f) ++nonzero_weights;
    }
  }
  EXPECT_GT(nonzero_weights, 1000u);
  EXPECT_GT(nonzero_reference_gates, 10u);  // the zeros above are the phase's, not the model's
}

TEST(FixedGates, ProjectionHoldsTheGatesOfTheFirstForward) {
  TinyProblem t;
  DensityProblem& p = t.p;
  Vector<float>& x = t.x;
  p.fix_gates();
  spread_gates(p.model(), x);  // after fix_gates, before the forward: these are held
  const Vector<float> held = x;
  Evaluation e;
  e.resize(1);
  p.forward(x, Batch{0, 16, 5}, e);
  Vector<float> moved = x;
  spread_gates(p.model(), moved, 0.5);
  for (std::size_t i = 0; i < moved.size(); ++i)
    if (!is_log_alpha(p.model(), i)) moved(i) += 0.25f;
  p.project(moved);
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (is_log_alpha(p.model(), i))
      ASSERT_EQ(moved(i), held(i)) << i;
    else
      ASSERT_EQ(moved(i), held(i) + 0.25f) << i;
  }
  p.release_gates();
  spread_gates(p.model(), moved, 0.5);
  const Vector<float> free = moved;
  p.project(moved);
  for (std::size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(moved(i), free(i)) << i;  // inside the bounds: untouched
}

TEST(FixedGates, LogAlphaLowerBoundIsAnOption) {
  const Dataset data = l0_test::random_dataset(64, 32, 3, "tiny");
  GatedModel<float> shape(Architecture::mlp);
  auto o = small_options(shape);
  for (double lo : {kLogAlphaMin, std::log(1e-3)}) {
    o.log_alpha_min = lo;
    DensityProblem p(data, o);
    Vector<float> x = Vector<float>::from_shape({p.num_parameters()});
    p.initial_point(x, 1);
    const auto& l = p.model().gated_layers()[0];
    x(l.log_alpha_offset) = -50.0f;
    x(l.log_alpha_offset + 1) = -6.0f;
    x(l.log_alpha_offset + 2) = 50.0f;
    p.project(x);
    EXPECT_EQ(x(l.log_alpha_offset), static_cast<float>(lo));
    EXPECT_EQ(x(l.log_alpha_offset + 1), lo < -6.0 ? -6.0f : static_cast<float>(lo));
    EXPECT_EQ(x(l.log_alpha_offset + 2), static_cast<float>(kLogAlphaMax));
  }
  // A closed gate's expected density at the bound: sigmoid(lo - beta ln(-gamma/zeta)).
  EXPECT_NEAR(prob_nonzero(kLogAlphaMin), 0.0472, 1e-4);
  EXPECT_NEAR(prob_nonzero(std::log(1e-3)), 0.00493, 1e-5);
  for (double bad : {0.0, 0.5, -20.5, std::nan("")}) {
    o.log_alpha_min = bad;
    EXPECT_THROW(DensityProblem(data, o), InvalidOption) << bad;
  }
}

namespace {

TrainConfig phase_run(std::size_t threads) {
  TrainConfig c;
  c.architecture = Architecture::mlp;
  c.target_density = 0.3;
  c.batch = 40;
  c.epochs = 5;
  c.fixed_gate_epochs = 2;
  c.eval_batch = 50;
  c.seed = 9;
  c.threads = threads;
  c.solver_options.dual.lr = 0.05;  // so that the densities visibly move before the phase
  return c;
}

}  // namespace

TEST(FixedGateTraining, DensitiesStopMovingForExactlyTheLastEpochs) {
  const Dataset data = l0_test::random_dataset(200, 100, 4, "random");
  for (std::size_t threads : {1u, 2u}) {
    const auto r = train(phase_run(threads), data);
    ASSERT_EQ(r.history.size(), 5u);
    // Epochs 1-3 train the gates; the held gates are those at the end of epoch 3.
    EXPECT_NE(r.history[1].layer_densities, r.history[2].layer_densities) << threads;
    EXPECT_NE(r.history[0].layer_densities, r.history[1].layer_densities) << threads;
    EXPECT_EQ(r.history[2].layer_densities, r.history[3].layer_densities) << threads;
    EXPECT_EQ(r.history[3].layer_densities, r.history[4].layer_densities) << threads;
    EXPECT_EQ(r.history[2].pruned_architecture, r.history[4].pruned_architecture) << threads;
    EXPECT_NE(r.history[3].train_loss, r.history[4].train_loss)
        << threads;  // the weights still train
  }
  auto bad = phase_run(1);
  bad.fixed_gate_epochs = 5;
  EXPECT_THROW(train(bad, data), InvalidOption);
}

TEST(FixedGateTraining, ResumedInsideThePhaseEndsBitForBitLikeTheWholeRun) {
  const Dataset data = l0_test::random_dataset(200, 100, 4, "random");
  const auto dir = std::filesystem::temp_directory_path() / "saddle_fixed_gates_resume";
  std::filesystem::create_directories(dir);
  const std::string ckpt = (dir / "checkpoint.bin").string();
  const auto whole = train(phase_run(1), data);
  auto first = phase_run(1);
  first.checkpoint_path = ckpt;
  // Stop after epoch 4: inside the phase (epochs 4 and 5).
  train(first, data, [](const EpochMetrics& m) { return m.epoch < 4; });
  auto rest = phase_run(1);
  rest.checkpoint_path = ckpt;
  rest.resume_from = ckpt;
  const auto resumed = train(rest, data);
  ASSERT_EQ(resumed.history.size(), 5u);
  ASSERT_EQ(whole.summary.x.size(), resumed.summary.x.size());
  for (std::size_t j = 0; j < whole.summary.x.size(); ++j)
    ASSERT_EQ(whole.summary.x(j), resumed.summary.x(j)) << "x[" << j << "]";
  EXPECT_EQ(whole.history[4].test_error, resumed.history[4].test_error);
  EXPECT_EQ(whole.history[4].train_loss, resumed.history[4].train_loss);
  // A checkpoint of the run without the phase is another run.
  auto other = phase_run(1);
  other.fixed_gate_epochs = 0;
  other.resume_from = ckpt;
  EXPECT_THROW(train(other, data), InputError);
  std::filesystem::remove_all(dir);
}
