// The constrained L0 problem on a small in-memory data set: constraint values against the
// model's densities, float finite-difference gradients of the whole problem (cross-entropy,
// group density weights, L2 under the gates), the count measure, shuffling and bad options.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "saddle/gradient_check.hpp"
#include "saddle/problems/l0/density_problem.hpp"
#include "random_dataset.hpp"

using namespace saddle;
using namespace saddle::l0;

namespace {

Dataset tiny_dataset(std::size_t n_train = 64, std::size_t n_test = 32) {
  return l0_test::random_dataset(n_train, n_test, 3, "tiny");
}

std::vector<DensityGroup> layer_level_groups(const GatedModel<float>& shape) {
  return layer_level(shape, {0.3, 0.5, 0.9});
}

DensityProblemOptions options(const GatedModel<float>& shape, bool layer_level, double wd) {
  DensityProblemOptions o;
  o.batch = 16;
  o.eval_batch = 16;
  o.weight_decay = wd;
  o.groups = layer_level ? layer_level_groups(shape) : model_level(shape, 0.4);
  return o;
}

}  // namespace

TEST(DensityProblem, ConstraintValuesAreGroupDensitiesMinusTargets) {
  const auto data = tiny_dataset();
  GatedModel<float> shape(Architecture::mlp);
  DensityProblem model_problem(data, options(shape, false, 0.0));
  DensityProblem layer_problem(data, options(shape, true, 0.0));
  Vector<float> x = Vector<float>::from_shape({model_problem.num_parameters()});
  model_problem.initial_point(x, 1);
  Evaluation e;
  e.resize(1);
  model_problem.forward(x, Batch{0, 16, 9}, e);
  EXPECT_NEAR(e.constraints(0), model_problem.model_density(x) - 0.4, 1e-12);
  EXPECT_NEAR(model_problem.model_density(x), 0.9379,
              2e-4);  // see Model.InitialDensitiesMatchTheReference
  Evaluation el;
  el.resize(3);
  layer_problem.forward(x, Batch{0, 16, 9}, el);
  const auto d = layer_problem.layer_densities(x);
  EXPECT_NEAR(el.constraints(0), d[0] - 0.3, 1e-12);
  EXPECT_NEAR(el.constraints(2), d[2] - 0.9, 1e-12);
  ASSERT_EQ(layer_problem.constraints().size(), 3u);
  EXPECT_EQ(layer_problem.constraints()[1].name, "density_fc2");
}

// DualScale::target gives each constraint its target as ConstraintSpec::scale (the dual
// update then sees the violation relative to the target); DualScale::one leaves it at 1.
TEST(DensityProblem, DualScaleIsTheTargetOrOne) {
  const auto data = tiny_dataset();
  GatedModel<float> shape(Architecture::mlp);
  auto o = options(shape, true, 0.0);
  ASSERT_EQ(o.groups.size(), 3u);
  for (const auto& spec : DensityProblem(data, o).constraints()) EXPECT_EQ(spec.scale, 1.0) << spec.name;
  o.dual_scale = DualScale::target;
  const auto specs = DensityProblem(data, o).constraints();
  ASSERT_EQ(specs.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) EXPECT_EQ(specs[k].scale, o.groups[k].target) << specs[k].name;
  EXPECT_NE(specs[0].scale, specs[2].scale);  // the fixture's targets differ per layer
}

TEST(DensityProblem, GradientMatchesFiniteDifferences) {
  // Without weight decay: the gated L2 term detaches q0 on purpose ([GP] l2_detach_gates),
  // so its log-alpha gradient is not the finite difference; WeightDecayAddsTheGatedL2Term
  // checks that term against its formula instead.
  const auto data = tiny_dataset();
  GatedModel<float> shape(Architecture::mlp);
  for (bool layer : {false, true}) {
    DensityProblem p(data, options(shape, layer, 0.0));
    Vector<float> x = Vector<float>::from_shape({p.num_parameters()});
    p.initial_point(x, 2);
    Vector<double> w = Vector<double>::from_shape({p.constraints().size()});
    for (std::size_t k = 0; k < w.size(); ++k) w(k) = 2.0 + static_cast<double>(k);
    GradientCheckOptions o;
    o.batch = Batch{0, 16, 77};
    o.step = 1e-2;  // float: large steps, loose tolerances
    o.abs_tolerance = 2e-3;
    o.rel_tolerance = 3e-2;
    o.max_coordinates = 150;
    const auto r = check_gradient(p, x, w, o);
    EXPECT_TRUE(r.ok) << (layer ? "layer-level: " : "model-level: ") << r.report();
  }
}

TEST(DensityProblem, WeightDecayAddsTheGatedL2Term) {
  // d/dW of wd/2 (1 - q0) ||W_g||^2 (q0 detached) is wd (1 - q0) W: compare two gradients at
  // the same point and noise, with and without the term.
  const auto data = tiny_dataset();
  GatedModel<float> shape(Architecture::mlp);
  DensityProblem plain(data, options(shape, false, 0.0));
  DensityProblem decay(data, options(shape, false, 0.1));
  Vector<float> x = Vector<float>::from_shape({plain.num_parameters()});
  plain.initial_point(x, 3);
  Evaluation e1, e2;
  e1.resize(1);
  e2.resize(1);
  Vector<float> g1 = Vector<float>::from_shape({x.size()}), g2 = g1;
  Vector<double> w = {0.0};
  plain.forward(x, Batch{0, 16, 5}, e1);
  plain.backward(w, g1);
  decay.forward(x, Batch{0, 16, 5}, e2);
  decay.backward(w, g2);
  const auto& fc2 = plain.model().gated_layers()[1];
  for (std::size_t j : {std::size_t{0}, std::size_t{7}, std::size_t{299}}) {
    const double p = prob_nonzero(static_cast<double>(x(fc2.log_alpha_offset + j)));
    const std::size_t k = fc2.weight_offset + j * fc2.group_size + 3;
    EXPECT_NEAR(g2(k) - g1(k), 0.1 * p * x(k), 1e-5);
  }
  EXPECT_GT(e2.loss, e1.loss);
}

TEST(DensityProblem, CountMeasureIsDensityTimesSparsifiable) {
  const auto data = tiny_dataset();
  GatedModel<float> shape(Architecture::mlp);
  auto o = options(shape, false, 0.0);
  o.measure = DensityMeasure::expected_count;
  DensityProblem p(data, o);
  Vector<float> x = Vector<float>::from_shape({p.num_parameters()});
  p.initial_point(x, 4);
  Evaluation e;
  e.resize(1);
  p.forward(x, Batch{0, 16, 1}, e);
  EXPECT_NEAR(e.constraints(0) + 0.4 * 266200.0, p.model_density(x) * 266200.0, 1e-6 * 266200.0);
}

TEST(DensityProblem, ShuffleDependsOnlyOnTheSeedAndEvaluateCountsErrors) {
  const auto data = tiny_dataset();
  GatedModel<float> shape(Architecture::mlp);
  DensityProblem a(data, options(shape, false, 0.0)), b(data, options(shape, false, 0.0));
  Vector<float> x = Vector<float>::from_shape({a.num_parameters()});
  a.initial_point(x, 5);
  Evaluation ea, eb;
  ea.resize(1);
  eb.resize(1);
  a.shuffle(11);
  b.shuffle(99);
  b.shuffle(11);  // the earlier shuffle of b must not matter
  a.forward(x, Batch{16, 16, 3}, ea);
  b.forward(x, Batch{16, 16, 3}, eb);
  EXPECT_EQ(ea.loss, eb.loss);
  const auto m = a.evaluate(x, data.test);
  EXPECT_EQ(m.count, 32u);
  EXPECT_GE(m.error, 0.0);
  EXPECT_LE(m.error, 1.0);
}

TEST(DensityProblem, RejectsBadOptions) {
  const auto data = tiny_dataset();
  GatedModel<float> shape(Architecture::mlp);
  auto o = options(shape, false, 0.0);
  o.groups[0].target = 0.0;
  EXPECT_THROW(DensityProblem(data, o), InvalidOption);
  o = options(shape, false, 0.0);
  o.groups[0].layers = {0, 5};
  EXPECT_THROW(DensityProblem(data, o), InvalidOption);
  EXPECT_THROW(layer_level(shape, {0.3, 0.3}), InvalidOption);
  o = options(shape, false, -1.0);
  EXPECT_THROW(DensityProblem(data, o), InvalidOption);
}

// Data-parallel evaluation: the test split in two shares gives the whole split's metrics.
TEST(DensityProblem, EvaluationOfRowRangesAddsUpToTheWholeSplit) {
  const auto data = tiny_dataset(64, 37);
  GatedModel<float> shape(Architecture::mlp);
  DensityProblem p(data, options(shape, false, 0.0));
  Vector<float> x = Vector<float>::from_shape({p.num_parameters()});
  p.initial_point(x, 2);
  const EvalMetrics whole = p.evaluate(x, data.test);
  const EvalMetrics a = p.evaluate(x, data.test, 0, 19);
  const EvalMetrics b = p.evaluate(x, data.test, 19, 18);
  EXPECT_EQ(whole.count, 37u);
  EXPECT_EQ(a.count + b.count, 37u);
  EXPECT_EQ(a.correct + b.correct, whole.correct);
  // Row logits are float GEMM results; a batch of other height may round differently (float
  // epsilon 1.2e-7, measured 6e-8 relative here).
  EXPECT_NEAR((a.loss * 19 + b.loss * 18) / 37, whole.loss, 1e-6 * (1 + whole.loss));
  EXPECT_NEAR(whole.error, 1.0 - static_cast<double>(whole.correct) / 37.0, 1e-15);
  EXPECT_EQ(p.evaluate(x, data.test, 37, 0).count, 0u);
  EXPECT_THROW(p.evaluate(x, data.test, 30, 8), InputError);
  EXPECT_THROW(p.evaluate(x, data.test, 38, 0), InputError);
}

TEST(DensityProblem, BatchLargerThanTheTrainingSplitIsRefused) {
  const auto data = tiny_dataset(64, 32);
  GatedModel<float> shape(Architecture::mlp);
  auto o = options(shape, false, 0.0);
  o.batch = 65;
  try {
    DensityProblem p(data, o);
    FAIL() << "no exception";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("batch = 65: larger than the training split"), std::string::npos) << e.what();
  }
  o.batch = 64;
  EXPECT_NO_THROW(DensityProblem(data, o));
}
