// Explicit registry of the built-in update schemes (no static self-registration).
#include "solvers/schemes.hpp"

namespace saddle {

std::vector<std::string> scheme_names() {
  return {"gda", "alternating-primal-dual", "alternating-dual-primal", "extragradient",
          "extrapolation-from-the-past"};
}

template <class T>
std::unique_ptr<UpdateScheme<T>> make_scheme(const std::string& name) {
  if (name == "gda") return solvers::make_gda<T>();
  if (name == "alternating-primal-dual") return solvers::make_alternating_primal_dual<T>();
  if (name == "alternating-dual-primal") return solvers::make_alternating_dual_primal<T>();
  if (name == "extragradient") return solvers::make_extragradient<T>();
  if (name == "extrapolation-from-the-past") return solvers::make_extrapolation_from_the_past<T>();
  std::string choices;
  for (const auto& n : scheme_names()) choices += (choices.empty() ? "" : ", ") + n;
  throw InvalidOption("unknown solver '" + name + "' (choices: " + choices + ")");
}

template std::unique_ptr<UpdateScheme<float>> make_scheme<float>(const std::string&);
template std::unique_ptr<UpdateScheme<double>> make_scheme<double>(const std::string&);

}  // namespace saddle
