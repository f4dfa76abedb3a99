// The plain layers of saddle::nn (Dense, Conv2d, softmax): known answers, central
// finite-difference checks of every backward in double, and one-line shape errors.

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>

#include <xtensor/xtensor.hpp>

#include "saddle/nn/layers.hpp"

namespace nn = saddle::nn;

namespace {

xt::xtensor<double, 1> random_vector(std::size_t n, std::uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  xt::xtensor<double, 1> v = xt::xtensor<double, 1>::from_shape({n});
  for (auto& x : v) x = d(rng);
  return v;
}

xt::xtensor<double, 2> random_matrix(std::size_t r, std::size_t c, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, 1.0);
  xt::xtensor<double, 2> m = xt::xtensor<double, 2>::from_shape({r, c});
  for (auto& x : m) x = d(rng);
  return m;
}

// Central differences of f at every coordinate of v (perturbed in place), compared with
// `analytic`: |a - n| <= 1e-7 + 1e-6 max(|a|, |n|). f is smooth (linear layers), so the
// truncation error of a 1e-5 step is far below the tolerance.
void expect_matches_fd(const char* what, xt::xtensor<double, 1>& v,
                       const xt::xtensor<double, 1>& analytic, const std::function<double()>& f) {
  ASSERT_EQ(v.size(), analytic.size());
  const double h = 1e-5;
  std::size_t bad = 0;
  for (std::size_t j = 0; j < v.size(); ++j) {
    const double keep = v(j);
    v(j) = keep + h;
    const double fp = f();
    v(j) = keep - h;
    const double fm = f();
    v(j) = keep;
    const double numeric = (fp - fm) / (2 * h);
    const double a = analytic(j);
    if (std::abs(a - numeric) > 1e-7 + 1e-6 * std::max(std::abs(a), std::abs(numeric))) {
      if (++bad <= 3)
        ADD_FAILURE() << what << "[" << j << "]: analytic " << a << ", numeric " << numeric;
    }
  }
  EXPECT_EQ(bad, 0u) << what;
}

// The exception message, which must be one line.
template <class E, class F>
std::string one_line_error(F&& f) {
  try {
    f();
  } catch (const E& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_FALSE(msg.empty());
    return msg;
  }
  ADD_FAILURE() << "no exception thrown";
  return {};
}

}  // namespace

TEST(NnDense, ForwardKnownAnswer) {
  // x = [[1, 2]], W = [[1, 2, 3], [4, 5, 6]], b = [0.5, -1, 2]: x W + b = [9.5, 11, 17].
  nn::Dense<double> layer(2, 3);
  ASSERT_EQ(layer.num_parameters(), 9u);
  xt::xtensor<double, 1> p = {1, 2, 3, 4, 5, 6, 0.5, -1, 2};
  xt::xtensor<double, 2> x = {{1, 2}};
  xt::xtensor<double, 2> y = xt::xtensor<double, 2>::from_shape({1, 3});
  layer.forward(nn::cview(p), nn::cview(x), nn::view(y));
  EXPECT_DOUBLE_EQ(y(0, 0), 9.5);
  EXPECT_DOUBLE_EQ(y(0, 1), 11.0);
  EXPECT_DOUBLE_EQ(y(0, 2), 17.0);
}

TEST(NnDense, BackwardMatchesFiniteDifferences) {
  const std::size_t in = 7, out = 5, rows = 4;
  nn::Dense<double> layer(in, out);
  xt::xtensor<double, 1> p = random_vector(layer.num_parameters(), 1);
  xt::xtensor<double, 2> x = random_matrix(rows, in, 2);
  const xt::xtensor<double, 2> r = random_matrix(rows, out, 3);  // L = sum(r * y)
  xt::xtensor<double, 2> y = xt::xtensor<double, 2>::from_shape({rows, out});
  auto loss = [&]() {
    layer.forward(nn::cview(p), nn::cview(x), nn::view(y));
    double s = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) s += r.data()[i] * y.data()[i];
    return s;
  };
  loss();
  xt::xtensor<double, 1> gp = xt::xtensor<double, 1>::from_shape({p.size()});
  xt::xtensor<double, 2> gx = xt::xtensor<double, 2>::from_shape({rows, in});
  gp.fill(123.0);  // overwritten, not accumulated
  layer.backward(nn::cview(p), nn::cview(x), nn::cview(r), nn::view(gp), nn::view(gx));
  expect_matches_fd("dense dparams", p, gp, loss);
  xt::xtensor<double, 1> xf = xt::flatten(x);
  xt::xtensor<double, 1> gxf = xt::flatten(gx);
  auto loss_x = [&]() {
    std::copy(xf.begin(), xf.end(), x.begin());
    return loss();
  };
  expect_matches_fd("dense dinput", xf, gxf, loss_x);
  // The overload without grad_input gives the same parameter gradient.
  std::copy(xf.begin(), xf.end(), x.begin());
  xt::xtensor<double, 1> gp2 = xt::xtensor<double, 1>::from_shape({p.size()});
  layer.backward(nn::cview(p), nn::cview(x), nn::cview(r), nn::view(gp2));
  EXPECT_EQ(gp2, gp);
}

TEST(NnDense, ShapeMismatchesAreOneLineInputErrors) {
  nn::Dense<double> layer(3, 2);
  xt::xtensor<double, 1> p = xt::zeros<double>({8});
  xt::xtensor<double, 2> x = xt::zeros<double>({2, 4});  // 4 features, layer wants 3
  xt::xtensor<double, 2> y = xt::zeros<double>({2, 2});
  std::string msg = one_line_error<saddle::InputError>(
      [&] { layer.forward(nn::cview(p), nn::cview(x), nn::view(y)); });
  EXPECT_NE(msg.find("input [2, 4]"), std::string::npos) << msg;
  xt::xtensor<double, 1> small = xt::zeros<double>({5});
  xt::xtensor<double, 2> x3 = xt::zeros<double>({2, 3});
  msg = one_line_error<saddle::InputError>(
      [&] { layer.forward(nn::cview(small), nn::cview(x3), nn::view(y)); });
  EXPECT_NE(msg.find("expected 8"), std::string::npos) << msg;
  xt::xtensor<double, 2> dy = xt::zeros<double>({3, 2});  // 3 rows for an input of 2
  xt::xtensor<double, 1> gp = xt::zeros<double>({8});
  one_line_error<saddle::InputError>(
      [&] { layer.backward(nn::cview(p), nn::cview(x3), nn::cview(dy), nn::view(gp)); });
  one_line_error<saddle::InvalidOption>([&] { nn::Dense<double>(0, 2); });
}

// Direct convolution, the definition: y[b, o, i, j] = b_o + sum_{c,u,v} W[o, c, u, v] x[b, c, i+u,
// j+v].
xt::xtensor<double, 2> naive_conv(const nn::Conv2d<double>& layer, const xt::xtensor<double, 1>& p,
                                  const xt::xtensor<double, 2>& x) {
  const std::size_t rows = x.shape()[0], C = layer.in_channels(), H = layer.in_height(),
                    W = layer.in_width(), O = layer.out_channels(), k = layer.kernel(),
                    Ho = layer.out_height(), Wo = layer.out_width();
  xt::xtensor<double, 2> y = xt::zeros<double>({rows, O * Ho * Wo});
  for (std::size_t b = 0; b < rows; ++b)
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t i = 0; i < Ho; ++i)
        for (std::size_t j = 0; j < Wo; ++j) {
          double s = p(layer.bias_offset() + o);
          for (std::size_t c = 0; c < C; ++c)
            for (std::size_t u = 0; u < k; ++u)
              for (std::size_t v = 0; v < k; ++v)
                s += p(((o * C + c) * k + u) * k + v) * x(b, (c * H + i + u) * W + j + v);
          y(b, (o * Ho + i) * Wo + j) = s;
        }
  return y;
}

TEST(NnConv2d, ForwardMatchesDirectConvolution) {
  nn::Conv2d<double> layer(2, 6, 5, 3, 3);
  layer.reserve(4);
  ASSERT_EQ(layer.out_features(), 3u * 4u * 3u);
  ASSERT_EQ(layer.num_parameters(), 3u * 2u * 9u + 3u);
  const xt::xtensor<double, 1> p = random_vector(layer.num_parameters(), 4);
  const xt::xtensor<double, 2> x = random_matrix(3, layer.in_features(), 5);
  xt::xtensor<double, 2> y = xt::xtensor<double, 2>::from_shape({3, layer.out_features()});
  layer.forward(nn::cview(p), nn::cview(x), nn::view(y));
  const xt::xtensor<double, 2> expected = naive_conv(layer, p, x);
  for (std::size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y.data()[i], expected.data()[i], 1e-12);
}

TEST(NnConv2d, BackwardMatchesFiniteDifferences) {
  const std::size_t rows = 2;
  nn::Conv2d<double> layer(2, 5, 6, 3, 2);
  layer.reserve(rows);
  xt::xtensor<double, 1> p = random_vector(layer.num_parameters(), 6);
  xt::xtensor<double, 2> x = random_matrix(rows, layer.in_features(), 7);
  const xt::xtensor<double, 2> r = random_matrix(rows, layer.out_features(), 8);
  xt::xtensor<double, 2> y = xt::xtensor<double, 2>::from_shape({rows, layer.out_features()});
  auto loss = [&]() {
    layer.forward(nn::cview(p), nn::cview(x), nn::view(y));
    double s = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) s += r.data()[i] * y.data()[i];
    return s;
  };
  loss();
  xt::xtensor<double, 1> gp = xt::xtensor<double, 1>::from_shape({p.size()});
  xt::xtensor<double, 2> gx = xt::xtensor<double, 2>::from_shape({rows, layer.in_features()});
  gp.fill(-7.0);
  gx.fill(3.0);  // both overwritten
  layer.backward(nn::cview(p), nn::cview(r), nn::view(gp), nn::view(gx));
  expect_matches_fd("conv dparams", p, gp, loss);
  xt::xtensor<double, 1> xf = xt::flatten(x);
  xt::xtensor<double, 1> gxf = xt::flatten(gx);
  auto loss_x = [&]() {
    std::copy(xf.begin(), xf.end(), x.begin());
    return loss();
  };
  expect_matches_fd("conv dinput", xf, gxf, loss_x);
}

TEST(NnConv2d, BadShapesAndSizes) {
  one_line_error<saddle::InvalidOption>([] { nn::Conv2d<double>(1, 3, 3, 2, 4); });
  one_line_error<saddle::InvalidOption>([] { nn::Conv2d<double>(0, 3, 3, 2, 1); });
  nn::Conv2d<double> layer(1, 4, 4, 2, 3);
  layer.reserve(2);
  xt::xtensor<double, 1> p = xt::zeros<double>({layer.num_parameters()});
  xt::xtensor<double, 2> x = xt::zeros<double>({3, 16});  // 3 rows > reserve(2)
  xt::xtensor<double, 2> y = xt::zeros<double>({std::size_t{3}, layer.out_features()});
  std::string msg = one_line_error<saddle::InputError>(
      [&] { layer.forward(nn::cview(p), nn::cview(x), nn::view(y)); });
  EXPECT_NE(msg.find("reserve(2)"), std::string::npos) << msg;
  xt::xtensor<double, 2> x15 = xt::zeros<double>({2, 15});
  xt::xtensor<double, 2> y2 = xt::zeros<double>({std::size_t{2}, layer.out_features()});
  one_line_error<saddle::InputError>(
      [&] { layer.forward(nn::cview(p), nn::cview(x15), nn::view(y2)); });
  xt::xtensor<double, 1> gp = xt::zeros<double>({layer.num_parameters()});
  one_line_error<saddle::InputError>(
      [&] { layer.backward(nn::cview(p), nn::cview(y2), nn::view(gp)); });  // no forward yet
}

TEST(NnSoftmax, RowsSumToOneAndMatchTheDefinition) {
  xt::xtensor<double, 2> l = {{0.0, 0.0}, {1000.0, 1000.0 + std::log(3.0)}, {-1.0, 2.0}};
  xt::xtensor<double, 2> p = xt::xtensor<double, 2>::from_shape({3, 2});
  nn::softmax<double>(nn::cview(l), nn::view(p));
  EXPECT_DOUBLE_EQ(p(0, 0), 0.5);
  EXPECT_NEAR(p(1, 0), 0.25, 1e-12);  // stable for large logits (1000 + log 3 is rounded)
  EXPECT_NEAR(p(1, 1), 0.75, 1e-12);
  EXPECT_NEAR(p(2, 1), std::exp(2.0) / (std::exp(-1.0) + std::exp(2.0)), 1e-15);
  xt::xtensor<double, 2> bad = xt::zeros<double>({3, 3});
  one_line_error<saddle::InputError>([&] { nn::softmax<double>(nn::cview(l), nn::view(bad)); });
}
