#pragma once
/// \file registry.hpp
/// Built-in problems with known answers, registered explicitly (no static
/// self-registration: the linker drops it from static libraries).

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "saddle/options.hpp"
#include "saddle/plugin.hpp"
#include "saddle/problem.hpp"

namespace saddle::problems {

/// The known solution of a problem (defined with the plugin interface, which shares it).
using KnownAnswer = saddle::KnownAnswer;

/// One registered problem.
struct ProblemEntry {
  std::string name;         ///< command-line name, e.g. "active-inequality"
  std::string description;  ///< one line, with the formula and the answer
  std::function<std::unique_ptr<Problem>()> make;
  /// Default options for a scheme name and formulation: step sizes, iteration limits,
  /// tolerance, penalty settings, such that every scheme that should reach the answer
  /// does so without flags. Must return options that pass validate().
  std::function<SolverOptions(const std::string& scheme, FormulationKind formulation)> defaults;
  /// Computes the known answer (may run a bisection; cheap).
  std::function<KnownAnswer()> answer;
  /// Schemes expected to converge to the answer under the Lagrangian formulation with the
  /// defaults (e.g. linear-equality: only extragradient and extrapolation-from-the-past).
  std::vector<std::string> converging_schemes;
};

class ProblemRegistry {
 public:
  /// Adds an entry; throws InvalidOption if the name is taken.
  void add(ProblemEntry entry);
  /// Throws InvalidOption "unknown problem 'X' (choices: a, b, ...)".
  const ProblemEntry& get(const std::string& name) const;
  bool contains(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, ProblemEntry> entries_;
};

/// Registers the seven analytic problems: active-inequality, inactive-inequality,
/// equality-qp, hs21, linear-equality, max-entropy, norm-constrained-regression.
void register_builtin_problems(ProblemRegistry& registry);

}  // namespace saddle::problems
