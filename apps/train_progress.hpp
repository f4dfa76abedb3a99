#pragma once
/// \file train_progress.hpp
/// What `saddle train` does at every step: the per-step log steps.csv of the run folder and
/// the progress bar on a terminal.

#include <chrono>
#include <cmath>
#include <cstddef>
#include <fstream>
#include <iosfwd>
#include <string>

#include "saddle/callbacks.hpp"
#include "saddle/problems/l0/experiment.hpp"

namespace saddle::cli {

/// Watches every step of the solve: writes a row of steps.csv every `every` steps, and
/// redraws the progress bar (at most 5 times a second, and at every epoch end).
///
/// steps.csv: iteration,epoch,batch,loss,objective,max_violation,c_<constraint>...,
/// lambda_<constraint>... (epoch 1-based, batch 1-based within the epoch; loss and
/// constraint values are the step's minibatch estimates, multipliers after the step).
/// On --resume, rows at or past the first resumed iteration (logged after the checkpoint,
/// before the run was stopped) are dropped before appending, so every iteration is listed
/// at most once and the file matches an uninterrupted run.
class StepWatcher final : public saddle::Callback<float> {
 public:
  StepWatcher(std::string csv_path, std::size_t every, bool resuming, std::ostream* bar,
              std::size_t epochs)
      : csv_path_(std::move(csv_path)),
        every_(every),
        resuming_(resuming),
        bar_(bar),
        epochs_(epochs) {}

  void on_begin(saddle::BasicProblem<float>& problem, const saddle::SolverOptions&) override;
  bool on_step(const saddle::StepInfo<float>& info) override;
  void on_end(const saddle::Summary<float>&) override;
  /// The latest epoch's metrics for the bar (test error, density); redraws it.
  void epoch_done(const saddle::l0::EpochMetrics& m);
  /// Ends the bar's line (before anything else is printed).
  void finish_bar();

 private:
  void open_csv(std::size_t first_iteration);
  void draw();
  std::string csv_path_;
  std::size_t every_;
  bool resuming_;
  std::ostream* bar_;
  std::size_t epochs_;
  std::string header_;
  std::ofstream csv_;
  std::size_t first_iteration_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  saddle::StepInfo<float> last_;
  bool have_step_ = false, drawn_ = false;
  double test_error_ = std::nan(""), density_ = std::nan("");
};

/// A fraction as a percentage with 2 decimals ("12.34%"); "   -  " for NaN.
std::string percent(double fraction);
/// `v` with `digits` decimals.
std::string fixed(double v, int digits);

}  // namespace saddle::cli
