// Hock & Schittkowski problem 21 (Hock, Schittkowski, "Test Examples for Nonlinear
// Programming Codes", 1981): min 0.01 x1^2 + x2^2 - 100 with a linear constraint and bounds.

#include "common.hpp"
#include "saddle/problems/analytic.hpp"

namespace saddle::problems {

std::string Hs21::description() {
  return "HS21: min 0.01x1^2 + x2^2 - 100 s.t. 10x1 - x2 >= 10, 2 <= x1 <= 50, -50 <= x2 <= 50; "
         "answer x = (2, 0), f = -99.96, lambda(x1>=2) = 0.04";
}

KnownAnswer Hs21::answer() {
  // grad f(2, 0) = (0.02 * 2, 0) = (0.04, 0). Active: only x1 >= 2, g = 2 - x1 with
  // grad g = (-1, 0); stationarity (0.04, 0) + lambda (-1, 0) = 0 gives lambda = 0.04.
  // The others are strictly satisfied at (2, 0): linear -10, x1_upper -48, x2 bounds -50.
  KnownAnswer a;
  a.x = {2.0, 0.0};
  a.multipliers = {0.0, 0.04, 0.0, 0.0, 0.0};
  a.loss = -99.96;
  a.note = "KKT at (2, 0): only x1 >= 2 active, lambda = df/dx1 = 0.02 * 2 = 0.04";
  return a;
}

// Tuning: x2 has curvature 2 and x1 only 0.02, so x1 with the multiplier of x1 >= 2 is the
// slow pair. Linearised GDA on (x1, lambda) has the step matrix
// [[1 - 0.02 eta, eta], [-eta_d, 1]]: eigenvalues 1 - 0.01 eta +- sqrt((0.01 eta)^2 -
// eta eta_d); the fastest rate, 1 - 0.01 eta, is reached at critical damping
// eta_d = 1e-4 eta; larger eta_d spirals with modulus sqrt(1 - 0.02 eta + eta eta_d).
// eta = 0.4 keeps extragradient stable on x2 (eta * 2 < 1; at eta = 0.5 its half step lands
// exactly on x2 = 0 and x2 never moves). Critical damping also keeps x1 on the infeasible
// side of x1 >= 2 on the way in, so dual restarts never fire and are harmless; with a larger
// dual step x1 overshoots, restarts zero the multiplier and the iterate cycles around x1 = 2.
// The step tolerance is 1e-13 because the slow rate 1 - 0.004 turns it into an x error
// about 250 times larger. Augmented Lagrangian: rho = 1e-3 (rho = 0.03 makes extragradient
// unstable while "linear" is violated: curvature 101 rho).
SolverOptions Hs21::defaults(const std::string& scheme, FormulationKind formulation) {
  detail::Tuning t;
  t.primal_lr = 0.4;
  t.dual_lr = 4e-5;  // critical damping 1e-4 eta: the approach to x1 = 2 is monotone
  t.max_iterations = 50000;
  t.tolerance = 1e-13;
  t.al_penalty = 1e-3;
  t.qp_penalty = 10.0;
  t.qp_primal_lr = 0.5 / (2.0 + 101.0 * t.qp_penalty);
  return detail::make_options(t, scheme, formulation, {0.0, 0.04, 0.0, 0.0, 0.0});
}

std::vector<std::string> Hs21::converging_schemes() { return scheme_names(); }

std::vector<ConstraintSpec> Hs21::constraints() const {
  return {{"linear", ConstraintKind::inequality},
          {"x1_lower", ConstraintKind::inequality},
          {"x1_upper", ConstraintKind::inequality},
          {"x2_lower", ConstraintKind::inequality},
          {"x2_upper", ConstraintKind::inequality}};
}

void Hs21::initial_point(Vector<double>& x, std::uint64_t /*seed*/) const {
  detail::check_size(kName, "x", x.size(), 2);
  x(0) = -1.0;
  x(1) = -1.0;
}

void Hs21::forward(const Vector<double>& x, const Batch& /*batch*/, Evaluation& eval) {
  detail::check_size(kName, "x", x.size(), 2);
  const double x1 = x(0);
  const double x2 = x(1);
  x_ = {x1, x2};
  eval.loss = 0.01 * x1 * x1 + x2 * x2 - 100.0;
  eval.constraints(0) = 10.0 - 10.0 * x1 + x2;  // 10 x1 - x2 >= 10
  eval.constraints(1) = 2.0 - x1;               // x1 >= 2
  eval.constraints(2) = x1 - 50.0;              // x1 <= 50
  eval.constraints(3) = -50.0 - x2;             // x2 >= -50
  eval.constraints(4) = x2 - 50.0;              // x2 <= 50
  eval.has_strict = false;
}

void Hs21::backward(const Vector<double>& w, Vector<double>& grad) {
  grad(0) = 0.02 * x_[0] - 10.0 * w(0) - w(1) + w(2);
  grad(1) = 2.0 * x_[1] + w(0) - w(3) + w(4);
}

}  // namespace saddle::problems
