/// \file hard_concrete.cpp
/// Hard-concrete gate kernels. Constants and formulas: Louizos et al. 2018 (Eq. 10-13, appendix
/// Eq. 24-25), as both reference codes implement them ([LZ] l0_layers.py, [GP]
/// sparse/l0_layers.py; see hard_concrete.hpp).

#include "saddle/problems/l0/hard_concrete.hpp"

#include <cmath>

#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

namespace saddle::l0 {

namespace {

// Stretch width zeta - gamma = 1.2.
constexpr double kStretch = kZeta - kGamma;

void check_same_size(const char* what, std::size_t expected, std::size_t got) {
  if (expected != got) {
    throw InputError(std::string(what) + ": size " + std::to_string(got) + ", expected " +
                     std::to_string(expected));
  }
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

const char* to_string(TestGate gate) {
  switch (gate) {
    case TestGate::median:
      return "median";
    case TestGate::mean_eq13:
      return "mean_eq13";
  }
  return "?";
}

TestGate parse_test_gate(const std::string& name) {
  if (name == "median") return TestGate::median;
  if (name == "mean_eq13" || name == "eq13") return TestGate::mean_eq13;
  throw InvalidOption("test gate '" + name + "': must be median or mean_eq13");
}

// ---- noise ------------------------------------------------------------------------------

std::uint64_t mix64(std::uint64_t x) {
  // splitmix64 output function (Steele, Lea & Flood 2014; Vigna's reference constants).
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

std::uint64_t noise_key(std::uint64_t seed, std::uint64_t stream) {
  // Two rounds so that nearby (seed, stream) pairs give unrelated keys.
  return mix64(mix64(seed ^ 0x243f6a8885a308d3ULL) + 0x9e3779b97f4a7c15ULL * (stream + 1));
}

double gate_uniform(std::uint64_t key, std::uint64_t j) {
  // Counter mode of splitmix64: state_j = key + (j+1)*golden, output mix64(state_j).
  const std::uint64_t bits = mix64(key + 0x9e3779b97f4a7c15ULL * (j + 1));
  const double unit = static_cast<double>(bits >> 11) * 0x1.0p-53;  // [0, 1)
  return kGateEps + (1.0 - 2.0 * kGateEps) * unit;                  // [eps, 1-eps)
}

namespace {
// out[j - begin] = logit(u_j) for the gates j in [begin, end) of the noise key.
template <class T>
void noise_logit_range(std::uint64_t key, std::size_t begin, std::size_t end, T* out) {
  for (std::size_t j = begin; j < end; ++j) {
    const double u = gate_uniform(key, j);
    // logit in double: in float, 1-u near 1-eps would lose ~6% of its digits.
    out[j - begin] = static_cast<T>(std::log(u) - std::log1p(-u));
  }
}
}  // namespace

template <class T>
void gate_noise_logit(std::uint64_t seed, std::uint64_t stream, View<T, 1> noise) {
  noise_logit_range<T>(noise_key(seed, stream), 0, noise.size(), noise.data());
}

// ---- gates --------------------------------------------------------------------------------

template <class T>
void hard_concrete_sample(ConstView<T, 1> log_alpha, ConstView<T, 1> noise, View<T, 1> s,
                          View<T, 1> z, View<T, 1> dz) {
  const std::size_t n = log_alpha.size();
  check_same_size("hard_concrete_sample noise", n, noise.size());
  check_same_size("hard_concrete_sample s", n, s.size());
  check_same_size("hard_concrete_sample z", n, z.size());
  check_same_size("hard_concrete_sample dz", n, dz.size());
  const T inv_beta = static_cast<T>(1.0 / kBeta);
  const T stretch = static_cast<T>(kStretch);
  const T gamma = static_cast<T>(kGamma);
  // Pass 1 (transcendental, SIMD): s = sigmoid((logit(u) + log_alpha)/beta)  [Eq. 10].
  xt::noalias(s) = T(1) / (T(1) + xt::exp(-(noise + log_alpha) * inv_beta));
  // Pass 2 (affine stretch, then the hard clamp in its own pass).
  xt::noalias(z) = s * stretch + gamma;
  xt::noalias(z) = xt::clip(z, T(0), T(1));
  // Pass 3: dz/dlog_alpha = (zeta-gamma) * ds/dla = (zeta-gamma)/beta * s(1-s), 0 if clamped
  // (the hardtanh gradient of PyTorch is 0 at and beyond the limits).
  const T c = stretch * inv_beta;
  const T* sp = s.data();
  const T* zp = z.data();
  T* dp = dz.data();
  for (std::size_t j = 0; j < n; ++j) {
    dp[j] = (zp[j] > T(0) && zp[j] < T(1)) ? c * sp[j] * (T(1) - sp[j]) : T(0);
  }
}

template <class T>
void test_gates(ConstView<T, 1> log_alpha, TestGate gate, View<T, 1> z, View<T, 1> dz) {
  const std::size_t n = log_alpha.size();
  check_same_size("test_gates z", n, z.size());
  check_same_size("test_gates dz", n, dz.size());
  // median: sigmoid(la/beta) ([GP] evaluation_gates); Eq. 13: sigmoid(la) ([LZ] sample_z).
  const double scale = gate == TestGate::median ? 1.0 / kBeta : 1.0;
  const T* la = log_alpha.data();
  T* zp = z.data();
  T* dp = dz.data();
  for (std::size_t j = 0; j < n; ++j) {
    const double s = sigmoid(scale * static_cast<double>(la[j]));
    const double pre = s * kStretch + kGamma;
    if (pre <= 0.0) {
      zp[j] = T(0);
      dp[j] = T(0);
    } else if (pre >= 1.0) {
      zp[j] = T(1);
      dp[j] = T(0);
    } else {
      zp[j] = static_cast<T>(pre);
      dp[j] = static_cast<T>(kStretch * scale * s * (1.0 - s));
    }
  }
}

template <class T>
void test_gates(ConstView<T, 1> log_alpha, TestGate gate, View<T, 1> z) {
  const std::size_t n = log_alpha.size();
  check_same_size("test_gates z", n, z.size());
  const double scale = gate == TestGate::median ? 1.0 / kBeta : 1.0;
  const T* la = log_alpha.data();
  T* zp = z.data();
  for (std::size_t j = 0; j < n; ++j) {
    const double pre = sigmoid(scale * static_cast<double>(la[j])) * kStretch + kGamma;
    zp[j] = static_cast<T>(pre <= 0.0 ? 0.0 : (pre >= 1.0 ? 1.0 : pre));
  }
}

template <class T>
std::size_t count_active_test_gates(ConstView<T, 1> log_alpha, TestGate gate) {
  const double scale = gate == TestGate::median ? 1.0 / kBeta : 1.0;
  std::size_t count = 0;
  for (std::size_t j = 0; j < log_alpha.size(); ++j) {
    const double pre =
        sigmoid(scale * static_cast<double>(log_alpha.data()[j])) * kStretch + kGamma;
    // The deterministic gate is rounded to T in the forward pass; count what it uses.
    if (static_cast<T>(pre > 0.0 ? pre : 0.0) > T(0)) ++count;
  }
  return count;
}

// ---- probability of a non-zero gate (expected L0) -------------------------------------------

double prob_nonzero(double log_alpha) {
  // q0 = sigmoid(beta*log(-gamma/zeta) - la) clamped to [eps, 1-eps] ([GP] concrete_cdf(0)).
  const double q0 = sigmoid(kQ0Shift - log_alpha);
  const double q0c = q0 < kGateEps ? kGateEps : (q0 > 1.0 - kGateEps ? 1.0 - kGateEps : q0);
  return 1.0 - q0c;
}

double prob_nonzero_grad(double log_alpha) {
  // d(1-q0)/dla = -dq0/dla = q0(1-q0); zero where the clamp is active.
  const double q0 = sigmoid(kQ0Shift - log_alpha);
  if (q0 < kGateEps || q0 > 1.0 - kGateEps) return 0.0;
  return q0 * (1.0 - q0);
}

template <class T>
void prob_nonzero(ConstView<T, 1> log_alpha, View<T, 1> p) {
  check_same_size("prob_nonzero p", log_alpha.size(), p.size());
  // Pass 1: 1 - q0 before the clamp = sigmoid(la - kQ0Shift); pass 2: the clamp.
  xt::noalias(p) = T(1) / (T(1) + xt::exp(static_cast<T>(kQ0Shift) - log_alpha));
  xt::noalias(p) = xt::clip(p, static_cast<T>(kGateEps), static_cast<T>(1.0 - kGateEps));
}

template <class T>
void prob_nonzero_grad(ConstView<T, 1> log_alpha, View<T, 1> dp) {
  check_same_size("prob_nonzero_grad dp", log_alpha.size(), dp.size());
  for (std::size_t j = 0; j < log_alpha.size(); ++j) {
    dp.data()[j] = static_cast<T>(prob_nonzero_grad(static_cast<double>(log_alpha.data()[j])));
  }
}

template <class T>
double expected_density(ConstView<T, 1> log_alpha) {
  const std::size_t n = log_alpha.size();
  if (n == 0) throw InputError("expected_density: a layer without gates");
  double sum = 0.0;
  for (std::size_t j = 0; j < n; ++j) sum += prob_nonzero(static_cast<double>(log_alpha.data()[j]));
  return sum / static_cast<double>(n);
}

template <class T>
void add_expected_density_grad(ConstView<T, 1> log_alpha, double weight, View<T, 1> grad) {
  check_same_size("add_expected_density_grad grad", log_alpha.size(), grad.size());
  add_expected_density_grad<T>(log_alpha, weight, grad, IndexRange{0, log_alpha.size()});
}

template <class T>
void add_expected_density_grad(ConstView<T, 1> log_alpha, double weight, View<T, 1> grad,
                               IndexRange gates) {
  const std::size_t n = log_alpha.size();
  if (n == 0) return;
  const double scale = weight / static_cast<double>(n);
  for (std::size_t j = gates.begin; j < gates.end; ++j) {
    grad.data()[j] +=
        static_cast<T>(scale * prob_nonzero_grad(static_cast<double>(log_alpha.data()[j])));
  }
}

template <class T>
void clamp_log_alpha(View<T, 1> log_alpha, double lo) {
  xt::noalias(log_alpha) = xt::clip(log_alpha, static_cast<T>(lo), static_cast<T>(kLogAlphaMax));
}

template <class T>
void init_log_alpha(View<T, 1> log_alpha, double droprate_init, std::mt19937_64& rng) {
  if (!(droprate_init > 0.0 && droprate_init < 1.0)) {
    throw InvalidOption("droprate_init = " + std::to_string(droprate_init) + ": must be in (0, 1)");
  }
  // Mean log((1-d)/d) makes the initial sigmoid(log_alpha) = 1-d; std 0.01 ([LZ]/[GP] init).
  std::normal_distribution<double> normal(std::log(1.0 - droprate_init) - std::log(droprate_init),
                                          0.01);
  for (std::size_t j = 0; j < log_alpha.size(); ++j) {
    log_alpha.data()[j] = static_cast<T>(normal(rng));
  }
}

// ---- GateState ----------------------------------------------------------------------------

template <class T>
GateState<T>::GateState(std::size_t n)
    : noise_(xt::xtensor<T, 1>::from_shape({n})),
      s_(xt::xtensor<T, 1>::from_shape({n})),
      z_(xt::xtensor<T, 1>::from_shape({n})),
      dz_(xt::xtensor<T, 1>::from_shape({n})) {
  noise_.fill(T(0));
  s_.fill(T(0));
  z_.fill(T(1));
  dz_.fill(T(0));
  active_.reserve(n);
  update_active();
}

template <class T>
void GateState<T>::sample(ConstView<T, 1> log_alpha, std::uint64_t seed, std::uint64_t stream,
                          RangeRunner* runner) {
  check_same_size("GateState::sample log_alpha", z_.size(), log_alpha.size());
  // The noise of gate j depends on (seed, stream, j) only and the rest is element-wise:
  // ranges on a runner give the bits of the whole range on the calling thread (no runner).
  const std::uint64_t key = noise_key(seed, stream);
  auto range = [&](std::size_t, IndexRange r) {
    const std::size_t n = r.end - r.begin;
    if (n == 0) return;
    T* noise = noise_.data() + r.begin;
    noise_logit_range<T>(key, r.begin, r.end, noise);
    hard_concrete_sample<T>(
        make_cview<T, 1>(log_alpha.data() + r.begin, {n}), make_cview<T, 1>(noise, {n}),
        make_view<T, 1>(s_.data() + r.begin, {n}), make_view<T, 1>(z_.data() + r.begin, {n}),
        make_view<T, 1>(dz_.data() + r.begin, {n}));
  };
  for_ranges(runner, z_.size(), range);
  update_active();
}

template <class T>
void GateState<T>::set_test(ConstView<T, 1> log_alpha, TestGate gate) {
  check_same_size("GateState::set_test log_alpha", z_.size(), log_alpha.size());
  test_gates<T>(log_alpha, gate, view(z_), view(dz_));
  update_active();
}

template <class T>
void GateState<T>::update_active() {
  active_.clear();  // capacity reserved in the constructor: push_back never allocates
  for (std::size_t j = 0; j < z_.size(); ++j) {
    if (z_(j) != T(0)) active_.push_back(j);
  }
}

// ---- explicit instantiations ----------------------------------------------------------------
#define SADDLE_L0_HC_INSTANTIATE(T)                                                               \
  template void gate_noise_logit<T>(std::uint64_t, std::uint64_t, View<T, 1>);                    \
  template void hard_concrete_sample<T>(ConstView<T, 1>, ConstView<T, 1>, View<T, 1>, View<T, 1>, \
                                        View<T, 1>);                                              \
  template void test_gates<T>(ConstView<T, 1>, TestGate, View<T, 1>, View<T, 1>);                 \
  template void test_gates<T>(ConstView<T, 1>, TestGate, View<T, 1>);                             \
  template std::size_t count_active_test_gates<T>(ConstView<T, 1>, TestGate);                     \
  template void prob_nonzero<T>(ConstView<T, 1>, View<T, 1>);                                     \
  template void prob_nonzero_grad<T>(ConstView<T, 1>, View<T, 1>);                                \
  template double expected_density<T>(ConstView<T, 1>);                                           \
  template void add_expected_density_grad<T>(ConstView<T, 1>, double, View<T, 1>);                \
  template void add_expected_density_grad<T>(ConstView<T, 1>, double, View<T, 1>, IndexRange);    \
  template void clamp_log_alpha<T>(View<T, 1>, double);                                           \
  template void init_log_alpha<T>(View<T, 1>, double, std::mt19937_64&);                          \
  template class GateState<T>;
SADDLE_L0_HC_INSTANTIATE(float)
SADDLE_L0_HC_INSTANTIATE(double)
#undef SADDLE_L0_HC_INSTANTIATE

}  // namespace saddle::l0
