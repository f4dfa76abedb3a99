#pragma once
/// \file callbacks.hpp
/// Callbacks watch a solve. They are non-owning pointers added to a Solver; any of them
/// can stop the solve by returning false (Termination::user_stop).

#include <cstddef>
#include <fstream>
#include <iosfwd>
#include <string>
#include <vector>

#include "saddle/options.hpp"
#include "saddle/summary.hpp"
#include "saddle/types.hpp"

namespace saddle {

template <class T>
class BasicProblem;

/// What a callback sees after each committed step. `evaluation` is the one the step's
/// primal gradient came from (for extragradient, the first evaluation of the step); `x` and
/// `multipliers` are the values after the step.
template <class T>
struct StepInfo {
  std::size_t iteration = 0;        ///< 1-based index of the committed step
  std::size_t epoch = 0;            ///< 0-based epoch of the step
  std::size_t batch = 0;            ///< 0-based batch index within the epoch
  std::size_t batches_per_epoch = 1;
  const Evaluation* evaluation = nullptr;
  const Vector<T>* x = nullptr;              ///< [n], after the step
  const Vector<T>* evaluated_x = nullptr;    ///< [n], the point `evaluation` was made at
  const Vector<double>* multipliers = nullptr;///< [m]
  const Vector<double>* penalties = nullptr;  ///< [m]
  const std::vector<ConstraintSpec>* constraints = nullptr;
  double max_violation = 0.0;       ///< of evaluation->dual_values()
  double objective = 0.0;           ///< formulation objective of the evaluation
};

template <class T>
class Callback {
 public:
  virtual ~Callback() = default;
  /// Before the first step.
  virtual void on_begin(BasicProblem<T>& problem, const SolverOptions& options) {
    (void)problem;
    (void)options;
  }
  /// After each committed step; return false to stop.
  virtual bool on_step(const StepInfo<T>& info) {
    (void)info;
    return true;
  }
  /// After each complete epoch of a stochastic problem (`info` is the epoch's last step);
  /// return false to stop.
  virtual bool on_epoch_end(const StepInfo<T>& info) {
    (void)info;
    return true;
  }
  /// After the solve.
  virtual void on_end(const Summary<T>& summary) { (void)summary; }
};

/// Prints a line every `every` steps: iteration, loss, max violation, multipliers.
template <class T>
class ProgressPrinter : public Callback<T> {
 public:
  explicit ProgressPrinter(std::ostream& out, std::size_t every = 100) : out_(out), every_(every) {}
  bool on_step(const StepInfo<T>& info) override;

 private:
  std::ostream& out_;
  std::size_t every_;
};

/// Writes a CSV row every `every` steps:
/// iteration,epoch,loss,objective,max_violation,c_<name>...,lambda_<name>...
template <class T>
class CsvLogger : public Callback<T> {
 public:
  /// Opens `path` for writing; throws InputError naming the path if it cannot.
  explicit CsvLogger(const std::string& path, std::size_t every = 1);
  void on_begin(BasicProblem<T>& problem, const SolverOptions& options) override;
  bool on_step(const StepInfo<T>& info) override;
  /// Flushes the file.
  void on_end(const Summary<T>& summary) override;

 private:
  std::ofstream out_;
  std::string path_;
  std::size_t every_;
};

/// Stops when the objective has not improved by more than `min_delta` for `patience`
/// consecutive steps while the point is feasible (max violation <= feasibility tolerance).
template <class T>
class EarlyStop : public Callback<T> {
 public:
  EarlyStop(std::size_t patience, double min_delta = 0.0, double feasibility_tolerance = 1e-6)
      : patience_(patience), min_delta_(min_delta), tol_(feasibility_tolerance) {}
  bool on_step(const StepInfo<T>& info) override;
  bool stopped() const { return stopped_; }

 private:
  std::size_t patience_;
  double min_delta_;
  double tol_;
  double best_ = 0.0;
  bool have_best_ = false;
  std::size_t since_best_ = 0;
  bool stopped_ = false;
};

/// Keeps a copy of the point (`evaluated_x`) with the lowest loss among the evaluations
/// that were feasible (max violation <= tolerance). The copy buffer is allocated in on_begin.
template <class T>
class KeepBestFeasible : public Callback<T> {
 public:
  explicit KeepBestFeasible(double feasibility_tolerance = 1e-6) : tol_(feasibility_tolerance) {}
  void on_begin(BasicProblem<T>& problem, const SolverOptions& options) override;
  bool on_step(const StepInfo<T>& info) override;
  bool found() const { return found_; }
  double best_loss() const { return best_loss_; }
  std::size_t best_iteration() const { return best_iteration_; }
  const Vector<T>& best_x() const { return best_x_; }
  const Vector<double>& best_multipliers() const { return best_multipliers_; }

 private:
  double tol_;
  bool found_ = false;
  double best_loss_ = 0.0;
  std::size_t best_iteration_ = 0;
  Vector<T> best_x_;
  Vector<double> best_multipliers_;
};

}  // namespace saddle
