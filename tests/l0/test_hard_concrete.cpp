// Tests of the hard-concrete gate kernels (saddle/problems/l0/hard_concrete.hpp).
// Reference values are computed here from the formulas of Louizos et al. 2018 (§4, Eq. 10-13,
// appendix Eq. 24-25), independently of the library code. Statistical tests use fixed seeds
// and a tolerance of 5 standard errors.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <xtensor/xmath.hpp>

#include "saddle/problems/l0/hard_concrete.hpp"

namespace {

namespace l0 = saddle::l0;

constexpr double kBeta = 2.0 / 3.0;
constexpr double kGamma = -0.1;
constexpr double kZeta = 1.1;
constexpr double kEps = 1e-6;

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double logit(double p) { return std::log(p) - std::log1p(-p); }
double clamp01(double v) { return std::min(1.0, std::max(0.0, v)); }

// z as a function of the uniform u (the quantile function of the hard concrete).
double quantile(double u, double la) {
  return clamp01(sigmoid((logit(u) + la) / kBeta) * (kZeta - kGamma) + kGamma);
}
// P(z = 0) = P(s <= -gamma/(zeta-gamma)) = sigmoid(beta*logit(-gamma/(zeta-gamma)) - la).
double p_zero(double la) { return sigmoid(kBeta * logit(-kGamma / (kZeta - kGamma)) - la); }
// P(z = 1) = P(s >= (1-gamma)/(zeta-gamma)) = 1 - sigmoid(beta*logit((1-gamma)/(zeta-gamma)) - la).
double p_one(double la) {
  return 1.0 - sigmoid(kBeta * logit((1.0 - kGamma) / (kZeta - kGamma)) - la);
}
// E[z] = int_0^1 quantile(u) du: 0 below u0 = P(z=0), 1 above u1 = 1 - P(z=1), smooth in
// between (composite Simpson on [u0, u1] with 20000 intervals).
double mean_z(double la) {
  const double u0 = p_zero(la), u1 = 1.0 - p_one(la);
  const int n = 20000;
  const double h = (u1 - u0) / n;
  double acc = quantile(u0, la) + quantile(u1, la);
  for (int i = 1; i < n; ++i) acc += (i % 2 ? 4.0 : 2.0) * quantile(u0 + i * h, la);
  return acc * h / 3.0 + (1.0 - u1);
}

template <class T>
xt::xtensor<T, 1> filled(std::size_t n, double v) {
  xt::xtensor<T, 1> t = xt::xtensor<T, 1>::from_shape({n});
  t.fill(static_cast<T>(v));
  return t;
}

struct Sampled {
  xt::xtensor<double, 1> s, z, dz;
};

Sampled sample(const xt::xtensor<double, 1>& la, std::uint64_t seed, std::uint64_t stream) {
  const std::size_t n = la.size();
  auto noise = filled<double>(n, 0.0);
  Sampled out{filled<double>(n, 0.0), filled<double>(n, 0.0), filled<double>(n, 0.0)};
  l0::gate_noise_logit<double>(seed, stream, l0::view(noise));
  l0::hard_concrete_sample<double>(l0::cview(la), l0::cview(noise), l0::view(out.s),
                                   l0::view(out.z), l0::view(out.dz));
  return out;
}

TEST(HardConcrete, ConstantsMatchReference) {
  EXPECT_DOUBLE_EQ(l0::kBeta, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(l0::kGamma, -0.1);
  EXPECT_DOUBLE_EQ(l0::kZeta, 1.1);
  EXPECT_DOUBLE_EQ(l0::kGateEps, 1e-6);
  EXPECT_NEAR(l0::kLogAlphaMin, std::log(0.01), 1e-15);
  EXPECT_NEAR(l0::kLogAlphaMax, std::log(100.0), 1e-15);
  EXPECT_NEAR(l0::kQ0Shift, kBeta * std::log(-kGamma / kZeta), 1e-15);
  // Louizos et al. 2018, Sec. 3: 1 - q0 = sigmoid(log_alpha + 1.598597); d = 0.5 -> 0.831822.
  EXPECT_NEAR(l0::prob_nonzero(0.0), 0.831822, 1e-6);
  EXPECT_NEAR(l0::prob_nonzero(std::log(4.0)), 0.951887, 1e-6);
}

TEST(HardConcrete, NoiseIsUniformInOpenIntervalAndReproducible) {
  const std::size_t n = 200000;
  auto a = filled<double>(n, 0.0), b = filled<double>(n, 0.0), c = filled<double>(n, 0.0);
  l0::gate_noise_logit<double>(42, 7, l0::view(a));
  l0::gate_noise_logit<double>(42, 7, l0::view(b));
  l0::gate_noise_logit<double>(42, 8, l0::view(c));
  EXPECT_TRUE(a == b);
  double sum_u = 0.0, below = 0.0, sum_ac = 0.0, sum_a2 = 0.0, sum_c2 = 0.0;
  double umin = 1.0, umax = 0.0;
  for (std::size_t j = 0; j < n; ++j) {
    const double u = sigmoid(a(j));
    umin = std::min(umin, u);
    umax = std::max(umax, u);
    sum_u += u;
    below += u < 0.1 ? 1.0 : 0.0;
    sum_ac += a(j) * c(j);
    sum_a2 += a(j) * a(j);
    sum_c2 += c(j) * c(j);
  }
  EXPECT_GE(umin, kEps * (1 - 1e-9));
  EXPECT_LE(umax, 1.0 - kEps * (1 - 1e-9));
  // U(0,1): mean 1/2 (sd 1/sqrt(12)); P(u < 0.1) = 0.1.
  EXPECT_NEAR(sum_u / n, 0.5, 5.0 / std::sqrt(12.0 * n));
  EXPECT_NEAR(below / n, 0.1, 5.0 * std::sqrt(0.09 / n));
  // Streams 7 and 8 are uncorrelated (sample correlation ~ N(0, 1/n)).
  EXPECT_LT(std::abs(sum_ac / std::sqrt(sum_a2 * sum_c2)), 5.0 / std::sqrt(double(n)));
  // Another seed, same stream: different noise.
  auto d = filled<double>(n, 0.0);
  l0::gate_noise_logit<double>(43, 7, l0::view(d));
  EXPECT_FALSE(a == d);
  // The noise of gate j does not depend on how many gates are drawn.
  auto short_a = filled<double>(10, 0.0);
  l0::gate_noise_logit<double>(42, 7, l0::view(short_a));
  for (std::size_t j = 0; j < 10; ++j) EXPECT_EQ(short_a(j), a(j));
}

TEST(HardConcrete, ExactZerosOnesAndMeanMatchAnalyticMasses) {
  const std::size_t n = 200000;
  const double las[] = {-3.0, -1.0, 0.0, 0.7, 2.5};
  std::uint64_t seed = 1000;
  for (double la_value : las) {
    const auto la = filled<double>(n, la_value);
    const Sampled g = sample(la, seed++, 0);
    double zeros = 0.0, ones = 0.0, sum = 0.0, sum2 = 0.0;
    for (std::size_t j = 0; j < n; ++j) {
      const double z = g.z(j);
      ASSERT_GE(z, 0.0);
      ASSERT_LE(z, 1.0);
      zeros += z == 0.0 ? 1.0 : 0.0;
      ones += z == 1.0 ? 1.0 : 0.0;
      sum += z;
      sum2 += z * z;
    }
    const double f0 = zeros / n, f1 = ones / n, mean = sum / n;
    const double sd = std::sqrt(std::max(sum2 / n - mean * mean, 1e-12));
    const double p0 = p_zero(la_value), p1 = p_one(la_value);
    SCOPED_TRACE("log_alpha = " + std::to_string(la_value));
    EXPECT_NEAR(f0, p0, 5.0 * std::sqrt(p0 * (1 - p0) / n));
    EXPECT_NEAR(f1, p1, 5.0 * std::sqrt(p1 * (1 - p1) / n));
    EXPECT_NEAR(mean, mean_z(la_value), 5.0 * sd / std::sqrt(double(n)));
    // Expected-L0 term: 1 - q0 equals P(z != 0) analytically and from the samples.
    EXPECT_NEAR(l0::prob_nonzero(la_value), 1.0 - p0, 1e-12);
    EXPECT_NEAR(l0::prob_nonzero(la_value), 1.0 - f0, 5.0 * std::sqrt(p0 * (1 - p0) / n));
  }
}

TEST(HardConcrete, SampleIsTheQuantileOfTheNoise) {
  xt::xtensor<double, 1> la = {-30.0, -2.0, -0.5, 0.0, 0.3, 1.7, 4.0, 30.0};
  const std::size_t n = la.size();
  auto noise = filled<double>(n, 0.0);
  l0::gate_noise_logit<double>(5, 2, l0::view(noise));
  const Sampled g = sample(la, 5, 2);
  for (std::size_t j = 0; j < n; ++j) {
    const double u = sigmoid(noise(j));
    EXPECT_NEAR(g.z(j), quantile(u, la(j)), 1e-12) << j;
  }
  EXPECT_EQ(g.z(0), 0.0);  // log_alpha = -30: z == 0 for every u in [eps, 1-eps]
  EXPECT_EQ(g.z(n - 1), 1.0);
  EXPECT_EQ(g.dz(0), 0.0);
  EXPECT_EQ(g.dz(n - 1), 0.0);
}

TEST(HardConcrete, FloatSamplesMatchDouble) {
  const std::size_t n = 5000;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> dist(-4.0, 4.0);
  auto lad = filled<double>(n, 0.0);
  for (std::size_t j = 0; j < n; ++j) lad(j) = dist(rng);
  xt::xtensor<float, 1> laf = xt::cast<float>(lad);
  l0::GateState<double> gd(n);
  l0::GateState<float> gf(n);
  gd.sample(l0::cview(lad), 77, 1);
  gf.sample(l0::cview(laf), 77, 1);
  for (std::size_t j = 0; j < n; ++j) {
    ASSERT_NEAR(gf.z()(j), gd.z()(j), 2e-6) << j;
    ASSERT_NEAR(gf.dz()(j), gd.dz()(j), 2e-5) << j;
  }
}

TEST(HardConcrete, GateStateIsDeterministicPerSeedAndStream) {
  const std::size_t n = 64;
  auto la = filled<double>(n, 0.0);
  l0::GateState<double> a(n), b(n);
  a.sample(l0::cview(la), 9, 0);
  b.sample(l0::cview(la), 9, 0);
  EXPECT_TRUE(a.z() == b.z());
  b.sample(l0::cview(la), 10, 0);
  EXPECT_FALSE(a.z() == b.z());
  b.sample(l0::cview(la), 9, 1);
  EXPECT_FALSE(a.z() == b.z());
  // active() lists exactly the non-zero gates, ascending.
  std::vector<std::size_t> expected;
  for (std::size_t j = 0; j < n; ++j) {
    if (a.z()(j) != 0.0) expected.push_back(j);
  }
  EXPECT_EQ(a.active(), expected);
  EXPECT_GT(expected.size(), 0u);
  EXPECT_LT(expected.size(), n);  // P(z=0) = 0.17 at log_alpha = 0: some gates are zero
  auto wrong = filled<double>(n + 1, 0.0);
  EXPECT_THROW(a.sample(l0::cview(wrong), 1, 0), saddle::InputError);
}

TEST(HardConcrete, GateDerivativeMatchesFiniteDifferences) {
  const std::size_t n = 2000;
  auto la = filled<double>(n, 0.0);
  for (std::size_t j = 0; j < n; ++j) la(j) = -4.0 + 8.0 * static_cast<double>(j) / n;
  auto noise = filled<double>(n, 0.0);
  l0::gate_noise_logit<double>(11, 0, l0::view(noise));
  auto s = filled<double>(n, 0.0), z = filled<double>(n, 0.0), dz = filled<double>(n, 0.0);
  l0::hard_concrete_sample<double>(l0::cview(la), l0::cview(noise), l0::view(s), l0::view(z),
                                   l0::view(dz));
  const double h = 1e-6;
  auto lap = la, lam = la;
  lap += h;
  lam -= h;
  auto zp = z, zm = z, tmp = s, tmp2 = s;
  l0::hard_concrete_sample<double>(l0::cview(lap), l0::cview(noise), l0::view(tmp), l0::view(zp),
                                   l0::view(tmp2));
  l0::hard_concrete_sample<double>(l0::cview(lam), l0::cview(noise), l0::view(tmp), l0::view(zm),
                                   l0::view(tmp2));
  std::size_t interior = 0, clamped = 0;
  for (std::size_t j = 0; j < n; ++j) {
    const bool in_p = zp(j) > 0 && zp(j)<1, in_m = zm(j)> 0 && zm(j) < 1;
    if (in_p != in_m) continue;  // the kink lies inside [la-h, la+h]
    const double fd = (zp(j) - zm(j)) / (2 * h);
    EXPECT_NEAR(dz(j), fd, 1e-6 * (1.0 + std::abs(fd))) << j;
    if (in_p) {
      ++interior;
    } else {
      ++clamped;
      EXPECT_EQ(dz(j), 0.0);
    }
  }
  EXPECT_GT(interior, n / 4);
  EXPECT_GT(clamped, n / 10);
}

TEST(HardConcrete, ProbNonzeroAndExpectedDensityGradients) {
  const double h = 1e-6;
  for (double la = -8.0; la <= 8.0; la += 0.25) {
    const double fd = (l0::prob_nonzero(la + h) - l0::prob_nonzero(la - h)) / (2 * h);
    EXPECT_NEAR(l0::prob_nonzero_grad(la), fd, 1e-8) << la;
    EXPECT_NEAR(l0::prob_nonzero(la), sigmoid(la - kBeta * std::log(-kGamma / kZeta)), 1e-15);
  }
  // The clamp of q0 to [eps, 1-eps]: constant values and zero derivative beyond it.
  EXPECT_NEAR(l0::prob_nonzero(-20.0), kEps, 1e-15);
  EXPECT_NEAR(l0::prob_nonzero(20.0), 1.0 - kEps, 1e-15);
  EXPECT_EQ(l0::prob_nonzero(-20.0), l0::prob_nonzero(-30.0));
  EXPECT_EQ(l0::prob_nonzero_grad(-20.0), 0.0);
  EXPECT_EQ(l0::prob_nonzero_grad(20.0), 0.0);

  // Vector versions and the density of a layer: mean(1 - q0), gradient weight * dp / n.
  xt::xtensor<double, 1> la = {-4.6, -2.0, -0.3, 0.0, 0.9, 2.2, 4.6, -25.0};
  const std::size_t n = la.size();
  auto p = filled<double>(n, 0.0), dp = filled<double>(n, 0.0);
  l0::prob_nonzero<double>(l0::cview(la), l0::view(p));
  l0::prob_nonzero_grad<double>(l0::cview(la), l0::view(dp));
  double mean = 0.0;
  for (std::size_t j = 0; j < n; ++j) {
    EXPECT_NEAR(p(j), l0::prob_nonzero(la(j)), 1e-15);
    EXPECT_NEAR(dp(j), l0::prob_nonzero_grad(la(j)), 1e-15);
    mean += p(j) / n;
  }
  EXPECT_NEAR(l0::expected_density<double>(l0::cview(la)), mean, 1e-15);
  const double weight = 2.5;
  auto grad = filled<double>(n, 1.0);  // accumulates onto existing values
  l0::add_expected_density_grad<double>(l0::cview(la), weight, l0::view(grad));
  for (std::size_t j = 0; j < n; ++j) {
    auto lp = la, lm = la;
    lp(j) += h;
    lm(j) -= h;
    const double fd = weight *
                      (l0::expected_density<double>(l0::cview(lp)) -
                       l0::expected_density<double>(l0::cview(lm))) /
                      (2 * h);
    EXPECT_NEAR(grad(j) - 1.0, fd, 1e-8) << j;
  }
  EXPECT_EQ(grad(n - 1), 1.0);  // clamped gate: no gradient
  // Float version agrees.
  xt::xtensor<float, 1> laf = xt::cast<float>(la);
  auto pf = filled<float>(n, 0.0);
  l0::prob_nonzero<float>(l0::cview(laf), l0::view(pf));
  for (std::size_t j = 0; j < n; ++j) EXPECT_NEAR(pf(j), p(j), 1e-6);
  EXPECT_NEAR(l0::expected_density<float>(l0::cview(laf)), mean, 1e-6);
}

TEST(HardConcrete, TestGatesFollowBothEstimators) {
  std::vector<double> values;
  for (double la = -6.0; la <= 6.0; la += 0.05) values.push_back(la);
  const std::size_t n = values.size();
  auto la = filled<double>(n, 0.0);
  for (std::size_t j = 0; j < n; ++j) la(j) = values[j];
  for (auto gate : {l0::TestGate::median, l0::TestGate::mean_eq13}) {
    auto z = filled<double>(n, -1.0), dz = filled<double>(n, -1.0), z2 = filled<double>(n, -1.0);
    l0::test_gates<double>(l0::cview(la), gate, l0::view(z), l0::view(dz));
    l0::test_gates<double>(l0::cview(la), gate, l0::view(z2));
    EXPECT_TRUE(z == z2);
    std::size_t active = 0;
    for (std::size_t j = 0; j < n; ++j) {
      // median: u = 1/2 in the quantile (logit(u) = 0); Eq. 13: sigmoid(log_alpha), no beta.
      const double expected = gate == l0::TestGate::median
                                  ? quantile(0.5, la(j))
                                  : clamp01(sigmoid(la(j)) * (kZeta - kGamma) + kGamma);
      EXPECT_NEAR(z(j), expected, 1e-15) << la(j);
      active += expected > 0 ? 1 : 0;
      const double h = 1e-6;
      xt::xtensor<double, 1> lpm = {la(j) + h, la(j) - h};
      auto zpm = filled<double>(2, 0.0);
      l0::test_gates<double>(l0::cview(lpm), gate, l0::view(zpm));
      if ((zpm(0) > 0 && zpm(0) < 1) == (zpm(1) > 0 && zpm(1) < 1)) {
        EXPECT_NEAR(dz(j), (zpm(0) - zpm(1)) / (2 * h), 1e-7) << la(j);
      }
    }
    EXPECT_EQ(l0::count_active_test_gates<double>(l0::cview(la), gate), active);
  }
  // Thresholds (from the constants): median zero iff la <= -1.5986, one iff >= 1.5986;
  // Eq. 13 zero iff la <= -2.3979, one iff >= 2.3979.
  xt::xtensor<double, 1> probe = {-1.60, -1.59, 1.59, 1.60, -2.40, -2.39, 2.39, 2.40};
  auto zm = filled<double>(8, 0.0), ze = filled<double>(8, 0.0);
  l0::test_gates<double>(l0::cview(probe), l0::TestGate::median, l0::view(zm));
  l0::test_gates<double>(l0::cview(probe), l0::TestGate::mean_eq13, l0::view(ze));
  EXPECT_EQ(zm(0), 0.0);
  EXPECT_GT(zm(1), 0.0);
  EXPECT_LT(zm(2), 1.0);
  EXPECT_EQ(zm(3), 1.0);
  EXPECT_EQ(ze(4), 0.0);
  EXPECT_GT(ze(5), 0.0);
  EXPECT_LT(ze(6), 1.0);
  EXPECT_EQ(ze(7), 1.0);
  EXPECT_EQ(l0::count_active_test_gates<double>(l0::cview(probe), l0::TestGate::median), 5u);
  EXPECT_EQ(l0::count_active_test_gates<double>(l0::cview(probe), l0::TestGate::mean_eq13), 7u);
  // Names.
  EXPECT_EQ(l0::parse_test_gate("median"), l0::TestGate::median);
  EXPECT_EQ(l0::parse_test_gate("mean_eq13"), l0::TestGate::mean_eq13);
  EXPECT_STREQ(l0::to_string(l0::TestGate::mean_eq13), "mean_eq13");
  EXPECT_THROW(l0::parse_test_gate("mode"), saddle::InvalidOption);
}

TEST(HardConcrete, InitAndClampOfLogAlpha) {
  const std::size_t n = 20000;
  for (double d : {0.5, 0.2}) {
    auto la = filled<double>(n, 0.0);
    std::mt19937_64 rng(17);
    l0::init_log_alpha<double>(l0::view(la), d, rng);
    double sum = 0.0, sum2 = 0.0;
    for (std::size_t j = 0; j < n; ++j) {
      sum += la(j);
      sum2 += la(j) * la(j);
    }
    const double mean = sum / n, sd = std::sqrt(sum2 / n - mean * mean);
    EXPECT_NEAR(mean, std::log((1 - d) / d), 5 * 0.01 / std::sqrt(double(n)));
    EXPECT_NEAR(sd, 0.01, 5 * 0.01 / std::sqrt(2.0 * n));
  }
  auto la = filled<double>(3, 0.0);
  std::mt19937_64 rng(1);
  EXPECT_THROW(l0::init_log_alpha<double>(l0::view(la), 0.0, rng), saddle::InvalidOption);
  EXPECT_THROW(l0::init_log_alpha<double>(l0::view(la), 1.0, rng), saddle::InvalidOption);
  xt::xtensor<float, 1> v = {-9.0f, -4.0f, 0.5f, 4.0f, 9.0f};
  l0::clamp_log_alpha<float>(l0::view(v));
  EXPECT_FLOAT_EQ(v(0), static_cast<float>(std::log(0.01)));
  EXPECT_FLOAT_EQ(v(1), -4.0f);
  EXPECT_FLOAT_EQ(v(2), 0.5f);
  EXPECT_FLOAT_EQ(v(3), 4.0f);
  EXPECT_FLOAT_EQ(v(4), static_cast<float>(std::log(100.0)));
}

}  // namespace
