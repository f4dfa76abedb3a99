#pragma once
// Helpers shared by the analytic-problem tests.

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "saddle/problems/analytic.hpp"
#include "saddle/problems/registry.hpp"
#include "saddle/saddle.hpp"
#include "saddle/solvers.hpp"

namespace saddle::problems::testing {

/// A registry with the seven built-in problems (built once).
inline const ProblemRegistry& builtin_registry() {
  static const ProblemRegistry registry = [] {
    ProblemRegistry r;
    register_builtin_problems(r);
    return r;
  }();
  return registry;
}

inline Vector<double> to_vector(const std::vector<double>& v) {
  Vector<double> out = xt::zeros<double>({v.size()});
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

/// max_i |a_i - b_i|.
template <class A>
double max_abs_diff(const A& a, const std::vector<double>& b) {
  double d = 0.0;
  for (std::size_t i = 0; i < b.size(); ++i) d = std::max(d, std::abs(static_cast<double>(a(i)) - b[i]));
  return d;
}

inline double norm2(const std::vector<double>& v) {
  double s = 0.0;
  for (double e : v) s += e * e;
  return std::sqrt(s);
}

/// ||a - b||_2.
template <class A>
double dist2(const A& a, const std::vector<double>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < b.size(); ++i) s += std::pow(static_cast<double>(a(i)) - b[i], 2);
  return std::sqrt(s);
}

/// Solves `problem` with `scheme` and `options`.
inline Summary<double> solve(Problem& problem, const std::string& scheme, const SolverOptions& options) {
  Solver<double> solver(make_scheme<double>(scheme), options);
  return solver.solve(problem);
}

}  // namespace saddle::problems::testing
