// Tests of the L0 layer kernels: GatedDense, GatedConv2d, ReLU, MaxPool2d, softmax
// cross-entropy. Gradients are checked against central finite differences in double with the
// gate noise held fixed by the seed; forwards against naive loops written here; zero gates
// against poisoned (NaN) weights, which a dense computation could not ignore.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <xtensor/xmath.hpp>

#include "saddle/problems/l0/basic_layers.hpp"
#include "saddle/problems/l0/gated_conv2d.hpp"
#include "saddle/problems/l0/gated_dense.hpp"
#include "saddle/problems/l0/hard_concrete.hpp"

// The interposed C allocator of this binary is defined in test_allocation.cpp.
#include "common/allocation_counter.hpp"
#include "tensor_helpers.hpp"

namespace {

namespace l0 = saddle::l0;
using l0_test::dot_all;
using l0_test::fill_normal;
using l0_test::mat;
using l0_test::check_fd;
using l0_test::rel_diff;
using l0_test::vec;

constexpr double kBeta = 2.0 / 3.0;

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double clamp01(double v) { return std::min(1.0, std::max(0.0, v)); }



// Gates usable with finite differences: exactly 0 or 1, or away from the clamp kinks.
template <class V>
void expect_fd_safe(const V& z) {
  for (std::size_t j = 0; j < z.size(); ++j) {
    const double v = z(j);
    ASSERT_TRUE(v == 0.0 || v == 1.0 || (v > 1e-3 && v < 1.0 - 1e-3)) << "gate " << j << " = " << v;
  }
}

template <class V>
std::size_t count_fractional(const V& z) {
  std::size_t n = 0;
  for (std::size_t j = 0; j < z.size(); ++j) n += z(j) > 0.0 && z(j) < 1.0;
  return n;
}

// Naive references.
xt::xtensor<double, 2> dense_ref(const xt::xtensor<double, 2>& x, const xt::xtensor<double, 1>& z,
                                 const l0::ConstView<double, 2>& w,
                                 const l0::ConstView<double, 1>& b) {
  const std::size_t rows = x.shape()[0], in = x.shape()[1], out = w.shape()[1];
  auto y = mat<double>(rows, out);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t o = 0; o < out; ++o) {
      double acc = b(o);
      for (std::size_t i = 0; i < in; ++i) acc += x(r, i) * z(i) * w(i, o);
      y(r, o) = acc;
    }
  }
  return y;
}

xt::xtensor<double, 2> conv_ref(const xt::xtensor<double, 2>& x, const xt::xtensor<double, 1>& z,
                                const l0::ConstView<double, 2>& w,
                                const l0::ConstView<double, 1>& b, std::size_t cin, std::size_t h,
                                std::size_t wd, std::size_t cout, std::size_t k) {
  const std::size_t rows = x.shape()[0], oh = h - k + 1, ow = wd - k + 1;
  auto y = mat<double>(rows, cout * oh * ow);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cout; ++c) {
      for (std::size_t i = 0; i < oh; ++i) {
        for (std::size_t j = 0; j < ow; ++j) {
          if (z(c) == 0.0) continue;  // left at 0
          double acc = b(c);
          for (std::size_t ci = 0; ci < cin; ++ci) {
            for (std::size_t a = 0; a < k; ++a) {
              for (std::size_t e = 0; e < k; ++e) {
                acc += w(c, (ci * k + a) * k + e) * x(r, (ci * h + i + a) * wd + j + e);
              }
            }
          }
          y(r, (c * oh + i) * ow + j) = z(c) * acc;
        }
      }
    }
  }
  return y;
}

double test_gate_ref(double la, l0::TestGate gate) {
  const double s = gate == l0::TestGate::median ? sigmoid(la / kBeta) : sigmoid(la);
  return clamp01(s * 1.2 - 0.1);
}

// ============================================================================================
// GatedDense
// ============================================================================================

struct DenseCase {
  std::size_t in = 7, out = 5, rows = 4;
  l0::GatedDense<double> layer{7, 5, 3};
  xt::xtensor<double, 1> params;
  xt::xtensor<double, 2> x, r, y;
  explicit DenseCase(const std::vector<double>& la_values, std::uint64_t init_seed = 1) {
    layer.reserve(6);
    params = vec<double>(layer.num_parameters());
    std::mt19937_64 rng(init_seed);
    layer.init_parameters(l0::view(params), 0.5, rng);
    auto la = layer.log_alpha(l0::view(params));
    for (std::size_t i = 0; i < in; ++i) la(i) = la_values[i];
    x = mat<double>(rows, in);
    r = mat<double>(rows, out);
    y = mat<double>(rows, out);
    fill_normal(x, rng);
    fill_normal(r, rng);
  }
  double train_objective(std::uint64_t seed) {
    layer.forward_train(l0::cview(params), l0::cview(x), seed, l0::view(y));
    return dot_all(r, y);
  }
  double eval_objective(l0::TestGate gate) {
    layer.forward_eval(l0::cview(params), l0::cview(x), l0::view(y), gate);
    return dot_all(r, y);
  }
};

TEST(GatedDense, LayoutAndCounts) {
  l0::GatedDense<float> layer(784, 300);
  EXPECT_EQ(layer.num_parameters(), 784u * 300 + 300 + 784);
  EXPECT_EQ(layer.layout().weight_offset, 0u);
  EXPECT_EQ(layer.layout().bias_offset, 784u * 300);
  EXPECT_EQ(layer.layout().log_alpha_offset, 784u * 300 + 300);
  EXPECT_EQ(layer.layout().total, layer.num_parameters());
  EXPECT_EQ(layer.num_sparsifiable(), 235200u);
  EXPECT_EQ(layer.num_gates(), 784u);
  EXPECT_THROW(l0::GatedDense<float>(0, 3), saddle::InvalidOption);
}

TEST(GatedDense, TrainGradientsMatchFiniteDifferencesWithZeroGates) {
  DenseCase c({-30.0, 0.5, 1.0, -30.0, 30.0, 0.2, -0.3});
  const std::uint64_t seed = 2024;
  c.train_objective(seed);
  const auto z = c.layer.gates();
  EXPECT_EQ(z(0), 0.0);
  EXPECT_EQ(z(3), 0.0);
  EXPECT_EQ(z(4), 1.0);
  expect_fd_safe(z);
  EXPECT_GE(count_fractional(z), 2u);  // gate gradients are exercised
  std::size_t nonzero = 0;
  for (std::size_t i = 0; i < c.in; ++i) nonzero += z(i) != 0.0;
  EXPECT_EQ(c.layer.num_active_gates(), nonzero);
  EXPECT_LT(nonzero, c.in);

  // Forward equals the dense computation x @ (z W) + b, with zero rows for zero gates.
  const auto ref =
      dense_ref(c.x, z, c.layer.weights(l0::cview(c.params)), c.layer.bias(l0::cview(c.params)));
  for (std::size_t i = 0; i < c.y.size(); ++i) EXPECT_NEAR(c.y.data()[i], ref.data()[i], 1e-12);

  // Backward overwrites the slice (pre-filled with garbage) and the input gradient.
  auto gp = vec<double>(c.layer.num_parameters(), 123.0);
  auto gx = mat<double>(c.rows, c.in, 7.0);
  c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp), l0::view(gx));
  const auto& lay = c.layer.layout();
  for (std::size_t i : {0u, 3u}) {
    for (std::size_t o = 0; o < c.out; ++o) EXPECT_EQ(gp(lay.weight_offset + i * c.out + o), 0.0);
    for (std::size_t r = 0; r < c.rows; ++r) EXPECT_EQ(gx(r, i), 0.0);
    EXPECT_EQ(gp(lay.log_alpha_offset + i), 0.0);
  }
  EXPECT_EQ(gp(lay.log_alpha_offset + 4), 0.0);  // z clamped at 1: no gate gradient

  // The same parameter gradient without the input gradient.
  auto gp2 = vec<double>(c.layer.num_parameters(), -5.0);
  c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp2));
  EXPECT_TRUE(gp == gp2);

  auto f = [&] { return c.train_objective(seed); };
  check_fd("dense W,b,log_alpha", c.params.data(), c.params.size(), gp.data(), f);
  check_fd("dense input", c.x.data(), c.x.size(), gx.data(), f);
}

TEST(GatedDense, AllGatesActivePathMatchesFiniteDifferences) {
  DenseCase c({1.0, 0.5, 1.5, 0.8, 30.0, 1.2, 0.3});
  const std::uint64_t seed = 2;
  c.train_objective(seed);
  ASSERT_EQ(c.layer.num_active_gates(), c.in);
  expect_fd_safe(c.layer.gates());
  EXPECT_GE(count_fractional(c.layer.gates()), 3u);
  auto gp = vec<double>(c.layer.num_parameters());
  auto gx = mat<double>(c.rows, c.in);
  c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp), l0::view(gx));
  auto f = [&] { return c.train_objective(seed); };
  check_fd("dense (all active) params", c.params.data(), c.params.size(), gp.data(), f);
  check_fd("dense (all active) input", c.x.data(), c.x.size(), gx.data(), f);
}

TEST(GatedDense, ZeroGatesIgnoreTheirWeights) {
  DenseCase c({-30.0, 0.5, 1.0, -30.0, 30.0, 0.2, -0.3});
  c.train_objective(5);
  const auto y1 = c.y;
  auto gp1 = vec<double>(c.layer.num_parameters());
  auto gx1 = mat<double>(c.rows, c.in);
  c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp1), l0::view(gx1));
  // Poison the rows of the two zero gates: a dense GEMM would give NaN (0 * NaN).
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t i : {0u, 3u}) {
    for (std::size_t o = 0; o < c.out; ++o) c.params(i * c.out + o) = nan;
  }
  c.train_objective(5);
  EXPECT_TRUE(c.y == y1);
  EXPECT_EQ(c.layer.num_active_gates(), c.in - 2);
  auto gp2 = vec<double>(c.layer.num_parameters());
  auto gx2 = mat<double>(c.rows, c.in);
  c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp2), l0::view(gx2));
  EXPECT_TRUE(gp1 == gp2);
  EXPECT_TRUE(gx1 == gx2);
}

TEST(GatedDense, AllGatesZeroGivesBiasOnly) {
  DenseCase c(std::vector<double>(7, -30.0));
  c.train_objective(1);
  EXPECT_EQ(c.layer.num_active_gates(), 0u);
  const auto b = c.layer.bias(l0::cview(c.params));
  for (std::size_t r = 0; r < c.rows; ++r) {
    for (std::size_t o = 0; o < c.out; ++o) EXPECT_EQ(c.y(r, o), b(o));
  }
  auto gp = vec<double>(c.layer.num_parameters(), 9.0);
  auto gx = mat<double>(c.rows, c.in, 9.0);
  c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp), l0::view(gx));
  for (std::size_t j = 0; j < c.layer.layout().bias_offset; ++j) EXPECT_EQ(gp(j), 0.0);
  for (std::size_t o = 0; o < c.out; ++o) {
    double s = 0.0;
    for (std::size_t r = 0; r < c.rows; ++r) s += c.r(r, o);
    EXPECT_NEAR(gp(c.layer.layout().bias_offset + o), s, 1e-14);
  }
  EXPECT_TRUE(xt::all(xt::equal(gx, 0.0)));
}

TEST(GatedDense, EvalForwardUsesTestGatesAndIsDifferentiable) {
  // Away from both estimators' kinks (+-1.5986 and +-2.3979).
  DenseCase c({-30.0, -1.0, 0.0, 1.2, 30.0, -0.5, 0.4});
  for (auto gate : {l0::TestGate::median, l0::TestGate::mean_eq13}) {
    c.eval_objective(gate);
    const auto z = c.layer.gates();
    const auto la = c.layer.log_alpha(l0::cview(c.params));
    std::size_t active = 0;
    for (std::size_t i = 0; i < c.in; ++i) {
      EXPECT_NEAR(z(i), test_gate_ref(la(i), gate), 1e-15);
      active += z(i) > 0;
    }
    EXPECT_EQ(c.layer.count_active_test_gates(l0::cview(c.params), gate), active);
    const auto ref =
        dense_ref(c.x, z, c.layer.weights(l0::cview(c.params)), c.layer.bias(l0::cview(c.params)));
    for (std::size_t i = 0; i < c.y.size(); ++i) EXPECT_NEAR(c.y.data()[i], ref.data()[i], 1e-12);
    auto gp = vec<double>(c.layer.num_parameters());
    auto gx = mat<double>(c.rows, c.in);
    c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp), l0::view(gx));
    auto f = [&] { return c.eval_objective(gate); };
    check_fd("dense eval params", c.params.data(), c.params.size(), gp.data(), f);
    check_fd("dense eval input", c.x.data(), c.x.size(), gx.data(), f);
  }
  // Median: la = -1 -> sigmoid(-1.5)*1.2-0.1 > 0; Eq. 13: sigmoid(-1)*1.2-0.1 > 0 as well.
  EXPECT_EQ(c.layer.count_active_test_gates(l0::cview(c.params), l0::TestGate::median), 6u);
}

TEST(GatedDense, SameSeedSameGatesAndStreamsDiffer) {
  std::vector<double> la(7, 0.0);
  DenseCase a(la), b(la);
  a.train_objective(42);
  b.train_objective(42);
  EXPECT_TRUE(a.layer.gates() == b.layer.gates());
  EXPECT_TRUE(a.y == b.y);
  b.layer = l0::GatedDense<double>(7, 5, 4);  // same sizes and parameters, another stream
  b.layer.reserve(6);
  b.train_objective(42);
  EXPECT_FALSE(a.layer.gates() == b.layer.gates());
}

TEST(GatedDense, RejectsBadShapes) {
  DenseCase c(std::vector<double>(7, 0.0));
  auto big = mat<double>(7, c.in);
  auto big_out = mat<double>(7, c.out);
  EXPECT_THROW(c.layer.forward_train(l0::cview(c.params), l0::cview(big), 1, l0::view(big_out)),
               saddle::InputError);
  auto wrong = mat<double>(c.rows, c.in + 1);
  EXPECT_THROW(c.layer.forward_train(l0::cview(c.params), l0::cview(wrong), 1, l0::view(c.y)),
               saddle::InputError);
  auto short_params = vec<double>(c.layer.num_parameters() - 1);
  EXPECT_THROW(c.layer.forward_train(l0::cview(short_params), l0::cview(c.x), 1, l0::view(c.y)),
               saddle::InputError);
  l0::GatedDense<double> fresh(7, 5);
  fresh.reserve(4);
  auto gp = vec<double>(fresh.num_parameters());
  EXPECT_THROW(fresh.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp)),
               saddle::InputError);
}

// ============================================================================================
// GatedConv2d
// ============================================================================================

struct ConvCase {
  std::size_t cin = 2, h = 6, w = 5, cout = 4, k = 3, rows = 3;
  l0::GatedConv2d<double> layer{2, 6, 5, 4, 3, 1};
  xt::xtensor<double, 1> params;
  xt::xtensor<double, 2> x, r, y;
  explicit ConvCase(const std::vector<double>& la_values) {
    layer.reserve(4);
    params = vec<double>(layer.num_parameters());
    std::mt19937_64 rng(8);
    layer.init_parameters(l0::view(params), 0.5, rng);
    // Larger biases than the init's N(0, 0.02^2), so that the gated bias matters.
    auto b = params.data() + layer.layout().bias_offset;
    for (std::size_t c = 0; c < cout; ++c) b[c] = 0.3 * (static_cast<double>(c) - 1.5);
    auto la = layer.log_alpha(l0::view(params));
    for (std::size_t c = 0; c < cout; ++c) la(c) = la_values[c];
    x = mat<double>(rows, layer.in_features());
    r = mat<double>(rows, layer.out_features());
    y = mat<double>(rows, layer.out_features());
    fill_normal(x, rng);
    fill_normal(r, rng);
  }
  double train_objective(std::uint64_t seed) {
    layer.forward_train(l0::cview(params), l0::cview(x), seed, l0::view(y));
    return dot_all(r, y);
  }
  double eval_objective(l0::TestGate gate) {
    layer.forward_eval(l0::cview(params), l0::cview(x), l0::view(y), gate);
    return dot_all(r, y);
  }
  xt::xtensor<double, 2> reference() {
    return conv_ref(x, layer.gates(), layer.weights(l0::cview(params)),
                    layer.bias(l0::cview(params)), cin, h, w, cout, k);
  }
};

TEST(GatedConv2d, LayoutAndCounts) {
  l0::GatedConv2d<float> conv1(1, 28, 28, 20, 5), conv2(20, 12, 12, 50, 5);
  EXPECT_EQ(conv1.out_height(), 24u);
  EXPECT_EQ(conv1.out_features(), 20u * 24 * 24);
  EXPECT_EQ(conv1.num_parameters(), 500u + 20 + 20);
  EXPECT_EQ(conv1.num_sparsifiable(), 520u);  // 20 maps * (25 weights + 1 bias)
  EXPECT_EQ(conv2.num_sparsifiable(), 25050u);
  EXPECT_EQ(conv2.out_features(), 50u * 8 * 8);
  EXPECT_EQ(conv2.layout().bias_offset, 25000u);
  EXPECT_EQ(conv2.layout().log_alpha_offset, 25050u);
  EXPECT_THROW(l0::GatedConv2d<float>(1, 4, 4, 2, 5), saddle::InvalidOption);
}

TEST(GatedConv2d, TrainGradientsMatchFiniteDifferencesWithZeroGates) {
  ConvCase c({-30.0, 0.8, 30.0, -0.2});
  const std::uint64_t seed = 31;
  c.train_objective(seed);
  const auto z = c.layer.gates();
  EXPECT_EQ(z(0), 0.0);
  EXPECT_EQ(z(2), 1.0);
  expect_fd_safe(z);
  EXPECT_GE(count_fractional(z), 1u);
  const auto ref = c.reference();
  for (std::size_t i = 0; i < c.y.size(); ++i) EXPECT_NEAR(c.y.data()[i], ref.data()[i], 1e-12);

  auto gp = vec<double>(c.layer.num_parameters(), 55.0);
  auto gx = mat<double>(c.rows, c.layer.in_features(), 55.0);
  c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp), l0::view(gx));
  const auto& lay = c.layer.layout();
  const std::size_t ks = c.cin * c.k * c.k;
  for (std::size_t q = 0; q < ks; ++q) EXPECT_EQ(gp(lay.weight_offset + q), 0.0);
  EXPECT_EQ(gp(lay.bias_offset + 0), 0.0);
  EXPECT_EQ(gp(lay.log_alpha_offset + 0), 0.0);
  EXPECT_EQ(gp(lay.log_alpha_offset + 2), 0.0);
  auto gp2 = vec<double>(c.layer.num_parameters());
  c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp2));
  EXPECT_TRUE(gp == gp2);

  auto f = [&] { return c.train_objective(seed); };
  check_fd("conv W,b,log_alpha", c.params.data(), c.params.size(), gp.data(), f);
  check_fd("conv input", c.x.data(), c.x.size(), gx.data(), f);
}

TEST(GatedConv2d, ZeroGateMapsAreNotComputed) {
  ConvCase c({-30.0, 0.8, 30.0, -30.0});
  c.train_objective(3);
  EXPECT_EQ(c.layer.num_active_gates(), 2u);
  const auto y1 = c.y;
  auto gp1 = vec<double>(c.layer.num_parameters());
  auto gx1 = mat<double>(c.rows, c.layer.in_features());
  c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp1), l0::view(gx1));
  const std::size_t ks = c.cin * c.k * c.k, plane = c.layer.out_height() * c.layer.out_width();
  for (std::size_t r = 0; r < c.rows; ++r) {
    for (std::size_t p = 0; p < plane; ++p) {
      EXPECT_EQ(c.y(r, 0 * plane + p), 0.0);
      EXPECT_EQ(c.y(r, 3 * plane + p), 0.0);
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t ch : {0u, 3u}) {
    for (std::size_t q = 0; q < ks; ++q) c.params(ch * ks + q) = nan;
    c.params(c.layer.layout().bias_offset + ch) = nan;
  }
  c.train_objective(3);
  EXPECT_TRUE(c.y == y1);
  auto gp2 = vec<double>(c.layer.num_parameters());
  auto gx2 = mat<double>(c.rows, c.layer.in_features());
  c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp2), l0::view(gx2));
  EXPECT_TRUE(gp1 == gp2);
  EXPECT_TRUE(gx1 == gx2);
}

TEST(GatedConv2d, AllActiveAndEvalGradientsMatchFiniteDifferences) {
  {
    ConvCase c({1.0, 30.0, 0.5, 1.5});
    c.train_objective(10);
    ASSERT_EQ(c.layer.num_active_gates(), c.cout);
    expect_fd_safe(c.layer.gates());
    EXPECT_GE(count_fractional(c.layer.gates()), 3u);
    auto gp = vec<double>(c.layer.num_parameters());
    auto gx = mat<double>(c.rows, c.layer.in_features());
    c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp), l0::view(gx));
    auto f = [&] { return c.train_objective(10); };
    check_fd("conv (all active) params", c.params.data(), c.params.size(), gp.data(), f);
    check_fd("conv (all active) input", c.x.data(), c.x.size(), gx.data(), f);
  }
  ConvCase c({-30.0, -1.0, 0.4, 1.1});
  for (auto gate : {l0::TestGate::median, l0::TestGate::mean_eq13}) {
    c.eval_objective(gate);
    const auto la = c.layer.log_alpha(l0::cview(c.params));
    for (std::size_t ch = 0; ch < c.cout; ++ch) {
      EXPECT_NEAR(c.layer.gates()(ch), test_gate_ref(la(ch), gate), 1e-15);
    }
    const auto ref = c.reference();
    for (std::size_t i = 0; i < c.y.size(); ++i) EXPECT_NEAR(c.y.data()[i], ref.data()[i], 1e-12);
    auto gp = vec<double>(c.layer.num_parameters());
    auto gx = mat<double>(c.rows, c.layer.in_features());
    c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp), l0::view(gx));
    auto f = [&] { return c.eval_objective(gate); };
    check_fd("conv eval params", c.params.data(), c.params.size(), gp.data(), f);
    check_fd("conv eval input", c.x.data(), c.x.size(), gx.data(), f);
  }
}

// ============================================================================================
// Parameter-free layers
// ============================================================================================

TEST(BasicLayers, ReluForwardBackward) {
  std::mt19937_64 rng(4);
  auto x = mat<double>(3, 8);
  fill_normal(x, rng);
  for (auto& v : x) v += v > 0 ? 0.05 : -0.05;  // keep away from the kink
  auto y = mat<double>(3, 8), r = mat<double>(3, 8), gx = mat<double>(3, 8);
  fill_normal(r, rng);
  auto f = [&] {
    l0::relu_forward<double>(l0::cview(x), l0::view(y));
    return dot_all(r, y);
  };
  f();
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y.data()[i], std::max(x.data()[i], 0.0));
  l0::relu_backward<double>(l0::cview(y), l0::cview(r), l0::view(gx));
  check_fd("relu input", x.data(), x.size(), gx.data(), f);
  // In place.
  auto xi = x;
  l0::relu_forward<double>(l0::cview(xi), l0::view(xi));
  EXPECT_TRUE(xi == y);
  auto ri = r;
  l0::relu_backward<double>(l0::cview(y), l0::cview(ri), l0::view(ri));
  EXPECT_TRUE(ri == gx);
}

TEST(BasicLayers, MaxPoolForwardBackward) {
  const std::size_t c = 2, h = 5, w = 4, rows = 2;  // odd height: the last row is dropped
  l0::MaxPool2d<double> pool(c, h, w);
  pool.reserve(3);
  EXPECT_EQ(pool.out_features(), c * 2 * 2);
  std::mt19937_64 rng(6);
  auto x = mat<double>(rows, c * h * w);
  fill_normal(x, rng);
  auto y = mat<double>(rows, pool.out_features()), r = mat<double>(rows, pool.out_features());
  fill_normal(r, rng);
  auto f = [&] {
    pool.forward(l0::cview(x), l0::view(y));
    return dot_all(r, y);
  };
  f();
  for (std::size_t b = 0; b < rows; ++b) {
    for (std::size_t ch = 0; ch < c; ++ch) {
      for (std::size_t i = 0; i < 2; ++i) {
        for (std::size_t j = 0; j < 2; ++j) {
          double m = -1e300;
          for (std::size_t a = 0; a < 2; ++a) {
            for (std::size_t e = 0; e < 2; ++e) {
              m = std::max(m, x(b, (ch * h + 2 * i + a) * w + 2 * j + e));
            }
          }
          EXPECT_EQ(y(b, (ch * 2 + i) * 2 + j), m);
        }
      }
    }
  }
  auto gx = mat<double>(rows, c * h * w, 3.0);
  pool.backward(l0::cview(r), l0::view(gx));
  check_fd("maxpool input", x.data(), x.size(), gx.data(), f);
  auto big = mat<double>(4, c * h * w), big_out = mat<double>(4, pool.out_features());
  EXPECT_THROW(pool.forward(l0::cview(big), l0::view(big_out)), saddle::InputError);
}

TEST(BasicLayers, SoftmaxCrossEntropy) {
  const std::size_t rows = 5, classes = 4;
  std::mt19937_64 rng(10);
  auto logits = mat<double>(rows, classes);
  fill_normal(logits, rng, 2.0);
  xt::xtensor<std::int32_t, 1> labels = {0, 3, 1, 1, 2};
  auto grad = mat<double>(rows, classes);
  const auto res =
      l0::softmax_cross_entropy<double>(l0::cview(logits), l0::cview(labels), l0::view(grad));
  double loss = 0.0;
  std::size_t correct = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    double s = 0.0;
    std::size_t best = 0;
    for (std::size_t c = 0; c < classes; ++c) {
      s += std::exp(logits(r, c));
      if (logits(r, c) > logits(r, best)) best = c;
    }
    loss += (std::log(s) - logits(r, labels(r))) / rows;
    correct += best == static_cast<std::size_t>(labels(r));
  }
  EXPECT_NEAR(res.loss, loss, 1e-13);
  EXPECT_EQ(res.correct, correct);
  const auto res2 = l0::softmax_cross_entropy<double>(l0::cview(logits), l0::cview(labels));
  EXPECT_EQ(res2.loss, res.loss);
  auto f = [&] {
    return l0::softmax_cross_entropy<double>(l0::cview(logits), l0::cview(labels)).loss;
  };
  check_fd("softmax-ce logits", logits.data(), logits.size(), grad.data(), f);
  // Stable for huge logits: shifting every row by 1e4 changes nothing.
  auto shifted = logits;
  shifted += 1e4;
  const auto res3 = l0::softmax_cross_entropy<double>(l0::cview(shifted), l0::cview(labels));
  EXPECT_NEAR(res3.loss, res.loss, 1e-9);
  xt::xtensor<float, 2> huge = {{1000.f, -1000.f}, {-1000.f, 1000.f}};
  xt::xtensor<std::int32_t, 1> hl = {1, 1};
  auto hg = mat<float>(2, 2);
  const auto rh = l0::softmax_cross_entropy<float>(l0::cview(huge), l0::cview(hl), l0::view(hg));
  EXPECT_NEAR(rh.loss, 1000.0, 1e-3);  // (2000 + 0) / 2
  EXPECT_EQ(rh.correct, 1u);
  EXPECT_TRUE(std::isfinite(hg(0, 0)) && std::isfinite(hg(1, 1)));
  // In place: grad may overwrite the logits.
  auto inplace = logits;
  l0::softmax_cross_entropy<double>(l0::cview(inplace), l0::cview(labels), l0::view(inplace));
  EXPECT_TRUE(xt::allclose(inplace, grad, 0.0, 1e-15));
  xt::xtensor<std::int32_t, 1> bad = {0, 4, 1, 1, 2};
  EXPECT_THROW(l0::softmax_cross_entropy<double>(l0::cview(logits), l0::cview(bad)),
               saddle::InputError);
}

// ============================================================================================
// Density, initialisation, float vs double, chains, allocation
// ============================================================================================

TEST(GatedLayers, ExpectedDensityAndItsGradient) {
  DenseCase d({-4.6, -1.0, 0.0, 1.2, 4.6, -0.5, 0.4});
  ConvCase c({-2.0, 0.8, 3.0, -0.2});
  auto check = [](const auto& layer, xt::xtensor<double, 1>& params) {
    const auto la = layer.log_alpha(l0::cview(params));
    double mean = 0.0;
    for (std::size_t j = 0; j < la.size(); ++j) mean += l0::prob_nonzero(la(j)) / la.size();
    EXPECT_NEAR(layer.expected_density(l0::cview(params)), mean, 1e-15);
    auto g = vec<double>(layer.num_parameters(), 0.5);
    layer.add_expected_density_gradient(l0::cview(params), 3.0, l0::view(g));
    const auto& lay = layer.layout();
    for (std::size_t j = 0; j < lay.log_alpha_offset; ++j) ASSERT_EQ(g(j), 0.5);
    for (std::size_t j = 0; j < lay.log_alpha_size; ++j) g(lay.log_alpha_offset + j) -= 0.5;
    auto f = [&] { return 3.0 * layer.expected_density(l0::cview(params)); };
    check_fd("density", params.data() + lay.log_alpha_offset, lay.log_alpha_size,
             g.data() + lay.log_alpha_offset, f, 1e-6, 1e-8);
  };
  check(d.layer, d.params);
  check(c.layer, c.params);
  // Clamp of the slice's log_alpha only.
  auto p = d.params;
  auto la = d.layer.log_alpha(l0::view(p));
  la(0) = -50.0;
  la(1) = 50.0;
  p(0) = 50.0;
  d.layer.clamp_log_alpha(l0::view(p));
  EXPECT_NEAR(la(0), std::log(0.01), 1e-15);
  EXPECT_NEAR(la(1), std::log(100.0), 1e-15);
  EXPECT_EQ(p(0), 50.0);
}

TEST(GatedLayers, InitialisationFollowsConstrainedL0Code) {
  auto stats = [](const double* p, std::size_t n) {
    double s = 0.0, s2 = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      s += p[i];
      s2 += p[i] * p[i];
    }
    const double mean = s / n;
    return std::make_pair(mean, std::sqrt(s2 / n - mean * mean));
  };
  {
    l0::GatedDense<double> dense(300, 100);
    auto p = vec<double>(dense.num_parameters());
    std::mt19937_64 rng(21);
    dense.init_parameters(l0::view(p), 0.2, rng);
    const auto& lay = dense.layout();
    const double w_sd = std::sqrt(2.0 / 100.0) / 0.8;  // fan_out of [out,in], / (1 - d)
    auto [wm, ws] = stats(p.data() + lay.weight_offset, lay.weight_size);
    EXPECT_NEAR(wm, 0.0, 5 * w_sd / std::sqrt(30000.0));
    EXPECT_NEAR(ws, w_sd, 5 * w_sd / std::sqrt(60000.0));
    auto [bm, bs] = stats(p.data() + lay.bias_offset, lay.bias_size);
    EXPECT_NEAR(bs, 0.01, 5 * 0.01 / std::sqrt(200.0));
    auto [lm, ls] = stats(p.data() + lay.log_alpha_offset, lay.log_alpha_size);
    EXPECT_NEAR(lm, std::log(4.0), 5 * 0.01 / std::sqrt(300.0));
    (void)bm;
    (void)ls;
    // Deterministic for a seed.
    auto q = vec<double>(dense.num_parameters());
    std::mt19937_64 rng2(21);
    dense.init_parameters(l0::view(q), 0.2, rng2);
    EXPECT_TRUE(p == q);
    EXPECT_THROW(dense.init_parameters(l0::view(q), 1.0, rng2), saddle::InvalidOption);
  }
  {
    l0::GatedConv2d<double> conv(10, 8, 8, 400, 3);
    auto p = vec<double>(conv.num_parameters());
    std::mt19937_64 rng(22);
    conv.init_parameters(l0::view(p), 0.5, rng);
    const auto& lay = conv.layout();
    const double w_sd = std::sqrt(2.0 / 90.0) / 0.5;  // fan_in = 10*3*3, / (1 - d)
    auto [wm, ws] = stats(p.data() + lay.weight_offset, lay.weight_size);
    EXPECT_NEAR(wm, 0.0, 5 * w_sd / std::sqrt(36000.0));
    EXPECT_NEAR(ws, w_sd, 5 * w_sd / std::sqrt(72000.0));
    auto [bm, bs] = stats(p.data() + lay.bias_offset, lay.bias_size);
    EXPECT_NEAR(bs, 0.02, 5 * 0.02 / std::sqrt(800.0));  // 0.01 / (1 - d)
    auto [lm, ls] = stats(p.data() + lay.log_alpha_offset, lay.log_alpha_size);
    EXPECT_NEAR(lm, 0.0, 5 * 0.01 / std::sqrt(400.0));
    (void)bm;
    (void)ls;
  }
}


TEST(GatedLayers, FloatMatchesDouble) {
  {  // dense 64 -> 32, batch 16
    l0::GatedDense<double> ld(64, 32, 2);
    l0::GatedDense<float> lf(64, 32, 2);
    ld.reserve(16);
    lf.reserve(16);
    auto pd = vec<double>(ld.num_parameters());
    std::mt19937_64 rng(30);
    ld.init_parameters(l0::view(pd), 0.5, rng);
    auto x = mat<double>(16, 64), r = mat<double>(16, 32);
    fill_normal(x, rng);
    fill_normal(r, rng);
    xt::xtensor<float, 1> pf = xt::cast<float>(pd);
    xt::xtensor<float, 2> xf = xt::cast<float>(x), rf = xt::cast<float>(r);
    auto yd = mat<double>(16, 32);
    auto yf = mat<float>(16, 32);
    ld.forward_train(l0::cview(pd), l0::cview(x), 99, l0::view(yd));
    lf.forward_train(l0::cview(pf), l0::cview(xf), 99, l0::view(yf));
    EXPECT_EQ(ld.num_active_gates(), lf.num_active_gates());
    EXPECT_LT(ld.num_active_gates(), 64u);
    EXPECT_LT(rel_diff(yf, yd), 1e-4);
    auto gd = vec<double>(ld.num_parameters());
    auto gf = vec<float>(lf.num_parameters());
    auto gxd = mat<double>(16, 64);
    auto gxf = mat<float>(16, 64);
    ld.backward(l0::cview(pd), l0::cview(r), l0::view(gd), l0::view(gxd));
    lf.backward(l0::cview(pf), l0::cview(rf), l0::view(gf), l0::view(gxf));
    const auto& lay = ld.layout();
    auto part = [](const auto& v, std::size_t off, std::size_t n) {
      return l0::make_cview(v.data() + off, l0::Shape<1>{n});
    };
    EXPECT_LT(rel_diff(part(gf, lay.weight_offset, lay.weight_size),
                       part(gd, lay.weight_offset, lay.weight_size)),
              1e-4);
    EXPECT_LT(rel_diff(part(gf, lay.bias_offset, lay.bias_size),
                       part(gd, lay.bias_offset, lay.bias_size)),
              1e-4);
    EXPECT_LT(rel_diff(part(gf, lay.log_alpha_offset, lay.log_alpha_size),
                       part(gd, lay.log_alpha_offset, lay.log_alpha_size)),
              1e-4);
    EXPECT_LT(rel_diff(gxf, gxd), 1e-4);
  }
  {  // conv 3x10x10 -> 6 maps, k = 5, batch 4
    l0::GatedConv2d<double> ld(3, 10, 10, 6, 5, 1);
    l0::GatedConv2d<float> lf(3, 10, 10, 6, 5, 1);
    ld.reserve(4);
    lf.reserve(4);
    auto pd = vec<double>(ld.num_parameters());
    std::mt19937_64 rng(31);
    ld.init_parameters(l0::view(pd), 0.5, rng);
    auto x = mat<double>(4, ld.in_features()), r = mat<double>(4, ld.out_features());
    fill_normal(x, rng);
    fill_normal(r, rng);
    xt::xtensor<float, 1> pf = xt::cast<float>(pd);
    xt::xtensor<float, 2> xf = xt::cast<float>(x), rf = xt::cast<float>(r);
    auto yd = mat<double>(4, ld.out_features());
    auto yf = mat<float>(4, ld.out_features());
    ld.forward_train(l0::cview(pd), l0::cview(x), 5, l0::view(yd));
    lf.forward_train(l0::cview(pf), l0::cview(xf), 5, l0::view(yf));
    EXPECT_LT(rel_diff(yf, yd), 1e-4);
    auto gd = vec<double>(ld.num_parameters());
    auto gf = vec<float>(lf.num_parameters());
    auto gxd = mat<double>(4, ld.in_features());
    auto gxf = mat<float>(4, ld.in_features());
    ld.backward(l0::cview(pd), l0::cview(r), l0::view(gd), l0::view(gxd));
    lf.backward(l0::cview(pf), l0::cview(rf), l0::view(gf), l0::view(gxf));
    EXPECT_LT(rel_diff(gf, gd), 1e-4);
    EXPECT_LT(rel_diff(gxf, gxd), 1e-4);
  }
}

// A miniature LeNet: conv(1->3, k3) -> relu -> pool -> dense 48->6 -> relu -> dense 6->4 -> CE,
// with every parameter in one flat vector; checks that the layers chain without copies.
struct MiniLeNet {
  l0::GatedConv2d<double> conv{1, 10, 10, 3, 3, 0};
  l0::MaxPool2d<double> pool{3, 8, 8};
  l0::GatedDense<double> fc1{48, 6, 1};
  l0::GatedDense<double> fc2{6, 4, 2};
  std::size_t off_conv = 0, off_fc1 = 0, off_fc2 = 0, total = 0;
  xt::xtensor<double, 2> a1, a2, a3, a4, logits, g4, g3, g2, g1;
  explicit MiniLeNet(std::size_t max_batch) {
    off_fc1 = conv.num_parameters();
    off_fc2 = off_fc1 + fc1.num_parameters();
    total = off_fc2 + fc2.num_parameters();
    conv.reserve(max_batch);
    pool.reserve(max_batch);
    fc1.reserve(max_batch);
    fc2.reserve(max_batch);
    a1 = mat<double>(max_batch, conv.out_features());
    a2 = mat<double>(max_batch, pool.out_features());
    a3 = mat<double>(max_batch, 6);
    logits = mat<double>(max_batch, 4);
    g1 = mat<double>(max_batch, conv.out_features());
    g2 = mat<double>(max_batch, pool.out_features());
    g3 = mat<double>(max_batch, 6);
    g4 = mat<double>(max_batch, 4);
  }
  double loss(const xt::xtensor<double, 1>& p, const xt::xtensor<double, 2>& x,
              const xt::xtensor<std::int32_t, 1>& y, std::uint64_t seed, bool grad,
              xt::xtensor<double, 1>* gp) {
    const std::size_t b = x.shape()[0];
    conv.forward_train(l0::cslice(p, off_conv, conv.num_parameters()), l0::cview(x), seed,
                       l0::rows(a1, b));
    l0::relu_forward<double>(l0::crows(a1, b), l0::rows(a1, b));
    pool.forward(l0::crows(a1, b), l0::rows(a2, b));  // [B, 3*4*4] = flatten for free
    fc1.forward_train(l0::cslice(p, off_fc1, fc1.num_parameters()), l0::crows(a2, b), seed,
                      l0::rows(a3, b));
    l0::relu_forward<double>(l0::crows(a3, b), l0::rows(a3, b));
    fc2.forward_train(l0::cslice(p, off_fc2, fc2.num_parameters()), l0::crows(a3, b), seed,
                      l0::rows(logits, b));
    if (!grad) return l0::softmax_cross_entropy<double>(l0::crows(logits, b), l0::cview(y)).loss;
    const auto res =
        l0::softmax_cross_entropy<double>(l0::crows(logits, b), l0::cview(y), l0::rows(g4, b));
    fc2.backward(l0::cslice(p, off_fc2, fc2.num_parameters()), l0::crows(g4, b),
                 l0::slice(*gp, off_fc2, fc2.num_parameters()), l0::rows(g3, b));
    l0::relu_backward<double>(l0::crows(a3, b), l0::crows(g3, b), l0::rows(g3, b));
    fc1.backward(l0::cslice(p, off_fc1, fc1.num_parameters()), l0::crows(g3, b),
                 l0::slice(*gp, off_fc1, fc1.num_parameters()), l0::rows(g2, b));
    pool.backward(l0::crows(g2, b), l0::rows(g1, b));
    l0::relu_backward<double>(l0::crows(a1, b), l0::crows(g1, b), l0::rows(g1, b));
    conv.backward(l0::cslice(p, off_conv, conv.num_parameters()), l0::crows(g1, b),
                  l0::slice(*gp, off_conv, conv.num_parameters()));
    return res.loss;
  }
};

TEST(GatedLayers, ChainedMiniLeNetGradientMatchesFiniteDifferences) {
  MiniLeNet net(8);
  auto p = vec<double>(net.total);
  std::mt19937_64 rng(50);
  net.conv.init_parameters(l0::slice(p, net.off_conv, net.conv.num_parameters()), 0.5, rng);
  net.fc1.init_parameters(l0::slice(p, net.off_fc1, net.fc1.num_parameters()), 0.5, rng);
  net.fc2.init_parameters(l0::slice(p, net.off_fc2, net.fc2.num_parameters()), 0.5, rng);
  // Some gates exactly off, some exactly on, the rest random.
  p(net.off_conv + net.conv.layout().log_alpha_offset + 1) = -30.0;
  p(net.off_fc1 + net.fc1.layout().log_alpha_offset + 5) = -30.0;
  p(net.off_fc1 + net.fc1.layout().log_alpha_offset + 6) = 30.0;
  auto x = mat<double>(5, 100);  // batch 5 < max batch 8
  fill_normal(x, rng);
  xt::xtensor<std::int32_t, 1> y = {0, 1, 2, 3, 1};
  const std::uint64_t seed = 8;
  auto gp = vec<double>(net.total, 99.0);
  const double loss = net.loss(p, x, y, seed, true, &gp);
  EXPECT_TRUE(std::isfinite(loss));
  expect_fd_safe(net.conv.gates());
  expect_fd_safe(net.fc1.gates());
  expect_fd_safe(net.fc2.gates());
  EXPECT_EQ(net.conv.gates()(1), 0.0);
  for (std::size_t j = 0; j < net.total; ++j) ASSERT_NE(gp(j), 99.0) << j;  // all overwritten
  auto f = [&] { return net.loss(p, x, y, seed, false, nullptr); };
  check_fd("mini-LeNet", p.data(), p.size(), gp.data(), f, 1e-6, 1e-5);
}

TEST(GatedLayers, ForwardAndBackwardDoNotAllocate) {
  if (!saddle_test_alloc::kCountAllocations)
    GTEST_SKIP() << "allocation counting is off under sanitizers";
  const std::size_t max_batch = 16, b = 10;
  l0::GatedConv2d<float> conv(1, 12, 12, 4, 5, 0);
  l0::MaxPool2d<float> pool(4, 8, 8);
  l0::GatedDense<float> fc(64, 10, 1);
  conv.reserve(max_batch);
  pool.reserve(max_batch);
  fc.reserve(max_batch);
  auto pc = vec<float>(conv.num_parameters()), pf = vec<float>(fc.num_parameters());
  auto gc = vec<float>(conv.num_parameters()), gf = vec<float>(fc.num_parameters());
  std::mt19937_64 rng(60);
  conv.init_parameters(l0::view(pc), 0.5, rng);
  fc.init_parameters(l0::view(pf), 0.5, rng);
  fc.log_alpha(l0::view(pf))(3) = -30.0f;  // exercise the compacted path
  auto x = mat<float>(max_batch, 144), a1 = mat<float>(max_batch, conv.out_features()),
       a2 = mat<float>(max_batch, 64), lg = mat<float>(max_batch, 10),
       g2 = mat<float>(max_batch, 64), g1 = mat<float>(max_batch, conv.out_features()),
       gl = mat<float>(max_batch, 10);
  fill_normal(x, rng);
  xt::xtensor<std::int32_t, 1> y = xt::zeros<std::int32_t>({b});
  auto step = [&](std::uint64_t seed) {
    conv.forward_train(l0::cview(pc), l0::crows(x, b), seed, l0::rows(a1, b));
    l0::relu_forward<float>(l0::crows(a1, b), l0::rows(a1, b));
    pool.forward(l0::crows(a1, b), l0::rows(a2, b));
    fc.forward_train(l0::cview(pf), l0::crows(a2, b), seed, l0::rows(lg, b));
    l0::softmax_cross_entropy<float>(l0::crows(lg, b), l0::cview(y), l0::rows(gl, b));
    fc.backward(l0::cview(pf), l0::crows(gl, b), l0::view(gf), l0::rows(g2, b));
    pool.backward(l0::crows(g2, b), l0::rows(g1, b));
    l0::relu_backward<float>(l0::crows(a1, b), l0::crows(g1, b), l0::rows(g1, b));
    conv.backward(l0::cview(pc), l0::crows(g1, b), l0::view(gc));
    conv.forward_eval(l0::cview(pc), l0::crows(x, b), l0::rows(a1, b), l0::TestGate::median);
    fc.forward_eval(l0::cview(pf), l0::crows(a2, b), l0::rows(lg, b), l0::TestGate::mean_eq13);
    fc.add_expected_density_gradient(l0::cview(pf), 0.5, l0::view(gf));
    return conv.expected_density(l0::cview(pc)) + fc.count_active_test_gates(l0::cview(pf));
  };
  step(1);  // warm-up (OpenBLAS initialises its buffers with its own allocator)
  double sink = 0.0;
  std::size_t allocations = 0;
  {
    saddle_test_alloc::AllocationCounter counter;
    for (std::uint64_t s = 2; s < 6; ++s) sink += step(s);
    allocations = counter.count();
  }
  EXPECT_EQ(allocations, 0u);
  EXPECT_TRUE(std::isfinite(sink));
}

}  // namespace
