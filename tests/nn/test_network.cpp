// nn::Network: finite-difference gradients of whole compositions (plain and gated layers,
// in double), agreement with the layers used one by one, seeded initialisation, errors.

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "saddle/gradient_check.hpp"
#include "saddle/nn/network.hpp"

using namespace saddle;

namespace {

// loss(theta) = mean CE(net(theta; input), labels) + sum_g w_g density_g(theta) over the gated
// layers g, as a Problem for check_gradient (the network's backward composed with the
// softmax cross-entropy gradient and the density gradients).
class NetworkProblem : public BasicProblem<double> {
 public:
  NetworkProblem(nn::Network<double> net, std::size_t batch, std::uint64_t seed)
      : net_(std::move(net)),
        x_(xt::xtensor<double, 2>::from_shape({batch, net_.in_features()})),
        y_(xt::xtensor<std::int32_t, 1>::from_shape({batch})),
        dlogits_(xt::xtensor<double, 2>::from_shape({batch, net_.out_features()})) {
    net_.reserve(batch);
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (auto& v : x_) v = normal(rng);
    for (std::size_t i = 0; i < batch; ++i) {
      y_(i) = static_cast<std::int32_t>(i % net_.out_features());
    }
    for (std::size_t l = 0; l < net_.num_layers(); ++l) {
      if (net_.layers()[l].num_gates > 0) gated_.push_back(l);
    }
  }
  std::size_t num_parameters() const override { return net_.num_parameters(); }
  std::vector<ConstraintSpec> constraints() const override {
    return std::vector<ConstraintSpec>(gated_.size(), {"density", ConstraintKind::inequality});
  }
  void initial_point(Vector<double>& x, std::uint64_t seed) const override {
    net_.init_parameters(nn::view(x), seed);
  }
  void forward(const Vector<double>& x, const Batch& b, Evaluation& e) override {
    last_ = &x;
    const auto logits = net_.forward(nn::cview(x), nn::cview(x_), nn::Mode::train, b.noise_seed);
    e.loss = nn::softmax_cross_entropy<double>(logits, nn::cview(y_), nn::view(dlogits_)).loss;
    for (std::size_t g = 0; g < gated_.size(); ++g) {
      e.constraints(g) = net_.expected_density(nn::cview(x), gated_[g]);
    }
  }
  void backward(const Vector<double>& w, Vector<double>& g) override {
    net_.backward(nn::cview(*last_), nn::cview(dlogits_), nn::view(g));
    for (std::size_t k = 0; k < gated_.size(); ++k) {
      net_.add_expected_density_gradient(nn::cview(*last_), gated_[k], w(k), nn::view(g));
    }
  }
  nn::Network<double>& net() { return net_; }
  std::size_t num_gated() const { return gated_.size(); }

 private:
  nn::Network<double> net_;
  xt::xtensor<double, 2> x_;
  xt::xtensor<std::int32_t, 1> y_;
  xt::xtensor<double, 2> dlogits_;
  std::vector<std::size_t> gated_;
  const Vector<double>* last_ = nullptr;
};

void check_network_gradient(nn::Network<double> net, std::size_t max_coordinates) {
  NetworkProblem p(std::move(net), 5, 21);
  Vector<double> x = Vector<double>::from_shape({p.num_parameters()});
  p.initial_point(x, 4);
  // Spread the gates: some exactly zero, some saturated at one, most in between.
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> u(-3.0, 3.0);
  for (const auto& l : p.net().layers()) {
    for (std::size_t j = 0; j < l.num_gates; ++j) x(l.log_alpha_offset + j) = u(rng);
  }
  Vector<double> w = Vector<double>::from_shape({p.num_gated()});
  for (std::size_t g = 0; g < w.size(); ++g) w(g) = 0.4 + 0.3 * static_cast<double>(g);
  GradientCheckOptions o;
  o.batch.noise_seed = 777;
  o.step = 1e-6;
  o.abs_tolerance = 1e-7;
  o.rel_tolerance = 1e-5;
  o.max_coordinates = max_coordinates;
  const GradientCheckResult r = check_gradient(p, x, w, o);
  EXPECT_TRUE(r.ok) << r.report();
  EXPECT_GT(r.checked, 0u);
}

}  // namespace

TEST(NnNetwork, PlainMlpGradientMatchesFiniteDifferences) {
  nn::Network<double> net(12);
  net.add_dense(8).add_relu().add_dense(6).add_relu().add_dense(4);
  EXPECT_EQ(net.num_parameters(), (12u * 8 + 8) + (8u * 6 + 6) + (6u * 4 + 4));
  check_network_gradient(std::move(net), 0);
}

TEST(NnNetwork, PlainConvNetGradientMatchesFiniteDifferences) {
  // conv -> relu -> pool -> conv -> relu -> dense: every plain layer kind.
  nn::Network<double> net(2, 9, 8);
  net.add_conv2d(3, 2).add_relu().add_max_pool().add_conv2d(4, 2).add_relu().add_dense(5);
  ASSERT_EQ(net.layers()[2].channels, 3u);
  ASSERT_EQ(net.layers()[2].height, 4u);  // (9-2+1)/2
  ASSERT_EQ(net.layers()[2].width, 3u);   // (8-2+1)/2 floored
  EXPECT_EQ(net.out_features(), 5u);
  check_network_gradient(std::move(net), 0);
}

TEST(NnNetwork, MixedGatedNetworkGradientMatchesFiniteDifferences) {
  // Gated and plain layers in one flat vector, gates sampled from the fixed noise seed,
  // plus the density terms of both gated layers.
  nn::Network<double> net(1, 8, 8);
  net.add_gated_conv2d(3, 3).add_relu().add_max_pool().add_dense(10).add_relu().add_gated_dense(
      4, 0.3);
  ASSERT_EQ(net.layers()[0].num_gates, 3u);
  ASSERT_EQ(net.layers()[5].num_gates, 10u);
  check_network_gradient(std::move(net), 0);
}

TEST(NnNetwork, MatchesTheLayersUsedOneByOne) {
  nn::Network<double> net(6);
  net.add_dense(4).add_relu().add_dense(3);
  net.reserve(2);
  Vector<double> theta = Vector<double>::from_shape({net.num_parameters()});
  net.init_parameters(nn::view(theta), 5);
  const xt::xtensor<double, 2> in = {{1, -2, 3, 0.5, -1, 2}, {0, 1, 0, -1, 0, 1}};
  const auto out = net.forward(nn::cview(theta), nn::cview(in));

  nn::Dense<double> d1(6, 4), d2(4, 3);
  const auto& L = net.layers();
  ASSERT_EQ(L[2].offset, d1.num_parameters());
  xt::xtensor<double, 2> h = xt::xtensor<double, 2>::from_shape({2, 4});
  xt::xtensor<double, 2> y = xt::xtensor<double, 2>::from_shape({2, 3});
  d1.forward(nn::cslice(theta, L[0].offset, L[0].size), nn::cview(in), nn::view(h));
  nn::relu_forward<double>(nn::cview(h), nn::view(h));
  d2.forward(nn::cslice(theta, L[2].offset, L[2].size), nn::cview(h), nn::view(y));
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j) EXPECT_DOUBLE_EQ(out(i, j), y(i, j));
}

TEST(NnNetwork, InitialisationIsSeededAndHe) {
  nn::Network<float> net(400);
  net.add_dense(300).add_relu().add_dense(10);
  Vector<float> a = Vector<float>::from_shape({net.num_parameters()});
  Vector<float> b = a, c = a;
  net.init_parameters(nn::view(a), 1);
  net.init_parameters(nn::view(b), 1);
  net.init_parameters(nn::view(c), 2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // First layer: 120000 weights ~ N(0, 2/400): sample variance within 2 % of 0.005.
  double s2 = 0.0;
  for (std::size_t i = 0; i < 400 * 300; ++i) s2 += static_cast<double>(a(i)) * a(i);
  EXPECT_NEAR(s2 / (400.0 * 300.0), 2.0 / 400.0, 0.02 * 2.0 / 400.0);
  for (std::size_t i = 400 * 300; i < 400 * 300 + 300; ++i) EXPECT_EQ(a(i), 0.0f);  // biases
}

TEST(NnNetwork, BadUseThrowsOneLineErrors) {
  auto one_line = [](const std::string& m) { EXPECT_EQ(m.find('\n'), std::string::npos) << m; };
  EXPECT_THROW(nn::Network<float>(0), InvalidOption);
  {
    nn::Network<float> empty(4);
    EXPECT_THROW(empty.reserve(8), InvalidOption);
  }
  nn::Network<float> net(1, 3, 3);
  EXPECT_THROW(net.add_conv2d(2, 4), InvalidOption);  // kernel larger than the 3x3 maps
  net.add_dense(4);
  EXPECT_THROW(net.add_max_pool(), InvalidOption);  // 4x1x1 has no 2x2 window
  EXPECT_THROW(net.add_gated_dense(3, 1.5), InvalidOption);
  net.add_relu().add_dense(2);
  {
    Vector<float> t0 = Vector<float>::from_shape({net.num_parameters()});
    xt::xtensor<float, 2> in0 = xt::zeros<float>({1, 9});
    EXPECT_THROW(net.forward(nn::cview(t0), nn::cview(in0)), InvalidOption);  // before reserve
  }
  net.reserve(3);
  EXPECT_THROW(net.add_relu(), InvalidOption);  // after reserve
  Vector<float> theta = Vector<float>::from_shape({net.num_parameters()});
  net.init_parameters(nn::view(theta), 1);
  xt::xtensor<float, 2> wide = xt::zeros<float>({2, 10});
  try {
    net.forward(nn::cview(theta), nn::cview(wide));
    ADD_FAILURE() << "no error for a 10-feature input";
  } catch (const InputError& e) {
    one_line(e.what());
    EXPECT_NE(std::string(e.what()).find("[2, 10]"), std::string::npos) << e.what();
  }
  xt::xtensor<float, 2> tall = xt::zeros<float>({4, 9});
  EXPECT_THROW(net.forward(nn::cview(theta), nn::cview(tall)), InputError);  // 4 > reserve(3)
  Vector<float> grad = theta;
  xt::xtensor<float, 2> dy = xt::zeros<float>({2, 2});
  try {
    net.backward(nn::cview(theta), nn::cview(dy), nn::view(grad));
    ADD_FAILURE() << "no error for a backward without forward";
  } catch (const InputError& e) {
    one_line(e.what());
  }
  xt::xtensor<float, 2> ok = xt::zeros<float>({2, 9});
  net.forward(nn::cview(theta), nn::cview(ok));
  xt::xtensor<float, 2> dy3 = xt::zeros<float>({2, 3});
  EXPECT_THROW(net.backward(nn::cview(theta), nn::cview(dy3), nn::view(grad)), InputError);
  Vector<float> short_grad = Vector<float>::from_shape({3});
  EXPECT_THROW(net.backward(nn::cview(theta), nn::cview(dy), nn::view(short_grad)), InputError);
  EXPECT_THROW(net.expected_density(nn::cview(theta), 0), InvalidOption);  // not gated
}
