#pragma once
/// \file checkpoint_problem.hpp
/// The small problem and solver options whose solver state the checkpoint fuzz target
/// resumes, shared with the seed-corpus generator (make_corpus.cpp) so that its seeds
/// resume successfully.

#include <memory>

#include "saddle/options.hpp"
#include "saddle/problem_builder.hpp"

namespace saddle::fuzz {

/// min x0^2 + x1^2 subject to 1 - x0 - x1 <= 0, in float, from (0, 0).
inline std::unique_ptr<BasicProblem<float>> checkpoint_problem() {
  using V = Vector<float>;
  return ProblemBuilder<float>(2)
      .objective([](const V& x) { return double(x(0) * x(0) + x(1) * x(1)); },
                 [](const V& x, V& g) {
                   g(0) = 2 * x(0);
                   g(1) = 2 * x(1);
                 })
      .inequality(
          "1-x0-x1<=0", [](const V& x) { return 1.0 - double(x(0)) - double(x(1)); },
          [](const V&, V& g) {
            g(0) = -1;
            g(1) = -1;
          })
      .initial_point({0.0f, 0.0f})
      .build();
}

/// Extragradient's options for it: 2 steps, Adam, nuPI, augmented Lagrangian (so that a
/// resume reads back the state of every kind of rule and formulation).
inline SolverOptions checkpoint_options() {
  SolverOptions o;
  o.max_iterations = 2;
  o.primal.kind = PrimalRuleKind::adam;
  o.dual.kind = DualRuleKind::nupi;
  o.formulation.kind = FormulationKind::augmented_lagrangian;
  return o;
}

}  // namespace saddle::fuzz
