// ProblemRegistry and the explicit registration of the seven analytic problems.

#include "saddle/problems/registry.hpp"

#include <memory>
#include <utility>

#include "saddle/problems/analytic.hpp"

namespace saddle::problems {

void ProblemRegistry::add(ProblemEntry entry) {
  if (entry.name.empty()) throw InvalidOption("problem name is empty");
  if (!entry.make) throw InvalidOption("problem '" + entry.name + "' has no factory");
  if (entries_.count(entry.name) != 0)
    throw InvalidOption("problem '" + entry.name + "' is already registered");
  std::string name = entry.name;
  entries_.emplace(std::move(name), std::move(entry));
}

const ProblemEntry& ProblemRegistry::get(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it != entries_.end()) return it->second;
  std::string choices;
  for (const auto& [key, value] : entries_) {
    (void)value;
    if (!choices.empty()) choices += ", ";
    choices += key;
  }
  throw InvalidOption("unknown problem '" + name + "' (choices: " + choices + ")");
}

bool ProblemRegistry::contains(const std::string& name) const { return entries_.count(name) != 0; }

std::vector<std::string> ProblemRegistry::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [key, value] : entries_) {
    (void)value;
    out.push_back(key);
  }
  return out;
}

namespace {

// The entry of an analytic problem class P from its static members.
template <class P>
ProblemEntry entry_for() {
  ProblemEntry e;
  e.name = P::kName;
  e.description = P::description();
  e.make = [] { return std::unique_ptr<Problem>(std::make_unique<P>()); };
  e.defaults = [](const std::string& scheme, FormulationKind formulation) {
    return P::defaults(scheme, formulation);
  };
  e.answer = [] { return P::answer(); };
  e.converging_schemes = P::converging_schemes();
  return e;
}

}  // namespace

void register_builtin_problems(ProblemRegistry& registry) {
  registry.add(entry_for<ActiveInequality>());
  registry.add(entry_for<InactiveInequality>());
  registry.add(entry_for<EqualityQp>());
  registry.add(entry_for<Hs21>());
  registry.add(entry_for<LinearEquality>());
  registry.add(entry_for<MaxEntropy>());
  registry.add(entry_for<NormConstrainedRegression>());
}

}  // namespace saddle::problems
