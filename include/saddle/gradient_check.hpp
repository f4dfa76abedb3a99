#pragma once
/// \file gradient_check.hpp
/// Finite-difference check of a problem's backward against its forward.

#include <cstddef>
#include <cstdint>
#include <string>

#include "saddle/problem.hpp"
#include "saddle/types.hpp"

namespace saddle {

struct GradientCheckOptions {
  /// Central-difference step: h_j = step * max(1, |x_j|).
  double step = 1e-6;
  /// Component j passes when |analytic - numeric| <= abs_tolerance + rel_tolerance *
  /// max(|analytic|, |numeric|).
  double abs_tolerance = 1e-6;
  double rel_tolerance = 1e-5;
  /// Batch (and noise seed) held fixed for every evaluation, so stochastic problems are
  /// checked as deterministic functions.
  Batch batch{};
  /// Check at most this many coordinates (evenly spread over [0, n)); 0 = all.
  std::size_t max_coordinates = 0;
  void validate() const;
};

struct GradientCheckResult {
  bool ok = true;
  std::size_t checked = 0;        ///< coordinates compared
  std::size_t failures = 0;       ///< coordinates outside tolerance
  std::size_t worst_index = 0;    ///< coordinate with the largest tolerance ratio
  double worst_analytic = 0.0;
  double worst_numeric = 0.0;
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;
  /// One line summarising the worst coordinate.
  std::string report() const;
};

/// Compares backward(weights) with central differences of
///   phi(x) = loss(x) + sum_i weights_i * c_i(x)
/// at x: [n], evaluated in T. Allocates (test utility, not for a hot loop).
template <class T>
GradientCheckResult check_gradient(BasicProblem<T>& problem, const Vector<T>& x,
                                   const Vector<double>& weights,
                                   const GradientCheckOptions& options = {});

}  // namespace saddle
