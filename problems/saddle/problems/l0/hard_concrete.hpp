#pragma once
/// \file hard_concrete.hpp
/// Hard-concrete gates of Louizos, Welling & Kingma (2018), "Learning Sparse Neural Networks
/// through L0 Regularization" (ICLR 2018), as implemented by both reference codes:
/// [LZ] AMLab-Amsterdam/L0_regularization l0_layers.py (the paper's code) and
/// [GP] gallego-posada/constrained_sparsity sparse/l0_layers.py (the code of Gallego-Posada
/// et al., "Controlled Sparsity via Constrained Optimization").
///
/// One free parameter log_alpha per gate. Training gates are sampled with one uniform noise
/// vector per layer per minibatch:
///   u ~ U(eps, 1-eps),  s = sigmoid((log u - log(1-u) + log_alpha) / beta),
///   z = clamp(s * (zeta - gamma) + gamma, 0, 1).
/// The gate is exactly 0 with probability q0 = P(s < -gamma/(zeta-gamma)) and the expected-L0
/// term is 1 - q0 = sigmoid(log_alpha - beta*log(-gamma/zeta)).
///
/// All kernels are templates on the scalar T, defined in hard_concrete.cpp and explicitly
/// instantiated for float (production) and double (gradient checks). None allocates.

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "saddle/problems/l0/tensor_view.hpp"
#include "saddle/range_runner.hpp"

namespace saddle::l0 {

// ----------------------------------------------------------------------------------------
// Constants ([LZ] l0_layers.py line 10: limit_a, limit_b, epsilon; temperature 2/3 is the
// default `temperature` argument and `--temp 2/3` of both codes; [GP] LIMIT_A, LIMIT_B, EPS;
// log_alpha clamp: [LZ] constrain_parameters / [GP] clamp_parameters).
// ----------------------------------------------------------------------------------------

/// Temperature beta of the concrete distribution.
inline constexpr double kBeta = 2.0 / 3.0;
/// Lower stretch limit gamma (limit_a).
inline constexpr double kGamma = -0.1;
/// Upper stretch limit zeta (limit_b).
inline constexpr double kZeta = 1.1;
/// Noise clamp: u in [eps, 1-eps]; also the clamp of q0 to [eps, 1-eps].
inline constexpr double kGateEps = 1e-6;
/// log(0.01): lower bound of log_alpha after every optimizer step.
inline constexpr double kLogAlphaMin = -4.605170185988091;
/// log(100): upper bound of log_alpha after every optimizer step.
inline constexpr double kLogAlphaMax = 4.605170185988091;
/// beta * log(-gamma/zeta) = (2/3) * log(1/11): 1 - q0 = sigmoid(log_alpha - kQ0Shift)
/// (1 - q0 = sigmoid(log_alpha + 1.598597), Louizos et al. 2018, Sec. 3).
inline constexpr double kQ0Shift = -1.598596848532247;

/// Deterministic (test-time) gate estimator.
enum class TestGate {
  /// Median of the hard-concrete distribution (u = 1/2):
  /// z = clamp(sigmoid(log_alpha/beta)*(zeta-gamma)+gamma, 0, 1); zero iff
  /// log_alpha <= -1.5986. This is the default because it is what the constrained-L0 code
  /// ([GP] `evaluation_gates`) uses, and that is the code whose numbers saddle compares with.
  median,
  /// Eq. 13 of the L0 paper ([LZ] `sample_z(sample=False)`), without temperature:
  /// z = clamp(sigmoid(log_alpha)*(zeta-gamma)+gamma, 0, 1); zero iff log_alpha <= -2.3979.
  mean_eq13
};

/// "median" / "mean_eq13".
const char* to_string(TestGate gate);
/// Parses "median" or "mean_eq13" (also "eq13"); throws InvalidOption otherwise.
TestGate parse_test_gate(const std::string& name);

// ----------------------------------------------------------------------------------------
// Noise: a counter-based generator, so the noise of gate j depends only on (seed, stream, j).
// The same Batch::noise_seed therefore always gives the same gates, whatever the order of the
// calls, and layers of one model draw independent noise by using distinct `stream` ids.
// ----------------------------------------------------------------------------------------

/// splitmix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixing function.
std::uint64_t mix64(std::uint64_t x);

/// Key of one noise stream: mixes an evaluation seed with a stream id (e.g. a layer index).
std::uint64_t noise_key(std::uint64_t seed, std::uint64_t stream);

/// The j-th uniform of stream `key`: u = eps + (1-2eps)*U with U = 53 random bits / 2^53,
/// so u is in [eps, 1-eps), exactly [GP]'s `EPS + (1-2EPS)*rand`. Computed in double.
double gate_uniform(std::uint64_t key, std::uint64_t j);

/// noise: [n] <- logit(u_j) = log(u_j) - log(1-u_j) for j = 0..n-1 of stream
/// noise_key(seed, stream), computed in double then rounded to T. No allocation.
template <class T>
void gate_noise_logit(std::uint64_t seed, std::uint64_t stream, View<T, 1> noise);

// ----------------------------------------------------------------------------------------
// Gate kernels (all shapes [n], n = number of gates; outputs must not alias inputs except
// where stated). The clamp is kept in its own pass.
// ----------------------------------------------------------------------------------------

/// Training gates from given logistic noise (see gate_noise_logit):
///   s = sigmoid((noise + log_alpha)/beta), z = clamp(s*(zeta-gamma)+gamma, 0, 1),
///   dz = dz/dlog_alpha = (zeta-gamma)/beta * s*(1-s) where 0 < z < 1, else 0.
/// s, z, dz: [n] outputs. No allocation.
template <class T>
void hard_concrete_sample(ConstView<T, 1> log_alpha, ConstView<T, 1> noise, View<T, 1> s,
                          View<T, 1> z, View<T, 1> dz);

/// Deterministic test-time gates z: [n] and their derivative dz/dlog_alpha: [n] (0 where
/// clamped): median -> clamp(sigmoid(la/beta)*(zeta-gamma)+gamma, 0, 1);
/// mean_eq13 -> clamp(sigmoid(la)*(zeta-gamma)+gamma, 0, 1). No allocation.
template <class T>
void test_gates(ConstView<T, 1> log_alpha, TestGate gate, View<T, 1> z, View<T, 1> dz);
/// Same without the derivative. No allocation.
template <class T>
void test_gates(ConstView<T, 1> log_alpha, TestGate gate, View<T, 1> z);

/// Number of gates whose deterministic test gate is > 0 (the per-layer count of the "pruned
/// architecture", e.g. 219-214-100). No allocation.
template <class T>
std::size_t count_active_test_gates(ConstView<T, 1> log_alpha, TestGate gate);

/// Probability that a gate is non-zero, p = 1 - q0 with
/// q0 = clamp(sigmoid(beta*log(-gamma/zeta) - log_alpha), eps, 1-eps). p: [n]. No allocation.
template <class T>
void prob_nonzero(ConstView<T, 1> log_alpha, View<T, 1> p);
/// dp/dlog_alpha = q0*(1-q0), zero where q0 is clamped. dp: [n]. No allocation.
template <class T>
void prob_nonzero_grad(ConstView<T, 1> log_alpha, View<T, 1> dp);

/// Scalar versions in double (used by the expected-density helpers and by reports).
double prob_nonzero(double log_alpha);
double prob_nonzero_grad(double log_alpha);

/// Structured expected density of a layer: mean over its gates of (1 - q0), accumulated in
/// double. Equals expected active sparsifiable parameters / sparsifiable parameters for both
/// gated layers ([GP] `regularization`: exp_l0 = sum(1-q0)*group_size / nsp). n >= 1.
template <class T>
double expected_density(ConstView<T, 1> log_alpha);
/// grad: [n] += weight * d expected_density / d log_alpha = weight * (dp/dla) / n.
/// No allocation.
template <class T>
void add_expected_density_grad(ConstView<T, 1> log_alpha, double weight, View<T, 1> grad);
/// The same for the gates [gates.begin, gates.end) of the layer only (log_alpha and grad are
/// still the whole layer's: the 1/n is the layer's), element by element: ranges split over
/// threads give the whole call's bits. No allocation, no size check.
template <class T>
void add_expected_density_grad(ConstView<T, 1> log_alpha, double weight, View<T, 1> grad,
                               IndexRange gates);

/// log_alpha <- clamp(log_alpha, lo, ln 100) (after every optimizer step); lo defaults to the
/// reference codes' ln 0.01 (DensityProblemOptions::log_alpha_min says why one may go lower).
/// No allocation.
template <class T>
void clamp_log_alpha(View<T, 1> log_alpha, double lo = kLogAlphaMin);

/// log_alpha_j ~ N(log(1-d) - log(d), 0.01^2), d = droprate_init in (0, 1) ([LZ]
/// reset_parameters, [GP] init_parameters). Throws InvalidOption unless 0 < d < 1.
template <class T>
void init_log_alpha(View<T, 1> log_alpha, double droprate_init, std::mt19937_64& rng);

// ----------------------------------------------------------------------------------------
// Workspace of one layer's gates.
// ----------------------------------------------------------------------------------------

/// The gates of one layer for the current evaluation: values z, derivative dz/dlog_alpha and
/// the sorted list of gates that are not exactly zero (the ones a layer must compute).
template <class T>
class GateState {
 public:
  /// n gates. Allocates its buffers (once).
  explicit GateState(std::size_t n = 0);

  std::size_t size() const { return z_.size(); }

  /// Samples training gates for noise (seed, stream), see hard_concrete_sample. log_alpha: [n].
  /// With a runner, the gates are computed in fixed index ranges on its workers (the same
  /// bits as without). No allocation.
  void sample(ConstView<T, 1> log_alpha, std::uint64_t seed, std::uint64_t stream,
              RangeRunner* runner = nullptr);
  /// Sets the deterministic test gates, see test_gates. No allocation.
  void set_test(ConstView<T, 1> log_alpha, TestGate gate);

  /// z: [n], the gate values of the last sample/set_test.
  const xt::xtensor<T, 1>& z() const { return z_; }
  /// dz/dlog_alpha: [n] (0 where the gate is clamped).
  const xt::xtensor<T, 1>& dz() const { return dz_; }
  /// Indices j (ascending) with z_j != 0.
  const std::vector<std::size_t>& active() const { return active_; }

 private:
  void update_active();
  xt::xtensor<T, 1> noise_, s_, z_, dz_;
  std::vector<std::size_t> active_;
};

// ---- explicit instantiations (hard_concrete.cpp) ----
#define SADDLE_L0_HC_EXTERN(T)                                                               \
  extern template void gate_noise_logit<T>(std::uint64_t, std::uint64_t, View<T, 1>);        \
  extern template void hard_concrete_sample<T>(ConstView<T, 1>, ConstView<T, 1>, View<T, 1>, \
                                               View<T, 1>, View<T, 1>);                      \
  extern template void test_gates<T>(ConstView<T, 1>, TestGate, View<T, 1>, View<T, 1>);     \
  extern template void test_gates<T>(ConstView<T, 1>, TestGate, View<T, 1>);                 \
  extern template std::size_t count_active_test_gates<T>(ConstView<T, 1>, TestGate);         \
  extern template void prob_nonzero<T>(ConstView<T, 1>, View<T, 1>);                         \
  extern template void prob_nonzero_grad<T>(ConstView<T, 1>, View<T, 1>);                    \
  extern template double expected_density<T>(ConstView<T, 1>);                               \
  extern template void add_expected_density_grad<T>(ConstView<T, 1>, double, View<T, 1>);    \
  extern template void add_expected_density_grad<T>(ConstView<T, 1>, double, View<T, 1>,     \
                                                    IndexRange);                             \
  extern template void clamp_log_alpha<T>(View<T, 1>, double);                               \
  extern template void init_log_alpha<T>(View<T, 1>, double, std::mt19937_64&);              \
  extern template class GateState<T>;
SADDLE_L0_HC_EXTERN(float)
SADDLE_L0_HC_EXTERN(double)
#undef SADDLE_L0_HC_EXTERN

}  // namespace saddle::l0
