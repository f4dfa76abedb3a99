// Whole-model checks: exact parameter/MAC counts of the papers, purged counts of the
// Louizos architectures, initial densities, and finite-difference gradients of the full
// gated MLP and LeNet5 (double instantiation, small inputs).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "saddle/gradient_check.hpp"
#include "saddle/problems/l0/model.hpp"

using namespace saddle;
using namespace saddle::l0;

namespace {

// loss(x) = CE(model(x; z(noise_seed))) + sum_l w_l density_l, as a Problem for check_gradient.
class ModelProblem : public BasicProblem<double> {
 public:
  /// test_gates: the deterministic median gates of test time instead of sampled ones (the
  /// forward of DensityProblem's fixed-gate phase).
  ModelProblem(Architecture arch, std::size_t side, std::size_t batch, std::uint64_t seed, bool test_gates = false)
      : test_gates_(test_gates), model_(arch, side, side, 10), x_(xt::xtensor<double, 2>::from_shape({batch, side * side})),
        y_(xt::xtensor<std::int32_t, 1>::from_shape({batch})) {
    model_.reserve(batch);
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (auto& v : x_) v = normal(rng);
    for (std::size_t i = 0; i < batch; ++i) y_(i) = static_cast<std::int32_t>(i % 10);
  }
  std::size_t num_parameters() const override { return model_.num_parameters(); }
  std::vector<ConstraintSpec> constraints() const override {
    std::vector<ConstraintSpec> c;
    for (const auto& l : model_.gated_layers()) c.push_back({l.name, ConstraintKind::inequality});
    return c;
  }
  void initial_point(Vector<double>& x, std::uint64_t seed) const override {
    model_.init_parameters(make_view<double, 1>(x.data(), {x.size()}), seed);
  }
  void forward(const Vector<double>& x, const Batch& b, Evaluation& e) override {
    last_ = &x;
    const auto p = make_cview<double, 1>(x.data(), {x.size()});
    const auto r = test_gates_ ? model_.forward_eval(p, cview(x_), cview(y_), TestGate::median)
                               : model_.forward_train(p, cview(x_), cview(y_), b.noise_seed);
    e.loss = r.loss;
    std::vector<double> d;
    model_.layer_densities(p, d);
    for (std::size_t l = 0; l < d.size(); ++l) e.constraints(l) = d[l];
  }
  void backward(const Vector<double>& w, Vector<double>& g) override {
    const auto p = make_cview<double, 1>(last_->data(), {last_->size()});
    auto gv = make_view<double, 1>(g.data(), {g.size()});
    model_.backward(p, gv);
    model_.add_density_gradient(p, std::vector<double>(w.begin(), w.end()), gv);
  }
  GatedModel<double>& model() { return model_; }

 private:
  bool test_gates_;
  GatedModel<double> model_;
  xt::xtensor<double, 2> x_;
  xt::xtensor<std::int32_t, 1> y_;
  const Vector<double>* last_ = nullptr;
};

void check_model_gradient(Architecture arch, std::size_t side, bool test_gates = false) {
  ModelProblem p(arch, side, 6, 7, test_gates);
  Vector<double> x = Vector<double>::from_shape({p.num_parameters()});
  p.initial_point(x, 3);
  // Spread some gates: a few exactly-zero gates, a few saturated at one.
  const auto& layers = p.model().gated_layers();
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-3.0, 3.0);
  for (const auto& l : layers)
    for (std::size_t j = 0; j < l.num_gates; ++j) x(l.log_alpha_offset + j) = u(rng);
  Vector<double> w = Vector<double>::from_shape({layers.size()});
  for (std::size_t l = 0; l < layers.size(); ++l) w(l) = 0.3 + 0.2 * static_cast<double>(l);
  GradientCheckOptions o;
  o.batch.noise_seed = 12345;
  o.step = 1e-6;
  o.abs_tolerance = 1e-7;
  o.rel_tolerance = 1e-5;
  o.max_coordinates = 1500;
  const auto r = check_gradient(p, x, w, o);
  EXPECT_TRUE(r.ok) << r.report();
  EXPECT_EQ(r.checked, 1500u);
}

}  // namespace

TEST(Model, MlpCountsMatchThePapers) {
  GatedModel<float> m(Architecture::mlp);
  EXPECT_EQ(m.dense_params(), 266610u);
  EXPECT_EQ(m.dense_macs(), 266200u);
  EXPECT_EQ(m.num_parameters(), 266610u + 1184u);  // + one log_alpha per gate
  ASSERT_EQ(m.gated_layers().size(), 3u);
  EXPECT_EQ(m.gated_layers()[0].sparsifiable, 235200u);
  EXPECT_EQ(m.gated_layers()[1].sparsifiable, 30000u);
  EXPECT_EQ(m.gated_layers()[2].sparsifiable, 1000u);
}

TEST(Model, LenetCountsMatchThePapers) {
  GatedModel<float> m(Architecture::lenet5);
  EXPECT_EQ(m.dense_params(), 431080u);
  EXPECT_EQ(m.dense_macs(), 2293000u);
  EXPECT_EQ(m.num_parameters(), 431080u + 1370u);
  ASSERT_EQ(m.gated_layers().size(), 4u);
  // [GP] sparsifiable counts: conv includes its bias, dense excludes it.
  EXPECT_EQ(m.gated_layers()[0].sparsifiable, 520u);
  EXPECT_EQ(m.gated_layers()[1].sparsifiable, 25050u);
  EXPECT_EQ(m.gated_layers()[2].sparsifiable, 400000u);
  EXPECT_EQ(m.gated_layers()[3].sparsifiable, 5000u);
}

namespace {
// Sets log_alpha so that exactly `active[l]` gates (the first ones) have a positive test gate.
void set_active(GatedModel<float>& m, Vector<float>& x, const std::vector<std::size_t>& active) {
  for (std::size_t l = 0; l < m.gated_layers().size(); ++l) {
    const auto& g = m.gated_layers()[l];
    for (std::size_t j = 0; j < g.num_gates; ++j) x(g.log_alpha_offset + j) = j < active[l] ? 3.0f : -4.0f;
  }
}
}  // namespace

TEST(Model, PurgedCountsOfTheLouizosArchitectures) {
  GatedModel<float> mlp(Architecture::mlp);
  Vector<float> x = Vector<float>::from_shape({mlp.num_parameters()});
  x.fill(0.1f);
  set_active(mlp, x, {219, 214, 100});
  auto c = mlp.purged(make_cview<float, 1>(x.data(), {x.size()}), TestGate::median);
  EXPECT_EQ(c.architecture(), "219-214-100");
  EXPECT_EQ(c.params, 69590u);  // 219*214 + 214 + 214*100 + 100 + 100*10 + 10
  EXPECT_EQ(c.macs, 69266u);
  set_active(mlp, x, {266, 88, 33});
  c = mlp.purged(make_cview<float, 1>(x.data(), {x.size()}), TestGate::median);
  EXPECT_EQ(c.params, 26773u);
  EXPECT_EQ(c.macs, 26642u);

  GatedModel<float> lenet(Architecture::lenet5);
  Vector<float> y = Vector<float>::from_shape({lenet.num_parameters()});
  y.fill(0.1f);
  // fc1's first 45 inputs lie in conv2 map 0..2 (16 positions per map), all active.
  set_active(lenet, y, {20, 25, 45, 462});
  c = lenet.purged(make_cview<float, 1>(y.data(), {y.size()}), TestGate::median);
  EXPECT_EQ(c.architecture(), "20-25-45-462");
  EXPECT_EQ(c.params, 38927u);  // 20*26 + 25*(20*25+1) + 45*462 + 462 + 462*10 + 10
  EXPECT_EQ(c.macs, 1113410u);
  set_active(lenet, y, {9, 18, 65, 25});
  c = lenet.purged(make_cview<float, 1>(y.data(), {y.size()}), TestGate::median);
  EXPECT_EQ(c.params, 6212u);
  EXPECT_EQ(c.macs, 390675u);
  // fc1 inputs inside a conv2 map whose gate is zero are purged too (mask propagation).
  const auto& g1 = lenet.gated_layers()[1];
  y(g1.log_alpha_offset + 0) = -4.0f;  // drop conv2 map 0: fc1 inputs 0..15 go with it
  c = lenet.purged(make_cview<float, 1>(y.data(), {y.size()}), TestGate::median);
  EXPECT_EQ(c.architecture(), "9-17-65-25");
  EXPECT_EQ(c.macs, 9u * 25u * 576u + 17u * 9u * 25u * 64u + (65u - 16u) * 25u + 25u * 10u);
}

TEST(Model, InitialDensitiesMatchTheReference) {
  // Untrained-model density: 1 - q0 = sigmoid(log((1-d)/d) + 1.5986) is 0.951887 for
  // d = 0.2 (MLP fc1) and 0.831822 for d = 0.5; weighted by sparsifiable counts, MLP
  // (235200*0.951887 + 31000*0.831822)/266200 = 0.93790, LeNet 0.83182 (all d = 0.5).
  for (auto [arch, expected] : {std::pair{Architecture::mlp, 0.93790}, std::pair{Architecture::lenet5, 0.83182}}) {
    GatedModel<float> m(arch);
    Vector<float> x = Vector<float>::from_shape({m.num_parameters()});
    m.init_parameters(make_view<float, 1>(x.data(), {x.size()}), 1);
    std::vector<double> d;
    m.layer_densities(make_cview<float, 1>(x.data(), {x.size()}), d);
    double num = 0, den = 0;
    for (std::size_t l = 0; l < d.size(); ++l) {
      num += d[l] * static_cast<double>(m.gated_layers()[l].sparsifiable);
      den += static_cast<double>(m.gated_layers()[l].sparsifiable);
    }
    EXPECT_NEAR(num / den, expected, 2e-4) << to_string(arch);
  }
}

TEST(Model, MlpGradientMatchesFiniteDifferences) { check_model_gradient(Architecture::mlp, 8); }

TEST(Model, LenetGradientMatchesFiniteDifferences) { check_model_gradient(Architecture::lenet5, 16); }

// backward after the test-time forward (median gates z = clamp(sigmoid(log_alpha) (zeta -
// gamma) + gamma, 0, 1)): what the fixed-gate phase trains on. Gates spread over (-3, 3) leave
// some exactly closed, some open below 1.
TEST(Model, MlpTestTimeGradientMatchesFiniteDifferences) { check_model_gradient(Architecture::mlp, 8, true); }

TEST(Model, LenetTestTimeGradientMatchesFiniteDifferences) {
  check_model_gradient(Architecture::lenet5, 16, true);
}
