#include "saddle/types.hpp"

#include <algorithm>
#include <cmath>

namespace saddle {

const char* to_string(ConstraintKind kind) {
  return kind == ConstraintKind::inequality ? "inequality" : "equality";
}

void Evaluation::resize(std::size_t m) {
  constraints = Vector<double>::from_shape({m});
  strict = Vector<double>::from_shape({m});
  constraints.fill(0.0);
  strict.fill(0.0);
}

double max_violation(const std::vector<ConstraintSpec>& specs, const Vector<double>& values) {
  double worst = 0.0;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const double v = values(i);
    const double violation = specs[i].kind == ConstraintKind::inequality ? std::max(0.0, v) : std::abs(v);
    if (std::isnan(violation)) return violation;
    worst = std::max(worst, violation);
  }
  return worst;
}

}  // namespace saddle
