#pragma once
/// \file train_outputs.hpp
/// The outputs of a `saddle train` run: the JSON of an epoch (a line of metrics.jsonl) and of
/// the summary (summary.json, --json), and the training-dynamics plot of the run folder
/// (dynamics.dat, dynamics.gp, dynamics.png).

#include <filesystem>
#include <string>

#include "json_io.hpp"
#include "saddle/problems/l0/experiment.hpp"

namespace saddle::cli {

/// One epoch's metrics as a JSON object (a line of metrics.jsonl).
Json epoch_json(const saddle::l0::EpochMetrics& m);

/// Every density constraint of the epoch satisfied (measure - target <= 0)? A target is met
/// when the expected density is at or below it; no tolerance.
bool constraints_met(const saddle::l0::EpochMetrics& m);

/// The summary of a run (summary.json, train --json); `formulation` is the --formulation
/// name (replaced by "fixed-penalty" for penalized L0).
Json summary_json(const saddle::l0::TrainConfig& c, const std::string& dataset,
                  const std::string& formulation, const saddle::l0::TrainResult& r);

/// Writes DIR/dynamics.dat (one row per epoch) and DIR/dynamics.gp (3 panels: expected
/// density of the model and of each layer with the targets dashed; multipliers; test and
/// train error), then runs gnuplot to draw DIR/dynamics.png. Returns a one-line note for
/// the user ("" when the PNG was drawn or there is no epoch to plot). Never throws for
/// plotting problems: a run's result does not depend on its plot.
std::string write_dynamics_plot(const std::filesystem::path& dir, const saddle::l0::TrainResult& r,
                                const saddle::l0::TrainConfig& c);

}  // namespace saddle::cli
