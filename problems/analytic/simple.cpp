// The small closed-form problems: active-inequality, inactive-inequality, equality-qp and
// linear-equality. Their answers follow from the KKT conditions by hand (see analytic.hpp).

#include <cmath>

#include "common.hpp"
#include "saddle/problems/analytic.hpp"

namespace saddle::problems {

// ---------------------------------------------------------------------------------------
// ScalarBoundProblem: min (x - 2)^2 s.t. x - bound <= 0.

std::vector<ConstraintSpec> ScalarBoundProblem::constraints() const {
  // Integral bounds print without decimals: "x<=1", "x<=3".
  const double rounded = std::round(bound_);
  const std::string value = rounded == bound_ ? std::to_string(static_cast<long long>(rounded))
                                              : std::to_string(bound_);
  return {{"x<=" + value, ConstraintKind::inequality}};
}

void ScalarBoundProblem::initial_point(Vector<double>& x, std::uint64_t /*seed*/) const {
  detail::check_size(name_, "x", x.size(), 1);
  x(0) = 0.0;
}

void ScalarBoundProblem::forward(const Vector<double>& x, const Batch& /*batch*/, Evaluation& eval) {
  detail::check_size(name_, "x", x.size(), 1);
  x_ = x(0);
  eval.loss = (x_ - 2.0) * (x_ - 2.0);
  eval.constraints(0) = x_ - bound_;
  eval.has_strict = false;
}

void ScalarBoundProblem::backward(const Vector<double>& weights, Vector<double>& grad) {
  grad(0) = 2.0 * (x_ - 2.0) + weights(0);
}

KnownAnswer ScalarBoundProblem::known_answer() const {
  // Stationarity 2 (x - 2) + lambda = 0 with complementarity lambda (x - bound) = 0.
  KnownAnswer a;
  if (bound_ < 2.0) {
    a.x = {bound_};
    a.multipliers = {2.0 * (2.0 - bound_)};
    a.loss = (bound_ - 2.0) * (bound_ - 2.0);
    a.note = "active bound: x* = bound, lambda* = 2 (2 - bound) from 2 (x - 2) + lambda = 0";
  } else {
    a.x = {2.0};
    a.multipliers = {0.0};
    a.loss = 0.0;
    a.note = "inactive bound: unconstrained minimiser x* = 2, lambda* = 0";
  }
  return a;
}

// Tuning (linearisation of the scalar dynamics at the solution). Active case: GDA's step
// matrix [[1 - 2 eta, -eta], [eta_d, 1]] has the double eigenvalue 0.9 for
// eta = eta_d = 0.1 (critical damping: x approaches 1 from above without overshooting far
// enough to reset the multiplier, so dual restarts are harmless); the other schemes have
// comparable rates (extrapolation from the past: half the steps). The
// augmented Lagrangian (rho = 1) only adds curvature 1. The quadratic penalty with rho = 100
// has curvature 2 + rho, stepped with 0.5 / (2 + rho); its minimiser is
// x = 1 + 2 / (2 + rho), error lambda* / (2 + rho).
SolverOptions ScalarBoundProblem::scalar_defaults(const std::string& scheme,
                                                  FormulationKind formulation,
                                                  double optimal_multiplier) {
  detail::Tuning t;
  t.primal_lr = 0.1;
  t.dual_lr = 0.1;
  t.tolerance = 1e-12;
  t.al_penalty = 1.0;
  t.qp_penalty = 100.0;
  t.qp_primal_lr = 0.5 / (2.0 + t.qp_penalty);
  t.max_iterations = formulation == FormulationKind::quadratic_penalty ? 20000 : 5000;
  return detail::make_options(t, scheme, formulation, {optimal_multiplier});
}

std::string ActiveInequality::description() {
  return "min (x-2)^2 s.t. x <= 1; answer x = 1, lambda = 2, f = 1";
}
KnownAnswer ActiveInequality::answer() { return ActiveInequality().known_answer(); }
SolverOptions ActiveInequality::defaults(const std::string& scheme, FormulationKind formulation) {
  return scalar_defaults(scheme, formulation, 2.0);
}
std::vector<std::string> ActiveInequality::converging_schemes() { return scheme_names(); }

std::string InactiveInequality::description() {
  return "min (x-2)^2 s.t. x <= 3; answer x = 2, lambda = 0, f = 0";
}
KnownAnswer InactiveInequality::answer() { return InactiveInequality().known_answer(); }
SolverOptions InactiveInequality::defaults(const std::string& scheme, FormulationKind formulation) {
  return scalar_defaults(scheme, formulation, 0.0);
}
std::vector<std::string> InactiveInequality::converging_schemes() { return scheme_names(); }

// ---------------------------------------------------------------------------------------
// EqualityQp: min 6 x0^2 + 4 x0 x1 + 3 x1^2 s.t. x0 + x1 - 5 = 0.

std::string EqualityQp::description() {
  return "min 6x0^2 + 4x0x1 + 3x1^2 s.t. x0 + x1 = 5; answer x = (1, 4), f = 70, lambda = -28";
}

KnownAnswer EqualityQp::answer() {
  KnownAnswer a;
  a.x = {1.0, 4.0};
  a.multipliers = {-28.0};
  a.loss = 70.0;
  a.note = "KKT: 12x0 + 4x1 + lambda = 0, 4x0 + 6x1 + lambda = 0, x0 + x1 = 5";
  return a;
}

// Tuning: the Hessian [[12, 4], [4, 6]] has eigenvalues 14 and 4, so eta = 0.05 contracts
// the primal by 0.3 and 0.8 per step. The dual curvature A H^-1 A^T = 10/56 is small, so the
// dual step can be large. Quadratic penalty: curvature up to 14 + 2 rho.
SolverOptions EqualityQp::defaults(const std::string& scheme, FormulationKind formulation) {
  detail::Tuning t;
  t.primal_lr = 0.05;
  t.dual_lr = 0.5;
  t.max_iterations = 20000;
  t.tolerance = 1e-12;
  t.al_penalty = 1.0;
  t.qp_penalty = 100.0;
  t.qp_primal_lr = 0.5 / (14.0 + 2.0 * t.qp_penalty);
  return detail::make_options(t, scheme, formulation, {-28.0});
}

std::vector<std::string> EqualityQp::converging_schemes() { return scheme_names(); }

std::vector<ConstraintSpec> EqualityQp::constraints() const {
  return {{"x0+x1=5", ConstraintKind::equality}};
}

void EqualityQp::initial_point(Vector<double>& x, std::uint64_t /*seed*/) const {
  detail::check_size(kName, "x", x.size(), 2);
  x(0) = 0.0;
  x(1) = 0.0;
}

void EqualityQp::forward(const Vector<double>& x, const Batch& /*batch*/, Evaluation& eval) {
  detail::check_size(kName, "x", x.size(), 2);
  x_ = {x(0), x(1)};
  eval.loss = 6.0 * x_[0] * x_[0] + 4.0 * x_[0] * x_[1] + 3.0 * x_[1] * x_[1];
  eval.constraints(0) = x_[0] + x_[1] - 5.0;
  eval.has_strict = false;
}

void EqualityQp::backward(const Vector<double>& weights, Vector<double>& grad) {
  grad(0) = 12.0 * x_[0] + 4.0 * x_[1] + weights(0);
  grad(1) = 4.0 * x_[0] + 6.0 * x_[1] + weights(0);
}

// ---------------------------------------------------------------------------------------
// LinearEquality: min x s.t. x = 0.

std::string LinearEquality::description() {
  return "min x s.t. x = 0; bilinear Lagrangian, saddle (x, lambda) = (0, -1), f = 0";
}

KnownAnswer LinearEquality::answer() {
  KnownAnswer a;
  a.x = {0.0};
  a.multipliers = {-1.0};
  a.loss = 0.0;
  a.note = "dL/dx = 1 + lambda = 0, dL/dlambda = x = 0";
  return a;
}

// Tuning: with equal step sizes eta on both players and u = 1 + lambda, one step is
//   GDA:            (x, u) <- [[1, -eta], [eta, 1]] (x, u), modulus sqrt(1 + eta^2) > 1;
//   alternating:    a symplectic map (determinant 1): closed orbits, an ellipse of axis
//                   ratio about sqrt((1 + eta/2) / (1 - eta/2));
//   extragradient:  [[1 - eta^2, -eta], [eta, 1 - eta^2]], modulus sqrt(1 - eta^2 + eta^4);
//   extrapolation from the past converges for eta <= 1/(2L) = 1/2 (Gidel et al. 2019).
// eta = 0.3 gives extragradient the rate 0.958 per step (~620 steps to the 1e-12 step
// tolerance; extrapolation from the past ~500). The augmented Lagrangian (rho = 1)
// adds primal curvature and makes every scheme converge.
SolverOptions LinearEquality::defaults(const std::string& scheme, FormulationKind formulation) {
  detail::Tuning t;
  t.primal_lr = 0.3;
  t.dual_lr = 0.3;
  t.max_iterations = 5000;
  t.tolerance = 1e-12;
  t.al_penalty = 1.0;
  t.qp_penalty = 100.0;
  t.qp_primal_lr = 0.5 / t.qp_penalty;
  t.past_factor = 1.0;  // eta = 0.3 is already stable for extrapolation from the past
  return detail::make_options(t, scheme, formulation, {-1.0});
}

std::vector<std::string> LinearEquality::converging_schemes() {
  return {"extragradient", "extrapolation-from-the-past"};
}

std::vector<ConstraintSpec> LinearEquality::constraints() const {
  return {{"x=0", ConstraintKind::equality}};
}

void LinearEquality::initial_point(Vector<double>& x, std::uint64_t /*seed*/) const {
  detail::check_size(kName, "x", x.size(), 1);
  x(0) = 1.0;
}

void LinearEquality::forward(const Vector<double>& x, const Batch& /*batch*/, Evaluation& eval) {
  detail::check_size(kName, "x", x.size(), 1);
  eval.loss = x(0);
  eval.constraints(0) = x(0);
  eval.has_strict = false;
}

void LinearEquality::backward(const Vector<double>& weights, Vector<double>& grad) {
  grad(0) = 1.0 + weights(0);
}

}  // namespace saddle::problems
