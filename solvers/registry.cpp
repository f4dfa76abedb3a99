// The table of built-in update schemes (no static self-registration: the linker drops it
// from static libraries), the factory by name and the one-call solve.
#include <type_traits>
#include <utility>

#include "saddle/solvers.hpp"

namespace saddle {
namespace {

template <template <class> class Scheme, class T>
std::unique_ptr<UpdateScheme<T>> make() {
  return std::make_unique<Scheme<T>>();
}

// One row per scheme; name and per-step costs are read from the class itself.
template <template <class> class Scheme>
SchemeInfo row(const char* summary) {
  const Scheme<double> scheme;
  return {Scheme<double>::kName, summary, scheme.forwards_per_step(), scheme.backwards_per_step(),
          &make<Scheme, float>, &make<Scheme, double>};
}

}  // namespace

const std::vector<SchemeInfo>& scheme_table() {
  static const std::vector<SchemeInfo> table = {
      row<SimultaneousGda>("simultaneous gradient descent-ascent"),
      row<AlternatingPrimalDual>("alternating GDA: primal step, then dual step at the new point"),
      row<AlternatingDualPrimal>("alternating GDA: dual step, then primal step with the new multipliers"),
      row<Extragradient>("extragradient (Korpelevich 1976): extrapolate, then update"),
      row<ExtrapolationFromThePast>("extrapolation from the past (Popov 1980): one gradient per step"),
  };
  return table;
}

std::vector<std::string> scheme_names() {
  std::vector<std::string> names;
  for (const auto& s : scheme_table()) names.emplace_back(s.name);
  return names;
}

std::string scheme_choices(const std::string& separator) {
  std::string text;
  for (const auto& s : scheme_table()) text += (text.empty() ? "" : separator) + std::string(s.name);
  return text;
}

const SchemeInfo& find_scheme(const std::string& name) {
  for (const auto& s : scheme_table())
    if (name == s.name) return s;
  throw InvalidOption("unknown solver '" + name + "' (choices: " + scheme_choices(", ") + ")");
}

template <class T>
std::unique_ptr<UpdateScheme<T>> make_scheme(const std::string& name) {
  const SchemeInfo& info = find_scheme(name);
  if constexpr (std::is_same_v<T, float>)
    return info.make_float();
  else
    return info.make_double();
}
template std::unique_ptr<UpdateScheme<float>> make_scheme<float>(const std::string&);
template std::unique_ptr<UpdateScheme<double>> make_scheme<double>(const std::string&);

template <class T>
Summary<T> solve(BasicProblem<T>& problem, const SolverOptions& options, const std::string& scheme,
                 const std::vector<Callback<T>*>& callbacks) {
  Solver<T> solver(make_scheme<T>(scheme), options);
  for (auto* callback : callbacks) solver.add_callback(callback);
  return solver.solve(problem);
}

template Summary<float> solve<float>(BasicProblem<float>&, const SolverOptions&, const std::string&,
                                     const std::vector<Callback<float>*>&);
template Summary<double> solve<double>(BasicProblem<double>&, const SolverOptions&, const std::string&,
                                       const std::vector<Callback<double>*>&);

}  // namespace saddle
