#include "saddle/gradient_check.hpp"

#include "saddle/numeric_diff.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace saddle {

void GradientCheckOptions::validate() const {
  if (!(step > 0.0)) throw InvalidOption("gradient_check.step = " + std::to_string(step) + ": must be > 0");
  if (!(abs_tolerance >= 0.0) || !(rel_tolerance >= 0.0))
    throw InvalidOption("gradient_check tolerances must be >= 0");
}

std::string GradientCheckResult::report() const {
  std::ostringstream s;
  s.precision(8);
  s << (ok ? "gradient ok" : "gradient MISMATCH") << ": " << failures << " of " << checked
    << " coordinates outside tolerance; worst index " << worst_index << " analytic " << worst_analytic
    << " numeric " << worst_numeric << " (max abs error " << max_abs_error << ", max rel error " << max_rel_error
    << ")";
  return s.str();
}

template <class T>
GradientCheckResult check_gradient(BasicProblem<T>& problem, const Vector<T>& x, const Vector<double>& weights,
                                   const GradientCheckOptions& options) {
  options.validate();
  const std::size_t n = problem.num_parameters();
  const std::size_t m = problem.constraints().size();
  if (x.size() != n) throw InvalidOption("gradient_check: x has " + std::to_string(x.size()) + " values, expected " + std::to_string(n));
  if (weights.size() != m) throw InvalidOption("gradient_check: weights has " + std::to_string(weights.size()) + " values, expected " + std::to_string(m));

  // phi(x) = loss(x) + sum_i weights_i c_i(x), differenced by the shared central_difference.
  struct Phi final : ScalarFunction<T> {
    BasicProblem<T>* problem;
    const Vector<double>* weights;
    const Batch* batch;
    Evaluation eval;
    double operator()(const Vector<T>& at) override {
      problem->forward(at, *batch, eval);
      double v = eval.loss;
      for (std::size_t i = 0; i < weights->size(); ++i) v += (*weights)(i) * eval.constraints(i);
      return v;
    }
  } phi;
  phi.problem = &problem;
  phi.weights = &weights;
  phi.batch = &options.batch;
  phi.eval.resize(m);

  Vector<T> grad = Vector<T>::from_shape({n});
  phi(x);
  problem.backward(weights, grad);

  GradientCheckResult result;
  Vector<T> probe = x;
  const std::size_t count = options.max_coordinates == 0 ? n : std::min(n, options.max_coordinates);
  double worst_ratio = -1.0;
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t j = count == n ? k : (k * n) / count;
    const double numeric = central_difference(phi, probe, j, options.step);
    const double analytic = static_cast<double>(grad(j));
    const double err = std::abs(analytic - numeric);
    const double scale = std::max(std::abs(analytic), std::abs(numeric));
    const double allowed = options.abs_tolerance + options.rel_tolerance * scale;
    const double ratio = err / std::max(allowed, 1e-300);
    ++result.checked;
    result.max_abs_error = std::max(result.max_abs_error, err);
    if (scale > 0) result.max_rel_error = std::max(result.max_rel_error, err / scale);
    if (err > allowed || std::isnan(err)) ++result.failures;
    if (ratio > worst_ratio || std::isnan(ratio)) {
      worst_ratio = std::isnan(ratio) ? INFINITY : ratio;
      result.worst_index = j;
      result.worst_analytic = analytic;
      result.worst_numeric = numeric;
    }
  }
  result.ok = result.failures == 0;
  return result;
}

template GradientCheckResult check_gradient<float>(BasicProblem<float>&, const Vector<float>&, const Vector<double>&,
                                                   const GradientCheckOptions&);
template GradientCheckResult check_gradient<double>(BasicProblem<double>&, const Vector<double>&,
                                                    const Vector<double>&, const GradientCheckOptions&);

}  // namespace saddle
