// What saddle compare and saddle sweep read of a child `saddle train` run, and its
// statistics over seeds (train_runs.hpp).
#include "train_runs.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "files.hpp"
#include "json_io.hpp"

namespace saddle::cli::experiments {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

RunOutcome read_outcome(const Job& job, double model_target,
                        const std::vector<double>& layer_targets) {
  RunOutcome o;
  o.status = job_status(job);
  try {
    const fs::path dir(job.out_dir);
    if (!fs::exists(dir / "summary.json")) {
      if (job.exit_code == 0) o.status = "no summary.json";
      return o;
    }
    const Json s = parse_json(read_all(dir / "summary.json"));
    o.test_error = json_number_or_nan_at(s, "test_error");
    o.expected_density = json_number_or_nan_at(s, "expected_density");
    std::vector<double> layers;
    for (const auto& v : json_array_at(s, "layer_densities"))
      layers.push_back(json_as_number_or_nan(v, "layer_densities"));
    const double iterations = json_number_at(s, "iterations");
    o.forwards_per_step = iterations > 0 ? json_number_at(s, "forwards") / iterations : kNaN;
    o.backwards_per_step = iterations > 0 ? json_number_at(s, "backwards") / iterations : kNaN;
    o.seconds = json_number_or_nan_at(s, "seconds");
    // Violation against the experiment's targets (the same as summary constraint_values for
    // constrained runs, and meaningful for the penalized baseline, which has no constraints).
    o.worst_violation = 0.0;
    if (model_target > 0.0) {
      o.worst_violation = std::max(0.0, o.expected_density - model_target);
    } else {
      for (std::size_t l = 0; l < layer_targets.size() && l < layers.size(); ++l)
        o.worst_violation = std::max(o.worst_violation, layers[l] - layer_targets[l]);
    }
    if (std::isnan(o.expected_density)) o.worst_violation = kNaN;
    std::ifstream metrics(dir / "metrics.jsonl");
    for (std::string line; std::getline(metrics, line);) {
      if (line.empty()) continue;
      const Json m = parse_json(line);
      EpochPoint p;
      p.epoch = json_number_at(m, "epoch");
      p.expected_density = json_number_or_nan_at(m, "expected_density");
      p.test_error = json_number_or_nan_at(m, "test_error");
      p.max_multiplier = kNaN;
      for (const auto& v : json_array_at(m, "multipliers")) {
        const double x = json_as_number_or_nan(v, "multipliers");
        if (std::isnan(p.max_multiplier) || x > p.max_multiplier) p.max_multiplier = x;
      }
      o.curve.push_back(p);
    }
    o.ok = job.exit_code == 0;
  } catch (const std::exception& e) {
    o.ok = false;
    o.status = "unreadable results: " + std::string(e.what());
  }
  return o;
}

// --- statistics ---

std::vector<EpochPoint> mean_curve(const std::vector<const std::vector<EpochPoint>*>& curves) {
  std::vector<EpochPoint> out;
  if (curves.empty()) return out;
  std::size_t length = curves.front()->size();
  for (const auto* c : curves) length = std::min(length, c->size());
  for (std::size_t i = 0; i < length; ++i) {
    std::vector<double> density, multiplier, error;
    for (const auto* c : curves) {
      density.push_back((*c)[i].expected_density);
      multiplier.push_back((*c)[i].max_multiplier);
      error.push_back((*c)[i].test_error);
    }
    EpochPoint p;
    p.epoch = (*curves.front())[i].epoch;
    p.expected_density = mean_ci(density).mean;
    p.max_multiplier = mean_ci(multiplier).mean;
    p.test_error = mean_ci(error).mean;
    out.push_back(p);
  }
  return out;
}

GroupStats aggregate(const std::vector<RunOutcome>& outcomes) {
  std::vector<RunValues> runs;
  std::vector<const std::vector<EpochPoint>*> curves;
  for (const auto& o : outcomes) {
    runs.push_back({o.ok,
                    o.status,
                    {o.test_error, o.expected_density, o.worst_violation, o.forwards_per_step,
                     o.backwards_per_step, o.seconds}});
    if (o.ok) curves.push_back(&o.curve);
  }
  const RunStats s = aggregate_runs(runs, 6);
  GroupStats g;
  g.runs = s.runs;
  g.ok = s.ok;
  g.test_error = s.metrics[0];
  g.expected_density = s.metrics[1];
  g.worst_violation = s.metrics[2];
  g.forwards_per_step = s.metrics[3];
  g.backwards_per_step = s.metrics[4];
  g.seconds = s.metrics[5];
  g.status = s.status;
  g.curve = mean_curve(curves);
  return g;
}

}  // namespace saddle::cli::experiments
