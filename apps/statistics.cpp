// Mean, 95 % confidence intervals and the aggregation of runs (statistics.hpp).
#include "statistics.hpp"

#include <cmath>
#include <limits>

namespace saddle::cli::experiments {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

double student_t975(std::size_t dof) {
  // t(0.975, dof), dof = 1..30 (standard tables, e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2).
  static const double kTable[30] = {
      12.7062047, 4.3026527, 3.1824463, 2.7764451, 2.5705818, 2.4469119, 2.3646243, 2.3060041,
      2.2621572,  2.2281389, 2.2009852, 2.1788128, 2.1603687, 2.1447867, 2.1314495, 2.1199053,
      2.1098155,  2.1009220, 2.0930241, 2.0859634, 2.0796138, 2.0738731, 2.0686576, 2.0638986,
      2.0595386,  2.0555294, 2.0518305, 2.0484071, 2.0452296, 2.0422725};
  if (dof == 0) return kNaN;
  if (dof <= 30) return kTable[dof - 1];
  // Beyond 30, t is close to linear in 1/dof: interpolate between tabulated points.
  static const double kDof[] = {30.0, 40.0, 60.0, 120.0, std::numeric_limits<double>::infinity()};
  static const double kT[] = {2.0422725, 2.0210754, 2.0002978, 1.9799304, 1.9599640};
  const double x = 1.0 / static_cast<double>(dof);
  for (int k = 0; k < 4; ++k) {
    const double x0 = 1.0 / kDof[k], x1 = 1.0 / kDof[k + 1];
    if (x <= x0 && x >= x1) return kT[k + 1] + (kT[k] - kT[k + 1]) * (x - x1) / (x0 - x1);
  }
  return kT[4];
}

MeanCi mean_ci(const std::vector<double>& values) {
  MeanCi s;
  double sum = 0.0;
  for (const double v : values)
    if (std::isfinite(v)) {
      sum += v;
      ++s.n;
    }
  if (s.n == 0) return {kNaN, kNaN, 0};
  s.mean = sum / static_cast<double>(s.n);
  if (s.n < 2) {
    s.ci95 = kNaN;
    return s;
  }
  double ss = 0.0;
  for (const double v : values)
    if (std::isfinite(v)) ss += (v - s.mean) * (v - s.mean);
  const double sd = std::sqrt(ss / static_cast<double>(s.n - 1));
  s.ci95 = student_t975(s.n - 1) * sd / std::sqrt(static_cast<double>(s.n));
  return s;
}

RunStats aggregate_runs(const std::vector<RunValues>& runs, std::size_t metrics) {
  RunStats g;
  g.runs = runs.size();
  std::vector<std::vector<double>> values(metrics);
  std::size_t failed = 0;
  std::string first_failure;
  for (const auto& r : runs) {
    if (!r.ok) {
      if (failed++ == 0) first_failure = r.status;
      continue;
    }
    ++g.ok;
    for (std::size_t m = 0; m < metrics; ++m)
      values[m].push_back(m < r.values.size() ? r.values[m] : kNaN);
  }
  for (const auto& v : values) g.metrics.push_back(mean_ci(v));
  g.status = failed == 0 ? std::string("ok") : std::to_string(failed) + " failed: " + first_failure;
  return g;
}

}  // namespace saddle::cli::experiments
