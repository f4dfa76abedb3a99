#include "saddle/numeric_diff.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace saddle {

template <class T>
double central_difference(ScalarFunction<T>& phi, Vector<T>& probe, std::size_t j, double step) {
  const T xj = probe(j);
  const T h = static_cast<T>(step * std::max(1.0, std::abs(static_cast<double>(xj))));
  probe(j) = xj + h;
  const T up = probe(j);
  const double f_plus = phi(probe);
  probe(j) = xj - h;
  const T down = probe(j);
  const double f_minus = phi(probe);
  probe(j) = xj;
  // Divide by the representable step actually taken, not the nominal one.
  return (f_plus - f_minus) / (static_cast<double>(up) - static_cast<double>(down));
}

template double central_difference<float>(ScalarFunction<float>&, Vector<float>&, std::size_t,
                                          double);
template double central_difference<double>(ScalarFunction<double>&, Vector<double>&, std::size_t,
                                           double);

void NumericDiffOptions::validate() const {
  if (!(step > 0.0 && step < 1.0))
    throw InvalidOption("numeric_diff.step = " + std::to_string(step) + ": must be in (0, 1)");
}

namespace detail {

void check_functor_kind(const FunctionProblemSpec& spec, bool stochastic_functor) {
  if (stochastic_functor && spec.samples.empty())
    throw InvalidOption(spec.name +
                        ": the functor takes a SampleBatch but spec.samples is empty (give the "
                        "samples, or drop the batch argument for a deterministic problem)");
  if (!stochastic_functor && !spec.samples.empty())
    throw InvalidOption(spec.name + ": spec.samples has " + std::to_string(spec.samples.rows()) +
                        " samples but the functor takes no SampleBatch argument");
}

}  // namespace detail

}  // namespace saddle
