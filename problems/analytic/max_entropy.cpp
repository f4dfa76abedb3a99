// Jaynes' dice: the maximum-entropy distribution over the faces 1..6 with mean 4.5.

#include <cmath>
#include <string>

#include "common.hpp"
#include "saddle/problems/analytic.hpp"

namespace saddle::problems {

namespace {

// Mean of the Gibbs distribution p_i ~ exp(beta i) over i = 1..6, with log Z; computed
// with exponents shifted by the largest one so that no term overflows.
struct Gibbs {
  double mean = 0.0;
  double log_z = 0.0;
};

Gibbs gibbs(double beta) {
  const double n = static_cast<double>(MaxEntropy::kFaces);
  const double shift = beta > 0.0 ? beta * n : beta;
  double z = 0.0;
  double s = 0.0;
  for (std::size_t k = 1; k <= MaxEntropy::kFaces; ++k) {
    const double i = static_cast<double>(k);
    const double e = std::exp(beta * i - shift);
    z += e;
    s += i * e;
  }
  return {s / z, std::log(z) + shift};
}

}  // namespace

double MaxEntropy::phi(double p) {
  if (p >= kDelta) return p * std::log(p);
  // Second-order Taylor polynomial of p log p at kDelta: value, slope log(kDelta) + 1 and
  // curvature 1 / kDelta match, so phi is C2 and defined for p <= 0.
  const double d = p - kDelta;
  return kDelta * std::log(kDelta) + (std::log(kDelta) + 1.0) * d + 0.5 * d * d / kDelta;
}

double MaxEntropy::phi_prime(double p) {
  if (p >= kDelta) return std::log(p) + 1.0;
  return std::log(kDelta) + 1.0 + (p - kDelta) / kDelta;
}

std::string MaxEntropy::description() {
  return "max entropy of a die with mean 4.5: min sum p log p s.t. sum p = 1, sum i p = 4.5, "
         "p >= 0; answer p_i ~ exp(beta i), beta ~ 0.371";
}

KnownAnswer MaxEntropy::answer() {
  // mean(beta) increases strictly from 1 (beta -> -inf) to 6 (beta -> inf): bisection on
  // [-20, 20] down to adjacent doubles.
  double lo = -20.0;
  double hi = 20.0;
  for (int it = 0; it < 200 && hi - lo > 0.0; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (mid == lo || mid == hi) break;
    if (gibbs(mid).mean < kMean) lo = mid; else hi = mid;
  }
  const double beta = 0.5 * (lo + hi);
  const Gibbs g = gibbs(beta);
  KnownAnswer a;
  double loss = 0.0;
  for (std::size_t k = 1; k <= kFaces; ++k) {
    const double log_p = beta * static_cast<double>(k) - g.log_z;
    a.x.push_back(std::exp(log_p));
    loss += std::exp(log_p) * log_p;
  }
  // Stationarity: log p_i + 1 + mu1 + mu2 i = 0 with log p_i = beta i - log Z, so
  // mu2 = -beta and mu1 = log Z - 1. The bounds p_i >= 0 are inactive: multipliers 0.
  a.multipliers = {g.log_z - 1.0, -beta, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  a.loss = loss;
  a.note = "p_i = exp(beta i) / Z, beta = " + std::to_string(beta) +
           " by bisection on the mean; mu1 = log Z - 1, mu2 = -beta";
  return a;
}

// Tuning: the Hessian diag(1 / p_i) is at most 1 / p_1 ~ 18.4 near the answer (6 at the
// uniform start), so the primal step 0.04 keeps eta * L ~ 0.74 < 1 (extragradient's limit);
// extrapolation from the past gets half of it (limit 2/3). The dual curvature
// A diag(p) A^T = [[1, 4.5], [4.5, E i^2]] has eigenvalues ~23 and ~0.1: the mean
// direction is slow (GDA needs ~18500 steps, the other schemes ~4300, extrapolation from the
// past ~8300). The augmented Lagrangian adds rho A^T A (largest eigenvalue ~96), so rho is
// kept at 0.01; rho = 1 makes every scheme diverge at this step. Quadratic penalty: rho = 100
// with the step 0.5 / (20 + 100 rho).
SolverOptions MaxEntropy::defaults(const std::string& scheme, FormulationKind formulation) {
  detail::Tuning t;
  t.primal_lr = 0.04;
  t.dual_lr = 0.05;
  t.max_iterations = 100000;
  t.tolerance = 1e-12;
  t.al_penalty = 0.01;
  t.qp_penalty = 100.0;
  t.qp_primal_lr = 0.5 / (20.0 + 100.0 * t.qp_penalty);
  const KnownAnswer a = answer();
  return detail::make_options(t, scheme, formulation, a.multipliers);
}

std::vector<std::string> MaxEntropy::converging_schemes() { return scheme_names(); }

std::vector<ConstraintSpec> MaxEntropy::constraints() const {
  std::vector<ConstraintSpec> specs{{"sum=1", ConstraintKind::equality},
                                    {"mean", ConstraintKind::equality}};
  for (std::size_t k = 1; k <= kFaces; ++k)
    specs.push_back({"p" + std::to_string(k) + ">=0", ConstraintKind::inequality});
  return specs;
}

void MaxEntropy::initial_point(Vector<double>& x, std::uint64_t /*seed*/) const {
  detail::check_size(kName, "x", x.size(), kFaces);
  x.fill(1.0 / static_cast<double>(kFaces));
}

void MaxEntropy::forward(const Vector<double>& x, const Batch& /*batch*/, Evaluation& eval) {
  detail::check_size(kName, "x", x.size(), kFaces);
  double loss = 0.0;
  double sum = 0.0;
  double mean = 0.0;
  for (std::size_t k = 0; k < kFaces; ++k) {
    const double p = x(k);
    p_[k] = p;
    loss += phi(p);
    sum += p;
    mean += static_cast<double>(k + 1) * p;
    eval.constraints(2 + k) = -p;
  }
  eval.loss = loss;
  eval.constraints(0) = sum - 1.0;
  eval.constraints(1) = mean - kMean;
  eval.has_strict = false;
}

void MaxEntropy::backward(const Vector<double>& w, Vector<double>& grad) {
  for (std::size_t k = 0; k < kFaces; ++k)
    grad(k) = phi_prime(p_[k]) + w(0) + static_cast<double>(k + 1) * w(1) - w(2 + k);
}

}  // namespace saddle::problems
