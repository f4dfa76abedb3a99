#pragma once
/// \file types.hpp
/// Basic vocabulary of saddle: vectors, constraint specifications, batches,
/// evaluations and the error type every validation throws.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

namespace saddle {

/// A dense, contiguous 1-D vector. `Vector<float>` for the flagship's parameters,
/// `Vector<double>` for analytic problems, multipliers and constraint values.
template <class T>
using Vector = xt::xtensor<T, 1>;

/// Thrown by every `validate()` and by factories for an unknown name. The message
/// is one line naming the field, the value and the rule, e.g.
/// `"primal.lr = -1: must be > 0"`.
class InvalidOption : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Thrown by problems and data readers for bad input (files, shapes). One line.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Kind of a constraint. Sign conventions (see docs/problem-api.md):
/// - inequality: g(x) <= 0 is feasible, its multiplier is projected to lambda >= 0;
/// - equality:   h(x) == 0 is feasible, its multiplier is free.
enum class ConstraintKind { inequality, equality };

/// Name of a kind ("inequality" / "equality").
const char* to_string(ConstraintKind kind);

/// One constraint of a problem: its kind, a human-readable name (used in logs) and the
/// scale its dual update measures it in.
struct ConstraintSpec {
  std::string name;
  ConstraintKind kind = ConstraintKind::inequality;
  /// The constraint's natural size, > 0 and finite: the dual rule sees c~_i / scale, so its
  /// step is relative to that size (e.g. a density constraint d <= eps with scale eps: a
  /// violation of 0.01 moves the multiplier as much as a 10 % excess over eps). The primal
  /// Lagrangian, the restarts (the sign of c~_i) and penalty updates are unchanged.
  /// 1 (the default) leaves the dual step exactly as without it.
  double scale = 1.0;
};

/// A contiguous range of samples of a stochastic problem, in the problem's current
/// (shuffled) order, plus the seed for any randomness of this one evaluation.
/// Deterministic problems receive `begin = 0, size = 0` (the whole problem).
struct Batch {
  std::size_t begin = 0;         ///< first sample of the batch
  std::size_t size = 0;          ///< number of samples; 0 = all (deterministic problem)
  std::uint64_t noise_seed = 0;  ///< seed for this evaluation's noise (e.g. gate samples);
                                 ///< the same seed must give the same evaluation
};

/// What a forward pass returns. The solver sizes both vectors to [m] before the
/// first call; a problem only writes into them (no allocation).
struct Evaluation {
  double loss = 0.0;                 ///< objective f(x) on the batch
  Vector<double> constraints;        ///< c(x): [m], differentiable values (drive the primal step)
  Vector<double> strict;             ///< c~(x): [m], values for the dual step (proxy constraints)
  bool has_strict = false;           ///< false: the solver uses `constraints` for the dual step
  /// Sizes both vectors to m (allocates; call once outside the loop).
  void resize(std::size_t m);
  /// The values that drive the dual step: `strict` if `has_strict`, else `constraints`.
  const Vector<double>& dual_values() const { return has_strict ? strict : constraints; }
};

/// Largest violation of a set of constraint values: max(0, g_i) for inequalities,
/// |h_i| for equalities; 0 when there are no constraints.
double max_violation(const std::vector<ConstraintSpec>& specs, const Vector<double>& values);

}  // namespace saddle
