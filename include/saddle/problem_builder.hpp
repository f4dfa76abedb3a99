#pragma once
/// \file problem_builder.hpp
/// A problem from lambdas, for users who have the gradients but do not want a class:
///
///   auto problem = saddle::ProblemBuilder<double>(2)
///       .objective([](const saddle::Vector<double>& x) { return x(0) * x(0) + x(1) * x(1); },
///                  [](const saddle::Vector<double>& x, saddle::Vector<double>& g) {
///                    g(0) = 2 * x(0); g(1) = 2 * x(1); })
///       .equality("x0+x1=1", [](const auto& x) { return x(0) + x(1) - 1.0; },
///                 [](const auto&, auto& g) { g(0) = 1.0; g(1) = 1.0; })
///       .initial_point({0.0, 0.0})
///       .build();
///
/// The built problem is deterministic. Its `backward(w)` calls the objective's gradient and
/// the gradient of every constraint whose weight is not 0 (m + 1 calls at most, each into a
/// buffer [n] allocated by `build`), and sums them: no allocation in forward or backward.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "saddle/problem.hpp"
#include "saddle/types.hpp"

namespace saddle {

/// Builds a `BasicProblem<T>` (T = float or double) from value and gradient lambdas.
template <class T>
class ProblemBuilder {
 public:
  /// f(x) or c_i(x) at x: [n].
  using Value = std::function<double(const Vector<T>& x)>;
  /// Writes the gradient at x: [n] into grad: [n] (sized, overwritten; never resize it).
  using Gradient = std::function<void(const Vector<T>& x, Vector<T>& grad)>;

  /// A problem over n parameters (n = 0 is reported by `build`).
  explicit ProblemBuilder(std::size_t num_parameters) : n_(num_parameters) {}

  /// Name used in error messages (default "lambda problem").
  ProblemBuilder& name(std::string name);
  /// The objective f and its gradient (required, once).
  ProblemBuilder& objective(Value f, Gradient gradient);
  /// An inequality g(x) <= 0 named `name`.
  ProblemBuilder& inequality(std::string name, Value g, Gradient gradient);
  /// An equality h(x) = 0 named `name`.
  ProblemBuilder& equality(std::string name, Value h, Gradient gradient);
  /// A constraint of either kind (the order of the calls is the order of the constraints).
  ProblemBuilder& constraint(std::string name, ConstraintKind kind, Value c, Gradient gradient);
  /// x0: [n] (default: zeros).
  ProblemBuilder& initial_point(std::vector<double> x0);

  /// Validates and builds. Throws InvalidOption with one line for: n = 0, no objective or
  /// an objective given twice, an empty function, an empty or duplicate constraint name, an
  /// initial point of the wrong size. At run time, forward throws InputError for x of the
  /// wrong size and backward for a gradient lambda that resized its output.
  std::unique_ptr<BasicProblem<T>> build() const;

  struct Term {
    std::string name;
    ConstraintKind kind = ConstraintKind::inequality;
    Value value;
    Gradient gradient;
  };

 private:
  std::string name_ = "lambda problem";
  std::size_t n_;
  std::size_t objectives_ = 0;
  Term objective_;
  std::vector<Term> constraints_;
  std::vector<double> x0_;
};

extern template class ProblemBuilder<float>;
extern template class ProblemBuilder<double>;

}  // namespace saddle
